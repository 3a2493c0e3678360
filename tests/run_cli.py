"""Run `bwf` through its real entry point, `runner.cli.main`, in this process or in a
subprocess: exit codes and messages are exactly what a user sees."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def bwf(*args: str) -> Result:
    """`bwf ARGS` in this process (the environment's BWF_HOME), through `main`."""
    from runner.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def bwf_env(home: Path) -> dict[str, str]:
    """The environment of a `bwf` subprocess using `home` as BWF_HOME, output unbuffered."""
    return {**os.environ, "BWF_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def bwf_command(*args: str) -> list[str]:
    """The argv of `bwf ARGS` as a subprocess (this interpreter, this checkout)."""
    return [sys.executable, "-m", "runner", *args]


def bwf_process(home: Path, *args: str, timeout: float = 120) -> Result:
    """`bwf ARGS` as a separate process with BWF_HOME=home; waits for it to exit."""
    done = subprocess.run(
        bwf_command(*args), capture_output=True, text=True, env=bwf_env(home), timeout=timeout
    )
    return Result(done.returncode, done.stdout, done.stderr)
