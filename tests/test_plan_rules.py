"""The plan's rules one at a time: what each task needs, what the observed digest
covers, and why a pool or job is kept, updated or replaced (runner.plan, no network)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest

from runner.actions import MARKERS, Action, CleanupAction, NodeCounts, TasksAction
from runner.pipeline import desired_state
from runner.plan import Plan, all_tasks, diff, digest
from runner.plan_tasks import task_status
from runner.state import (
    Desired,
    DesiredTask,
    Observed,
    ObservedBlob,
    ObservedContainer,
    ObservedJob,
    ObservedTask,
)
from tests.helpers import MINIMAL, merge_of, observed_pool, write_spec

TASK = DesiredTask(id="t", command_line="true", fingerprint="f1")


@pytest.mark.parametrize(
    ("live", "ledger", "expected"),
    [
        (None, {"t": "f1"}, ("noop", "done earlier")),
        # the live job is the truth when it holds the task, whatever the ledger says
        (ObservedTask("t", "completed", "f1", 1, "failure"), {"t": "f1"}, ("replace", "failed")),
        (None, {}, ("create", "missing")),
        (None, {"t": "f0"}, ("create", "changed")),
        (ObservedTask("t", "completed", "f0", 0, "success"), {}, ("replace", "changed")),
        (ObservedTask("t", "active", "f0"), {}, ("replace", "changed")),
        (ObservedTask("t", "completed", "f1", 0, "success"), {}, ("noop", "done")),
        (ObservedTask("t", "completed", "f1", 1, "failure"), {}, ("replace", "failed")),
        (ObservedTask("t", "running", "f1"), {}, ("noop", "in progress")),
        (ObservedTask("t", "active", "f1"), {"t": "f0"}, ("noop", "in progress")),
    ],
)
def test_task_status(
    live: ObservedTask | None, ledger: dict[str, str], expected: tuple[str, str]
) -> None:
    assert task_status(TASK, live, ledger) == expected


def test_markers() -> None:
    changes = ("create", "update", "replace", "delete", "noop")
    assert [Action(id="j", change=c).marker for c in changes] == ["+", "~", "-/+", "-", " "]
    assert set(MARKERS) == {"create", "update", "replace", "delete", "noop"}


@pytest.fixture()
def desired(tmp_path: Path) -> Desired:
    return desired_state(write_spec(tmp_path))


def world(d: Desired, **tasks: tuple[str, str | None]) -> Observed:
    """Everything exists and every task is done, except `tasks`: id -> (state, result)."""
    p = d.pool
    pool = observed_pool(d)
    live = {
        t.id: ObservedTask(t.id, state, t.fingerprint, 0 if result == "success" else 1, result)
        for t in all_tasks(d)
        for state, result in [tasks.get(t.id.replace("-", "_"), ("completed", "success"))]
    }
    containers = {
        c.name: ObservedContainer(
            c.name, {u.blob: ObservedBlob(u.blob, u.size, u.md5) for u in c.uploads}
        )
        for c in d.containers
    }
    return Observed(containers, pool, ObservedJob(d.job.id, "active", p.id, False, live))


def test_the_digest_ignores_what_does_not_change_a_plan(desired: Desired) -> None:
    base = world(desired, t_a=("active", None))
    same = [
        world(desired, t_a=("running", None)),  # pending either way
        world(desired, t_a=("preparing", None)),
        replace(
            base, pool=replace(base.pool, node_states={"idle": 2}, allocation_state="stopping")
        ),  # type: ignore[arg-type]
    ]
    for observed in same:
        assert digest(observed) == digest(base)


def test_the_digest_covers_what_decides_a_plan(desired: Desired) -> None:
    base = world(desired)
    assert base.pool is not None and base.job is not None
    other_blobs = {
        name: replace(c, blobs={b: replace(blob, md5="x") for b, blob in c.blobs.items()})
        for name, c in base.containers.items()
    }
    changed = [
        replace(base, containers=other_blobs),
        replace(base, containers={}),
        replace(base, pool=None),
        replace(base, pool=replace(base.pool, state="deleting")),
        replace(base, pool=replace(base.pool, fingerprint="other")),
        replace(base, pool=replace(base.pool, dedicated_target=9)),
        replace(base, pool=replace(base.pool, spot_target=9)),
        replace(base, job=None),
        replace(base, job=replace(base.job, state="completed")),
        replace(base, job=replace(base.job, pool_id="other")),
        world(desired, t_a=("completed", "failure")),
        world(desired, t_a=("running", None)),
        replace(base, ledger={"t-a": "f"}),
        replace(base, downloads={"output": "missing locally"}),
    ]
    digests = [digest(o) for o in changed]
    assert digest(base) not in digests
    assert len(set(digests)) == len(digests)


def kinds(d: Desired, observed: Observed) -> dict[str, tuple[str, str]]:
    return {
        a.kind: (a.change, a.reason) for a in diff(d, observed).actions if a.kind in ("pool", "job")
    }


def test_why_a_pool_or_job_is_replaced_or_updated(desired: Desired) -> None:
    base = world(desired, t_a=("completed", "failure"))
    assert base.pool is not None and base.job is not None
    assert kinds(desired, base) == {"pool": ("noop", ""), "job": ("noop", "")}
    assert kinds(desired, replace(base, pool=replace(base.pool, state="deleting")))["pool"] == (
        "replace",
        "pool is being deleted",
    )
    assert kinds(desired, replace(base, pool=replace(base.pool, fingerprint="x")))["pool"] == (
        "replace",
        "image, size or start task changed",
    )
    resized = diff(desired, replace(base, pool=replace(base.pool, dedicated_target=5)))
    pool = next(a for a in resized.actions if a.kind == "pool")
    assert (pool.change, pool.reason) == ("update", "node count changed")
    assert pool.details()["from_nodes"] == NodeCounts(dedicated=5, spot=0)
    assert kinds(desired, replace(base, job=replace(base.job, state="completed")))["job"] == (
        "replace",
        "job is completed",
    )
    assert kinds(desired, replace(base, job=replace(base.job, pool_id="x")))["job"] == (
        "replace",
        "bound to another pool",
    )


def test_a_job_without_task_dependencies_is_replaced_for_a_merge(tmp_path: Path) -> None:
    text = MINIMAL.replace("  tasks:\n", "  merge: {id: m, command: echo}\n  tasks:\n")
    d = desired_state(write_spec(tmp_path, text))
    assert d.job.uses_task_dependencies
    assert kinds(d, world(d, t_a=("completed", "failure")))["job"] == (
        "replace",
        "needs task dependencies",
    )


def test_only_changed_blobs_are_uploaded_and_counted(desired: Desired) -> None:
    base = world(desired, t_a=("completed", "failure"))
    name = desired.container("input").name
    blobs = dict(base.containers[name].blobs)
    blobs["a.txt"] = replace(blobs["a.txt"], md5="old")
    observed = replace(base, containers={**base.containers, name: ObservedContainer(name, blobs)})
    upload = next(a for a in diff(desired, observed).actions if a.kind == "upload")
    assert (upload.id, upload.change, upload.reason) == ("input", "create", "changed or missing")
    assert upload.details() == {
        "name": name,
        "blobs": ("a.txt",),
        "count": 1,
        "bytes": 2,
        "unchanged": 1,
    }


def test_clean_up_is_not_a_change(desired: Desired) -> None:
    def plan(*actions: Action) -> Plan:
        return Plan(desired, actions, (), "local", "")

    def tasks(change: Literal["create", "noop"]) -> TasksAction:
        return TasksAction(id="j", change=change, step="tasks", count=0, ids=(), sample=())

    cleanup = CleanupAction(id="job", change="delete", policy="delete")
    assert not plan(cleanup, tasks("noop")).has_changes
    assert plan(replace(cleanup, change="noop"), tasks("create")).has_changes


def test_everything_done_and_downloaded(desired: Desired) -> None:
    ledger = {t.id: t.fingerprint for t in all_tasks(desired)}
    done = diff(desired, replace(world(desired), ledger=ledger))
    assert not done.has_changes
    assert [(a.kind, a.change, a.reason) for a in done.actions] == [("tasks", "noop", "done")]


def merge_world(
    d: Desired, merge: tuple[str, str | None] | None, **tasks: tuple[str, str | None]
) -> Observed:
    """`world` with the merge task as given (None: not submitted yet)."""
    observed = world(d, **tasks)
    m = merge_of(d)
    assert observed.job is not None and m is not None
    live = dict(observed.job.tasks)
    del live[m.id]
    if merge is not None:
        state, result = merge
        live[m.id] = ObservedTask(
            m.id, state, m.fingerprint, 0 if result == "success" else 1, result
        )
    return replace(observed, job=replace(observed.job, uses_task_dependencies=True, tasks=live))


@pytest.fixture()
def with_merge(tmp_path: Path) -> Desired:
    text = MINIMAL.replace("  tasks:\n", "  merge: {id: m, command: echo}\n  tasks:\n")
    return desired_state(write_spec(tmp_path, text))


def merge_action(d: Desired, observed: Observed) -> tuple[str, str]:
    action = next(a for a in diff(d, observed).of(TasksAction) if a.step == "merge")
    return action.change, action.reason


def test_the_merge_reruns_when_an_input_reruns(with_merge: Desired) -> None:
    done = ("completed", "success")
    assert merge_action(with_merge, merge_world(with_merge, done)) == ("noop", "done")
    assert not diff(with_merge, merge_world(with_merge, done)).has_changes
    rerun = merge_world(with_merge, done, t_a=("completed", "failure"))
    assert merge_action(with_merge, rerun) == ("replace", "inputs re-run")
    assert merge_action(with_merge, merge_world(with_merge, None)) == ("create", "missing")
    failed = merge_world(with_merge, ("completed", "failure"))
    assert merge_action(with_merge, failed) == ("replace", "failed")


def test_a_running_merge_keeps_the_pool_and_job(with_merge: Desired) -> None:
    running = merge_world(with_merge, ("running", None))
    plan = diff(with_merge, running)
    assert merge_action(with_merge, running) == ("noop", "in progress")
    assert {(a.kind, a.change) for a in plan.actions} >= {("pool", "noop"), ("job", "noop")}
    assert [(a.step, a.reason) for a in plan.of(TasksAction)] == [
        ("tasks", "done"),
        ("merge", "in progress"),
    ]


def test_containers_and_the_job_when_missing(desired: Desired) -> None:
    plan = diff(desired, Observed())
    containers = [
        (a.id, a.change, a.reason, a.details()) for a in plan.actions if a.kind == "container"
    ]
    names = {c.key: c.name for c in desired.containers}
    assert containers == [
        (key, "create", "missing", {"name": names[key], "logs": key == "logs"})
        for key in ("input", "output", "logs")
    ]
    uploads = [(a.id, a.reason) for a in plan.actions if a.kind == "upload"]
    assert uploads == [("input", "missing")]
    job = next(a for a in plan.actions if a.kind == "job")
    assert (job.change, job.reason) == ("create", "missing")
    existing = diff(desired, world(desired, t_a=("completed", "failure")))
    assert {(a.change, a.reason) for a in existing.actions if a.kind == "container"} == {
        ("noop", "")
    }
