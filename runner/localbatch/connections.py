"""The cap on connections served at once (one thread each).

A new connection takes a free slot. When there is none, the connection that has been
idle longest (waiting for its next request) is closed to make room: an SDK's
connection pool notices the close before it reuses a connection and opens a new one.
When every slot is busy with a request, the new connection waits; requests end within
the read timeout, so a slot frees in bounded time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class ConnectionSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._cond = threading.Condition()
        self._used = 0
        self._idle: dict[socket.socket, float] = {}  # idle connection -> since when
        self._stopping = False

    def acquire(self) -> bool:
        """Take a slot, waiting for one if need be; False when the server is stopping."""
        with self._cond:
            while self._used >= self.capacity and not self._stopping:
                if self._idle:
                    oldest = min(self._idle, key=self._idle.__getitem__)
                    del self._idle[oldest]  # closed once; its thread releases the slot
                    with contextlib.suppress(OSError):
                        oldest.shutdown(socket.SHUT_RDWR)
                self._cond.wait(0.5)
            if self._stopping:
                return False
            self._used += 1
            return True

    def release(self, sock: socket.socket) -> None:
        with self._cond:
            self._idle.pop(sock, None)
            self._used -= 1
            self._cond.notify_all()

    def idle(self, sock: socket.socket) -> None:
        """The connection waits for its next request: it may be closed to make room."""
        with self._cond:
            self._idle[sock] = time.monotonic()

    def busy(self, sock: socket.socket) -> None:
        with self._cond:
            self._idle.pop(sock, None)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
