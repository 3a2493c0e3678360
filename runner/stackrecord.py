"""The local stack's record in `BWF_HOME/local/stack.json`: each service's port and pid.

A service's port is chosen once and kept, also across `bwf local down`: tasks queued
in the local Batch service hold SAS URLs with Azurite's port, and a restarted Batch
service must be where its clients (and `stack.json` readers) expect it. A pid is kept
while its service runs. `bwf local up` reads this record to restart only what is down,
on the same ports (see `runner.localstack`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.home import bwf_home

SERVICES = ("storage", "batch")


@dataclass(frozen=True)
class Recorded:
    """What the record says about one service."""

    port: int | None = None
    pid: int | None = None


def stack_dir() -> Path:
    return bwf_home() / "local"


def record_file() -> Path:
    return stack_dir() / "stack.json"


def _port_of(url: object) -> int | None:
    try:
        return urllib.parse.urlsplit(str(url)).port if url else None
    except ValueError:
        return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def read() -> dict[str, Recorded]:
    """The record of every service (empty entries when nothing was ever started)."""
    try:
        data = json.loads(record_file().read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    old_pids = data.get("pids") or {}  # the record's first form: URLs and a "pids" map
    out: dict[str, Recorded] = {}
    for name, url_key, old_pid in (("storage", "blob_url", "azurite"), ("batch", "url", "batch")):
        found = data.get(name)
        entry: dict[str, object] = found if isinstance(found, dict) else {}
        port = entry.get("port") or _port_of(entry.get(url_key))
        pid = entry.get("pid") if "port" in entry else old_pids.get(old_pid)
        out[name] = Recorded(_int(port), _int(pid))
    return out


def write(records: dict[str, Recorded]) -> None:
    """Save atomically (no keys in it: those are the published development keys)."""
    stack_dir().mkdir(parents=True, exist_ok=True)
    tmp = record_file().with_suffix(".tmp")
    tmp.write_text(json.dumps({name: asdict(r) for name, r in records.items()}, indent=2))
    os.replace(tmp, record_file())


@contextlib.contextmanager
def changing() -> Iterator[None]:
    """Serialize `up` and `down` across processes (two applies may start the stack)."""
    stack_dir().mkdir(parents=True, exist_ok=True)
    fd = os.open(stack_dir() / "stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs(pid: int | None, marker: str) -> bool:
    """Whether `pid` is alive and still the process that was started (its command line
    holds `marker`), not another program that got the same pid later."""
    if pid is None or not alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs (macOS): trust the pid
    except OSError:
        return False
    return marker in cmdline


def port_free(port: int) -> bool:
    """Whether a service can listen on 127.0.0.1:`port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the services themselves bind: connections left in TIME_WAIT do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
