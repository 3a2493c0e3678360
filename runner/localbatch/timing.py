"""A local-only debug log of where each task's time goes on its node, for benchmarks.

`BWF_LOCALBATCH_TIMING_LOG=FILE` makes the service append one JSON line per task
attempt that ran on a node, when it is settled: the wall-clock times (seconds since the
epoch, `time.time()`) at which its slot was taken, a worker picked it up, its resource
files were in place, its process was started and ended, and its slot was free again,
with the time each output file entry took to upload. Without the variable nothing is
written. Batch has no such log; `bench/apply_bench.py` reads it (docs/local-batch.md).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from runner.localbatch.runs import Running

ENV = "BWF_LOCALBATCH_TIMING_LOG"


class TimingLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: TextIO | None = None  # opened at the first line, kept (an open a task is slow)

    @classmethod
    def from_env(cls) -> TimingLog:
        value = os.environ.get(ENV)
        return cls(Path(value) if value else None)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def write(self, run: Running, job_id: str, task_id: str, outcome: str) -> None:
        """Append the attempt's line (a no-op when the log is off)."""
        if self.path is None or "spawned" not in run.marks:
            return
        line: dict[str, Any] = {
            "job": job_id,
            "task": task_id,
            "node": run.node_id,
            "outcome": outcome,
            **{k: round(v, 6) for k, v in run.marks.items()},
            "outputs": [
                {"pattern": pattern, "seconds": round(seconds, 6), "files": files}
                for pattern, seconds, files in run.uploads
            ],
        }
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()  # whole lines, at once: a reader may read it while tasks run
