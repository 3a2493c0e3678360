"""Fingerprints: short digests of what a task, a pool or a set of blobs was rendered
from, so that a plan can tell what changed without comparing whole objects.

A task's fingerprint follows the DAG: it covers its own rendered fields and the
fingerprints of the tasks it waits on (`following`), so an edit upstream changes the
fingerprint of everything below it, and nothing above.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from runner.state import DesiredTask


def digest(obj: Any) -> str:
    """A short digest of plain data (tuples, lists, scalars, frozen dataclasses).

    `repr` is deterministic for these and several times faster than JSON; mappings
    must be passed as sorted tuples."""
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:32]


def own(t: DesiredTask) -> str:
    """What one task is on its own: everything Batch is given but its ID."""
    return digest(
        [
            t.command_line,
            t.resource_files,
            t.outputs,
            t.env,
            t.retries,
            t.max_wall_clock,
            t.elevated,
            t.depends_on,
            t.depends_on_ranges,
            t.on_dependency_failure,
        ]
    )


def following(own_fingerprint: str, upstream: Iterable[str]) -> str:
    """A fingerprint that also changes when one of the `upstream` fingerprints does."""
    parts = list(upstream)
    return digest([own_fingerprint, *parts]) if parts else own_fingerprint


def of_all(tasks: Iterable[DesiredTask]) -> str:
    """One fingerprint standing for every task of a step (what a fan-in waits on)."""
    return digest([t.fingerprint for t in tasks])


def fingerprinted(t: DesiredTask, upstream: Iterable[str] = ()) -> DesiredTask:
    """`t`, just built and not shared yet, given its fingerprint following `upstream`
    (set in place: copying 100,000 tasks to add one field costs a tenth of a plan)."""
    object.__setattr__(t, "fingerprint", following(own(t), upstream))
    return t


class Uploads:
    """The MD5 of every blob the spec uploads, by container key, for resource files:
    one blob's, or a digest of every blob under a prefix (found by bisection, since a
    step may read a prefix per task)."""

    def __init__(self, md5s: Mapping[tuple[str, str], str]) -> None:
        self.md5s = md5s
        self.sorted: dict[str, list[tuple[str, str]]] = {}
        for (container, blob), md5 in md5s.items():
            self.sorted.setdefault(container, []).append((blob, md5))
        for blobs in self.sorted.values():
            blobs.sort()

    def md5(self, container: str, blob: str) -> str | None:
        return self.md5s.get((container, blob))

    def under(self, container: str, prefix: str) -> str | None:
        """A digest of the blobs under `prefix`, so a task re-runs when its inputs change."""
        blobs = self.sorted.get(container, [])
        start = bisect.bisect_left(blobs, (prefix, ""))
        parts = []
        for blob, md5 in blobs[start:]:
            if not blob.startswith(prefix):
                break
            parts.append((blob, md5))
        return digest(parts) if parts else None
