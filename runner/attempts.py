"""A task's attempts (its executions), worked out from the run record's snapshots of it.

Batch describes only a task's latest attempt (start, end, node, exit code) with its
counts of retries and requeues so far and when the latest of each happened. The
monitor records a snapshot of that whenever any of it changes, so an attempt that bwf
saw running or ending is known exactly. When the counts jump, the attempt before is
over: failed (a retry followed) or preempted (a requeue followed). What Batch still
says of it then completes it: while a retry waits, its start, end, node and exit code
are still the failed attempt's; once the retry runs, the failed attempt's exit code is
(on the local service) and `last_retry` bounds its end. An attempt that began and
ended entirely between two listings is known only from the counts: `seen` is False
and it has no node or times.

Pure. Used by the report's converter (runner.runreport: one bar per attempt) and the
`--events` stream (runner.events: task_started, task_failed, ...), so that both tell
the same story from the same record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from runner.record_events import TaskRecord, parse_time

WAITING = "waiting"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
PREEMPTED = "preempted"
BLOCKED = "blocked"
OVER = frozenset({SUCCEEDED, FAILED, PREEMPTED})
# Snapshot states in which the task's times, node and exit code describe the current
# attempt (in `active`, they still describe the attempt before, if there was one).
_CURRENT = frozenset({"preparing", "running", "succeeded", "failed"})


@dataclass
class Attempt:
    """One execution of a task. Times are the service's, ISO 8601 UTC."""

    task_id: str
    step: str
    number: int  # 0 for the first attempt
    retries: int  # Batch's counts while it ran
    requeues: int
    state: str = WAITING  # waiting | running | succeeded | failed | preempted | blocked
    queued: str | None = None  # created (first attempt), else when the attempt before ended
    node: str | None = None
    started: str | None = None
    ended: str | None = None
    exit_code: int | None = None
    failure: str | None = None
    blocked_by: str | None = None
    requeued: bool = False  # it exists because the attempt before it was requeued
    seen: bool = True  # False: known only from Batch's counts
    barrier: bool = False  # an attempt of a barrier task of `step`


@dataclass(frozen=True)
class Change:
    """Something that happened to an attempt: it started, ended, or can never run."""

    what: Literal["started", "ended", "blocked"]
    attempt: Attempt  # a copy, as it was right after the change
    will_retry: bool = False  # (ended) a later attempt of the task follows


class TaskAttempts:
    """The attempts of one task, updated snapshot by snapshot."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def update(self, snap: TaskRecord) -> list[Change]:
        """Fold in the next snapshot of the task; what changed, in the order it happened."""
        if not self.attempts:
            first = Attempt(snap.id, snap.step, 0, 0, 0, queued=snap.queued, barrier=snap.barrier)
            self.attempts.append(first)
        changes = self._advance(snap)
        return changes + self._apply(snap)

    def _advance(self, snap: TaskRecord) -> list[Change]:
        """When Batch's counts moved on: close the attempt that was current, add the ones
        that came and went unseen, and open the one the counts now describe."""
        current = self.attempts[-1]
        steps = max(snap.retries - current.retries, snap.requeues - current.requeues)
        if steps <= 0:
            return []
        requeued = snap.requeues > current.requeues
        changes = self._close(current, snap, steps, PREEMPTED if requeued else FAILED)
        for _ in range(steps - 1):
            last = self.attempts[-1]
            unseen = Attempt(
                snap.id,
                snap.step,
                last.number + 1,
                min(last.retries + 1, snap.retries),
                last.requeues,
                state=FAILED,
                queued=last.ended,
                seen=False,
                barrier=snap.barrier,
            )
            self.attempts.append(unseen)
            changes.append(Change("ended", dataclasses.replace(unseen), will_retry=True))
        last = self.attempts[-1]
        self.attempts.append(
            Attempt(
                snap.id,
                snap.step,
                last.number + 1,
                snap.retries,
                snap.requeues,
                queued=last.ended or (snap.last_requeue if requeued else snap.last_retry),
                requeued=requeued,
                barrier=snap.barrier,
            )
        )
        return changes

    def _close(self, attempt: Attempt, snap: TaskRecord, steps: int, how: str) -> list[Change]:
        """End `attempt` (it failed or was requeued) with what `snap` still tells of it."""
        changes: list[Change] = []
        if attempt.state in OVER:
            return changes
        just_before = steps == 1
        if just_before and snap.state == "active" and snap.started is not None:
            # the retry waits: Batch still describes the attempt that failed
            if attempt.started is None:
                attempt.started, attempt.node = snap.started, snap.node
                changes.append(Change("started", dataclasses.replace(attempt)))
            if _not_before(snap.ended, snap.started):
                attempt.ended = snap.ended
            attempt.node = attempt.node or snap.node
        if just_before and how == FAILED and snap.state not in ("succeeded", "failed"):
            attempt.exit_code = snap.exit_code
            attempt.failure = snap.failure
        if attempt.ended is None and just_before:
            # it ended at the latest when Batch retried (or requeued) it and when the
            # next attempt started
            bounds = [snap.last_requeue if how == PREEMPTED else snap.last_retry]
            if snap.state in _CURRENT:
                bounds.append(snap.started)
            known = [b for b in bounds if _not_before(b, attempt.started)]
            attempt.ended = min(known, key=_sort_key) if known else None
        attempt.seen = attempt.started is not None
        attempt.state = how
        changes.append(Change("ended", dataclasses.replace(attempt), will_retry=True))
        return changes

    def _apply(self, snap: TaskRecord) -> list[Change]:
        """What `snap` says of the attempt its counts describe."""
        attempt = self.attempts[-1]
        attempt.step, attempt.barrier = snap.step, snap.barrier
        changes: list[Change] = []
        if snap.state == "blocked":
            if attempt.state != BLOCKED:
                attempt.state, attempt.blocked_by = BLOCKED, snap.blocked_by
                changes.append(Change("blocked", dataclasses.replace(attempt)))
            return changes
        if snap.state not in _CURRENT or attempt.state in OVER:
            return changes
        if snap.node is not None:
            attempt.node = snap.node
        if snap.started is not None and attempt.started is None:
            attempt.started, attempt.state = snap.started, RUNNING
            changes.append(Change("started", dataclasses.replace(attempt)))
        if snap.state in ("succeeded", "failed"):
            attempt.ended, attempt.exit_code = snap.ended, snap.exit_code
            attempt.failure = snap.failure
            attempt.state = SUCCEEDED if snap.state == "succeeded" else FAILED
            changes.append(Change("ended", dataclasses.replace(attempt)))
        return changes


def _sort_key(text: str | None) -> float:
    when = parse_time(text)
    return when.timestamp() if when else float("inf")


def _not_before(text: str | None, start: str | None) -> bool:
    """`text` is a time, and not before `start` (when there is one)."""
    if parse_time(text) is None:
        return False
    return start is None or _sort_key(text) >= _sort_key(start)


class Attempts:
    """The attempts of every task of a run, fed the run record's task snapshots in order."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskAttempts] = {}

    def update(self, snap: TaskRecord) -> list[Change]:
        return self.tasks.setdefault(snap.id, TaskAttempts()).update(snap)

    def all(self) -> list[Attempt]:
        """Every attempt, task by task in the order the tasks were first seen."""
        return [a for task in self.tasks.values() for a in task.attempts]
