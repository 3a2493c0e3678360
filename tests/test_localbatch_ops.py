"""The local Batch service's node, pool and job operations and their state machines,
driven by the real azure-batch 15.x SDK: reboot and reimage, scheduling, removing
nodes, stopping a resize, disabling and enabling a job, node counts, usage metrics,
preparation and release status, statistics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import (
    BatchJobTerminateOptions,
    BatchNodeRebootOptions,
    BatchNodeReimageOptions,
)
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from runner import localstack
from tests.batch_helpers import make_job, make_pool, wait_completed, wait_for, wait_nodes

BOOT_LOG = "/bin/sh -c 'echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots'"
POLL = {"polling_interval": 0.1}


def run_long(client: BatchClient, job_id: str, task_id: str, seconds: int = 60) -> Any:
    """Add a task that sleeps, and wait until it runs; the task."""
    client.create_task(
        job_id, m.BatchTaskCreateOptions(id=task_id, command_line=f"sleep {seconds}")
    )
    return wait_for(
        f"{task_id} running",
        lambda: (t := client.get_task(job_id, task_id)).state == "running" and t,
    )


def boots(client: BatchClient, pool_id: str, node_id: str) -> int:
    try:
        data = b"".join(client.download_node_file(pool_id, node_id, "shared/boots"))
    except ResourceNotFoundError:
        return 0
    return data.count(b"boot")


def test_reboot_requeues_running_tasks_and_runs_the_start_task_again(
    batch_client: BatchClient,
) -> None:
    pool_id = make_pool(
        batch_client, nodes=1, slots=1, start_task=m.BatchStartTask(command_line=BOOT_LOG)
    )
    (node,) = wait_nodes(batch_client, pool_id, 1)
    assert boots(batch_client, pool_id, node.id) == 1
    job_id = make_job(batch_client, pool_id)
    run_long(batch_client, job_id, "long")
    first_boot = node.last_boot_time
    batch_client.begin_reboot_node(
        pool_id, node.id, BatchNodeRebootOptions(node_reboot_kind="requeue"), **POLL
    ).result()
    wait_for("the start task to run again", lambda: boots(batch_client, pool_id, node.id) == 2)
    task = wait_for(
        "the task to run again",
        lambda: (t := batch_client.get_task(job_id, "long")).state == "running" and t,
    )
    assert (task.execution_info.requeue_count, task.execution_info.retry_count) == (1, 0)
    assert batch_client.get_node(pool_id, node.id).last_boot_time > first_boot
    batch_client.terminate_task(job_id, "long")


def test_reboot_with_terminate_ends_the_tasks_and_a_booting_node_refuses(
    batch_client: BatchClient,
) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    (node,) = wait_nodes(batch_client, pool_id, 1)
    job_id = make_job(batch_client, pool_id)
    run_long(batch_client, job_id, "long")
    batch_client.begin_reboot_node(
        pool_id, node.id, BatchNodeRebootOptions(node_reboot_kind="terminate"), **POLL
    ).result()
    task = batch_client.get_task(job_id, "long")
    assert task.state == "completed" and task.execution_info.failure_info.code == "TaskEnded"
    wait_nodes(batch_client, pool_id, 1)


def test_a_node_whose_start_task_failed_reboots_and_runs_it_again(
    batch_client: BatchClient,
) -> None:
    """How bwf repairs a node whose start task failed (on an expired SAS): a reboot runs
    the start task again, and a node still booting refuses a second reboot."""
    fails_once = (
        "/bin/sh -c 'test -f $AZ_BATCH_NODE_SHARED_DIR/boots && sleep 1 && exit 0; "
        "echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots; exit 3'"
    )
    start = m.BatchStartTask(command_line=fails_once, wait_for_success=True)
    pool_id = make_pool(batch_client, nodes=1, slots=1, start_task=start)
    (node,) = wait_nodes(batch_client, pool_id, 1, ("starttaskfailed",))
    first = node.start_task_info.start_time
    requeue = BatchNodeRebootOptions(node_reboot_kind="requeue")
    batch_client.begin_reboot_node(pool_id, node.id, requeue, **POLL)
    with pytest.raises(ResourceExistsError) as e:  # booting: its start task takes 1 s
        batch_client.begin_reboot_node(pool_id, node.id, requeue, **POLL)
    assert e.value.error.code in ("NodeBeingRebooted", "NodeBeingStarted")
    (node,) = wait_nodes(batch_client, pool_id, 1)
    assert node.start_task_info.start_time > first and node.start_task_info.exit_code == 0


def test_reimage_wipes_the_node_and_runs_the_start_task_again(batch_client: BatchClient) -> None:
    pool_id = make_pool(
        batch_client, nodes=1, slots=1, start_task=m.BatchStartTask(command_line=BOOT_LOG)
    )
    (node,) = wait_nodes(batch_client, pool_id, 1)
    job_id = make_job(batch_client, pool_id)
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="one", command_line="true"))
    wait_completed(batch_client, job_id, 1)
    batch_client.begin_reimage_node(
        pool_id, node.id, BatchNodeReimageOptions(node_reimage_option="requeue"), **POLL
    ).result()
    wait_nodes(batch_client, pool_id, 1)
    # the reboot count starts over: the shared directory was wiped, the start task ran once
    assert boots(batch_client, pool_id, node.id) == 1
    names = {f.name for f in batch_client.list_node_files(pool_id, node.id, recursive=True)}
    assert not any(n.startswith(f"workitems/{job_id}") for n in names)


def test_a_node_with_scheduling_disabled_gets_no_tasks(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=2, slots=1)
    off, on = wait_nodes(batch_client, pool_id, 2)
    never = m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="taskcompletion")
    batch_client.disable_node_scheduling(pool_id, off.id, never)
    node = batch_client.get_node(pool_id, off.id)
    assert (node.state, node.scheduling_state) == ("offline", "disabled")
    with pytest.raises(HttpResponseError) as e:
        batch_client.disable_node_scheduling(pool_id, off.id, never)
    assert e.value.status_code == 409 and e.value.error.code == "NodeAlreadyInTargetSchedulingState"
    job_id = make_job(batch_client, pool_id)
    batch_client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(6)]
    )
    wait_completed(batch_client, job_id, 6)
    assert {t.node_info.node_id for t in batch_client.list_tasks(job_id)} == {on.id}
    batch_client.enable_node_scheduling(pool_id, off.id)
    assert batch_client.get_node(pool_id, off.id).state == "idle"


def test_disabling_scheduling_requeues_the_running_task(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    (node,) = wait_nodes(batch_client, pool_id, 1)
    job_id = make_job(batch_client, pool_id)
    run_long(batch_client, job_id, "long")
    batch_client.disable_node_scheduling(
        pool_id,
        node.id,
        m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue"),
    )
    wait_for(
        "the node to go offline", lambda: batch_client.get_node(pool_id, node.id).state == "offline"
    )
    task = batch_client.get_task(job_id, "long")
    assert task.state == "active" and task.execution_info.requeue_count == 1
    batch_client.enable_node_scheduling(pool_id, node.id)
    wait_for(
        "the task to run again", lambda: batch_client.get_task(job_id, "long").state == "running"
    )
    batch_client.terminate_task(job_id, "long")


def test_removing_nodes_shrinks_the_pool_and_its_target(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=3, slots=1)
    nodes = wait_nodes(batch_client, pool_id, 3)
    with pytest.raises(ResourceNotFoundError) as e:
        batch_client.begin_remove_nodes(
            pool_id, m.BatchNodeRemoveOptions(node_ids=["no-such-node"]), **POLL
        )
    assert e.value.error.code == "NodeNotFound"
    batch_client.begin_remove_nodes(
        pool_id, m.BatchNodeRemoveOptions(node_ids=[nodes[0].id]), **POLL
    ).result()
    pool = batch_client.get_pool(pool_id)
    assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes, pool.allocation_state) == (
        2,
        2,
        "steady",
    )
    assert {n.id for n in batch_client.list_nodes(pool_id)} == {nodes[1].id, nodes[2].id}


def test_a_node_removed_after_task_completion_finishes_its_task(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    (node,) = wait_nodes(batch_client, pool_id, 1)
    job_id = make_job(batch_client, pool_id)
    run_long(batch_client, job_id, "short", seconds=3)
    batch_client.begin_remove_nodes(
        pool_id,
        m.BatchNodeRemoveOptions(node_ids=[node.id], node_deallocation_option="taskcompletion"),
        polling_interval=0,
    )
    assert batch_client.get_node(pool_id, node.id).state == "leavingpool"
    assert batch_client.get_pool(pool_id).allocation_state == "resizing"
    wait_for(
        "the pool to be steady", lambda: batch_client.get_pool(pool_id).allocation_state == "steady"
    )
    task = batch_client.get_task(job_id, "short")
    assert (task.state, task.execution_info.result, task.execution_info.requeue_count) == (
        "completed",
        "success",
        0,
    )
    assert list(batch_client.list_nodes(pool_id)) == []


def test_stopping_a_resize_of_a_steady_pool_changes_nothing(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=2, slots=1)
    wait_nodes(batch_client, pool_id, 2)
    batch_client.begin_stop_pool_resize(pool_id, **POLL).result()
    pool = batch_client.get_pool(pool_id)
    assert (pool.allocation_state, pool.current_dedicated_nodes, pool.target_dedicated_nodes) == (
        "steady",
        2,
        2,
    )


def test_a_disabled_job_gets_no_tasks_until_enabled(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=2)
    job_id = make_job(batch_client, pool_id)
    run_long(batch_client, job_id, "long")
    batch_client.begin_disable_job(
        job_id, m.BatchJobDisableOptions(disable_tasks="requeue"), **POLL
    ).result()
    job = batch_client.get_job(job_id)
    assert job.state == "disabled"
    task = batch_client.get_task(job_id, "long")
    assert (task.state, task.execution_info.requeue_count, task.execution_info.retry_count) == (
        "active",
        1,
        0,
    )
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="later", command_line="true"))
    time.sleep(1)  # a scheduling pass is 0.2 s: a disabled job would have started it by now
    assert batch_client.get_task(job_id, "later").state == "active"
    with pytest.raises(HttpResponseError) as e:
        batch_client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks="wait"))
    assert e.value.error.code == "JobNotActive"
    batch_client.begin_enable_job(job_id, **POLL).result()
    assert batch_client.get_job(job_id).state == "active"
    wait_for(
        "the job's tasks to run",
        lambda: batch_client.get_task(job_id, "later").state == "completed",
    )
    with pytest.raises(HttpResponseError) as e:
        batch_client.begin_enable_job(job_id)
    assert e.value.status_code == 409
    batch_client.terminate_task(job_id, "long")


def test_disabling_a_job_with_terminate_or_wait(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=2)
    ended = make_job(batch_client, pool_id)
    run_long(batch_client, ended, "long")
    batch_client.begin_disable_job(
        ended, m.BatchJobDisableOptions(disable_tasks="terminate"), **POLL
    ).result()
    task = batch_client.get_task(ended, "long")
    assert task.state == "completed" and task.execution_info.failure_info.code == "TaskEnded"
    waited = make_job(batch_client, pool_id)
    run_long(batch_client, waited, "short", seconds=1)
    batch_client.begin_disable_job(
        waited, m.BatchJobDisableOptions(disable_tasks="wait"), **POLL
    ).result()
    assert batch_client.get_job(waited).state == "disabled"
    # the running task was left to finish: not killed, not requeued
    info = batch_client.get_task(waited, "short").execution_info
    assert (info.result, info.requeue_count) == ("success", 0)


def test_node_counts_usage_metrics_and_stats(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=2, slots=1)
    wait_nodes(batch_client, pool_id, 2)
    (counts,) = batch_client.list_pool_node_counts(filter=f"poolId eq '{pool_id}'")
    assert (
        counts.pool_id,
        counts.dedicated.idle,
        counts.dedicated.total,
        counts.low_priority.total,
    ) == (pool_id, 2, 2, 0)
    metrics = [u for u in batch_client.list_pool_usage_metrics(filter=f"poolId eq '{pool_id}'")]
    assert metrics and metrics[0].vm_size == "standard_d2s_v3" and metrics[0].total_core_hours > 0
    job_id = make_job(batch_client, pool_id)
    batch_client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="ok", command_line="true"),
            m.BatchTaskCreateOptions(
                id="bad",
                command_line="false",
                constraints=m.BatchTaskConstraints(max_task_retry_count=1),
            ),
        ],
    )
    wait_completed(batch_client, job_id, 2)
    stats = batch_client.get_job(job_id, expand=["stats"]).job_statistics
    assert (stats.succeeded_tasks_count, stats.failed_tasks_count, stats.task_retries_count) == (
        1,
        1,
        1,
    )
    assert batch_client.get_job(job_id).job_statistics is None
    pool_stats = batch_client.get_pool(pool_id, expand=["stats"]).pool_statistics
    assert pool_stats.usage_statistics.dedicated_core_time.total_seconds() > 0


def test_preparation_and_release_status_per_node(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    job_id = make_job(
        batch_client,
        pool_id,
        job_preparation_task=m.BatchJobPreparationTask(command_line="true"),
        job_release_task=m.BatchJobReleaseTask(command_line="/bin/sh -c 'exit 4'"),
    )
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="one", command_line="true"))
    wait_completed(batch_client, job_id, 1)
    (status,) = batch_client.list_job_preparation_and_release_task_status(job_id)
    prep = status.job_preparation_task_execution_info
    assert (status.pool_id, prep.state, prep.exit_code, prep.result) == (
        pool_id,
        "completed",
        0,
        "success",
    )
    assert status.job_release_task_execution_info is None
    batch_client.begin_terminate_job(
        job_id, BatchJobTerminateOptions(termination_reason="done"), **POLL
    ).result()

    def released() -> Any:
        (s,) = batch_client.list_job_preparation_and_release_task_status(job_id)
        info = s.job_release_task_execution_info
        return info if info is not None and info.state == "completed" else None

    info = wait_for("the release task", released)
    assert (info.exit_code, info.result, info.failure_info.code) == (
        4,
        "failure",
        "FailureExitCode",
    )
    plain = make_job(batch_client, pool_id)
    with pytest.raises(HttpResponseError) as e:
        list(batch_client.list_job_preparation_and_release_task_status(plain))
    assert e.value.status_code == 409 and e.value.error.code == "JobPreparationTaskNotSpecified"
    assert list(batch_client.list_subtasks(job_id, "one")) == []


def test_node_user_accounts_are_recorded_without_secrets(tmp_path: Path) -> None:
    home = tmp_path / "batch"
    service = localstack.start_batch_service(home)
    try:
        client = BatchClient(
            endpoint=service.url,
            credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
        )
        pool_id = make_pool(client, nodes=1, slots=1)
        (node,) = wait_nodes(client, pool_id, 1)
        user = m.BatchNodeUserCreateOptions(name="ops", is_admin=True, password="Secret-123")
        client.create_node_user(pool_id, node.id, user)
        with pytest.raises(HttpResponseError) as e:
            client.create_node_user(pool_id, node.id, user)
        assert e.value.status_code == 409 and e.value.error.code == "NodeUserExists"
        client.replace_node_user(
            pool_id, node.id, "ops", m.BatchNodeUserReplaceOptions(password="Other-456")
        )
        client.delete_node_user(pool_id, node.id, "ops")
        with pytest.raises(ResourceNotFoundError) as e:
            client.delete_node_user(pool_id, node.id, "ops")
        assert e.value.error.code == "NodeUserNotFound"
    finally:
        localstack.stop_process(service.pid)
    state = b"".join(p.read_bytes() for p in home.rglob("batch.sqlite*"))
    assert b"ops" in state and b"Secret-123" not in state and b"Other-456" not in state
