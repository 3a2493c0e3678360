"""Azure Batch: the only package that talks to Batch (the local service or Azure).

Translates desired pools, jobs and tasks (with secrets already resolved) into SDK
calls, reads them back as bwf's own observed types (`runner.state`), and submits
tasks in chunks with bounded retries. Every SDK error leaves through
`errors.translate` as a `BwfError` with secrets scrubbed (`ServiceUnreachable` when
the service does not answer at all); no SDK object leaves this package.

`Batch` is the engine's one entry point; its parts: `connection` (the client and how
it is called, throttling included), `waiting` (the pace and bound of waits on slow
operations), `models` (desired state to SDK bodies), `observed` (SDK models to
observed state), `pools`, `jobs` and `tasks` (the operations on each). Azure is slower
and harsher than the local service; what differs, and how each module copes, is in
docs/targets.md ("What differs on Azure").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from runner.batch.connection import Connection, make_client
from runner.batch.jobs import Jobs
from runner.batch.models import Resolver
from runner.batch.pools import Pools
from runner.batch.tasks import Tasks
from runner.batch.waiting import Say, Waited
from runner.compute import Autoscale
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

    def report_to(self, say: Say, waited: Waited | None = None) -> None:
        """Where to tell what a long wait waits for (a deletion, the job quota...), and
        where to record each wait that took time."""
        self.conn.say = say
        if waited is not None:
            self.conn.waited = waited

    def get_pool(self, pool_id: str, with_nodes: bool = True) -> ObservedPool | None:
        return self.pools.get(pool_id, with_nodes)

    def create_pool(self, pool: DesiredPool, r: Resolver) -> None:
        """Create the pool (see `Pools.create`)."""
        self.pools.create(pool, r)

    def resize_pool(self, pool_id: str, dedicated: int, spot: int) -> None:
        """Resize the pool and wait until it is steady (see `Pools.resize`)."""
        self.pools.resize(pool_id, dedicated, spot)

    def enable_autoscale(self, pool_id: str, autoscale: Autoscale) -> None:
        """Give the pool an autoscale formula and interval (see `Pools.enable_autoscale`)."""
        self.pools.enable_autoscale(pool_id, autoscale)

    def disable_autoscale(self, pool_id: str) -> None:
        """Stop autoscaling the pool; it keeps its nodes until resized."""
        self.pools.disable_autoscale(pool_id)

    def refresh_start_task(self, pool: DesiredPool, r: Resolver) -> None:
        """Sign the pool's start task afresh (see `Pools.refresh_start_task`)."""
        self.pools.refresh_start_task(pool, r)

    def reboot_nodes(self, pool_id: str, node_ids: list[str]) -> list[str]:
        """Reboot these nodes; why each refused reboot was refused."""
        return self.pools.reboot(pool_id, node_ids)

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

    def create_job(self, job: DesiredJob, r: Resolver, quota_bound: float) -> None:
        """Create the job (see `Jobs.create`)."""
        self.jobs.create(job, r, quota_bound)

    def terminate_job(self, job_id: str) -> bool:
        """Terminate an active job and wait until it is completed; False when it was not
        active."""
        return self.jobs.terminate(job_id)

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

    def delete_tasks(
        self, job_id: str, task_ids: Sequence[str], progress: Callable[[int], None]
    ) -> None:
        """Delete tasks, many at a time; gone ones count as deleted."""
        self.tasks.delete(job_id, task_ids, progress)

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
