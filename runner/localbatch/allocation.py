"""Nodes in and out of pools: resizing (grow, shrink, remove chosen nodes, stop), reboot
and reimage, scheduling disabled and enabled. Mixed into `Scheduler`; every method runs
with the store's lock held.

What happens to a node's running tasks follows the option the request gave, as on
Batch: `requeue` kills them and puts them back in the queue (`requeueCount` counts it,
not `retryCount`), `terminate` kills them and completes them as failed, `taskcompletion`
(and `retaineddata`, which is the same here: task data is kept until the node goes)
lets them finish while the node takes no new ones.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from runner.localbatch import stats
from runner.localbatch.harsh import Harsh
from runner.localbatch.nodes import Node, Process, kill_under
from runner.localbatch.store import Obj, Store, now_iso, set_plain_state, touch

if TYPE_CHECKING:
    from runner.localbatch.node_tasks import NodeTasks
    from runner.localbatch.runs import Running
    from runner.localbatch.trash import Trash

WAIT_FOR_TASKS = ("taskcompletion", "retaineddata")
# How a run is cancelled when its task goes back to the queue: asked for by a user
# (`requeue`), its node died (`lost`, a retry too) or was preempted (`preempted`).
REQUEUED = ("requeue", "lost", "preempted")


def idle_state(node: Obj) -> str:
    """A node without running tasks: `offline` when its scheduling is disabled."""
    return "offline" if node.get("schedulingState") == "disabled" else "idle"


def takes_tasks(node: Obj) -> bool:
    return (
        node["state"] in ("idle", "running")
        and node.get("schedulingState") != "disabled"
        and not node.get("_leaving")
        and not node.get("_restart")
    )


def begin_resize(pool: Obj, delay: float) -> None:
    """The pool starts resizing towards its targets; the scheduler allocates or removes
    its nodes once `delay` seconds have passed (`BWF_LOCALBATCH_ALLOCATION_DELAY`)."""
    pool["allocationState"] = "resizing"
    pool["allocationStateTransitionTime"] = now_iso()
    pool.pop("resizeErrors", None)  # they describe the last resize, once steady
    Harsh.delay(pool, delay)


def _image(pool: Obj) -> Obj:
    return dict((pool.get("virtualMachineConfiguration") or {}).get("imageReference") or {})


class Allocation:
    """Mixed into `Scheduler`, which provides what is declared here."""

    if TYPE_CHECKING:
        store: Store
        home: Path
        url: str
        harsh: Harsh
        cond: threading.Condition
        running: dict[tuple[str, str], Running]
        start_tasks: dict[tuple[str, str], Process]
        workers: ThreadPoolExecutor
        trash: Trash
        node_tasks: NodeTasks

    # --- running tasks on a node -------------------------------------------------------

    def runs_on(self, pool_key: str, node_id: str) -> list[Running]:
        return [r for r in self.running.values() if r.pool_key == pool_key and r.node_id == node_id]

    def cancel_runs(self, runs: list[Running], how: str) -> None:
        """Stop runs: `requeue`, `terminate`, `lost` (the node died) or `delete`."""
        for run in runs:
            run.cancel = run.cancel or how
            if run.process:
                run.process.terminate()

    # --- growing and shrinking -----------------------------------------------------------

    def _new_node(self, pool_key: str, pool: Obj, dedicated: bool) -> None:
        seq = self.store.next_seq()
        node_id = f"tvmps_{hashlib.sha1(pool_key.encode()).hexdigest()[:12]}_{seq:06d}"
        root = self.home / "nodes" / pool["id"] / node_id
        now = now_iso()
        node: Obj = {
            "id": node_id,
            "url": f"{self.url}/pools/{pool['id']}/nodes/{node_id}",
            "state": "creating",
            "schedulingState": "enabled",
            "stateTransitionTime": now,
            "lastBootTime": now,
            "allocationTime": now,
            "ipAddress": "127.0.0.1",
            "ipv6Address": "::1",
            "affinityId": f"TVM:{node_id}",
            "vmSize": pool.get("vmSize"),
            "totalTasksRun": 0,
            "totalTasksSucceeded": 0,
            "runningTasksCount": 0,
            "runningTaskSlotsCount": 0,
            "isDedicated": dedicated,
            "nodeAgentInfo": {"version": "1.12.0-local", "lastUpdateTime": now},
            "virtualMachineInfo": {"imageReference": _image(pool)},
            "_root": str(root),
        }
        Node(pool["id"], node_id, root).create()
        self.store.nodes[pool_key][node_id] = node
        usage = {
            "poolId": pool["id"],
            "vmSize": pool.get("vmSize") or "",
            "dedicated": dedicated,
            "cores": stats.vcpus(pool.get("vmSize") or ""),
            "start": now,
        }
        self.store.usage[node_id] = usage
        self.store.save("usage", node_id, usage)
        self._reboot(pool_key, node)

    def _resize(self, pool_key: str, pool: Obj) -> None:
        """One step towards the pool's targets; steady once no node is still leaving."""
        nodes = self.store.nodes.setdefault(pool_key, {})
        if pool.get("allocationState") == "stopping":
            self._stop_leaving(pool_key)
            self._steady(pool_key, pool)
            return
        wanted: list[bool] = []  # the kind (dedicated or not) of each node to add
        for dedicated, key in ((True, "targetDedicatedNodes"), (False, "targetLowPriorityNodes")):
            staying = [
                n
                for n in nodes.values()
                if not n.get("_leaving") and bool(n.get("isDedicated")) == dedicated
            ]
            target = int(pool.get(key) or 0)
            wanted += [dedicated] * (target - len(staying))
            # idle nodes go first, then the newest
            surplus = sorted(staying, key=lambda n: (n["state"] == "running", -n["_seq"]))
            for node in surplus[: max(len(staying) - target, 0)]:
                node["_leaving"] = pool.get("_deallocation") or "requeue"
        waiting = self._remove_leaving(pool_key)
        for dedicated in self._grant(pool_key, pool, wanted):
            self._new_node(pool_key, pool, dedicated)
        if waiting:
            self._count_nodes(pool_key, pool)
            return
        self._steady(pool_key, pool)

    def _remove_leaving(self, pool_key: str) -> bool:
        """Remove the pool's leaving nodes that may go now; whether some must wait for
        their tasks to complete."""
        waiting = False
        for node in [n for n in self.store.nodes[pool_key].values() if n.get("_leaving")]:
            option = node["_leaving"]
            if option in WAIT_FOR_TASKS and self.runs_on(pool_key, node["id"]):
                if node["state"] != "leavingpool":
                    set_plain_state(node, "leavingpool")
                    self.store.save_node(pool_key, node)
                waiting = True
                continue
            how = "terminate" if option == "terminate" else "requeue"
            self._remove_node(pool_key, node["id"], how)
        return waiting

    def _grant(self, pool_key: str, pool: Obj, wanted: list[bool]) -> list[bool]:
        """The nodes to add that the account's node quota allows (dedicated ones first);
        what it refuses is the pool's `resizeErrors`."""
        if not wanted:
            return []
        current = len(self.store.nodes[pool_key])
        elsewhere = sum(len(n) for key, n in self.store.nodes.items() if key != pool_key)
        granted, errors = self.harsh.grant_nodes(current + len(wanted), current, elsewhere)
        if errors:
            pool["resizeErrors"] = errors
        return sorted(wanted, reverse=True)[: granted - current]

    def _count_nodes(self, pool_key: str, pool: Obj) -> None:
        nodes = self.store.nodes.get(pool_key, {}).values()
        pool["currentDedicatedNodes"] = sum(1 for n in nodes if n.get("isDedicated"))
        pool["currentLowPriorityNodes"] = sum(1 for n in nodes if not n.get("isDedicated"))

    def _steady(self, pool_key: str, pool: Obj) -> None:
        self._count_nodes(pool_key, pool)
        pool["allocationState"] = "steady"
        pool["allocationStateTransitionTime"] = now_iso()
        pool.pop("_deallocation", None)
        touch(pool)
        self.store.save("pool", pool_key, pool)

    def _stop_leaving(self, pool_key: str) -> None:
        """A stopped resize keeps the nodes that were still leaving."""
        for node in self.store.nodes.get(pool_key, {}).values():
            if node.pop("_leaving", None) is not None:
                if node["state"] == "leavingpool":
                    busy = bool(self.runs_on(pool_key, node["id"]))
                    set_plain_state(node, "running" if busy else idle_state(node))
                self.store.save_node(pool_key, node)

    def _remove_node(self, pool_key: str, node_id: str, how: str = "requeue") -> None:
        self.cancel_runs(self.runs_on(pool_key, node_id), how)
        proc = self.start_tasks.pop((pool_key, node_id), None)
        if proc:
            proc.terminate()
        node = self.store.nodes[pool_key].pop(node_id)
        # what the start task left running, and job preparation and release tasks, too
        kill_under(Path(node["_root"]))
        self.store.remove("node", f"{pool_key}/{node_id}")
        usage = self.store.usage.get(node_id)
        if usage is not None and not usage.get("end"):
            usage["end"] = now_iso()
            self.store.save("usage", node_id, usage)
        self.trash.discard(Path(node["_root"]))

    # --- reboot and reimage ------------------------------------------------------------------

    def _reboot(self, pool_key: str, node: Obj) -> None:
        """The node boots (again): its start task runs, then it takes tasks. Each boot
        has a number, so that what an earlier boot still runs records nothing."""
        set_plain_state(node, "starting")
        node["runningTasksCount"] = 0
        node["runningTaskSlotsCount"] = 0
        node["lastBootTime"] = now_iso()
        node["_boot"] = node.get("_boot", 0) + 1
        node.pop("errors", None)
        node.pop("_back", None)  # a preempted node's return, when it comes back early
        self.store.save_node(pool_key, node)
        self.workers.submit(self.node_tasks.run_start_task, pool_key, node["id"], node["_boot"])

    def restart_node(self, pool_key: str, node: Obj, kind: str, option: str) -> None:
        """A reboot or reimage request (`kind`), done once the node's tasks let it."""
        node["_restart"] = kind
        if option not in WAIT_FOR_TASKS:
            self.cancel_runs(self.runs_on(pool_key, node["id"]), option)
            set_plain_state(node, "rebooting" if kind == "reboot" else "reimaging")
        self.store.save_node(pool_key, node)

    def _restart_nodes(self, pool_key: str) -> None:
        for node in list(self.store.nodes.get(pool_key, {}).values()):
            kind = node.get("_restart")
            if not kind or node.get("_leaving") or self.runs_on(pool_key, node["id"]):
                continue
            shown = "rebooting" if kind == "reboot" else "reimaging"
            if node["state"] != shown:
                set_plain_state(node, shown)  # seen for one scheduling pass at least
                self.store.save_node(pool_key, node)
                continue
            node.pop("_restart")
            self.boot_again(pool_key, node, wipe=kind == "reimage")

    def boot_again(self, pool_key: str, node: Obj, *, wipe: bool) -> None:
        """The node goes down with every process on it and boots again; with `wipe` (a
        reimage, a preempted spot node's new VM) its disk starts empty."""
        self.stop_processes(pool_key, node)
        if wipe:
            root = Path(node["_root"])
            self.trash.discard(root)
            Node(self.store.pools[pool_key]["id"], node["id"], root).create()
            node.pop("startTaskInfo", None)
        self._forget_preparation(pool_key, node["id"], "reimage" if wipe else "reboot")
        self._reboot(pool_key, node)

    def stop_processes(self, pool_key: str, node: Obj) -> None:
        """End every process of the node: its start task's tree, job tasks, tasks."""
        proc = self.start_tasks.pop((pool_key, node["id"]), None)
        if proc:
            proc.terminate()
        kill_under(Path(node["_root"]))

    def _forget_preparation(self, pool_key: str, node_id: str, kind: str) -> None:
        """Job preparation runs again after a reimage, and after a reboot unless the job
        said `rerunOnNodeRebootAfterSuccess: false`."""
        for job_key, job in self.store.jobs.items():
            prep = job.get("jobPreparationTask") or {}
            if kind == "reboot" and prep.get("rerunOnNodeRebootAfterSuccess") is False:
                continue
            prepared = job.get("_prepared") or []
            if [pool_key, node_id] in prepared:
                prepared.remove([pool_key, node_id])
                self.store.save("job", job_key, job)

    # --- scheduling --------------------------------------------------------------------------

    def disable_scheduling(self, pool_key: str, node: Obj, option: str) -> None:
        node["schedulingState"] = "disabled"
        if option not in WAIT_FOR_TASKS:
            self.cancel_runs(self.runs_on(pool_key, node["id"]), option)
        if node["state"] == "idle":
            set_plain_state(node, "offline")
        self.store.save_node(pool_key, node)

    def enable_scheduling(self, pool_key: str, node: Obj) -> None:
        node["schedulingState"] = "enabled"
        if node["state"] == "offline":
            set_plain_state(node, "idle")
        self.store.save_node(pool_key, node)
