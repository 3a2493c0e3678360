"""Which tasks write where: for each container, the tasks whose outputs go there and
under which blob prefix, so that the plan finds the tasks that may have written what a
task reads (a prefix of a container) without scanning every task for every read.

A task writes under its output's `path`; a read of prefix P may need it when the
path lies under P (`sim/` reads `sim/a/`) or P lies under the path (`sim/a/` reads
what a task writing to `sim/` or to the container's root made).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from runner.spec import LOGS_KEY
from runner.state import DesiredTask


class Writers:
    def __init__(self, tasks: Iterable[DesiredTask]) -> None:
        by_container: dict[str, dict[str, list[DesiredTask]]] = {}
        for t in tasks:
            for o in t.outputs:
                if o.container == LOGS_KEY:
                    continue
                writers = by_container.setdefault(o.container, {}).setdefault(o.path, [])
                if not writers or writers[-1] is not t:
                    writers.append(t)
        self._by_path = by_container
        self._paths = {key: sorted(paths) for key, paths in by_container.items()}

    @property
    def containers(self) -> set[str]:
        """The container keys tasks write to (logs aside)."""
        return set(self._by_path)

    def of(self, container: str) -> list[DesiredTask]:
        """Every task writing to `container`, each once."""
        return list(
            {id(t): t for ts in self._by_path.get(container, {}).values() for t in ts}.values()
        )

    def under(self, container: str, prefix: str) -> list[DesiredTask]:
        """The tasks that may have written blobs under `prefix` of `container`."""
        by_path = self._by_path.get(container, {})
        paths = self._paths.get(container, [])
        found: dict[int, DesiredTask] = {}
        start = bisect.bisect_left(paths, prefix)
        for path in paths[start:]:
            if not path.startswith(prefix):
                break
            found.update((id(t), t) for t in by_path[path])
        for i in range(len(prefix)):  # paths that are shorter prefixes of `prefix`
            found.update((id(t), t) for t in by_path.get(prefix[:i], ()))
        return list(found.values())
