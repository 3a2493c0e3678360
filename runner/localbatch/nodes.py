"""Compute nodes on this machine: directories, environment and processes.

A node is a directory with Batch's layout:

    <home>/nodes/<pool>/<node>/
        shared/                              AZ_BATCH_NODE_SHARED_DIR
        startup/{wd,stdout.txt,stderr.txt}   the start task (AZ_BATCH_NODE_STARTUP_DIR)
        workitems/<job>/job-1/<task>/{wd,stdout.txt,stderr.txt}

Command lines run without a shell, as Batch runs them: split into arguments with
POSIX shell quoting rules (a task that wants a shell says `/bin/bash -c`). Each runs
under a supervisor (`nursery`) that ends everything the task started, even processes
that left its process group or session, when the task ends or is killed.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.localbatch.containers import ContainerCommand
from runner.localbatch.spawner import SPAWNER
from runner.shell import split_command_line

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
    dedicated: bool = True

    @property
    def shared(self) -> Path:
        return self.root / "shared"

    @property
    def startup(self) -> Path:
        return self.root / "startup"

    def task_dir(self, job_id: str, task_id: str) -> Path:
        return Path(f"{self.root}/workitems/{job_id}/job-1/{task_id}")  # IDs have no "/"

    def prep_dir(self, job_id: str, kind: str) -> Path:
        return self.root / "workitems" / job_id / "job-1" / kind

    def create(self) -> None:
        for d in (self.shared, self.startup / "wd", self.root / "workitems"):
            d.mkdir(parents=True, exist_ok=True)


def task_variables(
    node: Node,
    task_dir: Path,
    account: str,
    account_url: str,
    settings: list[dict[str, Any]] | None,
    extra: dict[str, str],
) -> dict[str, str]:
    """The variables Batch gives a task (`AZ_BATCH_*`, the task's own settings): what a
    container task sees too."""
    env = {
        "AZ_BATCH_ACCOUNT_NAME": account,
        "AZ_BATCH_ACCOUNT_URL": account_url,
        "AZ_BATCH_POOL_ID": node.pool_id,
        "AZ_BATCH_NODE_ID": node.node_id,
        "AZ_BATCH_NODE_ROOT_DIR": str(node.root),
        "AZ_BATCH_NODE_SHARED_DIR": str(node.shared),
        "AZ_BATCH_NODE_STARTUP_DIR": str(node.startup),
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if node.dedicated else "false",
        "AZ_BATCH_TASK_DIR": str(task_dir),
        "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
    }
    env.update(extra)
    for s in settings or []:
        env[str(s["name"])] = str(s.get("value") or "")
    return env


def environment(variables: dict[str, str], task_dir: Path) -> dict[str, str]:
    """A task's whole environment on the node: what programs need from the service's,
    a home directory, and the task's variables."""
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    env["HOME"] = str(task_dir / "wd")
    env.update(variables)
    return env


# supervisor pid -> its process, until it has been waited for (a start task's: until its
# node goes away, for what it left running)
_LIVE: dict[int, Process] = {}
_LIVE_LOCK = threading.Lock()


class Process:
    """One running command line under its own supervisor (see `nursery`), output to the task
    directory. `pid` is the supervisor's, which leads the task's process group. When the
    command ends, so does everything it started; with `keep_tree` (a start task), what it
    leaves running lives until its node goes away (`kill_under`)."""

    def __init__(
        self,
        command_line: str,
        task_dir: Path,
        env: dict[str, str],
        *,
        keep_tree: bool = False,
        container: ContainerCommand | None = None,
    ) -> None:
        self.task_dir = task_dir
        self.keep_tree = keep_tree
        self.container = container
        (task_dir / "wd").mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        try:
            argv = split_command_line(command_line)
        except ValueError as e:
            raise OSError(f"the command line cannot be parsed: {e}") from None
        if not argv:
            raise OSError("the command line is empty")
        if container is not None:
            argv, env = container.wrap(argv, env)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        out = os.open(f"{task_dir}/stdout.txt", flags, 0o666)
        try:
            err = os.open(f"{task_dir}/stderr.txt", flags, 0o666)
            try:
                self._status = SPAWNER.spawn(argv, task_dir / "wd", env, out, err, keep_tree)
            finally:
                os.close(err)
        finally:
            os.close(out)
        self._pending = b""
        self._eof = False
        self._lock = threading.Lock()  # between the waiting thread and `end`, for the pipe
        self.returncode: int | None = None
        word, _, rest = (self._line(None) or "failed the supervisor ended early").partition(" ")
        if word != "started":
            self._close()
            raise OSError(rest)
        pid, _, cpu = rest.partition(" ")
        self.pid = int(pid)
        # the CPU seconds the supervisor had used before this task (it serves one after another)
        self.cpu_base = float(cpu or 0)
        with _LIVE_LOCK:
            _LIVE[self.pid] = self

    def _line(self, timeout: float | None) -> str | None:
        """The next status line; None on timeout or at end-of-file (then `_eof` is set)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._status], [], [], left)[0]:
                return None
            chunk = os.read(self._status, 4096)
            if not chunk:
                self._eof = True
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._status)

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None when `timeout` seconds passed first."""
        if self.returncode is None:
            line = self._line(timeout)
            if line is None and not self._eof:
                return None
            word, _, rest = (line or "").partition(" ")
            # a supervisor that ended without a word was killed from outside: as by SIGKILL
            self.returncode = int(rest) if word == "exited" else -signal.SIGKILL
            if not self.keep_tree or self._eof:
                with self._lock:
                    self._forget()
        return self.returncode

    def _forget(self) -> None:
        """Close the status pipe and drop the process from `_LIVE` (lock held)."""
        if self._status >= 0:
            self._close()
            self._status = -1
            with _LIVE_LOCK:
                _LIVE.pop(self.pid, None)

    def _supervisor_gone(self) -> bool:
        """Whether the supervisor has exited (it holds the status pipe open while it lives)."""
        while select.select([self._status], [], [], 0)[0]:
            if not os.read(self._status, 4096):
                return True
        return False

    def end(self) -> None:
        """End the command and its tree, without waiting for them."""
        with self._lock:
            if self._status < 0:
                return  # over and forgotten
            if self.returncode is None:
                kill_group(self.pid)  # the thread waiting for it hears how it ended
                return
            if not self._supervisor_gone():  # a start task's tree, still running
                kill_group(self.pid)
            self._forget()

    def terminate(self) -> None:
        """Tell the supervisor to end the command and its tree, unless it has already been
        let go of (its supervisor may serve another task by then)."""
        with self._lock:
            if self._status >= 0:
                kill_group(self.pid)

    @property
    def held(self) -> bool:
        """Whether the command still runs, or has ended and is not yet let go of."""
        return self._status >= 0

    def kill(self) -> None:
        self.terminate()
        self.wait(10)


def kill_group(pgid: int) -> None:
    """End the process group that a task's supervisor leads, and everything the task
    started, even what left the group: the supervisor (SIGTERM) kills the whole tree.
    For a `Process`, call its `terminate`: a supervisor serves one task after another."""
    try:
        os.kill(pgid, signal.SIGTERM)
    except ProcessLookupError:  # no supervisor: whatever is left of its group goes
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    except PermissionError:
        pass


def kill_under(root: Path) -> None:
    """End every process running in a directory under `root` (a node that goes away: its
    tasks, start task, job preparation and release tasks)."""
    with _LIVE_LOCK:
        doomed = [p for p in _LIVE.values() if p.task_dir.is_relative_to(root)]
    for process in doomed:
        process.end()


def is_ours(pgid: int, marker: str) -> bool:
    """Whether process `pgid` still runs with `marker` (NAME=value) in its environment:
    after a restart, only kill the leftovers of our own tasks."""
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return marker.encode() in environ
