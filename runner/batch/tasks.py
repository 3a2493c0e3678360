"""Tasks: list, count, submit in chunks with bounded retries, delete, read their files."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.batch import models as m
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest

from runner import secrets
from runner.batch.connection import API_VERSION, Connection
from runner.batch.errors import retry_after, throttled, translate
from runner.batch.models import Resolver, task_options
from runner.batch.observed import TASK_FIELDS, observed_task, value
from runner.errors import BwfError
from runner.state import DesiredTask, ObservedTask, TaskCounts

CHUNK = 100
SUBMIT_WORKERS = 8
SUBMIT_ATTEMPTS = 8
DELETE_WORKERS = 16


def _next_page(link: str) -> HttpRequest:
    """The request for the page an `odata.nextLink` names, with this API version (as
    the SDK's pagers make it)."""
    parsed = urllib.parse.urlsplit(link)
    params: dict[str, Any] = {
        key: [urllib.parse.quote(v) for v in values]
        for key, values in urllib.parse.parse_qs(parsed.query).items()
    }
    params["api-version"] = API_VERSION
    return HttpRequest("GET", urllib.parse.urljoin(link, parsed.path), params=params)


class Tasks:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.client = conn.client

    def read(
        self, job_id: str, filter: str | None = None, page_size: int | None = None
    ) -> list[ObservedTask]:
        """The job's tasks (empty when the job is gone)."""
        found = self.conn.call_or_none(
            f"listing tasks of {job_id}",
            lambda: [observed_task(t) for t in self._listed(job_id, filter, page_size)],
        )
        return found or []

    def _listed(
        self, job_id: str, filter: str | None, page_size: int | None
    ) -> Iterator[dict[str, Any]]:
        """The job's tasks as Batch sends them (their TASK_FIELDS), page after page
        (`page_size` tasks a page: None is Batch's 1,000).

        The requests `list_tasks` makes, sent through the client's own pipeline
        (`send_request`: its authentication, retries and errors), but each page's JSON
        read as it is: `list_tasks` builds a model, and a model of each nested object,
        for every task of a page before any is read (~0.1 ms a task, 10 s a listing of
        100,000)."""
        params = {"api-version": API_VERSION, "$select": ",".join(TASK_FIELDS)}
        if filter is not None:
            params["$filter"] = filter
        if page_size is not None:
            params["maxresults"] = str(page_size)
        request = HttpRequest(
            "GET", f"/jobs/{urllib.parse.quote(job_id, safe='')}/tasks", params=params
        )
        while True:
            request.headers["Accept"] = "application/json"
            page = self.client.send_request(request).json()
            yield from page.get("value") or ()
            link = page.get("odata.nextLink")
            if not link:
                return
            request = _next_page(link)

    def counts(self, job_id: str) -> TaskCounts:
        c = self.conn.call(
            f"reading task counts of {job_id}",
            lambda: self.client.get_job_task_counts(job_id).task_counts,
        )
        return TaskCounts(c.active, c.running, c.completed, c.succeeded, c.failed)

    def file(self, job_id: str, task_id: str, path: str) -> bytes | None:
        """A file of a task on its node, None when the task, its node or the file is gone."""
        try:
            return b"".join(self.client.download_task_file(job_id, task_id, path, stream=False))
        except HttpResponseError:
            return None
        except AzureError as e:
            raise translate(
                f"reading {path} of task {task_id}", e, self.conn.target.batch_url
            ) from None

    def delete(self, job_id: str, task_ids: Sequence[str], progress: Callable[[int], None]) -> None:
        """Delete tasks, many requests at a time (Batch has no bulk delete); a task that
        is already gone counts as deleted."""

        def one(task_id: str) -> None:
            self.conn.call_or_none(
                f"deleting task {task_id}", lambda: self.client.delete_task(job_id, task_id)
            )
            progress(1)

        with ThreadPoolExecutor(max_workers=DELETE_WORKERS) as pool:
            for _ in pool.map(one, task_ids):
                pass

    def add(
        self,
        job_id: str,
        desired: Sequence[DesiredTask],
        r: Resolver,
        progress: Callable[[int], None],
        depends_on: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Submit tasks in chunks of 100 on a few threads. A chunk refused as too large is
        split; server errors and throttling are retried with backoff, a bounded number of
        times; a task that already exists counts as submitted (re-submitting is safe).
        `depends_on` gives the dependencies to submit where they differ from the desired
        ones (see runner.dag.submitted_dependencies)."""
        given = depends_on or {}
        tasks = [task_options(t, r, given.get(t.id)) for t in desired]
        chunks = [list(tasks[i : i + CHUNK]) for i in range(0, len(tasks), CHUNK)]
        with ThreadPoolExecutor(max_workers=SUBMIT_WORKERS) as pool:
            for _ in pool.map(lambda chunk: self._submit(job_id, chunk, progress), chunks):
                pass

    def _submit(
        self, job_id: str, chunk: list[m.BatchTaskCreateOptions], progress: Callable[[int], None]
    ) -> None:
        pending = list(chunk)
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                result = self.client.create_task_collection(
                    job_id, m.BatchTaskGroup(task_values=pending)
                )
            except HttpResponseError as e:
                code = e.error.code if e.error is not None else ""
                if code == "RequestBodyTooLarge" and len(pending) > 1:
                    half = len(pending) // 2
                    self._submit(job_id, pending[:half], progress)
                    self._submit(job_id, pending[half:], progress)
                    return
                if throttled(e) or (e.status_code or 0) >= 500:
                    time.sleep(retry_after(e) or min(8.0, 0.2 * 2**attempt))
                    continue
                raise translate(f"submitting tasks to {job_id}", e) from None
            except AzureError as e:
                raise translate(
                    f"submitting tasks to {job_id}", e, self.conn.target.batch_url
                ) from None
            retry = []
            by_id = {t.id: t for t in pending}
            for r in result.result_values or []:
                status = value(r.status)
                code = r.error.code if r.error is not None else ""
                if status == "success" or code == "TaskExists":
                    progress(1)
                elif status == "servererror":
                    retry.append(by_id[r.task_id])
                else:
                    msg = r.error.message.value if r.error is not None and r.error.message else code
                    raise BwfError(secrets.scrub(f"task {r.task_id} was refused: {code}: {msg}"))
            if not retry:
                return
            pending = retry
            time.sleep(min(8.0, 0.2 * 2**attempt))
        raise BwfError(
            f"submitting tasks to {job_id}: the service kept failing after {SUBMIT_ATTEMPTS} tries"
        )
