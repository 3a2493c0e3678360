"""Desired state to SDK models: the pool, job and task bodies Batch creates, with the
secrets resolved at the last moment by a `Resolver`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from azure.batch import models as m

from runner.compute import ContainerRegistry, PoolContainers, TaskContainer
from runner.state import DesiredJob, DesiredPool, DesiredTask, OutputFile, ResourceFile

FINGERPRINT_ENV = "BWF_FINGERPRINT"
FINGERPRINT_METADATA = "bwf-fingerprint"


def seconds(value: int | None) -> dt.timedelta | None:
    return dt.timedelta(seconds=value) if value else None


class Resolver(Protocol):
    """Turns placeholders into what Batch needs: secret tokens into SAS URLs, logical
    containers into container URLs (see runner.apply)."""

    def text(self, value: str) -> str: ...
    def resource(self, rf: ResourceFile) -> dict[str, str | None]: ...
    def output_url(self, container: str) -> str: ...
    def password(self, variable: str) -> str: ...


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


def _registry(g: ContainerRegistry, r: Resolver) -> m.ContainerRegistryReference:
    return m.ContainerRegistryReference(
        registry_server=g.server, username=g.username, password=r.password(g.password_env)
    )


_WORKDIRS = {
    "task": m.ContainerWorkingDirectory.TASK_WORKING_DIRECTORY,
    "image": m.ContainerWorkingDirectory.CONTAINER_IMAGE_DEFAULT,
}


def _container_settings(
    c: TaskContainer | None, r: Resolver
) -> m.BatchTaskContainerSettings | None:
    if c is None:
        return None
    return m.BatchTaskContainerSettings(
        image_name=c.image,
        container_run_options=c.options or None,
        working_directory=_WORKDIRS[c.workdir],
        registry=_registry(c.registry, r) if c.registry is not None else None,
    )


def _container_configuration(
    c: PoolContainers | None, r: Resolver
) -> m.BatchContainerConfiguration | None:
    if c is None:
        return None
    return m.BatchContainerConfiguration(
        type=m.ContainerType.DOCKER_COMPATIBLE,
        container_image_names=list(c.images) or None,
        container_registries=[_registry(g, r) for g in c.registries] or None,
    )


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
        container_settings=_container_settings(t.container, r),
        required_slots=t.required_slots if t.required_slots != 1 else None,
    )


def start_task(p: DesiredPool, r: Resolver) -> m.BatchStartTask | None:
    """The pool's start task, its SAS URLs signed now by `r`."""
    st = p.start_task
    if st is None:
        return None
    return m.BatchStartTask(
        command_line=r.text(st.command_line),
        resource_files=_resource_files(st.resource_files, r),
        environment_settings=_env(st.env, r),
        user_identity=_identity(st.elevated),
        max_task_retry_count=st.retries,
        wait_for_success=st.wait_for_success,
    )


def pool_options(p: DesiredPool, r: Resolver) -> m.BatchPoolCreateOptions:
    """The pool as Batch creates it, with the node agent SKU the spec names; an autoscale
    pool gets its formula and interval instead of node counts (Batch takes one or the
    other)."""
    a = p.autoscale
    return m.BatchPoolCreateOptions(
        id=p.id,
        vm_size=p.vm_size,
        virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=m.BatchVmImageReference(
                publisher=p.publisher, offer=p.offer, sku=p.sku, version=p.version
            ),
            node_agent_sku_id=p.node_agent_sku,
            container_configuration=_container_configuration(p.containers, r),
        ),
        target_dedicated_nodes=None if a else p.dedicated_nodes,
        target_low_priority_nodes=None if a else p.spot_nodes,
        enable_auto_scale=True if a else None,
        auto_scale_formula=a.formula if a else None,
        auto_scale_evaluation_interval=dt.timedelta(seconds=a.interval) if a else None,
        task_slots_per_node=p.task_slots_per_node,
        start_task=start_task(p, r),
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
