"""Pausing Python's cyclic garbage collector while bwf builds or reads a big plan.

Rendering and planning 100,000 tasks allocate millions of small objects that live
until the command ends and form no cycles: the collector would rescan them again and
again (a third of a plan's time) while finding nothing to free. Reference counting
still frees everything that is dropped; the collector runs again when the pause ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (nested blocks are fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
