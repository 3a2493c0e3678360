"""Apply: execute a Plan against Storage and Batch, step by step like the tutorial.

Containers, restored outputs and uploads, pool and job (runner.apply_compute), tasks,
monitoring (runner.monitor), the failure report (runner.failures), downloads, the ledger,
clean-up, and the run record all along. The plan decides *what*; this module only
does it, in order, with progress, and reports. Secrets are resolved here, at the last
moment, and never printed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from runner import dag, sas_times
from runner import downloads as dl
from runner.actions import (
    ContainerAction,
    DownloadAction,
    JobAction,
    RestoreAction,
    TasksAction,
    UploadAction,
)
from runner.apply_compute import Compute
from runner.batch import Batch
from runner.early_downloads import EarlyDownloads
from runner.failures import failures, unfinished
from runner.kept import Kept
from runner.ledger import Ledger
from runner.monitor import Monitor, Outcome
from runner.nodes_ready import wait_for_nodes
from runner.plan import Plan, all_tasks, submitted, tasks_in_job
from runner.progress import Ui
from runner.record_events import RunStarted
from runner.resolver import Resolver, registries
from runner.runrecord import RunRecord
from runner.spec import LOGS_KEY
from runner.storage import Storage
from runner.words import plural


class Executor:
    def __init__(
        self, plan: Plan, storage: Storage, batch: Batch, ledger: Ledger, ui: Ui, yes: bool
    ) -> None:
        self.plan = plan
        self.desired = plan.desired
        self.storage = storage
        self.batch = batch
        self.ledger = ledger
        self.ui = ui
        self.yes = yes
        self.resolver = Resolver(self.desired, storage)
        self.kept = Kept(ledger)
        self.record = RunRecord(ledger)
        # a pool outlives the apply that signs its start task (see runner.sas_times)
        pool_resolver = Resolver(self.desired, storage, sas_times.START_TASK_LIFETIME)
        self.compute = Compute(plan, batch, ui, self.record, yes, (self.resolver, pool_resolver))
        self.in_job = tasks_in_job(plan)
        self.depends = dag.submitted_dependencies(all_tasks(self.desired), self.in_job)
        # download -> blobs fetched while the tasks ran (runner.early_downloads)
        self.early: dict[tuple[str, str, Path], int] = {}

    def run(self) -> int:
        started = time.monotonic()
        runs_tasks = bool(self.plan.of(JobAction))  # tasks to run or still running
        if runs_tasks or self.record.open_run() is not None:
            self.record.begin(self._run_info())
        try:
            outcome = self._execute(runs_tasks)
            return self._summary(outcome, time.monotonic() - started)
        finally:
            self.record.close()  # an apply that stops early leaves the run open

    def _execute(self, runs_tasks: bool) -> Outcome:
        for registry in registries(self.desired):  # a missing password stops apply first
            self.resolver.password(registry.password_env)
        self.containers()
        self.restore()
        self.uploads_and_pool()
        self.compute.job()
        self.tasks()
        outcome = Outcome()
        if runs_tasks:
            wait_for_nodes(self.desired, self.batch, self.ui, self.record)
        if self.in_job:
            outcome = self.monitor()
        self.report(outcome)
        self.record_ledger(outcome)
        if self.plan.of(JobAction) or self.in_job:
            self.compute.begin_deleting()  # meanwhile, the downloads
        self.downloads()
        self.cleanup(outcome)
        return outcome

    def _run_info(self) -> RunStarted:
        d = self.desired
        return RunStarted(
            run="",
            workflow=d.name,
            job=d.job.id,
            pool=d.pool.id,
            target=self.plan.target,
            spec=d.spec_path,
            tasks=len(all_tasks(d)),
            to_run=len(submitted(self.plan)),
            vm_size=d.pool.vm_size,
            slots_per_node=d.pool.task_slots_per_node,
            dedicated_nodes=d.pool.dedicated_nodes,
            spot_nodes=d.pool.spot_nodes,
        )

    def _summary(self, outcome: Outcome, elapsed: float) -> int:
        failed, blocked, left = len(outcome.failed), len(outcome.blocked), len(outcome.unfinished)
        counts = {
            "succeeded": outcome.succeeded,
            "failed": failed,
            "blocked": blocked,
            "unfinished": left + len(outcome.missing),
        }
        problems = failed or blocked or left or outcome.missing
        verdict = "timed out" if outcome.timed_out else "failed" if problems else "succeeded"
        self.record.finish(verdict, counts, elapsed)
        requeued = [t.requeue_count for t in outcome.tasks.values() if t.requeue_count]
        if requeued:
            self.ui.say(
                f"Preemptions: {plural(len(requeued), 'task')} went back to the queue "
                f"({plural(sum(requeued), 'requeue')} in all) when their node was preempted "
                "or taken away, and ran again."
            )
        if not problems:
            done = f": {plural(outcome.succeeded, 'task')} succeeded" if self.in_job else ""
            self.ui.say(f"Apply complete in {elapsed:.1f}s{done}.")
            return 0
        parts = [f"{outcome.succeeded} succeeded", f"{failed} failed"]
        if blocked:
            parts.append(f"{blocked} blocked")
        if left or outcome.missing:
            parts.append(f"{left + len(outcome.missing)} did not finish")
        self.ui.say(f"Apply finished with problems in {elapsed:.1f}s: " + ", ".join(parts) + ".")
        return 1

    # --- the steps ---------------------------------------------------------------------

    def containers(self) -> None:
        for a in self.plan.of(ContainerAction):
            if a.change == "create":
                self.storage.create_container(a.name)
                self.ui.say(f"Container [{a.name}] created.")

    def restore(self) -> None:
        for a in self.plan.of(RestoreAction):
            self.ui.say(
                f"Restoring {plural(a.count, 'blob')} to [{a.name}] from the copy kept in "
                "BWF_HOME..."
            )
            with self.ui.bar(f"Restoring {a.name}", a.count, " files") as bar:
                self.kept.restore(a.name, self.storage, lambda _n: bar.advance())

    def uploads_and_pool(self) -> None:
        """The uploads, and the pool as planned. A pool created anew is created while the
        inputs upload, once the containers its start task reads are uploaded: its nodes
        start meanwhile (minutes on Azure). The job and its tasks wait for both."""
        actions = self.plan.of(UploadAction)
        start_task = self.desired.pool.start_task
        first = {f.container for f in start_task.resource_files} if start_task else set()
        self.uploads([a for a in actions if a.id in first])
        with ThreadPoolExecutor(max_workers=1) as creating:
            pool_made = self.compute.begin_creating_pool(creating)
            self.uploads([a for a in actions if a.id not in first])
            if pool_made is None:
                self.compute.pool()
            else:
                pool_made.result()

    def uploads(self, actions: list[UploadAction]) -> None:
        for a in actions:
            c = self.desired.container(a.id)
            wanted = set(a.blobs)
            todo = [u for u in c.uploads if u.blob in wanted]
            self.ui.say(f"Uploading {plural(len(todo), 'file')} to [{c.name}]...")
            with self.ui.bar(f"Uploading to {c.name}", len(todo), " files") as bar:
                self.storage.upload(c.name, todo, lambda _n: bar.advance())
            self.record.uploaded(c.name, len(todo), sum(u.size for u in todo))
            unchanged = a.unchanged
            self.ui.say(
                f"  uploaded {plural(len(todo), 'file')}"
                + (f" ({unchanged} unchanged)" if unchanged else "")
            )

    def tasks(self) -> int:
        """Delete what is replaced (tasks the live job holds), submit what is created,
        each waiting only on tasks in the job; the number of tasks in the job."""
        replace_ids: list[str] = []
        create: set[str] = set()
        for a in self.plan.of(TasksAction):
            if a.change == "delete":
                self.ui.say(f"Deleting {plural(a.count, 'task')} that the spec no longer has...")
                self._delete_tasks(list(a.ids))
            if a.change == "replace":
                replace_ids += a.ids
            if a.change in ("create", "replace"):
                create.update(a.ids)
        if replace_ids:
            self.ui.say(f"Deleting {plural(len(replace_ids), 'task')} to run them again...")
            self._delete_tasks(replace_ids)
            self.ledger.forget(replace_ids)
        self.ledger.forget(list(create))
        if create:
            self.submit(create)
        return len(self.in_job)

    def _delete_tasks(self, ids: list[str]) -> None:
        job_id = self.desired.job.id
        with self.ui.bar(f"Deleting tasks of {job_id}", len(ids), " tasks") as bar:
            self.batch.delete_tasks(job_id, ids, bar.advance)

    def submit(self, ids: set[str]) -> None:
        """Submit step by step, a step's barriers before its tasks, so that no task is
        added before a task it waits on; each step's tasks in parallel chunks."""
        job = self.desired.job
        waves = [
            [t for t in group if t.id in ids]
            for step in job.steps
            for group in (step.barriers, step.tasks)
        ]
        self.ui.say(f"Adding {plural(len(ids), 'task')} to job [{job.id}]...")
        with self.ui.bar(f"Adding tasks to {job.id}", len(ids), " tasks") as bar:
            for wave in waves:
                if wave:
                    self.batch.add_tasks(job.id, wave, self.resolver, bar.advance, self.depends)
        self.ui.say(f"  added {plural(len(ids), 'task')}")

    def monitor(self) -> Outcome:
        in_job = [t for t in all_tasks(self.desired) if t.id in self.in_job]
        graph = dag.Graph.of(
            replace(t, depends_on=self.depends.get(t.id, t.depends_on)) for t in in_job
        )
        hint = f"When it answers again, `bwf apply {self.desired.spec_path}` resumes monitoring."
        if self.plan.target == "local":
            hint += " For the local stack: `bwf local status`, then `bwf local up`."
        early = EarlyDownloads(
            self.storage,
            [
                (a.name, a.pattern, Path(a.to))
                for a in self.plan.of(DownloadAction)
                if a.source != "kept"
            ],
        )
        try:
            monitor = Monitor(
                self.desired, self.batch, self.ui, self.record, graph, hint, early.completed
            )
            return monitor.run()
        finally:
            early.finish()
            self.early = early.fetched

    def report(self, outcome: Outcome) -> None:
        job_id = self.desired.job.id
        logs = self.desired.container(LOGS_KEY).name

        def stderr(task_id: str) -> bytes | None:
            data = self.storage.read_blob(logs, f"{job_id}/{task_id}/stderr.txt")
            return data if data is not None else self.batch.task_file(job_id, task_id, "stderr.txt")

        by_id = {t.id: t for t in all_tasks(self.desired)}
        for line in failures(outcome.failed, outcome.blocked, by_id, stderr):
            self.ui.say(line)
        if outcome.missing:
            self.ui.say(
                f"{plural(len(outcome.missing), 'task')} no longer in the job (deleted by "
                f"someone else?): {', '.join(outcome.missing[:20])}"
            )
        if outcome.timed_out:
            for line in unfinished(outcome.unfinished, self.desired.job.timeout):
                self.ui.say(line)

    def downloads(self) -> None:
        for a in self.plan.of(DownloadAction):
            to = Path(a.to)
            if a.source == "kept":
                self.ui.say(
                    f"Copying [{a.name}]/{a.pattern} to {to} from the copy kept in BWF_HOME..."
                )
                files = self.kept.copy_out(a.name, a.pattern, to)
                self.ui.say(f"  {plural(len(files), 'file')} copied.")
            else:
                self.ui.say(f"Downloading [{a.name}]/{a.pattern} to {to}...")
                files = self.storage.download(a.name, a.pattern, to)
                early = self.early.get((a.name, a.pattern, to), 0)
                while_running = f" ({early} fetched while the tasks ran)" if early else ""
                self.ui.say(f"  {plural(len(files), 'file')} in place{while_running}.")
            download = next(
                d
                for d in self.desired.downloads
                if (d.container, d.to, d.pattern) == (a.id, a.to, a.pattern)
            )
            self.ledger.record_download(dl.key(download), dl.entries(a.to, files))
            self.record.downloaded(a.name, a.pattern, a.to, len(files), a.source)

    def record_ledger(self, outcome: Outcome) -> None:
        by_id = {t.id: t for t in all_tasks(self.desired)}
        self.ledger.record(
            {
                t.id: t.fingerprint
                for t in outcome.tasks.values()
                if t.result == "success"
                and t.id in by_id
                and by_id[t.id].fingerprint == t.fingerprint
            }
        )

    def cleanup(self, outcome: Outcome) -> None:
        cl = self.desired.cleanup
        clean = not (outcome.failed or outcome.blocked or outcome.unfinished or outcome.missing)
        if cl.containers == "delete":
            if clean:
                local = dl.local_copies(self.desired.downloads, self.ledger.downloads)
                kept = self.kept.take(self.desired, self.storage, self.ledger.tasks, local)
                if kept:
                    self.ui.say(
                        f"Kept a copy of {plural(kept, 'output blob')} in BWF_HOME for later "
                        "applies."
                    )
                deleted = [
                    self.storage.delete_container(c.name)
                    for c in self.desired.containers
                    if c.key != LOGS_KEY
                ]
                if any(deleted):
                    self.ui.say("Deleted the workflow's containers.")
            else:
                self.ui.say(
                    "Kept the containers: the next apply re-runs what failed without uploading again."
                )
        if cl.logs == "delete" and clean:
            self.storage.delete_container(self.desired.container(LOGS_KEY).name)
        if not (self.plan.of(JobAction) or self.in_job):
            return  # the job and the pool were gone before this apply
        self.compute.finish(outcome)
