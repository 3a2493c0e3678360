"""Azure Batch: the only module that talks to Batch (the local service or Azure).

Translates desired pools, jobs and tasks (with secrets already resolved) into SDK
calls, reads them back as observed state, and submits tasks in chunks with bounded
retries. Errors leave as `BwfError` with secrets scrubbed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from runner import secrets
from runner.errors import BwfError
from runner.state import (
    DesiredJob,
    DesiredPool,
    DesiredTask,
    ObservedJob,
    ObservedPool,
    ObservedTask,
    OutputFile,
    ResourceFile,
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


@contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        yield
    except HttpResponseError as e:
        code = e.error.code if e.error is not None else e.status_code
        message = e.error.message if e.error is not None else e.reason
        raise BwfError(secrets.scrub(f"{what}: {code}: {message}")) from None
    except AzureError as e:
        raise BwfError(secrets.scrub(f"{what}: {e}")) from None


def _wait_deleted(begin: Callable[[], Any], what: str) -> bool:
    try:
        begin().result()
    except ResourceNotFoundError:
        return False
    except AzureError as e:
        raise BwfError(secrets.scrub(f"deleting {what}: {e}")) from None
    return True


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


def _task_fingerprint(task: Any) -> str:
    for s in task.environment_settings or []:
        if s.name == FINGERPRINT_ENV:
            return str(s.value or "")
    return ""


def observed_task(task: Any) -> ObservedTask:
    info = task.execution_info
    return ObservedTask(
        id=task.id,
        state=str(task.state.value if hasattr(task.state, "value") else task.state),
        fingerprint=_task_fingerprint(task),
        exit_code=info.exit_code if info else None,
        result=(info.result.value if hasattr(info.result, "value") else info.result)
        if info and info.result
        else None,
        retry_count=info.retry_count if info and info.retry_count else 0,
    )


def _v(x: Any) -> str:
    return str(x.value if hasattr(x, "value") else x)


class Batch:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = make_client(target)

    # --- images ----------------------------------------------------------------------

    def node_agent_sku(self, publisher: str, offer: str, sku: str) -> str:
        """The node agent SKU Batch pairs with an image (as the tutorial's
        select_latest_verified_vm_image_with_node_agent_sku does)."""
        with _errors("listing supported images"):
            for image in self.client.list_supported_images():
                ref = image.image_reference
                if (ref.publisher or "").lower() == publisher.lower() and (ref.offer or "").lower() == offer.lower() \
                        and (ref.sku or "").lower() == sku.lower():  # fmt: skip
                    return str(image.node_agent_sku_id)
        raise BwfError(f"the Batch account does not support the image {publisher}/{offer}/{sku}")

    # --- pools -----------------------------------------------------------------------

    def get_pool(self, pool_id: str) -> ObservedPool | None:
        try:
            p = self.client.get_pool(pool_id)
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise BwfError(secrets.scrub(f"reading pool {pool_id}: {e}")) from None
        vmc = p.virtual_machine_configuration
        ref = vmc.image_reference if vmc else None
        meta = {i.name: i.value for i in p.metadata or []}
        states: dict[str, int] = {}
        if p.current_dedicated_nodes or p.current_low_priority_nodes:
            with _errors(f"listing nodes of {pool_id}"):
                for n in self.client.list_nodes(pool_id, select=["id", "state"]):
                    states[_v(n.state)] = states.get(_v(n.state), 0) + 1
        return ObservedPool(
            id=p.id, state=_v(p.state), allocation_state=_v(p.allocation_state), vm_size=(p.vm_size or "").lower(),
            publisher=(ref.publisher or "") if ref else "", offer=(ref.offer or "") if ref else "",
            sku=(ref.sku or "") if ref else "",
            version=(ref.version or "latest") if ref else "", node_agent_sku=vmc.node_agent_sku_id if vmc else "",
            dedicated_target=p.target_dedicated_nodes or 0, spot_target=p.target_low_priority_nodes or 0,
            task_slots_per_node=p.task_slots_per_node or 1, fingerprint=meta.get(FINGERPRINT_METADATA, ""),
            node_states=states,
        )  # fmt: skip

    def create_pool(self, pool: m.BatchPoolCreateOptions) -> None:
        with _errors(f"creating pool {pool.id}"):
            self.client.create_pool(pool)

    def resize_pool(self, pool_id: str, dedicated: int, spot: int) -> None:
        with _errors(f"resizing pool {pool_id}"):
            self.client.begin_resize_pool(
                pool_id,
                m.BatchPoolResizeOptions(
                    target_dedicated_nodes=dedicated, target_low_priority_nodes=spot
                ),
                polling_interval=POLL,
            ).result()

    def delete_pool(self, pool_id: str) -> bool:
        """Delete a pool and wait until it is gone; False when there was none."""
        return _wait_deleted(
            lambda: self.client.begin_delete_pool(pool_id, polling_interval=POLL), f"pool {pool_id}"
        )

    def nodes(self, pool_id: str) -> list[Any]:
        with _errors(f"listing nodes of {pool_id}"):
            return list(self.client.list_nodes(pool_id))

    def node_file(self, pool_id: str, node_id: str, path: str) -> bytes:
        with _errors(f"reading {path} on {node_id}"):
            return b"".join(self.client.download_node_file(pool_id, node_id, path))

    # --- jobs --------------------------------------------------------------------------

    def get_job(self, job_id: str, with_tasks: bool = True) -> ObservedJob | None:
        try:
            j = self.client.get_job(job_id)
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise BwfError(secrets.scrub(f"reading job {job_id}: {e}")) from None
        tasks: dict[str, ObservedTask] = {}
        if with_tasks:
            for t in self.list_tasks(job_id):
                tasks[t.id] = t
        return ObservedJob(
            id=j.id, state=_v(j.state), pool_id=(j.pool_info.pool_id or "") if j.pool_info else "",
            uses_task_dependencies=bool(j.uses_task_dependencies), tasks=tasks,
        )  # fmt: skip

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[ObservedTask]:
        select = ["id", "state", "executionInfo", "environmentSettings"]
        with _errors(f"listing tasks of {job_id}"):
            return [
                observed_task(t)
                for t in self.client.list_tasks(job_id, filter=filter, select=select)
            ]

    def create_job(self, job: m.BatchJobCreateOptions) -> None:
        with _errors(f"creating job {job.id}"):
            self.client.create_job(job)

    def delete_job(self, job_id: str) -> bool:
        """Delete a job and wait until it is gone; False when there was none."""
        return _wait_deleted(
            lambda: self.client.begin_delete_job(job_id, polling_interval=POLL), f"job {job_id}"
        )

    def task_counts(self, job_id: str) -> Any:
        with _errors(f"reading task counts of {job_id}"):
            return self.client.get_job_task_counts(job_id).task_counts

    def task_file(self, job_id: str, task_id: str, path: str) -> bytes | None:
        try:
            return b"".join(self.client.download_task_file(job_id, task_id, path))
        except HttpResponseError:
            return None

    def delete_task(self, job_id: str, task_id: str) -> None:
        try:
            self.client.delete_task(job_id, task_id)
        except ResourceNotFoundError:
            pass
        except AzureError as e:
            raise BwfError(secrets.scrub(f"deleting task {task_id}: {e}")) from None

    def add_tasks(
        self,
        job_id: str,
        tasks: Sequence[m.BatchTaskCreateOptions],
        progress: Callable[[int], None],
    ) -> None:
        """Submit tasks in chunks of 100 on a few threads. A chunk refused as too large is
        split; server errors and throttling are retried with backoff, a bounded number of
        times; a task that already exists counts as submitted (re-submitting is safe)."""

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
                    raise BwfError(
                        secrets.scrub(f"submitting tasks to {job_id}: {code}: {e.message}")
                    ) from None
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


def task_options(t: DesiredTask, r: Resolver) -> m.BatchTaskCreateOptions:
    depends = None
    if t.depends_on or t.depends_on_ranges:
        depends = m.BatchTaskDependencies(
            task_ids=list(t.depends_on) or None,
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
