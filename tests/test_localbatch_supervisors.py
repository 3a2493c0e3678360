"""Supervisors serve one task after another (`runner/localbatch/nursery.py`): a task
costs no fork and no fresh process's copy-on-write faults. What a task leaves running
still dies with it, and a signal meant for a task that has ended never reaches the task
its supervisor serves next."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

from runner.localbatch.nodes import Process
from tests import hostile


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


def test_a_task_signalled_again_and_again_still_ends_its_whole_tree(tmp_path: Path) -> None:
    """Removing a node terminates its runs, then ends every process under the node: two
    SIGTERMs in a row for one supervisor. One that came while the supervisor handled the
    last made it exit without ending the tree (seen in CI: a removed node's escaped
    processes lived on, re-parented to init)."""
    for i in range(100):
        marker = f"bwf-again-{uuid.uuid4().hex}"
        script = tmp_path / f"{marker}.sh"  # its path marks the processes that run it
        script.write_text("sleep 1000\n")
        sleeper = f"sh {script}"
        task = _run(tmp_path, f"s{i}", f"({sleeper} &); setsid {sleeper} & sleep 1000")
        deadline = time.monotonic() + 30
        while len(hostile.processes_with(marker)) < 3:  # the task's shell and its two escapees
            assert time.monotonic() < deadline, "the escapees did not start"
            time.sleep(0.01)
        ended = threading.Event()

        def again_and_again(task: Process = task, ended: threading.Event = ended) -> None:
            while not ended.is_set():  # until the supervisor is let go of, as the service does
                task.terminate()
                time.sleep(0.00005)

        signaller = threading.Thread(target=again_and_again)
        signaller.start()
        try:
            task.wait(30)
        finally:
            ended.set()
            signaller.join()
        deadline = time.monotonic() + 10
        while left := hostile.processes_with(marker):
            if time.monotonic() >= deadline:
                _kill_with_children(list(left))  # not left for later tests to meet
                raise AssertionError(f"round {i}: {left} outlived their task")
            time.sleep(0.05)


def test_what_a_start_task_left_ends_when_signalled_again_and_again(tmp_path: Path) -> None:
    """The same for a start task (its tree lives on after it exits, until its node goes):
    terminated twice in a row when its node is removed, it still ends that tree."""
    for i in range(60):
        marker = f"bwf-kept-{uuid.uuid4().hex}"
        script = tmp_path / f"{marker}.sh"
        script.write_text("sleep 1000\n")
        command = f"/bin/sh -c '(sh {script} &); setsid sh {script} & exit 0'"
        env = {"PATH": os.environ.get("PATH", os.defpath)}
        start = Process(command, tmp_path / f"k{i}", env, keep_tree=True)
        assert start.wait(30) == 0  # reported when it exits; what it left runs on
        deadline = time.monotonic() + 30
        while len(hostile.processes_with(marker)) < 2:
            assert time.monotonic() < deadline, "the escapees did not start"
            time.sleep(0.01)
        for _ in range(200):  # as the node's removal does: terminate, then end
            start.terminate()
            time.sleep(0.00005)
        start.end()
        deadline = time.monotonic() + 10
        while left := hostile.processes_with(marker):
            if time.monotonic() >= deadline:
                _kill_with_children(list(left))
                raise AssertionError(f"round {i}: {left} outlived their node")
            time.sleep(0.05)


def _kill_with_children(pids: list[int]) -> None:
    for name in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        if name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) in pids:
            pids.append(int(name))
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
