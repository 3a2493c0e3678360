"""The real Azure CLI (`az batch ...`, installed from PyPI into its own virtual
environment, `.venv-az`, on first use) against the local Batch service: pools, nodes,
jobs, tasks and files, asserting exit codes and the JSON the CLI prints.

The CLI finds the service through AZURE_BATCH_ACCOUNT, AZURE_BATCH_ACCESS_KEY and
AZURE_BATCH_ENDPOINT, as it would find an Azure account. Waiting is done with the SDK
(one CLI call costs a Python start-up); every command under test goes through `az`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from runner import localstack
from tests.batch_helpers import uid, wait_for, wait_nodes

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-az"
AZURE_CLI = "azure-cli==2.91.0"
IMAGE = "canonical:0001-com-ubuntu-server-jammy:22_04-lts"


@dataclass
class Result:
    rc: int
    out: Any  # the printed JSON, None when nothing was printed
    err: str


@pytest.fixture(scope="module")
def az_executable() -> Path:
    """`.venv-az/bin/az`, installed on first use (a couple of minutes), then reused until
    the pinned version changes."""
    ready = VENV / ".ready"
    if not ready.exists() or ready.read_text().strip() != AZURE_CLI:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120
        )
        subprocess.run(
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                AZURE_CLI,
            ],
            check=True,
            timeout=900,
        )
        ready.write_text(AZURE_CLI)
    return VENV / "bin" / "az"


class Az:
    """Runs `az batch ...` against the local service with its own configuration directory."""

    def __init__(self, executable: Path, service_url: str, config_dir: Path) -> None:
        self.executable = executable
        self.env = {
            **os.environ,
            "AZURE_CONFIG_DIR": str(config_dir),
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_NO_COLOR": "true",
            "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
            "AZURE_BATCH_ACCOUNT": localstack.BATCH_ACCOUNT,
            "AZURE_BATCH_ACCESS_KEY": localstack.BATCH_KEY,
            "AZURE_BATCH_ENDPOINT": service_url,
        }

    def __call__(self, *args: str, ok: bool = True, cwd: Path | None = None) -> Result:
        proc = subprocess.run(
            [str(self.executable), "batch", *args, "--output", "json"],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd,
            timeout=180,
        )
        result = Result(
            proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr
        )
        if ok:
            assert result.rc == 0, f"az batch {' '.join(args)} exited {result.rc}: {result.err}"
        else:
            assert result.rc != 0, f"az batch {' '.join(args)} should have failed: {result.out}"
        return result


def create_pool(az: Az, pool_id: str, nodes: int, *options: str) -> None:
    """`az batch pool create` of an Ubuntu 22.04 pool of `nodes` dedicated nodes."""
    az(
        "pool",
        "create",
        "--id",
        pool_id,
        "--vm-size",
        "standard_d2s_v3",
        "--image",
        IMAGE,
        "--node-agent-sku-id",
        "batch.node.ubuntu 22.04",
        "--target-dedicated-nodes",
        str(nodes),
        *options,
    )


@pytest.fixture(scope="module")
def az(az_executable: Path, batch_service: Any, tmp_path_factory: pytest.TempPathFactory) -> Az:
    return Az(az_executable, batch_service.url, tmp_path_factory.mktemp("azure-config"))


@pytest.fixture(scope="module")
def pool(az: Az, batch_service: Any) -> Iterator[str]:
    """A pool of 2 nodes made with `az batch pool create`."""
    pool_id = uid("clipool")
    create_pool(az, pool_id, 2)
    yield pool_id
    az("pool", "delete", "--pool-id", pool_id, "--yes")


def test_pool_show_nodes_counts_images_and_errors(az: Az, pool: str, sdk: BatchClient) -> None:
    wait_nodes(sdk, pool, 2)
    shown = az("pool", "show", "--pool-id", pool).out
    assert (shown["id"], shown["state"], shown["allocationState"]) == (pool, "active", "steady")
    assert shown["targetDedicatedNodes"] == 2 and shown["currentDedicatedNodes"] == 2
    nodes = az("node", "list", "--pool-id", pool, "--filter", "state eq 'idle'").out
    assert len(nodes) == 2 and all(n["schedulingState"] == "enabled" for n in nodes)
    (counts,) = az("pool", "node-counts", "list", "--filter", f"poolId eq '{pool}'").out
    assert (counts["poolId"], counts["dedicated"]["idle"], counts["dedicated"]["total"]) == (
        pool,
        2,
        2,
    )
    images = az("pool", "supported-images", "list", "--filter", "osType eq 'linux'").out
    assert any(i["nodeAgentSkuId"] == "batch.node.ubuntu 22.04" for i in images)
    usage = az("pool", "usage-metrics", "list").out
    assert any(u["poolId"] == pool and u["totalCoreHours"] > 0 for u in usage)
    az("pool", "set", "--pool-id", pool, "--metadata", "owner=cli")
    assert az("pool", "show", "--pool-id", pool).out["metadata"] == [
        {"name": "owner", "value": "cli"}
    ]
    reset = az("pool", "reset", "--pool-id", pool, "--start-task-command-line", "/bin/true").out
    assert (reset["metadata"], reset["startTask"]["commandLine"]) == ([], "/bin/true")
    missing = az("pool", "show", "--pool-id", "no-such-pool", ok=False)
    assert "PoolNotFound" in missing.err
    retired = az(
        "pool",
        "create",
        "--id",
        uid("old"),
        "--vm-size",
        "standard_d2s_v3",
        "--image",
        "canonical:0001-com-ubuntu-server-focal:20_04-lts",
        "--node-agent-sku-id",
        "batch.node.ubuntu 20.04",
        ok=False,
    )
    assert "retired" in retired.err and "batch.node.ubuntu 24.04" in retired.err


@pytest.fixture(scope="module")
def sdk(batch_service: Any) -> BatchClient:
    """The SDK, for waiting (module-wide, as the fixtures that wait are)."""
    return BatchClient(
        endpoint=batch_service.url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
    )


@pytest.fixture(scope="module")
def job(az: Az, pool: str, sdk: BatchClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A job with 150 tasks and one that fails, added with `--json-file`, all done."""
    job_id = uid("clijob")
    az("job", "create", "--id", job_id, "--pool-id", pool)
    tasks: list[dict[str, Any]] = [
        {"id": f"t{i:03d}", "commandLine": f"/bin/sh -c 'echo out {i}'"} for i in range(150)
    ]
    tasks.append({"id": "bad", "commandLine": "/bin/sh -c 'echo failing >&2; exit 3'"})
    spec = tmp_path_factory.mktemp("cli-tasks") / "tasks.json"
    spec.write_text(json.dumps(tasks))
    added = az("task", "create", "--job-id", job_id, "--json-file", str(spec)).out
    assert len(added) == 151 and all(r["status"] == "success" for r in added)
    wait_for(
        "151 tasks to complete",
        lambda: sdk.get_job_task_counts(job_id).task_counts.completed == 151,
    )
    return job_id


def test_tasks_from_a_json_file_filters_and_files(az: Az, job: str, tmp_path: Path) -> None:
    counts = az("job", "task-counts", "show", "--job-id", job).out["taskCounts"]
    assert (counts["completed"], counts["succeeded"], counts["failed"]) == (151, 150, 1)
    failed = az(
        "task", "list", "--job-id", job, "--filter", "executionInfo/result eq 'failure'"
    ).out
    assert [t["id"] for t in failed] == ["bad"]
    prefixed = az("task", "list", "--job-id", job, "--filter", "startswith(id,'t01')").out
    assert sorted(t["id"] for t in prefixed) == [f"t01{i}" for i in range(10)]
    coded = az(
        "task",
        "list",
        "--job-id",
        job,
        "--filter",
        "executionInfo/exitCode gt 0 and state eq 'completed'",
    ).out
    assert [(t["id"], t["executionInfo"]["exitCode"]) for t in coded] == [("bad", 3)]
    refused = az("task", "list", "--job-id", job, "--filter", "commandLine eq 'x'", ok=False)
    assert "InvalidQueryParameterValue" in refused.err
    names = {
        f["name"] for f in az("task", "file", "list", "--job-id", job, "--task-id", "t007").out
    }
    assert {"stdout.txt", "stderr.txt", "wd"} <= names
    az(
        "task",
        "file",
        "download",
        "--job-id",
        job,
        "--task-id",
        "t007",
        "--file-path",
        "stdout.txt",
        "--destination",
        str(tmp_path / "out.txt"),
    )
    assert (tmp_path / "out.txt").read_text() == "out 7\n"


def test_task_reactivate_stop_and_reset(az: Az, job: str, sdk: BatchClient) -> None:
    az("task", "reactivate", "--job-id", job, "--task-id", "bad")
    wait_for(
        "the task to fail again", lambda: (t := sdk.get_task(job, "bad")).state == "completed" and t
    )
    bad = az("task", "show", "--job-id", job, "--task-id", "bad").out
    assert (
        bad["executionInfo"]["result"],
        bad["executionInfo"]["exitCode"],
        bad["executionInfo"]["retryCount"],
    ) == ("failure", 3, 0)
    az("task", "create", "--job-id", job, "--task-id", "long", "--command-line", "sleep 60")
    wait_for("the long task to run", lambda: sdk.get_task(job, "long").state == "running")
    az("task", "stop", "--job-id", job, "--task-id", "long")
    stopped = wait_for(
        "the task to end",
        lambda: (
            (t := az("task", "show", "--job-id", job, "--task-id", "long").out)["state"]
            == "completed"
            and t
        ),
    )
    assert stopped["executionInfo"]["failureInfo"]["code"] == "TaskEnded"
    az("task", "reset", "--job-id", job, "--task-id", "t001", "--max-task-retry-count", "2")
    constraints = az("task", "show", "--job-id", job, "--task-id", "t001").out["constraints"]
    assert constraints["maxTaskRetryCount"] == 2 and constraints["retentionTime"] == "P7D"


def test_job_set_reset_disable_enable_and_stop(
    az: Az, pool: str, sdk: BatchClient, tmp_path: Path
) -> None:
    job_id = uid("clijob")
    spec = tmp_path / "job.json"
    spec.write_text(
        json.dumps(
            {
                "id": job_id,
                "poolInfo": {"poolId": pool},
                "metadata": [{"name": "owner", "value": "me"}],
                "jobPreparationTask": {"commandLine": "/bin/sh -c 'echo prep'"},
                "jobReleaseTask": {"commandLine": "/bin/sh -c 'echo release'"},
            }
        )
    )
    az("job", "create", "--json-file", str(spec))
    az("job", "set", "--job-id", job_id, "--priority", "22")
    shown = az("job", "show", "--job-id", job_id).out
    assert shown["priority"] == 22 and shown["metadata"] == [{"name": "owner", "value": "me"}]
    stale = az(
        "job", "set", "--job-id", job_id, "--priority", "1", "--if-match", "0x8D000000000", ok=False
    )
    assert "ConditionNotMet" in stale.err
    az("job", "set", "--job-id", job_id, "--priority", "23", "--if-match", shown["eTag"])
    az("job", "reset", "--job-id", job_id, "--pool-id", pool)
    reset = az("job", "show", "--job-id", job_id).out
    assert (reset["priority"], reset["metadata"]) == (0, [])
    az("task", "create", "--job-id", job_id, "--task-id", "long", "--command-line", "sleep 60")
    wait_for("the long task to run", lambda: sdk.get_task(job_id, "long").state == "running")
    (status,) = az("job", "prep-release-status", "list", "--job-id", job_id).out
    assert status["jobPreparationTaskExecutionInfo"]["exitCode"] == 0
    az("job", "disable", "--job-id", job_id, "--disable-tasks", "requeue")
    wait_for("the job to be disabled", lambda: sdk.get_job(job_id).state == "disabled")
    task = az("task", "show", "--job-id", job_id, "--task-id", "long").out
    assert (task["state"], task["executionInfo"]["requeueCount"]) == ("active", 1)
    az("job", "enable", "--job-id", job_id)
    wait_for("the job to be active", lambda: sdk.get_job(job_id).state == "active")
    az("job", "stop", "--job-id", job_id, "--terminate-reason", "enough")
    wait_for("the job to complete", lambda: sdk.get_job(job_id).state == "completed")
    stopped = az("job", "list", "--filter", f"id eq '{job_id}' and state eq 'completed'").out
    assert [(j["id"], j["executionInfo"]["terminateReason"]) for j in stopped] == [
        (job_id, "enough")
    ]
    assert "JobCompleted" in az("job", "enable", "--job-id", job_id, ok=False).err
    assert az("task", "subtask", "list", "--job-id", job_id, "--task-id", "long").out == []
    az("task", "delete", "--job-id", job_id, "--task-id", "long", "--yes")
    assert (
        "TaskNotFound" in az("task", "show", "--job-id", job_id, "--task-id", "long", ok=False).err
    )
    az("job", "delete", "--job-id", job_id, "--yes")


def test_pool_resize_abort_reboot_scheduling_files_users_and_node_delete(
    az: Az, sdk: BatchClient, tmp_path: Path
) -> None:
    pool_id = uid("clipool")
    create_pool(
        az,
        pool_id,
        2,
        "--start-task-command-line",
        "/bin/sh -c 'echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots'",
    )
    wait_nodes(sdk, pool_id, 2)
    az("pool", "resize", "--pool-id", pool_id, "--target-dedicated-nodes", "3")
    az("pool", "resize", "--pool-id", pool_id, "--abort")
    # allocation is immediate, so the resize is done before the abort, unless the machine
    # is so loaded that the abort stops it first: then the pool keeps the nodes it has
    wait_for("a steady pool", lambda: sdk.get_pool(pool_id).allocation_state == "steady")
    pool = az("pool", "show", "--pool-id", pool_id).out
    size = pool["currentDedicatedNodes"]
    assert (pool["allocationState"], pool["targetDedicatedNodes"], size in (2, 3)) == (
        "steady",
        3,
        True,
    )
    nodes = wait_nodes(sdk, pool_id, size)
    node_id = nodes[0].id
    booted = sdk.get_node(pool_id, node_id).last_boot_time
    az("node", "reboot", "--pool-id", pool_id, "--node-id", node_id)
    wait_for(
        "the node to boot again",
        lambda: (n := sdk.get_node(pool_id, node_id)).state == "idle" and n.last_boot_time > booted,
    )
    after = az("node", "show", "--pool-id", pool_id, "--node-id", node_id).out
    assert (after["state"], after["startTaskInfo"]["result"]) == ("idle", "success")
    az("node", "scheduling", "disable", "--pool-id", pool_id, "--node-id", node_id)
    off = az("node", "show", "--pool-id", pool_id, "--node-id", node_id).out
    assert (off["state"], off["schedulingState"]) == ("offline", "disabled")
    again = az(
        "node", "scheduling", "disable", "--pool-id", pool_id, "--node-id", node_id, ok=False
    )
    assert "NodeAlreadyInTargetSchedulingState" in again.err
    az("node", "scheduling", "enable", "--pool-id", pool_id, "--node-id", node_id)
    assert az("node", "show", "--pool-id", pool_id, "--node-id", node_id).out["state"] == "idle"
    files = {
        f["name"]
        for f in az(
            "node", "file", "list", "--pool-id", pool_id, "--node-id", node_id, "--recursive"
        ).out
    }
    assert {"shared/boots", "startup/stdout.txt"} <= files
    az(
        "node",
        "file",
        "download",
        "--pool-id",
        pool_id,
        "--node-id",
        node_id,
        "--file-path",
        "shared/boots",
        "--destination",
        str(tmp_path / "boots"),
    )
    assert (tmp_path / "boots").read_text() == "boot\nboot\n"  # created, then rebooted
    az(
        "node",
        "file",
        "delete",
        "--pool-id",
        pool_id,
        "--node-id",
        node_id,
        "--file-path",
        "shared/boots",
        "--yes",
    )
    gone = az(
        "node",
        "file",
        "download",
        "--pool-id",
        pool_id,
        "--node-id",
        node_id,
        "--file-path",
        "shared/boots",
        "--destination",
        str(tmp_path / "again"),
        ok=False,
    )
    assert "FileNotFound" in gone.err
    create_user = (
        "node",
        "user",
        "create",
        "--pool-id",
        pool_id,
        "--node-id",
        node_id,
        "--name",
        "ops",
        "--password",
        "Secret-123",
    )
    az(*create_user)
    assert "NodeUserExists" in az(*create_user, ok=False).err
    az(
        "node",
        "user",
        "reset",
        "--pool-id",
        pool_id,
        "--node-id",
        node_id,
        "--user-name",
        "ops",
        "--password",
        "Other-456",
    )
    az(
        "node",
        "user",
        "delete",
        "--pool-id",
        pool_id,
        "--node-id",
        node_id,
        "--user-name",
        "ops",
        "--yes",
    )
    assert (
        "NodeUserNotFound"
        in az(
            "node",
            "user",
            "delete",
            "--pool-id",
            pool_id,
            "--node-id",
            node_id,
            "--user-name",
            "ops",
            "--yes",
            ok=False,
        ).err
    )
    az("node", "delete", "--pool-id", pool_id, "--node-list", node_id)
    wait_for("the pool to shrink", lambda: sdk.get_pool(pool_id).allocation_state == "steady")
    shrunk = az("pool", "show", "--pool-id", pool_id).out
    assert (shrunk["targetDedicatedNodes"], shrunk["currentDedicatedNodes"]) == (2, 2)
    assert node_id not in {n["id"] for n in az("node", "list", "--pool-id", pool_id).out}
    az("pool", "delete", "--pool-id", pool_id, "--yes")
    wait_for("the pool to go", lambda: pool_id not in {p.id for p in sdk.list_pools()})
    assert "PoolNotFound" in az("pool", "show", "--pool-id", pool_id, ok=False).err


def test_pool_autoscale_enable_evaluate_and_disable(az: Az, sdk: BatchClient) -> None:
    pool_id = uid("cliauto")
    create_pool(az, pool_id, 0)
    wait_for("the pool steady", lambda: sdk.get_pool(pool_id).allocation_state == "steady")
    az(
        "pool",
        "autoscale",
        "enable",
        "--pool-id",
        pool_id,
        "--auto-scale-formula",
        "$TargetDedicatedNodes = 1;",
        "--auto-scale-evaluation-interval",
        "PT5M",
    )
    shown = az("pool", "show", "--pool-id", pool_id).out
    assert shown["enableAutoScale"] and shown["autoScaleEvaluationInterval"] == "PT5M"
    assert shown["autoScaleRun"]["results"].startswith("$TargetDedicatedNodes=1;")
    wait_nodes(sdk, pool_id, 1)
    evaluated = az(
        "pool",
        "autoscale",
        "evaluate",
        "--pool-id",
        pool_id,
        "--auto-scale-formula",
        "$TargetDedicatedNodes = 2; $spare = 3;",
    ).out
    assert "$spare=3" in evaluated["results"].split(";")
    bad = az(
        "pool",
        "autoscale",
        "enable",
        "--pool-id",
        pool_id,
        "--auto-scale-formula",
        "$TargetDedicatedNodes = ;",
        ok=False,
    )
    assert "AutoScalingFormulaSyntaxError" in bad.err
    refused = az("pool", "resize", "--pool-id", pool_id, "--target-dedicated-nodes", "3", ok=False)
    assert "OperationInvalidForCurrentState" in refused.err
    az("pool", "autoscale", "disable", "--pool-id", pool_id)
    assert az("pool", "show", "--pool-id", pool_id).out["enableAutoScale"] is False
    az("pool", "delete", "--pool-id", pool_id, "--yes")
