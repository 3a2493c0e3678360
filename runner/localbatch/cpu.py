"""The CPU time of process trees, read from /proc: what `$CPUPercent` is computed from.

Each task (and start task) runs under a supervisor that reaps every process the task
starts (`nursery`), so the CPU time of a task's tree so far is the sum, over the live
processes of the tree, of their own time and of their reaped children's (utime + stime
+ cutime + cstime, fields 14 to 17 of /proc/PID/stat). A meter remembers the last total
of each tree, so that each reading gives the CPU seconds used since the previous one.
What a task used between the last reading and its end is not seen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_TICKS = os.sysconf("SC_CLK_TCK")


def _table() -> tuple[dict[int, list[int]], dict[int, float]]:
    """Every live process's children, and its CPU seconds (own and reaped children's)."""
    children: dict[int, list[int]] = {}
    seconds: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # it exited meanwhile
        # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        rest = stat[stat.rindex(b")") + 2 :].split()
        pid = int(name)
        children.setdefault(int(rest[1]), []).append(pid)
        seconds[pid] = sum(int(v) for v in rest[11:15]) / _TICKS
    return children, seconds


def _tree(root: int, children: dict[int, list[int]], seconds: dict[int, float]) -> float:
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += seconds.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def tree_seconds(root: int) -> float:
    """CPU seconds the tree under `root` has used so far (its live processes' own and
    their reaped children's)."""
    return _tree(root, *_table())


class CpuMeter:
    def __init__(self) -> None:
        self.last: dict[int, float] = {}  # tree root -> its CPU seconds at the last reading

    def used(self, roots: Mapping[int, float]) -> float:
        """CPU seconds the trees under `roots` used since they were last read together
        (a root seen for the first time counts from the CPU seconds given with it: a
        supervisor's own and its reaped children's before its current task)."""
        children, seconds = _table()
        total = 0.0
        now: dict[int, float] = {}
        for root, base in roots.items():
            tree = now[root] = _tree(root, children, seconds)
            total += max(0.0, tree - self.last.get(root, base))
        self.last = now
        return total
