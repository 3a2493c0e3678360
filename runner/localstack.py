"""The local stack: Azurite (Storage) and the local Batch service, on loopback.

This module starts and stops the two processes. `up`, `down` and `status` (the
`bwf local` commands) work on the stack recorded in BWF_HOME (`runner.stackrecord`):
each service on its own, always on the same port, so that `up` restarts only what is
down and queued tasks keep working URLs. It never imports the local Batch service's code: it launches
`python -m runner.localbatch serve ...` and meets it over HTTP, as a client would
meet Azure.

The development accounts below are published on purpose (like Azurite's own
well-known key): they only ever guard services bound to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from runner import stackrecord
from runner.errors import BwfError
from runner.home import bwf_home

# Azurite's published development account (see Azurite's documentation).
STORAGE_ACCOUNT = "devstoreaccount1"
STORAGE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# The local Batch service's published development account.
BATCH_ACCOUNT = "bwflocal"
BATCH_KEY = (
    "fPx+EWu/TiAYZhsgdSkD+GUACxXftP2/Q3fE/IgvSTYWaMJye8Rp8cXcqxjzWZWB5nzq1s6rUtLjQew6P9Hu8w=="
)

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
AZURITE_PROFILE_ENV = "BWF_AZURITE_PROFILE"  # a directory for a CPU profile of Azurite (benchmarks)


@dataclass(frozen=True)
class RunningService:
    """A background process listening on a loopback URL."""

    name: str
    url: str
    pid: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def azurite_executable() -> Path:
    """The pinned Azurite blob server installed by `npm ci` in the repository."""
    exe = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists():
        found = shutil.which("azurite-blob")
        if found:
            return Path(found)
        raise BwfError(
            "Azurite is not installed: run `npm ci` in the bwf repository "
            f"({REPO_ROOT}) to install the pinned version from package.json"
        )
    return exe


def node_executable() -> str:
    """The Node.js that runs Azurite: the one `npm ci` installs beside it (package.json
    pins it where npm has a build for the platform: Azurite 3.37 needs Node 22 or later,
    and Node 24 spends a quarter to a third less CPU a request than 20, per
    bench/azurite_bench.py), else `node` on PATH."""
    pinned = REPO_ROOT / "node_modules" / ".bin" / "node"
    if pinned.exists():
        return str(pinned)
    return shutil.which("node") or "node"


def _azurite_command(node: str | None) -> list[str]:
    """How Azurite is started: its script run by `node` (`node_executable()` unless
    named; the script's own `#!/usr/bin/env node` would take the first on PATH), with
    Node profiling it when AZURITE_PROFILE_ENV names a directory (Node refuses
    --cpu-prof in NODE_OPTIONS)."""
    exe = azurite_executable()
    script = exe.resolve()
    if script.suffix != ".js":  # an installed launcher of another kind: run as it is
        return [str(exe)]
    node = node or node_executable()
    where = os.environ.get(AZURITE_PROFILE_ENV)
    if not where:
        return [node, str(script)]
    return [node, "--cpu-prof", f"--cpu-prof-dir={where}", str(script)]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Wait until `url` answers any HTTP status, or fail with the process's log."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BwfError(f"{what} exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise BwfError(f"{what} did not answer on {url} within {START_TIMEOUT:.0f} s; see {log}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_azurite(
    location: Path, port: int | None = None, node: str | None = None
) -> RunningService:
    """Start Azurite's blob service in the background, data under `location`; `node`:
    another Node.js to run it on (bench/azurite_bench.py compares them)."""
    location.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = location / "azurite.log"
    cmd = [
        *_azurite_command(node),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
        "--silent",  # no access log: a line per request costs Azurite CPU that tasks need
        # idle connections stay open longer than bwf's pauses between transfers (the 5 s
        # default closes them just as bwf reuses one, and that request must be retried)
        "--blobKeepAliveTimeout",
        "600",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/{STORAGE_ACCOUNT}"
    _wait_http(f"http://127.0.0.1:{port}/{STORAGE_ACCOUNT}?comp=list", proc, log, "Azurite")
    return RunningService("azurite", url, proc.pid)


def start_batch_service(
    home: Path, port: int | None = None, env: dict[str, str] | None = None
) -> RunningService:
    """Start the local Batch service in the background, state under `home`."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    ready = home / "ready.json"
    ready.unlink(missing_ok=True)
    log = home / "service.log"
    cmd = [
        sys.executable,
        "-m",
        "runner.localbatch",
        "serve",
        "--home",
        str(home),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--account",
        BATCH_ACCOUNT,
        "--ready-file",
        str(ready),
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "BWF_LOCALBATCH_KEY": BATCH_KEY, **(env or {})},
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None:
            raise BwfError(
                f"the local Batch service exited with code {proc.returncode}; see {log}:\n{_tail(log)}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise BwfError(
                f"the local Batch service did not start within {START_TIMEOUT:.0f} s; see {log}"
            )
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return RunningService("batch", str(info["url"]), proc.pid)


def stop_process(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a service's process group, then SIGKILL it if it lingers."""
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap it if it is our child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def connection_string(blob_url: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={STORAGE_ACCOUNT};AccountKey={STORAGE_KEY};"
        f"BlobEndpoint={blob_url};"
    )


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class _Kind:
    """How to start, recognize and describe one of the two services."""

    name: str  # the key in the record and in `bwf local status --json`
    title: str
    directory: str  # under BWF_HOME/local

    def url(self, port: int) -> str:
        if self.name == "storage":
            return f"http://127.0.0.1:{port}/{STORAGE_ACCOUNT}"
        return f"http://127.0.0.1:{port}"

    def marker(self) -> str:
        """A part of the service's command line that only this BWF_HOME's copy has."""
        return str(stackrecord.stack_dir() / self.directory)

    def start(self, port: int) -> RunningService:
        where = stackrecord.stack_dir() / self.directory
        if self.name == "storage":
            return start_azurite(where, port)
        return start_batch_service(where, port)

    def running(self, recorded: stackrecord.Recorded) -> bool:
        if recorded.port is None or not stackrecord.runs(recorded.pid, self.marker()):
            return False
        return _answers(self.url(recorded.port) + ("?comp=list" if self.name == "storage" else ""))


_KINDS = (
    _Kind("storage", "Azurite (Storage)", "azurite"),
    _Kind("batch", "the local Batch service", "batch"),
)


def _describe(kind: _Kind, recorded: stackrecord.Recorded, running: bool) -> dict[str, object]:
    url = kind.url(recorded.port) if recorded.port is not None else None
    common: dict[str, object] = {
        "running": running,
        "pid": recorded.pid if running else None,
        "port": recorded.port,
    }
    if kind.name == "storage":
        return {
            **common,
            "account": STORAGE_ACCOUNT,
            "key": STORAGE_KEY,
            "blob_url": url,
            "connection_string": connection_string(url) if url else None,
        }
    return {**common, "account": BATCH_ACCOUNT, "key": BATCH_KEY, "url": url}


def status() -> dict[str, object]:
    """Each service on its own, as `bwf local status --json` prints it (docs/local-batch.md)."""
    records = stackrecord.read()
    services = {k.name: _describe(k, records[k.name], k.running(records[k.name])) for k in _KINDS}
    return {
        "running": all(s["running"] for s in services.values()),
        "home": str(bwf_home()),
        **services,
    }


def _port_taken(kind: _Kind, port: int) -> BwfError:
    return BwfError(
        f"cannot start {kind.title} on 127.0.0.1:{port}: another program listens on that port. "
        f"The local stack keeps its ports (in {stackrecord.record_file()}) because queued tasks "
        "hold URLs with them. Stop that program, or choose new ports with `bwf local down` and "
        f"deleting {stackrecord.record_file()} (tasks queued before then will fail)."
    )


def up() -> dict[str, object]:
    """Start whatever service is not running, on its recorded port (a free one the first
    time), and leave a running one alone; return `status()`."""
    with stackrecord.changing():
        records = stackrecord.read()
        for kind in _KINDS:
            recorded = records[kind.name]
            if kind.running(recorded):
                continue
            if recorded.pid is not None and stackrecord.runs(recorded.pid, kind.marker()):
                stop_process(recorded.pid)  # alive but not answering: start it afresh
            port = recorded.port or free_port()
            if not stackrecord.port_free(port):
                raise _port_taken(kind, port)
            service = kind.start(port)
            records[kind.name] = stackrecord.Recorded(port, service.pid)
            stackrecord.write(records)
    return status()


def down() -> bool:
    """Stop both services (their data and ports stay under BWF_HOME); whether one ran."""
    with stackrecord.changing():
        records = stackrecord.read()
        stopped = False
        for kind in _KINDS:
            recorded = records[kind.name]
            if recorded.pid is not None and stackrecord.runs(recorded.pid, kind.marker()):
                stop_process(recorded.pid)
                stopped = True
            records[kind.name] = stackrecord.Recorded(recorded.port, None)
        if any(r.port is not None for r in records.values()):
            stackrecord.write(records)
    return stopped
