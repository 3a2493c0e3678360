"""Monitoring lists only the tasks that changed lately once it has listed them all: what
it reports must still be whole. A task deleted by someone else while apply waits on it
(no state change tells) is still noticed, and monitoring ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from runner.batch import Batch
from runner.targets import resolve_target
from tests.helpers import fan_out_spec, lines_until


def test_a_task_deleted_while_apply_waits_on_it_is_reported_and_monitoring_ends(
    stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    name = f"d{uuid.uuid4().hex[:8]}"
    inputs = {f"in{i:04d}.txt": f"word{i}\n" for i in range(12)}
    command = "sleep 0.5; wc -w {{ item.name }} > {{ item.stem }}.out"
    spec = fan_out_spec(tmp_path, name, inputs, command, nodes=1, slots=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "apply", str(spec), "--yes"],
        env={**os.environ, "BWF_HOME": str(stack_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    seen = lines_until(proc, "Monitoring")
    time.sleep(2.0)  # past the first listing, which saw every task
    Batch(resolve_target("local")).delete_tasks(f"{name}-job", ["in0011"], lambda _n: None)
    out, _ = proc.communicate(timeout=120)
    out = "".join(seen) + out
    assert proc.returncode == 1, out
    assert "1 task no longer in the job (deleted by someone else?): in0011" in out
    assert "11 succeeded, 0 failed, 1 did not finish" in out
    assert len(list((tmp_path / "out").glob("*.out"))) == 11
