"""The local Batch service's protocol rules, through the real SDK and hand-signed calls:
conditional requests, update semantics (PATCH merges, PUT replaces), typed bodies,
api-version, paging links, and the retired node agent."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError

from tests.batch_helpers import IMAGE, call, make_job, make_pool, uid, wait_completed, wait_for


def test_if_match_with_a_stale_etag_changes_nothing(batch_client: BatchClient) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=0), priority=1)
    before = batch_client.get_job(job_id)
    update = m.BatchJobUpdateOptions(priority=7)
    with pytest.raises(ResourceModifiedError) as e:
        batch_client.update_job(
            job_id, update, etag="0x8D000000000", match_condition=MatchConditions.IfNotModified
        )
    assert e.value.status_code == 412 and e.value.error.code == "ConditionNotMet"
    assert batch_client.get_job(job_id).etag == before.etag
    batch_client.update_job(
        job_id, update, etag=before.etag, match_condition=MatchConditions.IfNotModified
    )
    after = batch_client.get_job(job_id)
    assert (
        after.priority == 7
        and after.etag != before.etag
        and after.last_modified > before.last_modified
    )


def test_if_none_match_and_if_modified_since_answer_304_to_reads(
    batch_client: BatchClient, batch_service: Any
) -> None:
    pool_id = make_pool(batch_client, nodes=0)
    # once steady, nothing changes the pool (its allocation settling would: a new ETag)
    pool = wait_for(
        "a steady pool",
        lambda: (p := batch_client.get_pool(pool_id)).allocation_state == "steady" and p,
    )
    with pytest.raises(HttpResponseError) as e:
        batch_client.get_pool(pool_id, etag=pool.etag, match_condition=MatchConditions.IfModified)
    assert e.value.status_code == 304
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    with pytest.raises(HttpResponseError) as e:
        batch_client.get_pool(pool_id, if_modified_since=later)
    assert e.value.status_code == 304
    status, headers, body = call(
        batch_service.url, "GET", f"/pools/{pool_id}", headers={"If-None-Match": pool.etag}
    )
    assert (status, body, headers["ETag"]) == (304, None, pool.etag)
    status, headers, body = call(
        batch_service.url, "GET", f"/pools/{pool_id}", headers={"If-None-Match": '"0x8D1"'}
    )
    assert status == 200 and body["id"] == pool_id and headers["ETag"] == pool.etag
    earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    with pytest.raises(HttpResponseError) as e:
        batch_client.begin_delete_pool(pool_id, if_unmodified_since=earlier)
    assert e.value.status_code == 412
    assert batch_client.get_pool(pool_id).state == "active"
    with pytest.raises(HttpResponseError) as e:
        batch_client.begin_resize_pool(
            pool_id,
            m.BatchPoolResizeOptions(target_dedicated_nodes=1),
            etag="0x8D2",
            match_condition=MatchConditions.IfNotModified,
        )
    assert e.value.status_code == 412 and batch_client.get_pool(pool_id).target_dedicated_nodes == 0


def test_a_task_gets_a_new_etag_when_it_changes_state(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, nodes=0)
    job_id = make_job(batch_client, pool_id)
    batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="one", command_line="true"))
    created = batch_client.get_task(job_id, "one")
    # only a steady pool can be resized, as on Azure
    wait_for("a steady pool", lambda: batch_client.get_pool(pool_id).allocation_state == "steady")
    batch_client.begin_resize_pool(
        pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=0
    )
    wait_completed(batch_client, job_id, 1)
    done = batch_client.get_task(job_id, "one")
    assert done.etag != created.etag and done.last_modified > created.last_modified
    with pytest.raises(HttpResponseError) as e:
        batch_client.get_task(
            job_id, "one", etag=done.etag, match_condition=MatchConditions.IfModified
        )
    assert e.value.status_code == 304


def test_patch_replaces_only_what_is_sent_and_put_resets_the_rest(
    batch_client: BatchClient,
) -> None:
    pool_id = make_pool(batch_client, nodes=0)
    job_id = make_job(
        batch_client,
        pool_id,
        priority=3,
        max_parallel_tasks=4,
        constraints=m.BatchJobConstraints(
            max_wall_clock_time=dt.timedelta(hours=1), max_task_retry_count=2
        ),
        metadata=[m.BatchMetadataItem(name="owner", value="me")],
    )
    batch_client.update_job(
        job_id, m.BatchJobUpdateOptions(constraints=m.BatchJobConstraints(max_task_retry_count=5))
    )
    job = batch_client.get_job(job_id)
    # the other properties stay; the constraints sent replace the job's constraints whole
    assert (job.priority, job.max_parallel_tasks, job.metadata[0].value) == (3, 4, "me")
    assert job.constraints.max_task_retry_count == 5
    assert job.constraints.max_wall_clock_time > dt.timedelta(days=3650)  # back to unlimited
    batch_client.replace_job(
        job_id, m.BatchJob(pool_info=m.BatchPoolInfo(pool_id=pool_id), priority=9)
    )
    job = batch_client.get_job(job_id)
    assert (
        job.priority,
        job.max_parallel_tasks,
        job.metadata,
        job.constraints.max_task_retry_count,
    ) == (9, -1, [], 0)


def test_integers_sent_as_strings_are_stored_as_integers(
    batch_client: BatchClient, batch_service: Any
) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=0))
    status, _, _ = call(
        batch_service.url,
        "PATCH",
        f"/jobs/{job_id}",
        {"priority": "22", "constraints": {"maxTaskRetryCount": "3"}},
    )
    assert status == 200
    _, _, job = call(batch_service.url, "GET", f"/jobs/{job_id}")
    assert job["priority"] == 22 and job["constraints"]["maxTaskRetryCount"] == 3
    # a wrong type cannot be read (InvalidRequestBody); a number out of range is invalid
    for bad, code in (
        ({"priority": "high"}, "InvalidRequestBody"),
        ({"priority": [1]}, "InvalidRequestBody"),
        ({"constraints": "none"}, "InvalidRequestBody"),
        ({"priority": 5000}, "InvalidPropertyValue"),
        ({"priority": "5000"}, "InvalidPropertyValue"),
    ):
        status, _, body = call(batch_service.url, "PATCH", f"/jobs/{job_id}", bad)
        assert (status, body["code"]) == (400, code), bad
    status, _, body = call(batch_service.url, "PATCH", f"/jobs/{job_id}", [1, 2])
    assert status == 400 and body["code"] == "InvalidRequestBody"
    assert batch_client.get_job(job_id).priority == 22


def test_task_update_replaces_its_constraints(batch_client: BatchClient) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=0))
    batch_client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="one",
            command_line="true",
            constraints=m.BatchTaskConstraints(
                max_wall_clock_time=dt.timedelta(minutes=5), max_task_retry_count=1
            ),
        ),
    )
    task = batch_client.get_task(job_id, "one")
    batch_client.replace_task(
        job_id, "one", m.BatchTask(constraints=m.BatchTaskConstraints(max_task_retry_count=4))
    )
    constraints = batch_client.get_task(job_id, "one").constraints
    assert constraints.max_task_retry_count == 4 and constraints.max_wall_clock_time > dt.timedelta(
        days=3650
    )
    assert batch_client.get_task(job_id, "one").etag != task.etag


def test_api_version_is_required_and_checked(batch_service: Any) -> None:
    status, _, body = call(batch_service.url, "GET", "/pools", query="")
    assert status == 400 and body["code"] == "MissingRequiredQueryParameter"
    status, _, body = call(batch_service.url, "GET", "/pools", query="api-version=2099-01-01")
    assert status == 400 and body["code"] == "UnsupportedRequestVersion"
    for version in ("2025-06-01", "2024-02-01.19.0", "2023-05-01.17.0"):
        status, _, _ = call(batch_service.url, "GET", "/pools", query=f"api-version={version}")
        assert status == 200, version


def test_next_link_keeps_the_query_and_the_api_version(
    batch_client: BatchClient, batch_service: Any
) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=0))
    batch_client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(5)]
    )
    query = urllib.parse.urlencode(
        {"api-version": "2024-02-01.19.0", "maxresults": "2", "$filter": "startswith(id,'t')"}
    )
    seen: list[str] = []
    path = f"/jobs/{job_id}/tasks"
    while True:
        status, _, body = call(batch_service.url, "GET", path, query=query)
        assert status == 200
        seen += [t["id"] for t in body["value"]]
        link = body.get("odata.nextLink")
        if not link:
            break
        parsed = urllib.parse.urlparse(link)
        assert urllib.parse.parse_qs(parsed.query)["api-version"] == ["2024-02-01.19.0"]
        path, query = parsed.path, parsed.query
    assert sorted(seen) == [f"t{i}" for i in range(5)]
    assert len(list(batch_client.list_tasks(job_id, max_results=2))) == 5


def test_the_retired_ubuntu_agent_is_refused_with_the_supported_ones_named(
    batch_client: BatchClient,
) -> None:
    image = m.VirtualMachineConfiguration(
        image_reference=IMAGE.image_reference, node_agent_sku_id="batch.node.ubuntu 20.04"
    )
    with pytest.raises(HttpResponseError) as e:
        batch_client.create_pool(
            m.BatchPoolCreateOptions(
                id=uid("pool"), vm_size="standard_d2s_v3", virtual_machine_configuration=image
            )
        )
    assert e.value.status_code == 400 and e.value.error.code == "InvalidPropertyValue"
    message = e.value.error.message
    assert (
        "retired" in message
        and "batch.node.ubuntu 22.04" in message
        and "batch.node.ubuntu 24.04" in message
    )


def test_a_wrong_shaped_pool_is_a_400(batch_service: Any) -> None:
    pool = {
        "id": uid("pool"),
        "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": {
            "imageReference": {},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        },
    }
    for key, value in (
        ("targetDedicatedNodes", "two"),
        ("taskSlotsPerNode", 0),
        ("startTask", "run"),
        ("metadata", [{"value": "x"}]),
    ):
        status, _, body = call(batch_service.url, "POST", "/pools", {**pool, key: value})
        assert status == 400, (key, value, body)
    status, _, _ = call(batch_service.url, "POST", "/pools", {**pool, "targetDedicatedNodes": "0"})
    assert status == 201
    wait_for(
        "the pool",
        lambda: (
            call(batch_service.url, "GET", f"/pools/{pool['id']}")[2]["targetDedicatedNodes"] == 0
        ),
    )
