"""Waiting on Batch: how often to ask, how long at most, and what to say meanwhile.

Azure takes minutes to delete a pool or a job and to allocate nodes, the local service
a fraction of a second: the pace depends on the target. A wait that lasts tells the
user what it waits for, every little while, and gives up after its bound with a
message that says what is still pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from runner import durations
from runner.errors import BwfError

Say = Callable[[str], None]
Waited = Callable[[str, float], None]  # what was awaited, and for how many seconds


@dataclass(frozen=True)
class Pace:
    """Intervals between two reads: from `first`, growing by half each time up to `most`;
    progress lines after `quiet` seconds, then every `report` seconds."""

    first: float
    most: float
    quiet: float
    report: float

    def intervals(self) -> Iterator[float]:
        interval = self.first
        while True:
            yield interval
            interval = min(self.most, interval * 1.5)


# Against Azure, every 5 to 15 s (the SDK's pollers default to 5 s); locally, at once.
AZURE = Pace(first=5.0, most=15.0, quiet=10.0, report=30.0)
LOCAL = Pace(first=0.05, most=0.5, quiet=2.0, report=5.0)


def pace_for(target_name: str) -> Pace:
    return LOCAL if target_name == "local" else AZURE


def until(
    done: Callable[[], bool],
    pending: str,
    bound: float,
    pace: Pace,
    say: Say,
    giving_up: str = "",
) -> float:
    """Wait until `done()` is true; the seconds it waited (0 when it was done at the
    first look). `pending` says what is awaited ("pool p is being deleted"); after
    `bound` seconds, a BwfError says it is still so, followed by `giving_up` (what the
    user can do)."""
    started = time.monotonic()
    next_report = started + pace.quiet
    for looks, interval in enumerate(pace.intervals()):
        if done():
            return time.monotonic() - started if looks else 0.0
        now = time.monotonic()
        waited = now - started
        if waited >= bound:
            raise BwfError(
                f"{pending} after {durations.human(round(waited))}; gave up waiting"
                + (f". {giving_up}" if giving_up else "")
            )
        if now >= next_report:
            say(f"  {pending} ({durations.human(round(waited))} so far)...")
            next_report = now + pace.report
        time.sleep(min(interval, max(0.0, bound - waited)))
    raise AssertionError("unreachable")  # pragma: no cover - intervals() never ends
