"""One `bwf apply` per workflow at a time: a lock file under `BWF_HOME/locks/`.

Two applies of one workflow would create the same pool and job and write the same run
ledger. The lock is an `fcntl.flock` on `BWF_HOME/locks/<name>.lock`, so the kernel
releases it when its holder ends, however it ends: a lock left by a process killed
with `kill -9` is simply taken over (and said so). The file tells who holds it (pid,
start time, command) so that a second apply can name the first; a holder empties it
when it releases the lock, so a file found non-empty by a new holder was left by a
process that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from runner import secrets
from runner.errors import EXIT_FAILED, BwfError
from runner.home import bwf_home

# How long a second apply waits for the holder to write who it is (it writes right
# after taking the lock).
_READ_HOLDER_SECONDS = 1.0


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock."""

    pid: int
    started: float  # time.time() when the lock was taken
    command: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"process {self.pid} (`{secrets.scrub(self.command)}`, started {when})"


class LockHeld(BwfError):
    """Another live process holds the lock."""

    exit_code = EXIT_FAILED


def lock_path(name: str) -> Path:
    return bwf_home() / "locks" / f"{name}.lock"


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(int(data["pid"]), float(data["started"]), str(data["command"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _current_holder(fd: int) -> Holder | None:
    deadline = time.monotonic() + _READ_HOLDER_SECONDS
    while (holder := _read_holder(fd)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return holder


@contextlib.contextmanager
def workflow_lock(name: str, what: str, warn: Callable[[str], None]) -> Iterator[Holder]:
    """Hold the lock `name` (e.g. one workflow's job on one account) for the block.

    `what` names the workflow in messages. Raises LockHeld (exit 1) naming the live
    holder; `warn` hears about a lock taken over from a dead process."""
    path = lock_path(name)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _current_holder(fd)
            who = holder.describe() if holder else "another process"
            raise LockHeld(
                f"{what} is already being applied by {who}; it holds {path}. Wait for it to "
                "finish, or stop it (its tasks keep running in Batch; the next `bwf apply` "
                "resumes them)."
            ) from None
        dead = _read_holder(fd)
        if dead is not None:
            warn(f"Took over the lock of {what} left by {dead.describe()}, which has ended.")
        me = Holder(os.getpid(), time.time(), " ".join(["bwf", *sys.argv[1:]]))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
        try:
            yield me
        finally:
            os.ftruncate(fd, 0)  # before unlocking: the next holder's record must survive
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
