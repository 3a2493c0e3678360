"""A workflow whose tasks wait at a *gate* file, and `bwf apply` running in the background.

The local nodes are processes on this machine, so a task can wait for a file the test
creates: "mid-run" is then a state the test controls, not a timing it hopes for.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
import uuid
from pathlib import Path

from tests.helpers import fan_out_spec
from tests.run_cli import Result, bwf_command, bwf_env

TASKS = 6  # on 2 nodes of 2 slots: 4 run (and wait at the gate), 2 are queued


def gated_spec(tmp_path: Path, gate: Path) -> Path:
    """A fan-out over TASKS files whose tasks finish once `gate` exists."""
    return fan_out_spec(
        tmp_path,
        f"g{uuid.uuid4().hex[:8]}",
        {f"in{i}.txt": f"word{i} text\n" for i in range(TASKS)},
        f"while [ ! -e {gate} ]; do sleep 0.05; done; wc -w {{{{ item.name }}}} > {{{{ item.stem }}}}.out",
    )


class Apply:
    """`bwf apply SPEC --yes` running in the background; its output read as it comes."""

    def __init__(self, home: Path, spec: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            bwf_command("apply", str(spec), "--yes", *args),
            env=bwf_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, marker: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.out):
            try:
                self.out.append(self.lines.get(timeout=1))
            except queue.Empty:
                ended = self.proc.poll() is not None
                assert not ended and time.monotonic() < deadline, "".join(self.out)

    def finish(self, timeout: float = 60) -> Result:
        """Wait for the process to end; its exit code and whole output."""
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)  # let the reader drain what is left
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return Result(code, "".join(self.out), err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
