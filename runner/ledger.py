"""The run ledger: which tasks finished with which fingerprint, kept under BWF_HOME.

A task enters the ledger when it succeeded and its outputs were downloaded. Clean-up
may then delete the job, the pool and the containers: the ledger still knows the
work is done, so the next `apply` says "No changes" instead of running it again (and
needs no service at all to say so).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from runner.home import bwf_home


class Ledger:
    def __init__(self, target: str, account: str, workflow: str, job_id: str) -> None:
        key = hashlib.sha256(f"{target}\0{account}\0{job_id}".encode()).hexdigest()[:16]
        self.path = bwf_home() / "ledger" / f"{workflow}-{key}.json"
        try:
            data = json.loads(self.path.read_text())
            self.tasks: dict[str, str] = dict(data.get("tasks", {}))
        except (OSError, ValueError):
            self.tasks = {}

    def record(self, done: Mapping[str, str]) -> None:
        """Add tasks (id -> fingerprint) and save atomically."""
        if not done:
            return
        self.tasks.update(done)
        self._save()

    def keep_only(self, task_ids: set[str]) -> None:
        """Drop the tasks the spec no longer has (the plan deletes them from a kept job)."""
        self.forget([t for t in self.tasks if t not in task_ids])

    def forget(self, task_ids: list[str]) -> None:
        changed = [t for t in task_ids if self.tasks.pop(t, None) is not None]
        if changed:
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tasks": self.tasks}, separators=(",", ":")))
        os.replace(tmp, self.path)
