"""What a user sees when things fail, on the real local stack: one line per failed or
blocked task with its reason, no traceback, the run record when the job is gone, a
resumed run, and a Batch service that stops answering during monitoring."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from runner import localstack
from tests.helpers import lines_until
from tests.test_apply import bwf, many_inputs, runs

pytestmark = pytest.mark.usefixtures("in_tmp_path")


def failing_spec(tmp_path: Path) -> Path:
    """Three ways to fail (an exit code, a resource file that cannot be downloaded, the
    wall-clock limit) and a merge that waits on all of them."""
    name = f"f{uuid.uuid4().hex[:8]}"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""\
apiVersion: bwf/v1
name: {name}
storage:
  containers:
    input: {{upload: ["data/*.txt"]}}
pool: {{id: {name}-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 1, task_slots_per_node: 4}}
job:
  id: {name}-job
  timeout: 60s
  tasks:
    for_each: {{values: [exit, fetch, slow]}}
    id: "f-{{{{ item }}}}"
    command: |
      case {{{{ item }}}} in exit) echo "the input is broken" >&2; exit 3;; slow) sleep 20;; esac
    resource_files:
      - {{container: input, blob: "{{{{ 'nope.txt' if item == 'fetch' else 'a.txt' }}}}"}}
    max_wall_clock: 2s
  merge: {{id: merge, command: "true"}}
cleanup: {{containers: keep, job: delete, pool: delete}}
""")
    return spec


def test_every_failed_or_blocked_task_gets_a_line_with_its_reason_and_no_traceback(
    home: Path, tmp_path: Path
) -> None:
    spec = failing_spec(tmp_path)
    apply = bwf(home, "apply", str(spec), "--yes")
    out, _ = apply.communicate(timeout=120)
    assert apply.returncode == 1, out
    assert "Traceback" not in out and "deserialization" not in out
    assert "\n  f-exit: failed, exit code 3\n    | the input is broken\n" in out, out
    assert "\n  f-fetch: failed, ResourceFileDownloadFailed: " in out, out
    assert "nope.txt" in out and "sig=" not in out and localstack.STORAGE_KEY not in out
    assert "\n  f-slow: failed, exit code " in out
    assert "wall-clock limit expired (max_wall_clock 2s)\n" in out, out
    assert "\n  merge: blocked, waits on f-exit (failed)\n" in out, out
    assert "3 failed, 1 blocked." in out

    logs = bwf(home, "logs", str(spec), "no-such-task")
    out, _ = logs.communicate(timeout=60)
    assert logs.returncode == 1
    assert "Traceback" not in out and "no stdout.txt for task no-such-task" in out, out

    # clean-up deleted the job: status tells the run from its record, and says so
    status = bwf(home, "status", str(spec))
    out, _ = status.communicate(timeout=60)
    assert status.returncode == 0, out
    assert "job: none (deleted); from the record of run " in out, out
    assert "  f-exit: failed, exit 3, on " in out and "  merge: blocked, waits on f-exit" in out
    as_json = bwf(home, "status", "--json", str(spec))
    data = json.loads(as_json.communicate(timeout=60)[0])
    tasks = {t["id"]: t for t in data["run"]["tasks"]}
    assert data["job"] is None and data["run"]["outcome"] == "failed"
    assert tasks["f-fetch"]["failure"].startswith("ResourceFileDownloadFailed")
    assert tasks["f-slow"]["failure"].startswith("MaxWallClockTimeExpiry")
    assert tasks["f-exit"]["exit_code"] == 3 and tasks["f-exit"]["node"]
    assert tasks["f-exit"]["started"] <= tasks["f-exit"]["ended"]


def test_an_apply_killed_while_monitoring_is_continued_in_the_same_run_record(
    home: Path, tmp_path: Path
) -> None:
    spec = many_inputs(tmp_path, 6, sleep=0.5)
    first = bwf(home, "apply", str(spec), "--yes")
    assert first.stdout is not None
    for line in first.stdout:
        if "Monitoring" in line:
            first.kill()
            break
    assert first.wait(timeout=60) == -9
    again = bwf(home, "apply", str(spec), "--yes")
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    name = spec.read_text().split("name: ")[1].split()[0]
    (record,) = (home / "runs").glob(f"{name}-*")
    (run,) = json.loads((record / "index.json").read_text())["runs"]  # one run, not two
    assert run["outcome"] == "succeeded" and run["finished"]
    events = [json.loads(line) for line in (record / f"{run['id']}.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("run_started") == 1 and kinds.count("run_resumed") == 1
    assert kinds[-1] == "run_finished"
    last = {e["id"]: e for e in events if e["event"] == "task"}
    assert sorted(last) == sorted(runs(home, f"{name}-pool"))  # every task that ran
    assert all(t["state"] == "succeeded" and t["node"] and t["ended"] for t in last.values())
    assert {"node", "pool_size"} <= set(kinds)


def test_a_batch_service_that_stops_answering_ends_monitoring_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private stack (the session's one stays up for the other tests): its Batch
    service is killed while apply monitors."""
    home = tmp_path / "home"
    monkeypatch.setenv("BWF_HOME", str(home))
    try:
        pid = localstack.up()["batch"]["pid"]  # type: ignore[index]
        spec = many_inputs(tmp_path, 2, sleep=15)
        spec.write_text(spec.read_text().replace("  tasks:\n", "  timeout: 4s\n  tasks:\n", 1))
        apply = bwf(home, "apply", str(spec), "--yes")
        seen = lines_until(apply, "Monitoring")
        os.killpg(int(pid), signal.SIGKILL)
        lost = time.monotonic()
        out, _ = apply.communicate(timeout=120)
        out = "".join(seen) + out
        assert apply.returncode == 1, out
        assert time.monotonic() - lost < 90, out
        assert "Traceback" not in out
        assert "Lost contact with the Batch service" in out and "connection refused" in out, out
        assert "gave up after" in out
        assert f"bwf apply {spec}` resumes monitoring" in out and "bwf local up" in out, out
    finally:
        localstack.down()


def test_a_start_task_that_fails_on_every_node_stops_apply_with_its_stderr(
    home: Path, tmp_path: Path
) -> None:
    start_task = "  start_task: {commands: ['echo no such tool >&2; exit 4']}\n"
    spec = many_inputs(tmp_path, 1, pool_extra=start_task)
    apply = bwf(home, "apply", str(spec), "--yes")
    out, _ = apply.communicate(timeout=120)
    assert apply.returncode == 1, out
    assert "the start task failed on node " in out and "(exit code 4)" in out, out
    assert "no such tool" in out and "Traceback" not in out
