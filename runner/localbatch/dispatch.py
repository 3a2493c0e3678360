"""Which task runs where: the queue of each job, task dependencies, `maxParallelTasks`,
and task slots. Runs on the scheduler thread with the store's lock held.

A task takes `requiredSlots` of its node's `taskSlotsPerNode` slots, and starts only on
a node with that many free. One that needs more than a node has free is set aside,
keeping its place, and the tasks behind it go on; it starts when a node has room. As
on Batch, a task needing more slots than the pool's nodes have is accepted and stays
active for ever (Batch does not check, because a job's pool can change).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from runner.localbatch.allocation import takes_tasks
from runner.localbatch.runs import Running
from runner.localbatch.store import Obj, set_plain_state, set_state

if TYPE_CHECKING:
    from runner.localbatch.scheduler import Scheduler


def required_slots(task: Obj) -> int:
    return int(task.get("requiredSlots") or 1)


class Dispatcher:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.queues: dict[str, deque[str]] = {}  # job key -> active task keys, in order
        self.waiting: dict[str, list[str]] = {}  # job key -> tasks waiting on dependencies
        self.set_aside: dict[str, list[str]] = {}  # job key -> tasks that wanted more slots
        # first unsatisfied dependency per waiting task
        self.dep_pos: dict[tuple[str, str], int] = {}

    def enqueue(self, job_key: str, task_key: str) -> None:
        self.dep_pos.pop((job_key, task_key), None)  # a re-run checks its dependencies afresh
        self.queues.setdefault(job_key, deque()).append(task_key)

    def forget_task(self, job_key: str) -> None:
        """A task of the job was deleted: waiting tasks re-check their dependencies."""
        for key in [k for k in self.dep_pos if k[0] == job_key]:
            del self.dep_pos[key]

    def forget_job(self, job_key: str) -> None:
        self.forget_task(job_key)
        for held in (self.queues, self.waiting, self.set_aside):
            held.pop(job_key, None)

    def deps_ready(self, job_key: str, task: Obj) -> bool:
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

    def _startable(self, job_key: str, task_key: str) -> Obj | None:
        task = self.store.tasks.get(job_key, {}).get(task_key)
        if task is None or task["state"] != "active":
            return None
        if (job_key, task_key) in self.scheduler.running:
            return None
        return task

    def _from_held(self, job_key: str, free: int) -> str | None:
        """The first task held back (by its dependencies, then for want of slots) that can
        start in `free` slots now; stale entries are dropped on the way."""
        waiting = self.waiting.setdefault(job_key, [])
        set_aside = self.set_aside.setdefault(job_key, [])
        for held, check_deps in ((waiting, True), (set_aside, False)):
            i = 0
            while i < len(held):
                task = self._startable(job_key, held[i])
                if task is None:
                    held.pop(i)
                elif check_deps and not self.deps_ready(job_key, task):
                    i += 1
                elif required_slots(task) > free:
                    if check_deps:  # ready, but waiting for slots now
                        set_aside.append(held.pop(i))
                    else:
                        i += 1
                else:
                    return held.pop(i)
        return None

    def next_task(self, job_key: str, free: int) -> str | None:
        """The job's next task that can start in `free` slots, in queue order."""
        found = self._from_held(job_key, free)
        if found is not None:
            return found
        queue = self.queues.get(job_key)
        while queue:
            task_key = queue.popleft()
            task = self._startable(job_key, task_key)
            if task is None:
                continue
            if task.get("dependsOn") and not self.deps_ready(job_key, task):
                self.waiting.setdefault(job_key, []).append(task_key)
            elif required_slots(task) > free:
                self.set_aside.setdefault(job_key, []).append(task_key)
            else:
                return task_key
        return None

    def dispatch(self) -> None:
        st = self.store
        jobs = sorted(
            ((k, j) for k, j in st.jobs.items() if j["state"] == "active"),
            key=lambda kj: kj[1].get("_seq", 0),
        )
        if not jobs:
            return
        per_job: dict[str, int] = {}
        for r in self.scheduler.running.values():
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
                if takes_tasks(node):
                    self._fill(pool_key, node, slots, pool_jobs, per_job)

    def _fill(
        self,
        pool_key: str,
        node: Obj,
        slots: int,
        pool_jobs: list[tuple[str, Obj]],
        per_job: dict[str, int],
    ) -> None:
        """Start tasks on the node while it has free slots and a task fits them."""
        while (free := slots - node["runningTaskSlotsCount"]) > 0:
            picked = None
            for job_key, job in pool_jobs:
                limit = int(job.get("maxParallelTasks") or -1)
                if limit != -1 and per_job.get(job_key, 0) >= limit:
                    continue
                task_key = self.next_task(job_key, free)
                if task_key is not None:
                    picked = (job_key, task_key)
                    break
            if picked is None:
                return
            per_job[picked[0]] = per_job.get(picked[0], 0) + 1
            self._assign(pool_key, node, *picked)

    def _assign(self, pool_key: str, node: Obj, job_key: str, task_key: str) -> None:
        st = self.store
        job = st.jobs[job_key]
        task = st.tasks[job_key][task_key]
        handle = self.scheduler.node_handle(pool_key, node)
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
        slots = required_slots(task)
        node["runningTasksCount"] += 1
        node["runningTaskSlotsCount"] += slots
        set_plain_state(node, "running")
        run = Running(job_key, task_key, pool_key, node["id"], slots=slots)
        self.scheduler.running[(job_key, task_key)] = run
        self.scheduler.workers.submit(self.scheduler._run_task, job_key, task_key)
