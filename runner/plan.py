"""The plan: desired state against observed state, as data.

`diff(desired, observed)` is a pure function returning a `Plan` (frozen dataclasses
with a stable JSON form, see docs/plan-json.md). `runner.apply` executes a Plan and
makes no decisions of its own; `runner.show` renders one for humans.

Semantics (the contract between diff and apply):
- A task is *done* when the live job holds it completed with result success and the
  same fingerprint, or the ledger holds its id with the same fingerprint. Done tasks
  are no-ops. Active/preparing/running tasks with the same fingerprint are left to
  run (no-op, counted as "in progress"). Tasks that are missing are created; tasks
  whose fingerprint changed or that failed are replaced (deleted and re-created).
- When every task (and the merge) is done, nothing else is needed: containers,
  uploads, pool and job that are absent stay absent and the plan has no changes.
- Otherwise containers are created when missing; uploads are the blobs whose MD5
  differs or is absent; the pool is created, resized (`update`: only node counts
  differ) or replaced (anything in the pool fingerprint differs); the job is
  created when missing, replaced when it is bound to another pool or completed.
- The merge task is replaced whenever any fan-out task is created or replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runner.state import Desired, Observed

Change = Literal["create", "update", "replace", "delete", "noop"]
MARKERS: Mapping[str, str] = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "noop": " ",
}

ResourceKind = Literal[
    "container",  # id: container key; details: {"name"}
    "upload",  # id: container key; details: {"blobs": [names], "count", "bytes"}
    "pool",  # id: pool id; details: what differs / size, image, node agent sku
    "job",  # id: job id
    "tasks",  # id: job id; details: {"ids": [task ids]} (create or replace a group)
    "merge",  # id: merge task id
    "download",  # id: container key; details: {"to", "pattern"}
    "cleanup",  # id: "containers" | "job" | "pool" | "logs"; details: {"policy"}
]

PLAN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Action:
    """One step of a plan: a change to one resource (or one group of tasks)."""

    kind: ResourceKind
    id: str
    change: Change
    reason: str = ""  # why, in a few words: "missing", "fingerprint changed", "failed"
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-safe, no secrets

    @property
    def marker(self) -> str:
        return MARKERS[self.change]


@dataclass(frozen=True)
class Plan:
    """An ordered list of actions, with the desired state they realise."""

    desired: Desired
    actions: tuple[Action, ...]
    target: str  # "local" | "azure"
    observed_digest: str  # sha256 of the observed state this plan was made against
    format_version: int = PLAN_FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return any(a.change != "noop" for a in self.actions if a.kind != "cleanup")


def diff(desired: Desired, observed: Observed, target: str = "local") -> Plan:
    """Compare desired with observed state; pure, no I/O."""
    raise NotImplementedError
