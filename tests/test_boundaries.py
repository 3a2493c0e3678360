"""The last valid value of each rule bwf checks before sending anything. The first
invalid value of each is a case of the invalid corpus (tests/invalid/), named here."""

from __future__ import annotations

from pathlib import Path

from runner import limits, shell
from runner.pipeline import desired_state
from tests.helpers import MINIMAL, fanned, merge_of, write_spec


def test_the_longest_command_line(tmp_path: Path) -> None:
    """command_first_too_long.yaml has one more x: 8,192 characters."""
    n = limits.COMMAND_LINE_MAX - (len(shell.wrap(["echo x"])) - 1)
    text = MINIMAL.replace("cat {{ item.name }}", f"echo {{{{ 'x' * {n} }}}}")
    desired = desired_state(write_spec(tmp_path, text))
    assert n == 8143
    assert [len(t.command_line) for t in fanned(desired)] == [8191, 8191]


def test_the_longest_start_task_command_line(tmp_path: Path) -> None:
    """commands_too_long_outside_the_fan_out.yaml has one more x: 8,192 characters."""
    n = limits.COMMAND_LINE_MAX - (len(shell.wrap(["echo x"])) - 1)
    start_task = f"  start_task: {{commands: [\"echo {{{{ 'x' * {n} }}}}\"]}}\n"
    text = MINIMAL.replace("  image: ubuntu-22.04\n", "  image: ubuntu-22.04\n" + start_task)
    desired = desired_state(write_spec(tmp_path, text))
    assert desired.pool.start_task is not None
    assert len(desired.pool.start_task.command_line) == 8191


def test_the_longest_ids(tmp_path: Path) -> None:
    """job_id_too_long.yaml and task_id_too_long_after_render.yaml have 65 characters."""
    text = (
        MINIMAL.replace("  id: p\n", f"  id: {'P' * 64}\n")
        .replace("  id: j\n", f"  id: {'j' * 64}\n  merge: {{id: {'m' * 64}, command: echo}}\n")
        .replace('"t-{{ item.stem }}"', f'"{"t" * 62}-{{{{ item.stem }}}}"')
    )
    desired = desired_state(write_spec(tmp_path, text))
    assert len(desired.pool.id) == len(desired.job.id) == 64
    merge = merge_of(desired)
    assert merge is not None and len(merge.id) == 64
    assert {len(t.id) for t in fanned(desired)} == {64}


def test_ids_that_differ_in_more_than_case(tmp_path: Path) -> None:
    """task_ids_collide_ignoring_case.yaml: t-A and t-a collide; t-A and t-b do not."""
    text = (
        MINIMAL.replace("{container: input}", "{values: [A, b]}")
        .replace('"t-{{ item.stem }}"', '"t-{{ item }}"')
        .replace("    resource_files: [item]\n", "")
        .replace("cat {{ item.name }}", "echo {{ item }}")
        .replace("  tasks:\n", "  merge: {id: T-c, command: echo}\n  tasks:\n")
    )
    desired = desired_state(write_spec(tmp_path, text))
    assert [t.id for t in fanned(desired)] == ["t-A", "t-b"]


def test_the_shortest_and_longest_container_names(tmp_path: Path) -> None:
    """container_name_short.yaml (2), container_name_too_long.yaml (64) and
    container_name_default_first_too_long.yaml (64, from the workflow and key names)."""
    text = (
        MINIMAL.replace("name: t\n", f"name: {'w' * 40}\n")
        .replace("    input: {upload", "    input: {name: abc, upload")
        .replace("    output: {}\n", f"    output: {{name: {'a' * 63}}}\n    {'k' * 22}: {{}}\n")
    )
    desired = desired_state(write_spec(tmp_path, text))
    names = [c.name for c in desired.containers]
    assert names[:3] == ["abc", "a" * 63, f"{'w' * 40}-{'k' * 22}"]


def test_the_longest_blob_name(tmp_path: Path) -> None:
    """blob_name_first_too_long.yaml has a prefix one character longer: 1,025."""
    prefix = "p" * 1018 + "/"
    text = MINIMAL.replace(
        '{upload: ["data/*.txt"]}', f'{{upload: [{{path: "data/a.txt", prefix: "{prefix}"}}]}}'
    )
    desired = desired_state(write_spec(tmp_path, text))
    assert [len(u.blob) for u in desired.container("input").uploads] == [1024]


def test_the_longest_merge_id_with_barrier_tasks(tmp_path: Path) -> None:
    """merge_barrier_id_too_long.yaml has a 55-character merge ID: its barrier tasks'
    IDs would have 65 characters; with 54 they have 64."""
    text = (
        MINIMAL.replace("{container: input}", "{range: {start: 0, stop: 1100}}")
        .replace('"t-{{ item.stem }}"', f'"{"t" * 55}-{{{{ item }}}}"')
        .replace("    resource_files: [item]\n", "")
        .replace("cat {{ item.name }}", "echo {{ item }}")
        .replace("  tasks:\n", f"  merge: {{id: {'m' * 54}, command: echo}}\n  tasks:\n")
    )
    desired = desired_state(write_spec(tmp_path, text))
    assert [len(b.id) for b in desired.job.step("merge").barriers] == [64, 64]
