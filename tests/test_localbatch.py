"""The local Batch service driven by the real azure-batch 15.x SDK, with Azurite for files."""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions as TerminateOptions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from runner import localstack
from tests.batch_helpers import IMAGE, call, make_job, make_pool, uid, wait_completed


def container_sas_url(azurite_url: str, name: str, permission: str) -> str:
    sas = generate_container_sas(
        localstack.STORAGE_ACCOUNT,
        name,
        account_key=localstack.STORAGE_KEY,
        permission=ContainerSasPermissions.from_string(permission),
        expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
    )
    return f"{azurite_url}/{name}?{sas}"


def test_end_to_end_with_azurite(
    batch_client: BatchClient, blob_service: BlobServiceClient, azurite: Any
) -> None:
    """Pool with a start task fed from Azurite, 200 tasks via create_tasks, outputs back
    to Azurite, stdout read back through the files API."""
    app, out = uid("app"), uid("out")
    blob_service.create_container(app).upload_blob("greet.sh", b"echo hello from $1\n")
    blob_service.create_container(out)
    start = m.BatchStartTask(
        command_line="/bin/bash -c 'cp greet.sh $AZ_BATCH_NODE_SHARED_DIR/'",
        resource_files=[
            m.ResourceFile(storage_container_url=container_sas_url(azurite.url, app, "rl"))
        ],
        wait_for_success=True,
    )
    pool_id = make_pool(batch_client, nodes=2, slots=4, start_task=start)
    job_id = make_job(batch_client, pool_id)
    write = container_sas_url(azurite.url, out, "cw")
    tasks = [
        m.BatchTaskCreateOptions(
            id=f"t{i:03d}",
            command_line=f"/bin/bash -c 'bash $AZ_BATCH_NODE_SHARED_DIR/greet.sh {i} > r{i:03d}_OUT.txt'",
            output_files=[
                m.OutputFile(
                    file_pattern="*_OUT.txt",
                    destination=m.OutputFileDestination(
                        container=m.OutputFileBlobContainerDestination(
                            container_url=write, path="results"
                        )
                    ),
                    upload_options=m.OutputFileUploadConfiguration(
                        upload_condition=m.OutputFileUploadCondition.TASK_SUCCESS
                    ),
                )
            ],
        )
        for i in range(200)
    ]
    batch_client.create_tasks(job_id, tasks)
    counts = wait_completed(batch_client, job_id, 200)
    assert (counts.succeeded, counts.failed) == (200, 0)
    blobs = sorted(b.name for b in blob_service.get_container_client(out).list_blobs())
    assert len(blobs) == 200 and blobs[7] == "results/r007_OUT.txt"
    assert (
        blob_service.get_blob_client(out, "results/r007_OUT.txt").download_blob().readall()
        == b"hello from 7\n"
    )
    assert (
        b"".join(batch_client.download_task_file(job_id, "t042", "wd/r042_OUT.txt"))
        == b"hello from 42\n"
    )
    task = batch_client.get_task(job_id, "t042")
    assert task.execution_info.exit_code == 0 and task.node_info.pool_id == pool_id
    names = {f.name for f in batch_client.list_task_files(job_id, "t042", recursive=True)}
    assert {"stdout.txt", "stderr.txt", "wd/r042_OUT.txt"} <= names
    node = batch_client.get_node(pool_id, task.node_info.node_id)
    assert node.start_task_info.exit_code == 0
    listed = list(batch_client.list_tasks(job_id, max_results=30))
    assert len(listed) == 200  # paged through odata.nextLink


def test_task_environment_and_layout(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    job_id = make_job(batch_client, pool_id)
    batch_client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="env",
            command_line="/usr/bin/env",
            environment_settings=[m.EnvironmentSetting(name="MINE", value="a b")],
        ),
    )
    wait_completed(batch_client, job_id, 1)
    env = dict(
        line.split("=", 1)
        for line in b"".join(batch_client.download_task_file(job_id, "env", "stdout.txt"))
        .decode()
        .splitlines()
    )
    assert (
        env["AZ_BATCH_JOB_ID"] == job_id
        and env["AZ_BATCH_TASK_ID"] == "env"
        and env["AZ_BATCH_POOL_ID"] == pool_id
    )
    assert env["AZ_BATCH_TASK_WORKING_DIR"].endswith(f"workitems/{job_id}/job-1/env/wd")
    assert env["AZ_BATCH_TASK_DIR"] == env["AZ_BATCH_TASK_WORKING_DIR"][: -len("/wd")]
    assert Path(env["AZ_BATCH_NODE_SHARED_DIR"]).is_dir()
    assert env["MINE"] == "a b"
    for name in (
        "AZ_BATCH_NODE_ID",
        "AZ_BATCH_NODE_ROOT_DIR",
        "AZ_BATCH_NODE_STARTUP_DIR",
        "AZ_BATCH_ACCOUNT_NAME",
        "AZ_BATCH_ACCOUNT_URL",
    ):
        assert env[name]
    assert "BWF_LOCALBATCH_KEY" not in env  # the service's secrets stay out of tasks


def test_failing_task_is_retried_then_reported_failed(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1)
    job_id = make_job(batch_client, pool_id)
    batch_client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="bad",
            command_line="/bin/bash -c 'echo try >> $AZ_BATCH_NODE_SHARED_DIR/tries-$AZ_BATCH_JOB_ID; exit 3'",
            constraints=m.BatchTaskConstraints(max_task_retry_count=2),
        ),
    )
    counts = wait_completed(batch_client, job_id, 1)
    assert counts.failed == 1
    info = batch_client.get_task(job_id, "bad").execution_info
    assert (info.exit_code, info.retry_count, info.result) == (
        3,
        2,
        m.BatchTaskExecutionResult.FAILURE,
    )
    assert info.failure_info.category == m.BatchErrorSourceCategory.USER_ERROR
    # reactivate: the task runs again from a fresh retry count (1 run + 2 retries more)
    tries = f"shared/tries-{job_id}"
    node_id = batch_client.get_task(job_id, "bad").node_info.node_id
    assert b"".join(batch_client.download_node_file(pool_id, node_id, tries)).count(b"try") == 3
    batch_client.reactivate_task(job_id, "bad")
    deadline = time.monotonic() + 30
    while (
        batch_client.get_task(job_id, "bad").execution_info.retry_count != 2
        or batch_client.get_task(job_id, "bad").state != m.BatchTaskState.COMPLETED
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    node_id = batch_client.get_task(job_id, "bad").node_info.node_id
    assert b"".join(batch_client.download_node_file(pool_id, node_id, tries)).count(b"try") == 6


def test_terminate_kills_the_process_group_and_delete_cleans_up(
    batch_client: BatchClient, tmp_path: Path
) -> None:
    marker = tmp_path / "still-running"
    pool_id = make_pool(batch_client, nodes=1)
    job_id = make_job(batch_client, pool_id)
    # the child outlives its parent's shell unless the whole group is killed
    batch_client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="slow", command_line=f"/bin/bash -c '(sleep 2; touch {marker}) & sleep 60'"
        ),
    )
    deadline = time.monotonic() + 20
    while batch_client.get_task(job_id, "slow").state != m.BatchTaskState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    batch_client.terminate_task(job_id, "slow")
    wait_completed(batch_client, job_id, 1, timeout=10)
    task = batch_client.get_task(job_id, "slow")
    assert task.execution_info.result == m.BatchTaskExecutionResult.FAILURE
    assert task.execution_info.failure_info.code == "TaskEnded"
    time.sleep(2.5)
    assert not marker.exists()
    batch_client.delete_task(job_id, "slow")
    with pytest.raises(ResourceNotFoundError):
        batch_client.get_task(job_id, "slow")
    batch_client.begin_terminate_job(
        job_id, options=TerminateOptions(termination_reason="done"), polling_interval=0.1
    ).result()
    assert batch_client.get_job(job_id).state == m.BatchJobState.COMPLETED
    batch_client.begin_delete_job(job_id, polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError):
        batch_client.get_job(job_id)
    batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError):
        batch_client.get_pool(pool_id)


def test_conflicts_and_errors_use_batch_codes(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=0)
    with pytest.raises(ResourceExistsError) as e:
        make_pool_with_id(batch_client, pool_id.upper())
    assert e.value.error.code == "PoolExists"
    job_id = make_job(batch_client, pool_id)
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="Same", command_line="true"))
    with pytest.raises(ResourceExistsError) as e:
        batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="sAME", command_line="true"))
    assert e.value.error.code == "TaskExists"
    with pytest.raises(HttpResponseError) as e:
        batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="x" * 65, command_line="true"))
    assert e.value.status_code == 400 and e.value.error.code == "InvalidPropertyValue"
    with pytest.raises(ResourceNotFoundError) as e:
        batch_client.get_job("no-such-job")
    assert e.value.error.code == "JobNotFound"


def make_pool_with_id(client: BatchClient, pool_id: str) -> None:
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE
        )
    )


def test_collection_limits_are_enforced(batch_client: BatchClient, batch_service: Any) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=0))
    too_many = {"value": [{"id": f"t{i}", "commandLine": "true"} for i in range(101)]}
    status, _, body = call(batch_service.url, "POST", f"/jobs/{job_id}/addtaskcollection", too_many)
    assert status == 400 and body["code"] == "InvalidPropertyValue"
    huge = {"value": [{"id": f"t{i}", "commandLine": "echo " + "x" * 20000} for i in range(60)]}
    status, _, body = call(batch_service.url, "POST", f"/jobs/{job_id}/addtaskcollection", huge)
    assert status == 413 and body["code"] == "RequestBodyTooLarge"
    escape = {
        "value": [
            {
                "id": "esc",
                "commandLine": "true",
                "resourceFiles": [{"httpUrl": "http://x/y", "filePath": "../../etc/passwd"}],
            }
        ]
    }
    status, _, body = call(batch_service.url, "POST", f"/jobs/{job_id}/addtaskcollection", escape)
    assert status == 200 and body["value"][0]["status"] == "clienterror"
    assert body["value"][0]["error"]["code"] == "InvalidPropertyValue"
    assert list(batch_client.list_tasks(job_id)) == []
    # the SDK splits big collections itself, as against Azure
    batch_client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=f"t{i}", command_line="echo " + "x" * 20000)
            for i in range(60)
        ],
    )
    assert len(list(batch_client.list_tasks(job_id))) == 60


def test_wrong_key_is_refused_and_changes_nothing(
    batch_client: BatchClient, batch_service: Any
) -> None:
    wrong = BatchClient(
        endpoint=batch_service.url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, "d3Jvbmcga2V5"),
    )
    pool_id = uid("pool")
    with pytest.raises(HttpResponseError) as e:
        make_pool_with_id(wrong, pool_id)
    assert e.value.status_code == 403 and e.value.error.code == "AuthenticationFailed"
    with pytest.raises(ResourceNotFoundError):
        batch_client.get_pool(pool_id)
    status, _, _ = call(batch_service.url, "GET", "/pools", key="d3Jvbmcga2V5")
    assert status == 403
    req = urllib.request.Request(f"{batch_service.url}/pools?api-version=2025-06-01")
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(req, timeout=10)
    assert unsigned.value.code == 403


def test_resource_file_failure_is_a_user_error(batch_client: BatchClient, azurite: Any) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=1))
    batch_client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="nofile",
            command_line="true",
            resource_files=[
                m.ResourceFile(http_url=f"{azurite.url}/missing/blob.txt", file_path="blob.txt")
            ],
        ),
    )
    wait_completed(batch_client, job_id, 1)
    info = batch_client.get_task(job_id, "nofile").execution_info
    assert info.result == m.BatchTaskExecutionResult.FAILURE
    assert info.failure_info.category == m.BatchErrorSourceCategory.USER_ERROR
    assert "sig=" not in (info.failure_info.message or "")


def test_dependencies_block_and_satisfy(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=4)
    job_id = make_job(batch_client, pool_id, uses_task_dependencies=True)
    satisfy = m.ExitConditions(default=m.ExitOptions(dependency_action=m.DependencyAction.SATISFY))
    batch_client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="a", command_line="/bin/bash -c 'sleep 0.3'"),
            m.BatchTaskCreateOptions(id="b", command_line="false", exit_conditions=satisfy),
            m.BatchTaskCreateOptions(id="c", command_line="false"),
            m.BatchTaskCreateOptions(
                id="after-ab",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["a", "b"]),
            ),
            m.BatchTaskCreateOptions(
                id="after-c",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["c"]),
            ),
        ],
    )
    wait_completed(batch_client, job_id, 4)
    time.sleep(0.5)
    assert (
        batch_client.get_task(job_id, "after-ab").execution_info.result
        == m.BatchTaskExecutionResult.SUCCESS
    )
    assert (
        batch_client.get_task(job_id, "after-ab").execution_info.start_time
        >= batch_client.get_task(job_id, "a").execution_info.end_time
    )
    assert (
        batch_client.get_task(job_id, "after-c").state == m.BatchTaskState.ACTIVE
    )  # blocked for ever


def test_wall_clock_limit_kills_the_task(batch_client: BatchClient) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=1))
    batch_client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="long",
            command_line="sleep 30",
            constraints=m.BatchTaskConstraints(max_wall_clock_time=dt.timedelta(seconds=1)),
        ),
    )
    started = time.monotonic()
    wait_completed(batch_client, job_id, 1, timeout=15)
    assert time.monotonic() - started < 10
    assert (
        batch_client.get_task(job_id, "long").execution_info.failure_info.code
        == "MaxWallClockTimeExpiry"
    )


def test_start_task_failure_makes_the_node_unusable_for_tasks(batch_client: BatchClient) -> None:
    pool_id = make_pool(
        batch_client,
        nodes=1,
        start_task=m.BatchStartTask(command_line="false", wait_for_success=True),
    )
    job_id = make_job(batch_client, pool_id)
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="never", command_line="true"))
    deadline = time.monotonic() + 15
    while [n.state for n in batch_client.list_nodes(pool_id)] != [
        m.BatchNodeState.START_TASK_FAILED
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.3)
    assert batch_client.get_task(job_id, "never").state == m.BatchTaskState.ACTIVE


def test_job_preparation_runs_once_per_node(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    job_id = make_job(
        batch_client,
        pool_id,
        job_preparation_task=m.BatchJobPreparationTask(
            command_line="/bin/bash -c 'echo prepared >> $AZ_BATCH_NODE_SHARED_DIR/prep.txt; echo mine > here.txt'"
        ),
    )
    batch_client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(
                id=f"t{i}", command_line="/bin/bash -c 'cat $AZ_BATCH_NODE_SHARED_DIR/prep.txt'"
            )
            for i in range(3)
        ],
    )
    wait_completed(batch_client, job_id, 3)
    for i in range(3):
        assert (
            b"".join(batch_client.download_task_file(job_id, f"t{i}", "stdout.txt"))
            == b"prepared\n"
        )


def test_job_release_runs_when_the_job_ends(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=1, slots=1)
    job_id = make_job(
        batch_client,
        pool_id,
        job_preparation_task=m.BatchJobPreparationTask(command_line="true"),
        job_release_task=m.BatchJobReleaseTask(
            command_line="/bin/bash -c 'echo released > $AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_JOB_ID.released'"
        ),
    )
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="one", command_line="true"))
    wait_completed(batch_client, job_id, 1)
    node_id = batch_client.get_task(job_id, "one").node_info.node_id
    batch_client.begin_terminate_job(
        job_id, options=TerminateOptions(termination_reason="done"), polling_interval=0.1
    ).result()
    deadline = time.monotonic() + 10
    while True:
        try:
            data = b"".join(
                batch_client.download_node_file(pool_id, node_id, f"shared/{job_id}.released")
            )
            break
        except HttpResponseError:
            assert time.monotonic() < deadline, "the release task did not run"
            time.sleep(0.1)
    assert data == b"released\n"
