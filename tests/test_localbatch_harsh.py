"""The local Batch service behaving as harshly as Azure, driven by the azure-batch SDK.

Each switch is tested on its own, on a private service instance started with that
environment variable; what holds with no switch set runs on the shared service.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions as TerminateOptions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from runner import localstack
from runner.errors import BwfError
from runner.localbatch.harsh import DEFAULT_DELETE_DELAY
from tests.test_localbatch import IMAGE, make_job, make_pool, uid, wait_completed
from tests.test_localbatch_faults import client

POLL: Any = 0.05  # the SDK types polling_interval as int, and sleeps any number


@contextmanager
def harsh_service(tmp_path: Path, **env: str) -> Iterator[BatchClient]:
    """A private local Batch service started with `env`; its log must hold no traceback."""
    home = tmp_path / "batch"
    svc = localstack.start_batch_service(home, env=env)
    try:
        yield client(svc.url)
    finally:
        localstack.stop_process(svc.pid)
    assert "Traceback" not in (home / "service.log").read_text()


def wait_steady(c: BatchClient, pool_id: str, timeout: float = 30) -> m.BatchPool:
    deadline = time.monotonic() + timeout
    while True:
        pool = c.get_pool(pool_id)
        if pool.allocation_state == m.AllocationState.STEADY:
            return pool
        assert time.monotonic() < deadline, f"pool {pool_id} still {pool.allocation_state}"
        time.sleep(0.05)


def node_count(c: BatchClient) -> int:
    return sum(len(list(c.list_nodes(p.id))) for p in c.list_pools())


def test_node_quota_stops_a_resize_with_account_core_quota_reached(tmp_path: Path) -> None:
    with harsh_service(tmp_path, BWF_LOCALBATCH_MAX_NODES="3") as c:
        first = make_pool(c, nodes=2)
        assert wait_steady(c, first).resize_errors is None
        second = make_pool(c, nodes=2)
        pool = wait_steady(c, second)
        assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (2, 1)
        (error,) = pool.resize_errors
        assert error.code == "AccountCoreQuotaReached" and error.message
        assert node_count(c) == 3
        # the quota is the account's: freed nodes go to the next resize, which clears the error
        c.begin_delete_pool(first, polling_interval=POLL).result()
        c.begin_resize_pool(
            second, m.BatchPoolResizeOptions(target_dedicated_nodes=3), polling_interval=POLL
        ).result()
        pool = c.get_pool(second)
        assert pool.current_dedicated_nodes == 3 and pool.resize_errors is None
        c.begin_resize_pool(
            second, m.BatchPoolResizeOptions(target_dedicated_nodes=5), polling_interval=POLL
        ).result()
        pool = c.get_pool(second)
        assert pool.current_dedicated_nodes == 3
        assert [e.code for e in pool.resize_errors] == ["AccountCoreQuotaReached"]


def test_allocation_delay_keeps_the_pool_resizing_and_refuses_another_resize(
    tmp_path: Path,
) -> None:
    delay = 2.0
    with harsh_service(tmp_path, BWF_LOCALBATCH_ALLOCATION_DELAY=str(delay)) as c:
        started = time.monotonic()
        pool_id = make_pool(c, nodes=1)
        pool = c.get_pool(pool_id)
        assert pool.allocation_state == m.AllocationState.RESIZING
        assert pool.current_dedicated_nodes == 0
        with pytest.raises(ResourceExistsError) as e:
            c.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=2))
        assert e.value.status_code == 409 and e.value.error.code == "PoolBeingResized"
        # Azure refuses only resizing a resizing pool: its properties can still be replaced
        c.replace_pool_properties(
            pool_id,
            m.BatchPoolReplaceOptions(
                metadata=[m.BatchMetadataItem(name="k", value="v")],
                application_package_references=[],
            ),
        )
        pool = wait_steady(c, pool_id)
        assert time.monotonic() - started >= delay
        assert pool.current_dedicated_nodes == 1 and pool.metadata[0].value == "v"
        # a resize stopped before its nodes arrive leaves the pool as it was
        c.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=3))
        assert c.get_pool(pool_id).allocation_state == m.AllocationState.RESIZING
        c.begin_stop_pool_resize(pool_id, polling_interval=POLL).result()
        pool = c.get_pool(pool_id)
        assert pool.allocation_state == m.AllocationState.STEADY
        assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (3, 1)


def test_delete_delay_keeps_pools_and_jobs_deleting_and_their_ids_taken(tmp_path: Path) -> None:
    delay = 2.0
    with harsh_service(tmp_path, BWF_LOCALBATCH_DELETE_DELAY=str(delay)) as c:
        pool_id = make_pool(c, nodes=1)
        job_id = make_job(c, pool_id)
        started = time.monotonic()
        deleting_job = c.begin_delete_job(job_id, polling_interval=POLL)
        assert c.get_job(job_id).state == m.BatchJobState.DELETING
        with pytest.raises(ResourceExistsError) as e:
            c.create_job(
                m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
            )
        assert e.value.error.code == "JobBeingDeleted"
        deleting_job.result()
        assert time.monotonic() - started >= delay
        with pytest.raises(ResourceNotFoundError):
            c.get_job(job_id)
        c.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))

        c.begin_delete_job(job_id, polling_interval=POLL)  # gone with its pool, in time
        started = time.monotonic()
        deleting_pool = c.begin_delete_pool(pool_id, polling_interval=POLL)
        assert c.get_pool(pool_id).state == m.BatchPoolState.DELETING
        with pytest.raises(ResourceExistsError) as e:
            c.create_pool(
                m.BatchPoolCreateOptions(
                    id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE
                )
            )
        assert e.value.error.code == "PoolBeingDeleted"
        deleting_pool.result()
        assert deleting_pool.status() == "Succeeded"
        assert time.monotonic() - started >= delay
        with pytest.raises(ResourceNotFoundError):
            c.get_pool(pool_id)


def _statuses(c: BatchClient, count: int) -> list[int]:
    """The status of `count` sequential requests, none of them retried."""
    out = []
    for _ in range(count):
        try:
            next(iter(c.list_supported_images(retry_total=0)))
            out.append(200)
        except HttpResponseError as e:
            assert e.response is not None and e.response.headers["Retry-After"] == "0.05"
            assert e.error is not None
            assert (e.status_code, e.error.code) in ((429, "TooManyRequests"), (503, "ServerBusy"))
            out.append(e.status_code)
    return out


def test_throttling_answers_429_or_503_with_retry_after_reproducibly(tmp_path: Path) -> None:
    env = {
        "BWF_LOCALBATCH_THROTTLE_RATE": "0.3",
        "BWF_LOCALBATCH_THROTTLE_RETRY_AFTER": "0.05",
        "BWF_LOCALBATCH_FAULT_SEED": "5",
    }
    with harsh_service(tmp_path / "a", **env) as c:
        first = _statuses(c, 40)
        # the SDK honours Retry-After, so a small workload goes through as usual
        job_id = make_job(c, make_pool(c, nodes=1, slots=4))
        c.create_tasks(
            job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(20)]
        )
        counts = wait_completed(c, job_id, 20)
        assert (counts.succeeded, counts.failed) == (20, 0)
    assert {429, 503} <= set(first) and 4 <= first.count(200) <= 36
    with harsh_service(tmp_path / "b", **env) as c:
        assert _statuses(c, 40) == first


def test_stale_counts_answer_from_an_old_snapshot(tmp_path: Path) -> None:
    stale = 2.0
    with harsh_service(tmp_path, BWF_LOCALBATCH_STALE_COUNTS=str(stale)) as c:
        pool_id = make_pool(c, nodes=1)
        wait_steady(c, pool_id)
        job_id = make_job(c, pool_id)
        # the first answer is taken before the task exists, so it cannot depend on how
        # fast the task runs: until the snapshot ages, the counts keep showing no task
        asked = time.monotonic()
        before = c.get_job_task_counts(job_id).task_counts
        assert before.completed == 0 and before.active == 0
        c.create_task(job_id, m.BatchTaskCreateOptions(id="quick", command_line="true"))
        while c.get_task(job_id, "quick").state != m.BatchTaskState.COMPLETED:
            assert time.monotonic() - asked < 30
            time.sleep(0.05)
        # a filtered list is exact while the counts may lag behind
        assert list(c.list_tasks(job_id, filter="state ne 'completed'")) == []
        again = c.get_job_task_counts(job_id).task_counts
        if time.monotonic() - asked < stale:  # surely within the snapshot's lifetime
            assert again.completed == 0 and again.as_dict() == before.as_dict()
        counts = wait_completed(c, job_id, 1, timeout=30)
        assert counts.succeeded == 1
        assert time.monotonic() - asked >= stale


def test_active_job_quota(tmp_path: Path) -> None:
    with harsh_service(tmp_path, BWF_LOCALBATCH_MAX_ACTIVE_JOBS="1") as c:
        pool_id = make_pool(c, nodes=0)
        first = make_job(c, pool_id)
        with pytest.raises(ResourceExistsError) as e:
            make_job(c, pool_id)
        assert e.value.status_code == 409
        assert e.value.error.code == "ActiveJobAndScheduleQuotaReached"
        c.begin_terminate_job(
            first, options=TerminateOptions(termination_reason="done"), polling_interval=POLL
        ).result()
        assert c.get_job(first).state == m.BatchJobState.COMPLETED
        make_job(c, pool_id)  # completed jobs do not count


def test_a_malformed_switch_stops_the_service_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(BwfError, match="BWF_LOCALBATCH_ALLOCATION_DELAY"):
        localstack.start_batch_service(
            tmp_path / "batch", env={"BWF_LOCALBATCH_ALLOCATION_DELAY": "soon"}
        )


def test_deletion_and_termination_are_observable_by_default(batch_client: BatchClient) -> None:
    c = batch_client
    pool_id = make_pool(c, nodes=0)
    job_id = make_job(c, pool_id)
    c.begin_terminate_job(job_id, options=TerminateOptions(termination_reason="done"))
    job = c.get_job(job_id)
    assert (
        job.state == m.BatchJobState.TERMINATING
        or job.previous_state == m.BatchJobState.TERMINATING
    )
    for kind, delete, get in (
        ("job", c.begin_delete_job, c.get_job),
        ("pool", c.begin_delete_pool, c.get_pool),
    ):
        ident = job_id if kind == "job" else pool_id
        started = time.monotonic()
        delete(ident, polling_interval=POLL)
        seen = set()
        while True:
            try:
                seen.add(get(ident).state.value)
            except ResourceNotFoundError:
                break
            assert time.monotonic() - started < 30
            time.sleep(0.02)
        # gone no sooner than the default delay, and only ever seen as deleting meanwhile
        assert time.monotonic() - started >= DEFAULT_DELETE_DELAY
        assert seen <= {"deleting"}, (kind, seen)


def test_task_slots_are_limited_by_the_vm_size(batch_client: BatchClient) -> None:
    def create(vm_size: str, slots: int) -> str:
        pool_id = uid("slots")
        batch_client.create_pool(
            m.BatchPoolCreateOptions(
                id=pool_id,
                vm_size=vm_size,
                virtual_machine_configuration=IMAGE,
                target_dedicated_nodes=0,
                task_slots_per_node=slots,
            )
        )
        return pool_id

    created = [
        create("Standard_D2s_v3", 8),
        create("standard_f72s_v2", 256),
        create("standard_new_size", 256),
    ]
    for vm_size, slots in (
        ("standard_d2s_v3", 9),
        ("STANDARD_A1_V2", 5),
        ("standard_new_size", 257),
    ):
        with pytest.raises(HttpResponseError) as e:
            create(vm_size, slots)
        assert e.value.status_code == 400 and e.value.error.code == "InvalidPropertyValue"
        assert "taskSlotsPerNode" in str(e.value.error.message)
    for pool_id in created:
        batch_client.begin_delete_pool(pool_id)


def test_an_expired_sas_fails_the_download_as_batch_reports_it(
    batch_client: BatchClient, blob_service: BlobServiceClient, azurite: Any
) -> None:
    name = uid("expired")
    blob_service.create_container(name).upload_blob("in.txt", b"data\n")
    now = dt.datetime.now(dt.timezone.utc)
    account, key = localstack.STORAGE_ACCOUNT, localstack.STORAGE_KEY

    def blob_url(expiry: dt.datetime) -> str:
        read = BlobSasPermissions(read=True)
        start = expiry - dt.timedelta(hours=1)
        sas = generate_blob_sas(
            account, name, "in.txt", account_key=key, permission=read, start=start, expiry=expiry
        )
        return f"{azurite.url}/{name}/in.txt?{sas}"

    listing = ContainerSasPermissions(read=True, list=True)
    expired = now - dt.timedelta(minutes=5)
    container_sas = generate_container_sas(
        account, name, account_key=key, permission=listing, expiry=expired
    )
    sources = {
        "fresh": m.ResourceFile(http_url=blob_url(now + dt.timedelta(hours=1)), file_path="in.txt"),
        "blob": m.ResourceFile(http_url=blob_url(expired), file_path="in.txt"),
        "container": m.ResourceFile(storage_container_url=f"{azurite.url}/{name}?{container_sas}"),
    }
    job_id = make_job(batch_client, make_pool(batch_client, nodes=1))
    batch_client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=task_id, command_line="cat in.txt", resource_files=[source])
            for task_id, source in sources.items()
        ],
    )
    wait_completed(batch_client, job_id, len(sources))
    # the same blob with a SAS still valid: only the expiry makes the difference
    assert batch_client.get_task(job_id, "fresh").execution_info.exit_code == 0
    for task_id in ("blob", "container"):
        info = batch_client.get_task(job_id, task_id).execution_info
        assert info.result == m.BatchTaskExecutionResult.FAILURE
        failure = info.failure_info
        assert failure.category == m.BatchErrorSourceCategory.USER_ERROR
        assert failure.code == "ResourceFileDownloadFailed"
        assert "HTTP 403" in failure.message and name in failure.message
        url = sources[task_id].http_url or sources[task_id].storage_container_url
        signature = url.split("sig=")[1]
        assert "sig=" not in failure.message and signature not in failure.message
