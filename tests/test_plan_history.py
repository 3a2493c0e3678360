"""The plan's estimate from an earlier run: its task durations laid out on the pool's
slots, plus that run's overhead; shown in the text and JSON plans."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from runner import pipeline
from runner.ledger import ledger_for
from runner.plan import diff
from runner.plan_history import describe, estimate
from runner.record_events import Event, RunFinished, RunStarted, Stamped, TaskRecord, encode
from runner.runrecord import RunRecord
from runner.state import Desired, Observed
from tests.run_cli import bwf

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def iso(second: float) -> str:
    return (T0 + timedelta(seconds=second)).isoformat().replace("+00:00", "Z")


def write_spec(tmp_path: Path, values: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""\
apiVersion: bwf/v1
name: hist
storage: {{containers: {{output: {{}}}}}}
pool: {{id: hist-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 2}}
job:
  id: hist-job
  tasks:
    for_each: {{values: [{values}]}}
    id: "{{{{ item }}}}"
    command: echo {{{{ item }}}}
  merge: {{id: m, command: "true"}}
""")
    return spec


def done(task_id: str, start: float, end: float, step: str = "tasks") -> TaskRecord:
    return TaskRecord(task_id, step, "succeeded", 0, "n1", iso(0), iso(start), iso(end))


def record_run(desired: Desired) -> None:
    """An earlier run: x took 2 s, y 3 s, the merge 1 s; 10 s in all (6 s of overhead)."""
    runs = RunRecord(ledger_for(desired, "local"))
    runs.dir.mkdir(parents=True)
    events: list[tuple[float, Event]] = [
        (0, RunStarted("r1", "hist", "hist-job", "hist-pool", "local", "spec.yaml", 3, 3)),
        (4, done("x", 2, 4)),
        (5, done("y", 2, 5)),
        (6, done("m", 5, 6, "merge")),
        (10, RunFinished("succeeded", 3, 0, 0, 0, 10.0)),
    ]
    runs.path("r1").write_text("".join(encode(Stamped(iso(s), e)) + "\n" for s, e in events))
    runs.index.write_text(json.dumps({"runs": [{"id": "r1", "finished": iso(10)}]}))


def test_the_estimate_lays_the_durations_on_the_pool(tmp_path: Path) -> None:
    desired = pipeline.desired_state(write_spec(tmp_path, "x, y"))
    record_run(desired)
    found = estimate(diff(desired, Observed.empty()), RunRecord(ledger_for(desired, "local")))
    assert found is not None
    # x and y side by side on the two nodes (3 s), then the merge (1 s), plus 6 s
    assert (found.run_id, found.tasks, found.timed, found.wall_seconds) == ("r1", 3, 3, 10.0)
    assert found.node_hours_dedicated == 2 * 10 / 3600 and found.node_hours_spot == 0
    assert describe(found) == (
        "Expected from run r1: about 10.0s of wall time and 0.0056 node-hours "
        "for 3 tasks (all timed in that run)."
    )


def test_a_new_task_takes_its_steps_median(tmp_path: Path) -> None:
    desired = pipeline.desired_state(write_spec(tmp_path, "x, y"))
    record_run(desired)
    grown = pipeline.desired_state(write_spec(tmp_path, "x, y, z"))
    found = estimate(diff(grown, Observed.empty()), RunRecord(ledger_for(grown, "local")))
    assert found is not None and (found.tasks, found.timed) == (4, 3)
    # x, y on the two slots; z (2.5 s, the median) after x; the merge after z
    assert found.wall_seconds == 2 + 2.5 + 1 + 6


def test_no_history_no_estimate(tmp_path: Path) -> None:
    desired = pipeline.desired_state(write_spec(tmp_path, "x"))
    assert (
        estimate(diff(desired, Observed.empty()), RunRecord(ledger_for(desired, "local"))) is None
    )


def test_the_plan_shows_the_estimate_as_text_and_json(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "x, y")
    plain = bwf("plan", "--offline", str(spec))
    assert plain.code == 0 and "Expected" not in plain.out
    record_run(pipeline.desired_state(spec))
    text = bwf("plan", "--offline", str(spec))
    assert text.out.splitlines()[-1].startswith("Expected from run r1: about 10.0s of wall time")
    data = json.loads(bwf("plan", "--offline", "--json", str(spec)).out)
    assert data["estimate"]["from_run"] == "r1" and data["estimate"]["wall_seconds"] == 10.0
    assert data["estimate"]["node_hours"]["total"] == 2 * 10 / 3600


def test_steps_take_their_own_medians_and_wait_on_what_they_need(tmp_path: Path) -> None:
    def steps_spec(values: str) -> Desired:
        spec = tmp_path / "steps.yaml"
        spec.write_text(f"""\
apiVersion: bwf/v1
name: hist-steps
storage: {{containers: {{output: {{}}}}}}
pool: {{id: hist-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 2}}
job:
  id: hist-job
  steps:
    a:
      for_each: {{values: [{values}]}}
      id: "a-{{{{ item }}}}"
      command: echo {{{{ item }}}}
    c:
      for_each: {{step: a}}
      id: "c-{{{{ item }}}}"
      command: echo {{{{ upstream.id }}}}
    r: {{needs: [c], id: r, command: "true"}}
""")
        return pipeline.desired_state(spec)

    desired = steps_spec("x, y")
    runs = RunRecord(ledger_for(desired, "local"))
    runs.dir.mkdir(parents=True)
    # step a took 2 s and 4 s, step c 10 s and 12 s, r 1 s; 20 s in all (3 s of overhead)
    events: list[tuple[float, Event]] = [
        (0, RunStarted("r1", "hist-steps", "hist-job", "hist-pool", "local", "s", 5, 5)),
        (3, done("a-x", 1, 3, "a")),
        (5, done("a-y", 1, 5, "a")),
        (13, done("c-x", 3, 13, "c")),
        (17, done("c-y", 5, 17, "c")),
        (18, done("r", 17, 18, "r")),
        (20, RunFinished("succeeded", 5, 0, 0, 0, 20.0)),
    ]
    runs.path("r1").write_text("".join(encode(Stamped(iso(s), e)) + "\n" for s, e in events))
    runs.index.write_text(json.dumps({"runs": [{"id": "r1", "finished": iso(20)}]}))
    grown = steps_spec("x, y, z")
    found = estimate(diff(grown, Observed.empty()), RunRecord(ledger_for(grown, "local")))
    assert found is not None and (found.tasks, found.timed) == (7, 5)
    # a-z takes step a's median (3 s), c-z step c's (11 s), not the median of all (4 s);
    # on two slots: a-x 0-2, a-y 0-4, a-z 2-5, c-x 4-14, c-y 5-17, c-z 14-25 (after
    # a-z and a free slot), r 25-26 (after every c); plus 3 s of overhead
    assert found.wall_seconds == 26 + 3
