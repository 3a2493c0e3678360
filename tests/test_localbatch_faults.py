"""The local Batch service under faults: kill -9 and restart, failing requests, dying nodes.

Each test starts its own service instance (state in a temporary directory) so that
faults stay contained.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential

from runner import localstack
from tests.test_localbatch import make_job, make_pool, wait_completed


def client(url: str, **kw: Any) -> BatchClient:
    return BatchClient(
        endpoint=url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
        **kw,
    )


def test_kill_9_mid_job_then_restart_loses_no_task(tmp_path: Path) -> None:
    home = tmp_path / "batch"
    svc = localstack.start_batch_service(home)
    try:
        c = client(svc.url)
        pool_id = make_pool(c, nodes=2, slots=2)
        job_id = make_job(c, pool_id)
        c.create_tasks(
            job_id,
            [
                m.BatchTaskCreateOptions(
                    id=f"t{i:02d}", command_line="/bin/bash -c 'sleep 0.4; echo done'"
                )
                for i in range(40)
            ],
        )
        deadline = time.monotonic() + 20
        while c.get_job_task_counts(job_id).task_counts.running == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(svc.pid, signal.SIGKILL)
    except BaseException:
        localstack.stop_process(svc.pid)
        raise
    svc2 = localstack.start_batch_service(home)  # same state directory, a new port
    try:
        c2 = client(svc2.url)
        counts = wait_completed(c2, job_id, 40, timeout=60)
        assert (counts.succeeded, counts.failed) == (40, 0)
        tasks = list(c2.list_tasks(job_id))
        assert len(tasks) == 40
        retried = [t for t in tasks if t.execution_info.retry_count >= 1]
        assert retried, "the tasks running at the kill were re-queued as retries"
        assert all(
            b"".join(c2.download_task_file(job_id, t.id, "stdout.txt")).endswith(b"done\n")
            for t in retried
        )
        assert c2.get_pool(pool_id).target_dedicated_nodes == 2
    finally:
        localstack.stop_process(svc2.pid)


def test_sdk_retries_complete_a_500_task_job_with_10_percent_failures(tmp_path: Path) -> None:
    env = {"BWF_LOCALBATCH_FAULT_RATE": "0.1", "BWF_LOCALBATCH_FAULT_SEED": "11"}
    svc = localstack.start_batch_service(tmp_path / "batch", env=env)
    try:
        c = client(svc.url, retry_total=10, retry_backoff_factor=0.01)
        pool_id = make_pool(c, nodes=2, slots=8)
        job_id = make_job(c, pool_id)
        c.create_tasks(
            job_id,
            [m.BatchTaskCreateOptions(id=f"t{i:03d}", command_line="true") for i in range(500)],
            max_concurrency=4,
        )
        counts = wait_completed(c, job_id, 500, timeout=120)
        assert (counts.succeeded, counts.failed) == (500, 0)
        assert len(list(c.list_tasks(job_id))) == 500
    finally:
        localstack.stop_process(svc.pid)
    log = (tmp_path / "batch" / "service.log").read_text()
    assert "Traceback" not in log


def test_a_dying_node_requeues_its_tasks(tmp_path: Path) -> None:
    svc = localstack.start_batch_service(
        tmp_path / "batch", env={"BWF_LOCALBATCH_KILL_NODE_ON_TASK": "victim"}
    )
    try:
        c = client(svc.url)
        job_id = make_job(c, make_pool(c, nodes=1, slots=1))
        c.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id="victim", command_line="/bin/bash -c 'sleep 1; echo survived'"
            ),
        )
        counts = wait_completed(c, job_id, 1, timeout=30)
        assert counts.succeeded == 1
        info = c.get_task(job_id, "victim").execution_info
        assert info.retry_count == 1 and info.requeue_count == 1
        assert b"".join(c.download_task_file(job_id, "victim", "stdout.txt")).endswith(
            b"survived\n"
        )
    finally:
        localstack.stop_process(svc.pid)
