"""The tasks a node runs for itself and for a job: its start task when it boots (after
checking, on a container pool, that podman and the pool's images are there), and job
preparation and release tasks.

These run on worker threads. They hold the store's lock only to read what they need
and to record results, never while a process runs, a file moves or podman answers.
A node that boots again (reboot, reimage, preemption) starts a new boot: the start
task of an earlier boot records nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.localbatch import blobs
from runner.localbatch.allocation import idle_state
from runner.localbatch.containers import ContainerProblem
from runner.localbatch.launch import Launch, failure_info
from runner.localbatch.nodes import Process
from runner.localbatch.store import Obj, now_iso, set_plain_state

if TYPE_CHECKING:
    from runner.localbatch.scheduler import Scheduler


class NodeTasks:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.cond = scheduler.cond

    def _node(self, pool_key: str, node_id: str, boot: int | None = None) -> Obj | None:
        """The node, if it is still there (and still in boot `boot`)."""
        node = self.store.nodes.get(pool_key, {}).get(node_id)
        if node is None or (boot is not None and node.get("_boot") != boot):
            return None
        return node

    def _usable(self, pool_key: str, node_id: str, boot: int) -> bool:
        """On a container pool, whether podman and the pool's images are there; if not,
        the node is `unusable`, with Batch's `errors`."""
        with self.cond:
            pool = self.store.pools.get(pool_key) or {}
            config = (pool.get("virtualMachineConfiguration") or {}).get("containerConfiguration")
        if not config:
            return True
        errors = self.scheduler.containers.pool_errors(config)  # podman answers slowly
        with self.cond:
            node = self._node(pool_key, node_id, boot)
            if node is None:
                return False
            node.pop("errors", None)
            if not errors:
                return True
            node["errors"] = errors
            set_plain_state(node, "unusable")
            self.store.save_node(pool_key, node)
            self.cond.notify_all()
            return False

    def run_start_task(self, pool_key: str, node_id: str, boot: int) -> None:
        if not self._usable(pool_key, node_id, boot):
            return
        with self.cond:
            node = self._node(pool_key, node_id, boot)
            pool = self.store.pools.get(pool_key)
            if node is None or pool is None:
                return
            spec = pool.get("startTask")
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
        while not self._attempt(pool_key, node_id, boot, spec, attempt, retries):
            attempt += 1

    def _attempt(
        self, pool_key: str, node_id: str, boot: int, spec: Obj, attempt: int, retries: int
    ) -> bool:
        """One run of the start task; whether the node is done with it (success, the
        last attempt, or the node has gone or booted again)."""
        info: dict[str, Any] = {"state": "running", "startTime": now_iso(), "retryCount": attempt}
        with self.cond:
            node = self._node(pool_key, node_id, boot)
            if node is None:
                return True
            handle = self.scheduler.node_handle(pool_key, node)
            pool = self.store.pools[pool_key]
            launch = Launch.on(handle, pool, spec, handle.startup, self.scheduler.account_info, {})
        code, failure, proc = self._run(pool_key, node_id, boot, launch, spec, info)
        with self.cond:
            key = (pool_key, node_id)
            if proc is not None and self.scheduler.start_tasks.get(key) is proc:
                del self.scheduler.start_tasks[key]  # not a later boot's start task
            node = self._node(pool_key, node_id, boot)
            if node is None:
                return True
            node.pop("_pgid", None)
            ok = failure is None and code == 0
            if not ok and failure is None:
                failure = failure_info(
                    "usererror", "FailureExitCode", f"The start task exited with code {code}"
                )
            info.update(state="completed", endTime=now_iso(), exitCode=code)
            info["result"] = "success" if ok else "failure"
            if failure:
                info["failureInfo"] = failure
            node["startTaskInfo"] = info
            done = ok or (retries != -1 and attempt >= retries)
            if done:
                if ok or not spec.get("waitForSuccess", True):
                    if node["state"] in ("waitingforstarttask", "starting"):
                        set_plain_state(node, idle_state(node))
                else:
                    set_plain_state(node, "starttaskfailed")
            self.store.save_node(pool_key, node)
            self.cond.notify_all()
            return done

    def _run(
        self, pool_key: str, node_id: str, boot: int, launch: Launch, spec: Obj, info: Obj
    ) -> tuple[int | None, dict[str, Any] | None, Process | None]:
        """The start task's process, from its resource files to its exit code: the code,
        the failure, and the process if one started."""
        proc: Process | None = None
        try:
            blobs.fetch_resource_files(spec.get("resourceFiles") or [], launch.task_dir / "wd")
            proc = launch.start(launch.container(self.scheduler.containers), keep_tree=True)
            with self.cond:
                node = self._node(pool_key, node_id, boot)
                if node is None:
                    proc.kill()
                    return None, None, proc
                self.scheduler.start_tasks[(pool_key, node_id)] = proc
                node["_pgid"] = proc.pid
                node["startTaskInfo"] = info
                self.store.save_node(pool_key, node)
            return proc.wait(None), None, proc
        except blobs.TransferError as e:
            return None, failure_info("usererror", "ResourceFileDownloadFailed", str(e)), proc
        except ContainerProblem as e:
            return None, e.failure(), proc
        except OSError as e:
            return None, failure_info("usererror", "CommandProgramNotFound", str(e)), proc
        finally:
            if proc is not None and proc.container is not None:
                self.scheduler.containers.remove(proc.container.name)

    def run_job_task(self, job_key: str, pool_key: str, node_id: str, kind: str) -> int | None:
        """Run the job preparation or release task on one node; its exit code. Its
        execution info is kept on the job, for the preparation and release status list."""
        with self.cond:
            job = self.store.jobs.get(job_key)
            node = self._node(pool_key, node_id)
            if job is None or node is None or not job.get(kind):
                return 0
            spec = job[kind]
            handle = self.scheduler.node_handle(pool_key, node)
            name = "jobpreparation" if kind == "jobPreparationTask" else "jobrelease"
            task_dir = handle.prep_dir(job["id"], name)
            ids = {"AZ_BATCH_JOB_ID": job["id"], "AZ_BATCH_TASK_ID": spec.get("id") or kind}
            prep_dir = handle.prep_dir(job["id"], "jobpreparation")
            pool = self.store.pools[pool_key]
            account = self.scheduler.account_info
            launch = Launch.on(handle, pool, spec, task_dir, account, ids, prep_dir)
            info = self._job_task_info(job, pool_key, node, kind, name)
            self.store.save("job", job_key, job)
        code: int | None = None
        failure = None
        proc: Process | None = None
        try:
            blobs.fetch_resource_files(spec.get("resourceFiles") or [], task_dir / "wd")
            proc = launch.start(launch.container(self.scheduler.containers))
            code = proc.wait(None)
        except blobs.TransferError as e:
            failure = failure_info("usererror", "ResourceFileDownloadFailed", str(e))
        except ContainerProblem as e:
            failure = e.failure()
        except OSError as e:
            failure = failure_info("usererror", "CommandProgramNotFound", str(e))
        finally:
            if proc is not None and proc.container is not None:
                self.scheduler.containers.remove(proc.container.name)
        with self.cond:
            result = "success" if code == 0 else "failure"
            info.update(state="completed", endTime=now_iso(), result=result)
            if code is not None:
                info["exitCode"] = code
            if failure is None and code != 0:
                message = f"The task exited with code {code}"
                failure = failure_info("usererror", "FailureExitCode", message)
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
