"""Jobs: read, create, delete."""

from __future__ import annotations

from runner.batch.connection import POLL, Connection
from runner.batch.models import Resolver, job_options
from runner.batch.observed import value
from runner.batch.tasks import Tasks
from runner.state import DesiredJob, ObservedJob, ObservedTask


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

    def create(self, job: DesiredJob, r: Resolver) -> None:
        options = job_options(job, r)
        self.conn.call(f"creating job {job.id}", lambda: self.client.create_job(options))

    def delete(self, job_id: str) -> bool:
        """Delete a job and wait until it is gone; False when there was none."""
        return self.conn.wait_deleted(
            f"job {job_id}", lambda: self.client.begin_delete_job(job_id, polling_interval=POLL)
        )
