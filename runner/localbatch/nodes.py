"""Compute nodes on this machine: directories, environment and processes.

A node is a directory with Batch's layout:

    <home>/nodes/<pool>/<node>/
        shared/                              AZ_BATCH_NODE_SHARED_DIR
        startup/{wd,stdout.txt,stderr.txt}   the start task (AZ_BATCH_NODE_STARTUP_DIR)
        workitems/<job>/job-1/<task>/{wd,stdout.txt,stderr.txt}

Command lines run without a shell, as Batch runs them: split into arguments with
POSIX shell quoting rules (a task that wants a shell says `/bin/bash -c`). Each
process leads its own process group so that terminate kills everything it started.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The environment a task starts from: the service's own variables stay out (they may
# hold keys), except what programs need to be found and to behave.
_PASS_THROUGH = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SYSTEMROOT",
)


@dataclass
class Node:
    pool_id: str
    node_id: str
    root: Path

    @property
    def shared(self) -> Path:
        return self.root / "shared"

    @property
    def startup(self) -> Path:
        return self.root / "startup"

    def task_dir(self, job_id: str, task_id: str) -> Path:
        return self.root / "workitems" / job_id / "job-1" / task_id

    def prep_dir(self, job_id: str, kind: str) -> Path:
        return self.root / "workitems" / job_id / "job-1" / kind

    def create(self) -> None:
        for d in (self.shared, self.startup / "wd", self.root / "workitems"):
            d.mkdir(parents=True, exist_ok=True)


def environment(
    node: Node,
    task_dir: Path,
    account: str,
    account_url: str,
    settings: list[dict[str, Any]] | None,
    extra: dict[str, str],
) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    env.update(
        {
            "AZ_BATCH_ACCOUNT_NAME": account,
            "AZ_BATCH_ACCOUNT_URL": account_url,
            "AZ_BATCH_POOL_ID": node.pool_id,
            "AZ_BATCH_NODE_ID": node.node_id,
            "AZ_BATCH_NODE_ROOT_DIR": str(node.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(node.shared),
            "AZ_BATCH_NODE_STARTUP_DIR": str(node.startup),
            "AZ_BATCH_NODE_IS_DEDICATED": "true",
            "AZ_BATCH_TASK_DIR": str(task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
            "HOME": str(task_dir / "wd"),
        }
    )
    env.update(extra)
    for s in settings or []:
        env[str(s["name"])] = str(s.get("value") or "")
    return env


class Process:
    """One running command line in its own process group, output to the task directory."""

    def __init__(self, command_line: str, task_dir: Path, env: dict[str, str]) -> None:
        self.task_dir = task_dir
        (task_dir / "wd").mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        try:
            argv = shlex.split(command_line)
        except ValueError as e:
            raise OSError(f"the command line cannot be parsed: {e}") from None
        if not argv:
            raise OSError("the command line is empty")
        with open(task_dir / "stdout.txt", "ab") as out, open(task_dir / "stderr.txt", "ab") as err:
            self.proc = subprocess.Popen(
                argv,
                cwd=task_dir / "wd",
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None when `timeout` seconds passed first."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        kill_group(self.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a process ignoring SIGKILL
            self.proc.wait(timeout=10)


def kill_group(pgid: int) -> None:
    """SIGKILL a process group (a task and everything it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def is_ours(pgid: int, marker: str) -> bool:
    """Whether process `pgid` still runs with `marker` (NAME=value) in its environment:
    after a restart, only kill the leftovers of our own tasks."""
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return marker.encode() in environ
