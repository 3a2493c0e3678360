"""Supervisors serve one task after another (`runner/localbatch/nursery.py`): a task
costs no fork and no fresh process's copy-on-write faults. What a task leaves running
still dies with it, and a signal meant for a task that has ended never reaches the task
its supervisor serves next."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from runner.localbatch.nodes import Process


def _run(tmp_path: Path, name: str, command: str) -> Process:
    task_dir = tmp_path / name
    env = {"PATH": os.environ.get("PATH", os.defpath)}
    return Process(f"/bin/sh -c '{command}'", task_dir, env)


def test_a_late_signal_for_an_ended_task_never_reaches_the_next(tmp_path: Path) -> None:
    reused = 0
    for i in range(12):
        first = _run(tmp_path, f"a{i}", "exit 3")
        assert first.wait(30) == 3  # its status is let go of: its supervisor may serve again
        second = _run(tmp_path, f"b{i}", "sleep 0.1; exit 4")
        first.terminate()  # too late for the first task: nothing is signalled
        first.end()
        assert second.wait(30) == 4, "the next task was killed by the signal for the last"
        reused += second.pid == first.pid
    assert reused, "no supervisor served the next task"


def test_a_served_supervisor_still_ends_what_its_task_left(tmp_path: Path) -> None:
    marker = f"bwf-left-{uuid.uuid4().hex}"
    for i in range(4):
        leaver = _run(tmp_path, f"l{i}", f"(setsid sleep 1000 {marker} &); sleep 0.05; exit 0")
        assert leaver.wait(30) == 0
        left = [
            p
            for p in os.listdir("/proc")
            if p.isdigit() and _cmdline(p).endswith(f"sleep\0{'1000'}\0{marker}\0")
        ]
        assert left == [], f"task {i} left {left} running"


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""
