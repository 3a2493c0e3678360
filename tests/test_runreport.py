"""From a run record to the report's model: executions per attempt with their queue
times, nodes from allocation to removal, the pool's size from the nodes, the spec's
price and commands; an open run; and `bwf report` on what the record holds."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runner import pipeline
from runner.errors import BwfError
from runner.record_events import (
    REMOVED,
    Event,
    NodeRecord,
    NodesRebooted,
    PoolDeleted,
    PoolShort,
    RunFinished,
    RunStarted,
    Stamped,
    TaskRecord,
)
from runner.report import Result, render_html, to_json
from runner.runreport import UNSEEN, run_data
from runner.state import Desired
from tests.run_cli import bwf

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def iso(second: float) -> str:
    return (T0 + timedelta(seconds=second)).isoformat().replace("+00:00", "Z")


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


def desired(tmp_path: Path) -> Desired:
    spec = tmp_path / "spec.yaml"
    spec.write_text("""\
apiVersion: bwf/v1
name: wf
storage: {containers: {output: {}}}
pool: {id: wf-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: {dedicated: 1, spot: 1}, price_per_hour: 0.25}
job:
  id: wf-job
  tasks:
    for_each: {values: [x, y]}
    id: "{{ item }}"
    command: echo {{ item }} > {{ item }}.out
    outputs: [{pattern: "*.out", container: output}]
    retries: 1
  merge:
    id: m
    command: cat *.out
    resource_files: [{container: output}]
""")
    return pipeline.desired_state(spec)


def task(task_id: str, state: str, step: str = "tasks", **kw: object) -> TaskRecord:
    return TaskRecord(task_id, step, state, queued=iso(0.9), **kw)  # type: ignore[arg-type]


def node(node_id: str, state: str, since: float, spot: bool = False) -> NodeRecord:
    return NodeRecord("wf-pool", node_id, state, not spot, iso(since), iso(0.5))


RUN: list[tuple[float, Event]] = [
    (
        0,
        RunStarted(
            "r1", "wf", "wf-job", "wf-pool", "local", "spec.yaml", 3, 3, "standard_d2s_v3", 1, 1, 1
        ),
    ),
    (0.6, node("a", "starting", 0.5)),
    (0.6, node("b", "starting", 0.5, spot=True)),
    (1.1, node("a", "idle", 1.0)),
    (1.1, node("b", "idle", 1.0, spot=True)),
    (2.1, task("x", "running", node="a", started=iso(2))),
    (2.1, task("y", "running", node="b", started=iso(2))),
    (
        3.2,
        task(
            "y",
            "active",
            retries=1,
            node="b",
            started=iso(2),
            ended=iso(3),
            exit_code=3,
            failure="FailureExitCode: exit 3",
        ),
    ),
    (4.1, task("x", "succeeded", node="a", started=iso(2), ended=iso(4), exit_code=0)),
    (6.1, task("y", "succeeded", retries=1, node="a", started=iso(4.5), ended=iso(6), exit_code=0)),
    (7.1, task("m", "succeeded", "merge", node="b", started=iso(6.5), ended=iso(7), exit_code=0)),
    (8.1, node("b", REMOVED, 8, spot=True)),
    (9, PoolDeleted("wf-pool")),
    (10, RunFinished("succeeded", 3, 0, 0, 0, 10.0)),
]


def stamped(events: list[tuple[float, Event]]) -> list[Stamped]:
    return [Stamped(iso(second), event) for second, event in events]


def test_one_execution_per_attempt_queued_when_it_could_start(tmp_path: Path) -> None:
    run = run_data("r1", stamped(RUN), desired(tmp_path))
    shown = [
        (e.task_id, e.retry, e.node_id, e.result, e.queued, e.started, e.ended)
        for e in run.executions
    ]
    assert shown == [
        ("x", 0, "a", Result.SUCCESS, at(0.9), at(2), at(4)),
        ("y", 0, "b", Result.FAILURE, at(0.9), at(2), at(3)),
        ("y", 1, "a", Result.SUCCESS, at(3), at(4.5), at(6)),  # a retry waits from the failure
        ("m", 0, "b", Result.SUCCESS, at(6), at(6.5), at(7)),  # the merge from its last input
    ]
    failed = run.executions[1]
    assert (failed.exit_code, failed.failure_reason) == (3, "FailureExitCode: exit 3")
    assert run.executions[0].command == "echo x > x.out" and run.executions[3].step == "merge"
    assert (run.started, run.ended, run.price_per_hour) == (at(0), at(10), 0.25)
    assert (run.vm_size, run.slots_per_node) == ("standard_d2s_v3", 1)


def test_nodes_live_from_allocation_to_removal_and_make_the_pool_size(tmp_path: Path) -> None:
    run = run_data("r1", stamped(RUN), desired(tmp_path))
    nodes = {n.node_id: n for n in run.nodes}
    assert (nodes["a"].spot, nodes["a"].added, nodes["a"].removed) == (False, at(0.5), at(9))
    assert (nodes["b"].spot, nodes["b"].removed) == (True, at(8))
    assert [(s.at, s.state) for s in nodes["a"].states] == [(at(0.5), "starting"), (at(1), "idle")]
    assert [(s.at, s.dedicated, s.spot) for s in run.pool_sizes] == [
        (at(0.5), 1, 1),
        (at(8), 1, 0),
        (at(9), 0, 0),
    ]


def test_what_batch_refused_the_run_is_a_warning_of_the_report(tmp_path: Path) -> None:
    short = PoolShort("wf-pool", 1, 0, 1, 1, ("AccountLowPriorityCoreQuotaReached: none left",))
    refused = NodesRebooted("wf-pool", ("a", "b"), ("rebooting node b: NodeBeingStarted: booting",))
    events = [*RUN[:5], (1.5, short), (1.6, refused), *RUN[5:]]
    run = run_data("r1", stamped(events), desired(tmp_path))
    assert run.warnings == (
        "pool wf-pool ran with 1 of the 2 nodes asked for: "
        "AccountLowPriorityCoreQuotaReached: none left",
        "rebooting node b: NodeBeingStarted: booting",
    )
    page = render_html(run)
    assert '<ul class="warnings"><li>pool wf-pool ran with 1 of the 2 nodes' in page
    assert to_json(run)["warnings"] == list(run.warnings)
    assert run_data("r1", stamped(RUN), desired(tmp_path)).warnings == ()


def test_an_open_run_ends_at_its_last_event_with_its_task_still_running(tmp_path: Path) -> None:
    run = run_data("r1", stamped(RUN[:7]), desired(tmp_path))
    assert run.ended == at(2.1)
    assert [(e.task_id, e.result) for e in run.executions] == [
        ("x", Result.RUNNING),
        ("y", Result.RUNNING),
    ]


def test_an_unseen_attempt_is_drawn_apart_and_said_so(tmp_path: Path) -> None:
    events = [
        *RUN[:5],
        (3, task("y", "running", retries=1, node="a", started=iso(2.5), last_retry=iso(2))),
        (
            4,
            task(
                "y", "succeeded", retries=1, node="a", started=iso(2.5), ended=iso(3), exit_code=0
            ),
        ),
        (5, RunFinished("succeeded", 1, 0, 0, 0, 5.0)),
    ]
    first, second = run_data("r1", stamped(events), desired(tmp_path)).executions
    assert (first.node_id, first.started, first.ended, first.failure_reason) == (
        None,
        None,
        at(2),
        UNSEEN,
    )
    assert (second.retry, second.queued, second.node_id) == (1, at(2), "a")


def test_an_empty_record_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(BwfError, match="empty"):
        run_data("r1", [], desired(tmp_path))


def test_bwf_report_reads_only_bwf_home(tmp_path: Path) -> None:
    """No service is running here: the record is all `bwf report` needs."""
    spec = tmp_path / "spec.yaml"
    desired(tmp_path)
    missing = bwf("report", str(spec))
    assert missing.code == 1 and "no run of this workflow is recorded" in missing.err
    from runner.ledger import ledger_for

    runs = ledger_for(pipeline.desired_state(spec), "local").sibling("runs")
    runs.mkdir(parents=True)
    (runs / "index.json").write_text(
        json.dumps({"format_version": 1, "runs": [{"id": "r1", "finished": iso(10)}]})
    )
    (runs / "r1.jsonl").write_text("".join(_line(s) + "\n" for s in stamped(RUN)))
    shown = bwf("report", str(spec), "--json", "--price", "1")
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    assert data["tasks"]["by_result"]["success"] == 3 and data["tasks"]["retries"] == 1
    assert data["cost"]["price_per_node_hour"]["dedicated"] == 1
    drawn = bwf("report", str(spec), "--out", str(tmp_path / "r.html"))
    assert drawn.code == 0 and (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert bwf("report", str(spec), "--run", "r9").code == 1
    assert bwf("report", str(spec), "--price", "-1").code == 2


def _line(s: Stamped) -> str:
    from runner.record_events import encode

    return encode(s)


def test_a_barrier_is_filed_under_the_step_waiting_on_it_and_not_counted_in_its_row(
    tmp_path: Path,
) -> None:
    import io
    import xml.etree.ElementTree as ET

    from runner.events import EventStream
    from runner.report import render_html

    barrier = task(
        "m-barrier-0",
        "succeeded",
        "merge",
        barrier=True,
        node="a",
        started=iso(6.1),
        ended=iso(6.2),
    )
    events = [*RUN[:-4], (6.3, barrier), *RUN[-4:]]  # the merge ran after its barrier
    run = run_data("r1", stamped(events), desired(tmp_path))
    assert [(e.task_id, e.step, e.barrier) for e in run.executions if e.step == "merge"] == [
        ("m-barrier-0", "merge", True),
        ("m", "merge", False),
    ]
    rows = {
        g.get("data-step"): "".join(g.itertext())
        for g in ET.fromstring(render_html(run)).iter("g")
        if g.get("class") == "step-row"
    }
    assert set(rows) == {"tasks", "merge"}
    assert "step merge: 1 task, 1 succeeded" in rows["merge"]
    assert "through 1 barrier task" in rows["merge"] and "barrier" not in rows["tasks"]
    out = io.StringIO()
    stream = EventStream(out, owned=False)
    for one in stamped(events):
        stream.emit(one)
    started = [json.loads(line) for line in out.getvalue().splitlines()]
    started = [e for e in started if e["event"] == "task_started"]
    assert {(e["task"], e["step"], e["barrier"]) for e in started} >= {
        ("m-barrier-0", "merge", True),
        ("m", "merge", False),
        ("x", "tasks", False),
    }
