"""Azure Batch: the only module that talks to Batch (the local service or Azure).

Translates desired pools, jobs and tasks (with secrets already resolved) into SDK
calls, reads them back as bwf's own observed types (`runner.state`), and submits
tasks in chunks with bounded retries. Every SDK error leaves through `_translate`
as a `BwfError` with secrets scrubbed (`ServiceUnreachable` when the service does
not answer at all); no SDK object leaves this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from runner import secrets
from runner.errors import BwfError, ServiceUnreachable
from runner.state import (
    DesiredJob,
    DesiredPool,
    DesiredTask,
    ObservedJob,
    ObservedNode,
    ObservedPool,
    ObservedTask,
    OutputFile,
    ResourceFile,
    TaskCounts,
)
from runner.targets import Target

FINGERPRINT_ENV = "BWF_FINGERPRINT"
FINGERPRINT_METADATA = "bwf-fingerprint"
CHUNK = 100
SUBMIT_WORKERS = 8
SUBMIT_ATTEMPTS = 8
# The SDK types polling_interval as int, but sleeps any number: the local service
# answers in a fraction of a second, Azure in tens of seconds.
POLL: Any = 0.5
# What a task listing asks for: enough for the plan (fingerprint, state), the monitor's
# dependency graph and the run record (node, times, failure).
TASK_FIELDS = [
    "id",
    "state",
    "creationTime",
    "executionInfo",
    "environmentSettings",
    "nodeInfo",
    "dependsOn",
]

# The SDK logs a warning with a full traceback whenever it cannot parse an error body
# (a 404 on a streamed file download, for one). Errors reach users through
# `_translate`; the SDK's own log lines would only print tracebacks.
logging.getLogger("azure.batch._utils.model_base").setLevel(logging.ERROR)

T = TypeVar("T")


def _connection_reason(e: AzureError) -> str:
    text = str(e)
    for known in ("Connection refused", "Connection reset", "timed out", "Name or service not known"):
        if known.lower() in text.lower():
            return known.lower()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _translate(what: str, e: AzureError, url: str = "") -> BwfError:
    """The one place an SDK error becomes a user-facing error (secrets scrubbed)."""
    if isinstance(e, ServiceRequestError):
        where = f" at {url}" if url else ""
        return ServiceUnreachable(
            secrets.scrub(f"{what}: the Batch service{where} does not answer ({_connection_reason(e)})")
        )
    if isinstance(e, HttpResponseError):
        code = e.error.code if e.error is not None else e.status_code
        message = e.error.message if e.error is not None else e.reason
        return BwfError(secrets.scrub(f"{what}: {code}: {message}"))
    return BwfError(secrets.scrub(f"{what}: {e}"))


def make_client(target: Target) -> BatchClient:
    """A BatchClient for the target: Shared Key, or DefaultAzureCredential (Entra ID)."""
    secrets.register(target.batch_key)
    credential: Any
    if target.batch_key:
        credential = AzureNamedKeyCredential(target.batch_account, target.batch_key)
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return BatchClient(target.batch_url, credential, retry_total=8, retry_backoff_factor=0.4)


def _v(x: Any) -> str:
    return str(x.value if hasattr(x, "value") else x)


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _task_fingerprint(task: Any) -> str:
    for s in task.environment_settings or []:
        if s.name == FINGERPRINT_ENV:
            return str(s.value or "")
    return ""


def observed_task(task: Any) -> ObservedTask:
    info = task.execution_info
    failure = info.failure_info if info else None
    depends = task.depends_on
    return ObservedTask(
        id=task.id,
        state=_v(task.state),
        fingerprint=_task_fingerprint(task),
        exit_code=info.exit_code if info else None,
        result=_v(info.result) if info and info.result else None,
        retry_count=(info.retry_count or 0) if info else 0,
        requeue_count=(info.requeue_count or 0) if info else 0,
        node_id=task.node_info.node_id if task.node_info else None,
        created=_iso(task.creation_time),
        started=_iso(info.start_time) if info else None,
        ended=_iso(info.end_time) if info else None,
        failure_code=failure.code if failure else None,
        failure_message=secrets.scrub(failure.message) if failure and failure.message else None,
        depends_on=tuple(depends.task_ids or ()) if depends else (),
        last_retry=_iso(info.last_retry_time) if info else None,
        last_requeue=_iso(info.last_requeue_time) if info else None,
    )


def observed_node(node: Any) -> ObservedNode:
    info = node.start_task_info
    failure = info.failure_info if info else None
    return ObservedNode(
        id=node.id,
        state=_v(node.state),
        dedicated=node.is_dedicated is not False,
        running_tasks=node.running_tasks_count or 0,
        total_tasks_run=node.total_tasks_run or 0,
        start_task_exit_code=info.exit_code if info else None,
        start_task_failure=secrets.scrub(f"{failure.code}: {failure.message}") if failure else None,
        since=_iso(node.state_transition_time),
        allocated=_iso(node.allocation_time),
    )


class Batch:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = make_client(target)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except AzureError as e:
            raise _translate(what, e, self.target.batch_url) from None

    def _call_or_none(self, what: str, fn: Callable[[], T]) -> T | None:
        """Like `_call`, but None when the resource does not exist."""
        try:
            return fn()
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise _translate(what, e, self.target.batch_url) from None

    def _wait_deleted(self, begin: Callable[[], Any], what: str) -> bool:
        return self._call_or_none(f"deleting {what}", lambda: begin().result() or True) is not None

    # --- images ----------------------------------------------------------------------

    def node_agent_sku(self, publisher: str, offer: str, sku: str) -> str:
        """The node agent SKU Batch pairs with an image (as the tutorial's
        select_latest_verified_vm_image_with_node_agent_sku does)."""
        wanted = (publisher.lower(), offer.lower(), sku.lower())
        images = self._call("listing supported images", lambda: list(self.client.list_supported_images()))
        for image in images:
            ref = image.image_reference
            if ((ref.publisher or "").lower(), (ref.offer or "").lower(), (ref.sku or "").lower()) == wanted:
                return str(image.node_agent_sku_id)
        raise BwfError(f"the Batch account does not support the image {publisher}/{offer}/{sku}")

    # --- pools -----------------------------------------------------------------------

    def get_pool(self, pool_id: str) -> ObservedPool | None:
        p = self._call_or_none(f"reading pool {pool_id}", lambda: self.client.get_pool(pool_id))
        if p is None:
            return None
        vmc = p.virtual_machine_configuration
        ref = vmc.image_reference if vmc else None
        meta = {i.name: i.value for i in p.metadata or []}
        states: dict[str, int] = {}
        if p.current_dedicated_nodes or p.current_low_priority_nodes:
            for n in self.nodes(pool_id):
                states[n.state] = states.get(n.state, 0) + 1
        return ObservedPool(
            id=p.id, state=_v(p.state), allocation_state=_v(p.allocation_state), vm_size=(p.vm_size or "").lower(),
            publisher=(ref.publisher or "") if ref else "", offer=(ref.offer or "") if ref else "",
            sku=(ref.sku or "") if ref else "",
            version=(ref.version or "latest") if ref else "", node_agent_sku=vmc.node_agent_sku_id if vmc else "",
            dedicated_target=p.target_dedicated_nodes or 0, spot_target=p.target_low_priority_nodes or 0,
            task_slots_per_node=p.task_slots_per_node or 1, fingerprint=meta.get(FINGERPRINT_METADATA, ""),
            node_states=states,
        )  # fmt: skip

    def create_pool(self, pool: DesiredPool, node_agent_sku: str, r: Resolver) -> None:
        options = pool_options(pool, node_agent_sku, r)
        self._call(f"creating pool {pool.id}", lambda: self.client.create_pool(options))

    def resize_pool(self, pool_id: str, dedicated: int, spot: int) -> None:
        options = m.BatchPoolResizeOptions(
            target_dedicated_nodes=dedicated, target_low_priority_nodes=spot
        )
        self._call(
            f"resizing pool {pool_id}",
            lambda: self.client.begin_resize_pool(pool_id, options, polling_interval=POLL).result(),
        )

    def delete_pool(self, pool_id: str) -> bool:
        """Delete a pool and wait until it is gone; False when there was none."""
        return self._wait_deleted(
            lambda: self.client.begin_delete_pool(pool_id, polling_interval=POLL), f"pool {pool_id}"
        )

    def nodes(self, pool_id: str) -> list[ObservedNode]:
        """The pool's nodes (empty when the pool is gone)."""
        found = self._call_or_none(
            f"listing nodes of {pool_id}", lambda: list(self.client.list_nodes(pool_id))
        )
        return [observed_node(n) for n in found or []]

    def node_file(self, pool_id: str, node_id: str, path: str) -> bytes | None:
        """A file on a node (the start task's stderr), None when it is not there."""
        return self._call_or_none(
            f"reading {path} on {node_id}",
            lambda: b"".join(self.client.download_node_file(pool_id, node_id, path, stream=False)),
        )

    # --- jobs --------------------------------------------------------------------------

    def get_job(self, job_id: str, with_tasks: bool = True) -> ObservedJob | None:
        j = self._call_or_none(f"reading job {job_id}", lambda: self.client.get_job(job_id))
        if j is None:
            return None
        tasks: dict[str, ObservedTask] = {}
        if with_tasks:
            for t in self.list_tasks(job_id):
                tasks[t.id] = t
        return ObservedJob(
            id=j.id, state=_v(j.state), pool_id=(j.pool_info.pool_id or "") if j.pool_info else "",
            uses_task_dependencies=bool(j.uses_task_dependencies), tasks=tasks,
        )  # fmt: skip

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[ObservedTask]:
        """The job's tasks (empty when the job is gone)."""
        found = self._call_or_none(
            f"listing tasks of {job_id}",
            lambda: [
                observed_task(t)
                for t in self.client.list_tasks(job_id, filter=filter, select=TASK_FIELDS)
            ],
        )
        return found or []

    def create_job(self, job: DesiredJob, r: Resolver) -> None:
        options = job_options(job, r)
        self._call(f"creating job {job.id}", lambda: self.client.create_job(options))

    def delete_job(self, job_id: str) -> bool:
        """Delete a job and wait until it is gone; False when there was none."""
        return self._wait_deleted(
            lambda: self.client.begin_delete_job(job_id, polling_interval=POLL), f"job {job_id}"
        )

    def task_counts(self, job_id: str) -> TaskCounts:
        c = self._call(
            f"reading task counts of {job_id}",
            lambda: self.client.get_job_task_counts(job_id).task_counts,
        )
        return TaskCounts(c.active, c.running, c.completed, c.succeeded, c.failed)

    def task_file(self, job_id: str, task_id: str, path: str) -> bytes | None:
        """A file of a task on its node, None when the task, its node or the file is gone."""
        try:
            return b"".join(self.client.download_task_file(job_id, task_id, path, stream=False))
        except HttpResponseError:
            return None
        except AzureError as e:
            raise _translate(f"reading {path} of task {task_id}", e, self.target.batch_url) from None

    def delete_task(self, job_id: str, task_id: str) -> None:
        self._call_or_none(
            f"deleting task {task_id}", lambda: self.client.delete_task(job_id, task_id)
        )

    def add_tasks(
        self,
        job_id: str,
        desired: Sequence[DesiredTask],
        r: Resolver,
        progress: Callable[[int], None],
        depends_on: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Submit tasks in chunks of 100 on a few threads. A chunk refused as too large is
        split; server errors and throttling are retried with backoff, a bounded number of
        times; a task that already exists counts as submitted (re-submitting is safe).
        `depends_on` gives the dependencies to submit where they differ from the desired
        ones (see runner.dag.submitted_dependencies)."""
        given = depends_on or {}
        tasks = [task_options(t, r, given.get(t.id)) for t in desired]

        def submit(chunk: list[m.BatchTaskCreateOptions]) -> None:
            pending = list(chunk)
            for attempt in range(SUBMIT_ATTEMPTS):
                try:
                    result = self.client.create_task_collection(
                        job_id, m.BatchTaskGroup(task_values=pending)
                    )
                except HttpResponseError as e:
                    code = e.error.code if e.error is not None else ""
                    if code == "RequestBodyTooLarge" and len(pending) > 1:
                        half = len(pending) // 2
                        submit(pending[:half])
                        submit(pending[half:])
                        return
                    if e.status_code in (429, 500, 503, 504) or (e.status_code or 0) >= 500:
                        time.sleep(min(8.0, 0.2 * 2**attempt))
                        continue
                    raise _translate(f"submitting tasks to {job_id}", e) from None
                except AzureError as e:
                    raise _translate(f"submitting tasks to {job_id}", e, self.target.batch_url) from None
                retry = []
                by_id = {t.id: t for t in pending}
                for r in result.result_values or []:
                    status = _v(r.status)
                    code = r.error.code if r.error is not None else ""
                    if status == "success" or code == "TaskExists":
                        progress(1)
                    elif status == "servererror":
                        retry.append(by_id[r.task_id])
                    else:
                        msg = (
                            r.error.message.value
                            if r.error is not None and r.error.message
                            else code
                        )
                        raise BwfError(
                            secrets.scrub(f"task {r.task_id} was refused: {code}: {msg}")
                        )
                if not retry:
                    return
                pending = retry
                time.sleep(min(8.0, 0.2 * 2**attempt))
            raise BwfError(
                f"submitting tasks to {job_id}: the service kept failing after {SUBMIT_ATTEMPTS} tries"
            )

        chunks = [list(tasks[i : i + CHUNK]) for i in range(0, len(tasks), CHUNK)]
        with ThreadPoolExecutor(max_workers=SUBMIT_WORKERS) as pool:
            for _ in pool.map(submit, chunks):
                pass


def seconds(value: int | None) -> dt.timedelta | None:
    return dt.timedelta(seconds=value) if value else None


# --- desired state -> SDK models --------------------------------------------------------


class Resolver(Protocol):
    """Turns placeholders into what Batch needs: secret tokens into SAS URLs, logical
    containers into container URLs (see runner.apply)."""

    def text(self, value: str) -> str: ...
    def resource(self, rf: ResourceFile) -> dict[str, str | None]: ...
    def output_url(self, container: str) -> str: ...


def _resource_files(files: Sequence[ResourceFile], r: Resolver) -> list[m.ResourceFile] | None:
    return [m.ResourceFile(**r.resource(f)) for f in files] or None  # type: ignore[arg-type]


def _env(
    env: Sequence[tuple[str, str]], r: Resolver, fingerprint: str = ""
) -> list[m.EnvironmentSetting] | None:
    out = [m.EnvironmentSetting(name=k, value=r.text(v)) for k, v in env]
    if fingerprint:
        out.append(m.EnvironmentSetting(name=FINGERPRINT_ENV, value=fingerprint))
    return out or None


def _identity(elevated: bool) -> m.UserIdentity | None:
    if not elevated:
        return None
    return m.UserIdentity(
        auto_user=m.AutoUserSpecification(
            scope=m.AutoUserScope.POOL, elevation_level=m.ElevationLevel.ADMIN
        )
    )


_CONDITIONS = {
    "success": m.OutputFileUploadCondition.TASK_SUCCESS,
    "failure": m.OutputFileUploadCondition.TASK_FAILURE,
    "completion": m.OutputFileUploadCondition.TASK_COMPLETION,
}


def _outputs(outputs: Sequence[OutputFile], r: Resolver) -> list[m.OutputFile] | None:
    return [
        m.OutputFile(
            file_pattern=o.pattern,
            destination=m.OutputFileDestination(
                container=m.OutputFileBlobContainerDestination(
                    container_url=r.output_url(o.container), path=o.path or None
                )
            ),
            upload_options=m.OutputFileUploadConfiguration(upload_condition=_CONDITIONS[o.when]),
        )
        for o in outputs
    ] or None


def task_options(
    t: DesiredTask, r: Resolver, depends_on: Sequence[str] | None = None
) -> m.BatchTaskCreateOptions:
    """The task as Batch creates it. `depends_on` replaces the desired dependencies when
    given: the plan leaves out tasks that are not in the job (done in an earlier run)."""
    ids = list(t.depends_on if depends_on is None else depends_on)
    depends = None
    if ids or t.depends_on_ranges:
        depends = m.BatchTaskDependencies(
            task_ids=ids or None,
            task_id_ranges=[m.BatchTaskIdRange(start=a, end=b) for a, b in t.depends_on_ranges]
            or None,
        )
    exit_conditions = None
    if t.on_dependency_failure == "satisfy":
        exit_conditions = m.ExitConditions(
            default=m.ExitOptions(dependency_action=m.DependencyAction.SATISFY)
        )
    return m.BatchTaskCreateOptions(
        id=t.id,
        display_name=t.display[:1024] or None,
        command_line=r.text(t.command_line),
        resource_files=_resource_files(t.resource_files, r),
        output_files=_outputs(t.outputs, r),
        environment_settings=_env(t.env, r, t.fingerprint),
        constraints=m.BatchTaskConstraints(
            max_wall_clock_time=seconds(t.max_wall_clock), max_task_retry_count=t.retries
        ),
        user_identity=_identity(t.elevated),
        depends_on=depends,
        exit_conditions=exit_conditions,
    )


def pool_options(p: DesiredPool, node_agent_sku: str, r: Resolver) -> m.BatchPoolCreateOptions:
    st = p.start_task
    start = None
    if st is not None:
        start = m.BatchStartTask(
            command_line=r.text(st.command_line),
            resource_files=_resource_files(st.resource_files, r),
            environment_settings=_env(st.env, r),
            user_identity=_identity(st.elevated),
            max_task_retry_count=st.retries,
            wait_for_success=st.wait_for_success,
        )
    return m.BatchPoolCreateOptions(
        id=p.id,
        vm_size=p.vm_size,
        virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=m.BatchVmImageReference(
                publisher=p.publisher, offer=p.offer, sku=p.sku, version=p.version
            ),
            node_agent_sku_id=node_agent_sku,
        ),
        target_dedicated_nodes=p.dedicated_nodes,
        target_low_priority_nodes=p.spot_nodes,
        task_slots_per_node=p.task_slots_per_node,
        start_task=start,
        metadata=[m.BatchMetadataItem(name=FINGERPRINT_METADATA, value=p.fingerprint)],
    )


def job_options(j: DesiredJob, r: Resolver) -> m.BatchJobCreateOptions:
    prep = rel = None
    if j.prepare is not None:
        prep = m.BatchJobPreparationTask(
            command_line=r.text(j.prepare.command_line),
            resource_files=_resource_files(j.prepare.resource_files, r),
            environment_settings=_env(j.prepare.env, r),
            user_identity=_identity(j.prepare.elevated),
            constraints=m.BatchTaskConstraints(
                max_wall_clock_time=seconds(j.prepare.max_wall_clock),
                max_task_retry_count=j.prepare.retries,
            ),
        )
    if j.release is not None:
        rel = m.BatchJobReleaseTask(
            command_line=r.text(j.release.command_line),
            resource_files=_resource_files(j.release.resource_files, r),
            environment_settings=_env(j.release.env, r),
            user_identity=_identity(j.release.elevated),
            max_wall_clock_time=seconds(j.release.max_wall_clock),
        )
    return m.BatchJobCreateOptions(
        id=j.id,
        pool_info=m.BatchPoolInfo(pool_id=j.pool_id),
        uses_task_dependencies=j.uses_task_dependencies,
        job_preparation_task=prep,
        job_release_task=rel,
        max_parallel_tasks=j.max_parallel_tasks,
    )
