"""The REST handlers for tasks: add (one or a collection), list, get, delete, update
(PUT replaces the constraints), terminate, reactivate, subtasks, and the files under a
task's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.localbatch import conditional, fields, filterable, shapes, specs
from runner.localbatch.errors import ApiError, invalid, missing
from runner.localbatch.files import delete_file, file_response, listing
from runner.localbatch.resources import Resources, Route, route
from runner.localbatch.rest import (
    MAX_BODY,
    MAX_DEPENDS_ON_CHARS,
    MAX_TASKS_PER_COLLECTION,
    Request,
    Response,
    check_id,
    created,
)
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, now_iso, set_state, touch

JOB = r"jobs/([^/]+)"
TASK = JOB + r"/tasks/([^/]+)"


class TaskApi:
    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.store = resources.store
        self.scheduler = resources.scheduler
        self.base = resources.base

    def routes(self) -> list[Route]:
        return [
            route("POST", JOB + "/tasks", self.create_task),
            route("POST", JOB + "/addtaskcollection", self.add_task_collection),
            route("GET", JOB + "/tasks", self.list_tasks),
            route("GET", TASK, self.get_task),
            route("DELETE", TASK, self.delete_task),
            route("PUT", TASK, self.update_task),
            route("POST", TASK + "/terminate", self.terminate_task),
            route("POST", TASK + "/reactivate", self.reactivate_task),
            route("GET", TASK + "/subtasksinfo", self.list_subtasks),
            route("GET", TASK + "/files", self.list_task_files),
            route("GET", TASK + "/files/(.+)", self.get_task_file),
            route("HEAD", TASK + "/files/(.+)", self.get_task_file),
            route("DELETE", TASK + "/files/(.+)", self.delete_task_file),
        ]

    def _new_task(self, job: Obj, body: fields.Body) -> Obj:
        """A task from its body (its shape checked by `shapes.TASK_ADD`)."""
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
        now = now_iso()
        task: Obj = {
            "id": task_id,
            "displayName": body.get("displayName"),
            "url": f"{job['url']}/tasks/{task_id}",
            "creationTime": now,
            "state": "active",
            "stateTransitionTime": now,
            "commandLine": body["commandLine"],
            "containerSettings": specs.container_settings(body),
            "resourceFiles": body.get("resourceFiles"),
            "outputFiles": body.get("outputFiles"),
            "environmentSettings": (job.get("commonEnvironmentSettings") or [])
            + (body.get("environmentSettings") or []),
            "constraints": specs.task_constraints(body, job),
            "requiredSlots": fields.integer(body, "requiredSlots", 1, lo=1),
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
            raise ApiError(
                409,
                "JobBeingDeleted" if job["state"] == "deleting" else "JobBeingTerminated",
                f"The specified job is {job['state']}.",
            )

    @accepts(shapes.TASK_ADD)
    def create_task(self, req: Request, job_id: str) -> Response:
        job = self.res.job(job_id)
        self._check_job_accepts(job)
        task = self._new_task(job, req.json())
        key = job_id.lower()
        tasks = self.store.tasks.setdefault(key, {})
        if task["id"].lower() in tasks:
            raise ApiError(409, "TaskExists", "The specified task already exists.")
        tasks[task["id"].lower()] = task
        self.store.save_task(key, task)
        self.scheduler.enqueue(key, task["id"].lower())
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
        values: list[fields.Body] = fields.part(body, "value", required=True)
        if len(values) > MAX_TASKS_PER_COLLECTION:
            raise invalid(
                "value",
                len(values),
                f"A collection holds at most {MAX_TASKS_PER_COLLECTION} tasks.",
            )
        job = self.res.job(job_id)
        self._check_job_accepts(job)
        key = job_id.lower()
        tasks = self.store.tasks.setdefault(key, {})
        results: list[dict[str, Any]] = []
        fresh: list[tuple[str, Obj]] = []
        seen: set[str] = set()
        for raw in values:
            tid = raw.get("id")
            try:
                task = self._new_task(job, raw)
                if task["id"].lower() in tasks or task["id"].lower() in seen:
                    raise ApiError(409, "TaskExists", "The specified task already exists.")
            except ApiError as e:
                results.append(
                    {
                        "status": "clienterror",
                        "taskId": tid,
                        "error": {
                            "code": e.code,
                            "message": {"lang": "en-US", "value": e.message},
                            "values": [{"key": k, "value": v} for k, v in e.values.items()],
                        },
                    }
                )
                continue
            seen.add(task["id"].lower())
            fresh.append((f"{key}/{task['id'].lower()}", task))
            results.append(
                {
                    "status": "success",
                    "taskId": task["id"],
                    "eTag": task["eTag"],
                    "lastModified": task["lastModified"],
                    "location": task["url"],
                }
            )
        self.store.save_many("task", fresh)
        for _, task in fresh:
            tasks[task["id"].lower()] = task
            self.scheduler.enqueue(key, task["id"].lower())
        return Response(200, {"odata.metadata": f"{self.base}/$metadata", "value": results})

    def list_tasks(self, req: Request, job_id: str) -> Response:
        self.res.job(job_id)
        tasks = list(self.store.tasks.get(job_id.lower(), {}).values())
        return self.res.page(req, tasks, f"jobs/{job_id}/tasks", filterable.TASKS)

    def get_task(self, req: Request, job_id: str, task_id: str) -> Response:
        _, task = self.res.task(job_id, task_id)
        return self.res.show(req, task)

    def _guarded(self, req: Request, job_id: str, task_id: str) -> tuple[Obj, Obj]:
        job, task = self.res.task(job_id, task_id)
        conditional.check(req, task)
        return job, task

    def _stop(self, job_id: str, task_id: str, how: str) -> bool:
        """Kill the task's processes if it runs; whether it did."""
        run = self.scheduler.running.get((job_id.lower(), task_id.lower()))
        if run is None:
            return False
        self.scheduler.cancel_runs([run], how)
        return True

    def delete_task(self, req: Request, job_id: str, task_id: str) -> Response:
        self._guarded(req, job_id, task_id)
        self._stop(job_id, task_id, "delete")
        job_key, task_key = job_id.lower(), task_id.lower()
        del self.store.tasks[job_key][task_key]
        self.scheduler.forget_task(job_key)
        self.store.remove("task", f"{job_key}/{task_key}")
        return Response(200)

    @accepts(shapes.TASK_UPDATE)
    def update_task(self, req: Request, job_id: str, task_id: str) -> Response:
        """Replaces the task's constraints: what the request omits gets its default."""
        job, task = self._guarded(req, job_id, task_id)
        task["constraints"] = specs.task_constraints(req.json(), job)
        touch(task)
        self.store.save_task(job_id.lower(), task)
        return self.res.updated(task)

    @accepts(shapes.NO_BODY)
    def terminate_task(self, req: Request, job_id: str, task_id: str) -> Response:
        _, task = self._guarded(req, job_id, task_id)
        if not self._stop(job_id, task_id, "terminate") and task["state"] == "active":
            info = task.setdefault("executionInfo", {})
            ended = {
                "category": "usererror",
                "code": "TaskEnded",
                "message": "The task was terminated",
            }
            info.update(result="failure", endTime=now_iso(), failureInfo=ended)
            set_state(task, "completed")
            self.store.save_task(job_id.lower(), task)
        return Response(204, None, {"DataServiceId": task["url"]})

    @accepts(shapes.NO_BODY)
    def reactivate_task(self, req: Request, job_id: str, task_id: str) -> Response:
        job, task = self._guarded(req, job_id, task_id)
        self._check_job_accepts(job)
        info = task.get("executionInfo") or {}
        if task["state"] != "completed":
            raise ApiError(
                409,
                "TaskNotCompleted",
                "The specified task is not in a completed state: only a failed task can be reactivated.",
            )
        if info.get("result") != "failure":
            raise ApiError(
                409,
                "TaskSucceeded",
                "The specified task has already completed successfully: only a failed task can be reactivated.",
            )
        task["executionInfo"] = {"retryCount": 0, "requeueCount": info.get("requeueCount", 0)}
        set_state(task, "active")
        task.pop("nodeInfo", None)
        self.store.save_task(job_id.lower(), task)
        self.scheduler.enqueue(job_id.lower(), task_id.lower())
        return Response(204, None, {"DataServiceId": task["url"]})

    def list_subtasks(self, req: Request, job_id: str, task_id: str) -> Response:
        """Only multi-instance tasks have subtasks; the service runs none, so the list is empty."""
        self.res.task(job_id, task_id)
        return Response(200, {"odata.metadata": f"{self.base}/$metadata", "value": []})

    def _task_dir(self, job_id: str, task_id: str) -> tuple[Path, Obj]:
        _, task = self.res.task(job_id, task_id)
        if not task.get("_dir"):
            raise ApiError(409, "TaskFilesUnavailable", "The task has not run on a node yet.")
        return Path(task["_dir"]), task

    def list_task_files(self, req: Request, job_id: str, task_id: str) -> Response:
        root, task = self._task_dir(job_id, task_id)
        items = listing(root, f"{task['url']}/files", req)
        return self.res.page(req, items, f"jobs/{job_id}/tasks/{task_id}/files", filterable.FILES)

    def get_task_file(self, req: Request, job_id: str, task_id: str, file_path: str) -> Response:
        root, task = self._task_dir(job_id, task_id)
        return file_response(root, file_path, f"{task['url']}/files", req)

    def delete_task_file(self, req: Request, job_id: str, task_id: str, file_path: str) -> Response:
        root, _ = self._task_dir(job_id, task_id)
        delete_file(root, file_path)
        return Response(200)
