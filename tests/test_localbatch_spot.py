"""Spot nodes preempted by the local Batch service (`BWF_LOCALBATCH_PREEMPT_*`), driven by
the azure-batch SDK, each scenario on a service of its own: the node goes `preempted`,
its running task goes back to the queue (`requeueCount`, not `retryCount`), the node
comes back with its start task run again, and the pool's counts show it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from azure.batch import BatchClient
from azure.batch import models as m

from tests import hostile
from tests.batch_helpers import IMAGE, make_job, uid, wait_completed, wait_for, wait_nodes


@contextmanager
def spot_service(tmp_path: Path, **env: str) -> Iterator[BatchClient]:
    with hostile.service(tmp_path / "svc", **env) as svc:
        yield hostile.client(svc)
    assert "Traceback" not in (tmp_path / "svc" / "service.log").read_text()


def spot_pool(client: BatchClient, boots: Path, spot: int | None = 1, **kw: object) -> str:
    """A pool of `spot` spot nodes whose start task appends a line to `boots` each boot."""
    pool_id = uid("spot")
    start = m.BatchStartTask(
        command_line=f"/bin/sh -c 'echo \"$AZ_BATCH_NODE_IS_DEDICATED\" >> {boots}'",
        wait_for_success=True,
    )
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            target_low_priority_nodes=spot,
            start_task=start,
            **kw,  # type: ignore[arg-type]
        )
    )
    return pool_id


def test_a_preempted_spot_node_requeues_its_task_and_comes_back(tmp_path: Path) -> None:
    env = {"BWF_LOCALBATCH_PREEMPT_ON_TASK": "victim", "BWF_LOCALBATCH_PREEMPT_DOWNTIME": "3"}
    boots = tmp_path / "boots.txt"
    with spot_service(tmp_path, **env) as client:
        formula = "$TargetLowPriorityNodes = 1; $TargetDedicatedNodes = 0;"
        pool_id = spot_pool(
            client, boots, spot=None, enable_auto_scale=True, auto_scale_formula=formula
        )
        (node,) = wait_nodes(client, pool_id, 1)
        assert node.is_dedicated is False
        job_id = make_job(client, pool_id)
        client.create_task(job_id, m.BatchTaskCreateOptions(id="victim", command_line="sleep 1"))
        wait_for("the preemption", lambda: client.get_node(pool_id, node.id).state == "preempted")
        seen = client.evaluate_pool_auto_scale(
            pool_id,
            m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$p = $PreemptedNodeCount;"),
        )
        (counts,) = client.list_pool_node_counts(filter=f"poolId eq '{pool_id}'")
        pool = client.get_pool(pool_id)
        assert "$p=1" in seen.results.split(";")
        assert (counts.low_priority.preempted, counts.low_priority.total) == (1, 1)
        assert (pool.current_low_priority_nodes, pool.current_dedicated_nodes) == (1, 0)
        wait_completed(client, job_id, 1, timeout=60)
        info = client.get_task(job_id, "victim").execution_info
        assert (info.result, info.requeue_count, info.retry_count) == ("success", 1, 0)
        assert client.get_node(pool_id, node.id).state in ("idle", "running")
        assert boots.read_text().splitlines() == ["false", "false"]  # booted twice, as spot


def _requeues(tmp_path: Path, seed: str) -> dict[str, int]:
    """Six tasks in turn on one spot node preempted at a rate: each task's requeue count."""
    env = {
        "BWF_LOCALBATCH_PREEMPT_RATE": "0.5",
        "BWF_LOCALBATCH_PREEMPT_SEED": seed,
        "BWF_LOCALBATCH_PREEMPT_DOWNTIME": "0.1",
    }
    with spot_service(tmp_path, **env) as client:
        pool_id = spot_pool(client, tmp_path / "boots.txt", task_slots_per_node=1)
        job_id = make_job(client, pool_id)
        tasks = [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(6)]
        client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))
        counts = wait_completed(client, job_id, 6, timeout=60)
        assert counts.succeeded == 6
        infos = {t.id: t.execution_info for t in client.list_tasks(job_id)}
        assert all(info.retry_count == 0 for info in infos.values())
        return {task_id: info.requeue_count for task_id, info in infos.items()}


def test_preemption_at_a_rate_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    first = _requeues(tmp_path / "a", "7")
    assert sum(first.values()) > 0  # some tasks were preempted, and every one completed
    assert _requeues(tmp_path / "b", "7") == first
