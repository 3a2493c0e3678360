"""Spot nodes (`targetLowPriorityNodes`) preempted as Azure preempts them, behind
switches read once at service start:

- `BWF_LOCALBATCH_PREEMPT_RATE=F`: each time a task starts on a spot node, with
  probability F (0 to 1) that node is preempted at once;
- `BWF_LOCALBATCH_PREEMPT_ON_TASK=<task id>`: the first time that task starts on a spot
  node, the node is preempted;
- `BWF_LOCALBATCH_PREEMPT_SEED=N`: the draws of the rate, reproducible: the same
  sequence of task starts preempts the same nodes;
- `BWF_LOCALBATCH_PREEMPT_DOWNTIME=S`: how long a preempted node stays `preempted`
  before it comes back (default `DEFAULT_DOWNTIME`).

A preempted node goes to state `preempted`: every process on it ends, and its running
tasks go back to the queue, counted in `requeueCount` and not in `retryCount`, as Batch
reschedules them once a node is available. The node still counts in the pool's
`currentLowPriorityNodes` (as on Batch) and in `$PreemptedNodeCount`. After the downtime
it comes back as a new VM would: an empty disk, its start task again, job preparation
again. Draws happen when a task starts (not on a clock), so that a seed reproduces them
whatever the machine's speed.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from runner.localbatch.harsh import number_switch
from runner.localbatch.runs import Running
from runner.localbatch.store import Obj, Store, set_plain_state


class NodeControl(Protocol):
    """What preemption needs of the scheduler."""

    store: Store

    def runs_on(self, pool_key: str, node_id: str) -> list[Running]: ...
    def cancel_runs(self, runs: list[Running], how: str) -> None: ...
    def stop_processes(self, pool_key: str, node: Obj) -> None: ...
    def boot_again(self, pool_key: str, node: Obj, *, wipe: bool) -> None: ...


DEFAULT_DOWNTIME = 1.0  # seconds a preempted node is away


@dataclass
class Preemption:
    rate: float = 0.0
    on_task: str | None = None
    seed: int | None = None
    downtime: float = DEFAULT_DOWNTIME
    preempted: int = field(init=False, default=0)  # how many times, since the start
    done_on_task: bool = field(init=False, default=False)
    random: random.Random = field(init=False)
    lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Preemption:
        """The switches from the environment; a malformed value stops the service."""
        rate = number_switch(env, "BWF_LOCALBATCH_PREEMPT_RATE", 0.0)
        if rate > 1:
            raise SystemExit(f"BWF_LOCALBATCH_PREEMPT_RATE: a fraction from 0 to 1, got {rate}")
        seed = env.get("BWF_LOCALBATCH_PREEMPT_SEED") or ""
        if seed and not seed.lstrip("-").isdigit():
            raise SystemExit(f"BWF_LOCALBATCH_PREEMPT_SEED: expected a whole number, got {seed!r}")
        return cls(
            rate=rate,
            on_task=env.get("BWF_LOCALBATCH_PREEMPT_ON_TASK") or None,
            seed=int(seed) if seed else None,
            downtime=number_switch(env, "BWF_LOCALBATCH_PREEMPT_DOWNTIME", DEFAULT_DOWNTIME),
        )

    def _chosen(self, task_id: str) -> bool:
        with self.lock:
            if self.on_task is not None and task_id == self.on_task and not self.done_on_task:
                self.done_on_task = True
                return True
            return self.rate > 0 and self.random.random() < self.rate

    def on_task_running(
        self, scheduler: NodeControl, task_id: str, pool_key: str, node_id: str
    ) -> None:
        """A task has just started on a node (lock held): preempt the node if it is a
        spot node and the switches say so."""
        node = scheduler.store.nodes.get(pool_key, {}).get(node_id)
        if node is None or node.get("isDedicated", True):
            return
        if self._chosen(task_id):
            self.preempt(scheduler, pool_key, node_id)

    def preempt(self, scheduler: NodeControl, pool_key: str, node_id: str) -> None:
        """The spot node is taken away (lock held): its tasks go back to the queue."""
        node = scheduler.store.nodes.get(pool_key, {}).get(node_id)
        if node is None or node["state"] == "preempted" or node.get("_leaving"):
            return
        self.preempted += 1
        node["_boot"] = node.get("_boot", 0) + 1  # its start task, if running, records nothing
        scheduler.cancel_runs(scheduler.runs_on(pool_key, node_id), "preempted")
        scheduler.stop_processes(pool_key, node)
        set_plain_state(node, "preempted")
        node["_back"] = time.time() + self.downtime
        scheduler.store.save_node(pool_key, node)

    def bring_back(self, scheduler: NodeControl, pool_key: str) -> None:
        """Preempted nodes whose downtime is over come back (lock held), as new VMs."""
        for node in list(scheduler.store.nodes.get(pool_key, {}).values()):
            if node["state"] != "preempted" or time.time() < float(node.get("_back") or 0):
                continue
            if scheduler.runs_on(pool_key, node["id"]):
                continue  # its killed tasks have not gone back to the queue yet
            node.pop("_back", None)
            scheduler.boot_again(pool_key, node, wipe=True)
