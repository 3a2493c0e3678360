"""The worker side of the scheduler: start tasks, tasks, job preparation and release.

These run on worker threads. They hold the store's lock only to read what they need
and to record results, never while a process runs or a file moves.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.localbatch import blobs
from runner.localbatch.allocation import idle_state
from runner.localbatch.nodes import Process, environment, kill_under
from runner.localbatch.store import Obj, now_iso, set_plain_state, set_state, touch

if TYPE_CHECKING:
    from runner.localbatch.faults import Faults
    from runner.localbatch.nodes import Node
    from runner.localbatch.scheduler import Running
    from runner.localbatch.store import Store


def _failure(category: str, code: str, message: str) -> dict[str, Any]:
    return {"category": category, "code": code, "message": message}


class Execution:
    """Mixed into `Scheduler` (which provides what is declared here): everything that
    waits on processes or the network."""

    if TYPE_CHECKING:
        store: Store
        cond: threading.Condition
        account: str
        url: str
        faults: Faults
        running: dict[tuple[str, str], Running]
        start_tasks: dict[tuple[str, str], Process]

        def node_handle(self, pool_key: str, node: Obj) -> Node: ...
        def enqueue(self, job_key: str, task_key: str) -> None: ...
        def _reboot(self, pool_key: str, node: Obj) -> None: ...
        def runs_on(self, pool_key: str, node_id: str) -> list[Running]: ...
        def cancel_runs(self, runs: list[Running], how: str) -> None: ...

    def _run_start_task(self, pool_key: str, node_id: str) -> None:
        with self.cond:
            node = self.store.nodes.get(pool_key, {}).get(node_id)
            pool = self.store.pools.get(pool_key)
            if node is None or pool is None:
                return
            spec = pool.get("startTask")
            handle = self.node_handle(pool_key, node)
            if not spec:
                set_plain_state(node, idle_state(node))
                self.store.save_node(pool_key, node)
                self.cond.notify_all()
                return
            wait = spec.get("waitForSuccess", True)
            set_plain_state(node, "waitingforstarttask" if wait else idle_state(node))
            self.store.save_node(pool_key, node)
            self.cond.notify_all()
        retries = int(spec.get("maxTaskRetryCount") or 0)
        attempt = 0
        while True:
            info: dict[str, Any] = {
                "state": "running",
                "startTime": now_iso(),
                "retryCount": attempt,
            }
            code: int | None = None
            failure = None
            try:
                blobs.fetch_resource_files(spec.get("resourceFiles") or [], handle.startup / "wd")
                env = environment(
                    handle,
                    handle.startup,
                    self.account,
                    self.url,
                    spec.get("environmentSettings"),
                    {},
                )
                proc = Process(spec["commandLine"], handle.startup, env, keep_tree=True)
                with self.cond:
                    if node_id not in self.store.nodes.get(pool_key, {}):
                        proc.kill()
                        return
                    self.start_tasks[(pool_key, node_id)] = proc
                    node["_pgid"] = proc.pid
                    node["startTaskInfo"] = info
                    self.store.save_node(pool_key, node)
                code = proc.wait(None)
            except blobs.TransferError as e:
                failure = _failure("usererror", "ResourceFileDownloadFailed", str(e))
            except OSError as e:
                failure = _failure("usererror", "CommandProgramNotFound", str(e))
            with self.cond:
                self.start_tasks.pop((pool_key, node_id), None)
                if node_id not in self.store.nodes.get(pool_key, {}):
                    return
                node.pop("_pgid", None)
                ok = failure is None and code == 0
                if not ok and failure is None:
                    failure = _failure(
                        "usererror", "FailureExitCode", f"The start task exited with code {code}"
                    )
                info.update(
                    state="completed",
                    endTime=now_iso(),
                    exitCode=code,
                    result="success" if ok else "failure",
                )
                if failure:
                    info["failureInfo"] = failure
                node["startTaskInfo"] = info
                if ok or attempt >= retries:
                    if ok or not wait:
                        if node["state"] in ("waitingforstarttask", "starting"):
                            set_plain_state(node, idle_state(node))
                    else:
                        set_plain_state(node, "starttaskfailed")
                    self.store.save_node(pool_key, node)
                    self.cond.notify_all()
                    return
                self.store.save_node(pool_key, node)
            attempt += 1

    def _run_job_task(self, job_key: str, pool_key: str, node_id: str, kind: str) -> int | None:
        """Run the job preparation or release task on one node; its exit code. Its
        execution info is kept on the job, for the preparation and release status list."""
        with self.cond:
            job = self.store.jobs.get(job_key)
            node = self.store.nodes.get(pool_key, {}).get(node_id)
            if job is None or node is None or not job.get(kind):
                return 0
            spec = job[kind]
            handle = self.node_handle(pool_key, node)
            name = "jobpreparation" if kind == "jobPreparationTask" else "jobrelease"
            task_dir = handle.prep_dir(job["id"], name)
            env = environment(
                handle, task_dir, self.account, self.url, spec.get("environmentSettings"),
                {"AZ_BATCH_JOB_ID": job["id"], "AZ_BATCH_TASK_ID": spec.get("id") or kind},
            )  # fmt: skip
            info = self._job_task_info(job, pool_key, node, kind, name)
            self.store.save("job", job_key, job)
        code: int | None = None
        failure = None
        try:
            blobs.fetch_resource_files(spec.get("resourceFiles") or [], task_dir / "wd")
            code = Process(spec["commandLine"], task_dir, env).wait(None)
        except blobs.TransferError as e:
            failure = _failure("usererror", "ResourceFileDownloadFailed", str(e))
        except OSError as e:
            failure = _failure("usererror", "CommandProgramNotFound", str(e))
        with self.cond:
            result = "success" if code == 0 else "failure"
            info.update(state="completed", endTime=now_iso(), result=result)
            if code is not None:
                info["exitCode"] = code
            if failure is None and code != 0:
                failure = _failure("usererror", "FailureExitCode", f"The task exited with code {code}")
            if failure is not None:
                info["failureInfo"] = failure
            if job_key in self.store.jobs:
                self.store.save("job", job_key, job)
        return None if failure is not None and code is None else code

    def _job_task_info(self, job: Obj, pool_key: str, node: Obj, kind: str, name: str) -> Obj:
        """A fresh execution info for a preparation or release task on `node` (lock held)."""
        status = job.setdefault("_jobtasks", {}).setdefault(
            f"{pool_key}/{node['id']}",
            {
                "poolId": self.store.pools[pool_key]["id"],
                "nodeId": node["id"],
                "nodeUrl": node["url"],
            },
        )
        root = f"workitems/{job['id']}/job-1/{name}"
        info: Obj = {
            "state": "running",
            "startTime": now_iso(),
            "taskRootDirectory": root,
            "taskRootDirectoryUrl": f"{node['url']}/files/{root}",
        }
        if kind == "jobPreparationTask":
            info["retryCount"] = 0
        status[f"{kind}ExecutionInfo"] = info
        return info

    def _run_task(self, job_key: str, task_key: str) -> None:
        st = self.store
        with self.cond:
            run = self.running.get((job_key, task_key))
            job = st.jobs.get(job_key)
            task = st.tasks.get(job_key, {}).get(task_key)
            node = st.nodes.get(run.pool_key, {}).get(run.node_id) if run else None
            if run is None or job is None or task is None or node is None:
                self._release(job_key, task_key, run)
                return
            handle = self.node_handle(run.pool_key, node)
            task_dir = handle.task_dir(job["id"], task["id"])
            ids = {"AZ_BATCH_JOB_ID": job["id"], "AZ_BATCH_TASK_ID": task["id"]}
            if job.get("jobPreparationTask"):
                prep_dir = handle.prep_dir(job["id"], "jobpreparation")
                ids["AZ_BATCH_JOB_PREP_DIR"] = str(prep_dir)
                ids["AZ_BATCH_JOB_PREP_WORKING_DIR"] = str(prep_dir / "wd")
            env = environment(
                handle, task_dir, self.account, self.url, task.get("environmentSettings"), ids
            )
            needs_prep = bool(job.get("jobPreparationTask")) and [
                run.pool_key,
                run.node_id,
            ] not in job.get("_prepared", [])
            wall_clock = self._wall_clock(task, job)
            resource_files = list(task.get("resourceFiles") or [])
            outputs = list(task.get("outputFiles") or [])
            command_line = task["commandLine"]
        failure = None
        if needs_prep:
            with self._node_lock(run.pool_key, run.node_id):
                with self.cond:
                    prepared = [run.pool_key, run.node_id] in job.get("_prepared", [])
                if not prepared:
                    prep_code = self._run_job_task(
                        job_key, run.pool_key, run.node_id, "jobPreparationTask"
                    )
                    with self.cond:
                        if prep_code == 0:
                            job.setdefault("_prepared", []).append([run.pool_key, run.node_id])
                            st.save("job", job_key, job)
                    if prep_code != 0:
                        failure = _failure(
                            "usererror",
                            "JobPreparationTaskFailed",
                            f"The job preparation task exited with {prep_code}",
                        )
        if failure is None:
            try:
                blobs.fetch_resource_files(resource_files, task_dir / "wd")
            except blobs.TransferError as e:
                failure = _failure("usererror", "ResourceFileDownloadFailed", str(e))
        code: int | None = None
        if failure is None:
            with self.cond:
                if run.cancel:
                    self._settle(job_key, task_key, run, None, None)
                    return
                set_state(task, "running")
                info = task.setdefault("executionInfo", {})
                info["startTime"] = now_iso()
                info.pop("endTime", None)
                try:
                    run.process = Process(command_line, task_dir, env)
                except OSError as e:
                    failure = _failure("usererror", "CommandProgramNotFound", str(e))
                else:
                    task["_pgid"] = run.process.pid
                st.save_task(job_key, task)
                if run.process is not None:
                    self.faults.on_task_running(self, task["id"], run.pool_key, run.node_id)
            if run.process is not None:
                code = run.process.wait(wall_clock)
                if code is None:
                    run.process.kill()
                    code = run.process.returncode
                    failure = _failure(
                        "usererror",
                        "MaxWallClockTimeExpiry",
                        "The task ran longer than its maxWallClockTime",
                    )
        if run.cancel in ("delete", "requeue", "lost"):
            with self.cond:
                self._settle(job_key, task_key, run, code, failure)
            return
        succeeded = failure is None and code == 0 and run.cancel is None
        if run.cancel == "terminate" and failure is None:
            failure = _failure("usererror", "TaskEnded", "The task was terminated")
        if run.process is not None or failure is None:
            try:
                blobs.upload_outputs(outputs, task_dir / "wd", succeeded)
            except blobs.TransferError as e:
                succeeded = False
                failure = failure or _failure("usererror", "FileUploadError", str(e))
        if failure is None and code not in (0, None):
            failure = _failure("usererror", "FailureExitCode", f"The task exited with code {code}")
        with self.cond:
            self._settle(job_key, task_key, run, code, failure, succeeded=succeeded)

    def _wall_clock(self, task: Obj, job: Obj) -> float | None:
        from runner.localbatch.scheduler import iso_seconds

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
        with self.cond:
            if run is not None:
                self.running.pop((job_key, task_key), None)
                node = self.store.nodes.get(run.pool_key, {}).get(run.node_id)
                if node is not None:
                    node["runningTasksCount"] = max(0, node["runningTasksCount"] - 1)
                    node["runningTaskSlotsCount"] = node["runningTasksCount"]
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
        task.pop("_pgid", None)
        info = task.setdefault("executionInfo", {})
        if node is not None:
            node["totalTasksRun"] = node.get("totalTasksRun", 0) + 1
            node["totalTasksSucceeded"] = node.get("totalTasksSucceeded", 0) + (
                1 if succeeded else 0
            )
        if run.cancel in ("requeue", "lost"):
            # a requeue asked for by a user (node removed, rebooted, job disabled) is not a
            # retry; a task whose node died counts one
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

    def kill_node(self, pool_key: str, node_id: str) -> None:
        """Fault injection: the node dies; its tasks are re-queued and it reboots."""
        with self.cond:
            node = self.store.nodes.get(pool_key, {}).get(node_id)
            if node is None:
                return
            set_plain_state(node, "unusable")
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
