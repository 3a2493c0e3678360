"""The node agent's HTTP client: `urlopen` as urllib's, over a kept-alive connection
per thread and host, as a node agent keeps its connections to Storage open.

A task fetches its resource files and puts its stdout, stderr and outputs: a fresh TCP
connection for each costs both the service and Azurite CPU that the tasks need. Plain
HTTP (Storage on loopback: every request of a local run) goes over a small HTTP/1.1
client of its own, a request written in one piece and the answer's headers read with
the buffered reader's `readline`: `http.client` parses each answer's headers with the
`email` package, the largest part of the service's CPU per task after the tasks' own
files. HTTPS goes through `http.client`; a request through a proxy from the
environment, and a redirect, go through urllib itself. Answers of 400 and above raise
`urllib.error.HTTPError` as urllib does, so that callers handle both alike.
"""

from __future__ import annotations

import contextlib
import email.message
import http.client
import io
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_REDIRECTS = (301, 302, 303, 307, 308)
_PROXIES = urllib.request.getproxies()  # read once: the service's environment is fixed
_MAX_LINE = 65536  # an answer's status line or header line, at most
_MAX_HEADERS = 200
_SMALL_BODY = 64 * 1024  # sent with the headers in one write; larger ones after them
_local = threading.local()


def _proxied(parts: urllib.parse.SplitResult) -> bool:
    return parts.scheme in _PROXIES and not urllib.request.proxy_bypass(parts.hostname or "")


def _connections() -> dict[tuple[str, str], Any]:
    held: dict[tuple[str, str], Any] | None = getattr(_local, "held", None)
    if held is None:
        held = _local.held = {}
    return held


class _Stale(Exception):
    """A kept connection turned out to have been closed by the server before it answered."""


class _Connection:
    """One plain HTTP/1.1 connection, kept while the server keeps it."""

    def __init__(self, netloc: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(f"//{netloc}")
        self.host_header = netloc
        self.sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb", buffering=64 * 1024)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [
            f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "connection")
        ]
        if body is not None and not any(k.lower() == "content-length" for k in headers):
            lines.append(f"Content-Length: {len(body)}")
        elif body is None and method in ("PUT", "POST", "PATCH"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body and len(body) <= _SMALL_BODY:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            if body:
                self.sock.sendall(body)

    def answer(self, method: str) -> _Response:
        """The answer's status and headers (1xx answers skipped); its body is read from it."""
        while True:
            line = self.reader.readline(_MAX_LINE + 1)
            if not line:
                raise _Stale
            if len(line) > _MAX_LINE:
                raise http.client.LineTooLong("status line")
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
                raise http.client.BadStatusLine(line.decode("latin-1", "replace"))
            headers: dict[str, str] = {}
            raw: list[tuple[str, str]] = []
            while True:
                h = self.reader.readline(_MAX_LINE + 1)
                if len(h) > _MAX_LINE:
                    raise http.client.LineTooLong("header line")
                if h in (b"\r\n", b"\n"):
                    break
                if not h:
                    raise http.client.IncompleteRead(b"")
                name, sep, value = h.decode("latin-1").partition(":")
                if not sep:
                    raise http.client.HTTPException(f"malformed header line {h!r}")
                name, value = name.strip(), value.strip()
                raw.append((name, value))
                headers[name.lower()] = value
                if len(raw) > _MAX_HEADERS:
                    raise http.client.HTTPException("too many headers")
            status = int(code)
            if 100 <= status < 200:
                continue
            return _Response(self, method, status, reason, headers, raw)


class _Response:
    """An answer on a kept connection, read as `http.client.HTTPResponse` is read."""

    def __init__(
        self,
        conn: _Connection,
        method: str,
        status: int,
        reason: str,
        headers: dict[str, str],
        raw: list[tuple[str, str]],
    ) -> None:
        self._conn: _Connection | None = conn
        self.status = self.code = status
        self.reason = reason
        self._headers = headers
        self._raw = raw
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._chunk_left = 0
        self._to_close = "close" in headers.get("connection", "").lower()
        self._left: int | None = None  # body bytes still to read; None: until close
        if method == "HEAD" or status in (204, 304):
            self._left = 0
        elif not self._chunked:
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit():
                    raise http.client.HTTPException(f"bad Content-Length {length!r}")
                self._left = int(length)
            else:
                self._to_close = True
        if self._left == 0 and not self._chunked:
            self._done()

    @property
    def headers(self) -> email.message.Message:
        message = http.client.HTTPMessage()
        for name, value in self._raw:
            message[name] = value
        return message

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.lower(), default)

    def _done(self) -> None:
        """The body has been read to its end: the connection serves the next request."""
        conn, self._conn = self._conn, None
        if conn is not None and self._to_close:
            _forget(conn)

    def read(self, amt: int | None = None) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        try:
            if self._chunked:
                return self._read_chunked(conn, amt)
            if self._left is None:  # until the server closes
                data: bytes = conn.reader.read() if amt is None else conn.reader.read(amt)
                if not data or amt is None:
                    self._done()
                return data
            want = self._left if amt is None else min(amt, self._left)
            data = conn.reader.read(want)
            if len(data) < want:
                raise http.client.IncompleteRead(data, want - len(data))
            self._left -= len(data)
            if self._left == 0:
                self._done()
            return data
        except BaseException:
            self.close()
            raise

    def _read_chunked(self, conn: _Connection, amt: int | None) -> bytes:
        out = bytearray()
        while amt is None or len(out) < amt:
            if self._chunk_left == 0:
                line = conn.reader.readline(_MAX_LINE + 1)
                size = line.split(b";", 1)[0].strip()
                if not line or not size or len(line) > _MAX_LINE:
                    raise http.client.IncompleteRead(bytes(out))
                self._chunk_left = int(size, 16)
                if self._chunk_left == 0:  # the last chunk: trailers to the blank line
                    while conn.reader.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                        pass
                    self._done()
                    break
            want = self._chunk_left if amt is None else min(self._chunk_left, amt - len(out))
            data = conn.reader.read(want)
            if len(data) < want:
                raise http.client.IncompleteRead(bytes(out) + data)
            out += data
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                conn.reader.readline(_MAX_LINE + 1)  # the CRLF after the chunk
        return bytes(out)

    def close(self) -> None:
        """Left unread, the body would be taken for the next answer: the connection goes."""
        conn, self._conn = self._conn, None
        if conn is not None:
            _forget(conn)

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget(conn: _Connection) -> None:
    held = _connections()
    for key, c in list(held.items()):
        if c is conn:
            del held[key]
    conn.close()


def urlopen(req: urllib.request.Request, timeout: float) -> Any:
    """The response to `req` (read it to its end, or close it); raises as urllib does."""
    parts = urllib.parse.urlsplit(req.full_url)
    if parts.scheme not in ("http", "https") or _proxied(parts):
        return urllib.request.urlopen(req, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = dict(req.header_items())
    try:
        if parts.scheme == "http":
            resp: Any = _plain(parts.netloc, req.get_method(), path, req.data, headers, timeout)
        else:
            resp = _tls(parts.netloc, req.get_method(), path, req.data, headers, timeout)
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


def _plain(
    netloc: str, method: str, path: str, body: Any, headers: dict[str, str], timeout: float
) -> _Response:
    """One request on this thread's connection to the host; once more on a new
    connection when a kept one turns out to have been closed by the server (requests
    here are GET, PUT and lists, safe to send again)."""
    held = _connections()
    key = ("http", netloc)
    if body is not None and not isinstance(body, bytes):
        body = bytes(body)
    for attempt in range(2):
        conn = held.get(key)
        reused = conn is not None
        if conn is None:
            conn = held[key] = _Connection(netloc, timeout)
        try:
            conn.sock.settimeout(timeout)
            conn.send(method, path, body, headers)
            return conn.answer(method)
        except (_Stale, ConnectionResetError, BrokenPipeError) as e:
            _forget(conn)
            if not reused or attempt:
                if isinstance(e, _Stale):
                    raise http.client.RemoteDisconnected(
                        "the server closed the connection without an answer"
                    ) from None
                raise
        except BaseException:
            _forget(conn)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _tls(
    netloc: str, method: str, path: str, body: Any, headers: dict[str, str], timeout: float
) -> http.client.HTTPResponse:
    """As `_plain`, over `http.client` (HTTPS: never the local stack's Storage)."""
    held = _connections()
    key = ("https", netloc)
    for attempt in range(2):
        conn = held.get(key)
        reused = conn is not None
        if conn is None:
            conn = held[key] = http.client.HTTPSConnection(netloc, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn.getresponse()
        except (http.client.HTTPException, ConnectionResetError, BrokenPipeError):
            conn.close()
            del held[key]
            if not reused or attempt:
                raise
        except BaseException:
            conn.close()
            del held[key]
            raise
    raise AssertionError("unreachable")  # pragma: no cover
