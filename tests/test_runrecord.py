"""The run record in BWF_HOME and the `--events` stream it feeds: typed events written
and read back, records of an older bwf still read, nodes that leave the pool, and a
resumed run that the stream continues without telling anything twice."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

from runner.events import EventStream
from runner.ledger import Ledger
from runner.record_events import (
    REMOVED,
    NodeRecord,
    RunStarted,
    TaskRecord,
    Uploaded,
    decode,
    parse_time,
)
from runner.runrecord import RunRecord
from runner.state import ObservedNode

INFO = RunStarted("", "wf", "wf-job", "wf-pool", "local", "wf.yaml", 2, 2, "standard_d2s_v3", 2, 2)


def record() -> RunRecord:
    return RunRecord(Ledger("local", "account", "wf", "wf-job"))


def stream() -> tuple[EventStream, io.StringIO]:
    out = io.StringIO()
    return EventStream(out, owned=False), out


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def task(state: str, **kw: object) -> TaskRecord:
    return TaskRecord(id="t1", step="tasks", state=state, **kw)  # type: ignore[arg-type]


def test_events_are_written_and_read_back_typed() -> None:
    runs = record()
    run_id = runs.begin(INFO)
    runs.uploaded("wf-input", 3, 120)
    runs.tasks([task("running", node="n1", started="2025-01-01T12:00:01Z")])
    runs.finish("succeeded", {"succeeded": 1}, 2.5)
    events = [s.event for s in runs.events(run_id)]
    assert events[0] == dataclasses.replace(INFO, run=run_id)
    assert events[1] == Uploaded("wf-input", 3, 120)
    assert isinstance(events[2], TaskRecord) and events[2].node == "n1"
    assert runs.runs()[-1]["outcome"] == "succeeded"


def test_a_record_of_an_older_bwf_still_reads() -> None:
    line = (
        '{"time": "2025-01-01T12:00:00.000Z", "event": "task", "id": "t", "step": "tasks", '
        '"state": "failed", "exit_code": 2, "node": "n", "queued": null, "started": null, '
        '"ended": null, "retries": 0, "requeues": 0, "failure": null, "blocked_by": null, '
        '"from_the_future": 1}'
    )
    stamped = decode(line)
    assert stamped is not None and isinstance(stamped.event, TaskRecord)
    assert (stamped.event.exit_code, stamped.event.last_retry) == (2, None)
    assert decode('{"time": "x", "event": "node", "pool": "p"}') is None  # no node id
    assert decode('{"time": "x", "event": "unheard_of"}') is None
    assert decode('{"time": "2025-01-01T12:00:00.000Z", "event": "ta') is None  # cut by a kill


def test_a_node_gone_from_a_listing_is_recorded_as_removed(tmp_path: Path) -> None:
    runs = record()
    run_id = runs.begin(INFO)
    a = ObservedNode("a", "idle", since="2025-01-01T12:00:01Z", allocated="2025-01-01T12:00:00Z")
    b = ObservedNode("b", "idle", dedicated=False)
    runs.nodes("wf-pool", [a, b])
    runs.nodes("wf-pool", [a, b])  # nothing changed: nothing written
    runs.nodes("wf-pool", [a])
    nodes = [s.event for s in runs.events(run_id) if isinstance(s.event, NodeRecord)]
    assert [(n.node, n.state, n.dedicated) for n in nodes] == [
        ("a", "idle", True),
        ("b", "idle", False),
        ("b", REMOVED, False),
    ]
    assert nodes[0].allocated == "2025-01-01T12:00:00Z"


def test_the_stream_sees_what_the_record_writes_and_a_resumed_run_goes_on() -> None:
    first, out = stream()
    runs = record()
    runs.listeners.append(first)
    run_id = runs.begin(INFO)
    runs.tasks([task("running", node="n1", started="2025-01-01T12:00:01Z")])
    runs.pool_size("wf-pool", 2, 0, {"idle": 1, "running": 1})
    runs.pool_size("wf-pool", 2, 0, {"running": 2})  # same size: no pool_resized
    runs.close()  # the apply is killed: the run stays open
    assert [e["event"] for e in lines(out)] == ["run_started", "task_started", "pool_resized"]

    second, out = stream()
    again = record()
    again.listeners.append(second)
    assert again.begin(INFO) == run_id
    again.tasks(
        [
            task(
                "succeeded",
                node="n1",
                started="2025-01-01T12:00:01Z",
                ended="2025-01-01T12:00:03Z",
                exit_code=0,
            )
        ]
    )
    again.pool_size("wf-pool", 2, 0, {"idle": 2})
    again.finish("succeeded", {"succeeded": 1}, 3.0)
    events = lines(out)
    assert [e["event"] for e in events] == ["run_resumed", "task_completed", "run_finished"]
    completed = events[1]
    assert completed["time"] == "2025-01-01T12:00:03Z" and completed["seconds"] == 2.0
    assert {e["run"] for e in events} == {run_id}


def test_without_a_run_the_stream_still_hears_downloads() -> None:
    """An apply that only copies results back opens no run, and still reports it."""
    listener, out = stream()
    runs = record()
    runs.listeners.append(listener)
    runs.downloaded("wf-output", "*", "/tmp/out", 2, "kept")
    assert lines(out)[0]["event"] == "download_done" and lines(out)[0]["run"] is None
    assert not runs.dir.exists() or not list(runs.dir.glob("*.jsonl"))


def test_record_times_of_any_precision_parse_as_utc() -> None:
    a = parse_time("2025-01-01T12:00:01.5Z")
    b = parse_time("2025-01-01T12:00:01.500000+00:00")
    c = parse_time("2025-01-01T13:00:01.5+01:00")
    assert a == b == c and a is not None and a.tzinfo is not None
    assert parse_time(None) is None and parse_time("yesterday") is None
