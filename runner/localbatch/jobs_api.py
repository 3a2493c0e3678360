"""The REST handlers for jobs: create, list, get, delete, update (PATCH merges the
properties sent, each replaced as a whole) and replace (PUT resets every updatable
property it omits to its default), disable, enable, terminate, task counts, and the
preparation and release task status per node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runner.localbatch import conditional, fields, filterable, shapes, specs, stats
from runner.localbatch.errors import ApiError, invalid
from runner.localbatch.harsh import TERMINATE_DELAY, Harsh
from runner.localbatch.resources import Resources, Route, expands, route
from runner.localbatch.rest import Request, Response, check_id, created
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, now_iso, set_state, touch

JOB = r"jobs/([^/]+)"
DISABLE_OPTIONS = ("requeue", "terminate", "wait")
PRIORITY = (-1000, 1000)
JOB_BEING_DELETED = "The specified job has been marked for deletion and is being garbage collected."


def being_deleted() -> ApiError:
    return ApiError(409, "JobBeingDeleted", JOB_BEING_DELETED)


def _refuse_if_ending(job: Obj) -> None:
    state = job["state"]
    if state == "completed":
        raise ApiError(409, "JobCompleted", "The specified job is already in a completed state.")
    if state == "deleting":
        raise being_deleted()
    if state == "terminating":
        raise ApiError(409, "JobBeingTerminated", "The specified job is being terminated.")


class JobApi:
    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.store = resources.store
        self.scheduler = resources.scheduler
        self.harsh = resources.scheduler.harsh

    def routes(self) -> list[Route]:
        return [
            route("POST", r"jobs", self.create_job),
            route("GET", r"jobs", self.list_jobs),
            route("GET", JOB, self.get_job),
            route("DELETE", JOB, self.delete_job),
            route("PATCH", JOB, self.update_job),
            route("PUT", JOB, self.replace_job),
            route("POST", JOB + "/disable", self.disable_job),
            route("POST", JOB + "/enable", self.enable_job),
            route("POST", JOB + "/terminate", self.terminate_job),
            route("GET", JOB + "/taskcounts", self.task_counts),
            route("GET", JOB + "/jobpreparationandreleasetaskstatus", self.prep_release_status),
        ]

    @accepts(shapes.JOB_ADD)
    def create_job(self, req: Request) -> Response:
        body = req.json()
        job_id = check_id("job", body.get("id"))
        info = specs.pool_info(body, required=True) or {}
        existing = self.store.jobs.get(job_id.lower())
        if existing is not None and existing["state"] == "deleting":
            raise being_deleted()  # a job being deleted keeps its ID until it is gone
        if existing is not None:
            raise ApiError(409, "JobExists", "The specified job already exists.")
        self.harsh.check_job_quota(self.store.jobs.values())
        now = now_iso()
        url = f"{self.res.base}/jobs/{job_id}"
        job: Obj = {
            "id": job_id,
            "displayName": fields.text(body, "displayName"),
            "url": url,
            "creationTime": now,
            "state": "active",
            "stateTransitionTime": now,
            "usesTaskDependencies": fields.boolean(body, "usesTaskDependencies", False),
            "onTaskFailure": fields.choice(body, "onTaskFailure", specs.TASK_FAILURE, "noaction"),
            "commonEnvironmentSettings": fields.part(body, "commonEnvironmentSettings"),
            "executionInfo": {"startTime": now, "poolId": info["poolId"]},
        }
        self._set_updatable(job, body, replace=True)
        job["jobPreparationTask"] = specs.preparation_task(body, job)
        job["jobReleaseTask"] = specs.release_task(body)
        if job["jobReleaseTask"] and not job["jobPreparationTask"]:
            raise invalid("jobReleaseTask", "", "A job release task needs a job preparation task.")
        job = {k: v for k, v in job.items() if v is not None}
        touch(job)
        key = job_id.lower()
        self.store.jobs[key] = job
        self.store.tasks[key] = {}
        self.store.save("job", key, job)
        return created(job, url)

    def _set_updatable(self, job: Obj, body: fields.Body, *, replace: bool) -> None:
        """The updatable properties: with `replace`, all of them, omitted ones reset to their
        defaults; otherwise only those sent, each replaced as a whole."""

        def given(key: str) -> bool:
            return replace or key in body

        if given("priority"):
            job["priority"] = fields.integer(body, "priority", 0, lo=PRIORITY[0], hi=PRIORITY[1])
        if given("allowTaskPreemption"):
            job["allowTaskPreemption"] = fields.boolean(body, "allowTaskPreemption", False)
        if given("maxParallelTasks"):
            limit = fields.integer(body, "maxParallelTasks", -1, lo=-1)
            if limit == 0:
                raise invalid("maxParallelTasks", 0, "maxParallelTasks is -1 or greater than 0.")
            job["maxParallelTasks"] = limit
        if given("constraints"):
            job["constraints"] = specs.job_constraints(body)
        if given("metadata"):
            job["metadata"] = fields.metadata(body)
        if given("onAllTasksComplete"):
            mode = fields.choice(body, "onAllTasksComplete", specs.ALL_TASKS_COMPLETE, "noaction")
            if job.get("onAllTasksComplete") == "terminatejob" and mode == "noaction":
                raise invalid(
                    "onAllTasksComplete",
                    mode,
                    "A job that terminates when its tasks complete cannot go back to noaction.",
                )
            job["onAllTasksComplete"] = mode
        if given("poolInfo"):
            self._set_pool(job, specs.pool_info(body, required=replace))

    def _set_pool(self, job: Obj, info: Obj | None) -> None:
        if info is None:
            return
        current = (job.get("poolInfo") or {}).get("poolId")
        if (
            current is not None
            and current.lower() != info["poolId"].lower()
            and job["state"] != "disabled"
        ):
            raise ApiError(
                409,
                "OperationInvalidForCurrentState",
                "A job's pool can change only while the job is disabled.",
            )
        job["poolInfo"] = info
        job.setdefault("executionInfo", {})["poolId"] = info["poolId"]

    def _stats(self, req: Request) -> Any:
        if not expands(req, "stats"):
            return None
        return lambda job: {
            "stats": stats.job_stats(
                job, list(self.store.tasks.get(job["id"].lower(), {}).values())
            )
        }

    def list_jobs(self, req: Request) -> Response:
        jobs = list(self.store.jobs.values())
        return self.res.page(req, jobs, "jobs", filterable.JOBS, extra=self._stats(req))

    def get_job(self, req: Request, job_id: str) -> Response:
        job = self.res.job(job_id)
        extra = self._stats(req)
        return self.res.show(req, job, extra(job) if extra else None)

    def _changed(self, job: Obj, status: int = 200) -> Response:
        touch(job)
        self.store.save("job", job["id"].lower(), job)
        return self.res.updated(job, status)

    def _guarded(self, req: Request, job_id: str) -> Obj:
        job = self.res.job(job_id)
        conditional.check(req, job)
        return job

    def delete_job(self, req: Request, job_id: str) -> Response:
        """The job stays `deleting` for a while, as on Azure (`harsh`)."""
        job = self._guarded(req, job_id)
        if job["state"] != "deleting":
            set_state(job, "deleting")
            Harsh.delay(job, self.harsh.delete_delay)
        return self._changed(job, 202)

    @accepts(shapes.JOB_UPDATE)
    def update_job(self, req: Request, job_id: str) -> Response:
        job = self._guarded(req, job_id)
        _refuse_if_ending(job)
        self._set_updatable(job, req.json(), replace=False)
        return self._changed(job)

    @accepts(shapes.JOB_UPDATE)
    def replace_job(self, req: Request, job_id: str) -> Response:
        job = self._guarded(req, job_id)
        _refuse_if_ending(job)
        self._set_updatable(job, req.json(), replace=True)
        return self._changed(job)

    @accepts(shapes.JOB_DISABLE)
    def disable_job(self, req: Request, job_id: str) -> Response:
        job = self._guarded(req, job_id)
        option = fields.choice(req.json(), "disableTasks", DISABLE_OPTIONS)
        if option is None:
            raise invalid("disableTasks", None, "disableTasks is one of requeue, terminate, wait.")
        _refuse_if_ending(job)
        if job["state"] != "active":
            raise ApiError(409, "JobNotActive", f"The specified job is {job['state']}, not active.")
        self.scheduler.disable_job(job_id.lower(), job, option)
        return self._changed(job, 202)

    @accepts(shapes.NO_BODY)
    def enable_job(self, req: Request, job_id: str) -> Response:
        job = self._guarded(req, job_id)
        _refuse_if_ending(job)
        if job["state"] not in ("disabled", "disabling"):
            raise ApiError(
                409,
                "OperationInvalidForCurrentState",
                f"The specified job is {job['state']}; only a disabled job can be enabled.",
            )
        self.scheduler.enable_job(job_id.lower(), job)
        return self._changed(job, 202)

    @accepts(shapes.JOB_TERMINATE)
    def terminate_job(self, req: Request, job_id: str) -> Response:
        """The job stays `terminating` a moment at least (`harsh.TERMINATE_DELAY`), as the
        SDK's poller expects, and until its running tasks have been stopped."""
        job = self._guarded(req, job_id)
        _refuse_if_ending(job)
        reason = fields.text(req.json(), "terminateReason", "UserTerminate")
        job.setdefault("executionInfo", {})["terminateReason"] = reason
        set_state(job, "terminating")
        Harsh.delay(job, TERMINATE_DELAY)
        return self._changed(job, 202)

    def task_counts(self, req: Request, job_id: str) -> Response:
        """Exact counts, or with `BWF_LOCALBATCH_STALE_COUNTS` a snapshot that may be old."""
        job = self.res.job(job_id)
        tasks = self.store.tasks.get(job_id.lower(), {})
        counts = self.harsh.task_counts(job_id.lower(), job, lambda: _count(tasks.values()))
        body = {"odata.metadata": f"{self.res.base}/$metadata", **counts}
        return Response(200, body)

    def prep_release_status(self, req: Request, job_id: str) -> Response:
        job = self.res.job(job_id)
        if not job.get("jobPreparationTask") and not job.get("jobReleaseTask"):
            raise ApiError(
                409,
                "JobPreparationTaskNotSpecified",
                "The specified job does not have a job preparation task.",
            )
        items = list((job.get("_jobtasks") or {}).values())
        path = f"jobs/{job_id}/jobpreparationandreleasetaskstatus"
        return self.res.page(req, items, path, filterable.PREP_RELEASE)


def _count(tasks: Iterable[Obj]) -> dict[str, dict[str, int]]:
    """`taskCounts` and `taskSlotCounts` (each task counting its `requiredSlots`)."""
    counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
    slots = dict(counts)
    for t in tasks:
        state = t["state"]
        kinds: tuple[str, ...]
        if state == "completed":
            ok = (t.get("executionInfo") or {}).get("result") == "success"
            kinds = ("completed", "succeeded" if ok else "failed")
        elif state in ("running", "preparing"):
            kinds = ("running",)
        else:
            kinds = ("active",)
        for kind in kinds:
            counts[kind] += 1
            slots[kind] += int(t.get("requiredSlots") or 1)
    return {"taskCounts": counts, "taskSlotCounts": slots}
