"""A task running on a node, as the scheduler tracks it from its assignment until it is
settled."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from runner.localbatch.nodes import Process


@dataclass
class Running:
    job_key: str
    task_key: str
    pool_key: str
    node_id: str
    process: Process | None = None
    # "terminate" | "requeue" | "lost" (node died) | "preempted" (spot node) | "delete"
    cancel: str | None = None
    slots: int = 1  # the task's requiredSlots, taken on its node
    # when each stage began or ended (time.time()), for the timing log (runner.localbatch.timing)
    marks: dict[str, float] = field(default_factory=lambda: {"assigned": time.time()})
    uploads: list[tuple[str, float, int]] = field(default_factory=list)  # pattern, seconds, files

    def mark(self, stage: str) -> None:
        self.marks[stage] = time.time()
