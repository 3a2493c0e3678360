"""The node agent's HTTP client: `urlopen` as urllib's, over a kept-alive connection
per thread and host, as a node agent keeps its connections to Storage open.

A task fetches its resource files and puts its stdout, stderr and outputs: a fresh TCP
connection for each costs both the service and Azurite CPU that the tasks need. A
request through a proxy from the environment, and a redirect, go through urllib
itself. Answers of 400 and above raise `urllib.error.HTTPError` as urllib does, so that
callers handle both alike.
"""

from __future__ import annotations

import http.client
import io
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_REDIRECTS = (301, 302, 303, 307, 308)
_PROXIES = urllib.request.getproxies()  # read once: the service's environment is fixed
_local = threading.local()


def _proxied(parts: urllib.parse.SplitResult) -> bool:
    return parts.scheme in _PROXIES and not urllib.request.proxy_bypass(parts.hostname or "")


def _connections() -> dict[tuple[str, str], http.client.HTTPConnection]:
    held: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(_local, "held", None)
    if held is None:
        held = _local.held = {}
    return held


def _connect(scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(netloc, timeout=timeout)
    return http.client.HTTPConnection(netloc, timeout=timeout)


def urlopen(req: urllib.request.Request, timeout: float) -> Any:
    """The response to `req` (read it to its end, or close it); raises as urllib does."""
    parts = urllib.parse.urlsplit(req.full_url)
    if parts.scheme not in ("http", "https") or _proxied(parts):
        return urllib.request.urlopen(req, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = dict(req.header_items())
    try:
        resp = _exchange(parts, req.get_method(), path, req.data, headers, timeout)
    except http.client.HTTPException as e:  # a malformed answer: an OSError, as urllib's
        raise urllib.error.URLError(e) from None
    if resp.status in _REDIRECTS:
        resp.read()
        return urllib.request.urlopen(req, timeout=timeout)  # urllib follows them
    if resp.status >= 400:
        body = resp.read()
        raise urllib.error.HTTPError(
            req.full_url, resp.status, resp.reason, resp.headers, io.BytesIO(body)
        )
    return resp


def _exchange(
    parts: urllib.parse.SplitResult,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    timeout: float,
) -> http.client.HTTPResponse:
    """One request on this thread's connection to the host; once more on a new
    connection when a kept one turns out to have been closed by the server."""
    held = _connections()
    key = (parts.scheme, parts.netloc)
    for attempt in range(2):
        conn = held.get(key)
        reused = conn is not None
        if conn is None:
            conn = held[key] = _connect(parts.scheme, parts.netloc, timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn.getresponse()
        except (http.client.HTTPException, ConnectionResetError, BrokenPipeError):
            # closed by the server while idle, or left unusable by an earlier answer
            # that was not read to its end: requests here are GET, PUT and lists, safe
            # to send again
            conn.close()
            del held[key]
            if not reused or attempt:
                raise
        except BaseException:
            conn.close()
            del held[key]
            raise
    raise AssertionError("unreachable")  # pragma: no cover
