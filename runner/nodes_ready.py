"""Waiting for a pool's nodes before monitoring its tasks: until the nodes are ready,
or the pool settled with fewer than asked (reported, and the run carries on), or a
start task failed on every node (an error, with the start task's stderr).
"""

from __future__ import annotations

import time

from runner.batch import Batch
from runner.errors import BwfError
from runner.failures import STDERR_TAIL
from runner.progress import Ui
from runner.runrecord import RunRecord
from runner.state import Desired, ObservedNode, ObservedPool

NODE_POLL_SECONDS = 0.5


def wait_for_nodes(desired: Desired, batch: Batch, ui: Ui, record: RunRecord) -> None:
    """Until the pool has its nodes ready (or some, once all are allocated). A pool
    that settled with fewer nodes than asked (a quota, no spot capacity) is reported,
    with Batch's resize errors, and the run carries on with the nodes it has; it fails
    only when none can run a task. A start task that failed on every node stops here,
    with its stderr."""
    p = desired.pool
    want = p.dedicated_nodes + p.spot_nodes
    if want == 0:
        return
    deadline = time.monotonic() + desired.job.timeout
    shown = ""
    while True:
        pool = batch.get_pool(p.id, with_nodes=False)
        nodes = batch.nodes(p.id)
        states: dict[str, int] = {}
        for n in nodes:
            states[n.state] = states.get(n.state, 0) + 1
        record.nodes(p.id, nodes)
        failed = [n for n in nodes if n.state in ("starttaskfailed", "unusable")]
        settled = pool is not None and pool.allocation_state == "steady"
        if failed and len(failed) == len(nodes) and (len(nodes) >= want or settled):
            raise _start_task_failed(desired, batch, failed[0])
        ready = states.get("idle", 0) + states.get("running", 0)
        text = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        if text != shown:
            ui.say(f"Pool [{p.id}] nodes: {text or 'allocating'}")
            shown = text
        if ready >= want or (ready and len(nodes) >= want):
            return
        short = settled and len(nodes) < want
        if short and pool is not None and _short_pool(desired, pool, nodes, ready, ui):
            record.pool_short(pool, (p.dedicated_nodes, p.spot_nodes))
            return
        if time.monotonic() > deadline:
            raise BwfError(
                f"pool {p.id}: nodes not ready after the job timeout ({text or 'none allocated'})"
            )
        time.sleep(NODE_POLL_SECONDS)


def _short_pool(
    desired: Desired, pool: ObservedPool, nodes: list[ObservedNode], ready: int, ui: Ui
) -> bool:
    """A steady pool with fewer nodes than asked: whether to carry on now (some are
    ready; the others are still starting, or will not come). Raises when no node ever
    can run a task."""
    p = desired.pool
    why = "; ".join(pool.resize_errors)
    usable = [n for n in nodes if n.state not in ("starttaskfailed", "unusable")]
    if not usable:
        raise BwfError(
            f"pool {p.id} got no node that can run tasks "
            f"({len(nodes)} of {p.dedicated_nodes + p.spot_nodes}): {why or 'no resize error given'}"
        )
    if not ready:
        return False
    ui.warn(
        f"Warning: pool [{p.id}] has {len(nodes)} of the {p.dedicated_nodes + p.spot_nodes} nodes "
        f"asked for{f' ({why})' if why else ''}; the tasks run on those, and the next apply "
        "that runs tasks asks for the others again."
    )
    return True


def _start_task_failed(desired: Desired, batch: Batch, node: ObservedNode) -> BwfError:
    stderr = batch.node_file(desired.pool.id, node.id, "startup/stderr.txt") or b""
    tail = "\n".join(stderr.decode(errors="replace").splitlines()[-STDERR_TAIL:])
    why = f"exit code {node.start_task_exit_code}"
    if node.start_task_failure and "FailureExitCode" not in node.start_task_failure:
        why = node.start_task_failure
    return BwfError(
        f"the start task failed on node {node.id} of pool {desired.pool.id} ({why}); "
        f"no task can run there. Its stderr ends with:\n{tail}"
    )
