"""Multi-step jobs without a service: loading and ordering steps, rendering chains and
fan-ins, fingerprints that follow the DAG, barriers for big fan-ins, the plan per step,
and the per-step progress line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runner import limits, stepgraph
from runner.actions import TasksAction
from runner.errors import SpecError
from runner.load import load_spec
from runner.plan import diff
from runner.plan_json import to_json
from runner.render import render
from runner.show import render_plan
from runner.state import (
    Desired,
    DesiredTask,
    Observed,
    ObservedContainer,
    ObservedJob,
    ObservedTask,
)
from runner.stepcounts import StepCount, line
from tests.helpers import STEPS_HEAD, write_spec

PIPELINE = (
    STEPS_HEAD
    + """\
  steps:
    split:
      for_each: {container: input}
      id: "s-{{ item.stem }}"
      command: cut -c1-{{ vars.n }} {{ item.name }} > part.txt
      resource_files: [item]
      outputs: [{pattern: part.txt, container: output, path: "parts/{{ task.id }}.txt"}]
    count:
      for_each: {step: split}
      id: "c-{{ item.stem }}"
      command: wc -c {{ upstream.id }}.txt > {{ item.stem }}.n
      resource_files:
        - {container: output, blob: "parts/{{ upstream.id }}.txt", path: "{{ upstream.id }}.txt"}
      outputs: [{pattern: "*.n", container: output, path: counts/}]
    total:
      needs: [count]
      id: total
      command: cat counts/*.n > total.txt; echo {{ steps.count.task_ids | join(',') }} {{ items | length }}
      resource_files: [{container: output, prefix: counts/}]
      outputs: [{pattern: total.txt, container: output}]
"""
)
FILES = {"data/a.txt": "alpha\n", "data/b.txt": "beta\n", "data/c.txt": "gamma\n"}


def rendered(tmp_path: Path, text: str = PIPELINE, files: dict[str, str] | None = None) -> Desired:
    return render(load_spec(write_spec(tmp_path, text, files if files is not None else FILES)))


def by_id(d: Desired) -> dict[str, DesiredTask]:
    return {t.id: t for t in d.job.all_tasks}


def test_a_chain_waits_on_its_own_upstream_task_and_a_fan_in_on_all(tmp_path: Path) -> None:
    d = rendered(tmp_path)
    assert [s.name for s in d.job.steps] == ["split", "count", "total"]
    tasks = by_id(d)
    assert [t.depends_on for t in d.job.step("split").tasks] == [(), (), ()]
    assert [t.depends_on for t in d.job.step("count").tasks] == [("s-a",), ("s-b",), ("s-c",)]
    assert tasks["total"].depends_on == ("c-a", "c-b", "c-c")
    assert d.job.uses_task_dependencies
    # the chain sees its upstream task and item; task.id names the task's own output
    count_b = tasks["c-b"]
    assert "wc -c s-b.txt > b.n" in count_b.command_line
    assert count_b.resource_files[0].blob == "parts/s-b.txt"
    assert tasks["s-b"].outputs[0].path == "parts/s-b.txt"
    # the fan-in sees the steps above it (and `items`, `task_ids` of the one it needs)
    assert "echo c-a,c-b,c-c 3" in tasks["total"].command_line


def test_steps_run_after_what_they_wait_on_whatever_the_order_written(tmp_path: Path) -> None:
    reordered = PIPELINE.replace(
        "  steps:\n",
        "  steps:\n    first:\n      id: first\n      command: echo first\n      needs: [total]\n",
    )
    d = rendered(tmp_path, reordered)
    assert [s.name for s in d.job.steps] == ["split", "count", "total", "first"]
    assert [t.id for t in d.job.all_tasks][-2:] == ["total", "first"]


SUGAR = (
    STEPS_HEAD
    + """\
  tasks:
    for_each: {container: input}
    id: "t-{{ item.stem }}"
    command: wc -c {{ item.name }} > {{ item.stem }}.n
    resource_files: [item]
    outputs: [{pattern: "*.n", container: output}]
  merge:
    id: m
    command: cat *.n > all.txt; echo {{ task_ids | join(',') }}
    resource_files: [{container: output}]
    outputs: [{pattern: all.txt, container: output}]
    on_failure: ON_FAILURE
"""
)
STEPS = (
    STEPS_HEAD
    + """\
  steps:
    tasks:
      for_each: {container: input}
      id: "t-{{ item.stem }}"
      command: wc -c {{ item.name }} > {{ item.stem }}.n
      resource_files: [item]
      outputs: [{pattern: "*.n", container: output}]
    merge:
      needs: [tasks]
      id: m
      command: cat *.n > all.txt; echo {{ steps.tasks.task_ids | join(',') }}
      resource_files: [{container: output}]
      outputs: [{pattern: all.txt, container: output}]
      on_failure: ON_FAILURE
"""
)


@pytest.mark.parametrize("on_failure", ["block", "run_anyway"])
@pytest.mark.parametrize("max_chars", [limits.DEPENDS_ON_MAX_CHARS, 7])
def test_tasks_and_merge_render_the_same_tasks_as_the_two_steps_they_stand_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_failure: str, max_chars: int
) -> None:
    monkeypatch.setattr(limits, "DEPENDS_ON_MAX_CHARS", max_chars)  # 7: one barrier per task
    (tmp_path / "sugar").mkdir()
    (tmp_path / "steps").mkdir()
    sugar = rendered(tmp_path / "sugar", SUGAR.replace("ON_FAILURE", on_failure))
    steps = rendered(tmp_path / "steps", STEPS.replace("ON_FAILURE", on_failure))
    assert sugar.job.steps == steps.job.steps  # tasks, barriers, fingerprints, everything
    assert len(sugar.job.all_tasks) == (4 if max_chars > 7 else 6)  # t-a,t-b | t-c
    merge = sugar.job.step("merge").tasks[0]
    assert "echo t-a,t-b,t-c" in merge.command_line
    satisfy = on_failure == "run_anyway"
    assert all(
        (t.on_dependency_failure == "satisfy") == satisfy for t in sugar.job.step("tasks").tasks
    )


def fingerprints(d: Desired) -> dict[str, str]:
    return {t.id: t.fingerprint for t in d.job.all_tasks}


def changed(before: Desired, after: Desired) -> set[str]:
    old = fingerprints(before)
    return {i for i, f in fingerprints(after).items() if old.get(i) != f}


def test_fingerprints_follow_the_dag(tmp_path: Path) -> None:
    first = rendered(tmp_path)
    (tmp_path / "data" / "b.txt").write_text("BETA\n")
    assert changed(first, rendered(tmp_path, files={})) == {"s-b", "c-b", "total"}
    middle = PIPELINE.replace("wc -c {{ upstream.id }}.txt", "wc -m {{ upstream.id }}.txt")
    second = rendered(tmp_path, files={})
    assert changed(second, rendered(tmp_path, middle, files={})) == {"c-a", "c-b", "c-c", "total"}


def test_a_big_fan_in_waits_on_barriers_and_a_chain_keeps_room_for_its_upstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DEPENDS_ON_MAX_CHARS", 80)
    text = (
        STEPS_HEAD
        + """\
  steps:
    gen:
      for_each: {range: {stop: 30}}
      id: "g-{{ item }}"
      command: echo {{ item }}
    each:
      for_each: {range: {stop: 2}}
      needs: [gen]
      id: "e-{{ item }}"
      command: echo {{ item }}
    after:
      for_each: {step: each}
      needs: [gen]
      id: "a-{{ item }}"
      command: echo {{ upstream.id }}
"""
    )
    d = rendered(tmp_path, text)
    each, after = d.job.step("each"), d.job.step("after")
    assert each.barriers and after.barriers
    covered = [i for b in each.barriers for i in b.depends_on]
    assert covered == [t.id for t in d.job.step("gen").tasks]
    assert [t.depends_on for t in each.tasks] == [tuple(b.id for b in each.barriers)] * 2
    assert [b.id for b in each.barriers][:2] == ["each-barrier-0", "each-barrier-1"]
    # 80 characters leave 80 - 64 = 16 for a chained task's `needs`
    assert all(sum(map(len, b.depends_on)) <= 16 for b in after.barriers)
    assert after.tasks[1].depends_on == ("e-1", *(b.id for b in after.barriers))
    ids = [t.id for t in d.job.all_tasks]
    assert ids.index("each-barrier-0") < ids.index("e-0") < ids.index("a-0")


def test_every_barrier_id_of_every_step_is_a_batch_id_unique_ignoring_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Barrier tasks are tasks of the job: their IDs (named after the step, or after the
    task of a one-task step) are checked like rendered ones, located at the step's `id`."""
    monkeypatch.setattr(limits, "DEPENDS_ON_MAX_CHARS", 80)  # gen's 30 IDs: 2 barriers
    text = (
        STEPS_HEAD
        + """\
  steps:
    gen:
      for_each: {range: {stop: 30}}
      id: "{% if item == 0 %}EACH-barrier-1{% else %}g-{{ item }}{% endif %}"
      command: echo {{ item }}
    each:
      for_each: {range: {stop: 2}}
      needs: [gen]
      id: "{% if item == 1 %}each-BARRIER-0{% else %}e-{{ item }}{% endif %}"
      command: echo {{ item }}
    fan_in:
      needs: [gen]
      id: "{{ 'f' * 55 }}"
      command: echo
    last:
      needs: [each]
      id: Each-Barrier-0
      command: echo
"""
    )
    with pytest.raises(SpecError) as e:
        rendered(tmp_path, text)
    # sorted by position, then by text
    f55 = "f" * 55
    assert [(p.loc.line, p.message) for p in e.value.problems] == [
        (
            19,
            "job.steps.each.id: barrier task ID 'each-barrier-1' is also rendered by step "
            "'gen' for 0 (IDs are case-insensitive)",
        ),
        (
            19,
            "job.steps.each.id: task ID 'each-barrier-0' is rendered for 2 items: "
            "a barrier task, 1 (IDs are case-insensitive)",
        ),
        (
            23,
            f"job.steps.fan_in.id: the step waits on 2 barrier tasks, and barrier task ID "
            f"'{f55}-barrier-0' is not valid: Batch IDs have at most 64 characters, this "
            "one has 65",
        ),
        (
            27,
            "job.steps.last.id: task ID 'Each-Barrier-0' is also a barrier task of step "
            "'each' (IDs are case-insensitive)",
        ),
    ]


def test_a_step_waited_on_only_by_run_anyway_steps_satisfies_them(tmp_path: Path) -> None:
    text = PIPELINE.replace(
        "      outputs: [{pattern: total.txt, container: output}]\n",
        "      outputs: [{pattern: total.txt, container: output}]\n      on_failure: run_anyway\n",
    ).replace(
        '      outputs: [{pattern: "*.n", container: output, path: counts/}]\n',
        '      outputs: [{pattern: "*.n", container: output, path: counts/}]\n      on_failure: run_anyway\n',
    )
    d = rendered(tmp_path, text)
    actions = {s.name: {t.on_dependency_failure for t in s.tasks} for s in d.job.steps}
    assert actions == {"split": {"satisfy"}, "count": {"satisfy"}, "total": {"block"}}


def test_the_plan_shows_a_block_per_step_and_says_why_tasks_run_again(tmp_path: Path) -> None:
    d = rendered(tmp_path)
    text = render_plan(diff(d, Observed.empty()))
    assert "      step split: 3 tasks, one per blob of input\n    +   3 tasks\n" in text
    assert "                 s-a: cut -c1-3 a.txt > part.txt\n" in text
    assert "      step count: 3 tasks, per item of split (on_failure: block)\n" in text
    assert "      step total: 1 task, after all of count (on_failure: block)\n" in text
    assert "3 of 7 tasks" not in text and "7 of 7 tasks to run" in text
    # b's text changed since every task was done (the job is gone, the ledger has them;
    # clean-up kept the containers)
    (tmp_path / "data" / "b.txt").write_text("BETA\n")
    edited = rendered(tmp_path, files={})
    kept = {c.name: ObservedContainer(c.name) for c in d.containers}
    plan = diff(edited, Observed(containers=kept, ledger=fingerprints(d)))
    runs = {(a.step, a.reason): a.ids for a in plan.of(TasksAction) if a.change != "noop"}
    assert runs == {
        ("split", "changed"): ("s-b",),
        ("count", "inputs re-run"): ("c-b",),
        ("total", "inputs re-run"): ("total",),
    }
    text = render_plan(plan)
    assert "    +   1 task  (changed)\n                 s-b: cut -c1-3 b.txt > part.txt\n" in text
    assert "        2 tasks  done earlier\n" in text
    assert (
        "step total: 1 task, after all of count, waiting on the 1 in the job (the others are "
        "done) (on_failure: block)" in text
    )
    assert "3 of 7 tasks to run" in text


def test_the_json_plan_lists_the_steps_with_their_dependencies(tmp_path: Path) -> None:
    data = to_json(diff(rendered(tmp_path), Observed.empty()))
    assert data["format_version"] == 2
    steps = {s["name"]: s for s in data["steps"]}
    assert list(steps) == ["split", "count", "total"]
    assert (steps["split"]["fan_out"], steps["split"]["over"], steps["split"]["tasks"]) == (
        "container",
        "input",
        3,
    )
    assert (steps["count"]["fan_out"], steps["count"]["chain"]) == ("step", "split")
    assert (steps["total"]["fan_out"], steps["total"]["needs"]) == ("single", ["count"])
    assert [s["to_run"] for s in data["steps"]] == [3, 3, 1]
    tasks = [a for a in data["actions"] if a["kind"] == "tasks"]
    assert [(a["details"]["step"], a["details"]["ids"]) for a in tasks] == [
        ("split", ["s-a", "s-b", "s-c"]),
        ("count", ["c-a", "c-b", "c-c"]),
        ("total", ["total"]),
    ]
    json.dumps(data)
    desired_steps = data["desired"]["job"]["steps"]
    assert [len(s["tasks"]) for s in desired_steps] == [3, 3, 1]


def test_the_step_graph_orders_and_finds_cycles() -> None:
    waits = {"c": ["b"], "a": [], "b": ["a"]}
    assert stepgraph.in_order(waits) == ["a", "b", "c"]
    assert stepgraph.cycle(waits) is None
    assert stepgraph.cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert stepgraph.cycle({"a": ["a"]}) == ["a", "a"]
    assert stepgraph.upstream_of("c", waits) == {"a", "b"}
    assert stepgraph.dependents(waits) == {"c": [], "a": ["b"], "b": ["c"]}


def test_the_progress_line_counts_per_step() -> None:
    counts = [
        StepCount("simulate", 6, succeeded=6),
        StepCount("analyse", 6, succeeded=4, running=2),
        StepCount("summary", 1, waiting=1),
    ]
    assert line(counts) == "simulate 6/6 ✓, analyse 4/6, summary waiting"
    counts = [
        StepCount("analyse", 6, succeeded=4, failed=1, blocked=1),
        StepCount("summary", 1, blocked=1),
    ]
    assert line(counts) == "analyse 4/6 (1 failed, 1 blocked), summary blocked"


def test_removing_a_step_is_a_plan_to_delete_its_tasks(tmp_path: Path) -> None:
    d = rendered(tmp_path)
    shorter = replace(d, job=replace(d.job, steps=d.job.steps[:2]))
    live = {
        t.id: ObservedTask(t.id, "completed", t.fingerprint, 0, "success") for t in d.job.all_tasks
    }
    world = Observed(job=ObservedJob("j", "active", "p", True, live))
    plan = diff(shorter, world)
    deletes = [a for a in plan.of(TasksAction) if a.change == "delete"]
    assert [(a.step, a.ids) for a in deletes] == [(None, ("total",))]


@pytest.mark.parametrize(("last_id", "barriers"), [("", False), ("z", True)])
def test_a_fan_in_waits_directly_on_up_to_batchs_64000_characters_of_task_ids(
    tmp_path: Path, last_id: str, barriers: bool
) -> None:
    """1,000 IDs of 64 characters are exactly Batch's limit; one character more is over it."""
    extra = 1 if last_id else 0
    text = (
        STEPS_HEAD
        + f"""\
  steps:
    gen:
      for_each: {{range: {{stop: {1000 + extra}}}}}
      id: "{{{{ '{last_id}' if item == 1000 else 't-%062d' | format(item) }}}}"
      command: echo {{{{ item }}}}
    total:
      needs: [gen]
      id: total
      command: echo done
"""
    )
    d = rendered(tmp_path, text)
    gen_ids = [t.id for t in d.job.step("gen").tasks]
    assert sum(map(len, gen_ids)) == limits.DEPENDS_ON_MAX_CHARS + extra == 64000 + extra
    total = by_id(d)["total"]
    if barriers:
        assert all("barrier" in dep for dep in total.depends_on)
    else:
        assert total.depends_on == tuple(gen_ids)
