"""The local stack: Azurite (Storage) and the local Batch service, on loopback.

This module starts and stops the two processes and records where they listen. It
never imports the local Batch service's code: it launches
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


def start_azurite(location: Path, port: int | None = None) -> RunningService:
    """Start Azurite's blob service in the background, data under `location`."""
    location.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = location / "azurite.log"
    cmd = [
        str(azurite_executable()),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--location", str(location),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
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
        sys.executable, "-m", "runner.localbatch", "serve",
        "--home", str(home),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--account", BATCH_ACCOUNT,
        "--ready-file", str(ready),
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "BWF_LOCALBATCH_KEY": BATCH_KEY, **(env or {})},
        )  # fmt: skip
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


# --- the recorded stack: `bwf local up|down|status` -------------------------------------


def stack_dir() -> Path:
    return bwf_home() / "local"


def _stack_file() -> Path:
    return stack_dir() / "stack.json"


def connection_string(blob_url: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={STORAGE_ACCOUNT};AccountKey={STORAGE_KEY};"
        f"BlobEndpoint={blob_url};"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def status() -> dict[str, object] | None:
    """The running stack as `bwf local status --json` prints it, or None when it is down."""
    try:
        info: dict[str, object] = json.loads(_stack_file().read_text())
    except (OSError, ValueError):
        return None
    pids = info.get("pids")
    storage, batch = info.get("storage"), info.get("batch")
    if not isinstance(pids, dict) or not isinstance(storage, dict) or not isinstance(batch, dict):
        return None
    if not all(_alive(int(p)) for p in pids.values()):
        return None
    if not (_answers(f"{storage['blob_url']}?comp=list") and _answers(str(batch["url"]))):
        return None
    return info


def up() -> dict[str, object]:
    """Start Azurite and the local Batch service unless they already run; record them."""
    current = status()
    if current is not None:
        return current
    down()  # a half-dead stack: stop what is left before starting afresh
    base = stack_dir()
    azurite = start_azurite(base / "azurite")
    try:
        batch = start_batch_service(base / "batch")
    except BaseException:
        stop_process(azurite.pid)
        raise
    info: dict[str, object] = {
        "storage": {
            "account": STORAGE_ACCOUNT,
            "key": STORAGE_KEY,
            "blob_url": azurite.url,
            "connection_string": connection_string(azurite.url),
        },
        "batch": {"account": BATCH_ACCOUNT, "key": BATCH_KEY, "url": batch.url},
        "pids": {"azurite": azurite.pid, "batch": batch.pid},
        "home": str(bwf_home()),
    }
    tmp = _stack_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, _stack_file())
    return info


def down() -> bool:
    """Stop the recorded stack (its data stays under BWF_HOME); whether anything ran."""
    try:
        info = json.loads(_stack_file().read_text())
    except (OSError, ValueError):
        return False
    for pid in (info.get("pids") or {}).values():
        stop_process(int(pid))
    _stack_file().unlink(missing_ok=True)
    return True
