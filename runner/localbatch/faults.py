"""Fault injection for tests of the client's resilience, set by environment variables.

- `BWF_LOCALBATCH_FAULT_RATE=0.1`: that fraction of authenticated requests fails with
  503 `ServerBusy` before anything is done (so retrying is always safe).
- `BWF_LOCALBATCH_FAULT_SEED=7`: make the failing requests reproducible.
- `BWF_LOCALBATCH_KILL_NODE_ON_TASK=<task id>`: the first time that task runs, its
  node dies shortly after: running tasks are killed and re-queued, the node reboots.
"""

from __future__ import annotations

import os
import random
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.localbatch.execution import Execution


class Faults:
    def __init__(
        self, rate: float = 0.0, seed: int | None = None, kill_node_on_task: str | None = None
    ) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.kill_node_on_task = kill_node_on_task
        self.killed = False
        self.lock = threading.Lock()
        self.injected = 0

    @classmethod
    def from_env(cls) -> Faults:
        seed = os.environ.get("BWF_LOCALBATCH_FAULT_SEED")
        return cls(
            rate=float(os.environ.get("BWF_LOCALBATCH_FAULT_RATE") or 0),
            seed=int(seed) if seed else None,
            kill_node_on_task=os.environ.get("BWF_LOCALBATCH_KILL_NODE_ON_TASK") or None,
        )

    def should_fail(self) -> bool:
        if self.rate <= 0:
            return False
        with self.lock:
            fail = self.random.random() < self.rate
            self.injected += int(fail)
            return fail

    def on_task_running(
        self, scheduler: Execution, task_id: str, pool_key: str, node_id: str
    ) -> None:
        if self.kill_node_on_task and task_id == self.kill_node_on_task and not self.killed:
            self.killed = True
            threading.Timer(0.3, scheduler.kill_node, (pool_key, node_id)).start()
