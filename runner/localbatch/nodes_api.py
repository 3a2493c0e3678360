"""The REST handlers for compute nodes: list, get, reboot, reimage, scheduling disabled
and enabled, user accounts, and the files under a node's directory. The state changes
themselves are the scheduler's (`allocation`).

User accounts are recorded on the node (name, admin, expiry; never a password or key)
so that scripts that manage them work, but no operating system account is made: local
nodes run everything as the service's user."""

from __future__ import annotations

from pathlib import Path

from runner.localbatch import fields, filterable, odata, shapes
from runner.localbatch.errors import ApiError
from runner.localbatch.files import delete_file, file_response, listing
from runner.localbatch.resources import Resources, Route, route
from runner.localbatch.rest import Request, Response
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, public

NODE = r"pools/([^/]+)/nodes/([^/]+)"
RESTART_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
SCHEDULING_OPTIONS = ("requeue", "terminate", "taskcompletion")

# a node in one of these states refuses a reboot or reimage, with Batch's code
_BUSY = {
    "creating": "NodeBeingCreated",
    "starting": "NodeBeingStarted",
    "waitingforstarttask": "NodeBeingStarted",
    "rebooting": "NodeBeingRebooted",
    "reimaging": "NodeBeingReimaged",
    "leavingpool": "OperationNotValidOnNode",
    "deallocated": "OperationNotValidOnNode",
    "deallocating": "OperationNotValidOnNode",
}


class NodeApi:
    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.store = resources.store
        self.scheduler = resources.scheduler

    def routes(self) -> list[Route]:
        return [
            route("GET", r"pools/([^/]+)/nodes", self.list_nodes),
            route("GET", NODE, self.get_node),
            route("POST", NODE + "/reboot", self.reboot),
            route("POST", NODE + "/reimage", self.reimage),
            route("POST", NODE + "/disablescheduling", self.disable_scheduling),
            route("POST", NODE + "/enablescheduling", self.enable_scheduling),
            route("POST", NODE + "/users", self.create_user),
            route("PUT", NODE + "/users/([^/]+)", self.replace_user),
            route("DELETE", NODE + "/users/([^/]+)", self.delete_user),
            route("GET", NODE + "/files", self.list_files),
            route("GET", NODE + "/files/(.+)", self.get_file),
            route("HEAD", NODE + "/files/(.+)", self.get_file),
            route("DELETE", NODE + "/files/(.+)", self.delete_file),
        ]

    def list_nodes(self, req: Request, pool_id: str) -> Response:
        self.res.pool(pool_id)
        nodes = list(self.store.nodes.get(pool_id.lower(), {}).values())
        return self.res.page(req, nodes, f"pools/{pool_id}/nodes", filterable.NODES)

    def get_node(self, req: Request, pool_id: str, node_id: str) -> Response:
        node = self.res.node(pool_id, node_id)
        return Response(200, odata.select(public(node), req.query.get("$select")))

    def _restart(self, req: Request, pool_id: str, node_id: str, kind: str) -> Response:
        node = self.res.node(pool_id, node_id)
        body = req.json()
        option = fields.choice(body, f"node{kind.capitalize()}Option", RESTART_OPTIONS, "requeue")
        pending = node.get("_restart")
        code = _BUSY.get(node["state"]) or (
            ("NodeBeingRebooted" if pending == "reboot" else "NodeBeingReimaged")
            if pending
            else None
        )
        if code is not None:
            raise ApiError(409, code, f"The node is {node['state']}: it cannot be {kind}ed now.")
        self.scheduler.restart_node(pool_id.lower(), node, kind, option or "requeue")
        return Response(202, None, {"DataServiceId": node["url"]})

    @accepts(shapes.NODE_REBOOT)
    def reboot(self, req: Request, pool_id: str, node_id: str) -> Response:
        return self._restart(req, pool_id, node_id, "reboot")

    @accepts(shapes.NODE_REIMAGE)
    def reimage(self, req: Request, pool_id: str, node_id: str) -> Response:
        return self._restart(req, pool_id, node_id, "reimage")

    def _already(self, node: Obj, state: str) -> None:
        if node.get("schedulingState", "enabled") == state:
            raise ApiError(
                409,
                "NodeAlreadyInTargetSchedulingState",
                f"The node's scheduling is already {state}.",
            )

    @accepts(shapes.NODE_DISABLE_SCHEDULING)
    def disable_scheduling(self, req: Request, pool_id: str, node_id: str) -> Response:
        node = self.res.node(pool_id, node_id)
        body = req.json()
        option = fields.choice(body, "nodeDisableSchedulingOption", SCHEDULING_OPTIONS, "requeue")
        self._already(node, "disabled")
        self.scheduler.disable_scheduling(pool_id.lower(), node, option or "requeue")
        return Response(200, None, {"DataServiceId": node["url"]})

    @accepts(shapes.NO_BODY)
    def enable_scheduling(self, req: Request, pool_id: str, node_id: str) -> Response:
        node = self.res.node(pool_id, node_id)
        self._already(node, "enabled")
        self.scheduler.enable_scheduling(pool_id.lower(), node)
        return Response(200, None, {"DataServiceId": node["url"]})

    def _users(self, pool_id: str, node_id: str) -> tuple[Obj, dict[str, Obj]]:
        node = self.res.node(pool_id, node_id)
        if node["state"] not in ("idle", "running"):
            code = _BUSY.get(node["state"], "OperationNotValidOnNode")
            raise ApiError(
                409,
                code,
                f"The node is {node['state']}: user accounts change only on an idle or running node.",
            )
        return node, node.setdefault("_users", {})

    def _user_fields(self, body: fields.Body, user: Obj) -> None:
        """What is kept of a user: never its password or key (whose types `shapes`
        checked)."""
        user["expiryTime"] = fields.text(body, "expiryTime", user.get("expiryTime"))

    @accepts(shapes.NODE_USER_ADD)
    def create_user(self, req: Request, pool_id: str, node_id: str) -> Response:
        node, users = self._users(pool_id, node_id)
        body = req.json()
        name = fields.text(body, "name", required=True) or ""
        if name.lower() in users:
            raise ApiError(409, "NodeUserExists", "The specified node user already exists.")
        user: Obj = {"name": name, "isAdmin": fields.boolean(body, "isAdmin", False)}
        self._user_fields(body, user)
        users[name.lower()] = user
        self.store.save_node(pool_id.lower(), node)
        return Response(201, None, {"DataServiceId": f"{node['url']}/users/{name}"})

    def _user(self, pool_id: str, node_id: str, name: str) -> tuple[Obj, dict[str, Obj]]:
        node, users = self._users(pool_id, node_id)
        if name.lower() not in users:
            raise ApiError(
                404, "NodeUserNotFound", "The specified node user does not exist.", {"Name": name}
            )
        return node, users

    @accepts(shapes.NODE_USER_UPDATE)
    def replace_user(self, req: Request, pool_id: str, node_id: str, name: str) -> Response:
        node, users = self._user(pool_id, node_id, name)
        self._user_fields(req.json(), users[name.lower()])
        self.store.save_node(pool_id.lower(), node)
        return Response(200, None, {"DataServiceId": f"{node['url']}/users/{name}"})

    def delete_user(self, req: Request, pool_id: str, node_id: str, name: str) -> Response:
        node, users = self._user(pool_id, node_id, name)
        del users[name.lower()]
        self.store.save_node(pool_id.lower(), node)
        return Response(200)

    def list_files(self, req: Request, pool_id: str, node_id: str) -> Response:
        node = self.res.node(pool_id, node_id)
        items = listing(Path(node["_root"]), f"{node['url']}/files", req)
        path = f"pools/{pool_id}/nodes/{node_id}/files"
        return self.res.page(req, items, path, filterable.FILES)

    def get_file(self, req: Request, pool_id: str, node_id: str, file_path: str) -> Response:
        node = self.res.node(pool_id, node_id)
        return file_response(Path(node["_root"]), file_path, f"{node['url']}/files", req)

    def delete_file(self, req: Request, pool_id: str, node_id: str, file_path: str) -> Response:
        node = self.res.node(pool_id, node_id)
        delete_file(Path(node["_root"]), file_path)
        return Response(200)
