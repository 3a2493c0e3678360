"""Helpers for tests of the local Batch service: pools and jobs made with the real
azure-batch SDK, waiting for a condition, and hand-signed REST calls for what the SDK
would never send (wrong shapes, headers, api-versions)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from azure.batch import BatchClient
from azure.batch import models as m

from runner import localstack
from runner.localbatch import auth

T = TypeVar("T")

API_VERSION = "2025-06-01"
IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(
        publisher="canonical",
        offer="0001-com-ubuntu-server-jammy",
        sku="22_04-lts",
        version="latest",
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_pool(client: BatchClient, nodes: int = 2, slots: int = 2, start_task: Any = None) -> str:
    pool_id = uid("pool")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            target_dedicated_nodes=nodes,
            task_slots_per_node=slots,
            start_task=start_task,
        )
    )
    return pool_id


def make_job(client: BatchClient, pool_id: str, **kw: Any) -> str:
    job_id = uid("job")
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), **kw)
    )
    return job_id


def wait_completed(client: BatchClient, job_id: str, count: int, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        counts = client.get_job_task_counts(job_id).task_counts
        if counts.completed >= count:
            return counts
        assert time.monotonic() < deadline, f"tasks not done in {timeout}s: {counts}"
        time.sleep(0.1)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


def wait_nodes(
    client: BatchClient, pool_id: str, count: int, states: tuple[str, ...] = ("idle",)
) -> list[Any]:
    """The pool's nodes once `count` of them are in one of `states`."""

    def probe() -> list[Any] | None:
        nodes = list(client.list_nodes(pool_id))
        ready = [n for n in nodes if n.state in states]
        return nodes if len(ready) == count and len(nodes) == count else None

    return wait_for(f"{count} nodes {'/'.join(states)} in {pool_id}", probe)


def call(
    service_url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: str = f"api-version={API_VERSION}",
    key: str = localstack.BATCH_KEY,
) -> tuple[int, dict[str, str], Any]:
    """A hand-signed REST call: (status, response headers, JSON body or None)."""
    data = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body).encode() if body is not None else b"")
    )
    sent = {
        "ocp-date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        "Content-Type": "application/json; odata=minimalmetadata",
        "Content-Length": str(len(data)),
        **(headers or {}),
    }
    text = auth.string_to_sign(method, path, query, sent, localstack.BATCH_ACCOUNT)
    sent["Authorization"] = f"SharedKey {localstack.BATCH_ACCOUNT}:{auth.sign(key, text)}"
    url = f"{service_url}{path}" + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=data or None, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), json.loads(raw) if raw else None
