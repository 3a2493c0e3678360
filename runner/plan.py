"""The plan: desired state against observed state, as data.

`diff(desired, observed)` is a pure function returning a `Plan` (frozen dataclasses
with a stable JSON form in `runner.plan_json`, see docs/plan-json.md). `runner.apply` executes a Plan and
makes no decisions of its own; `runner.show` renders one for humans.

Semantics (the contract between diff and apply):
- A task is *done* when the live job holds it completed with result success and the
  same fingerprint, or the ledger holds its id with the same fingerprint. Done tasks
  are no-ops. Active/preparing/running tasks with the same fingerprint are left to
  run (no-op, counted as "in progress"). Tasks that are missing are created; tasks
  whose fingerprint changed or that failed are replaced (deleted and re-created).
- Tasks of the live job that the spec no longer renders are deleted.
- When every task (and the merge) is done, nothing else is needed: containers,
  uploads, pool and job that are absent stay absent. If some done tasks are not in
  the ledger yet (their outputs were never downloaded), the plan only downloads;
  otherwise it has no changes.
- When tasks must run, containers are created when missing; uploads are the blobs
  whose MD5 differs or is absent; the pool is created, resized (`update`: only node
  counts differ) or replaced (anything in the pool fingerprint differs); the job is
  created when missing, replaced when it is bound to another pool or completed.
- The merge task is replaced whenever any fan-out task is created or replaced; done
  fan-out tasks whose output containers are gone are then replaced too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runner import shell
from runner.state import Desired, DesiredTask, Observed, ObservedTask

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


def all_tasks(desired: Desired) -> tuple[DesiredTask, ...]:
    """Every task of the job in submission order: fan-out, barriers, merge."""
    from runner.render import barrier_tasks

    merge = (desired.job.merge,) if desired.job.merge is not None else ()
    return desired.job.tasks + barrier_tasks(desired) + merge


def digest(observed: Observed) -> str:
    """A digest of what in the observed state decides a plan: blobs and their MD5s, the
    pool's identity and size, the job, each task's fingerprint and whether it is done,
    failed or pending, the ledger. Node states and running/active flips are left out,
    so a saved plan stays valid while its tasks merely progress."""

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
    }
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


def task_status(
    t: DesiredTask, live: ObservedTask | None, ledger: Mapping[str, str]
) -> tuple[Change, str]:
    """What to do with one task, and why."""
    if ledger.get(t.id) == t.fingerprint:
        return "noop", "done"
    if live is None:
        return "create", "missing"
    if live.fingerprint != t.fingerprint:
        return "replace", "changed"
    if live.state == "completed":
        return ("noop", "done") if live.result == "success" else ("replace", "failed")
    return "noop", "in progress"


def diff(desired: Desired, observed: Observed, target: str = "local") -> Plan:
    """Compare desired with observed state; pure, no I/O."""
    actions: list[Action] = []
    job = observed.job
    job_usable = (
        job is not None
        and job.state == "active"
        and job.pool_id == desired.pool.id
        and (job.uses_task_dependencies or not desired.job.uses_task_dependencies)
    )
    live_tasks = job.tasks if job is not None and job_usable else {}
    groups: dict[tuple[Change, str], list[DesiredTask]] = {}
    fan_out_ids = {t.id for t in desired.job.tasks}
    merge_change: tuple[Change, str] | None = None
    for t in all_tasks(desired):
        change, reason = task_status(t, live_tasks.get(t.id), observed.ledger)
        if t.id not in fan_out_ids and t is desired.job.merge:
            merge_change = (change, reason)
            continue
        groups.setdefault((change, reason), []).append(t)
    # tasks of a kept job that the spec no longer renders (an input was removed)
    removed = sorted(set(live_tasks) - {t.id for t in all_tasks(desired)})
    fan_out_changes = any(change != "noop" for change, _ in groups)
    if merge_change is not None and fan_out_changes and merge_change[0] == "noop":
        merge_change = ("replace", "inputs re-run")
    if merge_change is not None and merge_change[0] != "noop":
        _rerun_lost_outputs(desired, observed, groups)
    # done in the live job but not yet in the ledger: the outputs were never downloaded
    # (an apply was interrupted after the tasks finished), so the run is not over
    undownloaded = [
        t
        for t in all_tasks(desired)
        if observed.ledger.get(t.id) != t.fingerprint
        and task_status(t, live_tasks.get(t.id), {})[1] == "done"
    ]
    pending = (
        fan_out_changes or bool(removed) or (merge_change is not None and merge_change[0] != "noop")
    )
    in_progress = any(reason == "in progress" for _, reason in groups) or (
        merge_change is not None and merge_change[1] == "in progress"
    )
    # tasks to run or still running need containers, uploads, the pool and the job;
    # tasks done but not downloaded only need the download
    run_work = pending or in_progress
    work = run_work or bool(undownloaded)

    if run_work:
        for c in desired.containers:
            live = observed.containers.get(c.name)
            logs = c.key == "logs"
            actions.append(
                Action(
                    "container",
                    c.key,
                    "noop" if live else "create",
                    "" if live else "missing",
                    {"name": c.name, "logs": logs},
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
        actions.append(_pool_action(desired, observed))
        if job is None:
            actions.append(
                Action("job", desired.job.id, "create", "missing", _job_details(desired))
            )
        elif not job_usable:
            why = (
                "bound to another pool" if job.pool_id != desired.pool.id else f"job is {job.state}"
            )
            if job.state == "active" and job.pool_id == desired.pool.id:
                why = "needs task dependencies"
            actions.append(Action("job", desired.job.id, "replace", why, _job_details(desired)))
        else:
            actions.append(Action("job", desired.job.id, "noop", "", _job_details(desired)))
    if removed:
        actions.append(
            Action(
                "tasks",
                desired.job.id,
                "delete",
                "not in the spec",
                {"count": len(removed), "ids": removed, "sample": []},
            )
        )
    for change, reason in sorted(groups, key=lambda k: ("create", "replace", "noop").index(k[0])):
        actions.append(
            Action(
                "tasks", desired.job.id, change, reason, _tasks_details(groups[(change, reason)])
            )
        )
    if desired.job.merge is not None and merge_change is not None:
        m = desired.job.merge
        details = {
            **_tasks_details([m]),
            "after": len(desired.job.tasks),
            "barriers": sum(1 for t in all_tasks(desired) if t.display == "barrier"),
            "on_failure": "run_anyway"
            if any(t.on_dependency_failure == "satisfy" for t in desired.job.tasks[:1])
            else "block",
        }
        actions.append(Action("merge", m.id, merge_change[0], merge_change[1], details))
    if work:
        for d in desired.downloads:
            actions.append(
                Action(
                    "download",
                    d.container,
                    "create",
                    "",
                    {"name": d.container_name, "to": d.to, "pattern": d.pattern},
                )
            )
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


def _rerun_lost_outputs(
    desired: Desired, observed: Observed, groups: dict[tuple[Change, str], list[DesiredTask]]
) -> None:
    """The merge reads the fan-out's outputs from their containers. When the merge must
    run again but a container holding done tasks' outputs is gone (clean-up deleted
    it), those tasks run again too, so that the merge sees every result."""
    lost = {
        t.id
        for t in desired.job.tasks
        if any(
            desired.container(o.container).name not in observed.containers
            for o in t.outputs
            if o.container != "logs"
        )
    }
    done = groups.get(("noop", "done"), [])
    rerun = [t for t in done if t.id in lost]
    if rerun:
        groups[("noop", "done")] = [t for t in done if t.id not in lost]
        if not groups[("noop", "done")]:
            del groups[("noop", "done")]
        groups.setdefault(("replace", "outputs gone"), []).extend(rerun)


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
