"""SDK models to bwf's observed types (`runner.state`): nothing of the SDK leaves the
package."""

from __future__ import annotations

import datetime as dt
from typing import Any

from runner import secrets
from runner.batch.models import FINGERPRINT_ENV
from runner.state import ObservedNode, ObservedTask

# What a task listing asks for: enough for the plan (fingerprint, state), the monitor's
# dependency graph and the run record (node, times, failure).
TASK_FIELDS = [
    "id",
    "state",
    "stateTransitionTime",
    "creationTime",
    "executionInfo",
    "environmentSettings",
    "nodeInfo",
    "dependsOn",
]


def value(x: Any) -> str:
    """An SDK enum (or a plain string) as its REST value."""
    return str(x.value if hasattr(x, "value") else x)


def iso(when: dt.datetime | None) -> str | None:
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
        state=value(task.state),
        fingerprint=_task_fingerprint(task),
        exit_code=info.exit_code if info else None,
        result=value(info.result) if info and info.result else None,
        retry_count=(info.retry_count or 0) if info else 0,
        requeue_count=(info.requeue_count or 0) if info else 0,
        node_id=task.node_info.node_id if task.node_info else None,
        created=iso(task.creation_time),
        started=iso(info.start_time) if info else None,
        ended=iso(info.end_time) if info else None,
        failure_code=failure.code if failure else None,
        failure_message=secrets.scrub(failure.message) if failure and failure.message else None,
        depends_on=tuple(depends.task_ids or ()) if depends else (),
        last_retry=iso(info.last_retry_time) if info else None,
        last_requeue=iso(info.last_requeue_time) if info else None,
        changed=iso(task.state_transition_time),
    )


def observed_node(node: Any) -> ObservedNode:
    info = node.start_task_info
    failure = info.failure_info if info else None
    return ObservedNode(
        id=node.id,
        state=value(node.state),
        dedicated=node.is_dedicated is not False,
        running_tasks=node.running_tasks_count or 0,
        total_tasks_run=node.total_tasks_run or 0,
        start_task_exit_code=info.exit_code if info else None,
        start_task_failure=secrets.scrub(f"{failure.code}: {failure.message}") if failure else None,
        start_task_started=iso(info.start_time) if info else None,
        since=iso(node.state_transition_time),
        allocated=iso(node.allocation_time),
    )
