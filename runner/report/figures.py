"""The report's figures, computed from a `RunData`: a pure function, no I/O.

Definitions (docs/report.md explains them for users):
- wall time: the run's end minus its start;
- node-hours: each node's time in the pool (allocation to removal, or to the run's
  end), less the time it spent preempted, which Azure does not bill;
- slot utilisation: busy slot-time (each execution's duration times the slots it
  takes) over available slot-time (each node's usable lifetime times the slots per
  node). A node is usable while idle or running, and during any execution it ran:
  the record samples states, so a task may start before `running` is seen;
- queue wait: start minus queued, over the executions that started;
- tasks by result: each task counted once, by its last execution.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from runner.report.model import (
    UNBILLED_NODE_STATES,
    USABLE_NODE_STATES,
    NodeSpan,
    Result,
    RunData,
    TaskExecution,
)
from runner.report.prices import BUILTIN_PRICES, PriceQuote, PriceTable, quote

SLOWEST_COUNT = 10
_HISTOGRAM_BINS = 12
Interval = tuple[float, float]


@dataclass(frozen=True)
class Failure:
    """One failed execution and why; `retried` when a later attempt of the task exists."""

    task_id: str
    retry: int
    node_id: str | None
    exit_code: int | None
    reason: str
    retried: bool


@dataclass(frozen=True)
class HistogramBin:
    """Executions whose duration (seconds) lies in [low, high), counted by result."""

    low: float
    high: float
    counts: dict[Result, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class CostEstimate:
    """An estimated cost: node-hours times a price per node-hour. Never a bill."""

    quote: PriceQuote
    dedicated: float
    spot: float

    @property
    def total(self) -> float:
        return self.dedicated + self.spot


@dataclass(frozen=True)
class Figures:
    """Every figure of the report's summary, histogram and slowest list."""

    wall_seconds: float
    tasks: int
    executions: int
    tasks_by_result: dict[Result, int]
    retries: int
    requeues: int
    preemptions: int
    node_hours_dedicated: float
    node_hours_spot: float
    busy_slot_hours: float
    available_slot_hours: float
    utilisation: float | None  # None when no slot was ever available
    queue_wait_median: float | None  # None when no execution started
    queue_wait_max: float | None
    failures: tuple[Failure, ...]
    histogram: tuple[HistogramBin, ...]
    slowest: tuple[TaskExecution, ...]
    cost: CostEstimate | None
    cost_note: str  # where the price comes from, or why there is no estimate

    @property
    def node_hours(self) -> float:
        return self.node_hours_dedicated + self.node_hours_spot


def compute_figures(
    run: RunData, price: float | None = None, table: PriceTable = BUILTIN_PRICES
) -> Figures:
    """All figures of `run`. `price` is an explicit price per dedicated node-hour
    (`--price`); without it the spec's price (`run.price_per_hour`), then `table`."""
    end = run_end(run)
    nodes = all_nodes(run)
    dedicated = sum(billed_seconds(n, end) for n in nodes if not n.spot) / 3600
    spot = sum(billed_seconds(n, end) for n in nodes if n.spot) / 3600
    busy = sum(busy_slot_seconds(e, end) for e in run.executions if e.node_id) / 3600
    available = (
        sum(_length(usable_intervals(n, run.executions, end)) * run.slots_per_node for n in nodes)
        / 3600
    )
    waits = [w for w in (e.queue_wait for e in run.executions) if w is not None]
    finals = last_executions(run.executions)
    priced = quote(run.vm_size, price, run.price_per_hour, table)
    return Figures(
        wall_seconds=max(0.0, (run.ended - run.started).total_seconds()),
        tasks=len(finals),
        executions=len(run.executions),
        tasks_by_result=dict(Counter(e.result for e in finals.values())),
        retries=sum(1 for e in run.executions if e.retry > 0),
        requeues=sum(1 for e in run.executions if e.requeued),
        preemptions=sum(1 for e in run.executions if e.result is Result.PREEMPTED),
        node_hours_dedicated=dedicated,
        node_hours_spot=spot,
        busy_slot_hours=busy,
        available_slot_hours=available,
        utilisation=busy / available if available > 0 else None,
        queue_wait_median=statistics.median(waits) if waits else None,
        queue_wait_max=max(waits) if waits else None,
        failures=_failures(run.executions, finals),
        histogram=duration_histogram(run.executions),
        slowest=slowest(run.executions),
        cost=None
        if priced is None
        else CostEstimate(priced, dedicated * priced.dedicated, spot * priced.spot),
        cost_note=priced.source if priced else f"no price known for {run.vm_size}: pass --price",
    )


def run_end(run: RunData) -> datetime:
    """The end of the picture: the run's end, or a later execution end or node removal."""
    ends = [run.ended]
    ends += [e.ended for e in run.executions if e.ended is not None]
    ends += [n.removed for n in run.nodes if n.removed is not None]
    return max(ends)


def busy_slot_seconds(execution: TaskExecution, end: datetime) -> float:
    """Slot-seconds `execution` kept busy: its slots x its run time (to `end` while running)."""
    if execution.started is None:
        return 0.0
    stop = execution.ended or max(end, execution.started)
    return (stop - execution.started).total_seconds() * execution.slots


def all_nodes(run: RunData) -> tuple[NodeSpan, ...]:
    """The run's nodes, plus any that only its executions name: such a node is taken as
    dedicated and in the pool from its first execution's start to its last one's end."""
    known = {n.node_id for n in run.nodes}
    mine: dict[str, list[TaskExecution]] = {}
    for e in run.executions:
        if e.node_id is not None and e.node_id not in known and e.started is not None:
            mine.setdefault(e.node_id, []).append(e)
    extra = []
    for node_id, executions in sorted(mine.items()):
        first = min(e.started for e in executions if e.started is not None)
        ends = [e.ended for e in executions]
        last = None if None in ends else max(e for e in ends if e is not None)
        extra.append(NodeSpan(node_id, False, first, last))  # None: up to the run's end
    return run.nodes + tuple(extra)


def billed_seconds(node: NodeSpan, end: datetime) -> float:
    """Seconds `node` was in the pool, less the time it spent in an unbilled state."""
    life = (node.added.timestamp(), (node.removed or end).timestamp())
    unbilled = [span for span, state in state_spans(node, end) if state in UNBILLED_NODE_STATES]
    return max(0.0, life[1] - life[0]) - _length(_clip(unbilled, life))


def usable_intervals(
    node: NodeSpan, executions: Iterable[TaskExecution], end: datetime
) -> list[Interval]:
    """The union of `node`'s idle/running spans and of the executions it ran.

    A node with no recorded state is taken as usable for its whole life.
    """
    life = (node.added.timestamp(), (node.removed or end).timestamp())
    if node.states:
        spans = [span for span, state in state_spans(node, end) if state in USABLE_NODE_STATES]
    else:
        spans = [life]
    for e in executions:
        if e.node_id == node.node_id and e.started is not None:
            spans.append((e.started.timestamp(), (e.ended or end).timestamp()))
    return _union(spans)


def last_executions(executions: Iterable[TaskExecution]) -> dict[str, TaskExecution]:
    """Each task's last execution (the latest queued, then started), by task id."""
    last: dict[str, TaskExecution] = {}
    for e in executions:
        seen = last.get(e.task_id)
        if seen is None or _order(e) >= _order(seen):
            last[e.task_id] = e
    return last


def slowest(
    executions: Iterable[TaskExecution], count: int = SLOWEST_COUNT
) -> tuple[TaskExecution, ...]:
    """The `count` executions that ran longest, longest first."""
    timed = [e for e in executions if e.duration is not None]
    timed.sort(key=lambda e: (-(e.duration or 0.0), e.task_id, e.retry))
    return tuple(timed[:count])


def duration_histogram(executions: Iterable[TaskExecution]) -> tuple[HistogramBin, ...]:
    """Durations in equal bins of a round width (1, 2 or 5 x 10^k seconds)."""
    timed = [(e.duration, e.result) for e in executions if e.duration is not None]
    if not timed:
        return ()
    width = nice_step(max(d for d, _ in timed) / _HISTOGRAM_BINS)
    count = max(1, math.floor(max(d for d, _ in timed) / width) + 1)
    bins: list[Counter[Result]] = [Counter() for _ in range(count)]
    for duration, result in timed:
        bins[min(count - 1, int(duration // width))][result] += 1
    return tuple(
        HistogramBin(i * width, (i + 1) * width, dict(counter)) for i, counter in enumerate(bins)
    )


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k (k >= -1) that is at least `raw`."""
    if raw <= 0.1:
        return 0.1
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw * (1 - 1e-9):
            return float(factor * magnitude)
    return float(10 * magnitude)


def _failures(
    executions: Sequence[TaskExecution], finals: dict[str, TaskExecution]
) -> tuple[Failure, ...]:
    failed = [e for e in executions if e.result is Result.FAILURE]
    failed.sort(key=lambda e: (e.task_id, e.retry, _order(e)))
    return tuple(
        Failure(
            task_id=e.task_id,
            retry=e.retry,
            node_id=e.node_id,
            exit_code=e.exit_code,
            reason=e.failure_reason
            or (f"exit code {e.exit_code}" if e.exit_code is not None else "unknown"),
            retried=finals[e.task_id] is not e,
        )
        for e in failed
    )


def _order(e: TaskExecution) -> tuple[float, float]:
    return (e.queued.timestamp(), (e.started or e.queued).timestamp())


def state_spans(node: NodeSpan, end: datetime) -> list[tuple[Interval, str]]:
    """Each recorded state of `node` with the time it lasted (until the next change)."""
    stop = (node.removed or end).timestamp()
    changes = sorted(node.states, key=lambda s: s.at)
    spans = []
    for i, change in enumerate(changes):
        until = changes[i + 1].at.timestamp() if i + 1 < len(changes) else stop
        spans.append(((change.at.timestamp(), min(until, stop)), change.state))
    return spans


def _union(spans: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for low, high in sorted(s for s in spans if s[1] > s[0]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _clip(spans: Iterable[Interval], window: Interval) -> list[Interval]:
    return _union((max(low, window[0]), min(high, window[1])) for low, high in spans)


def _length(spans: Iterable[Interval]) -> float:
    return sum(high - low for low, high in spans)
