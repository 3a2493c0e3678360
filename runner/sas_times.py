"""How long SAS URLs live, and the window each one is signed for. Pure, no I/O.

A SAS is valid from `SKEW` before it is signed (this machine's clock may be ahead of
Storage's) until its lifetime plus `SKEW` after. A user-delegation SAS, and the user
delegation key that signs it, must end within 7 days of Storage's current time: the
whole window, skew included, stays within `MAX_LIFETIME`.
"""

from __future__ import annotations

import datetime as dt

SKEW = 300
MAX_LIFETIME = 7 * 86400
# A pool's start task runs again whenever a node joins, reboots or is reimaged, long
# after the apply that signed it: its SAS lives as long as allowed, and every apply that
# uses the pool signs it afresh.
START_TASK_LIFETIME = MAX_LIFETIME - 2 * SKEW


def window(now: dt.datetime, lifetime: int) -> tuple[dt.datetime, dt.datetime]:
    """(start, expiry) of a SAS signed at `now` that must stay valid `lifetime` seconds."""
    start = now - dt.timedelta(seconds=SKEW)
    expiry = now + dt.timedelta(seconds=min(lifetime + SKEW, MAX_LIFETIME - SKEW))
    return start, expiry


def key_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(start, expiry) to ask a user delegation key for: as long as Storage allows, so
    that one key signs every SAS of an apply, however long the apply runs."""
    return now - dt.timedelta(seconds=SKEW), now + dt.timedelta(seconds=MAX_LIFETIME - SKEW)
