"""Where an apply's time went, from what bwf and the local service record: the phases of
one `bwf apply` (from its run record in BWF_HOME) and, per task, the local service's
overhead on the node (from its timing log, `BWF_LOCALBATCH_TIMING_LOG`).

A diagnostic for bench/apply_bench.py: the run record is read with the module that
owns its format (runner.record_events); the timing log is described in
runner/localbatch/timing.py.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.record_events import (
    Downloaded,
    NodeRecord,
    RunFinished,
    RunStarted,
    Stamped,
    TaskRecord,
    Uploaded,
    decode,
    parse_time,
)

READY_STATES = ("idle", "running")


def _t(text: str | None) -> float | None:
    when = parse_time(text)
    return when.timestamp() if when else None


def latest_run(home: Path) -> list[Stamped]:
    """The events of the run record written last under BWF_HOME."""
    paths = sorted((home / "runs").glob("*/*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise SystemExit(f"no run record under {home / 'runs'}")
    lines = paths[-1].read_text().splitlines()
    return [s for s in (decode(line) for line in lines) if s is not None]


@dataclass
class Marks:
    """The moments of one apply, seconds since the epoch."""

    began: float  # the bwf process started
    run_started: float
    uploaded: float  # the last upload was done
    first_added: float  # the service's creation time of the first and last task
    last_added: float
    nodes_ready: float  # the last node to become ready (idle or running)
    first_started: float
    last_ended: float
    noticed: float  # bwf's listing that saw the last task end
    downloaded: float
    finished: float  # run_finished
    exited: float  # the bwf process ended


def marks(events: list[Stamped], began: float, exited: float) -> Marks:
    stamp = {id(s): _t(s.time) or 0.0 for s in events}
    run_started = next(stamp[id(s)] for s in events if isinstance(s.event, RunStarted))
    uploads = [stamp[id(s)] for s in events if isinstance(s.event, Uploaded)]
    final: dict[str, TaskRecord] = {}
    for s in events:
        if isinstance(s.event, TaskRecord):
            final[s.event.id] = s.event
    added = [_t(t.queued) or 0.0 for t in final.values()]
    started = [_t(t.started) or 0.0 for t in final.values()]
    ended = [_t(t.ended) or 0.0 for t in final.values()]
    last_ended = max(ended)
    noticed = min(
        stamp[id(s)]
        for s in events
        if isinstance(s.event, TaskRecord)
        and s.event.ended is not None
        and (_t(s.event.ended) or 0.0) >= last_ended
    )
    ready: dict[str, float] = {}
    for s in events:
        e = s.event
        if isinstance(e, NodeRecord) and e.state in READY_STATES and e.node not in ready:
            ready[e.node] = _t(e.since) or stamp[id(s)]
    downloads = [stamp[id(s)] for s in events if isinstance(s.event, Downloaded)]
    finished = next(stamp[id(s)] for s in events if isinstance(s.event, RunFinished))
    return Marks(
        began,
        run_started,
        max(uploads, default=run_started),
        min(added),
        max(added),
        max(ready.values(), default=run_started),
        min(started),
        last_ended,
        noticed,
        max(downloads, default=noticed),
        finished,
        exited,
    )


def phases(m: Marks) -> list[tuple[str, float]]:
    """The phases in order; those marked `  ` overlap the step before them."""
    return [
        ("plan/observe (process start to run_started)", m.run_started - m.began),
        ("upload", m.uploaded - m.run_started),
        ("pool, job, submission until the first task starts", m.first_started - m.uploaded),
        ("  pool and job created (to the first task added)", m.first_added - m.uploaded),
        ("  submission (first to last task added)", m.last_added - m.first_added),
        ("  pool ready (last upload to every node ready)", m.nodes_ready - m.uploaded),
        ("tasks running (first start to last end)", m.last_ended - m.first_started),
        ("tail (last task's end to apply noticing)", m.noticed - m.last_ended),
        ("download", m.downloaded - m.noticed),
        ("clean-up", m.finished - m.downloaded),
        ("exit (run_finished to process end)", m.exited - m.finished),
    ]


def read_timing(path: Path, job: str) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [x for x in lines if x.get("job") == job]


def _f(x: dict[str, object], key: str) -> float:
    value = x.get(key)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _uploads(x: dict[str, object], logs: bool) -> float:
    outputs = x.get("outputs")
    entries = outputs if isinstance(outputs, list) else []
    return sum(
        float(o["seconds"]) for o in entries if ("std*" in str(o.get("pattern", ""))) == logs
    )


def task_overheads(lines: list[dict[str, object]]) -> list[tuple[str, list[float]]]:
    """Per task, where the node's time went (seconds), one list per stage."""
    rows: list[tuple[str, list[float]]] = [
        ("slot freed -> next task assigned (scheduling)", _slot_gaps(lines)),
        ("assigned -> worker picked it up", [_f(x, "picked") - _f(x, "assigned") for x in lines]),
        ("resource files downloaded", [_f(x, "fetched") - _f(x, "picked") for x in lines]),
        ("process spawned", [_f(x, "spawned") - _f(x, "spawning") for x in lines]),
        ("the task's process (its own work)", [_f(x, "exited") - _f(x, "spawned") for x in lines]),
        ("output files uploaded", [_uploads(x, logs=False) for x in lines]),
        ("stdout/stderr uploaded", [_uploads(x, logs=True) for x in lines]),
        (
            "exit -> slot freed (all uploads, settle)",
            [_f(x, "released") - _f(x, "exited") for x in lines],
        ),
        ("slot freed -> next process started (same node)", _between_processes(lines)),
    ]
    return rows


def _by_node(lines: Iterable[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    nodes: dict[str, list[dict[str, object]]] = {}
    for x in lines:
        nodes.setdefault(str(x.get("node")), []).append(x)
    for runs in nodes.values():
        runs.sort(key=lambda x: _f(x, "assigned"))
    return nodes


def _slot_gaps(lines: list[dict[str, object]]) -> list[float]:
    """On each node (one slot each), a slot's release to the next task's assignment."""
    gaps = []
    for runs in _by_node(lines).values():
        for a, b in itertools.pairwise(runs):
            gaps.append(_f(b, "assigned") - _f(a, "released"))
    return gaps


def _between_processes(lines: list[dict[str, object]]) -> list[float]:
    gaps = []
    for runs in _by_node(lines).values():
        for a, b in itertools.pairwise(runs):
            gaps.append(_f(b, "spawned") - _f(a, "released"))
    return gaps


def overhead_table(rows: list[tuple[str, list[float]]]) -> list[str]:
    out = [f"  {'per task, on the node':<50} {'median':>8} {'mean':>8} {'total':>8}"]
    for name, values in rows:
        if not values:
            continue
        med = statistics.median(values) * 1000
        mean = statistics.fmean(values) * 1000
        out.append(f"  {name:<50} {med:6.1f}ms {mean:6.1f}ms {sum(values):7.2f}s")
    return out
