"""Every workflow in workflows/ validates and plans; the topn plan shows the tutorial's run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner import pipeline
from runner.plan import diff
from runner.plan_json import to_json
from runner.show import render_plan
from runner.state import Observed

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))


def bwf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"topn.yaml", "topn-sweep.yaml", "wordstats.yaml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_validates_and_plans(path: Path) -> None:
    desired = pipeline.desired_state(path)
    plan = diff(desired, Observed.empty())
    assert plan.has_changes
    assert desired.job.step_tasks, "a workflow without tasks"


def test_validate_cli_accepts_all_workflows() -> None:
    r = bwf("validate", *map(str, WORKFLOWS))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok") == len(WORKFLOWS)


def test_topn_plan_shows_the_tutorial_run() -> None:
    r = bwf("plan", "--offline", "workflows/topn.yaml")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name in ("topn-application", "topn-input", "topn-output"):
        assert f"+ container  {name}" in out
    assert "+ pool       topn-pool  2 dedicated x standard_d2s_v3" in out
    assert "node agent batch.node.ubuntu 22.04" in out
    assert "+ job        topn-job" in out
    assert "step tasks: 3 tasks, one per blob of input\n    +   3 tasks\n" in out
    assert "step merge: 1 task, after all of tasks (on_failure: block)\n" in out
    assert (
        "topn-harbour: python3 $AZ_BATCH_NODE_SHARED_DIR/topn.py --filepath harbour.txt --numwords 3"
        in out
    )
    # the logs container is created too, and the merge is a task like the others
    assert "Plan: 4 containers, 4 uploads (5.5 KiB), 1 pool, 1 job, 4 of 4 tasks to run" in out


def test_wordstats_plan_counts_what_apply_creates() -> None:
    out = bwf("plan", "--offline", "workflows/wordstats.yaml").stdout
    assert "      step report: 1 task, after all of count (on_failure: block)\n" in out
    # application, texts, work and the logs container; the script and four texts; four
    # tokenize tasks, four count tasks and the report, each one resource to create
    uploaded = [
        ROOT / "node_scripts/wordstats.py",
        *(ROOT / "workflows/data/wordstats").glob("*.txt"),
    ]
    kib = sum(p.stat().st_size for p in uploaded) / 1024
    assert (
        f"Plan: 4 containers, 5 uploads ({kib:.1f} KiB), 1 pool, 1 job, 9 of 9 tasks to run, "
        "1 download; 15 to create, 0 to update, 0 to replace." in out
    )


def test_topn_plan_json_has_the_same_content() -> None:
    r = bwf("plan", "--offline", "--json", "workflows/topn.yaml", "--var", "top_n=5")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    creates = [(a["kind"], a["id"]) for a in data["actions"] if a["change"] == "create"]
    assert [c for c in creates if c[0] == "container"] == [
        ("container", k) for k in ("application", "input", "output", "logs")
    ]
    assert sum(a["details"]["count"] for a in data["actions"] if a["kind"] == "upload") == 4
    assert ("pool", "topn-pool") in creates and ("job", "topn-job") in creates
    tasks = next(a for a in data["actions"] if a["kind"] == "tasks")
    assert tasks["details"]["ids"] == ["topn-harbour", "topn-orchard", "topn-signal"]
    assert tasks["details"]["sample"][0]["command"].endswith("--numwords 5 --counts")
    assert data["vars"] == {"top_n": 5}


def test_plan_detailed_exitcode_and_out_file(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = bwf(
        "plan",
        "--offline",
        "--detailed-exitcode",
        "--out",
        str(out),
        "workflows/topn.yaml",
    )
    assert r.returncode == 2
    assert json.loads(out.read_text())["has_changes"] is True


def test_schema_command_prints_the_schema() -> None:
    r = bwf("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["additionalProperties"] is False


def test_plan_human_output_matches_render(tmp_path: Path) -> None:
    desired = pipeline.desired_state(ROOT / "workflows" / "topn-sweep.yaml")
    text = render_plan(diff(desired, Observed.empty()))
    assert "step merge: 1 task, after all of tasks (on_failure: block)" in text
    assert "sweep-table" in text
    summary = to_json(diff(desired, Observed.empty()))["summary"]
    assert (summary["tasks"], summary["tasks_to_run"]) == (5, 5)  # 4 sweep tasks and the merge
    assert "5 of 5 tasks to run" in text
