"""Monitoring: wait for the job's tasks (once the pool's nodes are ready:
`runner.nodes_ready`) until each completed or can never run, or the job timeout passes; keep the run record as it
goes; ride out a service that stops answering for a while.

One `taskcounts` request per poll drives the progress display. A task listing
(state, exit code, node, times, failure) feeds the run record and the dependency
graph and, for a job of several steps, the progress of each step; after the first, it
asks only for the tasks that changed state lately (see `LISTING_OVERLAP`); it is taken when the
counts change (or every `REFRESH_SECONDS` while tasks run), at most every
`LISTING_SECONDS` while tasks run (at once when none runs) and every `LISTING_SHARE`
times what the last listing took, so that a 100,000-task job is not listed every
second. A task that can never run (`runner.dag.blocked`) is not waited
for: once nothing runs and every task left is blocked, monitoring ends.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from runner import durations, stepcounts
from runner.batch import Batch
from runner.dag import Blocker, Graph, blocked
from runner.errors import BwfError, ServiceUnreachable
from runner.progress import Ui
from runner.record_events import parse_time
from runner.runrecord import RunRecord, TaskRecord
from runner.state import Desired, ObservedTask, TaskCounts
from runner.words import plural

POLL_SECONDS = 1.0
# ... but a fifth of one near the end, when tasks take seconds: a run of short tasks
# ends sooner after its last task (less of a poll's "tail"). Near the end is when only
# running tasks are left, or when the tasks left would all complete within
# `NEAR_END_POLLS` polls at the pace of the last few: with short tasks the moment when
# nothing waits any more lasts less than a poll, and a poll at 1 Hz mostly misses it.
FINAL_POLL_SECONDS = 0.2
SHORT_TASK_SECONDS = 10.0
NEAR_END_POLLS = 2.0
PACE_POLLS = 4  # the pace is that of the last this many polls
LISTING_SHARE = 10  # a full listing at most every 10x the time the last one took
# ... and at most every this many seconds while tasks run (each costs bwf and Batch CPU
# per task listed, which on the local stack the tasks' own work needs); at once when
# nothing runs, since then a listing decides whether monitoring is over
LISTING_SECONDS = 3.0
# ... and at least this often while tasks run, though the counts stay the same: a retry
# changes no count, and the run record (and --events) should see it start
REFRESH_SECONDS = 3.0
# A listing after the first asks only for the tasks that changed state since a little
# before the latest change the last one saw (Batch's stateTransitionTime, the service's
# own clock): the overlap covers a change that a listing saw late. A full listing every
# `FULL_LISTING_SECONDS`, and whenever nothing runs while tasks seem unfinished, notices
# what a filtered one cannot (a task deleted, a change seen later than the overlap).
LISTING_OVERLAP = dt.timedelta(seconds=2)
FULL_LISTING_SECONDS = 60.0
OUTAGE_LIMIT = 300.0  # the longest monitoring retries a service that does not answer
OUTAGE_MIN = 5.0  # ... and the least, even when the job timeout is nearly over
T = TypeVar("T")


@dataclass
class Outcome:
    tasks: dict[str, ObservedTask] = field(default_factory=dict)  # the job's tasks at the end
    blocked: dict[str, Blocker] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # submitted, then gone from the job
    timed_out: bool = False

    @property
    def succeeded(self) -> int:
        return sum(1 for t in self.tasks.values() if t.result == "success")

    @property
    def failed(self) -> list[ObservedTask]:
        return [t for t in self.tasks.values() if t.state == "completed" and t.result != "success"]

    @property
    def unfinished(self) -> list[ObservedTask]:
        return [
            t for t in self.tasks.values() if t.state != "completed" and t.id not in self.blocked
        ]


def _since(listed: Iterable[ObservedTask], before: str | None) -> str | None:
    """The time a filtered listing asks for changes since: `LISTING_OVERLAP` before the
    latest state change seen (never earlier than `before`, the last one asked for), as an
    OData datetime literal; `before` when no listed task tells."""
    latest = max((w for t in listed if t.changed and (w := parse_time(t.changed))), default=None)
    if latest is None:
        return before
    text = (latest - LISTING_OVERLAP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return max(text, before) if before else text


def typical_seconds(tasks: Iterable[ObservedTask], sample: int = 200) -> float | None:
    """The median run time of (up to `sample` of) the completed tasks; None before any
    completed."""
    seconds: list[float] = []
    for t in tasks:
        if t.state == "completed" and t.started and t.ended:
            began, ended = parse_time(t.started), parse_time(t.ended)
            if began and ended:
                seconds.append((ended - began).total_seconds())
                if len(seconds) >= sample:
                    break
    return statistics.median(seconds) if seconds else None


def task_record(
    t: ObservedTask, step: str, blocker: Blocker | None, barrier: bool = False
) -> TaskRecord:
    state = t.state
    if state == "completed":
        state = "succeeded" if t.result == "success" else "failed"
    elif blocker is not None:
        state = "blocked"
    failure = f"{t.failure_code}: {t.failure_message or ''}".strip() if t.failure_code else None
    return TaskRecord(
        id=t.id,
        step=step,
        state=state,
        exit_code=t.exit_code,
        node=t.node_id,
        queued=t.created,
        started=t.started,
        ended=t.ended,
        retries=t.retry_count,
        requeues=t.requeue_count,
        failure=failure,
        blocked_by=blocker.task if blocker else None,
        barrier=barrier,
        last_retry=t.last_retry,
        last_requeue=t.last_requeue,
    )


def completion_rate(first: tuple[float, int], now: float, completed: int) -> float | None:
    """Tasks completed a second since the first poll (`first`: its monotonic time and
    completed count), None before `POLL_SECONDS` have passed: what had completed before
    monitoring began is not a rate."""
    began, before = first
    if now - began < POLL_SECONDS:
        return None
    return (completed - before) / (now - began)


def poll_seconds(c: TaskCounts, typical: float | None, pace: float) -> float:
    """How long to wait before the next poll, given the counts, how long a task takes
    (None before any completed) and how many complete a second lately."""
    if typical is None or typical > SHORT_TASK_SECONDS:
        return POLL_SECONDS
    left = c.active + c.running
    final = c.active == 0 and c.running > 0
    near = left > 0 and pace > 0 and left / pace <= NEAR_END_POLLS * POLL_SECONDS
    return FINAL_POLL_SECONDS if final or near else POLL_SECONDS


class Monitor:
    def __init__(
        self,
        desired: Desired,
        batch: Batch,
        ui: Ui,
        record: RunRecord,
        graph: Graph,
        hint: str,
        on_poll: Callable[[int], None] | None = None,
    ) -> None:
        self.desired = desired
        self.job_id = desired.job.id
        self.batch = batch
        self.ui = ui
        self.record = record
        self.graph = graph  # the job's tasks and what each waits on in the job
        self.steps = ""  # the progress of each step, as the last listing saw it
        self.hint = hint  # how to resume, for when the service is lost
        self.on_poll = on_poll  # told the tasks completed at each poll
        self.outcome = Outcome()
        self.deadline = 0.0
        self.requeues: dict[str, int] = {}  # task -> requeues told so far
        self.pool_nodes = 0  # the nodes of the pool at the last listing
        self.typical: float | None = None  # how long a task took, as the last listing saw
        # (when, tasks completed) at the last few polls: how fast tasks complete lately
        self.paces: deque[tuple[float, int]] = deque(maxlen=PACE_POLLS)
        self.since: str | None = None  # what a filtered listing asks for: changes since
        self.full = True  # whether the last listing was of all the tasks

    def run(self) -> Outcome:
        timeout = self.desired.job.timeout
        self.deadline = time.monotonic() + timeout
        expected = len(self.graph.depends)
        self.ui.say(
            f"Monitoring all tasks for 'Completed' state, timeout in {durations.human(timeout)}..."
        )
        first: tuple[float, int] | None = None  # the first poll: when, tasks completed
        listed_counts: TaskCounts | None = None
        next_listing = next_refresh = next_full = 0.0
        with self.ui.bar("Tasks", expected) as bar:
            while True:
                c = self.call(lambda: self.batch.task_counts(self.job_id))
                if self.on_poll is not None:
                    self.on_poll(c.completed)
                if first is None:
                    first = (time.monotonic(), c.completed)
                rate = completion_rate(first, time.monotonic(), c.completed)
                bar.update(c.completed, self.progress(c, rate))
                settled = c.running == 0 and (c.active == 0 or bool(self.outcome.blocked))
                now = time.monotonic()
                due = now >= next_listing or c.running == 0
                stale = c.running > 0 and now >= next_refresh
                changed = (c != listed_counts or stale) and (settled or due)
                if changed or (settled and due and self.counts_lag()):
                    # when nothing runs, the changes first, then a full listing if they
                    # leave tasks unfinished: one may wait on a task that is gone
                    idle = c.running == 0
                    took = self.listing(full=time.monotonic() >= next_full and not idle)
                    if idle and not self.over() and not self.full:
                        took += self.listing(full=True)
                    if self.full:
                        next_full = time.monotonic() + FULL_LISTING_SECONDS
                    bar.update(c.completed, self.progress(c, rate))
                    listed_counts = c
                    next_listing = time.monotonic() + max(LISTING_SECONDS, LISTING_SHARE * took)
                    next_refresh = time.monotonic() + max(REFRESH_SECONDS, LISTING_SHARE * took)
                    if self.over():
                        return self.outcome
                if time.monotonic() > self.deadline:
                    self.listing(full=True)
                    self.outcome.timed_out = not self.over()
                    return self.outcome
                time.sleep(self.poll_interval(c))

    def poll_interval(self, c: TaskCounts) -> float:
        now = time.monotonic()
        self.paces.append((now, c.completed))
        first_at, first_completed = self.paces[0]
        pace = (c.completed - first_completed) / (now - first_at) if now > first_at else 0.0
        return poll_seconds(c, self.typical, pace)

    def counts_lag(self) -> bool:
        """Whether the counts, which say nothing runs or waits while the last listing
        left tasks unfinished, are behind (Azure: "may not always be up to date"): a
        filtered list of the tasks not completed, cheap and exact, tells."""
        if not self.outcome.unfinished:
            return False
        left = self.call(lambda: self.batch.list_tasks(self.job_id, filter="state ne 'completed'"))
        return not any(t.id in self.graph.depends for t in left)

    def over(self) -> bool:
        """Nothing left to wait for: every task completed or blocked."""
        o = self.outcome
        return not o.unfinished and len(o.tasks) + len(o.missing) >= len(self.graph.depends)

    def listing(self, full: bool) -> float:
        """List the job's tasks (those that changed since the last listing, unless `full`
        or there was none) and the pool's nodes, record what changed, and work out which
        tasks are blocked. Returns the seconds it took."""
        began = time.monotonic()
        since = None if full else self.since
        self.full = since is None
        what = None if since is None else f"stateTransitionTime ge datetime'{since}'"
        listed = self.call(lambda: self.batch.list_tasks(self.job_id, filter=what))
        fresh = {t.id: t for t in listed if t.id in self.graph.depends}
        tasks = fresh if self.full else {**self.outcome.tasks, **fresh}
        self.since = _since(fresh.values(), self.since)
        failed = {i for i, t in tasks.items() if t.state == "completed" and t.result != "success"}
        stuck = blocked(self.graph, set(tasks), failed)
        self.outcome.tasks = tasks
        self.outcome.blocked = {i: b for i, b in stuck.items() if tasks[i].state != "completed"}
        if self.full:
            self.outcome.missing = sorted(set(self.graph.depends) - set(tasks))
        self.typical = typical_seconds(tasks.values())
        job = self.desired.job
        self.record.tasks(
            task_record(t, job.step_of[i], self.outcome.blocked.get(i), i in job.barrier_ids)
            for i, t in tasks.items()
        )
        self.count_steps(tasks)
        self.tell_requeues(tasks)
        self.sample_pool()
        return time.monotonic() - began

    def tell_requeues(self, tasks: Mapping[str, ObservedTask]) -> None:
        """Say so when a task went back to the queue (its spot node was preempted, or
        its node removed or rebooted): Batch runs it again, and counts no retry."""
        for i, t in tasks.items():
            if t.requeue_count > self.requeues.get(i, 0):
                self.requeues[i] = t.requeue_count
                self.ui.say(
                    f"Task [{i}] was requeued: its node was preempted or taken away "
                    f"(requeue {t.requeue_count}); Batch runs it again."
                )

    def count_steps(self, tasks: Mapping[str, ObservedTask]) -> None:
        """The progress of each step, for a job of several."""
        if len(self.desired.job.steps) < 2:
            return
        blocked = self.outcome.blocked
        states = {i: stepcounts.bucket(t.state, t.result, i in blocked) for i, t in tasks.items()}
        self.steps = stepcounts.line(stepcounts.count(self.desired.job, states, self.graph.depends))

    def progress(self, c: TaskCounts, rate: float | None) -> str:
        per_second = "" if rate is None else f" ({rate:.1f}/s)"
        if self.steps:
            return self.steps + per_second
        return (
            f"ok {c.succeeded} failed {c.failed} running {c.running} waiting {c.active}{per_second}"
        )

    def sample_pool(self) -> None:
        pool = self.desired.pool.id
        nodes = self.call(lambda: self.batch.nodes(pool))
        states: dict[str, int] = {}
        for n in nodes:
            states[n.state] = states.get(n.state, 0) + 1
        self.record.nodes(pool, nodes)
        if self.desired.pool.autoscale is not None and len(nodes) != self.pool_nodes:
            self.ui.say(f"Pool [{pool}] autoscaled to {plural(len(nodes), 'node')}.")
        self.pool_nodes = len(nodes)
        dedicated = sum(1 for n in nodes if n.dedicated)
        self.record.pool_size(pool, dedicated, len(nodes) - dedicated, states)

    def call(self, fn: Callable[[], T]) -> T:
        """A read against Batch that survives an outage: retried with backoff while the
        service does not answer, for a bounded time; then a clear error with a hint."""
        try:
            return fn()
        except ServiceUnreachable as e:
            lost = time.monotonic()
            give_up = lost + min(OUTAGE_LIMIT, max(OUTAGE_MIN, self.deadline - lost))
            self.ui.say(
                f"Lost contact with the Batch service ({e}); retrying for up to "
                f"{durations.human(int(give_up - lost))}..."
            )
            wait = 1.0
            while time.monotonic() < give_up:
                time.sleep(min(wait, max(0.0, give_up - time.monotonic())))
                wait = min(wait * 2, 15.0)
                try:
                    result = fn()
                except ServiceUnreachable:
                    continue
                self.ui.say(
                    f"The Batch service answers again after {time.monotonic() - lost:.0f}s."
                )
                return result
            raise BwfError(
                f"{e}; gave up after {time.monotonic() - lost:.0f}s of retries. The tasks keep "
                f"running in Batch as long as it runs them. {self.hint}"
            ) from None
