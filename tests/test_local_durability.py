"""The local stack after one of its services is killed (`kill -9`) in the middle of a real
apply: the next apply restarts that service alone, on its port, and the interrupted
run completes with every task succeeding (queued tasks hold URLs with those ports)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import localstack
from tests.gated import TASKS, Apply, gated_spec
from tests.run_cli import bwf_process

pytestmark = pytest.mark.usefixtures("in_tmp_path")


def tasks_of(url: str, job_id: str) -> list[Any]:
    """Every task of the job, read from the local Batch service with the real SDK."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(
        endpoint=url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
    )
    return list(client.list_tasks(job_id))


def saved_by_azurite(home: Path, spec: Path) -> None:
    """Wait until Azurite's metadata on disk holds the workflow's containers and inputs.

    Azurite writes blob contents at once but saves its metadata every 5 seconds
    (docs/local-batch.md): a kill -9 loses the writes of the last few seconds."""
    name = spec.read_text().split("name: ")[1].split()[0]
    expected = [f"{name}-input", f"{name}-output", f"{name}-logs"]
    expected += [f"in{i}.txt" for i in range(TASKS)]
    db = home / "local" / "azurite" / "__azurite_db_blob__.json"
    deadline = time.monotonic() + 60
    while not (db.exists() and all(f'"{n}"' in db.read_text() for n in expected)):
        assert time.monotonic() < deadline, "Azurite did not save its metadata"
        time.sleep(0.2)


@pytest.mark.parametrize("killed", ["batch", "storage"])
def test_a_service_killed_mid_run_then_apply_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed: str
) -> None:
    """kill -9 of one service during monitoring; the apply is given up (Ctrl-C); the
    next apply restarts that service alone, on its port, and every task succeeds."""
    home = tmp_path / "home"  # a private stack: this test kills its services
    monkeypatch.setenv("BWF_HOME", str(home))  # for localstack.status() and down() here
    gate = tmp_path / "gate"
    spec = gated_spec(tmp_path, gate)
    first = Apply(home, spec)
    try:
        first.wait_for("Monitoring")
        if killed == "storage":
            saved_by_azurite(home, spec)
        before: dict[str, Any] = localstack.status()
        os.kill(before[killed]["pid"], signal.SIGKILL)
        first.proc.send_signal(signal.SIGINT)
        first.finish()
        gate.touch()  # the tasks that run on may now finish, whichever service is down
        again = bwf_process(home, "apply", str(spec), "--yes", timeout=180)
        assert again.code == 0, again.out + again.err
        assert "Adding" not in again.out, again.out  # nothing failed, nothing re-submitted
        after: dict[str, Any] = localstack.status()
        for name in ("storage", "batch"):
            assert after[name]["port"] == before[name]["port"]
        survivor = "storage" if killed == "batch" else "batch"
        assert after[survivor]["pid"] == before[survivor]["pid"]
        job_id = yaml.safe_load(spec.read_text())["job"]["id"]
        tasks = tasks_of(after["batch"]["url"], job_id)
        assert len(tasks) == TASKS
        for t in tasks:
            failure = t.execution_info.failure_info
            assert failure is None, (t.id, failure.code, failure.message)
            assert (t.state, t.execution_info.result) == ("completed", "success"), t.id
        assert len(list((tmp_path / "out").glob("*.out"))) == TASKS
    finally:
        gate.touch()
        first.kill()
        localstack.down()
