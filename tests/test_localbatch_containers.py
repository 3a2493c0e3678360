"""Container tasks on the local Batch service, driven by the azure-batch SDK: a pool with
a container configuration, tasks run by podman in an image built for the session
(`container_image`: busybox, imported without a registry), and Batch's failures when an
image or the runtime is missing."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.storage.blob import BlobServiceClient

from runner import localstack
from tests import hostile, podman_image
from tests.batch_helpers import (
    IMAGE,
    make_job,
    make_pool,
    uid,
    wait_completed,
    wait_for,
    wait_nodes,
)
from tests.test_localbatch import container_sas_url


def container_pool(client: BatchClient, images: list[str], nodes: int = 1, slots: int = 2) -> str:
    pool_id = uid("cpool")
    vmc = m.VirtualMachineConfiguration(
        image_reference=IMAGE.image_reference,
        node_agent_sku_id=IMAGE.node_agent_sku_id,
        container_configuration=m.BatchContainerConfiguration(
            type="dockerCompatible", container_image_names=images
        ),
    )
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=vmc,
            target_dedicated_nodes=nodes,
            task_slots_per_node=slots,
        )
    )
    return pool_id


def in_container(image: str, **kw: Any) -> m.BatchTaskContainerSettings:
    return m.BatchTaskContainerSettings(image_name=image, **kw)


def stdout(client: BatchClient, job_id: str, task_id: str) -> str:
    return b"".join(client.download_task_file(job_id, task_id, "stdout.txt")).decode()


def test_a_container_task_reads_batch_variables_and_a_resource_file_and_writes_an_output(
    batch_client: BatchClient, blob_service: BlobServiceClient, azurite: Any, container_image: str
) -> None:
    inputs, outputs = uid("in"), uid("out")
    blob_service.create_container(inputs).upload_blob("data.txt", b"from storage\n")
    blob_service.create_container(outputs)
    pool_id = container_pool(batch_client, [container_image])
    job_id = make_job(batch_client, pool_id)
    script = (
        "[ -e /etc/debian_version ] && echo on-the-host || echo in-the-container; "
        'echo "$AZ_BATCH_TASK_ID $AZ_BATCH_JOB_ID $AZ_BATCH_NODE_IS_DEDICATED"; '
        'echo "mine=$MINE"; pwd; cat data.txt; '
        'test "$AZ_BATCH_TASK_WORKING_DIR" = "$(pwd)" && echo same-dir; '
        'ls "$AZ_BATCH_NODE_SHARED_DIR" >/dev/null && echo shared-mounted; '
        "echo written > result_OUT.txt"
    )
    upload = m.OutputFile(
        file_pattern="*_OUT.txt",
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(
                container_url=container_sas_url(azurite.url, outputs, "cw")
            )
        ),
        upload_options=m.OutputFileUploadConfiguration(
            upload_condition=m.OutputFileUploadCondition.TASK_SUCCESS
        ),
    )
    task = m.BatchTaskCreateOptions(
        id="c1",
        command_line=f"sh -c '{script}'",
        container_settings=in_container(container_image),
        environment_settings=[m.EnvironmentSetting(name="MINE", value="a b")],
        resource_files=[
            m.ResourceFile(storage_container_url=container_sas_url(azurite.url, inputs, "rl"))
        ],
        output_files=[upload],
    )
    batch_client.create_task(job_id, task)
    wait_completed(batch_client, job_id, 1, timeout=90)
    task = batch_client.get_task(job_id, "c1")
    assert task.execution_info.result == "success", (
        task.execution_info,
        stdout(batch_client, job_id, "c1"),
    )
    lines = stdout(batch_client, job_id, "c1").splitlines()
    assert lines[0] == "in-the-container"
    assert lines[1] == f"c1 {job_id} true" and lines[2] == "mine=a b"
    assert lines[3].endswith(f"workitems/{job_id}/job-1/c1/wd")
    assert lines[4:] == ["from storage", "same-dir", "shared-mounted"]
    blob = blob_service.get_blob_client(outputs, "result_OUT.txt").download_blob().readall()
    assert blob == b"written\n"
    info = task.execution_info.container_info
    assert info.container_id.startswith("bwf-") and info.state == "exited"
    assert podman_image.containers_named(info.container_id) == []  # removed once it ended


def test_working_directory_run_options_and_bind_mounts(
    batch_client: BatchClient, container_image: str
) -> None:
    pool_id = container_pool(batch_client, [container_image])
    job_id = make_job(batch_client, pool_id)
    shared_only = [m.ContainerHostBatchBindMountEntry(source="Shared", is_read_only=True)]
    probe_shared = (
        'sh -c \'test -d "$AZ_BATCH_NODE_SHARED_DIR" && echo shared; '
        'touch "$AZ_BATCH_NODE_SHARED_DIR/x" || echo read-only; '
        'test -e "$AZ_BATCH_NODE_STARTUP_DIR" || echo no-startup\''
    )
    image_dir = in_container(
        container_image,
        working_directory="containerImageDefault",
        container_run_options="--env FROM_OPTIONS=yes",
    )
    tasks = [
        m.BatchTaskCreateOptions(
            id="image-dir",
            command_line="sh -c 'pwd; echo $FROM_OPTIONS'",
            container_settings=image_dir,
        ),
        m.BatchTaskCreateOptions(
            id="shared-only",
            command_line=probe_shared,
            container_settings=in_container(
                container_image, container_host_batch_bind_mounts=shared_only
            ),
        ),
    ]
    batch_client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))
    wait_completed(batch_client, job_id, 2, timeout=90)
    assert stdout(batch_client, job_id, "image-dir").splitlines() == ["/", "yes"]
    assert stdout(batch_client, job_id, "shared-only").splitlines() == [
        "shared",
        "read-only",
        "no-startup",
    ]


def test_a_missing_image_fails_the_task_with_batch_failure_info(
    batch_client: BatchClient, container_image: str
) -> None:
    pool_id = container_pool(batch_client, [container_image])
    job_id = make_job(batch_client, pool_id)
    missing = "localhost/bwf-no-such-image:1"
    task = m.BatchTaskCreateOptions(
        id="nope", command_line="true", container_settings=in_container(missing)
    )
    batch_client.create_task(job_id, task)
    wait_completed(batch_client, job_id, 1, timeout=60)
    task = batch_client.get_task(job_id, "nope")
    failure = task.execution_info.failure_info
    assert task.execution_info.result == "failure" and task.execution_info.exit_code is None
    assert (failure.category, failure.code) == ("usererror", "ContainerInvalidImage")
    assert missing in failure.message and "Traceback" not in failure.message


def test_container_settings_on_a_pool_without_containers_fail_the_task(
    batch_client: BatchClient, container_image: str
) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=1, slots=1))
    task = m.BatchTaskCreateOptions(
        id="c", command_line="true", container_settings=in_container(container_image)
    )
    batch_client.create_task(job_id, task)
    wait_completed(batch_client, job_id, 1)
    failure = batch_client.get_task(job_id, "c").execution_info.failure_info
    assert (failure.category, failure.code) == ("usererror", "ContainerInvalidSettings")


def test_a_pool_image_that_is_not_there_makes_the_node_unusable(batch_client: BatchClient) -> None:
    pool_id = container_pool(batch_client, ["localhost/bwf-no-such-image:2"])
    (node,) = wait_nodes(batch_client, pool_id, 1, states=("unusable",))
    (error,) = node.errors
    assert error.code == "ContainerInvalidImage"
    assert "localhost/bwf-no-such-image:2" in error.message
    assert error.error_details[0].value == "localhost/bwf-no-such-image:2"


def test_a_stopped_container_task_leaves_no_container_or_process(
    batch_client: BatchClient, container_image: str
) -> None:
    """Terminated, or past its wall-clock time: the container's processes end with the
    task's supervisor, and podman's store forgets the container."""
    pool_id = container_pool(batch_client, [container_image])
    job_id = make_job(batch_client, pool_id)
    seconds = [f"{random.randint(100000, 999999)}", f"{random.randint(100000, 999999)}"]
    tasks = [
        m.BatchTaskCreateOptions(
            id="stopped",
            command_line=f"sleep {seconds[0]}",
            container_settings=in_container(container_image),
        ),
        m.BatchTaskCreateOptions(
            id="too-long",
            command_line=f"sleep {seconds[1]}",
            container_settings=in_container(container_image),
            constraints=m.BatchTaskConstraints(max_wall_clock_time="PT3S"),
        ),
    ]
    batch_client.create_task_collection(job_id, m.BatchTaskGroup(task_values=tasks))
    wait_for(
        "the sleeps in their containers",
        lambda: all(hostile.processes_with(s, "sleep") for s in seconds),
        60,
    )
    batch_client.terminate_task(job_id, "stopped")
    wait_completed(batch_client, job_id, 2, timeout=60)
    stopped = batch_client.get_task(job_id, "stopped").execution_info
    too_long = batch_client.get_task(job_id, "too-long").execution_info
    assert stopped.failure_info.code == "TaskEnded"
    assert too_long.failure_info.code == "MaxWallClockTimeExpiry"
    for info, s in ((stopped, seconds[0]), (too_long, seconds[1])):
        assert hostile.processes_with(s) == []  # neither the sleep nor podman for it
        assert podman_image.containers_named(info.container_info.container_id) == []


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_service_s_end_leaves_no_container(
    tmp_path: Path, container_image: str, how: str
) -> None:
    """`bwf local down` (SIGTERM) removes the running containers; after `kill -9` their
    processes end with their supervisors, and the service removes what podman kept of
    them when it starts again on the same state."""
    seconds = f"{random.randint(100000, 999999)}"
    home = tmp_path / "svc"
    with hostile.service(home) as svc:
        client = hostile.client(svc)
        job_id = make_job(client, container_pool(client, [container_image]))
        task = m.BatchTaskCreateOptions(
            id="t",
            command_line=f"sleep {seconds}",
            container_settings=in_container(container_image),
        )
        client.create_task(job_id, task)
        wait_for("the sleep in its container", lambda: hostile.processes_with(seconds, "sleep"), 60)
        name = client.get_task(job_id, "t").execution_info.container_info.container_id
        if how == "SIGTERM":
            localstack.stop_process(svc.pid)  # what `bwf local down` does
            assert podman_image.containers_named(name) == []
        else:
            os.kill(svc.pid, signal.SIGKILL)
    wait_for(
        "the end of the container's processes", lambda: not hostile.processes_with(seconds), 30
    )
    if how == "SIGKILL":
        with hostile.service(home):
            wait_for("the container's removal", lambda: not podman_image.containers_named(name), 30)


def test_without_podman_a_container_pool_node_is_unusable_and_says_why(tmp_path: Path) -> None:
    env = {"BWF_LOCALBATCH_CONTAINER_RUNTIME": "bwf-no-such-podman"}
    with hostile.service(tmp_path / "svc", **env) as svc:
        client = hostile.client(svc)
        pool_id = container_pool(client, ["localhost/anything:1"])
        (node,) = wait_nodes(client, pool_id, 1, states=("unusable",))
        (error,) = node.errors
        assert error.code == "ContainerRuntimeUnavailable"
        assert "bwf-no-such-podman" in error.message and "install podman" in error.message


@pytest.fixture(autouse=True)
def _no_leftover_containers(container_image: str) -> Any:
    """Every test leaves podman's store as it found it (the image aside)."""
    before = set(podman_image.podman("ps", "--all", "--format", "{{.Names}}").stdout.split())
    yield
    deadline = time.monotonic() + 30
    while True:
        now = set(podman_image.podman("ps", "--all", "--format", "{{.Names}}").stdout.split())
        ours = {n for n in now - before if n.startswith("bwf-")}
        if not ours or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not ours, f"containers left behind: {ours}"
