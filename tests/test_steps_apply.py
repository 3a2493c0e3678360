"""Multi-step jobs end to end on the real local stack, with the shipped three-step
example (workflows/wordstats.yaml: tokenize → count → report): results equal an
independent computation, an edit re-runs exactly what it touches (counted from the
service's task records), a failed task blocks only its own chain, a killed apply
resumes without running anything twice, and a 20,000-item chain with a fan-in is
submitted within Batch's limits."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import re
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.commands.status import command as status_command
from runner.engine import run_apply
from tests.test_apply import ROOT, kill_9_at_then_apply_again, runs
from tests.test_converge import batch_client

pytestmark = pytest.mark.usefixtures("in_tmp_path")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def wordstats(tmp_path: Path, **replace: str) -> tuple[Path, str]:
    """workflows/wordstats.yaml with its texts and script in a repository in tmp_path,
    under unique names; the job and the pool are kept, so that the service's records of
    the tasks and the nodes can be read after each apply. Returns the spec and the name."""
    name = f"w{uuid.uuid4().hex[:8]}"
    (tmp_path / ".git").mkdir()
    (tmp_path / "workflows" / "data").mkdir(parents=True)
    shutil.copytree(
        ROOT / "workflows" / "data" / "wordstats", tmp_path / "workflows" / "data" / "wordstats"
    )
    shutil.copytree(ROOT / "node_scripts", tmp_path / "node_scripts")
    text = (ROOT / "workflows" / "wordstats.yaml").read_text()
    for old, new in {
        "name: wordstats\n": f"name: {name}\n",
        "wordstats-pool": f"{name}-pool",
        "wordstats-job": f"{name}-job",
        "to: out/wordstats": f"to: {tmp_path / 'out'}",
        "  job: ask\n  pool: ask\n": "  job: keep\n  pool: keep\n",
        **replace,
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    spec = tmp_path / "workflows" / "wordstats.yaml"
    spec.write_text(text)
    return spec, name


def texts(spec: Path) -> dict[str, str]:
    return {
        p.stem: p.read_text() for p in sorted((spec.parent / "data" / "wordstats").glob("*.txt"))
    }


def expected_report(by_text: dict[str, str], top: int = 5) -> list[list[str]]:
    """The report, computed here from the texts, independently of the workflow's script."""

    def row(name: str, counts: collections.Counter[str]) -> list[str]:
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [
            name,
            str(sum(counts.values())),
            str(len(counts)),
            " ".join(f"{w}:{c}" for w, c in best),
        ]

    rows = [["text", "words", "distinct", "top"]]
    total: collections.Counter[str] = collections.Counter()
    for name, text in sorted(by_text.items()):
        counts = collections.Counter(w.casefold() for w in WORD.findall(text))
        total.update(counts)
        rows.append(row(name, counts))
    return [*rows, row("ALL", total)]


def report(tmp_path: Path) -> list[list[str]]:
    with (tmp_path / "out" / "report.csv").open(newline="") as f:
        return list(csv.reader(f))


def step_rows(out: str) -> dict[str, str]:
    """The step rows of the run report whose path apply printed: step -> the first line
    of its hover text."""
    path = Path(re.findall(r"^Run report: (.+)$", out, re.MULTILINE)[-1])
    rows = {}
    for g in ET.fromstring(path.read_text(encoding="utf-8")).iter("g"):
        if g.get("class") == "step-row":
            title = next(t for t in g.iter("title"))
            rows[str(g.get("data-step"))] = (title.text or "").splitlines()[0]
    return rows


def ran_since(name: str, since: dt.datetime) -> set[str]:
    """The tasks of the job that started at or after `since`, as the service records them."""
    return {
        t.id
        for t in batch_client().list_tasks(f"{name}-job")
        if t.execution_info is not None
        and t.execution_info.start_time is not None
        and t.execution_info.start_time >= since
    }


def test_results_equal_an_independent_computation_and_an_edit_reruns_its_chain_and_the_fan_in(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, name = wordstats(tmp_path)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert report(tmp_path) == expected_report(texts(spec))
    out = capsys.readouterr().out
    assert "step count: 4 tasks, per item of tokenize (on_failure: block)" in out
    assert "tokenize 4/4 ✓, count 4/4 ✓, report 1/1 ✓" in out
    # the plan's count is what apply then adds and reports: 4 texts, 4 counts, 1 report
    assert "Plan: 4 containers, 5 uploads" in out and ", 9 of 9 tasks to run" in out
    assert "Adding 9 tasks to job" in out and ": 9 tasks succeeded." in out
    assert step_rows(out) == {
        "tokenize": "step tokenize: 4 tasks, 4 succeeded",
        "count": "step count: 4 tasks, 4 succeeded",
        "report": "step report: 1 task, 1 succeeded",
    }
    status = CliRunner().invoke(status_command, [str(spec)])
    assert "  steps: tokenize 4/4 ✓, count 4/4 ✓, report 1/1 ✓\n" in status.output, status.output
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert capsys.readouterr().out.startswith("No changes.")

    orbit = spec.parent / "data" / "wordstats" / "orbit.txt"
    orbit.write_text(orbit.read_text() + "The probe measures the probe.\n")
    since = dt.datetime.now(dt.timezone.utc)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert ran_since(name, since) == {"tok-orbit", "cnt-orbit", "wordstats-report"}
    out = capsys.readouterr().out
    # the job, terminated once its run was over, is replaced: what runs again is created
    assert "(job is completed)" in out, out
    assert "    +   1 task  (changed)\n                 tok-orbit: " in out, out
    assert "    +   1 task  (inputs re-run)\n                 cnt-orbit: " in out, out
    assert report(tmp_path) == expected_report(texts(spec))


def test_editing_the_middle_step_reruns_it_and_what_is_below_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, name = wordstats(tmp_path)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    command = "wordstats.py count tokens.txt"
    spec.write_text(spec.read_text().replace(command, "wordstats.py count ./tokens.txt"))
    since = dt.datetime.now(dt.timezone.utc)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    counts = {f"cnt-{stem}" for stem in texts(spec)}
    assert ran_since(name, since) == counts | {"wordstats-report"}
    out = capsys.readouterr().out
    assert "step tokenize: 4 tasks, one per blob of texts\n        4 tasks  done earlier\n" in out
    assert report(tmp_path) == expected_report(texts(spec))


def test_a_failed_item_blocks_its_own_chain_and_the_fan_in_at_once(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokenize = "tokenize {{ item.name }} --out tokens.txt"
    spec, name = wordstats(
        tmp_path,
        **{
            "  timeout: 20m\n": "  timeout: 2m\n",
            tokenize: f"{tokenize}; [ {{{{ item.stem }}}} != orbit ] || exit 3",
        },
    )
    started = time.monotonic()
    assert run_apply(str(spec), "local", {}, yes=True) == 1
    assert time.monotonic() - started < 60  # not the 2 minutes of the job timeout
    out = capsys.readouterr().out
    assert "\n  tok-orbit: failed, exit code 3, 1 retries\n" in out, out
    assert "\n  cnt-orbit: blocked, waits on tok-orbit (failed)\n" in out, out
    assert "\n  wordstats-report: blocked, waits on tok-orbit (failed)\n" in out, out
    assert "Apply finished with problems" in out and "6 succeeded, 1 failed, 2 blocked" in out
    states = {
        t.id: (t.state, t.execution_info.result if t.execution_info else None)
        for t in batch_client().list_tasks(f"{name}-job")
    }
    others = {t: s for t, s in states.items() if "orbit" not in t and t != "wordstats-report"}
    assert len(others) == 6 and all(result == "success" for _, result in others.values())
    assert states["wordstats-report"][0] == "active"  # it never ran
    assert not (tmp_path / "out" / "report.csv").exists()
    status = CliRunner().invoke(status_command, [str(spec)]).output
    assert "steps: tokenize 3/4 (1 failed), count 3/4 (1 blocked), report blocked\n" in status


def test_a_fan_in_that_runs_anyway_runs_after_a_failed_item(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, _ = wordstats(
        tmp_path,
        **{
            "wordstats.py count tokens.txt": "wordstats.py count tokens.txt $( [ {{ item.stem }} != orbit ] || echo --bad )",
            "--expect {{ steps.count.task_ids | length }}": "--expect 3",
            "      on_failure: block ": "      on_failure: run_anyway ",
            # Batch keeps a task whose upstream failed waiting for ever, unless that upstream
            # satisfies it: the report runs anyway only if each count does too
            "path: counts/}\n": "path: counts/}\n      on_failure: run_anyway\n",
        },
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 1
    out = capsys.readouterr().out
    assert "\n  cnt-orbit: failed, exit code 2, 1 retries\n" in out, out
    assert "blocked" not in out
    assert report(tmp_path) == expected_report(
        {k: v for k, v in texts(spec).items() if k != "orbit"}
    )


@pytest.mark.parametrize("marker", ["Adding 9 tasks", "Monitoring"])
def test_kill_9_mid_dag_then_apply_runs_every_task_exactly_once(
    home: Path, tmp_path: Path, marker: str
) -> None:
    log = "echo {{ task.id }} >> $AZ_BATCH_NODE_SHARED_DIR/runs.log; "
    spec, name = wordstats(
        tmp_path,
        **{
            "command: python3": f"command: {log}sleep 0.3; python3",
            "command: >-\n        python3": f"command: >-\n        {log}python3",
        },
    )
    kill_9_at_then_apply_again(home, spec, marker)
    counted = runs(home, f"{name}-pool")
    stems = texts(spec)
    expected = {f"tok-{s}" for s in stems} | {f"cnt-{s}" for s in stems} | {"wordstats-report"}
    assert set(counted) == expected and max(counted.values()) == 1, counted
    assert report(tmp_path) == expected_report(stems)


def test_a_20000_item_chain_and_fan_in_are_planned_and_submitted_within_batch_limits(
    home: Path, tmp_path: Path
) -> None:
    from runner import limits, pipeline
    from runner.apply import Executor
    from runner.engine import connect
    from runner.plan import diff
    from runner.progress import Ui
    from runner.show import render_plan
    from runner.state import Observed

    name = f"w{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "wide.yaml"
    spec.write_text(f"""\
apiVersion: bwf/v1
name: {name}
storage: {{containers: {{out: {{}}}}}}
pool: {{id: {name}-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 0}}
job:
  id: {name}-job
  steps:
    sim:
      for_each: {{range: {{stop: 20000}}}}
      id: "sim-{{{{ item }}}}"
      command: echo {{{{ item }}}}
    ana:
      for_each: {{step: sim}}
      id: "ana-{{{{ item }}}}"
      command: echo {{{{ upstream.id }}}}
    summary:
      needs: [ana]
      id: summary
      command: echo all done
""")
    desired = pipeline.desired_state(spec)
    barriers = desired.job.step("summary").barriers
    assert len(barriers) >= 2
    plan = diff(desired, Observed.empty(), "local")
    text = render_plan(plan)
    assert "step ana: 20000 tasks, per item of sim (on_failure: block)" in text
    assert f"step summary: 1 task, after all of ana through {len(barriers)} barrier tasks" in text
    every = 40001 + len(barriers)  # what apply adds: the barrier tasks are tasks of the job
    assert f"{every} of {every} tasks to run (including {len(barriers)} barrier tasks)" in text
    s = connect(desired, "local")
    ex = Executor(plan, s.storage, s.batch, s.ledger, Ui(quiet=True), yes=True)
    ex.compute.pool()
    ex.compute.job()
    total = ex.tasks()
    assert total == 40000 + len(barriers) + 1 == len(desired.job.all_tasks)
    fields = ["id", "creationTime", "dependsOn"]  # the least to list, of 40,000 tasks
    listed = {t.id: t for t in batch_client().list_tasks(desired.job.id, select=fields)}
    assert len(listed) == total  # every task accepted by the service, which enforces the limits
    depends = {i: t.depends_on.task_ids if t.depends_on else [] for i, t in listed.items()}
    assert all(sum(map(len, ids)) <= limits.DEPENDS_ON_MAX_CHARS for ids in depends.values())
    assert depends["ana-7"] == ["sim-7"]
    assert depends["summary"] == [b.id for b in barriers]
    # submitted in dependency order: no task was added before a task it waits on
    created = {i: t.creation_time for i, t in listed.items()}
    assert [i for i, ids in depends.items() for d in ids if created[d] > created[i]] == []
    s.batch.delete_job(desired.job.id)
    s.batch.delete_pool(desired.pool.id)
