"""A private local stack whose Batch service behaves as harshly as Azure, and small specs
to apply on it.

The switches (`BWF_LOCALBATCH_*`, docs/local-batch.md) are read when the service
starts: `harsh_stack` sets them, with a BWF_HOME of its own, in this process's
environment, which `bwf` subprocesses inherit, and starts the stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from runner import localstack
from tests.helpers import KEEP_ALL, fan_out_spec


@contextmanager
def harsh_stack(home: Path, **switches: str) -> Iterator[Path]:
    """The local stack under `home`, its Batch service started with `switches`; stopped
    at the end, its log free of tracebacks."""
    mp = pytest.MonkeyPatch()
    mp.setenv("BWF_HOME", str(home))
    for name, value in switches.items():
        mp.setenv(name, value)
    try:
        localstack.up()
        yield home
    finally:
        try:
            localstack.down()
        finally:
            mp.undo()
    log = home / "local" / "batch" / "service.log"
    assert "Traceback" not in log.read_text()


def batch_client(home: Path) -> Any:
    """The azure-batch SDK client of the stack under `home` (for what a test inspects)."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    from runner import stackrecord

    mp = pytest.MonkeyPatch()
    mp.setenv("BWF_HOME", str(home))
    try:
        port = stackrecord.read()["batch"].port
    finally:
        mp.undo()
    return BatchClient(
        endpoint=f"http://127.0.0.1:{port}",
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
        retry_total=10,
        retry_status=10,
    )


def fan_out(
    tmp_path: Path,
    inputs: int = 4,
    nodes: int = 2,
    slots: int = 2,
    timeout: str = "60s",
    cleanup: str = KEEP_ALL,
    pool_extra: str = "",
) -> Path:
    """A spec fanning out over `inputs` files under `tmp_path` (a workflow of its own):
    each task writes its input's word count to `<stem>.out`, downloaded to
    `tmp_path/out`."""
    return fan_out_spec(
        tmp_path,
        f"h{uuid.uuid4().hex[:8]}",
        {f"in{i}.txt": f"word{i} " * (i + 1) + "\n" for i in range(inputs)},
        "wc -w < {{ item.name }} > {{ item.stem }}.out; echo $AZ_BATCH_NODE_ID > {{ item.stem }}.node",
        nodes=nodes,
        slots=slots,
        timeout=timeout,
        outputs='[{pattern: "*.out", container: output}, {pattern: "*.node", container: output}]',
        pool_extra=pool_extra,
        cleanup=cleanup,
    )


def workflow_ids(spec: Path) -> tuple[str, str]:
    """(pool id, job id) of a `fan_out` spec."""
    name = spec.read_text().split("name: ")[1].split()[0]
    return f"{name}-pool", f"{name}-job"


def word_counts(out: Path) -> dict[str, int]:
    """`<stem>.out` -> the count its task wrote."""
    return {p.stem: int(p.read_text()) for p in sorted(out.glob("*.out"))}
