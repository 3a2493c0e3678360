"""The REST handlers for tasks: add (one or a collection), list, get, delete, update,
terminate, reactivate, and the files under a task's directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.localbatch import shapes
from runner.localbatch.errors import ApiError, invalid, missing
from runner.localbatch.files import delete_file, file_response, listing
from runner.localbatch.rest import (
    FOREVER,
    MAX_BODY,
    MAX_DEPENDS_ON_CHARS,
    MAX_TASKS_PER_COLLECTION,
    Request,
    Response,
    check_id,
    created,
)
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, now_iso, public, set_state, touch

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runner.localbatch.scheduler import Scheduler
    from runner.localbatch.store import Store


class TaskApi:
    """Mixed into `Api`, which provides what is declared here."""

    if TYPE_CHECKING:
        st: Store
        s: Scheduler
        base: str

        def _job(self, job_id: str) -> Obj: ...
        def _task(self, job_id: str, task_id: str) -> tuple[Obj, Obj]: ...
        def _page(self, req: Request, items: Iterable[Obj], path: str) -> Response: ...

    def _new_task(self, job: Obj, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise invalid("value", body, "A task must be a JSON object.")
        task_id = check_id("task", body.get("id"))
        if not body.get("commandLine"):
            raise missing("commandLine")
        if body.get("dependsOn") and not job.get("usesTaskDependencies"):
            raise ApiError(
                409,
                "TaskDependenciesNotSpecifiedOnJob",
                "The job does not use task dependencies: set usesTaskDependencies when creating it.",
            )
        depends = body.get("dependsOn") or {}
        if sum(len(str(i)) for i in depends.get("taskIds") or []) > MAX_DEPENDS_ON_CHARS:
            raise ApiError(
                400,
                "TaskDependencyListTooLong",
                f"The task depends on more than {MAX_DEPENDS_ON_CHARS} characters of task IDs; use taskIdRanges.",
            )
        for rf in body.get("resourceFiles") or []:
            if not (
                rf.get("httpUrl")
                or rf.get("storageContainerUrl")
                or rf.get("autoStorageContainerName")
            ):
                raise invalid(
                    "resourceFiles", rf.get("filePath"), "A resource file needs a source."
                )
            fp = rf.get("filePath") or ""
            if fp.startswith("/") or ".." in fp.split("/"):
                raise invalid(
                    "filePath", fp, "The file path must stay inside the task's working directory."
                )
        constraints = body.get("constraints") or {}
        job_constraints = job.get("constraints") or {}
        now = now_iso()
        task: Obj = {
            "id": task_id,
            "displayName": body.get("displayName"),
            "url": f"{job['url']}/tasks/{task_id}",
            "creationTime": now,
            "state": "active",
            "stateTransitionTime": now,
            "commandLine": body["commandLine"],
            "resourceFiles": body.get("resourceFiles"),
            "outputFiles": body.get("outputFiles"),
            "environmentSettings": (job.get("commonEnvironmentSettings") or [])
            + (body.get("environmentSettings") or []),
            "constraints": {
                "maxWallClockTime": constraints.get("maxWallClockTime", FOREVER),
                "retentionTime": constraints.get("retentionTime", "P7D"),
                "maxTaskRetryCount": int(
                    constraints.get(
                        "maxTaskRetryCount", job_constraints.get("maxTaskRetryCount", 0)
                    )
                    or 0
                ),
            },
            "requiredSlots": int(body.get("requiredSlots") or 1),
            "userIdentity": body.get("userIdentity"),
            "dependsOn": body.get("dependsOn"),
            "exitConditions": body.get("exitConditions"),
            "executionInfo": {"retryCount": 0, "requeueCount": 0},
        }
        task = {k: v for k, v in task.items() if v is not None}
        touch(task)
        return task

    def _check_job_accepts(self, job: Obj) -> None:
        if job["state"] == "completed":
            raise ApiError(
                409, "JobCompleted", "The specified job is already in a completed state."
            )
        if job["state"] in ("deleting", "terminating"):
            raise ApiError(409, "JobBeingDeleted" if job["state"] == "deleting" else "JobBeingTerminated",
                           f"The specified job is {job['state']}.")  # fmt: skip

    @accepts(shapes.TASK_ADD)
    def create_task(self, req: Request, job_id: str) -> Response:
        job = self._job(job_id)
        self._check_job_accepts(job)
        task = self._new_task(job, req.json())
        key = job_id.lower()
        tasks = self.st.tasks.setdefault(key, {})
        if task["id"].lower() in tasks:
            raise ApiError(409, "TaskExists", "The specified task already exists.")
        tasks[task["id"].lower()] = task
        self.st.save_task(key, task)
        self.s.enqueue(key, task["id"].lower())
        return created(task, task["url"])

    @accepts(shapes.TASK_COLLECTION)
    def add_task_collection(self, req: Request, job_id: str) -> Response:
        if len(req.body) > MAX_BODY:
            raise ApiError(
                413,
                "RequestBodyTooLarge",
                "The request body is too large and exceeds the maximum permissible limit.",
            )
        body = req.json()
        values = body.get("value")
        if not isinstance(values, list):
            raise missing("value")
        if len(values) > MAX_TASKS_PER_COLLECTION:
            raise invalid(
                "value",
                len(values),
                f"A collection holds at most {MAX_TASKS_PER_COLLECTION} tasks.",
            )
        job = self._job(job_id)
        self._check_job_accepts(job)
        key = job_id.lower()
        tasks = self.st.tasks.setdefault(key, {})
        results: list[dict[str, Any]] = []
        fresh: list[tuple[str, Obj]] = []
        seen: set[str] = set()
        for raw in values:
            tid = raw.get("id") if isinstance(raw, dict) else None
            try:
                task = self._new_task(job, raw)
                if task["id"].lower() in tasks or task["id"].lower() in seen:
                    raise ApiError(409, "TaskExists", "The specified task already exists.")
            except ApiError as e:
                results.append({"status": "clienterror", "taskId": tid, "error": {
                    "code": e.code, "message": {"lang": "en-US", "value": e.message},
                    "values": [{"key": k, "value": v} for k, v in e.values.items()]}})  # fmt: skip
                continue
            seen.add(task["id"].lower())
            fresh.append((f"{key}/{task['id'].lower()}", task))
            results.append({"status": "success", "taskId": task["id"], "eTag": task["eTag"],
                            "lastModified": task["lastModified"], "location": task["url"]})  # fmt: skip
        self.st.save_many("task", fresh)
        for _, task in fresh:
            tasks[task["id"].lower()] = task
            self.s.enqueue(key, task["id"].lower())
        return Response(200, {"odata.metadata": f"{self.base}/$metadata", "value": results})

    def list_tasks(self, req: Request, job_id: str) -> Response:
        self._job(job_id)
        return self._page(
            req, list(self.st.tasks.get(job_id.lower(), {}).values()), f"jobs/{job_id}/tasks"
        )

    def get_task(self, req: Request, job_id: str, task_id: str) -> Response:
        from runner.localbatch import odata

        _, task = self._task(job_id, task_id)
        return Response(200, odata.select(public(task), req.query.get("$select")))

    def delete_task(self, req: Request, job_id: str, task_id: str) -> Response:
        self._task(job_id, task_id)
        key = (job_id.lower(), task_id.lower())
        run = self.s.running.get(key)
        if run is not None:
            run.cancel = "delete"
            if run.process:
                from runner.localbatch.nodes import kill_group

                kill_group(run.process.pid)
        del self.st.tasks[key[0]][key[1]]
        self.s.forget_task(key[0])
        self.st.remove("task", f"{key[0]}/{key[1]}")
        return Response(200)

    @accepts(shapes.TASK_UPDATE)
    def update_task(self, req: Request, job_id: str, task_id: str) -> Response:
        _, task = self._task(job_id, task_id)
        constraints = req.json().get("constraints")
        if constraints:
            task["constraints"].update(constraints)
        touch(task)
        self.st.save_task(job_id.lower(), task)
        return Response(200)

    @accepts(shapes.NO_BODY)
    def terminate_task(self, req: Request, job_id: str, task_id: str) -> Response:
        _, task = self._task(job_id, task_id)
        key = (job_id.lower(), task_id.lower())
        run = self.s.running.get(key)
        if run is not None:
            run.cancel = "terminate"
            if run.process:
                from runner.localbatch.nodes import kill_group

                kill_group(run.process.pid)
        elif task["state"] == "active":
            info = task.setdefault("executionInfo", {})
            info.update(result="failure", endTime=now_iso(),
                        failureInfo={"category": "usererror", "code": "TaskEnded", "message": "The task was terminated"})  # fmt: skip
            set_state(task, "completed")
            touch(task)
            self.st.save_task(job_id.lower(), task)
        return Response(204)

    @accepts(shapes.NO_BODY)
    def reactivate_task(self, req: Request, job_id: str, task_id: str) -> Response:
        job, task = self._task(job_id, task_id)
        self._check_job_accepts(job)
        info = task.get("executionInfo") or {}
        if task["state"] != "completed" or info.get("result") != "failure":
            raise ApiError(409, "TaskNotCompletedOrFailed" if task["state"] != "completed" else "TaskCompletedSuccessfully",
                           "Only a task that completed with a failure can be reactivated.")  # fmt: skip
        task["executionInfo"] = {"retryCount": 0, "requeueCount": info.get("requeueCount", 0)}
        set_state(task, "active")
        task.pop("nodeInfo", None)
        touch(task)
        self.st.save_task(job_id.lower(), task)
        self.s.enqueue(job_id.lower(), task_id.lower())
        return Response(204)

    def _task_dir(self, job_id: str, task_id: str) -> tuple[Path, Obj]:
        _, task = self._task(job_id, task_id)
        if not task.get("_dir"):
            raise ApiError(409, "TaskFilesUnavailable", "The task has not run on a node yet.")
        return Path(task["_dir"]), task

    def list_task_files(self, req: Request, job_id: str, task_id: str) -> Response:
        root, task = self._task_dir(job_id, task_id)
        return self._page(
            req, listing(root, f"{task['url']}/files", req), f"jobs/{job_id}/tasks/{task_id}/files"
        )

    def get_task_file(self, req: Request, job_id: str, task_id: str, file_path: str) -> Response:
        root, task = self._task_dir(job_id, task_id)
        return file_response(root, file_path, f"{task['url']}/files", req)

    def delete_task_file(self, req: Request, job_id: str, task_id: str, file_path: str) -> Response:
        root, _ = self._task_dir(job_id, task_id)
        delete_file(root, file_path)
        return Response(200)
