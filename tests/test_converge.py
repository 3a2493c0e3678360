"""`bwf apply` converges after failures, edits and clean-up, on the real local stack:
no merge left waiting for tasks that cannot run, results that come back when deleted,
exactly the executions an edit needs, and failure reports a user can act on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from runner import localstack
from runner.engine import run_apply
from tests.helpers import fan_out_spec, lines_until
from tests.test_apply import ROOT, bwf, results, top

pytestmark = pytest.mark.usefixtures("in_tmp_path")


def batch_client() -> Any:
    """The SDK, pointed at the local stack of the current BWF_HOME, to look at the
    service's own records."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    info = localstack.up()
    batch = info["batch"]
    assert isinstance(batch, dict)
    credential = AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY)
    return BatchClient(str(batch["url"]), credential)


def executions(pool_id: str) -> int:
    """Task executions on the pool's nodes, as the service counts them."""
    return sum(n.total_tasks_run or 0 for n in batch_client().list_nodes(pool_id))


def values_spec(tmp_path: Path, command: str, *, timeout: str = "40s", extra: str = "") -> Path:
    """Two `values` items and a merge that concatenates their outputs."""
    name = f"c{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""\
apiVersion: bwf/v1
name: {name}
storage:
  containers:
    output: {{}}
pool: {{id: {name}-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 1, task_slots_per_node: 2}}
job:
  id: {name}-job
  timeout: {timeout}
  tasks:
    for_each: {{values: [a, b]}}
    id: "v-{{{{ item }}}}"
    command: {command}
    outputs: [{{pattern: "*.out", container: output}}]
  merge:
    id: merge
    command: cat a.out b.out > ALL.txt
    resource_files: [{{container: output}}]
    outputs: [{{pattern: ALL.txt, container: output}}]
download: [{{container: output, to: {tmp_path / "out"}}}]
{extra}""")
    return spec


def test_a_failed_fan_out_task_does_not_leave_the_merge_stuck(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One item fails while a flag file exists; clean-up deletes the job and the pool.
    The next apply makes a new job holding only what must run: the merge waits on
    that alone, runs, and sees both outputs, in seconds rather than at the timeout."""
    flag = tmp_path / "flag-b"
    flag.touch()
    command = f"test ! -e {tmp_path}/flag-{{{{ item }}}} || exit 3; echo {{{{ item }}}} > {{{{ item }}}}.out"
    spec = values_spec(tmp_path, command, extra="cleanup: {job: delete, pool: delete}\n")
    assert run_apply(str(spec), "local", {}, yes=True) == 1
    out = capsys.readouterr().out
    assert "\n  v-b: failed, exit code 3\n" in out
    assert "\n  merge: blocked, waits on v-b (failed)\n" in out
    flag.unlink()
    started = time.monotonic()
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert time.monotonic() - started < 30  # the job timeout is 40s
    out = capsys.readouterr().out
    assert "waiting on the 1 in the job (the others are done)" in out, out
    assert "Deleting" not in out  # the job was gone: nothing to delete
    assert (tmp_path / "out" / "ALL.txt").read_text() == "a\nb\n"


def test_a_task_deleted_from_the_job_blocks_the_merge_at_once(home: Path, tmp_path: Path) -> None:
    """A dependency that is no longer in the job (deleted by someone) can never
    complete: monitoring stops waiting for the merge and says why; the next apply
    converges."""
    slow = tmp_path / "slow"  # while it exists, v-a takes 20s
    slow.touch()
    command = f"test -e {slow} && [ {{{{ item }}}} = a ] && sleep 20; echo {{{{ item }}}} > {{{{ item }}}}.out"
    spec = values_spec(
        tmp_path, command, extra="cleanup: {containers: keep, job: keep, pool: keep}\n"
    )
    name = spec.read_text().split("name: ")[1].split()[0]
    proc = bwf(home, "apply", str(spec), "--yes")
    seen = lines_until(proc, "Monitoring")
    client = batch_client()
    while client.get_task(f"{name}-job", "v-b").state != "completed":
        time.sleep(0.2)
    client.delete_task(f"{name}-job", "v-a")
    deleted = time.monotonic()
    out, _ = proc.communicate(timeout=60)
    out = "".join(seen) + out
    assert proc.returncode == 1, out
    assert time.monotonic() - deleted < 30, out  # not the 40s job timeout
    assert "\n  merge: blocked, waits on v-a (not in the job)\n" in out, out
    slow.unlink()
    again = bwf(home, "apply", str(spec), "--yes")
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    assert (tmp_path / "out" / "ALL.txt").read_text() == "a\nb\n"


def shipped_topn(tmp_path: Path) -> tuple[Path, str]:
    """workflows/topn.yaml as shipped (containers deleted, job and pool `ask`, which
    --yes answers), except that the pool is kept so that its nodes' execution counts
    can be read after each apply."""
    name = f"s{uuid.uuid4().hex[:8]}"
    (tmp_path / ".git").mkdir()  # a repository, as the shipped workflows live in one
    (tmp_path / "workflows").mkdir()
    shutil.copytree(ROOT / "workflows" / "data", tmp_path / "workflows" / "data")
    shutil.copytree(ROOT / "node_scripts", tmp_path / "node_scripts")
    text = (ROOT / "workflows" / "topn.yaml").read_text()
    for old, new in (
        ("name: topn\n", f"name: {name}\n"),
        ("topn-pool", f"{name}-pool"),
        ("topn-job", f"{name}-job"),
        ("to: out/topn", f"to: {tmp_path / 'out'}"),
        ("  pool: ask\n", "  pool: keep\n"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    spec = tmp_path / "workflows" / "topn.yaml"
    spec.write_text(text)
    return spec, f"{name}-pool"


def test_editing_one_topn_text_runs_exactly_its_task_and_the_merge(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, pool = shipped_topn(tmp_path)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert executions(pool) == 4
    out = capsys.readouterr().out
    assert "Deleted the workflow's containers." in out and "Deleted job" in out
    data = tmp_path / "workflows" / "data" / "topn"
    (data / "signal.txt").write_text("zebra zebra zebra zebra yak yak yak yak yak x\n")
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert executions(pool) == 6  # signal's task and the merge, nothing else
    out = capsys.readouterr().out
    assert "Deleting" not in out  # the job was gone
    assert re.search(r"\+ restore +\S+-output +7 blobs", out), out
    assert results(tmp_path / "out" / "signal_OUTPUT.txt") == [("yak", 5), ("zebra", 4), ("x", 1)]
    every = "".join(p.read_text() for p in sorted(data.glob("*.txt")))
    assert results(tmp_path / "out" / "ALL_OUTPUT.txt") == top(every, 3)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert capsys.readouterr().out.startswith("No changes.")
    assert executions(pool) == 6


def test_results_deleted_moved_or_edited_come_back(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The download targets are part of the desired state. Their containers are gone
    (clean-up), so they come from the copy kept in BWF_HOME; without it, the tasks
    that wrote them run again."""
    spec, pool = shipped_topn(tmp_path)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out_dir = tmp_path / "out"
    expected = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    assert len(expected) == 4
    capsys.readouterr()

    shutil.rmtree(out_dir)
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out = capsys.readouterr().out
    assert "(missing locally; from the copy kept in BWF_HOME)" in out, out
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == expected

    edited = out_dir / "harbour_OUTPUT.txt"
    edited.write_bytes(b"x" * len(expected[edited.name]))  # same size, other content
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert "(changed locally;" in capsys.readouterr().out
    assert (out_dir / "harbour_OUTPUT.txt").read_bytes() == expected["harbour_OUTPUT.txt"]

    text = spec.read_text()
    spec.write_text(text.replace(f"to: {out_dir}", f"to: {tmp_path / 'moved'}"))
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert "(not downloaded yet;" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "moved").iterdir()} == set(expected)

    download = 'pattern: "*_OUTPUT.txt"\n    to:'
    assert download in text
    spec.write_text(text.replace(download, 'pattern: "*.counts"\n    to:'))
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    counts = {p.name for p in out_dir.glob("*.counts")}
    assert counts == {"harbour.counts", "orchard.counts", "signal.counts"}
    assert executions(pool) == 4  # all of it without running a task again

    spec.write_text(text)
    name = text.split("name: ")[1].split()[0]
    shutil.rmtree(next((home / "kept").glob(f"{name}-*")))
    shutil.rmtree(out_dir)
    capsys.readouterr()
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    out = capsys.readouterr().out
    assert re.search(r"\+   3 tasks  \(outputs gone\)", out), out  # no copy: run again
    assert {p.name: results(p) for p in out_dir.iterdir()} == {
        name: results(tmp_path / "moved" / name) for name in expected
    }


def test_a_saved_plan_with_no_changes_applies(home: Path, tmp_path: Path) -> None:
    from tests.test_apply import many_inputs

    spec = many_inputs(tmp_path, 2)
    first = bwf(home, "apply", str(spec), "--yes")
    assert first.wait(timeout=120) == 0
    plan = tmp_path / "plan.json"
    saved = bwf(home, "plan", str(spec), "--out", str(plan))
    out, _ = saved.communicate(timeout=60)
    assert saved.returncode == 0 and out.startswith("No changes."), out
    applied = bwf(home, "apply", str(plan))
    out, _ = applied.communicate(timeout=60)
    assert applied.returncode == 0, out
    assert out.startswith("No changes."), out
    # a plan made while a result is missing is applied as made
    (tmp_path / "out" / "in0001.out").unlink()
    saved = bwf(home, "plan", str(spec), "--out", str(plan))
    assert saved.wait(timeout=60) == 0
    applied = bwf(home, "apply", str(plan))
    out, _ = applied.communicate(timeout=60)
    assert applied.returncode == 0 and "(missing locally)" in out, out
    assert (tmp_path / "out" / "in0001.out").exists()
    assert json.loads(plan.read_text())["has_changes"] is True


def test_a_lost_bwf_home_ledger_runs_nothing_again_from_a_kept_terminated_job(
    home: Path, tmp_path: Path
) -> None:
    """A kept job is terminated once its run is over. Without the ledger (BWF_HOME lost,
    a fresh CI runner), its tasks completed with the same inputs are still done: the
    next apply replaces no job and runs no task again."""
    name = f"l{uuid.uuid4().hex[:8]}"
    spec = fan_out_spec(
        tmp_path,
        name,
        {f"in{i}.txt": f"word{i} text\n" for i in range(4)},
        "wc -w {{ item.name }} > {{ item.stem }}.out",
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert executions(f"{name}-pool") == 4
    for ledger in (home / "ledger").glob(f"{name}-*.json"):
        ledger.unlink()
    again = bwf(home, "plan", str(spec)).communicate(timeout=120)[0]
    # the downloads are checked against their blobs (the ledger said they were done)
    assert "0 of 4 tasks to run" in again and "4 tasks  done earlier" in again, again
    assert "-/+ job" not in again and "0 to replace." in again, again  # the job kept
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    assert executions(f"{name}-pool") == 4


def test_an_apply_with_nothing_to_do_loads_no_service_sdk(home: Path, tmp_path: Path) -> None:
    """The run ledger answers a re-apply with nothing changed without any service, so
    the azure SDKs (a third of a second to import) are not even loaded."""
    spec = fan_out_spec(
        tmp_path, f"n{uuid.uuid4().hex[:8]}", {"a.txt": "a b\n"}, "wc -w {{ item.name }} > a.out"
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    check = (
        "import sys\n"
        "from runner.cli import main\n"
        "try:\n"
        f"    main(['apply', {str(spec)!r}, '--yes'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('azure'))\n"
        "assert not loaded, loaded\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "No changes." in r.stdout + r.stderr
