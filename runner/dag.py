"""The job's dependency graph: what a re-run drags along, what Batch is given to wait
on, and which tasks can never run.

Pure functions over task IDs, used by the plan (a task re-runs when a task it waits
on re-runs; a task never waits on a task that is not in the job) and by the monitor
(a task whose dependency failed under `on_failure: block`, or is not in the job, is
*blocked*: Batch keeps it active for ever, so bwf stops waiting for it at once and
names the task behind it). Everything is computed transitively over the graph, so
it holds for a fan-out and merge as for any DAG of steps.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runner.state import DesiredTask

FAILED = "failed"
NOT_IN_JOB = "not in the job"


@dataclass(frozen=True)
class Blocker:
    """Why a task cannot run: the task at the root of it, and what is wrong with that one."""

    task: str
    why: str  # FAILED | NOT_IN_JOB


@dataclass(frozen=True)
class Graph:
    depends: Mapping[str, tuple[str, ...]]  # task -> the tasks it waits on
    # tasks whose failure does not hold their dependents back (on_failure: run_anyway)
    satisfies_on_failure: frozenset[str] = frozenset()
    _dependents: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def of(tasks: Iterable[DesiredTask]) -> Graph:
        depends: dict[str, tuple[str, ...]] = {}
        satisfy = set()
        for t in tasks:
            depends[t.id] = t.depends_on
            if t.on_dependency_failure == "satisfy":
                satisfy.add(t.id)
        return Graph(depends, frozenset(satisfy))

    def dependents(self) -> Mapping[str, list[str]]:
        if not self._dependents and self.depends:
            for task, deps in self.depends.items():
                for d in deps:
                    self._dependents.setdefault(d, []).append(task)
        return self._dependents

    def downstream(self, ids: Iterable[str]) -> set[str]:
        """Every task that waits, directly or through others, on one of `ids`."""
        dependents = self.dependents()
        seen: set[str] = set()
        todo = list(ids)
        while todo:
            for d in dependents.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen


def submitted_dependencies(
    tasks: Sequence[DesiredTask], in_job: Collection[str]
) -> dict[str, tuple[str, ...]]:
    """The dependencies to give Batch where they differ from the desired ones: only the
    tasks that are in the job. A task done in an earlier run (whose job clean-up
    deleted) is not there to wait on, and Batch would wait for it for ever."""
    out = {}
    for t in tasks:
        kept = tuple(d for d in t.depends_on if d in in_job)
        if kept != t.depends_on:
            out[t.id] = kept
    return out


def blocked(graph: Graph, present: Collection[str], failed: Collection[str]) -> dict[str, Blocker]:
    """The tasks of the job that can never run, each with the task behind it.

    `present` holds the IDs in the job, `failed` those that completed with a failure.
    A task is blocked when a task it waits on is not in the job, failed and holds its
    dependents back, or is blocked itself."""
    out: dict[str, Blocker] = {}
    done: set[str] = set()
    visiting: set[str] = set()  # guards against a cycle, which render never makes
    for root in present:
        stack = [root]
        while stack:
            task = stack[-1]
            if task in done:
                stack.pop()
                continue
            if task not in visiting:
                visiting.add(task)
                waiting = [
                    d
                    for d in graph.depends.get(task, ())
                    if d in present and d not in done and d not in visiting
                ]
                if waiting:
                    stack.extend(waiting)  # decide the dependencies first
                    continue
            stack.pop()
            done.add(task)
            blocker = _first_blocker(graph, task, present, failed, out)
            if blocker is not None:
                out[task] = blocker
    return out


def _first_blocker(
    graph: Graph,
    task: str,
    present: Collection[str],
    failed: Collection[str],
    decided: Mapping[str, Blocker],
) -> Blocker | None:
    for d in graph.depends.get(task, ()):
        if d not in present:
            return Blocker(d, NOT_IN_JOB)
        if d in failed and d not in graph.satisfies_on_failure:
            return Blocker(d, FAILED)
        if d in decided:
            return decided[d]
    return None
