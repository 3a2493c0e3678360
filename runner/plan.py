"""The plan: desired state against observed state, as data.

`diff(desired, observed)` is a pure function returning a `Plan` (frozen dataclasses,
`runner.actions`, with a stable JSON form in `runner.plan_json`, see
docs/plan-json.md). `runner.apply` executes a Plan and makes no decisions of its own;
`runner.show` renders one for humans. Which tasks run is decided in
`runner.plan_tasks`; the actions per kind of resource are made in `runner.plan_storage`
(containers, uploads, downloads), `runner.plan_compute` (pool, job, clean-up) and
`runner.plan_steps` (tasks, step by step).

Semantics (the contract between diff and apply):
- A task is *done* when the live job holds it completed with result success and the
  same fingerprint (`done`), or, when the job no longer holds it, the ledger holds its
  id with the same fingerprint (`done earlier`: not in the job; a job that can no
  longer take tasks stands in for a lost ledger, `plan_tasks.done_earlier`). Done tasks are
  no-ops. Active/preparing/running tasks with the same fingerprint are left to run
  (no-op, "in progress"). Missing tasks are created; tasks of the live job whose
  fingerprint changed or that failed are replaced (deleted and re-created).
- A task's fingerprint follows the DAG (it covers those of the tasks it waits on), so
  an edit changes the tasks below it too; a task runs again when a task it waits on
  runs (`inputs re-run`), and when it is done but its outputs are needed and gone
  (`outputs gone`).
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
  created when missing, replaced when it is bound to another pool or completed. A
  pool that settled with fewer nodes than asked (a quota) is resized again, and its
  nodes whose start task failed (an expired SAS) are rebooted (`update`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TypeVar

from runner.actions import MARKERS, Action, Change, TasksAction
from runner.plan_compute import cleanup_actions, job_action, pool_action
from runner.plan_steps import RUNS, StepPlan, step_plans, task_actions
from runner.plan_storage import container_actions, download_actions
from runner.plan_tasks import DONE_EARLIER, all_tasks, live_tasks, plan_tasks, usable_job
from runner.state import Desired, Observed, ObservedTask

__all__ = [
    "MARKERS",
    "Action",
    "Change",
    "Plan",
    "all_tasks",
    "diff",
    "digest",
    "submitted",
    "tasks_in_job",
]

# 2: tasks are planned step by step (`steps`, and `step` on each tasks action) instead of
# a fan-out and a `merge` action
PLAN_FORMAT_VERSION = 2
A = TypeVar("A", bound=Action)


@dataclass(frozen=True)
class Plan:
    """An ordered list of actions, with the desired state they realise."""

    desired: Desired
    actions: tuple[Action, ...]
    steps: tuple[StepPlan, ...]
    target: str  # "local" | "azure"
    observed_digest: str  # sha256 of the observed state this plan was made against
    format_version: int = PLAN_FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return any(a.change != "noop" for a in self.actions if a.kind != "cleanup")

    def of(self, kind: type[A]) -> list[A]:
        """The actions of one kind, in order."""
        return [a for a in self.actions if isinstance(a, kind)]


def digest(observed: Observed) -> str:
    """A digest of what in the observed state decides a plan: blobs and their MD5s, the
    pool's identity and size, the job, each task's fingerprint and whether it is done,
    failed or pending, the ledger, the local download targets and the kept copies.
    Node states (but how many nodes failed their start task, and whether the pool
    settled short of nodes) and running/active flips are left out, so a saved plan
    stays valid while its tasks merely progress."""

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
        else [
            pool.state,
            pool.fingerprint,
            # an autoscale pool's targets move with its formula: its formula counts
            repr(pool.autoscale) if pool.autoscale else pool.dedicated_target,
            None if pool.autoscale else pool.spot_target,
            pool.short,
            pool.node_states.get("starttaskfailed", 0),
        ],
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
        for a in plan.of(TasksAction)
        if a.change != "delete" and a.reason != DONE_EARLIER
        for i in a.ids
    }


def submitted(plan: Plan) -> list[str]:
    """The IDs of the tasks apply submits (created or replaced), barrier tasks included,
    in submission order."""
    ids = {i for a in plan.of(TasksAction) if a.change in RUNS for i in a.ids}
    return [t.id for t in all_tasks(plan.desired) if t.id in ids]


def diff(desired: Desired, observed: Observed, target: str = "local") -> Plan:
    """Compare desired with observed state; pure, no I/O."""
    job_usable = usable_job(desired, observed)
    tp = plan_tasks(desired, observed, live_tasks(desired, observed))
    actions: list[Action] = []
    if tp.run_work:
        actions += container_actions(desired, observed, tp)
        actions.append(pool_action(desired, observed))
        actions.append(job_action(desired, observed, job_usable))
    actions += task_actions(desired, tp)
    if tp.run_work or tp.downloads:
        actions += download_actions(desired, tp)
        actions += cleanup_actions(desired)
    return Plan(
        desired=desired,
        actions=tuple(actions),
        steps=step_plans(desired, tp),
        target=target,
        observed_digest=digest(observed),
    )
