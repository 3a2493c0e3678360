"""A job's progress step by step: how many tasks of each step succeeded, failed, run,
wait or are blocked, and the line that says it (`simulate 6/6 ✓, analyse 4/6,
summary waiting`), for the progress display and `bwf status`.

Barrier tasks are not counted: they stand for a step's dependencies. A task of the
spec that is not in the job was done in an earlier run: it counts as succeeded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from runner.state import DesiredJob

SUCCEEDED = "succeeded"
FAILED = "failed"
RUNNING = "running"
BLOCKED = "blocked"
WAITING = "waiting"


@dataclass
class StepCount:
    name: str
    total: int
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    blocked: int = 0
    waiting: int = 0

    def add(self, state: str) -> None:
        setattr(self, state, getattr(self, state) + 1)

    def text(self) -> str:
        if self.total and self.succeeded == self.total:
            return f"{self.name} {self.succeeded}/{self.total} ✓"
        if self.succeeded + self.failed + self.running == 0:
            return f"{self.name} {BLOCKED if self.blocked else WAITING}"
        notes = [f"{n} {what}" for n, what in ((self.failed, FAILED), (self.blocked, BLOCKED)) if n]
        return f"{self.name} {self.succeeded}/{self.total}" + (
            f" ({', '.join(notes)})" if notes else ""
        )


def bucket(state: str, result: str | None, blocked: bool) -> str:
    """A task's state as the counts have it (Batch's `preparing` is running)."""
    if state == "completed":
        return SUCCEEDED if result == "success" else FAILED
    if blocked:
        return BLOCKED
    return RUNNING if state in ("running", "preparing") else WAITING


def count(
    job: DesiredJob,
    states: Mapping[str, str],
    in_job: Collection[str] | None = None,
) -> list[StepCount]:
    """Per step in the job's order. `states`: task ID -> its bucket (see `bucket`) for
    the tasks listed; `in_job`: the tasks the job should hold (default: all), the
    others are done earlier. A task of the job not listed (yet) is waiting."""
    out = []
    for step in job.steps:
        c = StepCount(step.name, len(step.tasks))
        for t in step.tasks:
            state = states.get(t.id)
            if state is None:
                done_earlier = in_job is not None and t.id not in in_job
                state = SUCCEEDED if done_earlier else WAITING
            c.add(state)
        out.append(c)
    return out


def line(counts: list[StepCount]) -> str:
    return ", ".join(c.text() for c in counts)
