"""The run report's input: what one run of a workflow did, as frozen dataclasses.

`RunData` is all the report needs and nothing of where it came from: the wiring
converts the run record kept in BWF_HOME into it, the tests build it by hand. Every
time is a timezone-aware `datetime` (naive ones are refused, because `.timestamp()`
would silently read them as local time).

One `TaskExecution` is one attempt of a task on a node: a task that failed and was
retried, or that was requeued after its node was preempted, has one execution per
attempt, each drawn as its own bar. A task that never ran (blocked by a failed
dependency) has one execution with no node and no start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

# Batch node states in which a node can run tasks: its usable lifetime.
USABLE_NODE_STATES = frozenset({"idle", "running"})
# Node states Azure does not bill: a preempted spot VM is deallocated.
UNBILLED_NODE_STATES = frozenset({"preempted", "deallocated"})


class Result(enum.Enum):
    """How one execution of a task ended."""

    SUCCESS = "success"  # exit code 0
    FAILURE = "failure"  # non-zero exit code, timeout, or a failure to start
    BLOCKED = "blocked"  # never ran: a task it depends on failed
    PREEMPTED = "preempted"  # its node was taken away (spot preemption, reboot) mid-run
    RUNNING = "running"  # had not ended when the record stopped (a run still going)


def _require_aware(owner: str, **times: datetime | None) -> None:
    for name, value in times.items():
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{owner}.{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True)
class TaskExecution:
    """One attempt of one task.

    `retry` counts the attempts Batch made after failures (0 for the first);
    `requeued` is True when this attempt exists because an earlier one was interrupted
    by its node (preemption, reboot) rather than because it failed. `started` and
    `ended` are None for an attempt that never started or had not ended when the
    record stopped; `node_id` is None for one that never reached a node.
    """

    task_id: str
    step: str | None
    node_id: str | None
    queued: datetime
    started: datetime | None
    ended: datetime | None
    exit_code: int | None
    result: Result
    retry: int = 0
    requeued: bool = False
    failure_reason: str | None = None
    command: str = ""  # the command's first words, for the hover text
    slots: int = 1  # task slots the task occupies on its node
    # a barrier task: it stands for what `step` waits on (bwf adds it when the tasks
    # waited on do not fit in one dependency list); it is not one of the step's tasks
    barrier: bool = False

    def __post_init__(self) -> None:
        _require_aware("TaskExecution", queued=self.queued, started=self.started, ended=self.ended)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None when it did not both start and end."""
        if self.started is None or self.ended is None:
            return None
        return max(0.0, (self.ended - self.started).total_seconds())

    @property
    def queue_wait(self) -> float | None:
        """Seconds from queued to started, or None when it never started."""
        if self.started is None:
            return None
        return max(0.0, (self.started - self.queued).total_seconds())


@dataclass(frozen=True)
class NodeState:
    """A node entered `state` (a Batch node state: `starting`, `idle`, `running`, ...) at `at`."""

    at: datetime
    state: str

    def __post_init__(self) -> None:
        _require_aware("NodeState", at=self.at)


@dataclass(frozen=True)
class NodeSpan:
    """One compute node's life in the pool.

    `added` is when it was allocated (billing starts), `removed` when it left the pool
    (None: still there when the record stopped, counted up to the run's end). `states`
    are its state changes in time order.
    """

    node_id: str
    spot: bool
    added: datetime
    removed: datetime | None = None
    states: tuple[NodeState, ...] = ()

    def __post_init__(self) -> None:
        _require_aware("NodeSpan", added=self.added, removed=self.removed)


@dataclass(frozen=True)
class PoolSample:
    """The pool's current node counts at one moment."""

    at: datetime
    dedicated: int
    spot: int

    def __post_init__(self) -> None:
        _require_aware("PoolSample", at=self.at)


@dataclass(frozen=True)
class RunData:
    """Everything one run did, as the report reads it.

    `price_per_hour` is the spec's `pool.price_per_hour` when it sets one (the price of
    a dedicated node-hour); the report falls back to a list-price table otherwise.
    """

    workflow: str
    run_id: str
    pool_id: str
    vm_size: str
    slots_per_node: int
    started: datetime
    ended: datetime
    executions: tuple[TaskExecution, ...]
    nodes: tuple[NodeSpan, ...]
    pool_sizes: tuple[PoolSample, ...] = ()
    price_per_hour: float | None = None

    def __post_init__(self) -> None:
        _require_aware("RunData", started=self.started, ended=self.ended)

    @property
    def has_steps(self) -> bool:
        """True when tasks carry step names (a multi-step workflow)."""
        return any(e.step is not None for e in self.executions)
