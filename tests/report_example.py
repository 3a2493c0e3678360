"""A realistic synthetic run for the report: a three-step workflow (count, rank, merge)
on four nodes with two task slots each, one of them a spot node preempted mid-run; one
task fails then succeeds on retry, one fails for good and blocks the task after it.

It feeds the tests, and draws every kind of bar for whoever works on the report:

    .venv/bin/python -m tests.report_example /tmp/example.png

(docs/report-topn.png, in docs/report.md, is a real run: scripts/report-screenshot.)
"""

from __future__ import annotations

import heapq
import random
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from runner.report import (
    NodeSpan,
    NodeState,
    PoolSample,
    Result,
    RunData,
    TaskExecution,
    render_html,
)

START = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)
_PREEMPTED_AT, _BACK_AT = 250.0, 400.0  # the spot node's absence, seconds after START
_FAILS_ONCE, _FAILS_TWICE = "count-07", "count-13"


@dataclass
class _Slot:
    node: str
    usable_from: float
    free_at: float = 0.0


@dataclass(order=True)
class _Ready:
    at: float
    seq: int
    task: str = field(compare=False)
    step: str = field(compare=False)
    retry: int = field(compare=False, default=0)
    requeued: bool = field(compare=False, default=False)


def example_run() -> RunData:
    rng = random.Random(14)
    nodes = _nodes()
    slots = [_Slot(n.node_id, _usable_from(n)) for n in nodes for _ in range(2)]
    queue: list[_Ready] = []
    seq = 0
    for i in range(1, 17):
        heapq.heappush(queue, _Ready(8.0, seq := seq + 1, f"count-{i:02d}", "count"))
    done_rank: list[float] = []
    executions: list[TaskExecution] = []
    while queue:
        ready = heapq.heappop(queue)
        slot = min(slots, key=lambda s: (max(ready.at, s.free_at, s.usable_from), s.node))
        start = max(ready.at, slot.free_at, slot.usable_from) + rng.uniform(0.5, 3.0)
        if slot.node == "tvm-0004" and start < _BACK_AT and start >= _PREEMPTED_AT:
            slot.free_at = _BACK_AT
            heapq.heappush(queue, ready)
            continue
        duration = _duration(rng, ready.step, ready.task)
        execution, follow = _attempt(ready, slot.node, start, duration)
        executions.append(execution)
        slot.free_at = (execution.ended - START).total_seconds() if execution.ended else start
        if follow is not None:
            heapq.heappush(queue, _Ready(follow.at, seq := seq + 1, *follow.args))
        elif execution.result is Result.SUCCESS and ready.step == "count":
            rank = ready.task.replace("count", "rank")
            heapq.heappush(queue, _Ready(slot.free_at, seq := seq + 1, rank, "rank"))
        elif execution.result is Result.SUCCESS and ready.step == "rank":
            done_rank.append(slot.free_at)
            if len(done_rank) == 15:
                heapq.heappush(queue, _Ready(max(done_rank), seq := seq + 1, "merge", "merge"))
    blocked_at = max(e.ended for e in executions if e.task_id == _FAILS_TWICE and e.ended)
    executions.append(_blocked("rank-13", blocked_at))
    return _run(nodes, executions)


@dataclass(frozen=True)
class _Follow:
    at: float
    args: tuple[str, str, int, bool]


def _attempt(
    ready: _Ready, node: str, start: float, duration: float
) -> tuple[TaskExecution, _Follow | None]:
    """One execution, and the attempt that follows it (a retry or a requeue), if any."""
    end = start + duration
    result, reason, follow = Result.SUCCESS, None, None
    exit_code: int | None = 0
    if node == "tvm-0004" and start < _PREEMPTED_AT < end:
        end, result, exit_code = _PREEMPTED_AT, Result.PREEMPTED, None
        reason = "node preempted"
        follow = _Follow(end, (ready.task, ready.step, ready.retry, True))
    elif (ready.task == _FAILS_ONCE and ready.retry == 0) or ready.task == _FAILS_TWICE:
        result, exit_code = Result.FAILURE, 137 if ready.task == _FAILS_ONCE else 1
        reason = "exit code 137: killed (out of memory)" if exit_code == 137 else "exit code 1"
        end = start + duration / 3
        if ready.retry == 0:
            follow = _Follow(end, (ready.task, ready.step, 1, False))
    command = {
        "count": f"python3 count.py --input {ready.task}.txt",
        "rank": f"python3 rank.py --counts {ready.task}.json",
        "merge": "python3 merge.py --top 10",
    }[ready.step]
    execution = TaskExecution(
        task_id=ready.task,
        step=ready.step,
        node_id=node,
        queued=START + timedelta(seconds=ready.at),
        started=START + timedelta(seconds=start),
        ended=START + timedelta(seconds=end),
        exit_code=exit_code,
        result=result,
        retry=ready.retry,
        requeued=ready.requeued,
        failure_reason=reason,
        command=command,
    )
    return execution, follow


def _duration(rng: random.Random, step: str, task: str) -> float:
    if step == "merge":
        return 48.0
    if step == "rank":
        return rng.uniform(12, 35)
    return rng.lognormvariate(4.3, 0.35) * (2.2 if task == "count-03" else 1.0)


def _blocked(task: str, at: datetime) -> TaskExecution:
    return TaskExecution(
        task_id=task,
        step="rank",
        node_id=None,
        queued=at,
        started=None,
        ended=None,
        exit_code=None,
        result=Result.BLOCKED,
        failure_reason="a task it depends on failed (count-13)",
        command="python3 rank.py --counts rank-13.json",
    )


def _nodes() -> list[NodeSpan]:
    spans = []
    for i, (ready, spot) in enumerate(
        ((41.0, False), (47.0, False), (52.0, False), (58.0, True)), start=1
    ):
        at = [2.0 + i, 12.0 + i, ready]
        states = [
            NodeState(START + timedelta(seconds=t), s)
            for t, s in zip(at, ("starting", "waitingforstarttask", "idle"), strict=True)
        ]
        if spot:
            states += [
                NodeState(START + timedelta(seconds=_PREEMPTED_AT), "preempted"),
                NodeState(START + timedelta(seconds=_BACK_AT - 30), "starting"),
                NodeState(START + timedelta(seconds=_BACK_AT), "idle"),
            ]
        spans.append(
            NodeSpan(f"tvm-{i:04d}", spot, START + timedelta(seconds=2.0 + i), None, tuple(states))
        )
    return spans


def _usable_from(node: NodeSpan) -> float:
    idle = next(s for s in node.states if s.state == "idle")
    return (idle.at - START).total_seconds()


def _run(nodes: list[NodeSpan], executions: list[TaskExecution]) -> RunData:
    last = max(e.ended for e in executions if e.ended is not None)
    removed = last + timedelta(seconds=20)
    nodes = [NodeSpan(n.node_id, n.spot, n.added, removed, n.states) for n in nodes]
    samples = []
    for t in range(0, int((removed - START).total_seconds()) + 1, 10):
        at = START + timedelta(seconds=t)
        present = [n for n in nodes if n.added <= at < removed]
        gone = _PREEMPTED_AT <= t < _BACK_AT - 30
        samples.append(
            PoolSample(
                at, sum(not n.spot for n in present), sum(n.spot and not gone for n in present)
            )
        )
    return RunData(
        workflow="wordrank",
        run_id="20250314-093000-7f3a",
        pool_id="wordrank-pool",
        vm_size="standard_d2s_v3",
        slots_per_node=2,
        started=START,
        ended=removed + timedelta(seconds=6),
        executions=tuple(sorted(executions, key=lambda e: (e.queued, e.task_id))),
        nodes=tuple(nodes),
        pool_sizes=tuple(samples),
    )


def main(argv: list[str]) -> int:
    """Write the example report next to `argv[0]` (a .png path) and screenshot it."""
    from tests.chromium import find_chromium, screenshot

    target = Path(argv[0])
    html = target.with_suffix(".html")
    html.write_text(render_html(example_run()), encoding="utf-8")
    binary = find_chromium()
    if binary is None:
        print("chromium not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        screenshot(binary, html, target, Path(work), size=(1100, 1240))
    html.unlink()
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
