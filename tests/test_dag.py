"""The dependency graph: what a re-run drags along, what Batch is given to wait on,
and which tasks can never run. Pure, no services."""

from __future__ import annotations

from runner.dag import FAILED, NOT_IN_JOB, Blocker, Graph, blocked, submitted_dependencies
from runner.state import DesiredTask

# a fan-out of three, two barriers and a merge, and a report after the merge
GRAPH = Graph(
    {
        "a": (),
        "b": (),
        "c": (),
        "bar-0": ("a", "b"),
        "bar-1": ("c",),
        "merge": ("bar-0", "bar-1"),
        "report": ("merge",),
    }
)
ALL = set(GRAPH.depends)


def test_a_failed_task_blocks_everything_downstream_and_is_named_behind_each() -> None:
    got = blocked(GRAPH, ALL, failed={"b"})
    assert got == {
        "bar-0": Blocker("b", FAILED),
        "merge": Blocker("b", FAILED),
        "report": Blocker("b", FAILED),
    }


def test_a_failure_that_satisfies_its_dependents_blocks_nothing() -> None:
    satisfying = Graph(GRAPH.depends, frozenset({"a", "b", "c"}))
    assert blocked(satisfying, ALL, failed={"b"}) == {}
    # ... but a failed barrier, which does not satisfy, still blocks the merge
    assert blocked(satisfying, ALL, failed={"bar-1"})["merge"] == Blocker("bar-1", FAILED)


def test_a_dependency_missing_from_the_job_blocks_at_once() -> None:
    got = blocked(GRAPH, ALL - {"c"}, failed=set())
    assert got == {
        "bar-1": Blocker("c", NOT_IN_JOB),
        "merge": Blocker("c", NOT_IN_JOB),
        "report": Blocker("c", NOT_IN_JOB),
    }


def test_nothing_is_blocked_while_dependencies_merely_run() -> None:
    assert blocked(GRAPH, ALL, failed=set()) == {}


def test_a_cycle_does_not_hang() -> None:
    cyclic = Graph({"x": ("y",), "y": ("x",), "z": ("x", "gone")})
    assert blocked(cyclic, {"x", "y", "z"}, failed=set())["z"] == Blocker("gone", NOT_IN_JOB)


def test_downstream_is_transitive() -> None:
    assert GRAPH.downstream(["c"]) == {"bar-1", "merge", "report"}
    assert GRAPH.downstream(["report"]) == set()


def test_tasks_wait_only_on_what_the_job_holds() -> None:
    tasks = [
        DesiredTask("a", "true"),
        DesiredTask("b", "true"),
        DesiredTask("m", "true", depends_on=("a", "b")),
    ]
    assert submitted_dependencies(tasks, {"a", "b", "m"}) == {}
    assert submitted_dependencies(tasks, {"b", "m"}) == {"m": ("b",)}
    assert submitted_dependencies(tasks, {"m"}) == {"m": ()}
