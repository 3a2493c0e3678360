"""The service's side of the nursery (`nursery.py`): start it once, send it command lines.

Why a separate process: a task must not outlive its end, and the only way to find every
process it started without privileges is a child subreaper per task (PID namespaces
and cgroups need root or delegated cgroups). A Python interpreter per task would cost
~90 ms and ~10 MB, and the service itself cannot fork safely (it is multi-threaded);
the nursery keeps supervisors forked in advance, so that starting a task costs one to
two milliseconds more than a plain `subprocess.Popen`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

_PROGRAM = Path(__file__).resolve().with_name("nursery.py")
_EXIT_GRACE = 8.0  # seconds the service waits at exit for the nursery (under `stop_process`'s 10)


class Spawner:
    """One nursery, started on first use and again if it died; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _ensure(self) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        self._close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_PROGRAM), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", os.defpath)},  # never the service's keys
                start_new_session=True,  # a Ctrl-C to the service must not skip the clean-up
            )
        self._sock = ours
        return ours

    def spawn(
        self, argv: list[str], cwd: Path, env: dict[str, str], stdout: int, stderr: int, keep: bool
    ) -> int:
        """Ask for a supervised process; our end of its status socket (see `nursery`):
        closing it lets the supervisor serve another task."""
        payload = os.memfd_create("bwf-request", os.MFD_CLOEXEC)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        status_r, status_w = ours.detach(), theirs.detach()
        try:
            request = {"argv": argv, "cwd": str(cwd), "env": env, "keep": keep}
            with os.fdopen(os.dup(payload), "wb") as f:
                f.write(json.dumps(request).encode())
            os.lseek(payload, 0, os.SEEK_SET)
            with self._lock:
                socket.send_fds(self._ensure(), [b"r"], [status_w, stdout, stderr, payload])
        except OSError:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
            os.close(payload)
        return status_r

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()  # end-of-file: the nursery ends every tree and exits
            self._sock = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=_EXIT_GRACE)
            if self._proc.poll() is None:
                self._proc.kill()  # its supervisors still end their trees (PR_SET_PDEATHSIG)
            self._proc = None

    def close(self) -> None:
        """End every supervised process and the nursery, and wait for them."""
        with self._lock:
            self._close()


SPAWNER = Spawner()
atexit.register(SPAWNER.close)  # `bwf local down` returns once no task process is left
