"""HTTP: a threading server on loopback that authenticates, injects faults and routes.

Responses follow Batch: JSON bodies with `odata.metadata`, `request-id` and
`client-request-id` headers, error bodies from `errors.ApiError`, and 403
`AuthenticationFailed` for a missing or wrong Shared Key signature (nothing changes).
"""

from __future__ import annotations

import json
import sys
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runner.localbatch import auth
from runner.localbatch.api import Api
from runner.localbatch.errors import ApiError
from runner.localbatch.faults import Faults
from runner.localbatch.harsh import Harsh
from runner.localbatch.rest import Request, Response


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
    ) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.account = account
        self.key = key
        self.faults = faults
        self.harsh = harsh or Harsh()


class _Handler(BaseHTTPRequestHandler):
    server: BatchServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it each SDK call waits ~40 ms for a delayed ACK

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the log; errors are printed below

    def _handle(self) -> None:
        raw_path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        try:
            why = auth.verify(
                self.command, raw_path, query, headers, self.server.account, self.server.key
            )
            if why is not None:
                raise ApiError(
                    403, "AuthenticationFailed", f"Server failed to authenticate the request. {why}"
                )
            if self.server.faults.should_fail():
                raise ApiError(
                    503,
                    "ServerBusy",
                    "The server is currently unable to receive requests. Please retry.",
                )
            throttled = self.server.harsh.throttle()
            if throttled is not None:
                raise throttled
            parts = [urllib.parse.unquote(p) for p in raw_path.strip("/").split("/") if p]
            q = {k: v[0] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
            resp = self.server.api.handle(Request(self.command, parts, q, headers, body))
        except ApiError as e:
            resp = Response(e.status, e.body(self.server.api.base), dict(e.headers))
        except Exception:  # a bug: answer 500 as Batch would, and keep the traceback in the log
            traceback.print_exc(file=sys.stderr)
            resp = Response(500, ApiError(500, "InternalError", "The server encountered an internal error.").body(
                self.server.api.base))  # fmt: skip
        self._send(resp)

    def _send(self, resp: Response) -> None:
        payload = b""
        headers = dict(resp.headers)
        if isinstance(resp.body, bytes):
            payload = resp.body
        elif resp.body is not None:
            payload = json.dumps(resp.body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json;odata=minimalmetadata"
        headers.setdefault("Content-Length", str(len(payload)))
        headers["request-id"] = str(uuid.uuid4())
        if "client-request-id" in self.headers:
            headers["client-request-id"] = self.headers["client-request-id"]
        headers["DataServiceVersion"] = "3.0"
        self.send_response(resp.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
