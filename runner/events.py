"""`bwf apply --events FILE`: one JSON line per state change, for CI logs and other tools.

The stream listens to the run record (runner.runrecord): every event the record keeps
passes through here and becomes the public events of docs/events.md. Task events come
from the same attempts the report draws (runner.attempts), so the stream, the record
and the report agree. When apply resumes an open run, the stream first replays what the
record already holds, silently, and goes on from there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from runner.attempts import FAILED, PREEMPTED, SUCCEEDED, Attempts, Change
from runner.errors import UsageError
from runner.record_events import (
    Downloaded,
    Event,
    NodeRecord,
    PoolDeleted,
    PoolSize,
    RunFinished,
    RunResumed,
    RunStarted,
    Stamped,
    TaskRecord,
    Uploaded,
    parse_time,
)

STDOUT = "-"
_ENDED = {SUCCEEDED: "task_completed", FAILED: "task_failed", PREEMPTED: "task_preempted"}


class EventStream:
    """Writes the public events to `out`, one JSON object per line, flushed at once."""

    def __init__(self, out: TextIO, owned: bool) -> None:
        self.out = out
        self.owned = owned  # a file this stream opened (and closes)
        self.run: str | None = None
        self.attempts = Attempts()
        self.pool_counts: tuple[int, int] | None = None

    @staticmethod
    def open(target: str) -> EventStream:
        """The stream for `--events TARGET`: a file (created or truncated) or `-`."""
        if target == STDOUT:
            return EventStream(sys.stdout, owned=False)
        try:
            return EventStream(Path(target).open("w", encoding="utf-8"), owned=True)
        except OSError as e:
            raise UsageError(f"--events {target}: {e.strerror or e}") from None

    def replay(self, stamped: Stamped) -> None:
        self._translate(stamped)

    def emit(self, stamped: Stamped) -> None:
        for line in self._translate(stamped):
            self.out.write(json.dumps(line) + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.owned:
            self.out.close()

    def _translate(self, stamped: Stamped) -> list[dict[str, Any]]:
        """The public events of one record event (and the stream's state kept up to date)."""
        e = stamped.event
        if isinstance(e, (RunStarted, RunResumed)):
            self.run = e.run
        if isinstance(e, TaskRecord):
            return [self._task(stamped.time, c) for c in self.attempts.update(e)]
        if isinstance(e, PoolSize):
            counts = (e.dedicated, e.spot)
            if counts == self.pool_counts:
                return []
            self.pool_counts = counts
        fields = _plain(e)
        when = e.since if isinstance(e, NodeRecord) and e.since else stamped.time
        return [] if fields is None else [self._line(when, *fields)]

    def _line(self, time: str, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"time": time, "event": event, "run": self.run, **fields}

    def _task(self, seen: str, change: Change) -> dict[str, Any]:
        a = change.attempt
        fields: dict[str, Any] = {
            "task": a.task_id,
            "step": a.step,
            "barrier": a.barrier,
            "attempt": a.number + 1,
            "node": a.node,
        }
        if change.what == "started":
            return self._line(a.started or seen, "task_started", {**fields, "started": a.started})
        if change.what == "blocked":
            return self._line(seen, "task_blocked", {**fields, "blocked_by": a.blocked_by})
        fields.update(started=a.started, ended=a.ended, seconds=_seconds(a.started, a.ended))
        fields.update(exit_code=a.exit_code, failure=a.failure)
        fields.update(will_retry=change.will_retry, seen=a.seen)
        return self._line(a.ended or seen, _ENDED[a.state], fields)


def _plain(e: Event) -> tuple[str, dict[str, Any]] | None:
    """The public name and fields of a record event that is not about a task."""
    if isinstance(e, RunStarted):
        started = ("workflow", "job", "pool", "target", "tasks", "to_run")
        return "run_started", {k: getattr(e, k) for k in started}
    if isinstance(e, RunResumed):
        return "run_resumed", {}
    if isinstance(e, Uploaded):
        return "upload_done", {"container": e.container, "files": e.files, "bytes": e.bytes}
    if isinstance(e, PoolSize):
        return "pool_resized", {"pool": e.pool, "dedicated": e.dedicated, "spot": e.spot}
    if isinstance(e, NodeRecord):
        fields = {"pool": e.pool, "node": e.node, "state": e.state, "dedicated": e.dedicated}
        return "node_state", fields
    if isinstance(e, Downloaded):
        downloaded = ("container", "pattern", "to", "files", "source")
        return "download_done", {k: getattr(e, k) for k in downloaded}
    if isinstance(e, PoolDeleted):
        return "pool_deleted", {"pool": e.pool}
    if isinstance(e, RunFinished):
        finished = ("outcome", "succeeded", "failed", "blocked", "unfinished", "seconds")
        return "run_finished", {k: getattr(e, k) for k in finished}
    return None


def _seconds(start: str | None, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end)
    return round((b - a).total_seconds(), 3) if a and b else None
