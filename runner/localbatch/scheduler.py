"""Pools, nodes and tasks in motion: resizing, start tasks, dispatch, retries, lifecycle.

One scheduler thread makes the decisions under the store's lock (who runs where, what
gets deleted); worker threads do the slow parts (downloads, processes, uploads) and
report back under the lock. Request handlers wake the scheduler after each change.
"""

from __future__ import annotations

import shutil
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runner.localbatch.allocation import Allocation, takes_tasks
from runner.localbatch.execution import Execution
from runner.localbatch.faults import Faults
from runner.localbatch.harsh import TERMINATE_DELAY, Harsh
from runner.localbatch.nodes import Node, Process, is_ours, kill_group
from runner.localbatch.store import Obj, Store, now_iso, set_plain_state, set_state, touch

TICK = 0.2  # seconds between scheduling passes when nothing wakes the scheduler
_ISO_UNITS = {"D": 86400, "H": 3600, "M": 60, "S": 1}


def iso_seconds(value: str | None) -> float | None:
    """`PT1H30M` -> 5400.0; None when absent or effectively unlimited (> 10 years)."""
    if not value:
        return None
    total = 0.0
    number = ""
    for ch in value.upper():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in _ISO_UNITS and number:
            total += float(number) * _ISO_UNITS[ch]
            number = ""
    return None if total > 10 * 365 * 86400 else total


@dataclass
class Running:
    job_key: str
    task_key: str
    pool_key: str
    node_id: str
    process: Process | None = None
    cancel: str | None = None  # "terminate" | "requeue" | "lost" (node died) | "delete"


class Scheduler(Allocation, Execution):
    def __init__(
        self,
        store: Store,
        home: Path,
        account: str,
        url: str,
        faults: Faults,
        harsh: Harsh | None = None,
    ) -> None:
        self.store = store
        self.home = home
        self.account = account
        self.url = url
        self.faults = faults
        self.harsh = harsh or Harsh()
        self.cond = threading.Condition(store.lock)
        self.running: dict[tuple[str, str], Running] = {}
        self.queues: dict[str, deque[str]] = {}  # job key -> active task keys, in order
        self.waiting: dict[str, list[str]] = {}  # job key -> tasks waiting on dependencies
        self.dep_pos: dict[
            tuple[str, str], int
        ] = {}  # first unsatisfied dependency per waiting task
        self.start_tasks: dict[tuple[str, str], Process] = {}
        self.workers = ThreadPoolExecutor(max_workers=128, thread_name_prefix="node")
        self.stopping = False
        self._recover()
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

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
            kill_group(p.pid)
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
            queue = self.queues.setdefault(job_key, deque())
            for task_key, task in tasks.items():
                if task["state"] in ("preparing", "running"):
                    pgid = task.pop("_pgid", None)
                    if pgid and is_ours(pgid, f"AZ_BATCH_TASK_ID={task['id']}"):
                        kill_group(pgid)
                    info = task.setdefault("executionInfo", {})
                    info["retryCount"] = info.get("retryCount", 0) + 1
                    info["requeueCount"] = info.get("requeueCount", 0) + 1
                    set_state(task, "active")
                    task.pop("nodeInfo", None)
                    st.save_task(job_key, task)
                if task["state"] == "active":
                    queue.append(task_key)
        for pool_key, nodes in st.nodes.items():
            for node in nodes.values():
                pgid = node.pop("_pgid", None)
                if pgid and is_ours(pgid, f"AZ_BATCH_NODE_ID={node['id']}"):
                    kill_group(pgid)
                self._reboot(pool_key, node)

    # --- helpers ---------------------------------------------------------------------

    def node_handle(self, pool_key: str, node: Obj) -> Node:
        pool = self.store.pools[pool_key]
        return Node(pool["id"], node["id"], Path(node["_root"]))

    def enqueue(self, job_key: str, task_key: str) -> None:
        self.dep_pos.pop(
            (job_key, task_key), None
        )  # a new or re-run task checks its dependencies afresh
        self.queues.setdefault(job_key, deque()).append(task_key)

    def forget_task(self, job_key: str) -> None:
        """A task of the job was deleted: waiting tasks re-check their dependencies from the start."""
        for key in [k for k in self.dep_pos if k[0] == job_key]:
            del self.dep_pos[key]

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
        self._dispatch()

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
                kill_group(r.process.pid)
            r.cancel = "delete"
        if busy or not Harsh.due(job):
            return
        self.store.jobs.pop(job_key)
        self.store.tasks.pop(job_key, None)
        self.queues.pop(job_key, None)
        self.waiting.pop(job_key, None)
        self.store.remove("job", job_key)
        self.store.remove_prefix("task", f"{job_key}/")
        for nodes in self.store.nodes.values():
            for node in nodes.values():
                shutil.rmtree(Path(node["_root"]) / "workitems" / job["id"], ignore_errors=True)

    def _finish_terminating(self, job_key: str, job: Obj) -> None:
        busy = [r for r in self.running.values() if r.job_key == job_key]
        for r in busy:
            r.cancel = r.cancel or "terminate"
            if r.process:
                kill_group(r.process.pid)
        if busy or not Harsh.due(job):
            return
        if job.get("jobReleaseTask"):
            for pool_key, node_id in job.get("_prepared", []):
                self.workers.submit(
                    self._run_job_task, job_key, pool_key, node_id, "jobReleaseTask"
                )
        info = job.setdefault("executionInfo", {})
        info["endTime"] = now_iso()
        set_state(job, "completed")
        touch(job)
        self.store.save("job", job_key, job)

    # --- dispatch ---------------------------------------------------------------------------

    def _deps_ready(self, job_key: str, task: Obj) -> bool:
        deps = task.get("dependsOn") or {}
        ids = [str(i).lower() for i in deps.get("taskIds") or []]
        for r in deps.get("taskIdRanges") or []:
            ids += [str(i) for i in range(int(r["start"]), int(r["end"]) + 1)]
        tasks = self.store.tasks.get(job_key, {})
        key = (job_key, task["id"].lower())
        pos = self.dep_pos.get(key, 0)
        while pos < len(ids):
            dep = tasks.get(ids[pos])
            if dep is None or dep["state"] != "completed":
                break
            if (dep.get("executionInfo") or {}).get("result") != "success":
                action = ((dep.get("exitConditions") or {}).get("default") or {}).get(
                    "dependencyAction", "block"
                )
                if action != "satisfy":
                    break  # blocked: Batch leaves the task active for ever
            pos += 1
        self.dep_pos[key] = pos
        return pos >= len(ids)

    def _next_task(self, job_key: str, job: Obj) -> str | None:
        tasks = self.store.tasks.get(job_key, {})
        waiting = self.waiting.setdefault(job_key, [])
        for i, task_key in enumerate(waiting):
            task = tasks.get(task_key)
            if task is None or task["state"] != "active":
                waiting.pop(i)
                return self._next_task(job_key, job)
            if self._deps_ready(job_key, task):
                waiting.pop(i)
                return task_key
        queue = self.queues.get(job_key)
        while queue:
            task_key = queue.popleft()
            task = tasks.get(task_key)
            if task is None or task["state"] != "active" or (job_key, task_key) in self.running:
                continue
            if task.get("dependsOn") and not self._deps_ready(job_key, task):
                waiting.append(task_key)
                continue
            return task_key
        return None

    def _dispatch(self) -> None:
        st = self.store
        jobs = sorted(
            ((k, j) for k, j in st.jobs.items() if j["state"] == "active"),
            key=lambda kj: kj[1].get("_seq", 0),
        )
        if not jobs:
            return
        per_job: dict[str, int] = {}
        for r in self.running.values():
            per_job[r.job_key] = per_job.get(r.job_key, 0) + 1
        for pool_key, pool in st.pools.items():
            if pool["state"] != "active":
                continue
            pool_jobs = [
                (k, j)
                for k, j in jobs
                if (j.get("poolInfo") or {}).get("poolId", "").lower() == pool_key
            ]
            if not pool_jobs:
                continue
            slots = int(pool.get("taskSlotsPerNode") or 1)
            for node in st.nodes.get(pool_key, {}).values():
                if not takes_tasks(node):
                    continue
                while node["runningTasksCount"] < slots:
                    picked = None
                    for job_key, job in pool_jobs:
                        limit = int(job.get("maxParallelTasks") or -1)
                        if limit != -1 and per_job.get(job_key, 0) >= limit:
                            continue
                        task_key = self._next_task(job_key, job)
                        if task_key is not None:
                            picked = (job_key, task_key)
                            break
                    if picked is None:
                        break
                    per_job[picked[0]] = per_job.get(picked[0], 0) + 1
                    self._assign(pool_key, node, *picked)

    def _assign(self, pool_key: str, node: Obj, job_key: str, task_key: str) -> None:
        st = self.store
        job = st.jobs[job_key]
        task = st.tasks[job_key][task_key]
        handle = self.node_handle(pool_key, node)
        task_dir = handle.task_dir(job["id"], task["id"])
        set_state(task, "preparing")
        task["nodeInfo"] = {
            "affinityId": node["affinityId"],
            "nodeUrl": node["url"],
            "poolId": st.pools[pool_key]["id"],
            "nodeId": node["id"],
            "taskRootDirectory": f"workitems/{job['id']}/job-1/{task['id']}",
            "taskRootDirectoryUrl": f"{node['url']}/files/workitems/{job['id']}/job-1/{task['id']}",
        }
        task["_dir"] = str(task_dir)
        st.save_task(job_key, task)
        node["runningTasksCount"] += 1
        node["runningTaskSlotsCount"] = node["runningTasksCount"]
        set_plain_state(node, "running")
        self.running[(job_key, task_key)] = Running(job_key, task_key, pool_key, node["id"])
        self.workers.submit(self._run_task, job_key, task_key)
