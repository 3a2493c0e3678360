"""Apply: execute a Plan against Storage and Batch, step by step like the tutorial.

Containers and uploads, pool, job, tasks, monitoring, failure report, downloads,
the ledger, clean-up. The plan decides *what*; this module only does it, in order,
with progress, and reports. Secrets are resolved here, at the last moment, and
never printed.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click

from runner import batch as batch_mod
from runner import durations, secrets
from runner.batch import Batch
from runner.errors import BwfError
from runner.ledger import Ledger
from runner.plan import Action, Plan, all_tasks
from runner.progress import Ui
from runner.render import LOGS_KEY
from runner.state import Desired, DesiredTask, ResourceFile
from runner.storage import Storage

POLL_SECONDS = 1.0
STDERR_TAIL = 10


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


@dataclass
class Outcome:
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0
    failed_ids: tuple[str, ...] = ()
    timed_out: bool = False
    blocked: bool = False


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

    def actions(self, kind: str) -> list[Action]:
        return [a for a in self.plan.actions if a.kind == kind]

    # --- the steps ---------------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        self.containers()
        self.uploads()
        self.pool()
        self.job()
        total = self.tasks()
        if any(a.kind == "pool" for a in self.plan.actions):  # tasks to run, not only downloads
            self.wait_for_nodes()
        outcome = self.monitor(total)
        if outcome.failed:
            self.report_failures(outcome)
        if outcome.timed_out:
            self.report_unfinished(outcome)
        self.downloads()
        self.record_ledger()
        self.cleanup(outcome)
        elapsed = time.monotonic() - started
        if outcome.failed or outcome.unfinished:
            parts = [f"{outcome.succeeded} succeeded", f"{outcome.failed} failed"]
            if outcome.unfinished:
                parts.append(f"{outcome.unfinished} did not finish")
            self.ui.say(
                f"Apply finished with problems in {elapsed:.1f}s: " + ", ".join(parts) + "."
            )
            return 1
        self.ui.say(f"Apply complete in {elapsed:.1f}s: {outcome.succeeded} tasks succeeded.")
        return 0

    def containers(self) -> None:
        for a in self.actions("container"):
            if a.change == "create":
                self.storage.create_container(a.details["name"])
                self.ui.say(f"Container [{a.details['name']}] created.")

    def uploads(self) -> None:
        for a in self.actions("upload"):
            c = self.desired.container(a.id)
            wanted = set(a.details["blobs"])
            todo = [u for u in c.uploads if u.blob in wanted]
            self.ui.say(f"Uploading {len(todo)} files to [{c.name}]...")
            with self.ui.bar(f"Uploading to {c.name}", len(todo), " files") as bar:
                self.storage.upload(c.name, todo, lambda _n: bar.advance())
            self.ui.say(f"  uploaded {len(todo)} files" + (
                f" ({a.details['unchanged']} unchanged)" if a.details.get("unchanged") else ""))  # fmt: skip

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
        self.batch.create_pool(batch_mod.pool_options(p, agent, self.resolver))

    def job(self) -> None:
        (a,) = self.actions("job") or (None,)
        if a is None or a.change == "noop":
            return
        j = self.desired.job
        if a.change == "replace":
            self.ui.say(f"Deleting job [{j.id}] to replace it ({a.reason})...")
            self.batch.delete_job(j.id)
        self.ui.say(f"Creating job [{j.id}]...")
        self.batch.create_job(batch_mod.job_options(j, self.resolver))

    def tasks(self) -> int:
        """Delete what is replaced, submit what is created; the number of tasks in the job."""
        by_id = {t.id: t for t in all_tasks(self.desired)}
        replace: list[str] = []
        create: list[DesiredTask] = []
        for a in self.actions("tasks") + self.actions("merge"):
            ids = a.details["ids"]
            if a.change == "replace":
                replace += ids
            if a.change in ("create", "replace"):
                create += [by_id[i] for i in ids]
        job_replaced = any(a.change == "replace" for a in self.actions("job"))
        for a in self.actions("tasks"):
            if a.change == "delete" and not job_replaced:
                self.ui.say(f"Deleting {a.details['count']} tasks that the spec no longer has...")
                for task_id in a.details["ids"]:
                    self.batch.delete_task(self.desired.job.id, task_id)
        if replace and not job_replaced:
            self.ui.say(f"Deleting {len(replace)} tasks to run them again...")
            for task_id in replace:
                self.batch.delete_task(self.desired.job.id, task_id)
            self.ledger.forget(replace)
        if create:
            # the fan-out first, then barriers and the merge (which depend on it)
            self.ui.say(f"Adding {len(create)} tasks to job [{self.desired.job.id}]...")
            options = [batch_mod.task_options(t, self.resolver) for t in create]
            with self.ui.bar(
                f"Adding tasks to {self.desired.job.id}", len(options), " tasks"
            ) as bar:
                self.batch.add_tasks(self.desired.job.id, options, bar.advance)
            self.ui.say(f"  added {len(options)} tasks")
        return len(by_id)

    def wait_for_nodes(self) -> None:
        p = self.desired.pool
        want = p.dedicated_nodes + p.spot_nodes
        if want == 0:
            return
        deadline = time.monotonic() + self.desired.job.timeout
        shown = ""
        while True:
            nodes = self.batch.nodes(p.id)
            states: dict[str, int] = {}
            for n in nodes:
                s = str(getattr(n.state, "value", n.state))
                states[s] = states.get(s, 0) + 1
            failed = [
                n
                for n in nodes
                if str(getattr(n.state, "value", n.state)) in ("starttaskfailed", "unusable")
            ]
            if failed and len(failed) == len(nodes) and len(nodes) >= want:
                self._start_task_failed(failed[0])
            ready = states.get("idle", 0) + states.get("running", 0)
            text = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            if text != shown:
                self.ui.say(f"Pool [{p.id}] nodes: {text or 'allocating'}")
                shown = text
            if ready >= want or (ready and len(nodes) >= want):
                return
            if time.monotonic() > deadline:
                raise BwfError(
                    f"pool {p.id}: nodes not ready after the job timeout ({text or 'none allocated'})"
                )
            time.sleep(POLL_SECONDS / 2)

    def _start_task_failed(self, node: Any) -> None:
        info = node.start_task_info
        stderr = (
            self.batch.node_file(self.desired.pool.id, node.id, "startup/stderr.txt")
            if node.id
            else b""
        )
        tail = "\n".join(stderr.decode(errors="replace").splitlines()[-STDERR_TAIL:])
        code = info.exit_code if info else None
        raise BwfError(
            f"the start task failed on node {node.id} of pool {self.desired.pool.id} (exit code {code}); "
            f"no task can run there. Its stderr ends with:\n{tail}"
        )

    def monitor(self, total: int) -> Outcome:
        job_id = self.desired.job.id
        deadline = time.monotonic() + self.desired.job.timeout
        blockers = self._blockers()
        self.ui.say(
            f"Monitoring all tasks for 'Completed' state, timeout in {durations.human(self.desired.job.timeout)}..."
        )
        started = time.monotonic()
        with self.ui.bar("Tasks", total) as bar:
            while True:
                c = self.batch.task_counts(job_id)
                rate = c.completed / max(time.monotonic() - started, 1e-3)
                bar.update(
                    c.completed,
                    f"ok {c.succeeded} failed {c.failed} running {c.running} waiting {c.active} "
                    f"({rate:.1f}/s)",
                )
                # the job may also hold tasks of earlier runs: done means nothing left to run
                if c.active == 0 and c.running == 0 and c.completed >= total:
                    return Outcome(c.succeeded, c.failed)
                # what is left can only wait on failed dependencies: Batch keeps it active for ever
                if c.failed and c.running == 0 and 0 < c.active <= blockers:
                    return Outcome(c.succeeded, c.failed, unfinished=c.active, blocked=True)
                if time.monotonic() > deadline:
                    return Outcome(
                        c.succeeded, c.failed, unfinished=total - c.completed, timed_out=True
                    )
                time.sleep(POLL_SECONDS)

    def _blockers(self) -> int:
        """How many tasks wait on others (merge and barriers) and block when those fail."""
        merge = self.desired.job.merge
        if merge is None:
            return 0
        return 1 + sum(1 for t in all_tasks(self.desired) if t.display == "barrier")

    def report_failures(self, outcome: Outcome) -> None:
        job_id = self.desired.job.id
        failed = self.batch.list_tasks(job_id, filter="executionInfo/result eq 'failure'")
        self.ui.say(f"{len(failed)} task(s) failed:")
        for t in failed[:20]:
            stderr = self.storage.read_blob(
                self.desired.container(LOGS_KEY).name, f"{job_id}/{t.id}/stderr.txt"
            )
            if stderr is None:
                stderr = self.batch.task_file(job_id, t.id, "stderr.txt") or b""
            tail = stderr.decode(errors="replace").splitlines()[-STDERR_TAIL:]
            self.ui.say(f"  {t.id}: exit code {t.exit_code}, {t.retry_count} retries")
            for line in tail:
                self.ui.say(f"    | {line}")
        if len(failed) > 20:
            self.ui.say(f"  ... and {len(failed) - 20} more (bwf status shows them all)")
        if outcome.blocked and self.desired.job.merge is not None:
            self.ui.say(f"The merge task {self.desired.job.merge.id} will not run: it waits on failed tasks "
                        "(on_failure: block).")  # fmt: skip

    def report_unfinished(self, outcome: Outcome) -> None:
        job_id = self.desired.job.id
        left = self.batch.list_tasks(job_id, filter="state ne 'completed'")
        self.ui.say(
            f"The job timeout ({durations.human(self.desired.job.timeout)}) passed with "
            f"{outcome.unfinished} task(s) not finished; they keep running in Batch, and the next "
            "apply picks them up:"
        )
        for t in left[:20]:
            self.ui.say(f"  {t.id}: {t.state}")
        if len(left) > 20:
            self.ui.say(f"  ... and {len(left) - 20} more (bwf status shows them all)")

    def downloads(self) -> None:
        for d in self.desired.downloads:
            to = Path(d.to)
            self.ui.say(f"Downloading [{d.container_name}]/{d.pattern} to {to}...")
            written, same = self.storage.download(d.container_name, d.pattern, to)
            self.ui.say(f"  {written} files downloaded, {same} already identical.")

    def record_ledger(self) -> None:
        job_id = self.desired.job.id
        succeeded = self.batch.list_tasks(job_id, filter="executionInfo/result eq 'success'")
        by_id = {t.id: t for t in all_tasks(self.desired)}
        self.ledger.record({
            t.id: t.fingerprint for t in succeeded if t.id in by_id and by_id[t.id].fingerprint == t.fingerprint
        })  # fmt: skip

    def cleanup(self, outcome: Outcome) -> None:
        cl = self.desired.cleanup
        clean = not (outcome.failed or outcome.unfinished)
        if cl.containers == "delete":
            if clean:
                for c in self.desired.containers:
                    if c.key != LOGS_KEY:
                        self.storage.delete_container(c.name)
                self.ui.say("Deleted the workflow's containers.")
            else:
                self.ui.say(
                    "Kept the containers: the next apply re-runs what failed without uploading again."
                )
        if cl.logs == "delete" and clean:
            self.storage.delete_container(self.desired.container(LOGS_KEY).name)
        if _confirm(f"Delete job {self.desired.job.id}?", self.yes, cl.job):
            self.batch.delete_job(self.desired.job.id)
            self.ui.say(f"Deleted job [{self.desired.job.id}].")
        if _confirm(f"Delete pool {self.desired.pool.id}?", self.yes, cl.pool):
            self.batch.delete_pool(self.desired.pool.id)
            self.ui.say(f"Deleted pool [{self.desired.pool.id}].")
