"""An optional CPU profile of a whole process, every thread included, for benchmarks.

`bwf` reads `BWF_PROFILE=FILE` and the local Batch service `BWF_LOCALBATCH_PROFILE=FILE`
(docs/benchmarks.md): when set, each thread is profiled with cProfile from its start (its own CPU time, not wall time),
and the merged statistics are written to FILE (pstats format) when the process ends
normally (a CLI command, or the service stopped by SIGTERM). Standard library only, so
that the client and the service can both use it without importing each other.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any


def start_from_env(variable: str) -> Callable[[], None]:
    """Start profiling when `variable` names a file; the function that writes it."""
    target = os.environ.get(variable)
    if not target:
        return lambda: None
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def begin(frame: FrameType, event: str, arg: Any) -> None:
        # the first event of a new thread: hand the thread over to its own profiler
        sys.setprofile(None)
        p = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(p)
        p.enable()

    threading.setprofile(begin)
    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    main.enable()

    def stop() -> None:
        main.disable()
        threading.setprofile(None)
        with lock:
            taken = list(profiles)
        stats = pstats.Stats(taken[0])
        for p in taken[1:]:
            try:
                stats.add(p)
            except (TypeError, ValueError):  # a thread that never made a call
                continue
        stats.dump_stats(target)

    return stop
