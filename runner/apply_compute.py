"""Apply's Batch resources: the pool (create, replace, or keep it: its start task signed
afresh, its autoscale formula enabled or disabled, resized, its nodes whose start task
failed rebooted) and the job (create,
replace) before the tasks, and after the run the job and the pool (terminate a kept
job, delete both as the clean-up policies say). The plan decides what; this module does
it, tells the user and keeps the run record of what Batch made it wait for.
"""

from __future__ import annotations

import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

import click

from runner import durations
from runner.actions import JobAction, PoolAction
from runner.batch import Batch
from runner.errors import BwfError
from runner.monitor import Outcome
from runner.plan import Plan
from runner.progress import Ui
from runner.resolver import Resolver
from runner.runrecord import RunRecord
from runner.words import plural


def decided(policy: Literal["ask", "delete", "keep"], yes: bool) -> bool:
    """Whether a clean-up policy deletes without asking anyone."""
    return policy == "delete" or (policy == "ask" and yes)


def confirm(question: str, yes: bool, policy: Literal["ask", "delete", "keep"] = "ask") -> bool:
    if policy != "ask":
        return policy == "delete"
    if yes:
        return True
    if not sys.stdin.isatty():
        return False  # without a terminal and without --yes, "ask" keeps
    return click.confirm(question, default=False)


class Compute:
    """The pool and the job of one plan."""

    def __init__(
        self,
        plan: Plan,
        batch: Batch,
        ui: Ui,
        record: RunRecord,
        yes: bool,
        resolvers: tuple[Resolver, Resolver],
    ) -> None:
        self.plan = plan
        self.desired = plan.desired
        self.batch = batch
        self.ui = ui
        self.record = record
        self.yes = yes
        # the job's SAS live as the run does; the pool's start task's as long as allowed
        self.resolver, self.pool_resolver = resolvers
        batch.report_to(ui.say, record.waited)
        # deletions of the job and the pool begun before the downloads (see begin_deleting)
        self.deleting = ThreadPoolExecutor(max_workers=2)
        self.job_gone: Future[bool] | None = None
        self.pool_gone: Future[bool] | None = None

    def begin_creating_pool(self, creating: ThreadPoolExecutor) -> Future[None] | None:
        """Begin creating the pool on `creating`, when the plan creates it anew (nothing
        to confirm); None otherwise (then `pool` does what the plan says)."""
        (a,) = self.plan.of(PoolAction) or (None,)
        if a is None or a.change != "create":
            return None
        self._announce_pool()
        return creating.submit(self.batch.create_pool, self.desired.pool, self.pool_resolver)

    def pool(self) -> None:
        (a,) = self.plan.of(PoolAction) or (None,)
        if a is None:
            return
        p = self.desired.pool
        if a.change in ("noop", "update"):
            self._keep_pool(a)
            return
        if a.change == "replace":
            if not confirm(
                f"Pool {p.id} must be replaced ({a.reason}): delete it and create it again?",
                self.yes,
            ):
                raise BwfError(
                    f"pool {p.id} must be replaced ({a.reason}); confirm in a terminal or pass --yes"
                )
            self.ui.say(f"Deleting pool [{p.id}] to replace it ({a.reason})...")
            if self.batch.delete_pool(p.id):
                self.record.pool_deleted(p.id)
        self._announce_pool()
        self.batch.create_pool(p, self.pool_resolver)

    def _announce_pool(self) -> None:
        p = self.desired.pool
        if p.autoscale:
            size = f"{p.vm_size} nodes autoscaled every {durations.human(p.autoscale.interval)}"
        else:
            spot = f" + {p.spot_nodes} spot" if p.spot_nodes else ""
            size = f"{p.dedicated_nodes}{spot} x {p.vm_size}"
        self.ui.say(
            f"Creating pool [{p.id}]: {size}, "
            f"{p.image_alias or p.offer}, node agent {p.node_agent_sku}..."
        )

    def _keep_pool(self, a: PoolAction) -> None:
        """A live pool: its start task signed afresh (a node that joins or reboots runs it
        again), resized, and its nodes whose start task failed rebooted, as planned."""
        p = self.desired.pool
        if p.start_task is not None:
            self.batch.refresh_start_task(p, self.pool_resolver)
        if a.autoscale_change == "enable" and p.autoscale is not None:
            self.ui.say(f"Enabling autoscale on pool [{p.id}] with the spec's formula...")
            self.batch.enable_autoscale(p.id, p.autoscale)
        elif a.autoscale_change == "disable":
            self.ui.say(f"Disabling autoscale on pool [{p.id}]...")
            self.batch.disable_autoscale(p.id)
        if a.from_nodes is not None:
            self.ui.say(
                f"Resizing pool [{p.id}] to {p.dedicated_nodes} dedicated + {p.spot_nodes} spot nodes..."
            )
            self.batch.resize_pool(p.id, p.dedicated_nodes, p.spot_nodes)
        if a.reboot:
            self._reboot_failed_nodes()

    def _reboot_failed_nodes(self) -> None:
        p = self.desired.pool
        nodes = self.batch.nodes(p.id)
        self.record.nodes(p.id, nodes)  # the record sees them failed before they reboot
        failed = [n.id for n in nodes if n.state == "starttaskfailed"]
        self.ui.say(
            f"Rebooting {plural(len(failed), 'node')} of pool [{p.id}] whose start task failed, "
            "to run it again with its SAS signed afresh..."
        )
        refusals = self.batch.reboot_nodes(p.id, failed)
        self.record.nodes_rebooted(p.id, failed, refusals)
        for refusal in refusals:
            self.ui.warn(f"Warning: {refusal}")

    def job(self) -> None:
        (a,) = self.plan.of(JobAction) or (None,)
        if a is None or a.change == "noop":
            return
        j = self.desired.job
        if a.change == "replace":
            self.ui.say(f"Deleting job [{j.id}] to replace it ({a.reason})...")
            self.batch.delete_job(j.id)
        self.ui.say(f"Creating job [{j.id}]...")
        # waiting for the account's job quota is bounded as monitoring is
        self.batch.create_job(j, self.resolver, quota_bound=j.timeout)

    def begin_deleting(self) -> None:
        """Begin deleting the job and the pool that the clean-up policies delete without
        asking, once the run is over and recorded in the ledger: the downloads and the
        kept copies need neither, and a deletion takes a while (minutes on Azure)."""
        cl = self.desired.cleanup
        if decided(cl.job, self.yes):
            self.job_gone = self.deleting.submit(self.batch.delete_job, self.desired.job.id)
        if decided(cl.pool, self.yes):
            self.pool_gone = self.deleting.submit(self.batch.delete_pool, self.desired.pool.id)

    def finish(self, outcome: Outcome) -> None:
        """The job and the pool once the run is over, as the clean-up policies say."""
        cl = self.desired.cleanup
        job, pool = self.desired.job.id, self.desired.pool.id
        delete_job = self.job_gone is not None or confirm(f"Delete job {job}?", self.yes, cl.job)
        delete_pool = self.pool_gone is not None or confirm(
            f"Delete pool {pool}?", self.yes, cl.pool
        )
        if not delete_job:
            self._finish_job(outcome)
        # deletions take minutes on Azure: both at once
        with self.deleting as deleting:
            job_gone = self.job_gone
            if job_gone is None and delete_job:
                job_gone = deleting.submit(self.batch.delete_job, job)
            pool_gone = self.pool_gone
            if pool_gone is None and delete_pool:
                pool_gone = deleting.submit(self.batch.delete_pool, pool)
            if job_gone is not None and job_gone.result():
                self.ui.say(f"Deleted job [{job}].")
            if pool_gone is not None and pool_gone.result():
                self.record.pool_deleted(pool)
                self.ui.say(f"Deleted pool [{pool}].")

    def _finish_job(self, outcome: Outcome) -> None:
        """A kept job whose run is over is terminated: an active job counts against the
        account's active job quota for as long as it lives. One with tasks still to
        finish stays active, for the next apply to resume."""
        job = self.desired.job.id
        if outcome.timed_out or outcome.unfinished:
            self.ui.say(
                f"Kept job [{job}] active: {plural(len(outcome.unfinished), 'task')} not "
                f"finished; `bwf apply {self.desired.spec_path}` resumes monitoring."
            )
        elif self.batch.terminate_job(job):
            self.record.job_terminated(job)
            self.ui.say(
                f"Terminated job [{job}] (kept): a completed job does not count against the "
                "account's active job quota."
            )
