"""The tasks half of the diff: which tasks run and why, which containers come back
from kept copies, and where each download comes from. Pure, no I/O.

A task's own status comes first (`task_status`). Then re-runs spread:
- a download whose files are not in place, from a container that clean-up deleted
  and that no kept copy covers, re-runs the tasks that write to that container;
- a task re-runs when a task it waits on re-runs (transitively, `dag.Graph`); one
  whose fingerprint changed only because the fingerprints of the tasks above it did
  (they follow the DAG) says so (`inputs re-run`) rather than `changed`;
- a re-running task that reads a container clean-up deleted needs what done tasks
  wrote there: the kept copy brings it back (runner.kept), and done tasks whose
  outputs the copy does not hold run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from runner import downloads
from runner.actions import Change
from runner.dag import Graph
from runner.state import Desired, DesiredTask, Observed, ObservedTask
from runner.writers import Writers

Status = tuple[Change, str]
Source = Literal["container", "kept"]  # where a download comes from: kept = the copy in BWF_HOME

DONE = "done"  # completed with success in the live job
DONE_EARLIER = "done earlier"  # in the ledger only: its job is gone, it is not in the job
IN_PROGRESS = "in progress"
MISSING = "missing"
CHANGED = "changed"
OUTPUTS_GONE = "outputs gone"
INPUTS_RERUN = "inputs re-run"
STUCK = "waits on a task not in the job"


def task_status(t: DesiredTask, live: ObservedTask | None, ledger: Mapping[str, str]) -> Status:
    """What to do with one task on its own, and why. The live job is the truth when it
    holds the task; the ledger answers for tasks whose job is gone."""
    if live is None:
        done = ledger.get(t.id)
        if done == t.fingerprint:
            return "noop", DONE_EARLIER
        return "create", CHANGED if done is not None else MISSING
    if live.fingerprint != t.fingerprint:
        return "replace", CHANGED
    if live.state == "completed":
        return ("noop", DONE) if live.result == "success" else ("replace", "failed")
    return "noop", IN_PROGRESS


def done_earlier(observed: Observed, live: Mapping[str, ObservedTask]) -> Mapping[str, str]:
    """Task ID -> fingerprint of the tasks done in an earlier run: the ledger's, and,
    when the live job cannot take this run's tasks (a kept job that bwf terminated once
    its run was over, one bound to another pool), those it holds completed with
    success. Batch's record stands in for a ledger that was lost with BWF_HOME."""
    job = observed.job
    if job is None or live:
        return observed.ledger
    held = {
        t.id: t.fingerprint
        for t in job.tasks.values()
        if t.state == "completed" and t.result == "success" and t.fingerprint
    }
    return {**observed.ledger, **held} if held else observed.ledger


@dataclass
class TaskPlan:
    tasks: tuple[DesiredTask, ...]  # every task of the job, in submission order
    status: dict[str, Status]  # by task id
    removed: list[str]  # tasks of a kept job that the spec no longer has
    restore: list[str] = field(default_factory=list)  # container keys to restore
    # download key -> (reason, source): source "container" or "kept" (the kept copy)
    downloads: dict[str, tuple[str, Source]] = field(default_factory=dict)

    @property
    def run_work(self) -> bool:
        """Whether tasks run or are still running (so containers, pool and job are needed)."""
        return bool(self.removed) or any(
            c != "noop" or reason == IN_PROGRESS for c, reason in self.status.values()
        )

    def in_job(self) -> set[str]:
        """The tasks the job holds once the tasks step is done."""
        return _in_job(self.status)


def _in_job(status: Mapping[str, Status]) -> set[str]:
    return {i for i, (_, reason) in status.items() if reason != DONE_EARLIER}


def all_tasks(desired: Desired) -> tuple[DesiredTask, ...]:
    """Every task of the job in submission order: step by step, barriers first."""
    return desired.job.all_tasks


class _Planner:
    def __init__(self, desired: Desired, observed: Observed, live: Mapping[str, ObservedTask]):
        self.desired = desired
        self.observed = observed
        self.live = live
        self.tasks = all_tasks(desired)
        self.by_id = {t.id: t for t in self.tasks}
        self.writers = Writers(self.tasks)
        done = done_earlier(observed, live)
        if live or done:
            self.status = {t.id: task_status(t, live.get(t.id), done) for t in self.tasks}
        else:  # nothing of them anywhere (a first run): what task_status says of each
            self.status = dict.fromkeys(self.by_id, ("create", MISSING))

    @cached_property
    def graph(self) -> Graph:
        """The DAG (only for re-runs that spread: not when every task runs)."""
        return Graph.of(self.tasks)

    def rerun(self, ids: list[str] | set[str], reason: str) -> bool:
        """Run again tasks that would otherwise be left alone; True when any was."""
        changed = False
        for i in ids:
            if self.status[i][0] == "noop":
                self.status[i] = ("replace" if i in self.live else "create", reason)
                changed = True
        return changed

    def running(self) -> list[str]:
        return [i for i, (c, _) in self.status.items() if c in ("create", "replace")]

    def gone(self, key: str) -> bool:
        """Whether a container that tasks write to was deleted (by clean-up)."""
        name = self.desired.container(key).name
        return key in self.writers.containers and name not in self.observed.containers

    def spread(self) -> None:
        """Re-runs reach every task downstream, and every done task whose outputs a
        re-running task needs from a deleted container, until nothing changes."""
        if all(change != "noop" for change, _ in self.status.values()):
            return  # everything runs already (a first run, a replaced job)
        self.rerun(self.graph.downstream(self.running()), INPUTS_RERUN)
        gone = {key for key in self.writers.containers if self.gone(key)}
        scanned: set[str] = set()
        while gone:
            changed = False
            for i in self.running():
                if i in scanned:
                    continue
                scanned.add(i)
                for rf in self.by_id[i].resource_files:
                    if rf.container in gone:
                        changed |= self.lost_inputs(rf.container, rf.prefix or rf.blob or "")
            if not changed:
                return
            self.rerun(self.graph.downstream(self.running()), INPUTS_RERUN)

    def lost_inputs(self, key: str, prefix: str) -> bool:
        """A re-running task reads `prefix` of a deleted container: done tasks writing
        there run again unless the kept copy holds their outputs."""
        kept = self.observed.kept.get(self.desired.container(key).name)
        writers = self.writers.under(key, prefix)
        if kept is not None and kept.covers_prefix(prefix):
            writers = [w for w in writers if kept.tasks.get(w.id) != w.fingerprint]
        return self.rerun([w.id for w in writers], OUTPUTS_GONE)

    def downloads_without_source(self) -> None:
        """A download not in place from a deleted container that no kept copy covers:
        the tasks writing to that container run again."""
        for d in self.desired.downloads:
            if d.container not in self.writers.containers or not self.observed.downloads.get(
                downloads.key(d)
            ):
                continue
            if not self.gone(d.container):
                continue
            kept = self.observed.kept.get(d.container_name)
            if kept is None or not kept.covers_pattern(d.pattern):
                self.rerun([w.id for w in self.writers.of(d.container)], OUTPUTS_GONE)

    def explain(self) -> None:
        """A task whose fingerprint changed while a task it waits on runs again changed
        because of that one (fingerprints follow the DAG): say so."""
        changed = [i for i, (_, reason) in self.status.items() if reason == CHANGED]
        for i in changed:
            if any(
                self.status[d][0] != "noop" for d in self.by_id[i].depends_on if d in self.status
            ):
                self.status[i] = (self.status[i][0], INPUTS_RERUN)

    def unstick(self) -> None:
        """A task left waiting (by an older apply) on a task that is not in the job
        would wait for ever: it is created again with dependencies that exist."""
        waiting = [
            i
            for i, (_, reason) in self.status.items()
            if reason == IN_PROGRESS and self.live[i].depends_on
        ]
        if not waiting:
            return
        in_job = _in_job(self.status)
        for i in waiting:
            if any(d not in in_job for d in self.live[i].depends_on):
                self.status[i] = ("replace", STUCK)


def usable_job(desired: Desired, observed: Observed) -> bool:
    """Whether the live job can hold this run's tasks (else it is created or replaced)."""
    job = observed.job
    return (
        job is not None
        and job.state == "active"
        and job.pool_id == desired.pool.id
        and (job.uses_task_dependencies or not desired.job.uses_task_dependencies)
    )


def live_tasks(desired: Desired, observed: Observed) -> Mapping[str, ObservedTask]:
    """The tasks of the live job, when the job is usable; none otherwise."""
    return observed.job.tasks if observed.job is not None and usable_job(desired, observed) else {}


def runs_tasks(desired: Desired, observed: Observed) -> bool:
    """Whether some task has to run or is still running."""
    return plan_tasks(desired, observed, live_tasks(desired, observed)).run_work


def plan_tasks(desired: Desired, observed: Observed, live: Mapping[str, ObservedTask]) -> TaskPlan:
    """Which tasks run and why; what is restored and where downloads come from."""
    p = _Planner(desired, observed, live)
    p.downloads_without_source()
    p.spread()
    p.explain()
    p.unstick()
    removed = sorted(set(live) - set(p.by_id))
    plan = TaskPlan(p.tasks, p.status, removed)
    # done in the live job but not yet in the ledger: the outputs were never downloaded
    # (an apply was interrupted after the tasks finished), so the run is not over
    undownloaded = any(
        reason == DONE and observed.ledger.get(i) != p.by_id[i].fingerprint
        for i, (_, reason) in p.status.items()
    )
    if plan.run_work:
        # a container that tasks write to comes back as clean-up found it
        plan.restore = [
            key
            for key in p.writers.containers
            if p.gone(key) and desired.container(key).name in observed.kept
        ]
    for d in desired.downloads:
        reason = observed.downloads.get(downloads.key(d), "")
        if plan.run_work:
            plan.downloads[downloads.key(d)] = (reason, "container")
        elif reason or undownloaded:
            gone = d.container in p.writers.containers and p.gone(d.container)
            source: Source = "kept" if gone else "container"
            plan.downloads[downloads.key(d)] = (reason or "not downloaded yet", source)
    return plan
