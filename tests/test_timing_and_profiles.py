"""The diagnostics bench/apply_bench.py relies on: the local service's timing log
(`BWF_LOCALBATCH_TIMING_LOG`), and the CPU profiles of the service and of bwf
(`BWF_LOCALBATCH_PROFILE`, `BWF_PROFILE`). Each starts its own service instance."""

from __future__ import annotations

import json
import os
import pstats
import subprocess
import sys
from pathlib import Path
from typing import Any

from azure.batch import models as m
from azure.storage.blob import BlobServiceClient

from runner import localstack
from tests.batch_helpers import make_job, make_pool, uid, wait_completed
from tests.test_localbatch import container_sas_url
from tests.test_localbatch_faults import client

STAGES = ("assigned", "picked", "fetched", "spawning", "spawned", "exited", "released")


def _output(url: str, pattern: str, path: str) -> m.OutputFile:
    return m.OutputFile(
        file_pattern=pattern,
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url=url, path=path)
        ),
        upload_options=m.OutputFileUploadConfiguration(
            upload_condition=m.OutputFileUploadCondition.TASK_COMPLETION
        ),
    )


def test_timing_log_and_service_profile(
    tmp_path: Path, blob_service: BlobServiceClient, azurite: Any
) -> None:
    """A line per task with its stages in order and each output entry's upload; every
    file of every entry uploaded (at once); the service's profile written at SIGTERM."""
    log, profile = tmp_path / "timing.jsonl", tmp_path / "service.prof"
    env = {"BWF_LOCALBATCH_TIMING_LOG": str(log), "BWF_LOCALBATCH_PROFILE": str(profile)}
    svc = localstack.start_batch_service(tmp_path / "batch", env=env)
    out = uid("out")
    blob_service.create_container(out)
    write = container_sas_url(azurite.url, out, "cw")
    try:
        c = client(svc.url)
        job_id = make_job(c, make_pool(c, nodes=1, slots=1))
        tasks = [
            m.BatchTaskCreateOptions(
                id=f"t{i}",
                command_line=f"/bin/bash -c 'echo {i} > a_OUT.txt; echo {i} > b_OUT.txt'",
                output_files=[
                    _output(write, "*_OUT.txt", f"t{i}"),
                    _output(write, "../std*.txt", f"logs/t{i}"),
                ],
            )
            for i in range(3)
        ]
        c.create_tasks(job_id, tasks)
        counts = wait_completed(c, job_id, 3, timeout=60)
        assert counts.succeeded == 3
    finally:
        localstack.stop_process(svc.pid)
    blobs = sorted(b.name for b in blob_service.get_container_client(out).list_blobs())
    assert len(blobs) == 12 and "t1/b_OUT.txt" in blobs and "logs/t2/stderr.txt" in blobs
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert sorted(x["task"] for x in lines) == ["t0", "t1", "t2"]
    for x in lines:
        assert x["job"] == job_id and x["outcome"] == "succeeded"
        times = [x[s] for s in STAGES]
        assert times == sorted(times), x
        assert [(o["pattern"], o["files"]) for o in x["outputs"]] == [
            ("*_OUT.txt", 2),
            ("../std*.txt", 2),
        ]
    stats = pstats.Stats(str(profile))
    files = {f for f, _line, _name in stats.stats}  # type: ignore[attr-defined]
    assert any(f.endswith("localbatch/execution.py") for f in files)  # a worker thread's


def test_bwf_writes_its_profile_when_asked(tmp_path: Path) -> None:
    profile = tmp_path / "bwf.prof"
    env = {**os.environ, "BWF_PROFILE": str(profile), "BWF_HOME": str(tmp_path / "home")}
    r = subprocess.run(
        [sys.executable, "-m", "runner", "schema"], env=env, capture_output=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    stats = pstats.Stats(str(profile))
    assert any(f.endswith("runner/cli.py") for f, _l, _n in stats.stats)  # type: ignore[attr-defined]
