"""Failure reports: one line a user can act on per failed, blocked or unfinished task.

A failed task shows its exit code or Batch's failure code and the reason in words
(`ResourceFileDownloadFailed` with its message, secrets scrubbed; "wall-clock limit
expired" rather than the bare exit code of a killed process), then the last lines
of its stderr when there is one. A blocked task names the task behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from runner import durations, secrets
from runner.dag import Blocker
from runner.state import DesiredTask, ObservedTask
from runner.words import plural

STDERR_TAIL = 10
SHOWN = 20  # tasks listed per kind; `bwf status` shows them all
WALL_CLOCK_CODES = ("MaxWallClockTimeExpiry",)
MESSAGE_CHARS = 300


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (b - a).total_seconds()


def wall_clock_expired(t: ObservedTask, limit: int | None) -> bool:
    """Batch ended the task at its max_wall_clock: said by the failure code, or seen
    from its run time reaching the limit (Azure may report only the exit code)."""
    if t.failure_code in WALL_CLOCK_CODES:
        return True
    ran = _seconds(t.started, t.ended)
    return limit is not None and ran is not None and ran >= limit and t.exit_code != 0


def reason(t: ObservedTask, desired: DesiredTask | None) -> str:
    """Why a task failed, in words; "" when its exit code says it all."""
    limit = desired.max_wall_clock if desired is not None else None
    if wall_clock_expired(t, limit):
        return "wall-clock limit expired" + (
            f" (max_wall_clock {durations.human(limit)})" if limit else ""
        )
    if t.failure_code is None or t.failure_code == "FailureExitCode":
        return ""
    message = " ".join(secrets.scrub(t.failure_message or "").split())
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS] + "..."
    return f"{t.failure_code}: {message}" if message else t.failure_code


def failed_line(t: ObservedTask, desired: DesiredTask | None) -> str:
    parts = [f"{t.id}: failed"]
    if t.exit_code is not None:
        parts.append(f"exit code {t.exit_code}")
    why = reason(t, desired)
    if why:
        parts.append(why)
    if t.retry_count:
        parts.append(f"{t.retry_count} retries")
    return ", ".join(parts)


def blocked_line(task_id: str, blocker: Blocker) -> str:
    return f"{task_id}: blocked, waits on {blocker.task} ({blocker.why})"


def failures(
    failed: Sequence[ObservedTask],
    blocked: Mapping[str, Blocker],
    desired: Mapping[str, DesiredTask],
    stderr: Callable[[str], bytes | None],
) -> list[str]:
    """The lines of the report: failed tasks with their stderr tail, then blocked ones."""
    lines = []
    if failed:
        lines.append(f"{plural(len(failed), 'task')} failed:")
        for t in failed[:SHOWN]:
            lines.append("  " + failed_line(t, desired.get(t.id)))
            data = stderr(t.id) or b""
            for line in data.decode(errors="replace").splitlines()[-STDERR_TAIL:]:
                lines.append(f"    | {secrets.scrub(line)}")
        if len(failed) > SHOWN:
            lines.append(f"  ... and {len(failed) - SHOWN} more (bwf status shows them all)")
    if blocked:
        lines.append(
            f"{plural(len(blocked), 'task')} blocked: they wait on tasks that failed or are not "
            "in the job, and will not run:"
        )
        for task_id in sorted(blocked)[:SHOWN]:
            lines.append("  " + blocked_line(task_id, blocked[task_id]))
        if len(blocked) > SHOWN:
            lines.append(f"  ... and {len(blocked) - SHOWN} more (bwf status shows them all)")
    return lines


def unfinished(left: Sequence[ObservedTask], timeout: int) -> list[str]:
    lines = [
        f"The job timeout ({durations.human(timeout)}) passed with {plural(len(left), 'task')} not "
        "finished; they keep running in Batch, and the next apply picks them up:"
    ]
    for t in left[:SHOWN]:
        lines.append(f"  {t.id}: {t.state}" + (f" on {t.node_id}" if t.node_id else ""))
    if len(left) > SHOWN:
        lines.append(f"  ... and {len(left) - SHOWN} more (bwf status shows them all)")
    return lines
