"""Ending the `bwf` process once its command is over, without freeing its memory first.

A plan of 100,000 tasks is millions of small objects. Freeing them one by one after the
plan is printed, then tearing down every imported module, took about 0.3 s of such a
plan after its last line was written (and ~0.1 s of an apply): work whose only result
is memory the operating system takes back at once anyway. So the `bwf` command (`run`)
ends as `mypy` does: once a command has returned or exited normally, the output is
flushed, the exit handlers run (logging's, ...) and the process ends with `os._exit`.
What a command leaves behind (`leave`) is not freed before; in a process that does not
end this way (tests call `runner.cli.main` in theirs), `leave` does nothing.

The ordinary exit is kept whenever something could still need it: a thread that Python
would wait for is still alive, the output cannot be flushed (a closed pipe: Python's
own exit reports it), or the exit is a message rather than a code.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from typing import NoReturn

_left: list[object] = []
_ends_here = False  # set by `begin`: this process ends through `end`


def begin() -> None:
    """This process runs one command and then ends through `end`."""
    global _ends_here
    _ends_here = True


def leave(obj: object) -> None:
    """Keep `obj` until the process ends, so that it is not freed object by object.
    Every object alive now is also moved out of the cyclic collector's sight
    (`gc.freeze`): once the collector runs again it would scan them all."""
    if _ends_here:
        _left.append(obj)
        gc.freeze()


def end(stop: SystemExit) -> NoReturn:
    """End the process with the exit code of `stop`, quickly when nothing needs the
    ordinary exit; otherwise raise `stop` for Python to end the process as usual."""
    code = stop.code
    if code is None:
        code = 0
    if not isinstance(code, int) or _waited_for():
        raise stop
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: Python's exit says so
        raise stop from None
    atexit._run_exitfuncs()
    try:  # what the exit handlers wrote
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _waited_for() -> bool:
    """Whether a thread is alive that Python's exit would wait for."""
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())
