"""What every group of REST handlers shares: the state, lookups that answer Batch's
404s, list paging with `$filter`/`$select`, and single-resource reads with their
conditional headers. Each handler group (`pools_api`, `nodes_api`, `jobs_api`,
`tasks_api`) holds one `Resources` and lists its own routes.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from runner.localbatch import conditional, odata
from runner.localbatch.errors import ApiError, not_found
from runner.localbatch.rest import PAGE, Request, Response
from runner.localbatch.scheduler import Scheduler
from runner.localbatch.store import Obj, public

Route = tuple[str, "re.Pattern[str]", Callable[..., Response]]


def route(method: str, pattern: str, handler: Callable[..., Response]) -> Route:
    return (method, re.compile(f"^{pattern}$"), handler)


class Resources:
    def __init__(self, scheduler: Scheduler, base_url: str) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.base = base_url

    # --- lookups -----------------------------------------------------------------------

    def pool(self, pool_id: str) -> Obj:
        pool = self.store.pools.get(pool_id.lower())
        if pool is None:
            raise not_found("pool", pool_id)
        return pool

    def job(self, job_id: str) -> Obj:
        job = self.store.jobs.get(job_id.lower())
        if job is None:
            raise not_found("job", job_id)
        return job

    def task(self, job_id: str, task_id: str) -> tuple[Obj, Obj]:
        job = self.job(job_id)
        task = self.store.tasks.get(job_id.lower(), {}).get(task_id.lower())
        if task is None:
            raise not_found("task", task_id)
        return job, task

    def node(self, pool_id: str, node_id: str) -> Obj:
        self.pool(pool_id)
        node = self.store.nodes.get(pool_id.lower(), {}).get(node_id)
        if node is None:
            raise not_found("node", node_id)
        return node

    # --- responses ---------------------------------------------------------------------

    def show(self, req: Request, obj: Obj, extra: Mapping[str, Any] | None = None) -> Response:
        """GET of one resource: its conditional headers, `$select`, ETag and Last-Modified."""
        conditional.check(req, obj)
        view = public(obj)
        if extra:
            view.update(extra)
        return Response(
            200, odata.select(view, req.query.get("$select")), conditional.validators(obj)
        )

    def updated(self, obj: Obj, status: int = 200) -> Response:
        """The answer to a change: no body, the resource's new ETag and Last-Modified."""
        headers = conditional.validators(obj)
        headers["DataServiceId"] = obj.get("url", "")
        return Response(status, None, headers)

    def page(
        self,
        req: Request,
        items: Iterable[Obj],
        path: str,
        props: Mapping[str, odata.Prop],
        extra: Callable[[Obj], Mapping[str, Any]] | None = None,
        limit: int = PAGE,
    ) -> Response:
        """A page of a list; `odata.nextLink` carries the query (api-version included)."""
        pred = odata.compile_filter(req.query.get("$filter"), props)
        size, skip = _paging(req, limit)
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
            if extra is not None:
                view.update(extra(obj))
            selected.append(odata.select(view, req.query.get("$select")))
            seen += 1
        body: dict[str, Any] = {"odata.metadata": f"{self.base}/$metadata", "value": selected}
        if more:
            query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + size)
            body["odata.nextLink"] = f"{self.base}/{path}?{urllib.parse.urlencode(query)}"
        return Response(200, body)


def _paging(req: Request, limit: int) -> tuple[int, int]:
    try:
        size = int(req.query.get("maxresults") or limit)
        skip = int(req.query.get("$skiptoken") or 0)
    except ValueError:
        raise ApiError(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {
                "QueryParameterName": "maxresults",
                "Reason": "maxresults and $skiptoken are integers.",
            },
        ) from None
    if size < 1 or skip < 0:
        raise ApiError(
            400,
            "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the permissible range.",
            {"QueryParameterName": "maxresults", "QueryParameterValue": str(size)},
        )
    return min(size, limit), skip


def expands(req: Request, what: str) -> bool:
    return what in {e.strip() for e in (req.query.get("$expand") or "").split(",")}
