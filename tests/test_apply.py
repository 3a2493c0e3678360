"""`bwf apply` end to end on the real local stack (Azurite + the local Batch service)."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from runner import localstack
from runner.engine import run_apply
from tests.helpers import fan_out_spec

ROOT = Path(__file__).resolve().parent.parent
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def top(text: str, n: int) -> list[tuple[str, int]]:
    counts = collections.Counter(w.casefold() for w in WORD.findall(text))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def results(path: Path) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            word, count = line.rsplit(" ", 1)
            rows.append((word, int(count)))
    return rows


pytestmark = pytest.mark.usefixtures("in_tmp_path")


def topn_copy(tmp_path: Path, **replace: str) -> Path:
    """workflows/topn.yaml with its inputs and script in tmp_path, under unique names.

    The script is copied next to the spec, so that no upload reads outside its directory."""
    name = f"t{uuid.uuid4().hex[:8]}"
    (tmp_path / "workflows").mkdir()
    shutil.copytree(ROOT / "workflows" / "data", tmp_path / "workflows" / "data")
    shutil.copytree(ROOT / "node_scripts", tmp_path / "workflows" / "node_scripts")
    text = (ROOT / "workflows" / "topn.yaml").read_text()
    text = text.replace("../node_scripts/topn.py", "node_scripts/topn.py")
    text = text.replace("name: topn\n", f"name: {name}\n").replace("topn-pool", f"{name}-pool")
    text = text.replace("topn-job", f"{name}-job").replace(
        "to: out/topn", f"to: {tmp_path / 'out'}"
    )
    text = text.replace("  job: ask\n  pool: ask\n", "  job: keep\n  pool: keep\n")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    spec = tmp_path / "workflows" / "topn.yaml"
    spec.write_text(text)
    return spec


def test_topn_end_to_end_then_no_changes(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = topn_copy(tmp_path)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out = capsys.readouterr().out
    for step in (
        "Container [",
        "Uploading 3 files",
        "Creating pool [",
        "Creating job [",
        "Adding 4 tasks",
        "Monitoring",
        "Downloading",
    ):
        assert step in out
    # the pool is created as soon as its start task's script is uploaded: its nodes start
    # while the inputs upload, and the start task finds the script
    assert out.index("Uploading 1 file") < out.index("Creating pool [")
    assert out.index("Creating pool [") < out.index("Uploading 3 files")
    data = tmp_path / "workflows" / "data" / "topn"
    every = ""
    for src in sorted(data.glob("*.txt")):
        text = src.read_text()
        every += text
        assert results(tmp_path / "out" / f"{src.stem}_OUTPUT.txt") == top(text, 3)
    assert results(tmp_path / "out" / "ALL_OUTPUT.txt") == top(every, 3)
    # a second apply runs nothing
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    again = capsys.readouterr().out
    assert again.startswith("No changes.") and "Adding" not in again


def test_changing_one_input_reruns_only_its_task_and_the_merge(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = topn_copy(tmp_path, **{"  containers: delete\n": "  containers: keep\n"})
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    capsys.readouterr()
    signal = tmp_path / "workflows" / "data" / "topn" / "signal.txt"
    signal.write_text("zebra zebra zebra zebra yak yak yak yak yak x\n")
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out = capsys.readouterr().out
    assert "Adding 2 tasks" in out
    # the job, terminated at the end of the first run, is replaced: the task is created
    assert re.search(r"-/\+ job +\S+ .*\(job is completed\)", out), out
    assert re.search(r"^ {4}\+   1 task  \(changed\)", out, re.M), out
    assert results(tmp_path / "out" / "signal_OUTPUT.txt") == [("yak", 5), ("zebra", 4), ("x", 1)]
    assert "Uploading 1 file to" in out and "Uploading 3" not in out  # only the changed blob
    data = tmp_path / "workflows" / "data" / "topn"
    every = "".join(p.read_text() for p in sorted(data.glob("*.txt")))
    assert results(tmp_path / "out" / "ALL_OUTPUT.txt") == top(every, 3)


def test_without_a_kept_copy_the_merge_still_sees_every_result(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = topn_copy(tmp_path)  # clean-up deletes the containers after each run
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    name = spec.read_text().split("name: ")[1].split()[0]
    (kept,) = (home / "kept").glob(f"{name}-*")
    shutil.rmtree(kept)  # BWF_HOME lost the copy of the deleted output container
    (tmp_path / "workflows" / "data" / "topn" / "signal.txt").write_text(
        "zebra zebra zebra zebra\n"
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ {4}\+   2 tasks  \(outputs gone\)", out, re.M), out  # run again
    data = tmp_path / "workflows" / "data" / "topn"
    every = "".join(p.read_text() for p in sorted(data.glob("*.txt")))
    assert results(tmp_path / "out" / "ALL_OUTPUT.txt") == top(every, 3)


def test_a_failing_task_fails_the_apply_but_keeps_the_other_outputs(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = topn_copy(
        tmp_path,
        **{
            "    retries: 1\n": "    retries: 0\n",
            "--filepath {{ item.name }}": "--filepath {{ item.name }} $( [ {{ item.stem }} = orchard ] && echo --bad-flag )",
        },
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 1
    out = capsys.readouterr().out
    assert re.search(r"\n  \S+-orchard: failed, exit code 2\n", out), out
    assert "unrecognized arguments: --bad-flag" in out  # the tail of its stderr
    assert re.search(r"\n  topn-all: blocked, waits on \S+-orchard \(failed\)\n", out), out
    assert (tmp_path / "out" / "harbour_OUTPUT.txt").exists() and (
        tmp_path / "out" / "signal_OUTPUT.txt"
    ).exists()
    assert not (tmp_path / "out" / "ALL_OUTPUT.txt").exists()


def test_run_anyway_merges_what_succeeded(home: Path, tmp_path: Path) -> None:
    spec = topn_copy(
        tmp_path,
        **{
            "    retries: 1\n": "    retries: 0\n",
            "--filepath {{ item.name }}": "--filepath {{ item.name }} $( [ {{ item.stem }} = orchard ] && echo --bad-flag )",
            "    id: topn-all\n": "    id: topn-all\n    on_failure: run_anyway\n",
        },
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 1
    merged = (tmp_path / "out" / "ALL_OUTPUT.txt").read_text()
    assert "# merged: 2 files" in merged


def bwf(home: Path, *args: str, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "BWF_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )  # type: ignore[call-overload]


def many_inputs(tmp_path: Path, n: int, sleep: float = 0.0, pool_extra: str = "") -> Path:
    """A spec fanning out over n files; every run of a task appends its id to runs.log."""
    return fan_out_spec(
        tmp_path,
        f"k{uuid.uuid4().hex[:8]}",
        {f"in{i:04d}.txt": f"word{i % 7} text\n" for i in range(n)},
        f"sleep {sleep}; echo {{{{ item.stem }}}} >> $AZ_BATCH_NODE_SHARED_DIR/runs.log; "
        "wc -w {{ item.name }} > {{ item.stem }}.out",
        slots=4,
        pool_extra=pool_extra,
    )


def kill_9_at_then_apply_again(home: Path, spec: Path, marker: str) -> str:
    """`kill -9` of `bwf apply` once it prints `marker`, then apply again to the end:
    the second apply's output (it succeeded)."""
    proc = bwf(home, "apply", str(spec), "--yes")
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.kill()
            break
    proc.wait(timeout=60)
    assert proc.returncode == -9, "".join(seen)
    again = bwf(home, "apply", str(spec), "--yes")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    return out


def runs(home: Path, pool_id: str) -> collections.Counter[str]:
    counter: collections.Counter[str] = collections.Counter()
    for log in (home / "local" / "batch" / "nodes" / pool_id).glob("*/shared/runs.log"):
        counter.update(log.read_text().split())
    return counter


@pytest.mark.parametrize(
    ("marker", "files", "sleep"),
    [
        ("Uploading 400 files", 400, 0.0),
        ("Adding 3000 tasks", 3000, 0.0),
        ("Monitoring", 40, 0.3),
        ("Downloading", 300, 0.0),
    ],
)
def test_kill_9_then_apply_again_converges(
    home: Path, tmp_path: Path, marker: str, files: int, sleep: float
) -> None:
    spec = many_inputs(tmp_path, files, sleep)
    kill_9_at_then_apply_again(home, spec, marker)
    outputs = sorted(p.name for p in (tmp_path / "out").glob("*.out"))
    assert len(outputs) == files
    name = spec.read_text().split("name: ")[1].split()[0]
    counted = runs(home, f"{name}-pool")
    assert len(counted) == files and max(counted.values()) == 1, "a task ran twice"


def test_kill_9_while_downloading_as_job_and_pool_are_deleted_then_apply_again_runs_nothing(
    home: Path, tmp_path: Path
) -> None:
    """The job and the pool are deleted while the outputs download: an apply killed then
    finds them gone (or going), and the next one downloads what is left without running
    any task again."""
    name = f"k{uuid.uuid4().hex[:8]}"
    spec = fan_out_spec(
        tmp_path,
        name,
        {f"in{i:04d}.txt": f"word{i % 7} text\n" for i in range(300)},
        "wc -w {{ item.name }} > {{ item.stem }}.out",
        slots=4,
        cleanup="{containers: delete, job: delete, pool: delete}",
    )
    out = kill_9_at_then_apply_again(home, spec, "Downloading")
    assert "0 of 300 tasks to run" in out, out
    assert len(list((tmp_path / "out").glob("*.out"))) == 300


def test_saved_plan_is_applied_or_refused_when_stale(home: Path, tmp_path: Path) -> None:
    spec = many_inputs(tmp_path, 3)
    plan = tmp_path / "plan.json"
    p = bwf(home, "plan", str(spec), "--out", str(plan))
    assert p.wait(timeout=120) == 0
    (tmp_path / "data" / "in0000.txt").write_text("changed\n")
    stale = bwf(home, "apply", str(plan))
    out, _ = stale.communicate(timeout=120)
    assert stale.returncode == 1 and "saved plan is stale" in out
    p = bwf(home, "plan", str(spec), "--out", str(plan))
    assert p.wait(timeout=120) == 0
    ok = bwf(home, "apply", str(plan))
    out, _ = ok.communicate(timeout=300)
    assert ok.returncode == 0, out
    assert len(list((tmp_path / "out").glob("*.out"))) == 3


def test_status_logs_destroy_and_no_secret_anywhere(home: Path, tmp_path: Path) -> None:
    spec = many_inputs(tmp_path, 2)
    outputs = []
    for args in (
        ("plan", str(spec)),
        ("plan", "--json", str(spec)),
        ("apply", str(spec), "--yes"),
        ("status", str(spec)),
        ("status", "--json", str(spec)),
        ("logs", str(spec), "in0001"),
        ("logs", "--stderr", str(spec), "in0001"),
    ):
        p = bwf(home, *args)
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, (args, out)
        outputs.append(out)
    status = json.loads(outputs[4])
    assert status["job"]["task_counts"]["succeeded"] == 2
    assert {t["id"]: t["exit_code"] for t in status["tasks"]} == {"in0000": 0, "in0001": 0}
    assert outputs[5] == ""  # the task prints nothing; its stdout.txt exists and is empty
    everything = "\n".join(outputs)
    assert localstack.STORAGE_KEY not in everything and localstack.BATCH_KEY not in everything
    assert "sig=" not in everything
    p = bwf(home, "destroy", str(spec), "--yes")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0 and "deleted" in out
    st = bwf(home, "status", "--json", str(spec))
    after = json.loads(st.communicate(timeout=60)[0])
    assert after["job"] is None and after["pool"] is None


def test_apply_survives_10_percent_service_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("BWF_HOME", str(home))
    monkeypatch.setenv("BWF_LOCALBATCH_FAULT_RATE", "0.1")
    monkeypatch.setenv("BWF_LOCALBATCH_FAULT_SEED", "3")
    try:
        spec = many_inputs(tmp_path, 60)
        assert run_apply(str(spec), "local", {}, yes=True) == 0
        assert len(list((tmp_path / "out").glob("*.out"))) == 60
    finally:
        localstack.down()


def test_the_job_timeout_names_what_did_not_finish(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = many_inputs(tmp_path, 3)
    text = spec.read_text().replace("  tasks:\n", "  timeout: 2s\n  tasks:\n", 1)
    text = text.replace(
        "command: sleep 0.0;", "command: sleep {{ 30 if item.stem == 'in0001' else 0 }};"
    )
    spec.write_text(text)
    assert run_apply(str(spec), "local", {}, yes=True) == 1
    out = capsys.readouterr().out
    assert "The job timeout (2s) passed with 1 task not finished" in out
    assert "  in0001: running" in out
    assert "1 did not finish" in out
    assert len(list((tmp_path / "out").glob("*.out"))) == 2  # what finished is still downloaded


def test_removed_inputs_remove_their_tasks_from_an_active_job(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job whose run was interrupted stays active: the inputs removed meanwhile leave
    it, all their tasks deleted at once (a finished run's job is terminated instead,
    and is history)."""
    spec = many_inputs(tmp_path, 40, sleep=0.5)
    first = bwf(home, "apply", str(spec), "--yes")
    assert first.stdout is not None
    for line in first.stdout:
        if "Monitoring" in line:
            first.kill()
            break
    assert first.wait(timeout=60) == -9
    for i in range(10, 40):
        (tmp_path / "data" / f"in{i:04d}.txt").unlink()
    capsys.readouterr()
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out = capsys.readouterr().out
    assert "(not in the spec)" in out and "Deleting 30 tasks that the spec no longer has" in out
    assert "Terminated job [" in out
    from runner.commands.status import collect

    ids = sorted(t["id"] for t in collect(str(spec), "local", ())["tasks"])
    assert ids == [f"in{i:04d}" for i in range(10)]


def test_the_node_agent_sku_of_the_spec_is_the_pools(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image Batch does not list as supported (a custom one) runs with the node agent
    the spec names, which is not looked up elsewhere."""
    spec = many_inputs(tmp_path, 2)
    image = (
        "{publisher: myorg, offer: custom-image, sku: '1', node_agent_sku: batch.node.debian 12}"
    )
    spec.write_text(spec.read_text().replace("image: ubuntu-22.04", f"image: {image}"))
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert "node agent batch.node.debian 12..." in capsys.readouterr().out
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    url = localstack.status()["batch"]["url"]  # type: ignore[index]
    client = BatchClient(
        url, AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY)
    )
    name = spec.read_text().split("name: ")[1].split()[0]
    vmc = client.get_pool(f"{name}-pool").virtual_machine_configuration
    assert vmc.node_agent_sku_id == "batch.node.debian 12"
    assert vmc.image_reference.offer == "custom-image"
