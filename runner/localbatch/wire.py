"""Reading a request off a connection without trusting the client.

- `DeadlineReader`: the socket as a stream whose reads share one deadline per request
  (a client that sends a byte now and then cannot hold a thread for ever), and the idle
  timeout while the connection waits for its next request.
- `body_length`: a strict reading of Content-Length (digits only, one value, no
  Transfer-Encoding), so that a body is never read by anything but its declared length.
- `linger`: after answering without reading a body, close so that the client still
  reads the answer (a plain close with unread data would reset the connection).
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import time
from collections.abc import Callable
from email.message import Message

from runner.localbatch.errors import ApiError
from runner.localbatch.limits import Limits

_DIGITS = re.compile(r"[0-9]{1,18}")


class ClientGone(ConnectionError):
    """The client stopped sending mid-request (deadline) or hung up: nothing to answer."""


class DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, limits: Limits, on_request: Callable[[], None]) -> None:
        super().__init__()
        self._sock = sock
        self._limits = limits
        self._on_request = on_request  # called when a request's first bytes arrive
        self._deadline: float | None = None

    def readable(self) -> bool:
        return True

    def await_request(self) -> None:
        """The connection is idle until the next bytes arrive."""
        self._deadline = None

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._deadline is None:
            timeout = self._limits.idle_timeout
        else:
            timeout = self._deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(timeout)
        n = self._sock.recv_into(buffer)
        if n and self._deadline is None:
            self._deadline = time.monotonic() + self._limits.read_timeout
            self._on_request()
        return n


def _header_error(code: str, header: str, reason: str) -> ApiError:
    message = {
        "MissingRequiredHeader": "A required HTTP header was not specified.",
        "InvalidHeaderValue": "The value provided for one of the HTTP headers was not in the correct format.",
    }[code]
    return ApiError(400, code, message, {"HeaderName": header, "Reason": reason})


def body_length(method: str, headers: Message) -> int:
    """The declared body length; ApiError 400 for anything but one plain decimal number,
    and for a POST, PUT or PATCH without one (as the SDKs always send one, even 0)."""
    if headers.get("Transfer-Encoding") is not None:
        raise _header_error(
            "MissingRequiredHeader",
            "Content-Length",
            "A request body needs a Content-Length; Transfer-Encoding is not supported.",
        )
    values = headers.get_all("Content-Length") or []
    if not values:
        if method in ("POST", "PUT", "PATCH"):
            raise _header_error(
                "MissingRequiredHeader",
                "Content-Length",
                f"A {method} request needs a Content-Length.",
            )
        return 0  # HTTP/1.1: no Content-Length and no Transfer-Encoding means no body
    if len(values) > 1:
        raise _header_error(
            "InvalidHeaderValue", "Content-Length", "Content-Length appears more than once."
        )
    if not _DIGITS.fullmatch(values[0]):
        raise _header_error(
            "InvalidHeaderValue",
            "Content-Length",
            "Content-Length must be a non-negative decimal integer.",
        )
    return int(values[0])


def linger(sock: socket.socket, limits: Limits) -> None:
    """Stop sending, then read and discard what the client still sends, for a bounded time
    and amount, so that it can read the answer before the connection closes."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + limits.linger_seconds
        left = limits.linger_bytes
        sink = bytearray(64 * 1024)
        while left > 0:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            sock.settimeout(timeout)
            n = sock.recv_into(sink)
            if not n:
                break
            left -= n
