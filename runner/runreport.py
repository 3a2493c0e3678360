"""From the run record to the report: one run's events in BWF_HOME (runner.runrecord)
become the `RunData` that runner.report draws and sums up.

- executions: the attempts of runner.attempts, one per execution of a task. A first
  attempt is queued when it could start: when its task was created, or when the last
  task it waits on in this run ended. A retry is queued when the attempt before it
  ended. An attempt whose end nobody saw ends, at the latest, when the next one began;
- nodes: each node from its allocation (or first sight) to its removal (gone from a
  listing, or the pool deleted); its states at the service's transition times;
- the pool's size: from the nodes' arrivals and departures (else the monitor's samples);
- the run: from `run_started` to `run_finished` (or the last event, for a run that is
  still open: an apply killed or still going).

Pure, but for `load`, which reads the record, and `write_html`, which writes the page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from runner import secrets, shell
from runner.attempts import (
    BLOCKED,
    FAILED,
    PREEMPTED,
    SUCCEEDED,
    Attempt,
    Attempts,
)
from runner.errors import BwfError, UsageError
from runner.plan_tasks import all_tasks
from runner.record_events import (
    REMOVED,
    NodeRecord,
    PoolDeleted,
    PoolSize,
    RunFinished,
    RunStarted,
    Stamped,
    TaskRecord,
    parse_time,
)
from runner.report import (
    NodeSpan,
    NodeState,
    PoolSample,
    PriceTable,
    Result,
    RunData,
    TaskExecution,
    load_price_table,
    render_html,
)
from runner.runrecord import RunRecord
from runner.state import Desired

_RESULTS = {
    SUCCEEDED: Result.SUCCESS,
    FAILED: Result.FAILURE,
    PREEMPTED: Result.PREEMPTED,
    BLOCKED: Result.BLOCKED,
}
UNSEEN = "not seen: it began and ended between two of bwf's listings"
REQUEUED = "requeued: its node was taken away (preempted, removed or rebooted)"


def load(record: RunRecord, run_id: str | None) -> tuple[str, list[Stamped]]:
    """The id and events of run `run_id` (the latest when None). Raises BwfError when
    the record holds no such run."""
    runs = [str(r["id"]) for r in record.runs()]
    if not runs:
        raise BwfError(
            "no run of this workflow is recorded in BWF_HOME for this target: "
            "`bwf apply SPEC` records one"
        )
    chosen = run_id or runs[-1]
    if chosen not in runs:
        shown = ", ".join(runs[-5:])
        raise BwfError(f"no run {chosen} in the record; the latest runs are: {shown}")
    return chosen, record.events(chosen)


@dataclass
class _Nodes:
    """Nodes folded from `node` events: first sight, states, removal."""

    spans: dict[str, NodeSpan] = field(default_factory=dict)

    def add(self, at: datetime, e: NodeRecord) -> None:
        since = parse_time(e.since) or at
        span = self.spans.get(e.node)
        if span is None:
            added = parse_time(e.allocated) or since
            span = NodeSpan(e.node, not e.dedicated, min(added, since))
        if e.state == REMOVED:
            span = NodeSpan(span.node_id, span.spot, span.added, since, span.states)
        else:
            states = (*span.states, NodeState(since, e.state))
            span = NodeSpan(span.node_id, span.spot, span.added, None, states)
        self.spans[e.node] = span

    def pool_deleted(self, at: datetime) -> None:
        for node_id, span in self.spans.items():
            if span.removed is None:
                self.spans[node_id] = NodeSpan(node_id, span.spot, span.added, at, span.states)

    def sizes(self) -> tuple[PoolSample, ...]:
        """The pool's size at every node's arrival and departure (by the service's
        allocation times, which the monitor's samples only approach)."""
        changes: dict[datetime, list[int]] = {}
        for span in self.spans.values():
            kind = 1 if span.spot else 0
            for at, step in ((span.added, 1), (span.removed, -1)):
                if at is not None:
                    changes.setdefault(at, [0, 0])[kind] += step
        samples, dedicated, spot = [], 0, 0
        for at in sorted(changes):
            dedicated, spot = dedicated + changes[at][0], spot + changes[at][1]
            samples.append(PoolSample(at, dedicated, spot))
        return tuple(samples)


def run_data(run_id: str, events: Sequence[Stamped], desired: Desired | None = None) -> RunData:
    """The report's view of one run. `desired` (the spec as it is now) gives the tasks'
    commands and dependencies, the pool's price, and fills in what an old record lacks."""
    info: RunStarted | None = None
    finished: datetime | None = None
    attempts = Attempts()
    nodes = _Nodes()
    samples: list[PoolSample] = []
    times = [t for t in (parse_time(s.time) for s in events) if t is not None]
    if not times:
        raise BwfError(f"the record of run {run_id} is empty")
    for stamped in events:
        at = parse_time(stamped.time) or times[0]
        e = stamped.event
        if isinstance(e, RunStarted) and info is None:
            info = e
        elif isinstance(e, TaskRecord):
            attempts.update(e)
        elif isinstance(e, NodeRecord):
            nodes.add(at, e)
        elif isinstance(e, PoolSize):
            samples.append(PoolSample(at, e.dedicated, e.spot))
        elif isinstance(e, PoolDeleted):
            nodes.pool_deleted(at)
        elif isinstance(e, RunFinished):
            finished = at
    started = next((parse_time(s.time) for s in events if isinstance(s.event, RunStarted)), None)
    pool = desired.pool if desired is not None else None
    return RunData(
        workflow=info.workflow if info else (desired.name if desired else ""),
        run_id=run_id,
        pool_id=info.pool if info else (pool.id if pool else ""),
        vm_size=(info.vm_size if info and info.vm_size else (pool.vm_size if pool else "")),
        slots_per_node=info.slots_per_node if info else (pool.task_slots_per_node if pool else 1),
        started=started or times[0],
        ended=finished or max(times),
        executions=_executions(attempts, desired, started or times[0]),
        nodes=tuple(nodes.spans.values()),
        pool_sizes=nodes.sizes() if nodes.spans else tuple(samples),
        price_per_hour=pool.price_per_hour if pool is not None else None,
    )


def _executions(
    attempts: Attempts, desired: Desired | None, start: datetime
) -> tuple[TaskExecution, ...]:
    tasks = {t.id: t for t in all_tasks(desired)} if desired is not None else {}
    finals = {task_id: a.attempts[-1] for task_id, a in attempts.tasks.items()}
    out = []
    for task_id, task in attempts.tasks.items():
        desired_task = tasks.get(task_id)
        command = secrets.redact(shell.unwrap(desired_task.command_line)) if desired_task else ""
        waits_on = desired_task.depends_on if desired_task else ()
        for i, attempt in enumerate(task.attempts):
            later = task.attempts[i + 1 :]
            queued = parse_time(attempt.queued) or start
            if i == 0:
                queued = _ready(queued, waits_on, finals)
            retry = sum(1 for a in task.attempts[:i] if a.state == FAILED)
            out.append(_execution(attempt, queued, later, command, retry))
    return tuple(out)


def _ready(created: datetime, waits_on: Sequence[str], finals: Mapping[str, Attempt]) -> datetime:
    """When a task could start: created, and every task it waits on in the run ended."""
    ends = [parse_time(finals[d].ended) for d in waits_on if d in finals]
    return max([created, *(e for e in ends if e is not None)])


def _execution(
    attempt: Attempt, queued: datetime, later: Sequence[Attempt], command: str, retry: int
) -> TaskExecution:
    """The report's execution of `attempt`; `retry` counts the attempts before it that
    failed (Batch's counts mix retries and requeues differently on Azure and locally)."""
    started = parse_time(attempt.started)
    ended = parse_time(attempt.ended)
    result = _RESULTS.get(attempt.state, Result.RUNNING)
    if result in (Result.FAILURE, Result.PREEMPTED) and started is not None and ended is None:
        # nobody saw it end: it ended at the latest when the next attempt began
        after = [parse_time(a.started) or parse_time(a.queued) for a in later]
        ended = next((t for t in after if t is not None), None)
    reason = attempt.failure
    if not attempt.seen:
        reason = UNSEEN
    elif result is Result.PREEMPTED:
        reason = reason or REQUEUED
    elif result is Result.BLOCKED:
        reason = f"blocked: waits on {attempt.blocked_by}" if attempt.blocked_by else "blocked"
    return TaskExecution(
        task_id=attempt.task_id,
        step=attempt.step,
        node_id=attempt.node if started is not None else None,
        queued=min(queued, started) if started is not None else queued,
        started=started,
        ended=ended,
        exit_code=attempt.exit_code,
        result=result,
        retry=retry,
        requeued=attempt.requeued,
        failure_reason=reason,
        command=command,
        barrier=attempt.barrier,
    )


def default_path(record: RunRecord, run_id: str) -> Path:
    """Where a run's report lives in BWF_HOME: next to its record."""
    return record.dir / f"{run_id}.html"


def write_html(
    record: RunRecord,
    desired: Desired,
    run_id: str | None = None,
    out: Path | None = None,
    price: float | None = None,
    table: PriceTable | None = None,
) -> Path:
    """Draw run `run_id` (the latest when None) to `out` (else its place in BWF_HOME);
    the path written. `price` and `table` as in runner.report.compute_figures."""
    chosen, events = load(record, run_id)
    data = run_data(chosen, events, desired)
    path = out or default_path(record, chosen)
    page = render_html(data, price, table or load_price_table())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"{path}: cannot write the report: {e.strerror or e}") from None
    return path
