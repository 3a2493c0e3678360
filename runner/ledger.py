"""The run ledger: which tasks finished with which fingerprint, and which local files
the downloads wrote, kept under BWF_HOME.

A task enters the ledger when it succeeded and its outputs were downloaded. Clean-up
may then delete the job, the pool and the containers: the ledger still knows the
work is done, so the next `apply` says "No changes" instead of running it again (and
needs no service at all to say so). The files each download wrote (size, MD5 and
modification time) are kept too, so that a deleted or edited result is noticed
(runner.downloads).

Everything bwf keeps about one workflow's job on one Batch account lives under one
key (`state_key`): the ledger, the kept output copies (runner.kept) and the run
records (runner.runrecord).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runner.home import bwf_home

if TYPE_CHECKING:
    from runner.state import Desired

# blob name -> [size, base64 MD5, mtime in ns] as written by the last download
FileEntries = dict[str, list[int | str]]


def state_key(target: str, account: str, workflow: str, job_id: str) -> str:
    """`<workflow>-<digest>`: the name under which BWF_HOME keeps one job's state."""
    digest = hashlib.sha256(f"{target}\0{account}\0{job_id}".encode()).hexdigest()[:16]
    return f"{workflow}-{digest}"


def ledger_for(desired: Desired, target_name: str) -> Ledger:
    """The run ledger of this spec's job on this target's Batch account (no network,
    and none of the services' SDKs imported: an offline plan reads it too)."""
    from runner.localstack import BATCH_ACCOUNT
    from runner.targets import azure_target

    account = BATCH_ACCOUNT if target_name == "local" else azure_target().batch_url
    return Ledger(target_name, account, desired.name, desired.job.id)


class Ledger:
    def __init__(self, target: str, account: str, workflow: str, job_id: str) -> None:
        self.key = state_key(target, account, workflow, job_id)
        self.path = bwf_home() / "ledger" / f"{self.key}.json"
        try:
            data = json.loads(self.path.read_text())
            self.tasks: dict[str, str] = dict(data.get("tasks", {}))
            self.downloads: dict[str, FileEntries] = dict(data.get("downloads", {}))
        except (OSError, ValueError):
            self.tasks = {}
            self.downloads = {}

    def record(self, done: Mapping[str, str]) -> None:
        """Add tasks (id -> fingerprint) and save atomically."""
        if not done:
            return
        self.tasks.update(done)
        self._save()

    def record_download(self, key: str, files: FileEntries) -> None:
        """Remember what one download wrote (replacing what it wrote before)."""
        self.downloads[key] = files
        self._save()

    def keep_only(self, task_ids: set[str]) -> None:
        """Drop the tasks the spec no longer has (the plan deletes them from a kept job)."""
        self.forget([t for t in self.tasks if t not in task_ids])

    def forget(self, task_ids: list[str]) -> None:
        changed = [t for t in task_ids if self.tasks.pop(t, None) is not None]
        if changed:
            self._save()

    def forget_all(self) -> None:
        """`bwf destroy`: nothing is done any more, nothing was downloaded."""
        self.tasks, self.downloads = {}, {}
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"tasks": self.tasks, "downloads": self.downloads}
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, self.path)

    def sibling(self, kind: str) -> Path:
        """The directory BWF_HOME keeps for this job's `kind` of state (kept, runs)."""
        return bwf_home() / kind / self.key
