"""The `bwf` process ends without freeing its memory first (runner.exiting), and loses
nothing by it: output written to a pipe arrives whole, exit codes and exit handlers are
kept, a thread still working is waited for, a closed pipe is reported as Python reports
it. Each case runs a process of its own, as `bwf` is run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import MINIMAL, write_spec

ROOT = Path(__file__).resolve().parent.parent


def python(code: str, tmp_path: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BWF_HOME": str(tmp_path / "home")}
    env.pop("PYTHONUNBUFFERED", None)  # output buffered, as where bwf usually runs
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


def test_output_left_in_buffers_arrives_and_the_code_is_kept(tmp_path: Path) -> None:
    # piped stdout is block-buffered: 100,000 lines, most of them still in the buffer
    code = (
        "import sys\n"
        "from runner import exiting\n"
        "exiting.begin()\n"
        "for i in range(100_000): print(f'line {i}')\n"
        "sys.stderr.write('no newline at the end')\n"
        "exiting.end(SystemExit(3))\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 100_000 and lines[-1] == "line 99999"
    assert done.stderr == "no newline at the end"


def test_exit_handlers_run_and_a_working_thread_is_waited_for(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    code = (
        "import atexit, threading, time\n"
        "from runner import exiting\n"
        f"marks = {str(marks)!r}\n"
        "def mark(what):\n"
        "    with open(marks, 'a') as f: f.write(what + '\\n')\n"
        "atexit.register(mark, 'exit handler')\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), mark('thread done'))).start()\n"
        "exiting.begin()\n"
        "exiting.end(SystemExit(None))\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    # Python's own exit: the thread first, then the exit handlers
    assert marks.read_text().splitlines() == ["thread done", "exit handler"]
    # and with no thread left: the exit handlers still run
    marks.unlink()
    done = python(
        code.replace("threading.Thread", "(lambda **_: None) or threading.Thread"), tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert marks.read_text().splitlines() == ["exit handler"]


def test_a_message_as_the_exit_is_printed_as_python_prints_it(tmp_path: Path) -> None:
    code = "from runner import exiting\nexiting.begin()\nexiting.end(SystemExit('gone wrong'))\n"
    done = python(code, tmp_path)
    assert done.returncode == 1 and done.stderr == "gone wrong\n"


def test_leave_keeps_nothing_in_a_process_that_does_not_end_through_it(tmp_path: Path) -> None:
    # tests call runner.cli.main in their own process: no object kept, no freeze
    code = (
        "import gc\n"
        "from runner import exiting\n"
        "exiting.leave([object() for _ in range(1000)])\n"
        "assert exiting._left == [] and gc.get_freeze_count() == 0\n"
        "exiting.begin()\n"
        "exiting.leave([object() for _ in range(1000)])\n"
        "assert len(exiting._left) == 1 and gc.get_freeze_count() > 1000\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr


def test_bwf_plan_through_a_pipe_gives_its_whole_output_and_exit_code(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    env = {**os.environ, "BWF_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "runner", "plan", str(spec), "--offline"]
    done = subprocess.run(
        [*command, "--detailed-exitcode"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2, done.stderr  # changes
    assert done.stdout.rstrip().splitlines()[-1].startswith("Plan: "), done.stdout
    # a reader that has gone: exit 1 and no traceback, as before bwf ended this way
    r, w = os.pipe()
    os.close(r)
    try:
        gone = subprocess.run(command, stdout=w, stderr=subprocess.PIPE, env=env, timeout=60)
    finally:
        os.close(w)
    assert gone.returncode == 1 and b"Traceback" not in gone.stderr, gone.stderr
