"""Autoscale pools in motion: samples of each autoscale pool taken from the service's own
state every sample period, the pool's formula evaluated at its interval
(`autoscale.evaluate`), and the pool resized to the targets it sets. Runs with the
store's lock held (the scheduler's tick, and the pool handlers).

Samples, per pool: `$ActiveTasks` (active tasks of the pool's active jobs whose
dependencies are met), `$RunningTasks` (preparing or running), `$PendingTasks` (both),
`$SucceededTasks` and `$FailedTasks` (tasks that completed since the previous sample),
`$PreemptedNodeCount`, `$SampleNodeCount` (the pool's nodes) and, while the pool has
nodes, `$CPUPercent`: the CPU time that the processes of the pool's tasks and start
tasks used since the previous sample (`cpu`), over the time passed and the vCPUs its
nodes' VM size has. Local nodes share one machine, so this is the pool's share of the
cores it claims, not a measure of each node. The other metrics are not recorded.

Switches (read once at service start): `BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL` (the
shortest evaluation interval a pool may ask for, seconds, default Batch's 5 minutes;
tests lower it) and `BWF_LOCALBATCH_AUTOSCALE_SAMPLE_PERIOD` (default Batch's 30 s).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from runner.localbatch import stats
from runner.localbatch.allocation import begin_resize
from runner.localbatch.autoscale import AutoScaleResult, Sample, SystemSamples, evaluate
from runner.localbatch.cpu import CpuMeter
from runner.localbatch.harsh import number_switch
from runner.localbatch.rest import iso_seconds
from runner.localbatch.store import ISO_FORMAT, Obj, touch

if TYPE_CHECKING:
    from runner.localbatch.scheduler import Scheduler

BATCH_MIN_INTERVAL = 300.0  # seconds: Batch accepts 5 minutes to 168 hours
MAX_INTERVAL = 168 * 3600.0
DEFAULT_INTERVAL = "PT15M"
SAMPLE_PERIOD = 30.0
HISTORY = 86400.0  # seconds of samples kept per pool (at most `_MAX_SAMPLES` of each)
_MAX_SAMPLES = 10_000
USABLE = ("idle", "running")


@dataclass(frozen=True)
class AutoscaleSettings:
    min_interval: float = BATCH_MIN_INTERVAL
    sample_period: float = SAMPLE_PERIOD

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AutoscaleSettings:
        """The switches from the environment; a malformed value stops the service."""
        period = number_switch(env, "BWF_LOCALBATCH_AUTOSCALE_SAMPLE_PERIOD", SAMPLE_PERIOD)
        if period <= 0:
            raise SystemExit("BWF_LOCALBATCH_AUTOSCALE_SAMPLE_PERIOD: must be positive")
        return cls(
            min_interval=number_switch(
                env, "BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL", BATCH_MIN_INTERVAL
            ),
            sample_period=period,
        )

    def interval_problem(self, text: str) -> str | None:
        """Why an `autoScaleEvaluationInterval` is refused, or None."""
        seconds = iso_seconds(text)
        if seconds is not None and self.min_interval <= seconds <= MAX_INTERVAL:
            return None
        low = "5 minutes" if self.min_interval == BATCH_MIN_INTERVAL else f"{self.min_interval:g} s"
        return f"The evaluation interval must be between {low} and 168 hours."


class Autoscaler:
    def __init__(self, scheduler: Scheduler, settings: AutoscaleSettings) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.settings = settings
        self.history: dict[str, dict[str, deque[Sample]]] = {}
        self.sampled: dict[str, float] = {}  # pool key -> when it was last sampled (epoch)
        self.meters: dict[str, CpuMeter] = {}

    # --- the scheduler's tick ----------------------------------------------------------

    def tick(self) -> None:
        now = time.time()
        for pool_key, pool in list(self.store.pools.items()):
            if not pool.get("enableAutoScale") or pool["state"] != "active":
                self._forget(pool_key)
                continue
            if now - self.sampled.get(pool_key, 0.0) >= self.settings.sample_period:
                self.sample(pool_key, pool)
            if now >= float(pool.get("_next_eval") or 0):
                self.run(pool_key, pool)

    def _forget(self, pool_key: str) -> None:
        for kept in (self.history, self.sampled, self.meters):
            kept.pop(pool_key, None)

    # --- enabling and evaluating ---------------------------------------------------------

    def enable(self, pool_key: str, pool: Obj, formula: str, interval: str) -> None:
        """Autoscale on: the formula is evaluated now, then at every interval."""
        pool.update(enableAutoScale=True, autoScaleFormula=formula)
        pool["autoScaleEvaluationInterval"] = interval
        self.sample(pool_key, pool)
        self.run(pool_key, pool)

    def disable(self, pool_key: str, pool: Obj) -> None:
        """Autoscale off: the pool keeps its size and targets."""
        pool["enableAutoScale"] = False
        for key in ("autoScaleFormula", "autoScaleEvaluationInterval", "autoScaleRun"):
            pool.pop(key, None)
        pool.pop("_next_eval", None)
        self._forget(pool_key)

    def run(self, pool_key: str, pool: Obj) -> None:
        """One evaluation of the pool's formula: `autoScaleRun`, and the targets applied."""
        result = self.evaluate(pool_key, pool, str(pool.get("autoScaleFormula") or ""))
        pool["autoScaleRun"] = run_body(result)
        interval = iso_seconds(pool.get("autoScaleEvaluationInterval")) or BATCH_MIN_INTERVAL
        pool["_next_eval"] = time.time() + interval
        self._apply(pool, result)
        touch(pool)
        self.store.save("pool", pool_key, pool)

    def evaluate(self, pool_key: str, pool: Obj, formula: str) -> AutoScaleResult:
        """`formula` evaluated on the pool's samples now, applied to nothing."""
        return evaluate(formula, self.samples(pool_key, pool), datetime.now(timezone.utc))

    def _apply(self, pool: Obj, result: AutoScaleResult) -> None:
        """The pool resizes to the targets (on an error it keeps its size, as on Batch)."""
        if result.target_dedicated_nodes is None or result.target_low_priority_nodes is None:
            return
        targets = (result.target_dedicated_nodes, result.target_low_priority_nodes)
        current = (pool.get("currentDedicatedNodes"), pool.get("currentLowPriorityNodes"))
        changed = targets != (pool.get("targetDedicatedNodes"), pool.get("targetLowPriorityNodes"))
        pool["targetDedicatedNodes"], pool["targetLowPriorityNodes"] = targets
        if changed:
            pool["_deallocation"] = result.node_deallocation_option or "requeue"
        # a resize under way goes to the new targets; a steady pool short of them (a
        # quota, a stopped resize) tries again
        if pool.get("allocationState") == "steady" and (changed or current != targets):
            pool["_deallocation"] = result.node_deallocation_option or "requeue"
            begin_resize(pool, self.scheduler.harsh.allocation_delay)

    # --- samples -------------------------------------------------------------------------

    def samples(self, pool_key: str, pool: Obj) -> SystemSamples:
        nodes = list(self.store.nodes.get(pool_key, {}).values())
        history = self.history.get(pool_key, {})
        return SystemSamples(
            history={name: list(kept) for name, kept in history.items()},
            current_dedicated_nodes=sum(1 for n in nodes if n.get("isDedicated")),
            current_low_priority_nodes=sum(1 for n in nodes if not n.get("isDedicated")),
            preempted_node_count=sum(1 for n in nodes if n["state"] == "preempted"),
            usable_node_count=sum(1 for n in nodes if n["state"] in USABLE),
            task_slots_per_node=int(pool.get("taskSlotsPerNode") or 1),
            target_dedicated_nodes=int(pool.get("targetDedicatedNodes") or 0),
            target_low_priority_nodes=int(pool.get("targetLowPriorityNodes") or 0),
            sample_period=timedelta(seconds=self.settings.sample_period),
        )

    def sample(self, pool_key: str, pool: Obj) -> None:
        """Record one sample of each metric the service measures."""
        now = time.time()
        since = self.sampled.get(pool_key)
        self.sampled[pool_key] = now
        values = self._task_counts(pool_key, since)
        nodes = list(self.store.nodes.get(pool_key, {}).values())
        values["$PreemptedNodeCount"] = sum(1 for n in nodes if n["state"] == "preempted")
        values["$SampleNodeCount"] = len(nodes)
        cpu = self._cpu_percent(pool_key, pool, len(nodes), now - (since or now))
        if cpu is not None:
            values["$CPUPercent"] = cpu
        kept = self.history.setdefault(pool_key, {})
        taken = datetime.fromtimestamp(now, timezone.utc)
        size = min(_MAX_SAMPLES, int(HISTORY / self.settings.sample_period) + 1)
        for name, value in values.items():
            kept.setdefault(name, deque(maxlen=size)).append(Sample(taken, float(value)))

    def _task_counts(self, pool_key: str, since: float | None) -> dict[str, float]:
        active = running = succeeded = failed = 0
        # completed tasks count once: those that ended after the last sample (the first
        # sample has none to count from)
        after = datetime.fromtimestamp(since or time.time(), timezone.utc).strftime(ISO_FORMAT)
        dispatcher = self.scheduler.dispatcher
        for job_key, job in self.store.jobs.items():
            if (job.get("poolInfo") or {}).get("poolId", "").lower() != pool_key:
                continue
            for task in self.store.tasks.get(job_key, {}).values():
                state = task["state"]
                if state in ("preparing", "running"):
                    running += 1
                elif state == "active" and job["state"] == "active":
                    ready = not task.get("dependsOn") or dispatcher.deps_ready(job_key, task)
                    active += int(ready)
                elif state == "completed":
                    info = task.get("executionInfo") or {}
                    if str(info.get("endTime") or "") > after:
                        ok = info.get("result") == "success"
                        succeeded, failed = succeeded + int(ok), failed + int(not ok)
        return {
            "$ActiveTasks": active,
            "$RunningTasks": running,
            "$PendingTasks": active + running,
            "$SucceededTasks": succeeded,
            "$FailedTasks": failed,
        }

    def _cpu_percent(self, pool_key: str, pool: Obj, nodes: int, elapsed: float) -> float | None:
        """The pool's CPU use since the last sample, as a percentage of its nodes' vCPUs."""
        if nodes == 0:
            self.meters.pop(pool_key, None)
            return None
        running = self.scheduler.running.values()
        # a task's supervisor counts while it holds the task: then it may serve another's
        roots = {
            r.process.pid: r.process.cpu_base
            for r in running
            if r.pool_key == pool_key and r.process and r.process.held
        }
        for (key, _), p in self.scheduler.start_tasks.items():
            if key == pool_key:
                roots[p.pid] = p.cpu_base
        used = self.meters.setdefault(pool_key, CpuMeter()).used(roots)
        cores = nodes * stats.vcpus(str(pool.get("vmSize") or ""))
        if elapsed <= 0:
            return 0.0
        return min(100.0, 100.0 * used / (elapsed * cores))


def run_body(result: AutoScaleResult) -> Obj:
    """An evaluation as Batch shows it (`AutoScaleRun`)."""
    body: Obj = {"timestamp": result.timestamp.strftime(ISO_FORMAT)}
    if result.results:
        body["results"] = result.results
    if result.error is not None:
        body["error"] = result.error.to_rest()
    return body
