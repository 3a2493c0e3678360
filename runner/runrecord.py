"""The run record: what happened in each run of a workflow, written to BWF_HOME as it
happens, so that it outlives clean-up (which deletes the job) and a killed apply.

`BWF_HOME/runs/<workflow>-<key>/` (the key of runner.ledger.state_key) holds
`index.json` (every run: id, start, end, outcome; oldest first) and one append-only
JSON Lines file per run, `<run id>.jsonl`. Every line is one event with `time`
(ISO 8601 UTC) and `event`:

- `run_started`: `run`, `workflow`, `job`, `pool`, `target`, `tasks` (in the plan),
  `to_run`;
- `run_resumed`: a later apply continues a run that an earlier one left open (it was
  killed, interrupted, or lost the service);
- `task`: one task's state whenever it changes: `id`, `step` (its step's name; a
  barrier task's is the step waiting on it, with `barrier` true), `state` (`active`,
  `preparing`, `running`, `succeeded`, `failed`, `blocked`), `exit_code`, `node`,
  `queued`, `started`, `ended`, `retries`, `requeues`, `failure` (code and message,
  secrets scrubbed), `blocked_by` (the failed or missing task behind a blocked one);
- `node`: a node's state whenever it changes: `pool`, `node`, `state`, `dedicated`;
- `pool_size`: `pool`, `dedicated`, `spot` (current node counts), `nodes` (count per
  state), sampled while bwf monitors;
- `run_finished`: `outcome` (`succeeded`, `failed`, `timed out`), `succeeded`,
  `failed`, `blocked`, `unfinished`, `seconds`.

Readers fold the events: the last `task` event of an ID is that task's state.
New event kinds and fields may be added; existing ones keep their meaning.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets as random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from runner.ledger import Ledger


def now() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True)
class TaskRecord:
    id: str
    step: str  # the name of its step (`tasks` or `merge` for job.tasks and job.merge)
    state: str  # active | preparing | running | succeeded | failed | blocked
    exit_code: int | None = None
    node: str | None = None
    queued: str | None = None
    started: str | None = None
    ended: str | None = None
    retries: int = 0
    requeues: int = 0
    failure: str | None = None
    blocked_by: str | None = None
    barrier: bool = False  # a barrier task standing for the dependencies of `step`


@dataclass
class RunSummary:
    """One run, folded from its events."""

    id: str
    started: str
    finished: str | None = None
    outcome: str | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)  # node id -> last state


_TASK_FIELDS = set(TaskRecord.__dataclass_fields__)


def _fold(path: Path) -> RunSummary:
    summary = RunSummary(path.stem, "")
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return summary
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        kind = e.pop("event", "")
        when = e.pop("time", "")
        if kind == "run_started":
            summary.started = when
        elif kind == "task":
            summary.tasks[e["id"]] = TaskRecord(**{k: v for k, v in e.items() if k in _TASK_FIELDS})
        elif kind == "node":
            summary.nodes[e["node"]] = e["state"]
        elif kind == "run_finished":
            summary.finished, summary.outcome = when, e.get("outcome")
    return summary


class RunRecord:
    """The runs of one workflow's job. `begin` starts a run or continues an open one."""

    def __init__(self, ledger: Ledger) -> None:
        self.dir = ledger.sibling("runs")
        self.index = self.dir / "index.json"
        self.run_id: str | None = None
        self._file: TextIO | None = None
        self._tasks: dict[str, TaskRecord] = {}
        self._nodes: dict[str, str] = {}

    def runs(self) -> list[dict[str, Any]]:
        try:
            runs: list[dict[str, Any]] = json.loads(self.index.read_text())["runs"]
            return runs
        except (OSError, ValueError, KeyError):
            return []

    def latest(self) -> RunSummary | None:
        runs = self.runs()
        return _fold(self.dir / f"{runs[-1]['id']}.jsonl") if runs else None

    def open_run(self) -> str | None:
        runs = self.runs()
        return str(runs[-1]["id"]) if runs and not runs[-1].get("finished") else None

    def begin(self, info: Mapping[str, Any]) -> str:
        """Continue the open run (an earlier apply stopped before the end), or start one."""
        self.dir.mkdir(parents=True, exist_ok=True)
        open_id = self.open_run()
        if open_id is not None:
            previous = _fold(self.dir / f"{open_id}.jsonl")
            self._tasks, self._nodes = previous.tasks, previous.nodes
            self._start(open_id)
            self._write("run_resumed", {"run": open_id})
            self._flush()
            return open_id
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + random.token_hex(2)
        self._save_index([*self.runs(), {"id": run_id, "started": now(), "finished": None}])
        self._start(run_id)
        self._write("run_started", {"run": run_id, **info})
        self._flush()
        return run_id

    def tasks(self, records: Iterable[TaskRecord]) -> None:
        """Record the tasks whose state changed since they were last recorded."""
        for r in records:
            if self._tasks.get(r.id) != r:
                self._tasks[r.id] = r
                self._write("task", asdict(r))
        self._flush()

    def node(self, pool: str, node: str, state: str, dedicated: bool) -> None:
        if self._nodes.get(node) != state:
            self._nodes[node] = state
            self._write(
                "node", {"pool": pool, "node": node, "state": state, "dedicated": dedicated}
            )
            self._flush()

    def pool_size(self, pool: str, dedicated: int, spot: int, nodes: Mapping[str, int]) -> None:
        self._write(
            "pool_size", {"pool": pool, "dedicated": dedicated, "spot": spot, "nodes": dict(nodes)}
        )
        self._flush()

    def finish(self, outcome: str, counts: Mapping[str, int], seconds: float) -> None:
        if self.run_id is None:
            return
        self._write("run_finished", {"outcome": outcome, **counts, "seconds": round(seconds, 3)})
        self._flush()
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

    def _start(self, run_id: str) -> None:
        self.run_id = run_id
        path = self.dir / f"{run_id}.jsonl"
        cut = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run
        if cut:  # a kill cut the last line short: start on a line of our own
            self._file.write("\n")

    def _write(self, event: str, fields: Mapping[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps({"time": now(), "event": event, **fields}) + "\n")

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _save_index(self, runs: list[dict[str, Any]]) -> None:
        tmp = self.index.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format_version": 1, "runs": runs}, indent=1))
        os.replace(tmp, self.index)
