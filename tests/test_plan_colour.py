"""The text plan for people: markers in colour on a terminal (off when the output is not
one, or NO_COLOR is set), and counted nouns that agree with their numbers."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from runner.load import load_spec
from runner.plan import diff
from runner.plan_colour import print_plan
from runner.render import render
from runner.show import render_plan
from runner.state import Observed, ObservedContainer, ObservedPool
from tests.helpers import MINIMAL, write_spec
from tests.run_cli import bwf

GREEN, YELLOW, RED = "\x1b[32m", "\x1b[33m", "\x1b[31m"


def _terminal(text: str) -> str:
    """`text` printed by print_plan on a (pretend) colour terminal."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=300)
    print_plan(text, console)
    return out.getvalue()


def _resized_plan(tmp_path: Path) -> str:
    """A plan with a container to create, uploads into an existing one, and a pool resize."""
    desired = render(load_spec(write_spec(tmp_path)))
    p = desired.pool
    pool = ObservedPool(
        p.id,
        "active",
        "steady",
        p.vm_size,
        p.publisher,
        p.offer,
        p.sku,
        p.version,
        p.node_agent_sku,
        3,
        0,
        p.task_slots_per_node,
        p.fingerprint,
    )
    inputs = desired.container("input").name
    return render_plan(diff(desired, Observed({inputs: ObservedContainer(inputs)}, pool)))


def test_markers_are_coloured_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = _resized_plan(tmp_path)
    assert "    + container" in text and "    ~ pool" in text and "    ~ container" in text
    shown = _terminal(text)
    assert f"    {GREEN}+\x1b[0m container" in shown
    assert f"    {YELLOW}~\x1b[0m pool" in shown
    deleted = _terminal("    - 2 tasks in j  (not in the spec)\n  -/+ pool p\n")
    assert f"{RED}-\x1b[0m 2 tasks" in deleted
    assert f"  {RED}-\x1b[0m/{GREEN}+\x1b[0m pool" in deleted
    # the words are the same as without colour
    assert "\x1b" not in text and shown.replace(GREEN, "").count("container") == text.count(
        "container"
    )


def test_no_colour_with_no_color_or_without_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _resized_plan(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[3" not in _terminal(text)
    monkeypatch.delenv("NO_COLOR")
    spec = write_spec(tmp_path)
    piped = bwf("plan", "--offline", str(spec))  # standard output is not a terminal here
    assert piped.code == 0 and "+ container" in piped.out and "\x1b" not in piped.out


def test_counted_nouns_agree_with_their_numbers(tmp_path: Path) -> None:
    one = MINIMAL.replace("    output: {}\n", "").replace(
        '    outputs: [{pattern: "*.out", container: output}]\n', ""
    )
    spec = write_spec(tmp_path, one, {"data/a.txt": "a\n"})
    text = bwf("plan", "--offline", str(spec)).out
    assert "upload 1 blob (2 B)" in text and "1 slot per node" in text
    assert "step tasks: 1 task, one per blob of input\n    +   1 task\n" in text
    assert "Plan: 2 containers, 1 upload (2 B), 1 pool, 1 job, 1 of 1 task to run;" in text
    other = tmp_path / "resized"
    other.mkdir()
    assert "Plan: 2 containers, 2 uploads (6 B), 0 pools, 1 job, " in _resized_plan(other)


def test_the_plan_counts_the_merge_like_apply_does(tmp_path: Path) -> None:
    merged = MINIMAL + "  merge: {id: all, command: 'true'}\n"
    desired = render(load_spec(write_spec(tmp_path, merged)))
    text = render_plan(diff(desired, Observed.empty()))
    assert "3 of 3 tasks to run" in text  # two inputs and the merge: apply adds 3 tasks
    done = diff(
        replace(desired),
        Observed(ledger={t.id: t.fingerprint for t in desired.job.step("tasks").tasks}),
    )
    assert "1 of 3 tasks to run" in render_plan(done)
