"""`bwf apply` end to end with the compute options real workloads use: tasks in a
container image (imported into podman's store, no registry), a spot pool whose nodes the
local service preempts, and a pool that autoscales from 0 nodes and back."""

from __future__ import annotations

import collections
import itertools
import json
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.harsh_stack import batch_client, harsh_stack
from tests.run_cli import bwf

pytestmark = pytest.mark.usefixtures("in_tmp_path")

INPUTS = 4
EXPECTED = {f"in{i}": i + 1 for i in range(INPUTS)}  # the words of each input


def workflow(tmp_path: Path, pool: str, task: str = "", inputs: int = INPUTS) -> Path:
    """A spec of its own under `tmp_path`: one task per input, each writing its input's
    word count to `<stem>.out` and its node to `<stem>.node`, downloaded to `out/`."""
    name = f"c{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(inputs):
        (data / f"in{i}.txt").write_text(f"word{i} " * (i + 1) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""\
apiVersion: bwf/v1
name: {name}
storage:
  containers:
    input: {{upload: ["data/*.txt"]}}
    output: {{}}
pool:
  id: {name}-pool
  vm_size: standard_d2s_v3
  image: ubuntu-22.04
{pool}job:
  id: {name}-job
  timeout: 60s
  tasks:
    for_each: {{container: input}}
    id: "{{{{ item.stem }}}}"
    command: |
      wc -w < {{{{ item.name }}}} | tr -d ' ' > {{{{ item.stem }}}}.out
      echo $AZ_BATCH_NODE_ID > {{{{ item.stem }}}}.node
{task}    resource_files: [item]
    outputs: [{{pattern: "*.out", container: output}}, {{pattern: "*.node", container: output}}, {{pattern: "*.where", container: output}}]
download: [{{container: output, to: {tmp_path / "out"}}}]
cleanup: {{containers: keep, job: keep, pool: keep}}
""")
    return spec


def word_counts(out: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in sorted(out.glob("*.out"))}


def names(spec: Path) -> tuple[str, str]:
    name = spec.read_text().split("name: ")[1].split()[0]
    return f"{name}-pool", f"{name}-job"


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_container_workflow_runs_its_tasks_in_the_image_and_downloads_their_outputs(
    stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container_image: str
) -> None:
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    pool = f"  nodes: 1\n  task_slots_per_node: 2\n  container: {{images: ['{container_image}']}}\n"
    # the image has a busybox and no bash: the node itself has bash
    task = (
        f"    container: {{image: '{container_image}'}}\n"
        "    required_slots: 2\n"
        "    env: {PROBE: '1'}\n"
    )
    spec = workflow(tmp_path, pool, task)
    text = spec.read_text().replace(
        "> {{ item.stem }}.node\n",
        "> {{ item.stem }}.node\n"
        "      if [ -e /bin/bash ]; then echo host; else echo image; fi > {{ item.stem }}.where\n"
        '      [ "$PWD" = "$AZ_BATCH_TASK_WORKING_DIR" ] && [ "$PROBE" = 1 ]\n',
    )
    spec.write_text(text)
    plan = bwf("plan", str(spec))
    assert plan.code == 0, plan.out + plan.err
    assert f"container images: {container_image}" in plan.out
    assert f"in container {container_image}, 2 slots each" in plan.out
    run = bwf("apply", str(spec), "--yes")
    assert run.code == 0, run.out + run.err
    out = tmp_path / "out"
    assert word_counts(out) == EXPECTED
    assert {p.read_text().strip() for p in out.glob("*.where")} == {"image"}
    # two slots each on a two-slot node: never two tasks at once
    client = batch_client(stack_home)
    tasks = list(client.list_tasks(names(spec)[1]))
    assert {t.required_slots for t in tasks} == {2}
    spans = sorted((t.execution_info.start_time, t.execution_info.end_time) for t in tasks)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    again = bwf("plan", str(spec))
    assert "No changes" in again.out, again.out


def test_a_spot_pool_whose_nodes_are_preempted_still_completes_every_task_once(
    tmp_path: Path,
) -> None:
    switches = {
        "BWF_LOCALBATCH_PREEMPT_RATE": "0.4",
        "BWF_LOCALBATCH_PREEMPT_SEED": "7",
        "BWF_LOCALBATCH_PREEMPT_DOWNTIME": "0.2",
    }
    with harsh_stack(tmp_path / "home", **switches):
        spec = workflow(tmp_path, "  nodes: {dedicated: 0, spot: 2}\n")
        plan = bwf("plan", str(spec))
        assert "0 dedicated + 2 spot" in plan.out, plan.out
        stream = tmp_path / "events.jsonl"
        run = bwf("apply", str(spec), "--yes", "--events", str(stream))
        assert run.code == 0, run.out + run.err
        assert word_counts(tmp_path / "out") == EXPECTED
        seen = events(stream)
        preempted = [e for e in seen if e["event"] == "task_preempted"]
        completed = collections.Counter(e["task"] for e in seen if e["event"] == "task_completed")
        assert completed == {stem: 1 for stem in EXPECTED}, completed
        requeues = {
            t.id: t.execution_info.requeue_count
            for t in batch_client(tmp_path / "home").list_tasks(names(spec)[1])
        }
        assert sum(requeues.values()) >= 1 and preempted, (requeues, preempted)
        # said as it happened, and in the summary
        for task_id, n in requeues.items():
            if n:
                assert f"Task [{task_id}] was requeued" in run.out, run.out
        requeued = [n for n in requeues.values() if n]
        summary = f"Preemptions: {len(requeued)} task"
        assert summary in run.out and f"({sum(requeued)} requeue" in run.out, run.out


def test_an_autoscale_pool_grows_from_zero_as_tasks_queue_and_shrinks_back_after_the_job(
    tmp_path: Path,
) -> None:
    switches = {
        "BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL": "1",
        "BWF_LOCALBATCH_AUTOSCALE_SAMPLE_PERIOD": "0.2",
    }
    with harsh_stack(tmp_path / "home", **switches):
        pool = "  autoscale: {min: 0, max: 2, tasks_per_node: 2, interval: 1s}\n"
        spec = workflow(tmp_path, pool)
        spec.write_text(spec.read_text().replace("      echo $AZ", "      sleep 0.5; echo $AZ"))
        plan = bwf("plan", str(spec))
        assert "autoscale every 1s, formula:" in plan.out and "$minNodes = 0;" in plan.out
        client = batch_client(tmp_path / "home")
        pool_id, _ = names(spec)
        run = bwf("apply", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        assert word_counts(tmp_path / "out") == EXPECTED
        nodes = {p.read_text() for p in (tmp_path / "out").glob("*.node")}
        assert 1 <= len(nodes) <= 2  # it had nodes to run them on, at most max
        assert re.search(rf"Pool \[{pool_id}\] autoscaled to [12] node", run.out), run.out
        live = client.get_pool(pool_id)
        assert live.enable_auto_scale and live.auto_scale_evaluation_interval.total_seconds() == 1
        deadline = time.monotonic() + 40
        while client.get_pool(pool_id).current_dedicated_nodes and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.get_pool(pool_id).current_dedicated_nodes == 0
        again = bwf("plan", str(spec))
        assert "No changes" in again.out, again.out


def test_a_changed_formula_is_enabled_on_the_kept_pool_and_a_removed_one_disabled(
    stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    # Batch's own interval bounds: any local service takes it (evaluated at once)
    pool = "  autoscale: {formula: '$TargetDedicatedNodes = 1;', interval: 5m}\n"
    spec = workflow(tmp_path, pool, inputs=1)
    client = batch_client(stack_home)
    pool_id, _ = names(spec)
    first = bwf("apply", str(spec), "--yes")
    assert first.code == 0, first.out + first.err
    assert client.get_pool(pool_id).auto_scale_formula == "$TargetDedicatedNodes = 1;"
    # a new formula (with a new input: a finished workflow needs no pool), in place
    spec.write_text(spec.read_text().replace("= 1;", "= 2;"))
    (tmp_path / "data" / "in1.txt").write_text("two words\n")
    changed = bwf("apply", str(spec), "--yes")
    assert changed.code == 0, changed.out + changed.err
    assert re.search(r"~ pool .*\(autoscale changed\)", changed.out), changed.out
    assert "Enabling autoscale on pool" in changed.out
    assert "Expected from run" not in changed.out  # its size is its formula's to decide
    assert client.get_pool(pool_id).auto_scale_formula == "$TargetDedicatedNodes = 2;"
    # back to a fixed size: autoscale disabled, then the pool resized
    spec.write_text(spec.read_text().replace(pool.replace("= 1;", "= 2;"), "  nodes: 1\n"))
    (tmp_path / "data" / "in2.txt").write_text("three words here\n")
    fixed = bwf("apply", str(spec), "--yes")
    assert fixed.code == 0, fixed.out + fixed.err
    assert "(autoscale removed, node count changed)" in fixed.out, fixed.out
    live = client.get_pool(pool_id)
    assert not live.enable_auto_scale and live.target_dedicated_nodes == 1
    assert word_counts(tmp_path / "out") == {"in0": 1, "in1": 2, "in2": 3}


def test_a_registry_password_comes_from_the_environment_and_is_written_nowhere(
    stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container_image: str
) -> None:
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    registry = "bwfdemo.azurecr.io"
    pool = (
        f"  container:\n    images: ['{container_image}']\n"
        f"    registries: [{{server: {registry}, username: puller, password_env: BWF_E2E_PASSWORD}}]\n"
    )
    spec = workflow(tmp_path, pool, f"    container: {{image: '{container_image}'}}\n", inputs=1)
    monkeypatch.delenv("BWF_E2E_PASSWORD", raising=False)
    missing = bwf("apply", str(spec), "--yes")
    assert missing.code == 1, missing.out + missing.err
    assert "read from $BWF_E2E_PASSWORD, which is not set" in missing.err
    assert "Traceback" not in missing.err and "Container [" not in missing.out  # nothing made
    secret = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("BWF_E2E_PASSWORD", secret)
    stream = tmp_path / "events.jsonl"
    run = bwf("apply", str(spec), "--yes", "--events", str(stream))
    assert run.code == 0, run.out + run.err
    assert "password <redacted> (from $BWF_E2E_PASSWORD)" in run.out
    plan_json = bwf("plan", str(spec), "--json")
    report = bwf("report", str(spec), "--json")
    assert plan_json.code == 0 and report.code == 0, plan_json.err + report.err
    for text in (run.out, run.err, stream.read_text(), plan_json.out, report.out):
        assert secret not in text
    for path in [*stack_home.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_the_sample_container_workflow_runs_in_the_imported_image(
    stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container_image: str
) -> None:
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    root = Path(__file__).resolve().parent.parent / "workflows"
    name = f"tc{uuid.uuid4().hex[:8]}"
    (tmp_path / "w" / "data").mkdir(parents=True)
    shutil.copytree(root / "data" / "topn", tmp_path / "w" / "data" / "topn")
    text = (root / "topn-container.yaml").read_text()
    text = text.replace("localhost/bwf-busybox:latest", container_image)
    text = text.replace("topn-container", name).replace(
        "  job: ask\n  pool: ask\n", "  job: keep\n  pool: keep\n"
    )
    spec = tmp_path / "w" / "spec.yaml"
    spec.write_text(text)
    run = bwf("apply", str(spec), "--yes")
    assert run.code == 0, run.out + run.err
    for source in sorted((root / "data" / "topn").glob("*.txt")):
        counts = collections.Counter(w.lower() for w in re.findall("[A-Za-z]+", source.read_text()))
        want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        written = (tmp_path / "out" / name / f"{source.stem}_OUTPUT.txt").read_text().split()
        got = [(written[i + 1], int(written[i])) for i in range(0, len(written), 2)]
        assert got == want, (source.name, got)
