"""diff(desired, observed): a pure function, tested against hand-made observed states."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runner.actions import TasksAction, UploadAction
from runner.dag import submitted_dependencies
from runner.downloads import key as downloads_key
from runner.load import load_spec
from runner.plan import Plan, all_tasks, diff, tasks_in_job
from runner.plan_json import to_json
from runner.render import render
from runner.show import render_plan
from runner.state import (
    Desired,
    KeptCopy,
    Observed,
    ObservedBlob,
    ObservedContainer,
    ObservedJob,
    ObservedPool,
    ObservedTask,
)
from tests.helpers import MINIMAL, fanned, merge_of, observed_pool, write_spec


@pytest.fixture()
def desired(tmp_path: Path) -> Desired:
    return render(load_spec(write_spec(tmp_path)))


def _pool(d: Desired, **kw: object) -> ObservedPool:
    return observed_pool(d, **kw)


def _world(d: Desired, task_state: dict[str, tuple[str, str | None]] | None = None) -> Observed:
    """Everything exists; tasks as given: id -> (state, result)."""
    containers = {
        c.name: ObservedContainer(
            c.name, {u.blob: ObservedBlob(u.blob, u.size, u.md5) for u in c.uploads}
        )
        for c in d.containers
    }
    tasks = {
        t.id: ObservedTask(t.id, state, t.fingerprint, 0 if result == "success" else 1, result)
        for t in fanned(d)
        for state, result in [(task_state or {}).get(t.id, ("completed", "success"))]
    }
    return Observed(
        containers=containers,
        pool=_pool(d),
        job=ObservedJob(d.job.id, "active", d.pool.id, False, tasks),
    )


def kinds(plan_actions: object) -> list[tuple[str, str, str]]:
    return [(a.kind, a.id, a.change) for a in plan_actions]  # type: ignore[attr-defined]


def test_empty_world_creates_everything(desired: Desired) -> None:
    plan = diff(desired, Observed.empty())
    assert plan.has_changes
    got = kinds(plan.actions)
    assert ("container", "input", "create") in got and ("container", "logs", "create") in got
    assert ("upload", "input", "create") in got
    assert ("pool", "p", "create") in got and ("job", "j", "create") in got
    tasks = [a for a in plan.of(TasksAction)]
    assert [(a.change, list(a.ids)) for a in tasks] == [("create", ["t-a", "t-b"])]


def test_everything_done_means_no_changes(desired: Desired) -> None:
    plan = diff(desired, _world(desired))
    assert not plan.has_changes
    assert render_plan(plan).startswith("No changes.")


def test_the_ledger_keeps_work_done_after_cleanup(desired: Desired) -> None:
    ledger = {t.id: t.fingerprint for t in fanned(desired)}
    plan = diff(desired, Observed(ledger=ledger))
    assert not plan.has_changes
    stale = {**ledger, "t-a": "old"}
    plan = diff(desired, Observed(ledger=stale))
    tasks = [a for a in plan.of(TasksAction) if a.change != "noop"]
    assert [list(a.ids) for a in tasks] == [["t-a"]]


def test_failed_tasks_are_replaced_and_running_ones_left(desired: Desired) -> None:
    world = _world(desired, {"t-a": ("completed", "failure"), "t-b": ("running", None)})
    plan = diff(desired, world)
    by = {(a.kind, a.change, a.reason): list(a.ids) for a in plan.actions if a.kind == "tasks"}
    assert by == {
        ("tasks", "replace", "failed"): ["t-a"],
        ("tasks", "noop", "in progress"): ["t-b"],
    }
    assert ("pool", "p", "noop") in kinds(plan.actions)


def test_changed_task_is_replaced(desired: Desired) -> None:
    world = _world(desired)
    assert world.job is not None
    tasks = dict(world.job.tasks)
    tasks["t-b"] = replace(tasks["t-b"], fingerprint="other")
    world = replace(world, job=replace(world.job, tasks=tasks))
    plan = diff(desired, world)
    changed = [a for a in plan.of(TasksAction) if a.change == "replace"]
    assert list(changed[0].ids) == ["t-b"] and changed[0].reason == "changed"


def test_only_blobs_with_another_md5_are_uploaded(desired: Desired) -> None:
    world = _world(desired, {"t-a": ("completed", "failure")})
    c = desired.container("input")
    blobs = dict(world.containers[c.name].blobs)
    blobs["b.txt"] = ObservedBlob("b.txt", 4, "different")
    world = replace(
        world, containers={**world.containers, c.name: ObservedContainer(c.name, blobs)}
    )
    uploads = [a for a in diff(desired, world).of(UploadAction)]
    assert [(a.id, list(a.blobs), a.unchanged) for a in uploads] == [("input", ["b.txt"], 1)]


def test_pool_resize_is_an_update_and_image_change_a_replace(desired: Desired) -> None:
    world = _world(desired, {"t-a": ("active", None)})
    resized = replace(world, pool=_pool(desired, dedicated_target=5))
    assert ("pool", "p", "update") in kinds(diff(desired, resized).actions)
    other = replace(world, pool=_pool(desired, fingerprint="other image"))
    assert ("pool", "p", "replace") in kinds(diff(desired, other).actions)


def test_job_on_another_pool_is_replaced(desired: Desired) -> None:
    world = _world(desired, {"t-a": ("completed", "failure")})
    assert world.job is not None
    world = replace(world, job=replace(world.job, pool_id="elsewhere"))
    plan = diff(desired, world)
    assert ("job", "j", "replace") in kinds(plan.actions)
    # in the new job: the failed task; the one the old job holds done stays done (as
    # a ledger would say: Batch's record stands in for it)
    assert [(a.change, list(a.ids)) for a in plan.of(TasksAction)] == [
        ("create", ["t-a"]),
        ("noop", ["t-b"]),
    ]


def test_merge_reruns_when_any_input_task_reruns(tmp_path: Path) -> None:
    d = render(
        load_spec(write_spec(tmp_path, MINIMAL + "  merge: {id: m, command: echo merged}\n"))
    )
    assert merge_of(d) is not None
    done = _world(d)
    assert done.job is not None
    with_merge = replace(
        done,
        job=replace(
            done.job,
            uses_task_dependencies=True,
            tasks={
                **done.job.tasks,
                "m": ObservedTask("m", "completed", merge_of(d).fingerprint, 0, "success"),
            },
        ),
    )
    assert not diff(d, with_merge).has_changes
    ledger_only = Observed(ledger={t.id: t.fingerprint for t in fanned(d) if t.id != "t-a"})
    merge = [a for a in diff(d, ledger_only).of(TasksAction) if a.step == "merge"]
    assert [(a.ids, a.change) for a in merge] == [(("m",), "create")]


def test_json_is_stable_and_secret_free(tmp_path: Path) -> None:
    text = MINIMAL.replace("cat {{ item.name }}", "curl {{ containers.input.read_sas }}")
    d = render(load_spec(write_spec(tmp_path, text)))
    data = to_json(diff(d, Observed.empty()))
    assert list(data) == [
        "format_version",
        "workflow",
        "spec",
        "target",
        "vars",
        "observed_digest",
        "desired_digest",
        "has_changes",
        "summary",
        "steps",
        "actions",
        "desired",
    ]
    assert data["summary"] == {
        "create": 7,
        "update": 0,
        "replace": 0,
        "delete": 0,
        "tasks": 2,
        "tasks_to_run": 2,
    }
    text_form = json.dumps(data)
    assert "@@bwf-secret" not in text_form and "<redacted>" in text_form
    assert "@@bwf-secret" not in render_plan(diff(d, Observed.empty()))


def test_tasks_done_but_not_downloaded_still_need_the_download(tmp_path: Path) -> None:
    """An apply killed after the tasks finished but before the download: the next plan
    runs no task again, but downloads (and so is not 'No changes')."""
    desired = render(
        load_spec(write_spec(tmp_path, MINIMAL + "download: [{container: output, to: out}]\n"))
    )
    plan = diff(desired, _world(desired))  # all completed live, nothing in the ledger
    assert plan.has_changes
    assert [a.change for a in plan.of(TasksAction)] == ["noop"]
    assert [a.kind for a in plan.actions if a.change == "create"] == ["download"]
    ledger = {t.id: t.fingerprint for t in fanned(desired)}
    assert not diff(desired, replace(_world(desired), ledger=ledger)).has_changes


def test_tasks_no_longer_in_the_spec_are_deleted(desired: Desired) -> None:
    world = _world(desired)
    assert world.job is not None
    old = ObservedTask("t-gone", "completed", "x", 0, "success")
    world = replace(world, job=replace(world.job, tasks={**world.job.tasks, "t-gone": old}))
    plan = diff(desired, world)
    assert plan.has_changes
    deletes = [a for a in plan.actions if a.change == "delete"]
    assert [(a.kind, list(a.ids)) for a in deletes] == [("tasks", ["t-gone"])]
    assert "- 1 task in j  (not in the spec)" in render_plan(plan)
    assert "1 to delete" in render_plan(plan)


MERGED = (
    MINIMAL
    + "  merge: {id: m, command: cat *.out, resource_files: [{container: output}]}\n"
    + "download: [{container: output, to: out}]\n"
)


def _done_earlier(d: Desired, *ids: str) -> dict[str, str]:
    by_id = {t.id: t.fingerprint for t in all_tasks(d)}
    return {i: by_id[i] for i in ids}


def _changes(plan: Plan) -> dict[str, tuple[str, str]]:
    """Task id -> (change, reason), over the plan's task and merge actions."""
    return {i: (a.change, a.reason) for a in plan.of(TasksAction) for i in a.ids}


def _containers(d: Desired, *keys: str) -> dict[str, ObservedContainer]:
    return {d.container(k).name: ObservedContainer(d.container(k).name) for k in keys}


def test_after_the_job_was_deleted_the_merge_waits_only_on_tasks_in_the_new_job(
    tmp_path: Path,
) -> None:
    d = render(load_spec(write_spec(tmp_path, MERGED)))
    # t-b failed, clean-up kept the containers and deleted the job; t-a is in the ledger
    world = Observed(
        containers=_containers(d, "input", "output", "logs"),
        ledger=_done_earlier(d, "t-a"),
    )
    plan = diff(d, world)
    assert _changes(plan) == {
        "t-a": ("noop", "done earlier"),
        "t-b": ("create", "missing"),
        "m": ("create", "missing"),
    }
    assert tasks_in_job(plan) == {"t-b", "m"}
    assert submitted_dependencies(all_tasks(d), tasks_in_job(plan)) == {"m": ("t-b",)}
    assert "waiting on the 1 in the job (the others are done)" in render_plan(plan)


def test_outputs_of_done_tasks_come_back_from_the_kept_copy(tmp_path: Path) -> None:
    d = render(load_spec(write_spec(tmp_path, MERGED)))
    output = d.container("output").name
    kept = KeptCopy(
        output,
        {"a.out": ObservedBlob("a.out", 2, "x"), "b.out": ObservedBlob("b.out", 4, "y")},
        prefixes=("",),
        tasks=_done_earlier(d, "t-a", "t-b"),
    )
    # t-b's input changed; clean-up deleted every container and the job
    step = d.job.step("tasks")
    tasks = (step.tasks[0], replace(step.tasks[1], fingerprint="new"))
    changed = replace(d, job=replace(d.job, steps=(replace(step, tasks=tasks), *d.job.steps[1:])))
    world = Observed(ledger=_done_earlier(d, "t-a", "t-b", "m"), kept={output: kept})
    plan = diff(changed, world)
    assert [(a.kind, a.id, a.count) for a in plan.actions if a.kind == "restore"] == [
        ("restore", "output", 2)
    ]
    runs = {i for i, (change, _) in _changes(plan).items() if change != "noop"}
    assert runs == {"t-b", "m"}  # t-a's outputs are in the copy: it does not run
    # without the copy, t-a runs again so that the merge sees its outputs
    plan = diff(changed, replace(world, kept={}))
    assert [list(a.ids) for a in plan.actions if a.reason == "outputs gone"] == [["t-a"]]
    assert not any(a.kind == "restore" for a in plan.actions)


def test_a_missing_result_is_downloaded_from_the_kept_copy_or_made_again(tmp_path: Path) -> None:
    d = render(load_spec(write_spec(tmp_path, MERGED)))
    output = d.container("output").name
    (download,) = d.downloads
    kept = KeptCopy(output, {}, prefixes=("",), tasks=_done_earlier(d, "t-a", "t-b"))
    world = Observed(
        ledger=_done_earlier(d, "t-a", "t-b", "m"),
        downloads={downloads_key(download): "missing locally"},
        kept={output: kept},
    )
    plan = diff(d, world)
    assert plan.has_changes
    assert [(a.kind, a.reason, a.source) for a in plan.actions if a.change != "noop"] == [
        ("download", "missing locally", "kept")
    ]
    assert "(missing locally; from the copy kept in BWF_HOME)" in render_plan(plan)
    # no copy: the tasks that write to the container run again
    plan = diff(d, replace(world, kept={}))
    assert {i: reason for i, (_, reason) in _changes(plan).items()} == {
        "t-a": "outputs gone",
        "t-b": "outputs gone",
        "m": "inputs re-run",  # it writes nothing there, but waits on them
    }
    # in place: no changes
    assert not diff(d, replace(world, downloads={})).has_changes


def test_a_task_left_waiting_on_a_task_outside_the_job_is_created_again(tmp_path: Path) -> None:
    d = render(load_spec(write_spec(tmp_path, MERGED)))
    assert merge_of(d) is not None
    world = _world(d)
    assert world.job is not None
    stuck = ObservedTask("m", "active", merge_of(d).fingerprint, depends_on=("t-a", "t-old"))
    world = replace(
        world,
        job=replace(world.job, uses_task_dependencies=True, tasks={**world.job.tasks, "m": stuck}),
        ledger=_done_earlier(d, "t-a", "t-b"),
    )
    (merge,) = [a for a in diff(d, world).of(TasksAction) if a.step == "merge"]
    assert (merge.change, merge.reason) == ("replace", "waits on a task not in the job")
