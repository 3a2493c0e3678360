"""A task running on a node, as the scheduler tracks it from its assignment until it is
settled."""

from __future__ import annotations

from dataclasses import dataclass

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
