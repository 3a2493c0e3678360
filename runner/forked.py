"""Work split over two cores: a forked child does the last part of a long list (the
tasks of a big fan-out to render, the records of a long list of `plan --json` to
write) while this process does the first, and sends back what it made.

The child works as this process would (the same renderer, templates, bounds and
deadline, inherited by the fork) and touches nothing outside its memory and what it
sends back: rendering and writing JSON read no file and no service. Whatever it meets
that is not a clean result (a problem, a bound passed, an exception) it does not
report: it says so, and this process does that part itself, so that every error is
found and reported exactly as one process finds it (the first in input order). A
child that dies without answering (killed, say) is an error of its own, never a wait.

A fork is made only where it pays and is safe: from a process that runs no other
thread (a child could inherit a lock held by one), on a machine with more than one
core, for a list of at least FORK_FROM items (below that the fork and the transfer
cost more than they save).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Callable
from typing import Any

from runner.errors import BwfError

# items of one step: measured on 2 cores, a fork made a 10,000-task plan slower (0.80 ->
# 1.09 s warm: copy-on-write faults and the transfer cost more than half the rendering)
# and a 30,000-task one faster (1.92-2.32 -> 1.76-1.84 s)
FORK_FROM = 20_000
# The share of the items this process renders itself: a little more than half, since the
# child also pickles what it sends back (a third of the time it takes to render it),
# which this process then unpickles (a fifth).
OWN_SHARE = 0.56

_CLEAN = b"1"
_UNCLEAN = b"0"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def split_point(items: int, share: float = OWN_SHARE) -> int | None:
    """Where this process's part of `items` ends and a child's begins (this process
    taking `share` of them), or None when they are all done here."""
    if items < FORK_FROM or not hasattr(os, "fork"):
        return None
    if threading.active_count() > 1 or cores() < 2:
        return None
    return max(1, int(items * share))


class ChildDied(BwfError):
    """A child rendering part of the tasks (or writing part of the plan) ended without
    sending its part."""


class Child:
    """A forked process computing `work()`: its result (any picklable value), or None
    when it had no clean result to give."""

    def __init__(self, work: Callable[[], Any], what: str) -> None:
        """`what`: what the child does, for an error ("rendering tasks 1 to 9 of ...")."""
        self.what = what
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns, never runs the parent's exit handlers
            code = 0
            try:
                os.close(r)
                try:
                    marker, payload = _CLEAN, pickle.dumps(work(), pickle.HIGHEST_PROTOCOL)
                except Exception:
                    marker, payload = _UNCLEAN, b""  # this process meets it again, and reports it
                with os.fdopen(w, "wb") as f:
                    f.write(marker)
                    f.write(payload)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        self.pid: int | None = pid
        self.fd = r

    def result(self) -> tuple[bool, Any]:
        """(True, what the child computed), or (False, None) when it had no clean
        result; raises ChildDied when it ended without answering."""
        try:
            with os.fdopen(self.fd, "rb", closefd=False) as f:
                clean = f.read(1)
                # unpickled as it is read: the whole text is never held at once
                result = pickle.load(f) if clean == _CLEAN else None
        except Exception:  # cut short: the child died while writing (its status tells)
            clean = b""
        finally:
            self._close()
        status = self._reap()
        if clean not in (_CLEAN, _UNCLEAN):  # a whole answer stands, however the child ended
            raise ChildDied(f"the process {self.what} {_ended(status)}")
        return (True, result) if clean == _CLEAN else (False, None)

    def cancel(self) -> None:
        """Stop the child (its result is not needed) and reap it."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._close()
        self._reap()

    def _close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def _reap(self) -> int:
        if self.pid is None:
            return 0
        pid, self.pid = self.pid, None
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere: nothing to tell
            return -1
        return status


def _ended(status: int) -> str:
    if status == -1:
        return "vanished"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"was killed by signal {sig} ({name}) before it sent them; plan again"
    return f"exited with code {os.waitstatus_to_exitcode(status)} before it sent them; plan again"
