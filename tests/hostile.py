"""Helpers for the hostile-client tests: a local Batch service of their own (with short
timeouts), hand-made requests over raw sockets, the service's memory, and processes
found by a marker in their command line."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from runner import localstack
from runner.localbatch import auth

API = "api-version=2025-06-01"
READ_TIMEOUT = 2.0  # the dedicated services' read timeout (seconds)
IDLE_TIMEOUT = 1.5
MAX_CONNECTIONS = 8


@contextmanager
def service(home: Path, **env: str) -> Iterator[localstack.RunningService]:
    """A local Batch service with short timeouts and a small connection cap."""
    settings = {
        "BWF_LOCALBATCH_READ_TIMEOUT": str(READ_TIMEOUT),
        "BWF_LOCALBATCH_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
        "BWF_LOCALBATCH_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        **env,
    }
    svc = localstack.start_batch_service(home, env=settings)
    try:
        yield svc
    finally:
        localstack.stop_process(svc.pid)


def client(svc: localstack.RunningService) -> BatchClient:
    return BatchClient(
        endpoint=svc.url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
    )


def answers_normally(svc: localstack.RunningService) -> None:
    """The real SDK still gets an ordinary answer (a fresh client: a fresh connection):
    the service's list of supported images, which is never empty."""
    images = list(client(svc).list_supported_images())
    assert images and all(i.node_agent_sku_id for i in images)


def http_date(offset: float = 0.0) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + offset))


def signed(
    method: str,
    path: str,
    length: int,
    *,
    date: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a correctly signed request (Content-Length included in the signature)."""
    headers = {"Content-Type": "application/json; odata=minimalmetadata", **(extra or {})}
    if date is not None:
        headers["ocp-date"] = date
    if length or method not in ("GET", "HEAD"):
        headers["Content-Length"] = str(length)
    text = auth.string_to_sign(method, path, API, headers, localstack.BATCH_ACCOUNT)
    headers["Authorization"] = (
        f"SharedKey {localstack.BATCH_ACCOUNT}:{auth.sign(localstack.BATCH_KEY, text)}"
    )
    return headers


def address(svc: localstack.RunningService) -> tuple[str, int]:
    url = urllib.parse.urlsplit(svc.url)
    assert url.hostname and url.port
    return url.hostname, url.port


def connect(svc: localstack.RunningService, timeout: float = 30.0) -> socket.socket:
    return socket.create_connection(address(svc), timeout=timeout)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path}?{API} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of one response read off a raw socket."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    raw = resp.read()
    return (
        resp.status,
        {k.lower(): v for k, v in resp.getheaders()},
        json.loads(raw) if raw else None,
    )


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (end-of-file or reset)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def request(
    svc: localstack.RunningService, method: str, path: str, body: bytes = b"", **kw: Any
) -> tuple[int, Any]:
    """One signed request over http.client."""
    conn = http.client.HTTPConnection(*address(svc), timeout=30)
    try:
        headers = signed(method, path, len(body), date=http_date(), **kw)
        conn.request(method, f"{path}?{API}", body=body or None, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def status_field(pid: int, field: str) -> int:
    """A number from /proc/PID/status: VmHWM (peak resident set, kB), VmRSS, Threads."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def threads(pid: int) -> int:
    return status_field(pid, "Threads")


def processes_with(marker: str, program: str | None = None) -> list[int]:
    """Live processes (not zombies) whose command line holds `marker` (and that run
    `program`, when given)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if program is not None and cmdline.split(b"\0")[0] != program.encode():
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(name))
    return found


def wait_for(
    predicate: Any, timeout: float, what: str, detail: Callable[[], str] | None = None
) -> None:
    """Until `predicate()` holds; else fail after `timeout` s, saying what `detail()` tells."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            more = f": {detail()}" if detail else ""
            raise AssertionError(f"{what} did not happen within {timeout} s{more}")
        time.sleep(0.05)


def describe(pids: Iterable[int]) -> str:
    """Each process as `pid (parent pid, state): command line`, for a failure message."""
    lines = []
    for pid in sorted(pids):
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            lines.append(f"{pid} (gone)")
            continue
        parent = stat[1].decode()
        with suppress(OSError):
            parent += (
                " " + Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            )
        lines.append(f"{pid} ({stat[0].decode()}, parent {parent}): {cmdline.decode()}")
    return "; ".join(lines)
