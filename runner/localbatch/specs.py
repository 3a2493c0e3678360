"""The nested parts of pools, jobs and tasks as the service stores them: read with
`fields` (their types checked by `shapes` before), typed as the API declares, with
Batch's defaults filled in. Create and update handlers share them, so that an update
that replaces a part resets what it omits to the same defaults a create gives."""

from __future__ import annotations

from typing import Any

from runner.localbatch import fields
from runner.localbatch.errors import invalid
from runner.localbatch.fields import Body
from runner.localbatch.rest import FOREVER

DEFAULT_RETENTION = "P7D"
NODE_FILL = ("spread", "pack")
DEALLOCATION = ("requeue", "terminate", "taskcompletion", "retaineddata")
ALL_TASKS_COMPLETE = ("noaction", "terminatejob")
TASK_FAILURE = ("noaction", "performexitoptionsjobaction")
CONTAINER_TYPES = ("dockerCompatible", "criCompatible")
WORKING_DIRECTORIES = ("taskWorkingDirectory", "containerImageDefault")
BIND_SOURCES = ("Shared", "Startup", "VfsMounts", "Task", "JobPrep", "Applications")


def _part(src: Body, key: str) -> Body:
    return fields.part(src, key) or {}


def _prune(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def job_constraints(src: Body) -> Body:
    raw = _part(src, "constraints")
    return {
        "maxWallClockTime": fields.text(raw, "maxWallClockTime", FOREVER),
        "maxTaskRetryCount": fields.integer(raw, "maxTaskRetryCount", 0, lo=-1),
    }


def task_constraints(src: Body, job: Body) -> Body:
    """A task's constraints; an omitted retry count is the job's, as on Batch."""
    raw = _part(src, "constraints")
    job_retries = int((job.get("constraints") or {}).get("maxTaskRetryCount") or 0)
    return {
        "maxWallClockTime": fields.text(raw, "maxWallClockTime", FOREVER),
        "retentionTime": fields.text(raw, "retentionTime", DEFAULT_RETENTION),
        "maxTaskRetryCount": fields.integer(raw, "maxTaskRetryCount", job_retries, lo=-1),
    }


def _command(raw: Body, where: str) -> Body:
    command = fields.text(raw, "commandLine")
    if command is None:
        raise invalid(f"{where}.commandLine", None, f"{where} needs a commandLine.")
    return _prune(
        {
            "id": fields.text(raw, "id"),
            "commandLine": command,
            "containerSettings": container_settings(raw),
            "resourceFiles": fields.part(raw, "resourceFiles"),
            "environmentSettings": fields.part(raw, "environmentSettings"),
            "userIdentity": fields.part(raw, "userIdentity"),
        }
    )


def start_task(src: Body) -> Body | None:
    raw = fields.part(src, "startTask")
    if raw is None:
        return None
    spec = _command(raw, "startTask")
    spec.pop("id", None)
    spec["maxTaskRetryCount"] = fields.integer(raw, "maxTaskRetryCount", 0, lo=-1)
    spec["waitForSuccess"] = fields.boolean(raw, "waitForSuccess", True)
    return spec


def preparation_task(src: Body, job: Body) -> Body | None:
    raw = fields.part(src, "jobPreparationTask")
    if raw is None:
        return None
    spec = _command(raw, "jobPreparationTask")
    spec.setdefault("id", "jobpreparation")
    spec["constraints"] = task_constraints(raw, job)
    spec["waitForSuccess"] = fields.boolean(raw, "waitForSuccess", True)
    spec["rerunOnNodeRebootAfterSuccess"] = fields.boolean(
        raw, "rerunOnNodeRebootAfterSuccess", True
    )
    return spec


def release_task(src: Body) -> Body | None:
    raw = fields.part(src, "jobReleaseTask")
    if raw is None:
        return None
    spec = _command(raw, "jobReleaseTask")
    spec.setdefault("id", "jobrelease")
    spec["maxWallClockTime"] = fields.text(raw, "maxWallClockTime", "PT15M")
    spec["retentionTime"] = fields.text(raw, "retentionTime", DEFAULT_RETENTION)
    return spec


def pool_info(src: Body, *, required: bool) -> Body | None:
    raw = fields.part(src, "poolInfo", required=required)
    if raw is None:
        return None
    return {"poolId": fields.text(raw, "poolId", required=True)}


def scheduling_policy(src: Body) -> Body:
    raw = _part(src, "taskSchedulingPolicy")
    return {"nodeFillType": fields.choice(raw, "nodeFillType", NODE_FILL, "spread")}


def _registry(raw: Body) -> Body:
    """A container registry as kept: never its password (local nodes pull nothing)."""
    return _prune(
        {
            "registryServer": fields.text(raw, "registryServer"),
            "username": fields.text(raw, "username"),
            "identityReference": fields.part(raw, "identityReference"),
        }
    )


def container_configuration(vmc: Body) -> Body | None:
    """A pool's `virtualMachineConfiguration.containerConfiguration`."""
    raw = fields.part(vmc, "containerConfiguration")
    if raw is None:
        return None
    return _prune(
        {
            "type": fields.choice(raw, "type", CONTAINER_TYPES),
            "containerImageNames": fields.part(raw, "containerImageNames"),
            "containerRegistries": [_registry(r) for r in raw.get("containerRegistries") or []]
            or None,
        }
    )


def container_settings(src: Body) -> Body | None:
    """A task's `containerSettings` (tasks, start tasks, preparation and release tasks)."""
    raw = fields.part(src, "containerSettings")
    if raw is None:
        return None
    if not raw["imageName"]:
        raise invalid("containerSettings.imageName", "", "The image name must not be empty.")
    mounts = [
        {
            "source": fields.choice(m, "source", BIND_SOURCES),
            "isReadOnly": fields.boolean(m, "isReadOnly", False),
        }
        for m in raw.get("containerHostBatchBindMounts") or []
    ]
    registry = fields.part(raw, "registry")
    return _prune(
        {
            "imageName": raw["imageName"],
            "containerRunOptions": fields.text(raw, "containerRunOptions"),
            "workingDirectory": fields.choice(
                raw, "workingDirectory", WORKING_DIRECTORIES, "taskWorkingDirectory"
            ),
            "registry": _registry(registry) if registry is not None else None,
            "containerHostBatchBindMounts": mounts
            if raw.get("containerHostBatchBindMounts") is not None
            else None,
        }
    )
