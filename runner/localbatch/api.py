"""The REST handlers for images, pools, nodes and jobs (tasks: `tasks_api`).

Each handler takes a parsed `Request` and returns a `Response`; it runs with the
store's lock held (`Api.handle`) and wakes the scheduler after a change.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from runner.localbatch import odata, shapes
from runner.localbatch.catalog import NODE_AGENT_SKUS, SUPPORTED_IMAGES, max_task_slots
from runner.localbatch.errors import ApiError, invalid, missing, not_found
from runner.localbatch.files import file_response, listing
from runner.localbatch.harsh import TERMINATE_DELAY, Harsh
from runner.localbatch.rest import FOREVER, PAGE, Request, Response, check_id, created
from runner.localbatch.scheduler import Scheduler
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, now_iso, public, set_state, touch
from runner.localbatch.tasks_api import TaskApi


class Api(TaskApi):
    def __init__(self, scheduler: Scheduler, base_url: str) -> None:
        self.s = scheduler
        self.st = scheduler.store
        self.base = base_url
        R = re.compile
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", R(r"^supportedimages$"), self.supported_images),
            ("GET", R(r"^nodeagentskus$"), self.node_agent_skus),
            ("POST", R(r"^pools$"), self.create_pool),
            ("GET", R(r"^pools$"), self.list_pools),
            ("GET", R(r"^pools/([^/]+)$"), self.get_pool),
            ("HEAD", R(r"^pools/([^/]+)$"), self.pool_exists),
            ("DELETE", R(r"^pools/([^/]+)$"), self.delete_pool),
            ("PATCH", R(r"^pools/([^/]+)$"), self.patch_pool),
            ("POST", R(r"^pools/([^/]+)/updateproperties$"), self.update_pool_properties),
            ("POST", R(r"^pools/([^/]+)/resize$"), self.resize_pool),
            ("POST", R(r"^pools/([^/]+)/stopresize$"), self.stop_resize_pool),
            ("GET", R(r"^pools/([^/]+)/nodes$"), self.list_nodes),
            ("GET", R(r"^pools/([^/]+)/nodes/([^/]+)$"), self.get_node),
            ("POST", R(r"^pools/([^/]+)/nodes/([^/]+)/reboot$"), self.reboot_node),
            ("GET", R(r"^pools/([^/]+)/nodes/([^/]+)/files$"), self.list_node_files),
            ("GET", R(r"^pools/([^/]+)/nodes/([^/]+)/files/(.+)$"), self.get_node_file),
            ("HEAD", R(r"^pools/([^/]+)/nodes/([^/]+)/files/(.+)$"), self.get_node_file),
            ("POST", R(r"^jobs$"), self.create_job),
            ("GET", R(r"^jobs$"), self.list_jobs),
            ("GET", R(r"^jobs/([^/]+)$"), self.get_job),
            ("DELETE", R(r"^jobs/([^/]+)$"), self.delete_job),
            ("PATCH", R(r"^jobs/([^/]+)$"), self.patch_job),
            ("PUT", R(r"^jobs/([^/]+)$"), self.patch_job),
            ("POST", R(r"^jobs/([^/]+)/terminate$"), self.terminate_job),
            ("GET", R(r"^jobs/([^/]+)/taskcounts$"), self.task_counts),
            ("POST", R(r"^jobs/([^/]+)/tasks$"), self.create_task),
            ("POST", R(r"^jobs/([^/]+)/addtaskcollection$"), self.add_task_collection),
            ("GET", R(r"^jobs/([^/]+)/tasks$"), self.list_tasks),
            ("GET", R(r"^jobs/([^/]+)/tasks/([^/]+)$"), self.get_task),
            ("DELETE", R(r"^jobs/([^/]+)/tasks/([^/]+)$"), self.delete_task),
            ("PUT", R(r"^jobs/([^/]+)/tasks/([^/]+)$"), self.update_task),
            ("POST", R(r"^jobs/([^/]+)/tasks/([^/]+)/terminate$"), self.terminate_task),
            ("POST", R(r"^jobs/([^/]+)/tasks/([^/]+)/reactivate$"), self.reactivate_task),
            ("GET", R(r"^jobs/([^/]+)/tasks/([^/]+)/files$"), self.list_task_files),
            ("GET", R(r"^jobs/([^/]+)/tasks/([^/]+)/files/(.+)$"), self.get_task_file),
            ("HEAD", R(r"^jobs/([^/]+)/tasks/([^/]+)/files/(.+)$"), self.get_task_file),
            ("DELETE", R(r"^jobs/([^/]+)/tasks/([^/]+)/files/(.+)$"), self.delete_task_file),
        ]

    def handle(self, req: Request) -> Response:
        path = "/".join(req.parts)
        for method, pattern, handler in self.routes:
            m = pattern.match(path)
            if m and method == req.method:
                with self.s.cond:
                    resp = handler(req, *m.groups())
                    if req.method != "GET":
                        self.s.cond.notify_all()
                    return resp
        if any(p.match(path) for _, p, _ in self.routes):
            raise ApiError(
                405, "UnsupportedHttpVerb", f"The resource doesn't support the {req.method} verb."
            )
        raise ApiError(
            404, "InvalidUri", f"The requested URI does not represent any resource: /{path}"
        )

    # --- helpers -------------------------------------------------------------------------

    def _page(self, req: Request, items: Iterable[Obj], path: str) -> Response:
        pred = odata.compile_filter(req.query.get("$filter"))
        try:
            size = min(int(req.query.get("maxresults") or PAGE), PAGE)
            skip = int(req.query.get("$skiptoken") or 0)
        except ValueError:
            raise ApiError(
                400, "InvalidQueryParameterValue", "maxresults and $skiptoken are integers."
            ) from None
        selected: list[Obj] = []
        seen = 0
        more = False
        for obj in items:
            view = public(obj)
            if pred is not None and not pred(view):
                continue
            if seen < skip:
                seen += 1
                continue
            if len(selected) == size:
                more = True
                break
            selected.append(odata.select(view, req.query.get("$select")))
            seen += 1
        body: dict[str, Any] = {"odata.metadata": f"{self.base}/$metadata", "value": selected}
        if more:
            q = {k: v for k, v in req.query.items() if k not in ("api-version", "$skiptoken")}
            q["$skiptoken"] = str(skip + size)
            body["odata.nextLink"] = f"{self.base}/{path}?{urllib.parse.urlencode(q)}"
        return Response(200, body)

    def _pool(self, pool_id: str) -> Obj:
        pool = self.st.pools.get(pool_id.lower())
        if pool is None:
            raise not_found("pool", pool_id)
        return pool

    def _job(self, job_id: str) -> Obj:
        job = self.st.jobs.get(job_id.lower())
        if job is None:
            raise not_found("job", job_id)
        return job

    def _task(self, job_id: str, task_id: str) -> tuple[Obj, Obj]:
        job = self._job(job_id)
        task = self.st.tasks.get(job_id.lower(), {}).get(task_id.lower())
        if task is None:
            raise not_found("task", task_id)
        return job, task

    def _node(self, pool_id: str, node_id: str) -> Obj:
        self._pool(pool_id)
        node = self.st.nodes.get(pool_id.lower(), {}).get(node_id)
        if node is None:
            raise not_found("node", node_id)
        return node

    # --- images ----------------------------------------------------------------------------

    def supported_images(self, req: Request) -> Response:
        return self._page(req, SUPPORTED_IMAGES, "supportedimages")

    def node_agent_skus(self, req: Request) -> Response:
        skus = [
            {"id": sku, "osType": "linux", "verifiedImageReferences": [
                i["imageReference"] for i in SUPPORTED_IMAGES if i["nodeAgentSKUId"] == sku]}
            for sku in NODE_AGENT_SKUS
        ]  # fmt: skip
        return self._page(req, skus, "nodeagentskus")

    # --- pools -----------------------------------------------------------------------------

    @accepts(shapes.POOL_ADD)
    def create_pool(self, req: Request) -> Response:
        body = req.json()
        pool_id = check_id("pool", body.get("id"))
        if not body.get("vmSize"):
            raise missing("vmSize")
        vmc = body.get("virtualMachineConfiguration")
        if not vmc:
            raise missing("virtualMachineConfiguration")
        if vmc.get("nodeAgentSKUId") not in NODE_AGENT_SKUS:
            raise invalid(
                "nodeAgentSKUId", vmc.get("nodeAgentSKUId"), "The node agent SKU is not supported."
            )
        existing = self.st.pools.get(pool_id.lower())
        if existing is not None:
            self._updatable(existing)  # a pool being deleted keeps its ID until it is gone
            raise ApiError(409, "PoolExists", "The specified pool already exists.")
        slots = int(body.get("taskSlotsPerNode") or 1)
        limit = max_task_slots(body["vmSize"])
        if not 1 <= slots <= limit:
            why = f"taskSlotsPerNode must be from 1 to {limit} for the VM size {body['vmSize']}"
            raise invalid("taskSlotsPerNode", slots, f"{why} (4 per vCPU, at most 256).")
        for key in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            if int(body.get(key) or 0) < 0:
                raise invalid(key, body.get(key), f"{key} cannot be negative.")
        now = now_iso()
        url = f"{self.base}/pools/{pool_id}"
        pool: Obj = {
            "id": pool_id,
            "displayName": body.get("displayName"),
            "url": url,
            "creationTime": now,
            "state": "active",
            "stateTransitionTime": now,
            "allocationState": "resizing",
            "allocationStateTransitionTime": now,
            "vmSize": body["vmSize"],
            "virtualMachineConfiguration": vmc,
            "resizeTimeout": body.get("resizeTimeout", "PT15M"),
            "currentDedicatedNodes": 0,
            "currentLowPriorityNodes": 0,
            "targetDedicatedNodes": int(body.get("targetDedicatedNodes") or 0),
            "targetLowPriorityNodes": int(body.get("targetLowPriorityNodes") or 0),
            "enableAutoScale": False,
            "enableInterNodeCommunication": False,
            "taskSlotsPerNode": slots,
            "taskSchedulingPolicy": body.get("taskSchedulingPolicy") or {"nodeFillType": "spread"},
            "startTask": body.get("startTask"),
            "metadata": body.get("metadata") or [],
        }
        pool = {k: v for k, v in pool.items() if v is not None}
        Harsh.delay(pool, self.s.harsh.allocation_delay)
        touch(pool)
        key = pool_id.lower()
        self.st.pools[key] = pool
        self.st.nodes[key] = {}
        self.st.save("pool", key, pool)
        return created(pool, url)

    def list_pools(self, req: Request) -> Response:
        return self._page(req, list(self.st.pools.values()), "pools")

    def get_pool(self, req: Request, pool_id: str) -> Response:
        return Response(200, odata.select(public(self._pool(pool_id)), req.query.get("$select")))

    def pool_exists(self, req: Request, pool_id: str) -> Response:
        self._pool(pool_id)
        return Response(200)

    def delete_pool(self, req: Request, pool_id: str) -> Response:
        pool = self._pool(pool_id)
        self._updatable(pool)
        set_state(pool, "deleting")
        Harsh.delay(pool, self.s.harsh.delete_delay)
        touch(pool)
        self.st.save("pool", pool_id.lower(), pool)
        return Response(202)

    def _updatable(self, pool: Obj) -> None:
        if pool["state"] == "deleting":
            raise ApiError(
                409,
                "PoolBeingDeleted",
                "The specified pool has been marked for deletion and is being reclaimed.",
            )

    @accepts(shapes.POOL_PATCH)
    def patch_pool(self, req: Request, pool_id: str) -> Response:
        pool = self._pool(pool_id)
        self._updatable(pool)
        body = req.json()
        for key in ("startTask", "metadata", "displayName"):
            if key in body:
                pool[key] = body[key]
        touch(pool)
        self.st.save("pool", pool_id.lower(), pool)
        return Response(200)

    @accepts(shapes.POOL_PROPERTIES)
    def update_pool_properties(self, req: Request, pool_id: str) -> Response:
        pool = self._pool(pool_id)
        self._updatable(pool)
        body = req.json()
        pool["startTask"] = body.get("startTask")
        pool["metadata"] = body.get("metadata") or []
        if pool["startTask"] is None:
            pool.pop("startTask")
        touch(pool)
        self.st.save("pool", pool_id.lower(), pool)
        return Response(204)

    @accepts(shapes.POOL_RESIZE)
    def resize_pool(self, req: Request, pool_id: str) -> Response:
        pool = self._pool(pool_id)
        self._updatable(pool)
        if pool.get("allocationState") != "steady":  # as Azure: resize a steady pool only
            raise ApiError(409, "PoolBeingResized", "The specified pool is being resized.")
        body = req.json()
        for key in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            if key in body:
                if int(body[key] or 0) < 0:
                    raise invalid(key, body[key], f"{key} cannot be negative.")
                pool[key] = int(body[key] or 0)
        pool["allocationState"] = "resizing"
        pool["allocationStateTransitionTime"] = now_iso()
        pool.pop("resizeErrors", None)  # they describe the last resize, once steady
        Harsh.delay(pool, self.s.harsh.allocation_delay)
        touch(pool)
        self.st.save("pool", pool_id.lower(), pool)
        return Response(202)

    @accepts(shapes.NO_BODY)
    def stop_resize_pool(self, req: Request, pool_id: str) -> Response:
        """The pool stops where its allocation is (`stopping`, then `steady`)."""
        pool = self._pool(pool_id)
        self._updatable(pool)
        if pool.get("allocationState") == "resizing":
            pool["allocationState"] = "stopping"
            pool["allocationStateTransitionTime"] = now_iso()
            touch(pool)
            self.st.save("pool", pool_id.lower(), pool)
        return Response(202)

    # --- nodes and their files ---------------------------------------------------------------

    def list_nodes(self, req: Request, pool_id: str) -> Response:
        self._pool(pool_id)
        return self._page(
            req, list(self.st.nodes.get(pool_id.lower(), {}).values()), f"pools/{pool_id}/nodes"
        )

    def get_node(self, req: Request, pool_id: str, node_id: str) -> Response:
        return Response(
            200, odata.select(public(self._node(pool_id, node_id)), req.query.get("$select"))
        )

    @accepts(shapes.NO_BODY)
    def reboot_node(self, req: Request, pool_id: str, node_id: str) -> Response:
        """The node reboots: its tasks are re-queued, its start task runs again."""
        self._updatable(self._pool(pool_id))
        node = self._node(pool_id, node_id)
        busy = _NODE_BUSY.get(node["state"])
        if busy is not None:
            raise ApiError(409, busy, f"The node is {node['state']}: it cannot be rebooted now.")
        self.s.restart_node(pool_id.lower(), node_id, "rebooting", REBOOT_SECONDS)
        return Response(202)

    def list_node_files(self, req: Request, pool_id: str, node_id: str) -> Response:
        node = self._node(pool_id, node_id)
        url = f"{node['url']}/files"
        return self._page(
            req, listing(Path(node["_root"]), url, req), f"pools/{pool_id}/nodes/{node_id}/files"
        )

    def get_node_file(self, req: Request, pool_id: str, node_id: str, file_path: str) -> Response:
        node = self._node(pool_id, node_id)
        return file_response(Path(node["_root"]), file_path, f"{node['url']}/files", req)

    # --- jobs --------------------------------------------------------------------------------

    @accepts(shapes.JOB_ADD)
    def create_job(self, req: Request) -> Response:
        body = req.json()
        job_id = check_id("job", body.get("id"))
        pool_id = (body.get("poolInfo") or {}).get("poolId")
        if not pool_id:
            raise missing("poolInfo")
        existing = self.st.jobs.get(job_id.lower())
        if existing is not None and existing["state"] == "deleting":
            raise ApiError(409, "JobBeingDeleted", JOB_BEING_DELETED)
        if existing is not None:
            raise ApiError(409, "JobExists", "The specified job already exists.")
        self.s.harsh.check_job_quota(self.st.jobs.values())
        now = now_iso()
        url = f"{self.base}/jobs/{job_id}"
        constraints = body.get("constraints") or {}
        job: Obj = {
            "id": job_id,
            "displayName": body.get("displayName"),
            "url": url,
            "creationTime": now,
            "state": "active",
            "stateTransitionTime": now,
            "priority": int(body.get("priority") or 0),
            "maxParallelTasks": int(body.get("maxParallelTasks") or -1),
            "usesTaskDependencies": bool(body.get("usesTaskDependencies", False)),
            "onAllTasksComplete": body.get("onAllTasksComplete") or "noaction",
            "onTaskFailure": body.get("onTaskFailure") or "noaction",
            "constraints": {
                "maxWallClockTime": constraints.get("maxWallClockTime", FOREVER),
                "maxTaskRetryCount": int(constraints.get("maxTaskRetryCount") or 0),
            },
            "jobPreparationTask": body.get("jobPreparationTask"),
            "jobReleaseTask": body.get("jobReleaseTask"),
            "commonEnvironmentSettings": body.get("commonEnvironmentSettings"),
            "poolInfo": {"poolId": pool_id},
            "metadata": body.get("metadata") or [],
            "executionInfo": {"startTime": now, "poolId": pool_id},
        }
        job = {k: v for k, v in job.items() if v is not None}
        touch(job)
        key = job_id.lower()
        self.st.jobs[key] = job
        self.st.tasks[key] = {}
        self.st.save("job", key, job)
        return created(job, url)

    def list_jobs(self, req: Request) -> Response:
        return self._page(req, list(self.st.jobs.values()), "jobs")

    def get_job(self, req: Request, job_id: str) -> Response:
        return Response(200, odata.select(public(self._job(job_id)), req.query.get("$select")))

    def delete_job(self, req: Request, job_id: str) -> Response:
        job = self._job(job_id)
        set_state(job, "deleting")
        Harsh.delay(job, self.s.harsh.delete_delay)
        touch(job)
        self.st.save("job", job_id.lower(), job)
        return Response(202)

    @accepts(shapes.JOB_UPDATE)
    def patch_job(self, req: Request, job_id: str) -> Response:
        job = self._job(job_id)
        if job["state"] in ("completed", "deleting", "terminating"):
            raise ApiError(409, "JobCompleted" if job["state"] == "completed" else "JobBeingDeleted",
                           f"The specified job is {job['state']}.")  # fmt: skip
        body = req.json()
        for key in (
            "priority",
            "maxParallelTasks",
            "onAllTasksComplete",
            "constraints",
            "metadata",
            "poolInfo",
        ):
            if key in body:
                job[key] = body[key]
        touch(job)
        self.st.save("job", job_id.lower(), job)
        return Response(200)

    @accepts(shapes.JOB_TERMINATE)
    def terminate_job(self, req: Request, job_id: str) -> Response:
        job = self._job(job_id)
        if job["state"] == "completed":
            raise ApiError(
                409, "JobCompleted", "The specified job is already in a completed state."
            )
        if job["state"] == "deleting":
            raise ApiError(409, "JobBeingDeleted", JOB_BEING_DELETED)
        job.setdefault("executionInfo", {})["terminateReason"] = (
            req.json().get("terminateReason") or "UserTerminate"
        )
        if job["state"] != "terminating":
            Harsh.delay(job, TERMINATE_DELAY)
        set_state(job, "terminating")
        touch(job)
        self.st.save("job", job_id.lower(), job)
        return Response(202)

    def task_counts(self, req: Request, job_id: str) -> Response:
        job = self._job(job_id)
        tasks = self.st.tasks.get(job_id.lower(), {})
        counts = self.s.harsh.task_counts(job_id.lower(), job, lambda: _count(tasks.values()))
        return Response(200, {"odata.metadata": f"{self.base}/$metadata", "taskCounts": counts,
                              "taskSlotCounts": dict(counts)})  # fmt: skip


REBOOT_SECONDS = 0.3  # how long a rebooting node stays down before its start task runs
# a node in one of these states refuses a reboot, with Batch's code
_NODE_BUSY = {
    "creating": "NodeBeingCreated",
    "starting": "NodeBeingStarted",
    "waitingforstarttask": "NodeBeingStarted",
    "rebooting": "NodeBeingRebooted",
}
JOB_BEING_DELETED = "The specified job has been marked for deletion and is being garbage collected."


def _count(tasks: Iterable[Obj]) -> dict[str, int]:
    counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
    for t in tasks:
        state = t["state"]
        if state == "completed":
            counts["completed"] += 1
            ok = (t.get("executionInfo") or {}).get("result") == "success"
            counts["succeeded" if ok else "failed"] += 1
        elif state in ("running", "preparing"):
            counts["running"] += 1
        else:
            counts["active"] += 1
    return counts
