"""The service-defined variables of the autoscale language and the samples behind them.

Read-write: `$TargetDedicatedNodes`, `$TargetLowPriorityNodes` (aliases `$TargetDedicated`,
`$TargetLowPriority`) and `$NodeDeallocationOption`. Read-only: the sampled metrics,
objects whose history a formula reads with the sample methods (`GetSample`, ...), and
the pool's current counts, plain doubles. `$PreemptedNodeCount` is both: the
documentation reads it as a double and with `GetSample`. Names are matched ignoring
case, as Batch's own examples spell them loosely; user variables keep their case.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runner.localbatch.autoscale.values import (
    TIME_INTERVAL_CONSTANTS,
    TimeInterval,
    Timestamp,
    interval_of,
    timestamp_of,
)

TARGET_DEDICATED_NODES = "$TargetDedicatedNodes"
TARGET_LOW_PRIORITY_NODES = "$TargetLowPriorityNodes"
NODE_DEALLOCATION_OPTION = "$NodeDeallocationOption"
OUTPUTS = (TARGET_DEDICATED_NODES, TARGET_LOW_PRIORITY_NODES, NODE_DEALLOCATION_OPTION)
# When a formula sets both a name and its alias, the full name wins.
ALIASES = {
    "$TargetDedicated": TARGET_DEDICATED_NODES,
    "$TargetLowPriority": TARGET_LOW_PRIORITY_NODES,
}

DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
DEFAULT_DEALLOCATION_OPTION = "requeue"


def not_an_option(option: str) -> str:
    return f"'{option}' is not a node deallocation option ({', '.join(DEALLOCATION_OPTIONS)})"


CPU_PERCENT = "$CPUPercent"
ACTIVE_TASKS = "$ActiveTasks"
RUNNING_TASKS = "$RunningTasks"
PENDING_TASKS = "$PendingTasks"
SUCCEEDED_TASKS = "$SucceededTasks"
FAILED_TASKS = "$FailedTasks"
PREEMPTED_NODE_COUNT = "$PreemptedNodeCount"
SAMPLED_METRICS = (
    CPU_PERCENT,
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$SampleNodeCount",
    ACTIVE_TASKS,
    RUNNING_TASKS,
    PENDING_TASKS,
    SUCCEEDED_TASKS,
    FAILED_TASKS,
    PREEMPTED_NODE_COUNT,
)

CURRENT_DEDICATED_NODES = "$CurrentDedicatedNodes"
CURRENT_LOW_PRIORITY_NODES = "$CurrentLowPriorityNodes"
USABLE_NODE_COUNT = "$UsableNodeCount"
TASK_SLOTS_PER_NODE = "$TaskSlotsPerNode"
CURRENT_VALUES = (
    CURRENT_DEDICATED_NODES,
    CURRENT_LOW_PRIORITY_NODES,
    PREEMPTED_NODE_COUNT,
    USABLE_NODE_COUNT,
    TASK_SLOTS_PER_NODE,
)


class Role(enum.Enum):
    """What a name in a formula stands for."""

    USER = "user variable"
    OUTPUT = "read-write service variable"
    METRIC = "sampled service variable"  # history only: GetSample and the other methods
    CURRENT = "read-only service variable"  # a double (with a history too, for some)
    INTERVAL_CONSTANT = "timeinterval constant"
    DEALLOCATION_OPTION = "deallocation option"


_SERVICE_NAMES = {
    name.lower(): name for name in (*OUTPUTS, *ALIASES, *SAMPLED_METRICS, *CURRENT_VALUES)
}


def resolve(name: str) -> tuple[Role, str]:
    """The role of `name` and its canonical spelling."""
    if name in TIME_INTERVAL_CONSTANTS:
        return Role.INTERVAL_CONSTANT, name
    if name in DEALLOCATION_OPTIONS:
        return Role.DEALLOCATION_OPTION, name
    canonical = _SERVICE_NAMES.get(name.lower()) if name.startswith("$") else None
    if canonical is None:
        return Role.USER, name
    if canonical in OUTPUTS or canonical in ALIASES:
        return Role.OUTPUT, canonical
    if canonical in CURRENT_VALUES:
        return Role.CURRENT, canonical
    return Role.METRIC, canonical


@dataclass(frozen=True)
class Sample:
    """One sample of a metric: its time (timezone-aware) and value."""

    time: datetime
    value: float


@dataclass(frozen=True)
class SystemSamples:
    """What a formula reads about the pool at one evaluation.

    `history` maps a name of SAMPLED_METRICS to its samples (any order; a metric left
    out has none). The other fields are the pool's current counts and targets, which
    `$TargetDedicatedNodes` and `$TargetLowPriorityNodes` read until the formula sets them.
    The caller keeps the history bounded (Batch keeps samples every 30 seconds).
    """

    history: Mapping[str, Sequence[Sample]] = field(default_factory=dict)
    current_dedicated_nodes: int = 0
    current_low_priority_nodes: int = 0
    preempted_node_count: int = 0
    usable_node_count: int = 0
    task_slots_per_node: int = 1
    target_dedicated_nodes: int = 0
    target_low_priority_nodes: int = 0
    sample_period: timedelta = timedelta(seconds=30)
    _series: dict[str, tuple[list[int], list[float]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.history) - set(SAMPLED_METRICS)
        if unknown:
            raise ValueError(f"not sampled metrics: {sorted(unknown)}")
        if self.sample_period <= timedelta(0):
            raise ValueError("the sample period must be positive")
        counts = [self.current(name) for name in CURRENT_VALUES]
        if min([*counts, self.target_dedicated_nodes, self.target_low_priority_nodes]) < 0:
            raise ValueError("node counts and targets cannot be negative")
        series: dict[str, tuple[list[int], list[float]]] = {}
        for name, samples in self.history.items():
            ordered = sorted((timestamp_of(s.time).ticks, float(s.value)) for s in samples)
            series[name] = ([t for t, _ in ordered], [v for _, v in ordered])
        object.__setattr__(self, "_series", series)

    def current(self, name: str) -> float:
        """The value of one of CURRENT_VALUES."""
        values = {
            CURRENT_DEDICATED_NODES: self.current_dedicated_nodes,
            CURRENT_LOW_PRIORITY_NODES: self.current_low_priority_nodes,
            PREEMPTED_NODE_COUNT: self.preempted_node_count,
            USABLE_NODE_COUNT: self.usable_node_count,
            TASK_SLOTS_PER_NODE: self.task_slots_per_node,
        }
        return float(values[name])

    def target(self, name: str) -> float:
        """The pool's current target for $TargetDedicatedNodes or $TargetLowPriorityNodes."""
        if name == TARGET_DEDICATED_NODES:
            return float(self.target_dedicated_nodes)
        return float(self.target_low_priority_nodes)

    @property
    def period(self) -> TimeInterval:
        return interval_of(self.sample_period)

    def count(self, metric: str) -> int:
        return len(self._series.get(metric, ([], []))[0])

    def oldest(self, metric: str) -> Timestamp | None:
        times = self._series.get(metric, ([], []))[0]
        return Timestamp(times[0]) if times else None

    def last(self, metric: str, count: int, until: Timestamp) -> tuple[float, ...]:
        """The `count` most recent samples taken up to `until`, oldest first."""
        times, values = self._series.get(metric, ([], []))
        end = bisect.bisect_right(times, until.ticks)
        return tuple(values[max(0, end - count) : end])

    def between(self, metric: str, start: Timestamp, end: Timestamp) -> tuple[float, ...]:
        """The samples taken after `start` and up to `end`, oldest first."""
        low, high = self._window(metric, start, end)
        return tuple(self._series[metric][1][low:high]) if high > low else ()

    def count_between(self, metric: str, start: Timestamp, end: Timestamp) -> int:
        low, high = self._window(metric, start, end)
        return high - low

    def _window(self, metric: str, start: Timestamp, end: Timestamp) -> tuple[int, int]:
        times = self._series.get(metric, ([], []))[0]
        return bisect.bisect_right(times, start.ticks), bisect.bisect_right(times, end.ticks)
