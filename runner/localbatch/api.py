"""The REST router: checks the api-version, finds the handler of a path and verb, and
runs it with the store's lock held, waking the scheduler after a change.

The handlers live in one group per resource (`pools_api`, `autoscale_api`, `nodes_api`,
`jobs_api`, `tasks_api`), each holding the shared `Resources` and listing its own routes.
"""

from __future__ import annotations

from runner.localbatch.autoscale_api import AutoScaleApi
from runner.localbatch.catalog import API_VERSIONS
from runner.localbatch.conditional import NotModified
from runner.localbatch.errors import ApiError
from runner.localbatch.jobs_api import JobApi
from runner.localbatch.nodes_api import NodeApi
from runner.localbatch.pools_api import PoolApi
from runner.localbatch.resources import Resources, Route
from runner.localbatch.rest import Request, Response
from runner.localbatch.scheduler import Scheduler
from runner.localbatch.tasks_api import TaskApi


class Api:
    def __init__(self, scheduler: Scheduler, base_url: str) -> None:
        self.scheduler = scheduler
        self.base = base_url
        resources = Resources(scheduler, base_url)
        self.routes: list[Route] = [
            *PoolApi(resources).routes(),
            *AutoScaleApi(resources).routes(),
            *NodeApi(resources).routes(),
            *JobApi(resources).routes(),
            *TaskApi(resources).routes(),
        ]

    def handle(self, req: Request) -> Response:
        check_api_version(req)
        path = "/".join(req.parts)
        for method, pattern, handler in self.routes:
            m = pattern.match(path)
            if m and method == req.method:
                with self.scheduler.cond:
                    try:
                        resp = handler(req, *m.groups())
                    except NotModified as e:
                        return Response(304, None, e.headers)
                    if req.method not in ("GET", "HEAD"):
                        self.scheduler.cond.notify_all()
                    return resp
        if any(p.match(path) for _, p, _ in self.routes):
            raise ApiError(
                405, "UnsupportedHttpVerb", f"The resource doesn't support the {req.method} verb."
            )
        raise ApiError(
            404, "InvalidUri", f"The requested URI does not represent any resource: /{path}"
        )


def check_api_version(req: Request) -> None:
    version = req.query.get("api-version")
    if not version:
        raise ApiError(
            400,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
            {"QueryParameterName": "api-version"},
        )
    if version not in API_VERSIONS:
        raise ApiError(
            400,
            "UnsupportedRequestVersion",
            "The specified request version is not supported.",
            {
                "QueryParameterName": "api-version",
                "QueryParameterValue": version,
                "Reason": f"Supported versions: {', '.join(API_VERSIONS)}.",
            },
        )
