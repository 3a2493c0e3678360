"""The run record: what happened in each run of a workflow, written to BWF_HOME as it
happens, so that it outlives clean-up (which deletes the job) and a killed apply.

`BWF_HOME/runs/<workflow>-<key>/` (the key of runner.ledger.state_key) holds
`index.json` (every run: id, start, end, outcome; oldest first) and one append-only
JSON Lines file per run, `<run id>.jsonl`: one event per line, the typed events of
runner.record_events (docs/engine.md lists them). Readers fold the events: the last
`task` event of an ID is that task's state. New event kinds and fields may be added;
existing ones keep their meaning.

Listeners (runner.events' `--events` stream) see every event as it is recorded, also
when no run is open (an apply that only downloads): the stream and the record are one
code path, not two bookkeepings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import secrets as random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from runner.ledger import Ledger
from runner.record_events import (
    REMOVED,
    Downloaded,
    Event,
    NodeRecord,
    PoolDeleted,
    PoolSize,
    RunFinished,
    RunResumed,
    RunStarted,
    Stamped,
    TaskRecord,
    Uploaded,
    decode,
    encode,
)
from runner.state import ObservedNode

__all__ = ["Listener", "RunRecord", "RunSummary", "TaskRecord", "now", "read_events"]


def now() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class Listener(Protocol):
    """Sees the record's events: `replay` the ones an earlier apply wrote to a run this
    one resumes (to know where things stand), `emit` each new one."""

    def replay(self, stamped: Stamped) -> None: ...
    def emit(self, stamped: Stamped) -> None: ...


@dataclass
class RunSummary:
    """One run, folded from its events."""

    id: str
    started: str
    finished: str | None = None
    outcome: str | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)  # node id -> last record


def read_events(path: Path) -> list[Stamped]:
    """The events of one run's file, skipping lines a kill cut short."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [e for e in map(decode, lines) if e is not None]


def _fold(run_id: str, events: Iterable[Stamped]) -> RunSummary:
    summary = RunSummary(run_id, "")
    for stamped in events:
        e = stamped.event
        if isinstance(e, RunStarted):
            summary.started = stamped.time
        elif isinstance(e, TaskRecord):
            summary.tasks[e.id] = e
        elif isinstance(e, NodeRecord):
            summary.nodes[e.node] = e
        elif isinstance(e, RunFinished):
            summary.finished, summary.outcome = stamped.time, e.outcome
    return summary


class RunRecord:
    """The runs of one workflow's job. `begin` starts a run or continues an open one."""

    def __init__(self, ledger: Ledger) -> None:
        self.dir = ledger.sibling("runs")
        self.index = self.dir / "index.json"
        self.run_id: str | None = None
        self.listeners: list[Listener] = []
        self._file: TextIO | None = None
        self._tasks: dict[str, TaskRecord] = {}
        self._nodes: dict[str, NodeRecord] = {}

    def runs(self) -> list[dict[str, Any]]:
        try:
            runs: list[dict[str, Any]] = json.loads(self.index.read_text())["runs"]
            return runs
        except (OSError, ValueError, KeyError):
            return []

    def path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.jsonl"

    def events(self, run_id: str) -> list[Stamped]:
        return read_events(self.path(run_id))

    def latest(self) -> RunSummary | None:
        runs = self.runs()
        if not runs:
            return None
        run_id = str(runs[-1]["id"])
        return _fold(run_id, self.events(run_id))

    def open_run(self) -> str | None:
        runs = self.runs()
        return str(runs[-1]["id"]) if runs and not runs[-1].get("finished") else None

    def begin(self, info: RunStarted) -> str:
        """Continue the open run (an earlier apply stopped before the end), or start one.
        `info.run` is ignored: the record names the run."""
        self.dir.mkdir(parents=True, exist_ok=True)
        open_id = self.open_run()
        if open_id is not None:
            earlier = self.events(open_id)
            previous = _fold(open_id, earlier)
            self._tasks, self._nodes = previous.tasks, previous.nodes
            for stamped in earlier:
                for listener in self.listeners:
                    listener.replay(stamped)
            self._start(open_id)
            self._write(RunResumed(open_id))
            return open_id
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + random.token_hex(2)
        self._save_index([*self.runs(), {"id": run_id, "started": now(), "finished": None}])
        self._start(run_id)
        self._write(dataclasses.replace(info, run=run_id))
        return run_id

    def tasks(self, records: Iterable[TaskRecord]) -> None:
        """Record the tasks whose state changed since they were last recorded."""
        for r in records:
            if self._tasks.get(r.id) != r:
                self._tasks[r.id] = r
                self._write(r, flush=False)
        self._flush()

    def nodes(self, pool: str, nodes: Iterable[ObservedNode]) -> None:
        """Record the nodes whose state changed, and those gone from the pool since."""
        listed = set()
        for n in nodes:
            listed.add(n.id)
            seen = self._nodes.get(n.id)
            if seen is None or seen.state != n.state:
                self._node(NodeRecord(pool, n.id, n.state, n.dedicated, n.since, n.allocated))
        for node_id, seen in list(self._nodes.items()):
            if seen.pool == pool and seen.state != REMOVED and node_id not in listed:
                self._node(dataclasses.replace(seen, state=REMOVED, since=now()))

    def pool_size(self, pool: str, dedicated: int, spot: int, nodes: dict[str, int]) -> None:
        self._write(PoolSize(pool, dedicated, spot, dict(nodes)))

    def uploaded(self, container: str, files: int, size: int) -> None:
        self._write(Uploaded(container, files, size))

    def downloaded(self, container: str, pattern: str, to: str, files: int, source: str) -> None:
        self._write(Downloaded(container, pattern, to, files, source))

    def pool_deleted(self, pool: str) -> None:
        self._write(PoolDeleted(pool))
        for node_id, seen in list(self._nodes.items()):
            if seen.pool == pool and seen.state != REMOVED:
                self._nodes[node_id] = dataclasses.replace(seen, state=REMOVED)

    def finish(self, outcome: str, counts: dict[str, int], seconds: float) -> None:
        if self.run_id is None:
            return
        self._write(
            RunFinished(
                outcome,
                counts.get("succeeded", 0),
                counts.get("failed", 0),
                counts.get("blocked", 0),
                counts.get("unfinished", 0),
                round(seconds, 3),
            )
        )
        runs = self.runs()
        for r in runs:
            if r["id"] == self.run_id:
                r.update(finished=now(), outcome=outcome)
        self._save_index(runs)
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _node(self, record: NodeRecord) -> None:
        self._nodes[record.node] = record
        self._write(record)

    def _start(self, run_id: str) -> None:
        self.run_id = run_id
        path = self.path(run_id)
        cut = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run
        if cut:  # a kill cut the last line short: start on a line of our own
            self._file.write("\n")

    def _write(self, event: Event, flush: bool = True) -> None:
        """Append one event to the open run (if any) and hand it to every listener."""
        stamped = Stamped(now(), event)
        if self._file is not None:
            self._file.write(encode(stamped) + "\n")
            if flush:
                self._file.flush()
        for listener in self.listeners:
            listener.emit(stamped)

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _save_index(self, runs: list[dict[str, Any]]) -> None:
        tmp = self.index.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format_version": 1, "runs": runs}, indent=1))
        os.replace(tmp, self.index)
