"""The compute half of the diff: the pool (create, resize, replace) and the job (create,
replace), and the clean-up policies. Pure, no I/O."""

from __future__ import annotations

from typing import Literal

from runner import shell
from runner.actions import (
    Action,
    Change,
    CleanupAction,
    ImageReference,
    JobAction,
    NodeCounts,
    PoolAction,
    PoolAutoscale,
    RegistryLogin,
)
from runner.state import Desired, Observed, ObservedPool
from runner.words import plural


def pool_action(desired: Desired, observed: Observed) -> PoolAction:
    p = desired.pool
    change, reason = _pool_change(desired, observed)
    live = observed.pool
    keeps = live is not None and change in ("update", "noop")
    c = p.containers
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
        from_nodes=_resized_from(desired, live) if keeps else None,
        reboot=_start_task_failed(live) if keeps else 0,
        autoscale=PoolAutoscale(p.autoscale.formula, p.autoscale.interval) if p.autoscale else None,
        autoscale_change=_autoscale_change(desired, live) if keeps else None,
        container_images=c.images if c is not None else None,
        container_registries=tuple(
            RegistryLogin(g.server, g.username, g.password_env) for g in c.registries
        )
        if c is not None
        else (),
    )


def _autoscale_change(
    desired: Desired, live: ObservedPool | None
) -> Literal["enable", "disable"] | None:
    """What a kept pool's autoscale needs: a formula or interval the pool does not have
    yet (enable), or no autoscale any more (disable, then resize)."""
    want = desired.pool.autoscale
    have = live.autoscale if live is not None else None
    if want is not None and want != have:
        return "enable"
    if want is None and have is not None:
        return "disable"
    return None


def _pool_change(desired: Desired, observed: Observed) -> tuple[Change, str]:
    p = desired.pool
    live = observed.pool
    if live is None:
        return "create", "missing"
    if live.state == "deleting":
        return "replace", "pool is being deleted"
    if live.fingerprint != p.fingerprint:
        return "replace", "image, size or start task changed"
    reasons = []
    autoscale = _autoscale_change(desired, live)
    if autoscale == "enable":
        reasons.append("autoscale changed" if live.autoscale else "autoscale enabled")
    elif autoscale == "disable":
        reasons.append("autoscale removed")
    if p.autoscale is not None:
        pass  # its formula sets the node counts
    elif (live.dedicated_target, live.spot_target) != (p.dedicated_nodes, p.spot_nodes):
        reasons.append("node count changed")
    elif live.short:  # a quota or spot capacity left it short: ask again
        reasons.append("fewer nodes than asked")
    failed = _start_task_failed(live)
    if failed:  # its SAS may have expired: signed afresh, then run again
        reasons.append(f"start task failed on {plural(failed, 'node')}")
    return ("update", ", ".join(reasons)) if reasons else ("noop", "")


def _resized_from(desired: Desired, live: ObservedPool | None) -> NodeCounts | None:
    """The node counts a resize starts from: the targets when they differ from the
    spec's, the nodes it has when it settled short of them; None: no resize."""
    p = desired.pool
    if live is None or p.autoscale is not None:
        return None
    if (live.dedicated_target, live.spot_target) != (p.dedicated_nodes, p.spot_nodes):
        return NodeCounts(live.dedicated_target, live.spot_target)
    if live.short:
        return NodeCounts(live.current_dedicated or 0, live.current_spot or 0)
    return None


def _start_task_failed(live: ObservedPool | None) -> int:
    return live.node_states.get("starttaskfailed", 0) if live is not None else 0


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
