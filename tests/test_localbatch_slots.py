"""Task slots on the local Batch service, driven by the azure-batch SDK: a task takes its
`requiredSlots` of its node's `taskSlotsPerNode`, starts only where that many are free,
and one that needs more slots than a node has stays active, as on Batch."""

from __future__ import annotations

import time

from azure.batch import BatchClient
from azure.batch import models as m

from tests.batch_helpers import make_job, make_pool, wait_completed, wait_for


def _task(task_id: str, slots: int, command: str) -> m.BatchTaskCreateOptions:
    return m.BatchTaskCreateOptions(id=task_id, command_line=command, required_slots=slots)


def test_a_task_starts_only_where_its_slots_are_free(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=3)
    job_id = make_job(batch_client, pool_id)
    tasks = [
        _task("a", 2, "sleep 4"),
        _task("b", 2, "true"),  # waits for a: 2 + 2 > 3
        _task("c", 1, "sleep 2"),  # runs beside a, although it comes after b
        _task("big", 4, "true"),  # more than the node has: never runs
    ]
    batch_client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))
    busiest = 0
    deadline = time.monotonic() + 60
    while batch_client.get_job_task_counts(job_id).task_counts.completed < 3:
        (node,) = batch_client.list_nodes(pool_id)
        busiest = max(busiest, node.running_task_slots_count or 0)
        assert (node.running_task_slots_count or 0) <= 3
        assert time.monotonic() < deadline, "tasks not done in 60 s"
        time.sleep(0.05)
    a, b, c = (batch_client.get_task(job_id, t).execution_info for t in ("a", "b", "c"))
    assert b.start_time >= a.end_time
    assert c.start_time < a.end_time
    assert busiest == 3
    big = batch_client.get_task(job_id, "big")
    assert big.state == "active" and big.required_slots == 4
    counts = batch_client.get_job_task_counts(job_id)
    assert (counts.task_counts.active, counts.task_counts.succeeded) == (1, 3)
    assert (counts.task_slot_counts.active, counts.task_slot_counts.succeeded) == (4, 5)


def test_slots_are_counted_while_tasks_run(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=4)
    job_id = make_job(batch_client, pool_id)
    tasks = [_task("two", 2, "sleep 2"), _task("one", 1, "sleep 2")]
    batch_client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))

    def both_running() -> bool:
        counts = batch_client.get_job_task_counts(job_id)
        return counts.task_counts.running == 2 and counts.task_slot_counts.running == 3

    wait_for("both tasks running", both_running)
    (node,) = batch_client.list_nodes(pool_id)
    assert (node.running_tasks_count, node.running_task_slots_count) == (2, 3)
    wait_completed(batch_client, job_id, 2)
    (node,) = batch_client.list_nodes(pool_id)
    assert (node.running_tasks_count, node.running_task_slots_count) == (0, 0)
