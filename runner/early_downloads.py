"""Downloads while the tasks run: each result is fetched soon after its task completes,
so that the downloads after monitoring have little left to fetch (on Azure, thousands of
outputs need not all wait for the last task; on the local stack, the fetching overlaps
the tasks instead of following them).

The monitor tells `completed(count)` at every poll. When more tasks have completed
since the last pass, and no pass runs, a pass starts on a background thread: for each
download, it lists the container and fetches the blobs that match the pattern, have a
Content-MD5 and are not already in the download directory with it (`Storage.fetch_new`).
Passes are spaced by at least `PASS_SECONDS`, and by `PASS_SHARE` times what the last
pass took, so that listing a large container stays a small share of the run.

Nothing is decided here: the downloads after monitoring run as before
(`Storage.download`), and only they are recorded and reported. A blob fetched early
that changed since is fetched again there, since its MD5 differs; a blob without a
Content-MD5 (a large block blob on Azure) is only fetched there. A pass that fails
(a container not there yet, a service that does not answer) is dropped silently: the
downloads at the end meet the same problem and say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from runner.errors import BwfError
from runner.storage import Storage

PASS_SECONDS = 2.0  # the least time from the start of one pass to the start of the next
PASS_SHARE = 5  # ... and at least this many times what the last pass took
WORKERS = 4  # fetches in parallel (fewer than at the end: the tasks' nodes may need the CPU)


class EarlyDownloads:
    def __init__(
        self,
        storage: Storage,
        downloads: Iterable[tuple[str, str, Path]],
        workers: int = WORKERS,
    ) -> None:
        self.storage = storage
        self.downloads = list(downloads)  # (container, pattern, directory)
        self.workers = workers
        self.fetched: dict[tuple[str, str, Path], int] = {d: 0 for d in self.downloads}
        self._seen: dict[tuple[str, str, Path], set[tuple[str, str]]] = {
            d: set() for d in self.downloads
        }
        self._stop = threading.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bwf-early")
        self._pass: Future[None] | None = None
        self._completed = 0  # the completed tasks when the last pass started
        self._not_before = 0.0

    def completed(self, count: int) -> None:
        """`count` tasks have completed so far: start a pass if it is time for one."""
        if not self.downloads or self._stop.is_set() or count <= self._completed:
            return
        if self._pass is not None and not self._pass.done():
            return
        now = time.monotonic()
        if now < self._not_before:
            return
        self._completed = count
        self._not_before = now + PASS_SECONDS
        self._pass = self._thread.submit(self._run)

    def _run(self) -> None:
        began = time.monotonic()
        for d in self.downloads:
            if self._stop.is_set():
                break
            container, pattern, to = d
            try:
                self.fetched[d] += self.storage.fetch_new(
                    container, pattern, to, self._seen[d], self._stop, self.workers
                )
            except (BwfError, OSError):
                continue  # the downloads at the end meet it too, and say so
        took = time.monotonic() - began
        self._not_before = max(self._not_before, began + PASS_SHARE * took)

    def finish(self) -> int:
        """Stop (a pass in progress fetches no further blob) and wait for the pass to end;
        the number of blobs fetched early. A pass's unexpected error is raised here."""
        self._stop.set()
        self._thread.shutdown(wait=True)
        if self._pass is not None:
            self._pass.result()
        return sum(self.fetched.values())
