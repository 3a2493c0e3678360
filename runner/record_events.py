"""The run record's events as typed values, and their JSON form (one line each).

`runner.runrecord` writes them to BWF_HOME as apply goes; `runner.runreport` reads them
back into a report, `runner.events` turns them into the public `--events` stream. This
module is the only place that knows an event's JSON keys: everything else handles the
dataclasses. The format is described in docs/engine.md ("The run record").

Every line is `{"time": ISO 8601 UTC, "event": KIND, **fields}`. Readers ignore kinds
and fields they do not know, and take a missing field as its default, so that records
written by an older bwf still read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    """A run began: what it runs, and on which pool (VM size, slots, node counts)."""

    run: str
    workflow: str
    job: str
    pool: str
    target: str
    spec: str
    tasks: int  # tasks in the plan
    to_run: int  # of which this run submits
    vm_size: str = ""
    slots_per_node: int = 1
    dedicated_nodes: int = 0  # the pool's target counts
    spot_nodes: int = 0


@dataclass(frozen=True)
class RunResumed:
    """A later apply continues a run that an earlier one left open."""

    run: str


@dataclass(frozen=True)
class TaskRecord:
    """One task's state as a listing saw it; written whenever any of it changes.

    Times are the service's (ISO 8601 UTC). `started`, `ended`, `exit_code` and `node`
    describe the task's latest attempt as Batch reports it; `retries` and `requeues`
    are Batch's counts so far, `last_retry` and `last_requeue` when the latest of each
    happened (runner.attempts turns a series of these into attempts).
    """

    id: str
    step: str  # the name of its step (`tasks` or `merge` for job.tasks and job.merge)
    state: str  # active | preparing | running | succeeded | failed | blocked
    exit_code: int | None = None
    node: str | None = None
    queued: str | None = None  # when the task was created
    started: str | None = None
    ended: str | None = None
    retries: int = 0
    requeues: int = 0
    failure: str | None = None
    blocked_by: str | None = None
    last_retry: str | None = None
    last_requeue: str | None = None
    # a barrier task: it stands for the dependencies of `step`, the step waiting on it
    barrier: bool = False


REMOVED = "removed"  # a node's pseudo-state once it has left the pool


@dataclass(frozen=True)
class NodeRecord:
    """A node's state whenever it changes; `removed` once it is gone from the pool."""

    pool: str
    node: str
    state: str
    dedicated: bool
    since: str | None = None  # when it entered `state`, by the service's clock
    allocated: str | None = None  # when it joined the pool


@dataclass(frozen=True)
class PoolSize:
    """A sample of the pool's current node counts, and its nodes per state."""

    pool: str
    dedicated: int
    spot: int
    nodes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Uploaded:
    """Files uploaded to a container."""

    container: str
    files: int
    bytes: int


@dataclass(frozen=True)
class Downloaded:
    """A download put its files in place (`source`: the container or the kept copy)."""

    container: str
    pattern: str
    to: str
    files: int
    source: str = "container"


@dataclass(frozen=True)
class PoolDeleted:
    """Clean-up deleted the pool: its nodes left it."""

    pool: str


@dataclass(frozen=True)
class RunFinished:
    outcome: str  # succeeded | failed | timed out
    succeeded: int
    failed: int
    blocked: int
    unfinished: int
    seconds: float


Event = (
    RunStarted
    | RunResumed
    | TaskRecord
    | NodeRecord
    | PoolSize
    | Uploaded
    | Downloaded
    | PoolDeleted
    | RunFinished
)

KINDS: Mapping[str, type[Any]] = {
    "run_started": RunStarted,
    "run_resumed": RunResumed,
    "task": TaskRecord,
    "node": NodeRecord,
    "pool_size": PoolSize,
    "upload": Uploaded,
    "download": Downloaded,
    "pool_deleted": PoolDeleted,
    "run_finished": RunFinished,
}
_NAMES = {kind: name for name, kind in KINDS.items()}


@dataclass(frozen=True)
class Stamped:
    """An event and when bwf wrote it."""

    time: str
    event: Event


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str | None) -> dt.datetime | None:
    """A time of the record (ISO 8601, `Z` or an offset, any digits of a second) as an
    aware datetime in UTC; None when absent or unreadable."""
    if not text:
        return None
    normal = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text.replace("Z", "+00:00"))
    try:
        when = dt.datetime.fromisoformat(normal)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def kind_of(event: Event) -> str:
    return _NAMES[type(event)]


def encode(stamped: Stamped) -> str:
    """One JSON line (without its newline)."""
    fields = {f.name: getattr(stamped.event, f.name) for f in dataclasses.fields(stamped.event)}
    if isinstance(stamped.event, PoolSize):
        fields["nodes"] = dict(stamped.event.nodes)
    return json.dumps({"time": stamped.time, "event": kind_of(stamped.event), **fields})


def decode(line: str) -> Stamped | None:
    """The event of one line; None for a line cut short by a kill, an unknown kind, or a
    line without a field the kind needs."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind = KINDS.get(str(data.get("event")))
    if kind is None:
        return None
    known = {f.name for f in dataclasses.fields(kind)}
    try:
        event = kind(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None
    return Stamped(str(data.get("time", "")), event)
