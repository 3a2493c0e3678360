"""The plan: desired state against observed state, as data.

`diff(desired, observed)` is a pure function returning a `Plan` (frozen dataclasses
with a stable JSON form in `runner.plan_json`, see docs/plan-json.md). `runner.apply`
executes a Plan and makes no decisions of its own; `runner.show` renders one for
humans. Which tasks run is decided in `runner.plan_tasks`.

Semantics (the contract between diff and apply):
- A task is *done* when the live job holds it completed with result success and the
  same fingerprint (`done`), or, when the job no longer holds it, the ledger holds its
  id with the same fingerprint (`done earlier`: not in the job). Done tasks are
  no-ops. Active/preparing/running tasks with the same fingerprint are left to run
  (no-op, "in progress"). Missing tasks are created; tasks of the live job whose
  fingerprint changed or that failed are replaced (deleted and re-created).
- A task runs again when a task it waits on runs (`inputs re-run`), and when it is
  done but its outputs are needed and gone (`outputs gone`).
- A task never waits on a task that is not in the job: apply submits each task with
  only the dependencies the job holds (`tasks_in_job`).
- Tasks of the live job that the spec no longer renders are deleted.
- A container that tasks write to and that clean-up deleted is restored from its
  kept copy (`restore`) whenever tasks run.
- Downloads are part of the desired state: one whose local files are missing or
  changed is planned (from its container, or from the kept copy when the container
  is gone). When every task is done and every download in place: no changes.
- When tasks must run, containers are created when missing; uploads are the blobs
  whose MD5 differs or is absent; the pool is created, resized (`update`: only node
  counts differ) or replaced (anything in the pool fingerprint differs); the job is
  created when missing, replaced when it is bound to another pool or completed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runner import downloads, shell
from runner.plan_tasks import (
    DONE_EARLIER,
    Change,
    TaskPlan,
    all_tasks,
    live_tasks,
    plan_tasks,
    usable_job,
)
from runner.state import Desired, DesiredTask, Observed, ObservedTask

__all__ = ["Action", "Change", "Plan", "all_tasks", "diff", "digest", "tasks_in_job"]
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
    "restore",  # id: container key; details: {"name", "count", "bytes"} (from the kept copy)
    "download",  # id: container key; details: {"name", "to", "pattern", "source"}
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


def digest(observed: Observed) -> str:
    """A digest of what in the observed state decides a plan: blobs and their MD5s, the
    pool's identity and size, the job, each task's fingerprint and whether it is done,
    failed or pending, the ledger, the local download targets and the kept copies.
    Node states and running/active flips are left out, so a saved plan stays valid
    while its tasks merely progress."""

    def bucket(t: ObservedTask) -> str:
        if t.state != "completed":
            return "pending"
        return "done" if t.result == "success" else "failed"

    pool = observed.pool
    job = observed.job
    view = {
        "containers": {
            n: sorted((b.name, b.md5) for b in c.blobs.values())
            for n, c in observed.containers.items()
        },
        "pool": None
        if pool is None
        else [pool.state, pool.fingerprint, pool.dedicated_target, pool.spot_target],
        "job": None
        if job is None
        else [
            job.state,
            job.pool_id,
            sorted((t.id, t.fingerprint, bucket(t)) for t in job.tasks.values()),
        ],
        "ledger": sorted(observed.ledger.items()),
        "downloads": sorted(observed.downloads.items()),
        "kept": {
            n: [sorted((b.name, b.md5) for b in k.blobs.values()), sorted(k.tasks.items())]
            for n, k in observed.kept.items()
        },
    }
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


def tasks_in_job(plan: Plan) -> set[str]:
    """The tasks the job holds once apply has deleted and submitted what the plan says:
    every task of the plan but those done in an earlier run (whose job is gone)."""
    return {
        i
        for a in plan.actions
        if a.kind in ("tasks", "merge") and a.change != "delete" and a.reason != DONE_EARLIER
        for i in a.details["ids"]
    }


def diff(desired: Desired, observed: Observed, target: str = "local") -> Plan:
    """Compare desired with observed state; pure, no I/O."""
    job_usable = usable_job(desired, observed)
    tp = plan_tasks(desired, observed, live_tasks(desired, observed))
    actions: list[Action] = []
    if tp.run_work:
        actions += _container_actions(desired, observed, tp)
        actions.append(_pool_action(desired, observed))
        actions.append(_job_action(desired, observed, job_usable))
    actions += _task_actions(desired, tp)
    if tp.run_work or tp.downloads:
        actions += _download_actions(desired, tp)
        cl = desired.cleanup
        for what, policy in (
            ("containers", cl.containers),
            ("job", cl.job),
            ("pool", cl.pool),
            ("logs", cl.logs),
        ):
            actions.append(Action("cleanup", what, "noop", "", {"policy": policy}))
    return Plan(
        desired=desired, actions=tuple(actions), target=target, observed_digest=digest(observed)
    )


def _container_actions(desired: Desired, observed: Observed, tp: TaskPlan) -> list[Action]:
    actions = []
    for c in desired.containers:
        live = observed.containers.get(c.name)
        actions.append(
            Action(
                "container",
                c.key,
                "noop" if live else "create",
                "" if live else "missing",
                {"name": c.name, "logs": c.key == "logs"},
            )
        )
        if c.key in tp.restore:
            kept = observed.kept[c.name]
            actions.append(
                Action(
                    "restore",
                    c.key,
                    "create",
                    "deleted by clean-up",
                    {
                        "name": c.name,
                        "count": len(kept.blobs),
                        "bytes": sum(b.size for b in kept.blobs.values()),
                    },
                )
            )
        stale = [
            u
            for u in c.uploads
            if live is None or (b := live.blobs.get(u.blob)) is None or b.md5 != u.md5
        ]
        if stale:
            actions.append(
                Action(
                    "upload",
                    c.key,
                    "create",
                    "missing" if live is None else "changed or missing",
                    {
                        "name": c.name,
                        "blobs": [u.blob for u in stale],
                        "count": len(stale),
                        "bytes": sum(u.size for u in stale),
                        "unchanged": len(c.uploads) - len(stale),
                    },
                )
            )
    return actions


def _job_action(desired: Desired, observed: Observed, usable: bool) -> Action:
    job = observed.job
    details = _job_details(desired)
    if job is None:
        return Action("job", desired.job.id, "create", "missing", details)
    if usable:
        return Action("job", desired.job.id, "noop", "", details)
    why = "bound to another pool" if job.pool_id != desired.pool.id else f"job is {job.state}"
    if job.state == "active" and job.pool_id == desired.pool.id:
        why = "needs task dependencies"
    return Action("job", desired.job.id, "replace", why, details)


_CHANGE_ORDER = ("delete", "create", "replace", "noop")


def _task_actions(desired: Desired, tp: TaskPlan) -> list[Action]:
    merge = desired.job.merge
    groups: dict[tuple[Change, str], list[DesiredTask]] = {}
    for t in tp.tasks:
        if t is not merge:
            groups.setdefault(tp.status[t.id], []).append(t)
    actions = []
    if tp.removed:
        details = {"count": len(tp.removed), "ids": tp.removed, "sample": []}
        actions.append(Action("tasks", desired.job.id, "delete", "not in the spec", details))
    for change, reason in sorted(groups, key=lambda k: _CHANGE_ORDER.index(k[0])):
        details = _tasks_details(groups[(change, reason)])
        actions.append(Action("tasks", desired.job.id, change, reason, details))
    if merge is not None:
        change, reason = tp.status[merge.id]
        in_job = tp.in_job()
        details = {
            **_tasks_details([merge]),
            "after": len(desired.job.tasks),
            "barriers": sum(1 for t in tp.tasks if t.display == "barrier"),
            "depends": len(merge.depends_on),
            "waits_on": sum(1 for d in merge.depends_on if d in in_job),
            "on_failure": "run_anyway"
            if any(t.on_dependency_failure == "satisfy" for t in desired.job.tasks[:1])
            else "block",
        }
        actions.append(Action("merge", merge.id, change, reason, details))
    return actions


def _download_actions(desired: Desired, tp: TaskPlan) -> list[Action]:
    actions = []
    for d in desired.downloads:
        planned = tp.downloads.get(downloads.key(d))
        if planned is None:
            continue
        reason, source = planned
        details = {"name": d.container_name, "to": d.to, "pattern": d.pattern, "source": source}
        actions.append(Action("download", d.container, "create", reason, details))
    return actions


def _pool_action(desired: Desired, observed: Observed) -> Action:
    p = desired.pool
    details: dict[str, Any] = {
        "vm_size": p.vm_size,
        "dedicated_nodes": p.dedicated_nodes,
        "spot_nodes": p.spot_nodes,
        "task_slots_per_node": p.task_slots_per_node,
        "image": p.image_alias or f"{p.publisher}/{p.offer}/{p.sku}/{p.version}",
        "image_reference": {
            "publisher": p.publisher,
            "offer": p.offer,
            "sku": p.sku,
            "version": p.version,
        },
        "node_agent_sku": p.node_agent_sku,
        "start_task": shell.unwrap(p.start_task.command_line) if p.start_task else None,
    }
    live = observed.pool
    if live is None:
        return Action("pool", p.id, "create", "missing", details)
    if live.state == "deleting":
        return Action("pool", p.id, "replace", "pool is being deleted", details)
    if live.fingerprint != p.fingerprint:
        return Action("pool", p.id, "replace", "image, size or start task changed", details)
    if (live.dedicated_target, live.spot_target) != (p.dedicated_nodes, p.spot_nodes):
        details["from_nodes"] = {"dedicated": live.dedicated_target, "spot": live.spot_target}
        return Action("pool", p.id, "update", "node count changed", details)
    return Action("pool", p.id, "noop", "", details)


def _job_details(desired: Desired) -> dict[str, Any]:
    j = desired.job
    return {
        "pool": j.pool_id,
        "timeout": j.timeout,
        "uses_task_dependencies": j.uses_task_dependencies,
        "max_parallel_tasks": j.max_parallel_tasks,
        "prepare": shell.unwrap(j.prepare.command_line) if j.prepare else None,
        "release": shell.unwrap(j.release.command_line) if j.release else None,
    }


SAMPLE_COMMANDS = 3


def _tasks_details(tasks: list[DesiredTask]) -> dict[str, Any]:
    return {
        "count": len(tasks),
        "ids": [t.id for t in tasks],
        "sample": [
            {"id": t.id, "command": shell.unwrap(t.command_line)} for t in tasks[:SAMPLE_COMMANDS]
        ],
    }
