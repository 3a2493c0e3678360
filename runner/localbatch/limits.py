"""What one client may take from the service: body sizes, the time a request may take to
arrive, how long an idle connection stays open, and how many connections are served at once.

The defaults suit a developer's machine; `BWF_LOCALBATCH_READ_TIMEOUT`,
`BWF_LOCALBATCH_IDLE_TIMEOUT` (seconds) and `BWF_LOCALBATCH_MAX_CONNECTIONS` change them
(the tests use small values). docs/local-batch.md lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runner.localbatch.rest import MAX_BODY

# Every request but add-collection (which has Batch's 1 MB, `rest.MAX_BODY`): a pool or a
# task with many resource files and environment settings stays far below this.
MAX_REQUEST_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # A request's line, headers and body must all arrive within this many seconds of its
    # first byte, however slowly they trickle in.
    read_timeout: float = 30.0
    # A connection waiting for its next request is closed after this many seconds (cleanly:
    # the SDKs' connection pools notice and open a new one).
    idle_timeout: float = 120.0
    # Connections served at once (one thread each). Beyond it an idle connection is closed
    # to make room, or the new one waits in the listen queue for a free slot.
    max_connections: int = 128
    # After refusing a request without reading its body, the service reads and discards
    # at most this long (and this much) so that the client can read the answer.
    linger_seconds: float = 2.0
    linger_bytes: int = 2 * MAX_REQUEST_BODY

    def body_limit(self, parts: list[str]) -> int:
        """The largest body accepted on the path (decoded segments)."""
        return MAX_BODY if parts[-1:] == ["addtaskcollection"] else MAX_REQUEST_BODY

    @classmethod
    def from_env(cls) -> Limits:
        def number(name: str, default: float) -> float:
            raw = os.environ.get(name)
            value = float(raw) if raw else default
            if value <= 0:
                raise ValueError(f"{name} must be a positive number, not {raw!r}")
            return value

        return cls(
            read_timeout=number("BWF_LOCALBATCH_READ_TIMEOUT", cls.read_timeout),
            idle_timeout=number("BWF_LOCALBATCH_IDLE_TIMEOUT", cls.idle_timeout),
            max_connections=int(number("BWF_LOCALBATCH_MAX_CONNECTIONS", cls.max_connections)),
        )
