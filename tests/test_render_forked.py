"""A big fan-out rendered on two cores (`runner.forked`) plans exactly as one
process does: the same text and JSON, the same located errors (the first in input
order, wherever it lies), the same bounds on templates; a child that dies is an error,
never a wait; a process running threads does not fork.

Each `bwf` runs in a process of its own (a fork is only made from a process running no
other thread), with the fork threshold lowered so that a few hundred inputs fork."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner import forked
from tests.helpers import STEPS_HEAD, write_spec
from tests.run_cli import Result, bwf_env

ITEMS = 300

# argv: FORK_FROM, the forks whose children kill themselves ("rendering", "writing" or
# "-"), then bwf's arguments; reports the forks made (rendering, writing) on stderr
DRIVER = """
import os, signal, sys
from runner import forked
forked.FORK_FROM = int(sys.argv[1])
made = []
start = forked.Child.__init__
def counted(self, work, what):
    def killed():
        os.kill(os.getpid(), signal.SIGKILL)
    made.append(what.split()[0])
    start(self, killed if what.startswith(sys.argv[2]) else work, what)
forked.Child.__init__ = counted
from runner.cli import main
try:
    main(sys.argv[3:])
finally:
    sys.stdout.flush()
    print(f"forks: {made.count('rendering')} {made.count('writing')}", file=sys.stderr)
"""

SPEC = (
    STEPS_HEAD
    + """\
  steps:
    split:
      for_each: {container: input}
      id: "s-{{ item.stem }}"
      command: COMMAND
      resource_files: [item]
      outputs: [{pattern: part.txt, container: output, path: "parts/{{ task.id }}.txt"}]
      env: {SIZE: "{{ item.size }}"}
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
      command: echo {{ task_ids | length }}
"""
)

PLAIN = "cut -c1-{{ vars.n }} {{ item.name }} > part.txt"


def _spec(tmp_path: Path, command: str = PLAIN, names: list[str] | None = None) -> Path:
    names = names or [f"in{i:04d}" for i in range(ITEMS)]
    files = {f"data/{n}.txt": f"{i} text\n" for i, n in enumerate(names)}
    return write_spec(tmp_path, SPEC.replace("COMMAND", command), files)


def _bwf(home: Path, fork_from: int, *args: str, kill: str = "-") -> tuple[Result, list[int]]:
    """`bwf ARGS` in a process of its own, and how many children it forked to render
    tasks and to write JSON."""
    run = [sys.executable, "-c", DRIVER, str(fork_from), kill, *args]
    done = subprocess.run(run, capture_output=True, text=True, env=bwf_env(home), timeout=120)
    err, _, forks = done.stderr.rstrip("\n").rpartition("\n")
    assert forks.startswith("forks: "), done.stderr
    return Result(done.returncode, done.stdout, err), [int(n) for n in forks.split()[1:]]


def _both(tmp_path: Path, spec: Path, *args: str, forks: list[int]) -> tuple[Result, Result]:
    """The same command in one process and with forked children (asserting how many)."""
    home = tmp_path / "home"
    serial, made = _bwf(home, 10**9, *args, str(spec))
    assert made == [0, 0]
    split, made = _bwf(home, 16, *args, str(spec))
    assert made == forks
    return serial, split


@pytest.mark.parametrize("as_json", [False, True])
def test_a_forked_plan_is_the_same_text_and_json(tmp_path: Path, as_json: bool) -> None:
    spec = _spec(tmp_path)
    json_flag = ["--json"] if as_json else []
    # `split` and the chain `count` fork to render; to write JSON, the uploads of
    # `input` and the tasks of both steps
    forks = [2, 3 if as_json else 0]
    serial, split = _both(tmp_path, spec, "plan", "--offline", *json_flag, forks=forks)
    assert serial.code == 0, serial.err
    assert split == serial
    if as_json:
        tasks = json.loads(split.out)["desired"]["job"]["steps"][0]["tasks"]
        assert len(tasks) == ITEMS and len({t["fingerprint"] for t in tasks}) == ITEMS


@pytest.mark.parametrize(
    ("command", "forks"),
    [
        # one item of the child's part fails: its error, located, as one process gives it
        ("echo {{ 1 // (item.index - 250) }}", 1),
        # items of both parts fail: the first in input order is reported
        ("echo {{ 1 // (item.index % 100 - 42) }}", 1),
        # an undefined name for one item of the child's part
        ("echo {{ item.name if item.index != 260 else item.nothing }}", 1),
        # a template bomb in the child's part is stopped as in one process
        ("echo {% if item.index == 270 %}{{ 'x' * 10**9 }}{% endif %}", 1),
        (
            "echo {% if item.index == 270 %}{% for i in range(10**5) %}"
            "{% for j in range(10**5) %}{% endfor %}{% endfor %}{% endif %}",
            1,
        ),
        # a command over Batch's limit for one task of the child's part (measured once
        # the tasks are rendered: the next step forks too)
        ("echo {{ 'x' * (9000 if item.index == 280 else 1) }}", 2),
    ],
)
def test_errors_from_a_forked_part_are_those_of_one_process(
    tmp_path: Path, command: str, forks: int
) -> None:
    spec = _spec(tmp_path, command)
    # a step after one with a problem is rendered in one process, for its problems
    serial, split = _both(tmp_path, spec, "plan", "--offline", forks=[forks, 0])
    assert serial.code == 2 and serial.err.startswith(f"{spec}:"), serial.err
    assert split == serial


def test_an_invalid_id_in_a_forked_part_is_counted_as_in_one_process(tmp_path: Path) -> None:
    names = [f"in{i:04d}" for i in range(ITEMS)]
    names[290] = "in bad"  # a space: not a valid Batch ID
    names[291] = "IN0003"  # the same ID as in0003, ignoring case
    spec = _spec(tmp_path, names=names)
    serial, split = _both(tmp_path, spec, "plan", "--offline", forks=[1, 0])
    assert serial.code == 2 and "is not valid" in serial.err and "collide" not in serial.err
    assert "rendered for 2 items" in serial.err
    assert split == serial


def test_a_child_that_dies_is_an_error_not_a_wait(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    plan = ("plan", "--offline", str(spec))
    result, forks = _bwf(tmp_path / "home", 16, *plan, kill="rendering")
    assert forks == [1, 0]
    assert result.code == 1 and result.out == ""
    assert result.err == (
        "the process rendering tasks 169 to 300 of step 'split' was killed by signal 9 "
        "(SIGKILL) before it sent them; plan again"
    )
    result, forks = _bwf(tmp_path / "home", 16, *plan, "--json", kill="writing")
    assert forks == [2, 1]
    assert result.code == 1 and result.err == (
        "the process writing items 109 to 300 of a list of the JSON plan was killed by "
        "signal 9 (SIGKILL) before it sent them; plan again"
    )


def test_a_process_running_threads_renders_in_one_process() -> None:
    if threading.active_count() == 1 and forked.cores() > 1:
        assert forked.split_point(10**6) is not None
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert forked.split_point(10**6) is None
    finally:
        stop.set()
        other.join()
    assert forked.split_point(forked.FORK_FROM - 1) is None
