"""The compute half of the diff: the pool (create, resize, replace) and the job (create,
replace), and the clean-up policies. Pure, no I/O."""

from __future__ import annotations

from runner import shell
from runner.actions import (
    Action,
    Change,
    CleanupAction,
    ImageReference,
    JobAction,
    NodeCounts,
    PoolAction,
)
from runner.state import Desired, Observed


def pool_action(desired: Desired, observed: Observed) -> PoolAction:
    p = desired.pool
    change, reason, before = _pool_change(desired, observed)
    return PoolAction(
        id=p.id,
        change=change,
        reason=reason,
        vm_size=p.vm_size,
        dedicated_nodes=p.dedicated_nodes,
        spot_nodes=p.spot_nodes,
        task_slots_per_node=p.task_slots_per_node,
        image=p.image_alias or f"{p.publisher}/{p.offer}/{p.sku}/{p.version}",
        image_reference=ImageReference(p.publisher, p.offer, p.sku, p.version),
        node_agent_sku=p.node_agent_sku,
        start_task=shell.unwrap(p.start_task.command_line) if p.start_task else None,
        from_nodes=before,
    )


def _pool_change(desired: Desired, observed: Observed) -> tuple[Change, str, NodeCounts | None]:
    p = desired.pool
    live = observed.pool
    if live is None:
        return "create", "missing", None
    if live.state == "deleting":
        return "replace", "pool is being deleted", None
    if live.fingerprint != p.fingerprint:
        return "replace", "image, size or start task changed", None
    if (live.dedicated_target, live.spot_target) != (p.dedicated_nodes, p.spot_nodes):
        return "update", "node count changed", NodeCounts(live.dedicated_target, live.spot_target)
    return "noop", "", None


def job_action(desired: Desired, observed: Observed, usable: bool) -> JobAction:
    j = desired.job
    change, reason = _job_change(desired, observed, usable)
    return JobAction(
        id=j.id,
        change=change,
        reason=reason,
        pool=j.pool_id,
        timeout=j.timeout,
        uses_task_dependencies=j.uses_task_dependencies,
        max_parallel_tasks=j.max_parallel_tasks,
        prepare=shell.unwrap(j.prepare.command_line) if j.prepare else None,
        release=shell.unwrap(j.release.command_line) if j.release else None,
    )


def _job_change(desired: Desired, observed: Observed, usable: bool) -> tuple[Change, str]:
    job = observed.job
    if job is None:
        return "create", "missing"
    if usable:
        return "noop", ""
    if job.pool_id != desired.pool.id:
        return "replace", "bound to another pool"
    if job.state == "active":
        return "replace", "needs task dependencies"
    return "replace", f"job is {job.state}"


def cleanup_actions(desired: Desired) -> list[Action]:
    cl = desired.cleanup
    policies = (
        ("containers", cl.containers),
        ("job", cl.job),
        ("pool", cl.pool),
        ("logs", cl.logs),
    )
    return [CleanupAction(id=what, change="noop", policy=policy) for what, policy in policies]
