"""A small hand-built run for the report tests: two nodes (one spot and preempted), a
success, a failure then a successful retry, a preempted task requeued, a final failure
and the task it blocks, and a task whose id is hostile markup."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from runner.report import NodeSpan, NodeState, PoolSample, Result, RunData, TaskExecution

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
HOSTILE = '<script>alert("x")</script>&\'\x07'
HOSTILE_SHOWN = '<script>alert("x")</script>&\'\\x07'  # the bell shown, not dropped


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ran(
    task: str,
    node: str,
    queued: float,
    start: float,
    end: float,
    result: Result = Result.SUCCESS,
    exit_code: int | None = 0,
    **kw: object,
) -> TaskExecution:
    return TaskExecution(task, None, node, at(queued), at(start), at(end), exit_code, result, **kw)  # type: ignore[arg-type]


def small_run(**kw: object) -> RunData:
    """Two nodes (b is spot, preempted from 100 s to 140 s), one slot each: successes, a
    failure then a successful retry, a preempted task requeued, a final failure and the
    task it blocks, and a task with a hostile id."""
    executions = (
        ran("t-ok-1", "node-a", 5, 20, 60, command="python3 work.py --n 1"),
        ran(
            "t-fail",
            "node-a",
            5,
            60,
            70,
            Result.FAILURE,
            3,
            failure_reason="exit code 3: bad input",
        ),
        ran("t-fail", "node-a", 70, 72, 100, retry=1),
        ran("t-pre", "node-b", 5, 20, 100, Result.PREEMPTED, None, failure_reason="node preempted"),
        ran("t-pre", "node-a", 100, 101, 150, requeued=True),
        ran(HOSTILE, "node-b", 5, 140, 180, command="echo 'a <b> & c'"),
        ran("t-bad", "node-b", 5, 180, 190, Result.FAILURE, 2),
        TaskExecution(
            "t-blocked",
            None,
            None,
            at(5),
            None,
            None,
            None,
            Result.BLOCKED,
            failure_reason="t-bad failed",
        ),
    )
    nodes = (
        NodeSpan(
            "node-a",
            False,
            at(0),
            at(200),
            # idle seen at 25 s, after its first task started: states are sampled
            (NodeState(at(0), "starting"), NodeState(at(25), "idle")),
        ),
        NodeSpan(
            "node-b",
            True,
            at(0),
            at(200),
            tuple(
                NodeState(at(t), s)
                for t, s in ((0, "starting"), (15, "idle"), (100, "preempted"), (140, "idle"))
            ),
        ),
    )
    base = RunData(
        workflow="demo",
        run_id="run-1",
        pool_id="demo-pool",
        vm_size="standard_d2s_v3",
        slots_per_node=1,
        started=T0,
        ended=at(210),
        executions=executions,
        nodes=nodes,
        pool_sizes=(PoolSample(at(0), 1, 1), PoolSample(at(100), 1, 0), PoolSample(at(140), 1, 1)),
    )
    return replace(base, **kw)  # type: ignore[arg-type]
