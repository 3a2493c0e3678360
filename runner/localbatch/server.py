"""HTTP: a threading server on loopback that authenticates, injects faults and routes.

Responses follow Batch: JSON bodies with `odata.metadata`, `request-id` and
`client-request-id` headers, error bodies from `errors.ApiError`, and 403
`AuthenticationFailed` for a missing or wrong Shared Key signature or a stale date
(nothing changes).

Every client is a possible adversary (any local process reaches the port), so a request
is taken in this order: a strict Content-Length (400 at once), the signature and date
(Shared Key signs the headers, Content-Length included, never the body), the body's
size cap (413), and only then the body, read under the request's deadline. A request
answered without reading its body closes the connection. `limits` has the numbers,
`wire` the reading, `connections` the cap on connections.
"""

from __future__ import annotations

import io
import json
import sys
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runner.localbatch import auth, wire
from runner.localbatch.api import Api
from runner.localbatch.connections import ConnectionSlots
from runner.localbatch.errors import ApiError
from runner.localbatch.faults import Faults
from runner.localbatch.harsh import Harsh
from runner.localbatch.limits import Limits
from runner.localbatch.rest import FileBody, Request, Response

_CHUNK = 256 * 1024  # streamed file bodies are sent in pieces of this size


class BatchServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        api: Api,
        account: str,
        key: str,
        faults: Faults,
        harsh: Harsh | None = None,
        *,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits.from_env()
        self.slots = ConnectionSlots(self.limits.max_connections)
        super().__init__(address, _Handler)
        self.api = api
        self.account = account
        self.key = key
        self.faults = faults
        self.harsh = harsh or Harsh()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire():  # the server is stopping
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release(request)

    def shutdown(self) -> None:
        self.slots.stop()
        super().shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up, resets or stalls is its own business; anything else is a bug
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: BatchServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it each SDK call waits ~40 ms for a delayed ACK

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.reader = wire.DeadlineReader(
            self.connection, self.server.limits, lambda: self.server.slots.busy(self.connection)
        )
        self.rfile = io.BufferedReader(self.reader, 64 * 1024)

    def handle(self) -> None:
        self.close_connection = True
        while True:
            self.reader.await_request()
            self.server.slots.idle(self.connection)
            self.handle_one_request()
            if self.close_connection:
                return

    def handle_expect_100(self) -> bool:
        return True  # "100 Continue" goes out only once the request is authenticated

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the log; errors are printed below

    def _handle(self) -> None:
        self.server.slots.busy(self.connection)  # even when the request was already buffered
        self.unread = False  # whether a body was left unread (then the connection closes)
        resp = self._answer()
        if self.unread:
            resp.headers["Connection"] = "close"
        self._send(resp)
        if self.unread:
            self.wfile.flush()
            wire.linger(self.connection, self.server.limits)

    def _answer(self) -> Response:
        try:
            return self._dispatch()
        except ApiError as e:
            return Response(e.status, e.body(self.server.api.base), dict(e.headers))
        except wire.ClientGone:
            raise  # the client stalled or hung up: no answer, the connection closes
        except Exception:  # a bug: answer 500 as Batch would, and keep the traceback in the log
            traceback.print_exc(file=sys.stderr)
            error = ApiError(500, "InternalError", "The server encountered an internal error.")
            return Response(500, error.body(self.server.api.base))

    def _dispatch(self) -> Response:
        raw_path, _, query = self.path.partition("?")
        parts = [urllib.parse.unquote(p) for p in raw_path.strip("/").split("/") if p]
        self.unread = True  # until the body has been read, nothing can follow on this connection
        length = wire.body_length(self.command, self.headers)
        self.unread = length > 0
        self._authenticate(raw_path, query)
        limit = self.server.limits.body_limit(parts)
        if length > limit:
            raise ApiError(
                413,
                "RequestBodyTooLarge",
                "The request body is too large and exceeds the maximum permissible limit.",
                {"MaxLimit": str(limit)},
            )
        body = self._read_body(length)
        if self.server.faults.should_fail():
            raise ApiError(
                503,
                "ServerBusy",
                "The server is currently unable to receive requests. Please retry.",
            )
        throttled = self.server.harsh.throttle()
        if throttled is not None:
            raise throttled
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        req = Request(self.command, parts, q, dict(self.headers.items()), body)
        req.json()  # whatever the route, a body must be a JSON object
        return self.server.api.handle(req)

    def _authenticate(self, raw_path: str, query: str) -> None:
        headers = dict(self.headers.items())
        why = auth.verify(
            self.command, raw_path, query, headers, self.server.account, self.server.key
        ) or auth.stale_date(headers, time.time())
        if why is not None:
            raise ApiError(
                403,
                "AuthenticationFailed",
                f"Server failed to authenticate the request. {why}",
                {"AuthenticationErrorDetail": why},
            )

    def _read_body(self, length: int) -> bytes:
        if not length:
            return b""
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        try:
            body = self.rfile.read(length)
        except OSError as e:  # the read deadline passed, or the connection broke
            raise wire.ClientGone(str(e)) from e
        if len(body) < length:
            raise wire.ClientGone("the client closed the connection mid-body")
        self.unread = False
        return body

    def _send(self, resp: Response) -> None:
        payload = b""
        headers = dict(resp.headers)
        if isinstance(resp.body, bytes):
            payload = resp.body
        elif isinstance(resp.body, FileBody):
            headers["Content-Length"] = str(resp.body.length)
        elif resp.body is not None:
            payload = json.dumps(resp.body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json;odata=minimalmetadata"
        headers.setdefault("Content-Length", str(len(payload)))
        headers["request-id"] = str(uuid.uuid4())
        if "client-request-id" in self.headers:
            headers["client-request-id"] = self.headers["client-request-id"]
        headers["DataServiceVersion"] = "3.0"
        # a client that stops reading holds its thread for one timeout per write at most
        self.connection.settimeout(self.server.limits.read_timeout)
        self.send_response(resp.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if isinstance(resp.body, FileBody):
            with resp.body.file as f:
                if self.command != "HEAD":
                    self._stream(f, resp.body.length)
        elif self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _stream(self, f: Any, length: int) -> None:
        left = length
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                raise ConnectionAbortedError("the file shrank while it was sent")
            self.wfile.write(chunk)
            left -= len(chunk)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
