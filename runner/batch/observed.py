"""SDK models to bwf's observed types (`runner.state`): nothing of the SDK leaves the
package."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from azure.batch import models as m

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


# A timestamp as Batch writes it (UTC, "Z"): read as text, as the SDK would parse it
# (fractions cut to microseconds) and `iso` would write it back.
_UTC = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z")


def rest_time(text: Any, parsed: Callable[[], dt.datetime | None]) -> str | None:
    """A REST timestamp as `iso` writes the SDK's datetime for it; `parsed` gives that
    datetime, asked for only when the text is not in Batch's usual form."""
    if text is None:
        return None
    found = _UTC.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        return iso(parsed())
    whole, fraction = found.groups()
    micro = (fraction or "")[:6].ljust(6, "0")
    return f"{whole}.{micro}Z" if int(micro) else f"{whole}Z"


def observed_task(task: Mapping[str, Any]) -> ObservedTask:
    """A listed task, from its REST fields as Batch sent them (a page's JSON, or an SDK
    model, which is a mapping of that JSON): reading each through a model's attributes
    costs as much CPU again as listing it."""
    info: dict[str, Any] = task.get("executionInfo") or {}
    failure: dict[str, Any] = info.get("failureInfo") or {}
    depends: dict[str, Any] = task.get("dependsOn") or {}
    node: dict[str, Any] = task.get("nodeInfo") or {}
    fingerprint = next(
        (
            str(s.get("value") or "")
            for s in task.get("environmentSettings") or ()
            if s.get("name") == FINGERPRINT_ENV
        ),
        "",
    )
    message = failure.get("message")

    def model() -> Any:  # the SDK's reading, for a timestamp not in Batch's usual form
        return m.BatchTask(dict(task))

    return ObservedTask(
        id=task["id"],
        state=str(task.get("state")),
        fingerprint=fingerprint,
        exit_code=info.get("exitCode"),
        result=info.get("result") or None,
        retry_count=info.get("retryCount") or 0,
        requeue_count=info.get("requeueCount") or 0,
        node_id=node.get("nodeId"),
        created=rest_time(task.get("creationTime"), lambda: model().creation_time),
        started=rest_time(info.get("startTime"), lambda: model().execution_info.start_time),
        ended=rest_time(info.get("endTime"), lambda: model().execution_info.end_time),
        failure_code=failure.get("code"),
        failure_message=secrets.scrub(message) if message else None,
        depends_on=tuple(depends.get("taskIds") or ()),
        last_retry=rest_time(
            info.get("lastRetryTime"), lambda: model().execution_info.last_retry_time
        ),
        last_requeue=rest_time(
            info.get("lastRequeueTime"), lambda: model().execution_info.last_requeue_time
        ),
        changed=rest_time(task.get("stateTransitionTime"), lambda: model().state_transition_time),
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
