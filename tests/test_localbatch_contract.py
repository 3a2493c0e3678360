"""Contract: every JSON body the local Batch service returns matches the REST models of
the azure-batch 15.x package, which name each field's REST key, type and whether it is
required. A scenario drives every route through the real SDK (plus hand-signed calls for
errors); a response hook records each body, and each is checked: no key the model does
not define, every value of its declared type, every required field present.

The model map is built by introspecting the SDK's model classes (`rest_field` entries and
their annotations), so it follows the installed SDK."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import types
import typing
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch._utils.model_base import Model, _RestField
from azure.batch.models._models import BatchJobTerminateOptions, BatchNodeRebootOptions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from runner import localstack
from tests.batch_helpers import (
    IMAGE,
    call,
    make_job,
    make_pool,
    uid,
    wait_completed,
    wait_for,
    wait_nodes,
)

ODATA_KEYS = {"odata.metadata", "odata.nextLink"}
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ISO_DURATION = re.compile(
    r"^-?P(?!$)(\d+(\.\d+)?D)?(T(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)


@dataclass(frozen=True)
class Field:
    annotation: Any
    required: bool
    format: str | None


def model_fields(cls: type[Model]) -> dict[str, Field]:
    """The REST fields of an SDK model: REST key -> type, required, wire format."""
    hints = typing.get_type_hints(cls, localns={"_models": m})
    out: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        for attr, rf in vars(klass).items():
            if isinstance(rf, _RestField):
                annotation = hints[attr]
                out[rf._rest_name_input or attr] = Field(
                    annotation, not _optional(annotation), rf._format
                )
    return out


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def check(value: Any, annotation: Any, fmt: str | None, where: str) -> Iterator[str]:
    """Every way `value` differs from the declared type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and str in args:
            if not isinstance(value, str):
                yield f"{where}: {value!r} is not a string"
            elif value.lower() not in {e.value.lower() for e in enums[0]}:
                yield f"{where}: {value!r} is not one of {[e.value for e in enums[0]]}"
            return
        if len(args) == 1:
            yield from check(value, args[0], fmt, where)
            return
        yield f"{where}: cannot check a union {annotation}"
        return
    if origin is list:
        if not isinstance(value, list):
            yield f"{where}: {value!r} is not a list"
            return
        for i, item in enumerate(value):
            yield from check(item, args[0], None, f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            yield f"{where}: {value!r} is not an object"
            return
        for k, item in value.items():
            yield from check(item, args[1], None, f"{where}.{k}")
        return
    yield from _check_leaf(value, annotation, fmt, where)


def _check_leaf(value: Any, annotation: Any, fmt: str | None, where: str) -> Iterator[str]:
    if isinstance(annotation, type) and issubclass(annotation, Model):
        yield from check_model(value, annotation, where)
    elif annotation is bool:
        if not isinstance(value, bool):
            yield f"{where}: {value!r} is not a boolean"
    elif annotation is int:
        if fmt == "str":
            if not (isinstance(value, str) and re.match(r"^-?\d+$", value)):
                yield f"{where}: {value!r} is not an integer in a string"
        elif isinstance(value, bool) or not isinstance(value, int):
            yield f"{where}: {value!r} is not an integer"
    elif annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            yield f"{where}: {value!r} is not a number"
    elif annotation is str:
        if not isinstance(value, str):
            yield f"{where}: {value!r} is not a string"
    elif annotation is dt.datetime:
        if not (isinstance(value, str) and _ISO_TIME.match(value)):
            yield f"{where}: {value!r} is not an RFC 3339 time"
    elif annotation is dt.timedelta:
        if not (isinstance(value, str) and _ISO_DURATION.match(value)):
            yield f"{where}: {value!r} is not an ISO 8601 duration"
    elif annotation is not Any:
        yield f"{where}: no rule for {annotation}"


def check_model(value: Any, cls: type[Model], where: str) -> Iterator[str]:
    if not isinstance(value, dict):
        yield f"{where}: {value!r} is not an object ({cls.__name__})"
        return
    declared = model_fields(cls)
    for key, item in value.items():
        if key in ODATA_KEYS:
            continue
        spec = declared.get(key)
        if spec is None:
            yield f"{where}.{key}: {cls.__name__} defines no such key"
        elif item is not None:
            yield from check(item, spec.annotation, spec.format, f"{where}.{key}")
    for key, spec in declared.items():
        if spec.required and value.get(key) is None:
            yield f"{where}: required {cls.__name__}.{key} is missing"


# (method, path pattern) -> (model of the body or of each list item, whether a list)
ROUTES: list[tuple[str, str, type[Model], bool]] = [
    ("GET", r"/supportedimages", m.BatchSupportedImage, True),
    ("GET", r"/nodecounts", m.BatchPoolNodeCounts, True),
    ("GET", r"/poolusagemetrics", m.BatchPoolUsageMetrics, True),
    ("GET", r"/pools", m.BatchPool, True),
    ("GET", r"/pools/[^/]+", m.BatchPool, False),
    ("POST", r"/pools/[^/]+/evaluateautoscale", m.AutoScaleRun, False),
    ("GET", r"/pools/[^/]+/nodes", m.BatchNode, True),
    ("GET", r"/pools/[^/]+/nodes/[^/]+", m.BatchNode, False),
    ("GET", r"/pools/[^/]+/nodes/[^/]+/files", m.BatchNodeFile, True),
    ("GET", r"/jobs", m.BatchJob, True),
    ("GET", r"/jobs/[^/]+", m.BatchJob, False),
    ("GET", r"/jobs/[^/]+/taskcounts", m.BatchTaskCountsResult, False),
    (
        "GET",
        r"/jobs/[^/]+/jobpreparationandreleasetaskstatus",
        m.BatchJobPreparationAndReleaseTaskStatus,
        True,
    ),
    ("POST", r"/jobs/[^/]+/addtaskcollection", m.BatchCreateTaskCollectionResult, False),
    ("GET", r"/jobs/[^/]+/tasks", m.BatchTask, True),
    ("GET", r"/jobs/[^/]+/tasks/[^/]+", m.BatchTask, False),
    ("GET", r"/jobs/[^/]+/tasks/[^/]+/subtasksinfo", m.BatchSubtask, True),
    ("GET", r"/jobs/[^/]+/tasks/[^/]+/files", m.BatchNodeFile, True),
]


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    body: Any


def model_of(rec: Recorded) -> tuple[type[Model], bool] | None:
    if rec.status >= 400:
        return m.BatchError, False
    for method, pattern, cls, many in ROUTES:
        if method == rec.method and re.fullmatch(pattern, rec.path):
            return cls, many
    return None


def problems(rec: Recorded) -> list[str]:
    found = model_of(rec)
    where = f"{rec.method} {rec.path} ({rec.status})"
    if found is None:
        return [f"{where}: a JSON body on a route the contract does not know"]
    cls, many = found
    if not many:
        return list(check_model(rec.body, cls, where))
    out = [f"{where}.{k}: not a list key" for k in rec.body if k not in ODATA_KEYS | {"value"}]
    for i, item in enumerate(rec.body.get("value", [])):
        out += check_model(item, cls, f"{where}.value[{i}]")
    return out


def recording_client(service_url: str) -> tuple[BatchClient, list[Recorded]]:
    """An SDK client that records every JSON body it gets."""
    seen: list[Recorded] = []

    def hook(response: Any) -> None:
        http = response.http_response
        if "json" not in (http.headers.get("Content-Type") or ""):
            return
        path = urllib.parse.urlparse(http.request.url).path
        seen.append(Recorded(http.request.method, path, http.status_code, json.loads(http.body())))

    client = BatchClient(
        endpoint=service_url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
        raw_response_hook=hook,
    )
    return client, seen


@pytest.fixture()
def recorded(batch_service: Any) -> tuple[BatchClient, list[Recorded]]:
    return recording_client(batch_service.url)


def _pools_and_nodes(client: BatchClient) -> tuple[str, str]:
    pool_id = make_pool(client, nodes=2, slots=2, start_task=m.BatchStartTask(command_line="true"))
    nodes = wait_nodes(client, pool_id, 2)
    client.get_pool(pool_id, expand=["stats"])
    list(client.list_pools(filter=f"id eq '{pool_id}'", expand=["stats"]))
    client.update_pool(
        pool_id, m.BatchPoolUpdateOptions(metadata=[m.BatchMetadataItem(name="k", value="v")])
    )
    list(client.list_pool_node_counts())
    list(client.list_pool_usage_metrics())
    list(client.list_supported_images())
    client.disable_node_scheduling(
        pool_id,
        nodes[1].id,
        m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue"),
    )
    client.get_node(pool_id, nodes[1].id)
    client.enable_node_scheduling(pool_id, nodes[1].id)
    client.begin_reboot_node(
        pool_id,
        nodes[1].id,
        BatchNodeRebootOptions(node_reboot_kind="requeue"),
        polling_interval=0.1,
    ).result()
    list(client.list_node_files(pool_id, nodes[0].id, recursive=True))
    return pool_id, nodes[0].id


def _jobs_and_tasks(client: BatchClient, pool_id: str) -> str:
    job_id = make_job(
        client,
        pool_id,
        uses_task_dependencies=True,
        job_preparation_task=m.BatchJobPreparationTask(command_line="true"),
        job_release_task=m.BatchJobReleaseTask(command_line="true"),
        metadata=[m.BatchMetadataItem(name="a", value="b")],
    )
    client.create_task_collection(
        job_id,
        m.BatchTaskGroup(
            task_values=[
                m.BatchTaskCreateOptions(id="ok", command_line="/bin/sh -c 'echo hi'"),
                m.BatchTaskCreateOptions(
                    id="bad",
                    command_line="false",
                    depends_on=m.BatchTaskDependencies(task_ids=["ok"]),
                ),
                m.BatchTaskCreateOptions(
                    id="ok", command_line="true"
                ),  # a duplicate: a per-task error
            ]
        ),
    )
    wait_completed(client, job_id, 2)
    client.replace_task(
        job_id, "ok", m.BatchTask(constraints=m.BatchTaskConstraints(max_task_retry_count=1))
    )
    client.reactivate_task(job_id, "bad")
    wait_completed(client, job_id, 2)
    for task_id in ("ok", "bad"):
        client.get_task(job_id, task_id)
        list(client.list_task_files(job_id, task_id, recursive=True))
        list(client.list_subtasks(job_id, task_id))
    list(client.list_tasks(job_id, filter="executionInfo/exitCode ne 0"))
    props = client.get_task_file_properties(job_id, "ok", "stdout.txt")
    assert (props.content_length, props.is_directory) == (3, False)
    client.get_job_task_counts(job_id)
    list(client.list_job_preparation_and_release_task_status(job_id))
    client.update_job(job_id, m.BatchJobUpdateOptions(priority=5))
    client.replace_job(job_id, m.BatchJob(pool_info=m.BatchPoolInfo(pool_id=pool_id), priority=1))
    client.begin_disable_job(
        job_id, m.BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=0.1
    ).result()
    client.get_job(job_id, expand=["stats"])
    client.begin_enable_job(job_id, polling_interval=0.1).result()
    client.begin_terminate_job(
        job_id, BatchJobTerminateOptions(termination_reason="done"), polling_interval=0.1
    ).result()
    wait_for(
        "the release task",
        lambda: all(
            s.job_release_task_execution_info
            and s.job_release_task_execution_info.state == "completed"
            for s in client.list_job_preparation_and_release_task_status(job_id)
        ),
    )
    list(client.list_jobs(filter=f"id eq '{job_id}'", expand=["stats"]))
    return job_id


def _autoscale_and_containers(client: BatchClient) -> None:
    """An autoscale pool (`autoScaleRun`, evaluations with results and errors) and a
    container pool whose image is missing (a node's `errors`)."""
    pool_id = uid("auto")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 1;",
        )
    )
    wait_nodes(client, pool_id, 1)
    client.get_pool(pool_id)
    for formula in ("$x = 2;", "$TargetDedicatedNodes = nosuch();"):
        options = m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
        client.evaluate_pool_auto_scale(pool_id, options)
    client.disable_pool_auto_scale(pool_id)
    containers = uid("cpool")
    registry = m.ContainerRegistryReference(registry_server="r.example", username="u", password="p")
    vmc = m.VirtualMachineConfiguration(
        image_reference=IMAGE.image_reference,
        node_agent_sku_id=IMAGE.node_agent_sku_id,
        container_configuration=m.BatchContainerConfiguration(
            type="dockerCompatible",
            container_image_names=["localhost/bwf-contract-missing:1"],
            container_registries=[registry],
        ),
    )
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=containers,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=vmc,
            target_dedicated_nodes=1,
        )
    )
    wait_nodes(client, containers, 1, states=("unusable",))
    shown = client.get_pool(containers).virtual_machine_configuration.container_configuration
    (kept,) = shown.container_registries
    assert (kept.registry_server, kept.username, kept.password) == ("r.example", "u", None)
    for done in (pool_id, containers):
        client.begin_delete_pool(done, polling_interval=0.1).result()


def _errors(client: BatchClient, service_url: str, pool_id: str, job_id: str) -> None:
    for attempt in (
        lambda: client.get_pool("no-such-pool"),
        lambda: client.get_task(job_id, "no-such-task"),
        lambda: client.create_job(
            m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
        ),
        lambda: list(client.list_tasks(job_id, filter="commandLine eq 'x'")),
        lambda: client.begin_enable_job(job_id),
    ):
        with pytest.raises(HttpResponseError):
            attempt()
    call(service_url, "GET", "/pools", query="api-version=1999-01-01")


def test_every_body_matches_the_sdk_models(
    recorded: tuple[BatchClient, list[Recorded]], batch_service: Any
) -> None:
    client, seen = recorded
    pool_id, node_id = _pools_and_nodes(client)
    job_id = _jobs_and_tasks(client, pool_id)
    _autoscale_and_containers(client)
    _errors(client, batch_service.url, pool_id, job_id)
    client.begin_remove_nodes(
        pool_id, m.BatchNodeRemoveOptions(node_ids=[node_id]), polling_interval=0.1
    ).result()
    client.begin_stop_pool_resize(pool_id, polling_interval=0.1).result()
    list(client.list_nodes(pool_id))
    client.begin_delete_job(job_id, polling_interval=0.1).result()
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()
    touched = {
        (r.method, pattern)
        for r in seen
        for meth, pattern, _, _ in ROUTES
        if meth == r.method and re.fullmatch(pattern, r.path)
    }
    assert touched == {(meth, pattern) for meth, pattern, _, _ in ROUTES}, (
        "a route of the contract was not exercised"
    )
    assert any(r.status >= 400 for r in seen)
    found = [p for r in seen for p in problems(r)]
    assert found == [], "\n".join(found)


def test_the_contract_checker_finds_what_is_wrong() -> None:
    """The checker itself: each kind of mismatch is reported."""
    good = {
        "taskCounts": {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
        "taskSlotCounts": {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
    }
    assert list(check_model(good, m.BatchTaskCountsResult, "x")) == []
    bad = json.loads(json.dumps(good))
    bad["taskCounts"]["active"] = "0"
    bad["taskSlotCounts"].pop("failed")
    bad["extra"] = 1
    found = list(check_model(bad, m.BatchTaskCountsResult, "x"))
    assert any("is not an integer" in f for f in found)
    assert any("required BatchTaskSlotCounts.failed is missing" in f for f in found)
    assert any("defines no such key" in f for f in found)
    node_state = list(
        check(
            {"state": "sleeping"}["state"], model_fields(m.BatchNode)["state"].annotation, None, "s"
        )
    )
    assert node_state and "is not one of" in node_state[0]
    assert list(check("PT1H", dt.timedelta, None, "d")) == [] and list(
        check("1 hour", dt.timedelta, None, "d")
    )


def test_the_harsh_switches_bodies_match_the_sdk_models(tmp_path: Path) -> None:
    """What the service says only when a switch makes it harsh (a pool's `resizeErrors`,
    the quota errors) and the `deleting` states, on a service of its own."""
    env = {"BWF_LOCALBATCH_MAX_NODES": "1", "BWF_LOCALBATCH_MAX_ACTIVE_JOBS": "1"}
    service = localstack.start_batch_service(tmp_path / "batch", env=env)
    try:
        client, seen = recording_client(service.url)
        pool_id = make_pool(client, nodes=2, slots=1)
        pool = wait_for(
            "a steady pool",
            lambda: (p := client.get_pool(pool_id)).allocation_state == "steady" and p,
        )
        assert [e.code for e in pool.resize_errors] == ["AccountCoreQuotaReached"]
        job_id = make_job(client, pool_id)
        with pytest.raises(HttpResponseError) as e:
            make_job(client, pool_id)
        assert e.value.error.code == "ActiveJobAndScheduleQuotaReached"
        client.begin_delete_job(job_id, polling_interval=0.05).result()
        client.begin_delete_pool(pool_id, polling_interval=0.05).result()
    finally:
        localstack.stop_process(service.pid)
    states = {
        r.body.get("state")
        for r in seen
        if r.status == 200 and r.path.startswith(("/pools/", "/jobs/"))
    }
    assert "deleting" in states
    found = [p for r in seen for p in problems(r)]
    assert found == [], "\n".join(found)
