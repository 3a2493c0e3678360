"""A job's tasks listed page by page through the client's pipeline and read from their
REST fields (`Tasks.read`, `observed_task`) give exactly what the SDK's `list_tasks`
and its models' attributes give: for tasks that succeeded, failed, were retried, failed
to get a resource file, wait on others, or never ran; over several pages, filtered, and
for a job that is gone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from runner import secrets
from runner.batch import Batch
from runner.batch.models import FINGERPRINT_ENV
from runner.batch.observed import TASK_FIELDS, iso, observed_task, rest_time, value
from runner.batch.tasks import Tasks
from runner.state import ObservedTask
from tests.batch_helpers import make_job, make_pool, wait_for
from tests.helpers import local_target


def tasks_of(batch_service: Any) -> Tasks:
    """bwf's own Batch connection to the local service."""
    return Batch(local_target(batch_service.url)).tasks


def through_the_sdk(task: Any) -> ObservedTask:
    """The same task read the way the SDK documents: each field through the model."""
    info = task.execution_info
    failure = info.failure_info if info else None
    depends = task.depends_on
    fingerprint = next(
        (str(s.value or "") for s in task.environment_settings or [] if s.name == FINGERPRINT_ENV),
        "",
    )
    return ObservedTask(
        id=task.id,
        state=value(task.state),
        fingerprint=fingerprint,
        exit_code=info.exit_code if info else None,
        result=value(info.result) if info and info.result else None,
        retry_count=(info.retry_count or 0) if info else 0,
        requeue_count=(info.requeue_count or 0) if info else 0,
        node_id=task.node_info.node_id if task.node_info else None,
        created=iso(task.creation_time),
        started=iso(info.start_time) if info else None,
        ended=iso(info.end_time) if info else None,
        failure_code=failure.code if failure else None,
        failure_message=secrets.scrub(failure.message) if failure and failure.message else None,
        depends_on=tuple(depends.task_ids or ()) if depends else (),
        last_retry=iso(info.last_retry_time) if info else None,
        last_requeue=iso(info.last_requeue_time) if info else None,
        changed=iso(task.state_transition_time),
    )


def test_listed_tasks_read_as_the_sdk_reads_them(
    batch_client: BatchClient, batch_service: Any, azurite: Any
) -> None:
    pool = make_pool(batch_client, nodes=1, slots=2)
    job = make_job(batch_client, pool, uses_task_dependencies=True)
    env = [m.EnvironmentSetting(name=FINGERPRINT_ENV, value="f" * 32)]
    tasks = [
        m.BatchTaskCreateOptions(id="ok", command_line="/bin/true", environment_settings=env),
        m.BatchTaskCreateOptions(
            id="fails",
            command_line="/bin/sh -c 'exit 3'",
            constraints=m.BatchTaskConstraints(max_task_retry_count=1),
        ),
        m.BatchTaskCreateOptions(
            id="no-file",
            command_line="/bin/true",
            resource_files=[
                m.ResourceFile(http_url=f"{azurite.url}/gone/file.txt", file_path="f.txt")
            ],
        ),
        m.BatchTaskCreateOptions(
            id="after-ok",
            command_line="/bin/true",
            depends_on=m.BatchTaskDependencies(task_ids=["ok"]),
            environment_settings=[m.EnvironmentSetting(name="OTHER", value="x"), *env],
        ),
        m.BatchTaskCreateOptions(
            id="after-fails",
            command_line="/bin/true",
            depends_on=m.BatchTaskDependencies(task_ids=["fails", "ok"]),
        ),
    ]
    batch_client.create_task_collection(job, m.BatchTaskGroup(task_values=tasks))
    wait_for(
        "the four tasks that can run to complete",
        lambda: batch_client.get_job_task_counts(job).task_counts.completed >= 4,
    )
    sdk = {t.id: through_the_sdk(t) for t in batch_client.list_tasks(job, select=TASK_FIELDS)}
    assert len(sdk) == 5
    for t in batch_client.list_tasks(job):  # a model read as a mapping: every field
        assert observed_task(t) == sdk[t.id], t.id
    bwf = tasks_of(batch_service)
    for page_size in (None, 2):  # three pages of 2, 2 and 1
        raw = list(bwf._listed(job, None, page_size))
        assert [t["id"] for t in raw] == list(sdk)
        assert all(set(t) <= set(TASK_FIELDS) for t in raw)  # $select kept on every page
        assert bwf.read(job, page_size=page_size) == list(sdk.values())
    assert bwf.read(job) == list(sdk.values())
    waiting = [t.id for t in bwf.read(job, filter="state ne 'completed'")]
    assert waiting == ["after-fails"]
    assert bwf.read("no-such-job") == []
    read = {t.id: t for t in bwf.read(job)}
    assert read["ok"].fingerprint == "f" * 32 and read["ok"].result == "success"
    assert read["after-ok"].fingerprint == "f" * 32 and read["after-ok"].depends_on == ("ok",)
    assert read["fails"].exit_code == 3 and read["fails"].retry_count == 1
    assert read["fails"].last_retry is not None and read["fails"].failure_code
    assert read["no-file"].result == "failure" and read["no-file"].failure_message
    assert read["after-fails"].state == "active" and read["after-fails"].started is None
    assert read["after-fails"].depends_on == ("fails", "ok")


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07T20:48:36.6421068Z",  # Azure's seven digits: cut to six
        "2026-12-07T20:48:36.642106Z",
        "2026-12-07T20:48:36.5Z",
        "2026-12-07T20:48:36.0000000Z",  # no fraction written back
        "2026-12-07T20:48:36Z",
        "2026-12-07T21:48:36.25+01:00",  # not Batch's form: parsed, in UTC
        "2026-12-07t20:48:36z",
    ],
)
def test_a_rest_time_is_written_as_the_sdk_datetime_is(text: str) -> None:
    model = m.BatchTask({"id": "t", "creationTime": text})
    assert rest_time(text, lambda: model.creation_time) == iso(model.creation_time)


def test_a_missing_time_is_none() -> None:
    assert rest_time(None, lambda: dt.datetime.now(dt.timezone.utc)) is None


# Tasks as Azure Batch lists them (the shapes of the REST specification's examples for
# 2025-06-01, written here with bwf's own values): fields the local service does not send
# (url, eTag, lastModified, userIdentity, Azure's largest durations, requiredSlots, node
# URLs, failure details) and Azure's seven fraction digits.
AZURE_PAGE: dict[str, Any] = {
    "value": [
        {
            "id": "topn-a",
            "url": "https://acct.westeurope.batch.azure.com/jobs/topn/tasks/topn-a",
            "eTag": "0x8DE16A1B2C3D4E5",
            "creationTime": "2026-12-07T22:43:31.4733476Z",
            "lastModified": "2026-12-07T22:43:31.4733476Z",
            "state": "completed",
            "stateTransitionTime": "2026-12-07T22:44:02.1000001Z",
            "previousState": "running",
            "previousStateTransitionTime": "2026-12-07T22:43:40.0000000Z",
            "commandLine": "/bin/bash -c 'python3 topn.py'",
            "environmentSettings": [
                {"name": "OTHER", "value": "x"},
                {"name": FINGERPRINT_ENV, "value": "a" * 32},
            ],
            "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "nonadmin"}},
            "constraints": {
                "maxWallClockTime": "P10675199DT2H48M5.4775807S",
                "retentionTime": "P7D",
                "maxTaskRetryCount": 2,
            },
            "requiredSlots": 1,
            "executionInfo": {
                "startTime": "2026-12-07T22:43:40.0000000Z",
                "endTime": "2026-12-07T22:44:02.0999999Z",
                "exitCode": 3,
                "result": "failure",
                "retryCount": 2,
                "requeueCount": 0,
                "lastRetryTime": "2026-12-07T22:43:55.123Z",
                "failureInfo": {
                    "category": "usererror",
                    "code": "FailureExitCode",
                    "message": "The task process exited with an unexpected exit code",
                    "details": [{"name": "Message", "value": "exit code 3"}],
                },
            },
            "nodeInfo": {
                "affinityId": "TVM:tvmps_0123456789abcdef_d",
                "nodeUrl": "https://acct.westeurope.batch.azure.com/pools/p/nodes/tvmps_1",
                "poolId": "p",
                "nodeId": "tvmps_1",
                "taskRootDirectory": "workitems/topn/job-1/topn-a",
                "taskRootDirectoryUrl": "https://acct.westeurope.batch.azure.com/x",
            },
        },
        {
            "id": "topn-merge",
            "url": "https://acct.westeurope.batch.azure.com/jobs/topn/tasks/topn-merge",
            "eTag": "0x8DE16A1B2C3D4E6",
            "creationTime": "2026-12-07T22:43:31.6736345Z",
            "lastModified": "2026-12-07T22:43:32.1880389Z",
            "state": "active",
            "stateTransitionTime": "2026-12-07T22:43:31.6736345Z",
            "commandLine": "/bin/bash -c 'cat *'",
            "dependsOn": {"taskIds": ["topn-a"]},
            "constraints": {
                "maxWallClockTime": "P10675199DT2H48M5.4775807S",
                "retentionTime": "P10675199DT2H48M5.4775807S",
                "maxTaskRetryCount": 0,
            },
            "requiredSlots": 2,
            "executionInfo": {"retryCount": 0, "requeueCount": 0},
        },
    ]
}


def test_a_page_as_azure_sends_it_reads_as_the_sdk_reads_it() -> None:
    for task in AZURE_PAGE["value"]:
        assert observed_task(task) == through_the_sdk(m.BatchTask(task)), task["id"]
    a, merge = (observed_task(t) for t in AZURE_PAGE["value"])
    assert a.fingerprint == "a" * 32 and a.result == "failure" and a.exit_code == 3
    assert a.ended == "2026-12-07T22:44:02.099999Z" and a.node_id == "tvmps_1"
    assert merge.depends_on == ("topn-a",) and merge.started is None and merge.state == "active"
