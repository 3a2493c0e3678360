"""`bwf apply` as a process, interrupted for real: Ctrl-C during monitoring, and two
applies of one workflow at once (the second refused, a killed holder's lock taken over)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.gated import TASKS, Apply, gated_spec
from tests.run_cli import bwf_process

pytestmark = pytest.mark.usefixtures("in_tmp_path")


def test_ctrl_c_during_monitoring_exits_130_and_apply_resumes(
    stack_home: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    spec = gated_spec(tmp_path, gate)
    first = Apply(stack_home, spec)
    try:
        first.wait_for("Monitoring")
        first.proc.send_signal(signal.SIGINT)
        stopped = first.finish()
        assert stopped.code == 130, stopped
        assert "Traceback" not in stopped.err
        assert "keep running in Batch" in stopped.err
        assert f"`bwf apply {spec}` again to resume" in stopped.err
        gate.touch()
        resumed = bwf_process(stack_home, "apply", str(spec), "--yes")
        assert resumed.code == 0, resumed.out + resumed.err
        assert "Adding" not in resumed.out  # the tasks kept running: nothing re-submitted
        assert len(list((tmp_path / "out").glob("*.out"))) == TASKS
    finally:
        gate.touch()
        first.kill()


def test_a_second_apply_is_refused_and_a_dead_holder_is_taken_over(
    stack_home: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    spec = gated_spec(tmp_path, gate)
    first = Apply(stack_home, spec)
    try:
        first.wait_for("Monitoring")
        second = bwf_process(stack_home, "apply", str(spec), "--yes")
        assert second.code == 1, second
        assert f"is already being applied by process {first.proc.pid} (" in second.err
        assert "started " in second.err and "Traceback" not in second.err
        assert "PoolExists" not in second.out + second.err
        destroy = bwf_process(stack_home, "destroy", str(spec), "--yes")
        assert destroy.code == 1 and f"process {first.proc.pid}" in destroy.err
        first.kill()  # kill -9: the lock file still names it
        gate.touch()
        third = bwf_process(stack_home, "apply", str(spec), "--yes")
        assert third.code == 0, third.out + third.err
        assert f"Took over the lock of workflow '{spec.read_text().split()[3]}'" in third.err
        assert f"process {first.proc.pid}" in third.err
        assert len(list((tmp_path / "out").glob("*.out"))) == TASKS
    finally:
        gate.touch()
        first.kill()
