"""The plan's estimate from history: when an earlier run of the workflow is recorded in
BWF_HOME, how long what the plan runs should take and how many node-hours it should use.

- The run: the latest finished one in which some execution has a duration.
- Each task that will run takes its own duration in that run (its last successful
  execution, else its last that ended); a task that did not run there takes the median
  of its step's durations (a barrier task: of its step's barrier tasks), else of all.
- Wall time: those durations laid out on the pool's task slots (nodes x slots per
  node), each task in plan order, on the slot that frees first, once the tasks it waits
  on (among those that run) have ended; plus that run's overhead, its wall time less
  the span of its executions (uploads, the pool's start, downloads, clean-up).
- Node-hours: the pool's nodes during that wall time, dedicated and spot apart.

An estimate, as the report's figures are: the same inputs on the same pool.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runner.errors import BwfError
from runner.plan import Plan, all_tasks, submitted
from runner.report import Result, RunData, TaskExecution
from runner.runrecord import RunRecord
from runner.runreport import run_data
from runner.words import plural

_RUNS_LOOKED_AT = 5  # the latest runs searched for one with durations
_Kind = tuple[str, bool]  # a step's name, and whether of its barrier tasks


@dataclass(frozen=True)
class Estimate:
    run_id: str  # the earlier run the durations come from
    tasks: int  # tasks the plan runs
    timed: int  # of which ran in that run (the others take a median)
    wall_seconds: float
    node_hours_dedicated: float
    node_hours_spot: float


def estimate(plan: Plan, record: RunRecord) -> Estimate | None:
    """The estimate for `plan` from the runs in `record`; None without a usable run,
    without tasks to run, or for an autoscale pool."""
    ids = submitted(plan)
    if not ids or plan.desired.pool.autoscale is not None:
        return None  # an autoscale pool's size is its formula's to decide, run by run
    run = _earlier_run(plan, record)
    if run is None:
        return None
    durations, fallback = _durations(run.executions)
    waits = {t.id: t.depends_on for t in all_tasks(plan.desired)}
    job = plan.desired.job
    planned = [
        (i, durations.get(i, fallback.get((job.step_of[i], i in job.barrier_ids), fallback[None])))
        for i in ids
    ]
    pool = plan.desired.pool
    nodes = pool.dedicated_nodes + pool.spot_nodes
    span = _schedule(planned, waits, max(1, nodes * pool.task_slots_per_node))
    wall = span + _overhead(run)
    return Estimate(
        run_id=run.run_id,
        tasks=len(ids),
        timed=sum(1 for i in ids if i in durations),
        wall_seconds=wall,
        node_hours_dedicated=pool.dedicated_nodes * wall / 3600,
        node_hours_spot=pool.spot_nodes * wall / 3600,
    )


def describe(e: Estimate) -> str:
    """The estimate as the text plan's last line."""
    hours = e.node_hours_dedicated + e.node_hours_spot
    split = f" ({_hours(e.node_hours_spot)} spot)" if e.node_hours_spot else ""
    timed = "all" if e.timed == e.tasks else f"{e.timed}"
    return (
        f"Expected from run {e.run_id}: about {_human(e.wall_seconds)} of wall time and "
        f"{_hours(hours)} node-hours{split} for {plural(e.tasks, 'task')} "
        f"({timed} timed in that run)."
    )


def estimate_json(e: Estimate) -> dict[str, object]:
    """The estimate in `bwf plan --json` (docs/plan-json.md)."""
    return {
        "from_run": e.run_id,
        "tasks": e.tasks,
        "timed": e.timed,
        "wall_seconds": round(e.wall_seconds, 3),
        "node_hours": {
            "dedicated": e.node_hours_dedicated,
            "spot": e.node_hours_spot,
            "total": e.node_hours_dedicated + e.node_hours_spot,
        },
    }


def _earlier_run(plan: Plan, record: RunRecord) -> RunData | None:
    finished = [str(r["id"]) for r in record.runs() if r.get("finished")]
    for run_id in reversed(finished[-_RUNS_LOOKED_AT:]):
        try:
            run = run_data(run_id, record.events(run_id), plan.desired)
        except BwfError:
            continue
        if any(e.duration is not None for e in run.executions):
            return run
    return None


def _durations(
    executions: Sequence[TaskExecution],
) -> tuple[dict[str, float], dict[_Kind | None, float]]:
    """Each task's duration (its last success, else its last execution that ended), and
    the median duration per step, its tasks and its barrier tasks apart (None: of all)."""
    own: dict[str, tuple[bool, float]] = {}
    for e in executions:
        if e.duration is not None:
            ok = e.result is Result.SUCCESS
            if e.task_id not in own or ok or not own[e.task_id][0]:
                own[e.task_id] = (ok, e.duration)
    by_step: dict[_Kind | None, list[float]] = {None: []}
    kinds = {e.task_id: (e.step or "", e.barrier) for e in executions}
    for task_id, (_, seconds) in own.items():
        by_step.setdefault(kinds[task_id], []).append(seconds)
        by_step[None].append(seconds)
    medians = {step: statistics.median(values) for step, values in by_step.items() if values}
    return {task_id: seconds for task_id, (_, seconds) in own.items()}, medians


def _schedule(
    planned: Sequence[tuple[str, float]], waits: Mapping[str, Sequence[str]], slots: int
) -> float:
    """The time the planned tasks take on `slots` slots, each after what it waits on."""
    free = [0.0] * slots
    ends: dict[str, float] = {}
    for task_id, seconds in planned:
        ready = max((ends[d] for d in waits.get(task_id, ()) if d in ends), default=0.0)
        start = max(ready, heapq.heappop(free))
        ends[task_id] = start + seconds
        heapq.heappush(free, ends[task_id])
    return max(ends.values(), default=0.0)


def _overhead(run: RunData) -> float:
    """What the run spent outside its tasks: its wall time less its executions' span."""
    starts = [e.started for e in run.executions if e.started is not None]
    ends = [e.ended for e in run.executions if e.ended is not None]
    if not starts or not ends:
        return 0.0
    wall = (run.ended - run.started).total_seconds()
    return max(0.0, wall - (max(ends) - min(starts)).total_seconds())


def _human(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s"


def _hours(hours: float) -> str:
    """Node-hours to two decimals, or two significant digits when smaller (a short test)."""
    return f"{hours:.2f}" if hours >= 0.01 or hours == 0 else f"{hours:.2g}"
