"""Autoscale pools on the local Batch service, driven by the azure-batch SDK, on a
service of their own whose formulas may run every second
(`BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL`) on samples taken every 0.2 s
(`BWF_LOCALBATCH_AUTOSCALE_SAMPLE_PERIOD`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError

from runner.autoscale_formula import pending_tasks_formula
from tests import hostile
from tests.batch_helpers import IMAGE, make_job, uid, wait_completed, wait_for

FAST = {
    "BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL": "1",
    "BWF_LOCALBATCH_AUTOSCALE_SAMPLE_PERIOD": "0.2",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchClient]:
    home = tmp_path_factory.mktemp("autoscale")
    with hostile.service(home / "svc", **FAST) as svc:
        yield hostile.client(svc)
    assert "Traceback" not in (home / "svc" / "service.log").read_text()


def autoscale_pool(
    client: BatchClient, formula: str, interval: str = "PT1S", slots: int = 1
) -> str:
    pool_id = uid("auto")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            task_slots_per_node=slots,
            enable_auto_scale=True,
            auto_scale_formula=formula,
            auto_scale_evaluation_interval=interval,
        )
    )
    return pool_id


def nodes(client: BatchClient, pool_id: str) -> list[m.BatchNode]:
    return list(client.list_nodes(pool_id))


def steady_with(client: BatchClient, pool_id: str, count: int) -> m.BatchPool:
    def probe() -> m.BatchPool | None:
        pool = client.get_pool(pool_id)
        done = pool.allocation_state == "steady" and pool.current_dedicated_nodes == count
        return pool if done and len(nodes(client, pool_id)) == count else None

    return wait_for(f"{pool_id} steady with {count} nodes", probe)


def enable(client: BatchClient, pool_id: str, formula: str, interval: str | None = None) -> None:
    options = m.BatchPoolEnableAutoScaleOptions(
        auto_scale_formula=formula, auto_scale_evaluation_interval=interval
    )
    client.enable_pool_auto_scale(pool_id, options)


def evaluate(client: BatchClient, pool_id: str, formula: str) -> m.AutoScaleRun:
    options = m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
    return client.evaluate_pool_auto_scale(pool_id, options)


def status(error: HttpResponseError) -> tuple[int, str]:
    return error.status_code or 0, error.error.code if error.error else ""


def test_a_pool_created_with_a_formula_sizes_itself_and_refuses_a_resize(
    client: BatchClient,
) -> None:
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = 2;\n$unused = 3 * 4;")
    pool = steady_with(client, pool_id, 2)
    assert pool.enable_auto_scale and pool.auto_scale_evaluation_interval.total_seconds() == 1
    results = pool.auto_scale_run.results.split(";")
    assert results[:3] == [
        "$TargetDedicatedNodes=2",
        "$TargetLowPriorityNodes=0",
        "$NodeDeallocationOption=requeue",
    ]
    assert "$unused=12" in results and pool.auto_scale_run.error is None
    with pytest.raises(HttpResponseError) as refused:
        client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=5))
    assert status(refused.value) == (409, "OperationInvalidForCurrentState")
    first = pool.auto_scale_run.timestamp
    wait_for(
        "a later evaluation", lambda: client.get_pool(pool_id).auto_scale_run.timestamp > first
    )


def test_evaluate_shows_results_and_errors_without_applying_them(client: BatchClient) -> None:
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = 1;", interval="PT1H")
    steady_with(client, pool_id, 1)
    run = evaluate(client, pool_id, "$TargetDedicatedNodes = 3; $x = max(1, 5);")
    assert run.results.startswith("$TargetDedicatedNodes=3;") and "$x=5" in run.results
    bad = evaluate(client, pool_id, "$TargetDedicatedNodes = nosuch(1);")
    assert bad.error.code == "AutoScalingFormulaSyntaxError"
    (detail,) = bad.error.error_values
    assert detail.name == "Message" and detail.value.startswith("Line 1, Col ")
    time.sleep(0.5)
    assert len(nodes(client, pool_id)) == 1  # nothing applied


def test_enable_and_disable_check_formula_and_interval(client: BatchClient) -> None:
    pool_id = uid("fixed")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            target_dedicated_nodes=1,
        )
    )
    steady_with(client, pool_id, 1)
    with pytest.raises(HttpResponseError) as not_enabled:
        evaluate(client, pool_id, "$x = 1;")
    assert status(not_enabled.value) == (409, "OperationInvalidForCurrentState")
    for formula, interval, code in (
        ("$TargetDedicatedNodes = ;", None, "AutoScalingFormulaSyntaxError"),
        ("x" * 9000, None, "AutoScaleFormulaTooLong"),
        ("$TargetDedicatedNodes = 2;", "PT0.5S", "InvalidPropertyValue"),
        ("$TargetDedicatedNodes = 2;", "PT169H", "InvalidPropertyValue"),
    ):
        with pytest.raises(HttpResponseError) as refused:
            enable(client, pool_id, formula, interval)
        assert status(refused.value) == (400, code)
    assert not client.get_pool(pool_id).enable_auto_scale  # nothing changed
    enable(client, pool_id, "$TargetDedicatedNodes = 2;", "PT1S")
    steady_with(client, pool_id, 2)
    client.disable_pool_auto_scale(pool_id)
    pool = client.get_pool(pool_id)
    assert not pool.enable_auto_scale and pool.auto_scale_formula is None
    smaller = m.BatchPoolResizeOptions(target_dedicated_nodes=1)
    client.begin_resize_pool(pool_id, smaller, polling_interval=0.1).result()
    steady_with(client, pool_id, 1)


def test_node_deallocation_option_decides_what_a_shrink_does(client: BatchClient) -> None:
    """taskcompletion lets the running task finish; requeue puts it back in the queue."""
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = 2;")
    steady_with(client, pool_id, 2)
    job_id = make_job(client, pool_id)
    tasks = [m.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 2") for i in range(2)]
    client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))
    wait_for(
        "both tasks running", lambda: client.get_job_task_counts(job_id).task_counts.running == 2
    )
    enable(client, pool_id, "$TargetDedicatedNodes = 1; $NodeDeallocationOption = taskcompletion;")
    wait_completed(client, job_id, 2)
    for task in client.list_tasks(job_id):
        assert (task.execution_info.result, task.execution_info.requeue_count) == ("success", 0)
    steady_with(client, pool_id, 1)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="long", command_line="sleep 30"))
    wait_for("the long task running", lambda: client.get_task(job_id, "long").state == "running")
    enable(client, pool_id, "$TargetDedicatedNodes = 0; $NodeDeallocationOption = requeue;")
    steady_with(client, pool_id, 0)
    wait_for(
        "the long task back in the queue", lambda: client.get_task(job_id, "long").state == "active"
    )
    long = client.get_task(job_id, "long").execution_info
    assert (long.requeue_count, long.retry_count) == (1, 0)
    done = BatchJobTerminateOptions(termination_reason="done")
    client.begin_terminate_job(job_id, done, polling_interval=0.1).result()


def test_a_pool_with_min_0_grows_with_queued_tasks_and_shrinks_to_0_after_the_job(
    client: BatchClient,
) -> None:
    pool_id = autoscale_pool(client, pending_tasks_formula(0, 3, 1))
    steady_with(client, pool_id, 0)
    job_id = make_job(client, pool_id)
    tasks = [m.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 1") for i in range(4)]
    client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))
    most = 0
    deadline = time.monotonic() + 60
    while client.get_job_task_counts(job_id).task_counts.completed < 4:
        most = max(most, len(nodes(client, pool_id)))
        assert time.monotonic() < deadline, "the tasks did not complete in 60 s"
        time.sleep(0.1)
    assert 2 <= most <= 3  # grew with the queue, within the formula's maximum
    assert client.get_job_task_counts(job_id).task_counts.succeeded == 4
    steady_with(client, pool_id, 0)
    assert "$TargetDedicatedNodes=0" in client.get_pool(pool_id).auto_scale_run.results


def test_cpu_percent_is_sampled_from_the_pool_tasks(client: BatchClient) -> None:
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = 1;", interval="PT1H")
    steady_with(client, pool_id, 1)
    job_id = make_job(client, pool_id)
    busy = m.BatchTaskCreateOptions(
        id="busy",
        command_line="/bin/sh -c 'while :; do :; done'",
        constraints=m.BatchTaskConstraints(max_wall_clock_time="PT4S"),
    )
    client.create_task(job_id, busy)
    formula = (
        "$cpu = max($CPUPercent.GetSample(TimeInterval_Second * 2));"
        "$n = $SampleNodeCount.GetSample(1);"
    )

    def busy_seen() -> bool:
        run = evaluate(client, pool_id, formula)
        if run.error is not None:  # no CPU sample yet
            return False
        values = dict(v.split("=", 1) for v in run.results.split(";"))
        return float(values["$cpu"]) > 1 and values["$n"] == "[1]"

    wait_for("a CPU sample of the busy task", busy_seen, timeout=30)
    wait_completed(client, job_id, 1)
