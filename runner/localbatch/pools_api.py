"""The REST handlers for pools and account-level pool lists: create, list, get, exists,
delete, update (PATCH) and replace (`updateproperties`), resize, stop resize, remove
nodes, node counts, usage metrics, and the supported images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runner.localbatch import conditional, fields, filterable, shapes, specs, stats
from runner.localbatch.allocation import begin_resize
from runner.localbatch.autoscale_api import autoscale_on_create, refuse_if_autoscaled
from runner.localbatch.catalog import (
    NODE_AGENT_SKUS,
    RETIRED_NODE_AGENT_SKUS,
    SUPPORTED_IMAGES,
    max_task_slots,
)
from runner.localbatch.errors import ApiError, invalid, not_found
from runner.localbatch.harsh import Harsh
from runner.localbatch.odata import parse_time
from runner.localbatch.resources import Resources, Route, expands, route
from runner.localbatch.rest import Request, Response, check_id, created
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, now_iso, set_plain_state, touch

NODE_LIST_MAX = 100  # nodes per removenodes request
COUNT_KEYS = {
    "creating": "creating",
    "idle": "idle",
    "offline": "offline",
    "preempted": "preempted",
    "rebooting": "rebooting",
    "reimaging": "reimaging",
    "running": "running",
    "starting": "starting",
    "starttaskfailed": "startTaskFailed",
    "leavingpool": "leavingPool",
    "unknown": "unknown",
    "unusable": "unusable",
    "waitingforstarttask": "waitingForStartTask",
    "deallocated": "deallocated",
    "deallocating": "deallocating",
    "upgradingos": "upgradingOS",
}


def _being_deleted() -> ApiError:
    return ApiError(
        409,
        "PoolBeingDeleted",
        "The specified pool has been marked for deletion and is being reclaimed.",
    )


def _being_resized() -> ApiError:
    return ApiError(409, "PoolBeingResized", "The specified pool is being resized.")


class PoolApi:
    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.store = resources.store
        self.harsh = resources.scheduler.harsh
        self.autoscaler = resources.scheduler.autoscaler

    def routes(self) -> list[Route]:
        return [
            route("GET", r"supportedimages", self.supported_images),
            route("GET", r"nodeagentskus", self.node_agent_skus),
            route("GET", r"nodecounts", self.node_counts),
            route("GET", r"poolusagemetrics", self.usage_metrics),
            route("POST", r"pools", self.create_pool),
            route("GET", r"pools", self.list_pools),
            route("GET", r"pools/([^/]+)", self.get_pool),
            route("HEAD", r"pools/([^/]+)", self.pool_exists),
            route("DELETE", r"pools/([^/]+)", self.delete_pool),
            route("PATCH", r"pools/([^/]+)", self.patch_pool),
            route("POST", r"pools/([^/]+)/updateproperties", self.replace_pool),
            route("POST", r"pools/([^/]+)/resize", self.resize_pool),
            route("POST", r"pools/([^/]+)/stopresize", self.stop_resize),
            route("POST", r"pools/([^/]+)/removenodes", self.remove_nodes),
        ]

    # --- images and account-level lists ------------------------------------------------

    def supported_images(self, req: Request) -> Response:
        return self.res.page(req, SUPPORTED_IMAGES, "supportedimages", filterable.SUPPORTED_IMAGES)

    def node_agent_skus(self, req: Request) -> Response:
        skus = [
            {
                "id": sku,
                "osType": "linux",
                "verifiedImageReferences": [
                    i["imageReference"] for i in SUPPORTED_IMAGES if i["nodeAgentSKUId"] == sku
                ],
            }
            for sku in NODE_AGENT_SKUS
        ]
        return self.res.page(req, skus, "nodeagentskus", filterable.NODE_AGENT_SKUS)

    def node_counts(self, req: Request) -> Response:
        def counts(pool: Obj) -> Obj:
            out: Obj = {"poolId": pool["id"]}
            for kind, dedicated in (("dedicated", True), ("lowPriority", False)):
                tally = dict.fromkeys([*COUNT_KEYS.values(), "total"], 0)
                for node in self.store.nodes.get(pool["id"].lower(), {}).values():
                    if bool(node.get("isDedicated")) == dedicated:
                        tally[COUNT_KEYS.get(node["state"], "unknown")] += 1
                        tally["total"] += 1
                out[kind] = tally
            return out

        pools = [counts(p) for p in self.store.pools.values()]
        return self.res.page(req, pools, "nodecounts", filterable.NODE_COUNTS, limit=10)

    def usage_metrics(self, req: Request) -> Response:
        start, end = (_query_time(req, name) for name in ("starttime", "endtime"))
        items = stats.usage_metrics(list(self.store.usage.values()), start, end)
        return self.res.page(req, items, "poolusagemetrics", filterable.USAGE_METRICS)

    # --- pools -------------------------------------------------------------------------

    @accepts(shapes.POOL_ADD)
    def create_pool(self, req: Request) -> Response:
        body = req.json()
        pool_id = check_id("pool", body.get("id"))
        vm_size = fields.text(body, "vmSize", required=True) or ""
        vmc = dict(fields.part(body, "virtualMachineConfiguration", required=True))
        _check_agent(fields.text(vmc, "nodeAgentSKUId", required=True) or "")
        vmc["containerConfiguration"] = specs.container_configuration(vmc)
        autoscaled = autoscale_on_create(body, self.autoscaler.settings)
        existing = self.store.pools.get(pool_id.lower())
        if existing is not None and existing["state"] == "deleting":
            raise _being_deleted()  # a pool being deleted keeps its ID until it is gone
        if existing is not None:
            raise ApiError(409, "PoolExists", "The specified pool already exists.")
        now = now_iso()
        url = f"{self.res.base}/pools/{pool_id}"
        pool: Obj = {
            "id": pool_id,
            "displayName": fields.text(body, "displayName"),
            "url": url,
            "creationTime": now,
            "state": "active",
            "stateTransitionTime": now,
            "allocationState": "resizing",
            "allocationStateTransitionTime": now,
            "vmSize": vm_size,
            "virtualMachineConfiguration": {k: v for k, v in vmc.items() if v is not None},
            "resizeTimeout": fields.text(body, "resizeTimeout", "PT15M"),
            "currentDedicatedNodes": 0,
            "currentLowPriorityNodes": 0,
            "targetDedicatedNodes": fields.integer(body, "targetDedicatedNodes", 0, lo=0),
            "targetLowPriorityNodes": fields.integer(body, "targetLowPriorityNodes", 0, lo=0),
            "enableAutoScale": False,
            "enableInterNodeCommunication": fields.boolean(
                body, "enableInterNodeCommunication", False
            ),
            "taskSlotsPerNode": _task_slots(body, vm_size),
            "taskSchedulingPolicy": specs.scheduling_policy(body),
            "startTask": specs.start_task(body),
            "metadata": fields.metadata(body),
        }
        pool = {k: v for k, v in pool.items() if v is not None}
        Harsh.delay(pool, self.harsh.allocation_delay)
        touch(pool)
        key = pool_id.lower()
        self.store.pools[key] = pool
        self.store.nodes[key] = {}
        if autoscaled is not None:  # evaluated at once: its targets are the first resize's
            self.autoscaler.enable(key, pool, *autoscaled)
        self.store.save("pool", key, pool)
        return created(pool, url)

    def _stats(self, req: Request) -> Any:
        if not expands(req, "stats"):
            return None
        usage = list(self.store.usage.values())
        return lambda pool: {"stats": stats.pool_stats(pool, usage)}

    def list_pools(self, req: Request) -> Response:
        pools = list(self.store.pools.values())
        return self.res.page(req, pools, "pools", filterable.POOLS, extra=self._stats(req))

    def get_pool(self, req: Request, pool_id: str) -> Response:
        pool = self.res.pool(pool_id)
        extra = self._stats(req)
        return self.res.show(req, pool, extra(pool) if extra else None)

    def pool_exists(self, req: Request, pool_id: str) -> Response:
        pool = self.res.pool(pool_id)
        conditional.check(req, pool)
        return Response(200, None, conditional.validators(pool))

    def _writable(self, req: Request, pool_id: str) -> Obj:
        """The pool a change applies to: it exists, its conditions hold, it is not going."""
        pool = self.res.pool(pool_id)
        conditional.check(req, pool)
        if pool["state"] == "deleting":
            raise _being_deleted()
        return pool

    def _save(self, pool: Obj) -> None:
        touch(pool)
        self.store.save("pool", pool["id"].lower(), pool)

    def delete_pool(self, req: Request, pool_id: str) -> Response:
        pool = self._writable(req, pool_id)
        set_plain_state(pool, "deleting")
        Harsh.delay(pool, self.harsh.delete_delay)
        self._save(pool)
        return Response(202)

    @accepts(shapes.POOL_PATCH)
    def patch_pool(self, req: Request, pool_id: str) -> Response:
        """Replaces only the properties sent (each as a whole)."""
        pool = self._writable(req, pool_id)
        body = req.json()
        if "startTask" in body:
            pool["startTask"] = specs.start_task(body)
            if pool["startTask"] is None:
                pool.pop("startTask")
        if "metadata" in body:
            pool["metadata"] = fields.metadata(body)
        if "displayName" in body:
            pool["displayName"] = fields.text(body, "displayName")
        self._save(pool)
        return self.res.updated(pool)

    @accepts(shapes.POOL_PROPERTIES)
    def replace_pool(self, req: Request, pool_id: str) -> Response:
        """`updateproperties`: every updatable property replaced; an omitted start task goes."""
        pool = self._writable(req, pool_id)
        body = req.json()
        fields.part(body, "applicationPackageReferences", required=True)
        metadata = fields.metadata(body, required=True)
        start_task = specs.start_task(body)
        pool["metadata"] = metadata
        pool.pop("startTask", None)
        if start_task is not None:
            pool["startTask"] = start_task
        self._save(pool)
        return self.res.updated(pool, 204)

    @accepts(shapes.POOL_RESIZE)
    def resize_pool(self, req: Request, pool_id: str) -> Response:
        """As on Azure, only a steady pool can be resized."""
        pool = self._writable(req, pool_id)
        refuse_if_autoscaled(pool)
        if pool.get("allocationState") != "steady":
            raise _being_resized()
        body = req.json()
        targets = {
            key: fields.integer(body, key, pool.get(key, 0), lo=0)
            for key in ("targetDedicatedNodes", "targetLowPriorityNodes")
        }
        timeout = fields.text(body, "resizeTimeout", "PT15M")
        option = fields.choice(body, "nodeDeallocationOption", specs.DEALLOCATION, "requeue")
        pool.update(targets, resizeTimeout=timeout, _deallocation=option)
        self._start_resize(pool)
        return self.res.updated(pool, 202)

    def _start_resize(self, pool: Obj) -> None:
        begin_resize(pool, self.harsh.allocation_delay)
        self._save(pool)

    @accepts(shapes.NO_BODY)
    def stop_resize(self, req: Request, pool_id: str) -> Response:
        """A resize in progress stops (`stopping`, then `steady` with the nodes it has); on a
        steady pool there is nothing to stop."""
        pool = self._writable(req, pool_id)
        if pool.get("allocationState") == "resizing":
            pool["allocationState"] = "stopping"
            pool["allocationStateTransitionTime"] = now_iso()
            self._save(pool)
        return self.res.updated(pool, 202)

    @accepts(shapes.POOL_REMOVE_NODES)
    def remove_nodes(self, req: Request, pool_id: str) -> Response:
        """Removing nodes is a resize: of a steady pool only."""
        pool = self._writable(req, pool_id)
        body = req.json()
        node_ids: list[str] = fields.part(body, "nodeList", required=True)
        if not 1 <= len(node_ids) <= NODE_LIST_MAX:
            raise invalid(
                "nodeList", len(node_ids), f"nodeList holds 1 to {NODE_LIST_MAX} node IDs."
            )
        option = fields.choice(body, "nodeDeallocationOption", specs.DEALLOCATION, "requeue")
        if pool.get("allocationState") != "steady":
            raise _being_resized()
        pool_key = pool_id.lower()
        nodes = self.store.nodes.get(pool_key, {})
        missing = [n for n in node_ids if n not in nodes]
        if missing:
            raise not_found("node", missing[0])
        for node_id in dict.fromkeys(node_ids):
            node = nodes[node_id]
            node["_leaving"] = option
            key = "targetDedicatedNodes" if node.get("isDedicated") else "targetLowPriorityNodes"
            pool[key] = max(int(pool.get(key) or 0) - 1, 0)
            set_plain_state(node, "leavingpool")
            self.store.save_node(pool_key, node)
        self._start_resize(pool)
        return self.res.updated(pool, 202)


def _check_agent(sku: str) -> None:
    if sku in NODE_AGENT_SKUS:
        return
    supported = ", ".join(NODE_AGENT_SKUS)
    retired = RETIRED_NODE_AGENT_SKUS.get(sku)
    why = (
        f"The node agent SKU {sku!r} is retired (since {retired}) and cannot be used for new pools."
        if retired
        else f"The node agent SKU {sku!r} is not supported."
    )
    raise invalid("nodeAgentSKUId", sku, f"{why} Supported node agent SKUs: {supported}.")


def _task_slots(body: fields.Body, vm_size: str) -> int:
    """`taskSlotsPerNode`: Batch allows 4 per vCPU of the VM size, at most 256."""
    slots = fields.integer(body, "taskSlotsPerNode")
    slots = 1 if slots is None else slots
    limit = max_task_slots(vm_size)
    if not 1 <= slots <= limit:
        why = f"taskSlotsPerNode must be from 1 to {limit} for the VM size {vm_size}"
        raise invalid("taskSlotsPerNode", slots, f"{why} (4 per vCPU, at most 256).")
    return slots


def _query_time(req: Request, name: str) -> datetime | None:
    value = req.query.get(name)
    if not value:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise ApiError(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {"QueryParameterName": name, "QueryParameterValue": value},
        )
    return parsed
