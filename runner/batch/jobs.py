"""Jobs: read, create, terminate, delete.

Creating a job meets three refusals on Azure, each a 409: `JobBeingDeleted` (a job of
that ID is still being deleted: wait until it is gone), `JobExists` (a create that
azure-core retried after it had succeeded, or a job created meanwhile: accepted when it
is the one asked for) and `ActiveJobAndScheduleQuotaReached` (the account's quota of
active jobs: wait for one to complete, up to a bound, saying so).
"""

from __future__ import annotations

from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from runner import durations
from runner.batch import waiting
from runner.batch.connection import DELETE_BOUND, Connection
from runner.batch.errors import error_code, translate
from runner.batch.models import Resolver, job_options
from runner.batch.observed import value
from runner.batch.tasks import Tasks
from runner.state import DesiredJob, ObservedJob, ObservedTask

QUOTA = "ActiveJobAndScheduleQuotaReached"
# Azure terminates a job once its release tasks have run.
TERMINATE_BOUND = 10 * 60.0
TERMINATE_REASON = "bwf: the run is over"
STILL_DELETING = "Azure is still deleting it: apply again later"


class Jobs:
    def __init__(self, conn: Connection, tasks: Tasks) -> None:
        self.conn = conn
        self.client = conn.client
        self.tasks = tasks

    def get(self, job_id: str, with_tasks: bool = True) -> ObservedJob | None:
        j = self.conn.call_or_none(f"reading job {job_id}", lambda: self.client.get_job(job_id))
        if j is None:
            return None
        tasks: dict[str, ObservedTask] = {}
        if with_tasks:
            for t in self.tasks.read(job_id):
                tasks[t.id] = t
        return ObservedJob(
            id=j.id,
            state=value(j.state),
            pool_id=(j.pool_info.pool_id or "") if j.pool_info else "",
            uses_task_dependencies=bool(j.uses_task_dependencies),
            tasks=tasks,
        )

    def create(self, job: DesiredJob, r: Resolver, quota_bound: float) -> None:
        """Create the job. While the account's active job quota is full, try again with
        backoff for up to `quota_bound` seconds, then fail naming the quota."""
        options = job_options(job, r)
        if self._attempt(job, options, may_wait=True):
            return
        self.conn.say(
            f"The Batch account's quota of active jobs is reached ({QUOTA}): job [{job.id}] "
            f"waits for another job to complete, for up to {durations.human(round(quota_bound))}..."
        )
        pending = f"job {job.id} waits for the account's quota of active jobs ({QUOTA})"
        took = waiting.until(
            lambda: self._attempt(job, options, may_wait=True),
            pending,
            quota_bound,
            self.conn.pace,
            self.conn.say,
            "Completed jobs do not count: terminate or delete the jobs you no longer need "
            "(`bwf destroy` of their workflows), or ask Azure for a higher quota",
        )
        self.conn.waited(pending, took)

    def _attempt(self, job: DesiredJob, options: m.BatchJobCreateOptions, may_wait: bool) -> bool:
        """One try at creating the job: True when it exists as asked, False when the
        quota refused it."""
        what = f"creating job {job.id}"
        try:
            self.conn.call_sdk(what, lambda: self.client.create_job(options))
            return True
        except HttpResponseError as e:
            code = error_code(e)
            if code == QUOTA:
                return False
            if code == "JobBeingDeleted" and may_wait:
                self.conn.say(f"Job [{job.id}] is being deleted: waiting until it is gone...")
                self.wait_gone(job.id)
                return self._attempt(job, options, may_wait=False)
            if code == "JobExists" and self._matches(job):
                return True
            raise translate(what, e, self.conn.target.batch_url) from None

    def _matches(self, job: DesiredJob) -> bool:
        live = self.get(job.id, with_tasks=False)
        return (
            live is not None
            and live.state == "active"
            and live.pool_id == job.pool_id
            and live.uses_task_dependencies == job.uses_task_dependencies
        )

    def terminate(self, job_id: str) -> bool:
        """Terminate an active job and wait until it is completed (completed jobs do not
        count against the account's active job quota); False when it was not active."""
        options = BatchJobTerminateOptions(termination_reason=TERMINATE_REASON)
        try:
            poller = self.conn.call_sdk(
                f"terminating job {job_id}",
                lambda: self.client.begin_terminate_job(
                    job_id, options=options, polling_interval=self.conn.poll_interval
                ),
            )
        except ResourceNotFoundError:
            return False
        except HttpResponseError as e:
            if error_code(e) in ("JobCompleted", "JobBeingDeleted", "JobBeingTerminated"):
                return False
            raise translate(f"terminating job {job_id}", e, self.conn.target.batch_url) from None
        self.conn.follow(
            poller,
            lambda: self._state(job_id) in ("completed", None),
            f"job {job_id} is terminating",
            TERMINATE_BOUND,
        )
        return True

    def delete(self, job_id: str) -> bool:
        """Delete a job and wait until it is gone; False when there was none. A job that
        is being deleted already is only waited for."""
        state = self._state(job_id)
        if state is None:
            return False
        if state == "deleting":
            self.wait_gone(job_id)
            return True
        return self.conn.delete(
            f"job {job_id}",
            lambda: self.client.begin_delete_job(job_id, polling_interval=self.conn.poll_interval),
            "JobBeingDeleted",
            lambda: self._state(job_id) is None,
            STILL_DELETING,
        )

    def wait_gone(self, job_id: str) -> None:
        self.conn.follow(
            None,
            lambda: self._state(job_id) is None,
            f"job {job_id} is being deleted",
            DELETE_BOUND,
            STILL_DELETING,
        )

    def _state(self, job_id: str) -> str | None:
        j = self.conn.call_or_none(f"reading job {job_id}", lambda: self.client.get_job(job_id))
        return None if j is None else value(j.state)
