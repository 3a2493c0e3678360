"""Apply: execute a Plan against Storage and Batch, step by step like the tutorial.

Containers, restored outputs and uploads, pool, job, tasks, monitoring
(runner.monitor), the failure report (runner.failures), downloads, the ledger,
clean-up, and the run record all along. The plan decides *what*; this module only
does it, in order, with progress, and reports. Secrets are resolved here, at the last
moment, and never printed.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Literal

import click

from runner import dag, secrets
from runner import downloads as dl
from runner.batch import Batch
from runner.errors import BwfError
from runner.failures import failures, unfinished
from runner.kept import Kept
from runner.ledger import Ledger
from runner.monitor import Monitor, Outcome, wait_for_nodes
from runner.plan import Action, Plan, all_tasks, tasks_in_job
from runner.plan_tasks import task_steps
from runner.progress import Ui
from runner.record_events import RunStarted
from runner.render import LOGS_KEY
from runner.runrecord import RunRecord
from runner.state import Desired, DesiredTask, ResourceFile
from runner.storage import Storage
from runner.words import plural


class _Resolver:
    """Secret tokens and logical containers -> URLs with least-privilege SAS (cached)."""

    def __init__(self, desired: Desired, storage: Storage) -> None:
        self.desired = desired
        self.storage = storage
        self.cache: dict[tuple[str, str], str] = {}

    def _name(self, key: str) -> str:
        return self.desired.container(key).name

    def sas(self, key: str, kind: str) -> str:
        if (key, kind) not in self.cache:
            name = self._name(key)
            if kind == "url":
                self.cache[(key, kind)] = self.storage.container_url(name)
            else:
                self.cache[(key, kind)] = self.storage.sas_url(name, kind, self.desired.sas_expiry)
        return self.cache[(key, kind)]

    def text(self, value: str) -> str:
        return secrets.resolve(value, self.sas)

    def resource(self, rf: ResourceFile) -> dict[str, str | None]:
        base = {"file_path": rf.file_path, "file_mode": rf.file_mode}
        if rf.url is not None:
            return {**base, "http_url": self.text(rf.url)}
        assert rf.container is not None
        if rf.blob is not None:
            url = self.sas(rf.container, "read")
            container_url, _, query = url.partition("?")
            blob_url = f"{container_url}/{urllib.parse.quote(rf.blob)}?{query}"
            return {**base, "http_url": blob_url, "file_path": rf.file_path or rf.blob}
        return {
            **base,
            "storage_container_url": self.sas(rf.container, "read"),
            "blob_prefix": rf.prefix or None,
        }

    def output_url(self, container: str) -> str:
        return self.sas(container, "write")


def _confirm(question: str, yes: bool, policy: Literal["ask", "delete", "keep"] = "ask") -> bool:
    if policy != "ask":
        return policy == "delete"
    if yes:
        return True
    import sys

    if not sys.stdin.isatty():
        return False  # without a terminal and without --yes, "ask" keeps
    return click.confirm(question, default=False)


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
        self.resolver = _Resolver(self.desired, storage)
        self.kept = Kept(ledger)
        self.record = RunRecord(ledger)
        self.in_job = tasks_in_job(plan)
        self.depends = dag.submitted_dependencies(all_tasks(self.desired), self.in_job)

    def actions(self, kind: str) -> list[Action]:
        return [a for a in self.plan.actions if a.kind == kind]

    def run(self) -> int:
        started = time.monotonic()
        runs_tasks = bool(self.actions("job"))  # tasks to run or still running
        if runs_tasks or self.record.open_run() is not None:
            self.record.begin(self._run_info())
        try:
            outcome = self._execute(runs_tasks)
            return self._summary(outcome, time.monotonic() - started)
        finally:
            self.record.close()  # an apply that stops early leaves the run open

    def _execute(self, runs_tasks: bool) -> Outcome:
        self.containers()
        self.restore()
        self.uploads()
        self.pool()
        self.job()
        self.tasks()
        outcome = Outcome()
        if runs_tasks:
            wait_for_nodes(self.desired, self.batch, self.ui, self.record)
        if self.in_job:
            outcome = self.monitor()
        self.report(outcome)
        self.downloads()
        self.record_ledger(outcome)
        self.cleanup(outcome)
        return outcome

    def _run_info(self) -> RunStarted:
        d = self.desired
        to_run = sum(
            len(a.details["ids"])
            for a in self.plan.actions
            if a.kind in ("tasks", "merge") and a.change in ("create", "replace")
        )
        return RunStarted(
            run="",
            workflow=d.name,
            job=d.job.id,
            pool=d.pool.id,
            target=self.plan.target,
            spec=d.spec_path,
            tasks=len(all_tasks(d)),
            to_run=to_run,
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
        for a in self.actions("container"):
            if a.change == "create":
                self.storage.create_container(a.details["name"])
                self.ui.say(f"Container [{a.details['name']}] created.")

    def restore(self) -> None:
        for a in self.actions("restore"):
            name = a.details["name"]
            self.ui.say(
                f"Restoring {plural(a.details['count'], 'blob')} to [{name}] from the copy kept "
                "in BWF_HOME..."
            )
            with self.ui.bar(f"Restoring {name}", a.details["count"], " files") as bar:
                self.kept.restore(name, self.storage, lambda _n: bar.advance())

    def uploads(self) -> None:
        for a in self.actions("upload"):
            c = self.desired.container(a.id)
            wanted = set(a.details["blobs"])
            todo = [u for u in c.uploads if u.blob in wanted]
            self.ui.say(f"Uploading {plural(len(todo), 'file')} to [{c.name}]...")
            with self.ui.bar(f"Uploading to {c.name}", len(todo), " files") as bar:
                self.storage.upload(c.name, todo, lambda _n: bar.advance())
            self.record.uploaded(c.name, len(todo), sum(u.size for u in todo))
            unchanged = a.details.get("unchanged")
            self.ui.say(
                f"  uploaded {plural(len(todo), 'file')}"
                + (f" ({unchanged} unchanged)" if unchanged else "")
            )

    def pool(self) -> None:
        (a,) = self.actions("pool") or (None,)
        if a is None or a.change == "noop":
            return
        p = self.desired.pool
        if a.change == "update":
            self.ui.say(
                f"Resizing pool [{p.id}] to {p.dedicated_nodes} dedicated + {p.spot_nodes} spot nodes..."
            )
            self.batch.resize_pool(p.id, p.dedicated_nodes, p.spot_nodes)
            return
        if a.change == "replace":
            if not _confirm(
                f"Pool {p.id} must be replaced ({a.reason}): delete it and create it again?",
                self.yes,
            ):
                raise BwfError(
                    f"pool {p.id} must be replaced ({a.reason}); confirm in a terminal or pass --yes"
                )
            self.ui.say(f"Deleting pool [{p.id}] to replace it ({a.reason})...")
            self.batch.delete_pool(p.id)
        agent = self.batch.node_agent_sku(p.publisher, p.offer, p.sku)
        self.ui.say(f"Creating pool [{p.id}]: {p.dedicated_nodes} x {p.vm_size}, "
                    f"{p.image_alias or p.offer}, node agent {agent}...")  # fmt: skip
        self.batch.create_pool(p, agent, self.resolver)

    def job(self) -> None:
        (a,) = self.actions("job") or (None,)
        if a is None or a.change == "noop":
            return
        j = self.desired.job
        if a.change == "replace":
            self.ui.say(f"Deleting job [{j.id}] to replace it ({a.reason})...")
            self.batch.delete_job(j.id)
        self.ui.say(f"Creating job [{j.id}]...")
        self.batch.create_job(j, self.resolver)

    def tasks(self) -> int:
        """Delete what is replaced (tasks the live job holds), submit what is created,
        each waiting only on tasks in the job; the number of tasks in the job."""
        by_id = {t.id: t for t in all_tasks(self.desired)}
        replace_ids: list[str] = []
        create: list[DesiredTask] = []
        for a in self.actions("tasks") + self.actions("merge"):
            if a.change == "replace":
                replace_ids += a.details["ids"]
            if a.change in ("create", "replace"):
                create += [by_id[i] for i in a.details["ids"]]
        for a in self.actions("tasks"):
            if a.change == "delete":
                self.ui.say(
                    f"Deleting {plural(a.details['count'], 'task')} that the spec no longer has..."
                )
                for task_id in a.details["ids"]:
                    self.batch.delete_task(self.desired.job.id, task_id)
        if replace_ids:
            self.ui.say(f"Deleting {plural(len(replace_ids), 'task')} to run them again...")
            for task_id in replace_ids:
                self.batch.delete_task(self.desired.job.id, task_id)
            self.ledger.forget(replace_ids)
        self.ledger.forget([t.id for t in create])
        if create:
            order = {t.id: i for i, t in enumerate(all_tasks(self.desired))}
            create.sort(key=lambda t: order[t.id])  # what a task waits on comes first
            self.ui.say(f"Adding {plural(len(create), 'task')} to job [{self.desired.job.id}]...")
            with self.ui.bar(
                f"Adding tasks to {self.desired.job.id}", len(create), " tasks"
            ) as bar:
                self.batch.add_tasks(
                    self.desired.job.id, create, self.resolver, bar.advance, self.depends
                )
            self.ui.say(f"  added {plural(len(create), 'task')}")
        return len(self.in_job)

    def monitor(self) -> Outcome:
        in_job = [t for t in all_tasks(self.desired) if t.id in self.in_job]
        graph = dag.Graph.of(
            replace(t, depends_on=self.depends.get(t.id, t.depends_on)) for t in in_job
        )
        steps = task_steps(self.desired)
        hint = f"When it answers again, `bwf apply {self.desired.spec_path}` resumes monitoring."
        if self.plan.target == "local":
            hint += " For the local stack: `bwf local status`, then `bwf local up`."
        return Monitor(self.desired, self.batch, self.ui, self.record, graph, steps, hint).run()

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
        sources = {
            a.details["to"] + "|" + a.details["pattern"]: a for a in self.actions("download")
        }
        for d in self.desired.downloads:
            a = sources.get(d.to + "|" + d.pattern)
            if a is None:
                continue
            to = Path(d.to)
            if a.details["source"] == "kept":
                self.ui.say(
                    f"Copying [{d.container_name}]/{d.pattern} to {to} from the copy kept in BWF_HOME..."
                )
                files = self.kept.copy_out(d.container_name, d.pattern, to)
                self.ui.say(f"  {plural(len(files), 'file')} copied.")
            else:
                self.ui.say(f"Downloading [{d.container_name}]/{d.pattern} to {to}...")
                files = self.storage.download(d.container_name, d.pattern, to)
                self.ui.say(f"  {plural(len(files), 'file')} in place.")
            self.ledger.record_download(dl.key(d), dl.entries(d.to, files))
            self.record.downloaded(
                d.container_name, d.pattern, d.to, len(files), a.details["source"]
            )

    def record_ledger(self, outcome: Outcome) -> None:
        by_id = {t.id: t for t in all_tasks(self.desired)}
        self.ledger.record({
            t.id: t.fingerprint for t in outcome.tasks.values()
            if t.result == "success" and t.id in by_id and by_id[t.id].fingerprint == t.fingerprint
        })  # fmt: skip

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
        if not (self.actions("job") or self.in_job):
            return  # the job and the pool were gone before this apply
        job, pool = self.desired.job.id, self.desired.pool.id
        if _confirm(f"Delete job {job}?", self.yes, cl.job) and self.batch.delete_job(job):
            self.ui.say(f"Deleted job [{job}].")
        if _confirm(f"Delete pool {pool}?", self.yes, cl.pool) and self.batch.delete_pool(pool):
            self.record.pool_deleted(pool)
            self.ui.say(f"Deleted pool [{pool}].")
