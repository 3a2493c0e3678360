"""The worker side of the scheduler for tasks: from a task's assignment to a node to how
it ended (completed, retried, re-queued), through job preparation, resource files, its
container, its process, its wall-clock limit and its output files. Start tasks and job
preparation and release tasks are `node_tasks`'.

These run on worker threads. They hold the store's lock only to read what they need
and to record results, never while a process runs, a file moves or podman answers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.localbatch import blobs
from runner.localbatch.allocation import REQUEUED, idle_state
from runner.localbatch.containers import ContainerCommand, ContainerProblem
from runner.localbatch.launch import Launch, failure_info
from runner.localbatch.nodes import kill_under
from runner.localbatch.rest import iso_seconds
from runner.localbatch.store import Obj, now_iso, set_plain_state, set_state, touch

if TYPE_CHECKING:
    from runner.localbatch.containers import ContainerRuntime
    from runner.localbatch.dispatch import Dispatcher
    from runner.localbatch.faults import Faults
    from runner.localbatch.node_tasks import NodeTasks
    from runner.localbatch.nodes import Node
    from runner.localbatch.preemption import Preemption
    from runner.localbatch.runs import Running
    from runner.localbatch.store import Store
    from runner.localbatch.timing import TimingLog


@dataclass
class _Work:
    """What a task needs once it is assigned to a node, gathered under the lock."""

    run: Running
    job: Obj
    task: Obj
    launch: Launch
    needs_prep: bool
    wall_clock: float | None
    resource_files: list[Any]
    outputs: list[Any]
    container: ContainerCommand | None = None


class Execution:
    """Mixed into `Scheduler` (which provides what is declared here): everything that
    waits on processes or the network for a task."""

    if TYPE_CHECKING:
        store: Store
        cond: threading.Condition
        faults: Faults
        timing: TimingLog
        preemption: Preemption
        containers: ContainerRuntime
        node_tasks: NodeTasks
        dispatcher: Dispatcher
        running: dict[tuple[str, str], Running]
        stopping: bool

        @property
        def account_info(self) -> tuple[str, str]: ...
        def node_handle(self, pool_key: str, node: Obj) -> Node: ...
        def enqueue(self, job_key: str, task_key: str) -> None: ...
        def _reboot(self, pool_key: str, node: Obj) -> None: ...
        def runs_on(self, pool_key: str, node_id: str) -> list[Running]: ...
        def cancel_runs(self, runs: list[Running], how: str) -> None: ...
        def stop_processes(self, pool_key: str, node: Obj) -> None: ...
        def boot_again(self, pool_key: str, node: Obj, *, wipe: bool) -> None: ...

    def _gather(self, job_key: str, task_key: str) -> _Work | None:
        """The task's work, or None (and its slots released) when it is already gone."""
        st = self.store
        with self.cond:
            run = self.running.get((job_key, task_key))
            job = st.jobs.get(job_key)
            task = st.tasks.get(job_key, {}).get(task_key)
            node = st.nodes.get(run.pool_key, {}).get(run.node_id) if run else None
            if run is None or job is None or task is None or node is None:
                self._release(job_key, task_key, run)
                return None
            handle = self.node_handle(run.pool_key, node)
            task_dir = handle.task_dir(job["id"], task["id"])
            ids = {"AZ_BATCH_JOB_ID": job["id"], "AZ_BATCH_TASK_ID": task["id"]}
            prep_dir = None
            if job.get("jobPreparationTask"):
                prep_dir = handle.prep_dir(job["id"], "jobpreparation")
                ids["AZ_BATCH_JOB_PREP_DIR"] = str(prep_dir)
                ids["AZ_BATCH_JOB_PREP_WORKING_DIR"] = str(prep_dir / "wd")
            pool = st.pools[run.pool_key]
            launch = Launch.on(handle, pool, task, task_dir, self.account_info, ids, prep_dir)
            prepared = [run.pool_key, run.node_id] in job.get("_prepared", [])
            return _Work(
                run,
                job,
                task,
                launch,
                bool(job.get("jobPreparationTask")) and not prepared,
                self._wall_clock(task, job),
                list(task.get("resourceFiles") or []),
                list(task.get("outputFiles") or []),
            )

    def _run_task(self, job_key: str, task_key: str) -> None:
        work = self._gather(job_key, task_key)
        if work is None:
            return
        run = work.run
        run.mark("picked")
        failure = self._before(job_key, work)
        code: int | None = None
        if failure is None:
            outcome = self._execute(job_key, task_key, work)
            if outcome is None:
                return  # cancelled before it started, and settled
            code, failure = outcome
        if run.cancel in (*REQUEUED, "delete"):
            with self.cond:
                self._settle(job_key, task_key, run, code, failure)
            return
        succeeded = failure is None and code == 0 and run.cancel is None
        if run.cancel == "terminate" and failure is None:
            failure = failure_info("usererror", "TaskEnded", "The task was terminated")
        if run.process is not None or failure is None:
            try:
                wd = work.launch.task_dir / "wd"
                blobs.upload_outputs(work.outputs, wd, succeeded, run.uploads)
            except blobs.TransferError as e:
                succeeded = False
                failure = failure or failure_info("usererror", "FileUploadError", str(e))
        if failure is None and code not in (0, None):
            message = f"The task exited with code {code}"
            failure = failure_info("usererror", "FailureExitCode", message)
        with self.cond:
            self._settle(job_key, task_key, run, code, failure, succeeded=succeeded)

    def _before(self, job_key: str, work: _Work) -> dict[str, Any] | None:
        """Job preparation on the node, resource files and the task's container: the
        failure that stops the task from starting, or None."""
        run = work.run
        if work.needs_prep:
            with self._node_lock(run.pool_key, run.node_id):
                with self.cond:
                    prepared = [run.pool_key, run.node_id] in work.job.get("_prepared", [])
                if not prepared:
                    prep_code = self.node_tasks.run_job_task(
                        job_key, run.pool_key, run.node_id, "jobPreparationTask"
                    )
                    if prep_code != 0:
                        message = f"The job preparation task exited with {prep_code}"
                        return failure_info("usererror", "JobPreparationTaskFailed", message)
                    with self.cond:
                        work.job.setdefault("_prepared", []).append([run.pool_key, run.node_id])
                        self.store.save("job", job_key, work.job)
        try:
            blobs.fetch_resource_files(work.resource_files, work.launch.task_dir / "wd")
            run.mark("fetched")
            work.container = work.launch.container(self.containers)
        except blobs.TransferError as e:
            return failure_info("usererror", "ResourceFileDownloadFailed", str(e))
        except ContainerProblem as e:
            return e.failure()
        return None

    def _execute(
        self, job_key: str, task_key: str, work: _Work
    ) -> tuple[int | None, dict[str, Any] | None] | None:
        """Start the task's process and wait for it: its exit code and failure, or None
        when it was cancelled before it started (then it is settled here)."""
        run, task = work.run, work.task
        failure = None
        with self.cond:
            if run.cancel:
                self._settle(job_key, task_key, run, None, None)
                return None
            if self.stopping:  # the service is ending: the task runs when it starts again
                return None
            set_state(task, "running")
            info = task.setdefault("executionInfo", {})
            info["startTime"] = now_iso()
            info.pop("endTime", None)
            info.pop("containerInfo", None)
            try:
                run.mark("spawning")
                run.process = work.launch.start(work.container)
                run.mark("spawned")
            except OSError as e:
                failure = failure_info("usererror", "CommandProgramNotFound", str(e))
            else:
                task["_pgid"] = run.process.pid
                if work.container is not None:
                    info["containerInfo"] = {"containerId": work.container.name, "state": "running"}
            self.store.save_task(job_key, task)
            if run.process is not None:
                self.faults.on_task_running(self, task["id"], run.pool_key, run.node_id)
                self.preemption.on_task_running(self, task["id"], run.pool_key, run.node_id)
        if run.process is None:
            return None, failure
        code = run.process.wait(work.wall_clock)
        run.mark("exited")
        if code is None:
            run.process.kill()
            code = run.process.returncode
            message = "The task ran longer than its maxWallClockTime"
            failure = failure_info("usererror", "MaxWallClockTimeExpiry", message)
        if work.container is not None:
            self.containers.remove(work.container.name)  # also when podman was killed
            with self.cond:
                shown = info.get("containerInfo")
                if shown is not None:
                    shown["state"] = "exited"
        return code, failure

    def _wall_clock(self, task: Obj, job: Obj) -> float | None:
        limits = [
            iso_seconds((task.get("constraints") or {}).get("maxWallClockTime")),
            iso_seconds((job.get("constraints") or {}).get("maxWallClockTime")),
        ]
        known = [x for x in limits if x is not None]
        return min(known) if known else None

    _node_locks: dict[tuple[str, str], threading.Lock]

    def _node_lock(self, pool_key: str, node_id: str) -> threading.Lock:
        with self.cond:
            if not hasattr(self, "_node_locks"):
                self._node_locks = {}
            return self._node_locks.setdefault((pool_key, node_id), threading.Lock())

    def _release(self, job_key: str, task_key: str, run: Running | None) -> None:
        """The task's slots on its node are free again."""
        with self.cond:
            if run is not None and self.running.pop((job_key, task_key), None) is not None:
                run.mark("released")
                node = self.store.nodes.get(run.pool_key, {}).get(run.node_id)
                if node is not None:
                    node["runningTasksCount"] = max(0, node["runningTasksCount"] - 1)
                    node["runningTaskSlotsCount"] = max(
                        0, node["runningTaskSlotsCount"] - run.slots
                    )
                    if node["runningTasksCount"] == 0 and node["state"] == "running":
                        set_plain_state(node, idle_state(node))
            self.cond.notify_all()

    def _settle(
        self,
        job_key: str,
        task_key: str,
        run: Running,
        code: int | None,
        failure: dict[str, Any] | None,
        *,
        succeeded: bool = False,
    ) -> None:
        """Record how a task ended (lock held): completed, retried, re-queued or gone."""
        st = self.store
        task = st.tasks.get(job_key, {}).get(task_key)
        node = st.nodes.get(run.pool_key, {}).get(run.node_id)
        self._release(job_key, task_key, run)
        if task is None or run.cancel == "delete":
            return
        job = st.jobs.get(job_key)
        if self.timing.enabled and job is not None:
            outcome = run.cancel or ("succeeded" if succeeded else "failed")
            self.timing.write(run, job["id"], task["id"], outcome)
        task.pop("_pgid", None)
        info = task.setdefault("executionInfo", {})
        if node is not None:
            node["totalTasksRun"] = node.get("totalTasksRun", 0) + 1
            node["totalTasksSucceeded"] = node.get("totalTasksSucceeded", 0) + (
                1 if succeeded else 0
            )
        if run.cancel in REQUEUED:
            # a requeue asked for by a user (node removed, rebooted, job disabled) or by
            # a spot node's preemption is not a retry; a task whose node died counts one
            if run.cancel == "lost":
                info["retryCount"] = info.get("retryCount", 0) + 1
            info["requeueCount"] = info.get("requeueCount", 0) + 1
            set_state(task, "active")
            task.pop("nodeInfo", None)
            st.save_task(job_key, task)
            self.enqueue(job_key, task_key)
            return
        info["endTime"] = now_iso()
        info["exitCode"] = code
        info["result"] = "success" if succeeded else "failure"
        if failure:
            info["failureInfo"] = failure
        else:
            info.pop("failureInfo", None)
        retries = int((task.get("constraints") or {}).get("maxTaskRetryCount") or 0)
        used = info.get("retryCount", 0)
        if not succeeded and run.cancel != "terminate" and (retries == -1 or used < retries):
            info["retryCount"] = used + 1
            info["lastRetryTime"] = now_iso()
            set_state(task, "active")
            self.enqueue(job_key, task_key)
        else:
            set_state(task, "completed")
        touch(task)
        st.save_task(job_key, task)
        if not self.stopping:
            # the freed slot takes the next task now, not when the scheduler thread wakes
            self.dispatcher.dispatch()

    def kill_node(self, pool_key: str, node_id: str) -> None:
        """Fault injection: the node dies; its tasks are re-queued and it reboots."""
        with self.cond:
            node = self.store.nodes.get(pool_key, {}).get(node_id)
            if node is None:
                return
            set_plain_state(node, "unusable")
            node["_boot"] = node.get("_boot", 0) + 1  # its start task, if running, records nothing
            self.store.save_node(pool_key, node)
            self.cancel_runs(self.runs_on(pool_key, node_id), "lost")
            kill_under(Path(node["_root"]))  # its start task's tree, and its job tasks too

        def reboot() -> None:
            time.sleep(0.5)
            with self.cond:
                n = self.store.nodes.get(pool_key, {}).get(node_id)
                if n is not None:
                    self._reboot(pool_key, n)

        threading.Thread(target=reboot, daemon=True).start()
