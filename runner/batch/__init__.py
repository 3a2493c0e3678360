"""Azure Batch: the only package that talks to Batch (the local service or Azure).

Translates desired pools, jobs and tasks (with secrets already resolved) into SDK
calls, reads them back as bwf's own observed types (`runner.state`), and submits
tasks in chunks with bounded retries. Every SDK error leaves through
`errors.translate` as a `BwfError` with secrets scrubbed (`ServiceUnreachable` when
the service does not answer at all); no SDK object leaves this package.

`Batch` is the engine's one entry point; its parts: `connection` (the client and how
it is called), `models` (desired state to SDK bodies), `observed` (SDK models to
observed state), `pools`, `jobs` and `tasks` (the operations on each).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from runner.batch.connection import Connection, make_client
from runner.batch.jobs import Jobs
from runner.batch.models import Resolver
from runner.batch.pools import Pools
from runner.batch.tasks import Tasks
from runner.state import (
    DesiredJob,
    DesiredPool,
    DesiredTask,
    ObservedJob,
    ObservedNode,
    ObservedPool,
    ObservedTask,
    TaskCounts,
)
from runner.targets import Target

__all__ = ["Batch", "Resolver", "make_client"]


class Batch:
    """Pools, jobs and tasks of one Batch account, as bwf's own types."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.conn = Connection(target)
        self.pools = Pools(self.conn)
        self.tasks = Tasks(self.conn)
        self.jobs = Jobs(self.conn, self.tasks)

    def node_agent_sku(self, publisher: str, offer: str, sku: str) -> str:
        return self.pools.node_agent_sku(publisher, offer, sku)

    def get_pool(self, pool_id: str) -> ObservedPool | None:
        return self.pools.get(pool_id)

    def create_pool(self, pool: DesiredPool, node_agent_sku: str, r: Resolver) -> None:
        self.pools.create(pool, node_agent_sku, r)

    def resize_pool(self, pool_id: str, dedicated: int, spot: int) -> None:
        self.pools.resize(pool_id, dedicated, spot)

    def delete_pool(self, pool_id: str) -> bool:
        """Delete a pool and wait until it is gone; False when there was none."""
        return self.pools.delete(pool_id)

    def nodes(self, pool_id: str) -> list[ObservedNode]:
        """The pool's nodes (empty when the pool is gone)."""
        return self.pools.nodes(pool_id)

    def node_file(self, pool_id: str, node_id: str, path: str) -> bytes | None:
        """A file on a node (the start task's stderr), None when it is not there."""
        return self.pools.node_file(pool_id, node_id, path)

    def get_job(self, job_id: str, with_tasks: bool = True) -> ObservedJob | None:
        return self.jobs.get(job_id, with_tasks)

    def create_job(self, job: DesiredJob, r: Resolver) -> None:
        self.jobs.create(job, r)

    def delete_job(self, job_id: str) -> bool:
        """Delete a job and wait until it is gone; False when there was none."""
        return self.jobs.delete(job_id)

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[ObservedTask]:
        """The job's tasks (empty when the job is gone)."""
        return self.tasks.read(job_id, filter)

    def task_counts(self, job_id: str) -> TaskCounts:
        return self.tasks.counts(job_id)

    def task_file(self, job_id: str, task_id: str, path: str) -> bytes | None:
        """A file of a task on its node, None when the task, its node or the file is gone."""
        return self.tasks.file(job_id, task_id, path)

    def delete_task(self, job_id: str, task_id: str) -> None:
        self.tasks.delete(job_id, task_id)

    def add_tasks(
        self,
        job_id: str,
        desired: Sequence[DesiredTask],
        r: Resolver,
        progress: Callable[[int], None],
        depends_on: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Submit tasks (see `Tasks.add`)."""
        self.tasks.add(job_id, desired, r, progress, depends_on)
