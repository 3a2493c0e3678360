"""Pools, nodes and tasks in motion: resizing, start tasks, dispatch, retries, lifecycle.

One scheduler thread makes the decisions under the store's lock (who runs where, what
gets deleted); worker threads do the slow parts (downloads, processes, uploads) and
report back under the lock. Request handlers wake the scheduler after each change.
The scheduler is composed of `dispatch` (which task runs where), `node_tasks` (start,
preparation and release tasks), `preemption` (spot nodes), `autoscaling` (formulas at
their interval) and `containers` (podman), with `allocation` and `execution` mixed in.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runner.localbatch.allocation import Allocation
from runner.localbatch.autoscaling import Autoscaler, AutoscaleSettings
from runner.localbatch.containers import ContainerRuntime
from runner.localbatch.dispatch import Dispatcher
from runner.localbatch.execution import Execution
from runner.localbatch.faults import Faults
from runner.localbatch.harsh import TERMINATE_DELAY, Harsh
from runner.localbatch.node_tasks import NodeTasks
from runner.localbatch.nodes import Node, Process, is_ours, kill_group
from runner.localbatch.preemption import Preemption
from runner.localbatch.rest import iso_seconds
from runner.localbatch.runs import Running
from runner.localbatch.store import Obj, Store, now_iso, set_state, touch
from runner.localbatch.timing import TimingLog
from runner.localbatch.trash import Trash

__all__ = ["Running", "Scheduler", "iso_seconds"]

TICK = 0.2  # seconds between scheduling passes when nothing wakes the scheduler
# seconds a stopping service waits for its container tasks' trees to end (`bwf local
# down` gives it 10 s in all)
STOP_GRACE = 3.0


class Scheduler(Allocation, Execution):
    def __init__(
        self,
        store: Store,
        home: Path,
        account: str,
        url: str,
        faults: Faults,
        harsh: Harsh | None = None,
        *,
        containers: ContainerRuntime | None = None,
        preemption: Preemption | None = None,
        autoscale: AutoscaleSettings | None = None,
    ) -> None:
        self.store = store
        self.home = home
        self.account = account
        self.url = url
        self.faults = faults
        self.harsh = harsh or Harsh()
        self.containers = containers or ContainerRuntime.from_env()
        self.preemption = preemption or Preemption()
        self.timing = TimingLog.from_env()
        self.cond = threading.Condition(store.lock)
        self.running: dict[tuple[str, str], Running] = {}
        self.start_tasks: dict[tuple[str, str], Process] = {}
        self.workers = ThreadPoolExecutor(max_workers=128, thread_name_prefix="node")
        self.trash = Trash(home, self.workers)
        self.dispatcher = Dispatcher(self)
        self.node_tasks = NodeTasks(self)
        self.autoscaler = Autoscaler(self, autoscale or AutoscaleSettings())
        self.stopping = False
        self._recover()
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    @property
    def account_info(self) -> tuple[str, str]:
        """The account's name and URL, as tasks see them."""
        return self.account, self.url

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join(timeout=5)
        with self.cond:
            procs = [r.process for r in self.running.values() if r.process] + list(
                self.start_tasks.values()
            )
        for p in procs:
            p.terminate()
        # The workers that would remove their containers may not get to it before exit.
        # A container is removed once its supervisor has ended the tree: a `podman run`
        # killed while it creates the container would otherwise write it after the
        # removal.
        in_containers = [p for p in procs if p.container is not None]
        deadline = time.monotonic() + STOP_GRACE
        while any(p.returncode is None for p in in_containers) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.containers.remove(*(p.container.name for p in in_containers if p.container))
        self.workers.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                if self.stopping:
                    return
                try:
                    self._tick()
                except Exception:  # pragma: no cover - keep scheduling; the log shows it
                    import traceback

                    traceback.print_exc()
                self.cond.wait(TICK)

    def _recover(self) -> None:
        """After a restart: running tasks are re-queued (a retry, as after a node reboot),
        leftover processes of this service are killed, every node reboots."""
        st = self.store
        for job_key, tasks in st.tasks.items():
            for task_key, task in tasks.items():
                if task["state"] in ("preparing", "running"):
                    pgid = task.pop("_pgid", None)
                    if pgid and is_ours(pgid, f"AZ_BATCH_TASK_ID={task['id']}"):
                        kill_group(pgid)
                    container = (task.get("executionInfo") or {}).get("containerInfo") or {}
                    if container.get("containerId"):  # podman keeps it after its processes died
                        self.workers.submit(self.containers.remove, container["containerId"])
                    info = task.setdefault("executionInfo", {})
                    info["retryCount"] = info.get("retryCount", 0) + 1
                    info["requeueCount"] = info.get("requeueCount", 0) + 1
                    set_state(task, "active")
                    task.pop("nodeInfo", None)
                    st.save_task(job_key, task)
                if task["state"] == "active":
                    self.dispatcher.enqueue(job_key, task_key)
        for pool_key, nodes in st.nodes.items():
            for node in nodes.values():
                pgid = node.pop("_pgid", None)
                if pgid and is_ours(pgid, f"AZ_BATCH_NODE_ID={node['id']}"):
                    kill_group(pgid)
                self._reboot(pool_key, node)

    # --- helpers ---------------------------------------------------------------------

    def node_handle(self, pool_key: str, node: Obj) -> Node:
        pool = self.store.pools[pool_key]
        dedicated = bool(node.get("isDedicated", True))
        return Node(pool["id"], node["id"], Path(node["_root"]), dedicated)

    def enqueue(self, job_key: str, task_key: str) -> None:
        self.dispatcher.enqueue(job_key, task_key)

    def forget_task(self, job_key: str) -> None:
        """A task of the job was deleted: waiting tasks re-check their dependencies."""
        self.dispatcher.forget_task(job_key)

    # --- one scheduling pass (lock held) ---------------------------------------------------

    def _tick(self) -> None:
        st = self.store
        for pool_key in list(st.pools):
            pool = st.pools[pool_key]
            if pool["state"] == "deleting":
                if Harsh.due(pool):
                    self._delete_pool(pool_key)
                continue
            state = pool.get("allocationState")
            if state == "stopping" or (state == "resizing" and Harsh.due(pool)):
                self._resize(pool_key, pool)
            self._restart_nodes(pool_key)
            self.preemption.bring_back(self, pool_key)
        self.autoscaler.tick()
        for job_key in list(st.jobs):
            job = st.jobs[job_key]
            if job["state"] == "deleting":
                self._delete_job(job_key, job)
            elif job["state"] == "terminating":
                self._finish_terminating(job_key, job)
            elif job["state"] in ("disabling", "enabling"):
                self._settle_job_state(job_key, job)
            elif job["state"] == "active" and job.get("onAllTasksComplete") == "terminatejob":
                tasks = st.tasks.get(job_key, {})
                if tasks and all(t["state"] == "completed" for t in tasks.values()):
                    job.setdefault("executionInfo", {})["terminateReason"] = "AllTasksComplete"
                    set_state(job, "terminating")
                    Harsh.delay(job, TERMINATE_DELAY)
                    st.save("job", job_key, job)
        self.dispatcher.dispatch()

    # --- job disable and enable ------------------------------------------------------------

    def disable_job(self, job_key: str, job: Obj, option: str) -> None:
        """`requeue` and `terminate` stop the job's running tasks; `wait` lets them finish.
        The job is `disabling` until none runs, then `disabled`; it gets no new tasks."""
        set_state(job, "disabling")
        if option != "wait":
            self.cancel_runs([r for r in self.running.values() if r.job_key == job_key], option)
        self.store.save("job", job_key, job)

    def enable_job(self, job_key: str, job: Obj) -> None:
        set_state(job, "enabling")
        self.store.save("job", job_key, job)

    def _settle_job_state(self, job_key: str, job: Obj) -> None:
        if job["state"] == "enabling":
            set_state(job, "active")
        elif not any(r.job_key == job_key for r in self.running.values()):
            set_state(job, "disabled")
        else:
            return
        self.store.save("job", job_key, job)

    def _delete_pool(self, pool_key: str) -> None:
        for node_id in list(self.store.nodes.get(pool_key, {})):
            self._remove_node(pool_key, node_id)
        if any(r.pool_key == pool_key for r in self.running.values()):
            return  # wait until the killed tasks have been re-queued
        self.store.nodes.pop(pool_key, None)
        self.store.pools.pop(pool_key, None)
        self.store.remove("pool", pool_key)

    def _delete_job(self, job_key: str, job: Obj) -> None:
        """Its tasks stop at once; the job itself stays `deleting` until its due time."""
        busy = [r for r in self.running.values() if r.job_key == job_key]
        for r in busy:
            if r.cancel != "delete" and r.process:
                r.process.terminate()
            r.cancel = "delete"
        if busy or not Harsh.due(job):
            return
        self.store.jobs.pop(job_key)
        self.store.tasks.pop(job_key, None)
        self.dispatcher.forget_job(job_key)
        self.store.remove("job", job_key)
        self.store.remove_prefix("task", f"{job_key}/")
        for nodes in self.store.nodes.values():
            for node in nodes.values():
                self.trash.discard(Path(node["_root"]) / "workitems" / job["id"])

    def _finish_terminating(self, job_key: str, job: Obj) -> None:
        busy = [r for r in self.running.values() if r.job_key == job_key]
        for r in busy:
            r.cancel = r.cancel or "terminate"
            if r.process:
                r.process.terminate()
        if busy or not Harsh.due(job):
            return
        if job.get("jobReleaseTask"):
            for pool_key, node_id in job.get("_prepared", []):
                self.workers.submit(
                    self.node_tasks.run_job_task, job_key, pool_key, node_id, "jobReleaseTask"
                )
        info = job.setdefault("executionInfo", {})
        info["endTime"] = now_iso()
        set_state(job, "completed")
        touch(job)
        self.store.save("job", job_key, job)
