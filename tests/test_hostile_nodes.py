"""Hostile tasks on the local Batch service's nodes: processes that try to outlive their
task (a double fork, `setsid`, `nohup`), and links that try to make the files API serve
what lies outside a task's directory. Processes are found by a unique marker in their
command line, in /proc."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchNodeRebootOptions, BatchNodeReimageOptions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from runner import localstack
from tests import hostile

IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)


def escapes(marker: str) -> str:
    """Shell that leaves three processes behind, each out of the task's process group or
    session or both, each with `marker` in its command line (as has the task's own shell),
    and waits until all three run."""
    sleeper = f"sh -c 'touch escaped.$$; sleep 1000; : {marker}'"
    return (
        f"({sleeper} &); setsid {sleeper} & nohup {sleeper} >/dev/null 2>&1 & "
        "while [ $(ls escaped.* 2>/dev/null | wc -l) -lt 3 ]; do sleep 0.05; done; "
    )


def shell(script: str) -> str:
    return f'/bin/bash -c "{script}"'


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.RunningService]:
    with hostile.service(tmp_path_factory.mktemp("hostile-nodes")) as running:
        yield running


def _pool(client: BatchClient, start_task: m.BatchStartTask | None = None) -> str:
    pool_id = f"pool-{uuid.uuid4().hex[:8]}"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            target_dedicated_nodes=1,
            task_slots_per_node=4,
            start_task=start_task,
        )
    )
    return pool_id


def _job(client: BatchClient, pool_id: str) -> str:
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
    )
    return job_id


def _task_state(client: BatchClient, job_id: str, task_id: str) -> Any:
    return client.get_task(job_id, task_id).state


def _alive(marker: str, count: int) -> bool:
    """Whether `count` escapees with the marker run (the `sh` of `escapes`)."""
    return len(hostile.processes_with(marker, "sh")) >= count


def _none_left(marker: str) -> bool:
    return hostile.processes_with(marker) == []


def test_what_a_task_leaves_running_dies_when_it_ends(svc: localstack.RunningService) -> None:
    client = hostile.client(svc)
    job_id = _job(client, _pool(client))
    marker = f"bwf-escape-{uuid.uuid4().hex}"
    script = escapes(marker) + "exit 0"  # the three escapees were running when it ended
    client.create_task(job_id, m.BatchTaskCreateOptions(id="leaver", command_line=shell(script)))
    start = time.monotonic()
    hostile.wait_for(
        lambda: _task_state(client, job_id, "leaver") == m.BatchTaskState.COMPLETED, 60, "the task"
    )
    assert client.get_task(job_id, "leaver").execution_info.exit_code == 0
    hostile.wait_for(lambda: _none_left(marker), 10, "the end of the escaped processes")
    assert time.monotonic() - start < 60
    hostile.answers_normally(svc)


def test_terminating_a_task_ends_everything_it_started(svc: localstack.RunningService) -> None:
    client = hostile.client(svc)
    job_id = _job(client, _pool(client))
    marker = f"bwf-escape-{uuid.uuid4().hex}"
    client.create_task(
        job_id, m.BatchTaskCreateOptions(id="t", command_line=shell(escapes(marker) + "sleep 1000"))
    )
    hostile.wait_for(lambda: _alive(marker, 3), 60, "the escaped processes")
    client.terminate_task(job_id, "t")
    hostile.wait_for(lambda: _none_left(marker), 10, "the end of the escaped processes")
    hostile.answers_normally(svc)


def test_deleting_a_pool_ends_its_tasks_and_what_its_start_task_left(
    svc: localstack.RunningService,
) -> None:
    client = hostile.client(svc)
    start_marker = f"bwf-start-{uuid.uuid4().hex}"
    task_marker = f"bwf-task-{uuid.uuid4().hex}"
    # a start task may leave a service running for the node's tasks, as on Batch
    start = m.BatchStartTask(
        command_line=shell(escapes(start_marker) + "exit 0"), wait_for_success=True
    )
    pool_id = _pool(client, start)
    job_id = _job(client, pool_id)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(id="t", command_line=shell(escapes(task_marker) + "sleep 1000")),
    )
    hostile.wait_for(lambda: _alive(task_marker, 3), 60, "the task's escaped processes")
    assert _alive(start_marker, 3), "what the start task left runs while the node lives"
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()  # until it is gone
    hostile.wait_for(
        lambda: _none_left(start_marker) and _none_left(task_marker), 10, "the end of every process"
    )
    hostile.answers_normally(svc)


def _node_of(client: BatchClient, pool_id: str) -> str:
    def idle() -> bool:
        return [n.state for n in client.list_nodes(pool_id)] == [m.BatchNodeState.IDLE]

    hostile.wait_for(idle, 60, "an idle node")
    (node,) = client.list_nodes(pool_id)
    return str(node.id)


@pytest.mark.parametrize("how", ["reboot", "reimage", "remove"])
def test_a_node_that_reboots_or_goes_ends_every_process_on_it(
    svc: localstack.RunningService, how: str
) -> None:
    """What the start task left and what a running task started end with the node's boot
    (a reboot or reimage starts the start task afresh) or with the node itself."""
    client = hostile.client(svc)
    start_marker = f"bwf-start-{uuid.uuid4().hex}"
    task_marker = f"bwf-task-{uuid.uuid4().hex}"
    start = m.BatchStartTask(
        command_line=shell(escapes(start_marker) + "exit 0"), wait_for_success=True
    )
    pool_id = _pool(client, start)
    node_id = _node_of(client, pool_id)
    job_id = _job(client, pool_id)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(id="t", command_line=shell(escapes(task_marker) + "sleep 1000")),
    )
    hostile.wait_for(lambda: _alive(task_marker, 3), 60, "the task's escaped processes")
    before = set(hostile.processes_with(start_marker) + hostile.processes_with(task_marker))
    if how == "reboot":
        options = BatchNodeRebootOptions(node_reboot_kind="terminate")
        client.begin_reboot_node(pool_id, node_id, options, polling_interval=0.1).result()
    elif how == "reimage":
        options = BatchNodeReimageOptions(node_reimage_option="terminate")
        client.begin_reimage_node(pool_id, node_id, options, polling_interval=0.1).result()
    else:
        options = m.BatchNodeRemoveOptions(node_ids=[node_id], node_deallocation_option="terminate")
        client.begin_remove_nodes(pool_id, options, polling_interval=0.1).result()

    def survivors() -> set[int]:
        now = hostile.processes_with(start_marker) + hostile.processes_with(task_marker)
        return before & set(now)

    hostile.wait_for(
        lambda: not survivors(),
        15,
        f"the end of every process of the node ({how})",
        lambda: hostile.describe(survivors()),
    )
    if how != "remove":  # the node boots again: its start task runs afresh
        hostile.wait_for(lambda: _alive(start_marker, 3), 60, "the new start task's processes")
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()
    hostile.wait_for(
        lambda: _none_left(start_marker) and _none_left(task_marker), 15, "the end of every process"
    )
    hostile.answers_normally(svc)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_stopping_the_service_leaves_no_process(tmp_path: Path, how: str) -> None:
    """`bwf local down` sends SIGTERM; even `kill -9` of the service ends every task tree."""
    marker = f"bwf-down-{uuid.uuid4().hex}"
    with hostile.service(tmp_path / "svc") as svc:
        client = hostile.client(svc)
        start = m.BatchStartTask(
            command_line=shell(escapes(marker) + "exit 0"), wait_for_success=True
        )
        job_id = _job(client, _pool(client, start))
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(id="t", command_line=shell(escapes(marker) + "sleep 1000")),
        )
        hostile.wait_for(lambda: _alive(marker, 6), 60, "the escaped processes")
        began = time.monotonic()
        if how == "SIGTERM":
            localstack.stop_process(svc.pid)  # what `bwf local down` does
            assert _none_left(marker), "`local down` returned before every process had ended"
        else:
            os.kill(svc.pid, signal.SIGKILL)
            hostile.wait_for(lambda: _none_left(marker), 15, "the end of every process")
        assert time.monotonic() - began < 30


def _file_tree_task(client: BatchClient, job_id: str, outside: Path) -> None:
    script = (
        "echo data > data.txt; ln -s data.txt good; ln -s /etc/passwd passwd; ln -s / root; "
        f"ln -s ../../../../../../.. up; ln -s {outside} out; mkfifo fifo; exit 0"
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="files", command_line=shell(script)))
    hostile.wait_for(
        lambda: _task_state(client, job_id, "files") == m.BatchTaskState.COMPLETED, 60, "the task"
    )
    assert client.get_task(job_id, "files").execution_info.exit_code == 0


def test_the_files_api_serves_nothing_outside_the_task(
    svc: localstack.RunningService, tmp_path: Path
) -> None:
    client = hostile.client(svc)
    job_id = _job(client, _pool(client))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    _file_tree_task(client, job_id, outside)
    start = time.monotonic()

    def read(path: str) -> bytes:
        return b"".join(client.download_task_file(job_id, "files", path))

    assert read("wd/good") == b"data\n"  # a link that stays inside is followed
    for escaping in (
        "wd/passwd",
        "wd/root/etc/passwd",
        "wd/up/etc/passwd",
        "wd/out/victim.txt",
        "wd/fifo",
    ):
        with pytest.raises(ResourceNotFoundError):
            read(escaping)
    with pytest.raises(HttpResponseError) as nul:
        read("wd/data.txt\0")
    assert nul.value.status_code == 400
    names = {f.name for f in client.list_task_files(job_id, "files", recursive=True)}
    assert {"wd/data.txt", "wd/good", "stdout.txt"} <= names
    assert not names & {"wd/passwd", "wd/root", "wd/up", "wd/out", "wd/fifo"}
    assert not any(n.startswith(("wd/root/", "wd/up/", "wd/out/")) for n in names)
    with pytest.raises(ResourceNotFoundError):
        client.delete_task_file(job_id, "files", "wd/out/victim.txt")
    assert (outside / "victim.txt").read_text() == "keep me"
    client.delete_task_file(job_id, "files", "wd/out")  # the link itself may go
    assert (outside / "victim.txt").exists()
    assert time.monotonic() - start < 30
    hostile.answers_normally(svc)


def test_the_node_files_api_serves_nothing_outside_the_node(
    svc: localstack.RunningService, tmp_path: Path
) -> None:
    client = hostile.client(svc)
    pool_id = _pool(client)
    job_id = _job(client, pool_id)
    _file_tree_task(client, job_id, tmp_path)
    node_id = client.get_task(job_id, "files").node_info.node_id
    task_dir = f"workitems/{job_id}/job-1/files/wd"

    def read(path: str) -> bytes:
        return b"".join(client.download_node_file(pool_id, node_id, f"{task_dir}/{path}"))

    assert read("good") == b"data\n"
    for escaping in ("passwd", "root/etc/passwd", "up/etc/passwd"):
        with pytest.raises(ResourceNotFoundError):
            read(escaping)
    names = {f.name for f in client.list_node_files(pool_id, node_id, recursive=True)}
    assert f"{task_dir}/good" in names and f"{task_dir}/passwd" not in names
    hostile.answers_normally(svc)
