"""runner.batch against the session's local Batch service: what a retried create meets,
deletions already under way, and how long waits end."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest

from runner import localstack
from runner.batch import Batch, waiting
from runner.errors import BwfError
from runner.state import DesiredJob, DesiredPool, ResourceFile
from tests.helpers import local_target


class NoSecrets:
    """A resolver for bodies without SAS URLs (no start task, no resource files)."""

    def text(self, value: str) -> str:
        return value

    def resource(self, rf: ResourceFile) -> dict[str, str | None]:
        raise AssertionError("no resource files here")

    def output_url(self, container: str) -> str:
        raise AssertionError("no outputs here")


@pytest.fixture()
def batch(batch_service: localstack.RunningService) -> Batch:
    return Batch(local_target(batch_service.url))


def _pool(nodes: int = 0) -> DesiredPool:
    return DesiredPool(
        id=f"b{uuid.uuid4().hex[:8]}",
        vm_size="standard_d2s_v3",
        publisher="canonical",
        offer="0001-com-ubuntu-server-jammy",
        sku="22_04-lts",
        version="latest",
        node_agent_sku="batch.node.ubuntu 22.04",
        image_alias=None,
        dedicated_nodes=nodes,
        spot_nodes=0,
        task_slots_per_node=1,
        start_task=None,
        fingerprint="f1",
    )


def test_a_create_retried_after_it_succeeded_accepts_what_it_created(batch: Batch) -> None:
    """azure-core retries a POST answered 5xx: when the first one had succeeded, the retry
    gets 409 PoolExists / JobExists, which is fine when the pool or job is as asked."""
    pool = _pool()
    resolver = NoSecrets()
    batch.create_pool(pool, resolver)
    batch.create_pool(pool, resolver)  # the retry: accepted
    with pytest.raises(BwfError, match="PoolExists") as e:
        batch.create_pool(replace(pool, fingerprint="f2"), resolver)
    assert "differs from the spec" in str(e.value)
    job = DesiredJob(
        id=f"{pool.id}-job", pool_id=pool.id, timeout=60, uses_task_dependencies=True, steps=()
    )
    batch.create_job(job, resolver, quota_bound=10)
    batch.create_job(job, resolver, quota_bound=10)
    with pytest.raises(BwfError, match="JobExists"):
        batch.create_job(replace(job, pool_id="another-pool"), resolver, quota_bound=10)
    assert batch.delete_job(job.id) and batch.delete_pool(pool.id)


def test_a_deletion_under_way_is_waited_for_and_a_missing_one_is_no_error(batch: Batch) -> None:
    pool = _pool()
    batch.create_pool(pool, NoSecrets())
    batch.conn.client.begin_delete_pool(pool.id, polling_interval=60)  # someone else's
    assert batch.get_pool(pool.id).state == "deleting"  # type: ignore[union-attr]
    assert batch.delete_pool(pool.id) is True
    assert batch.get_pool(pool.id) is None
    assert batch.delete_pool(pool.id) is False and batch.delete_job(f"{pool.id}-none") is False


def test_a_wait_gives_up_after_its_bound_saying_what_is_pending() -> None:
    said: list[str] = []
    pace = waiting.Pace(first=0.01, most=0.05, quiet=0.05, report=0.05)
    started = time.monotonic()
    with pytest.raises(BwfError) as e:
        waiting.until(lambda: False, "pool p is being deleted", 0.3, pace, said.append, "try later")
    assert time.monotonic() - started >= 0.3
    assert str(e.value) == "pool p is being deleted after 0s; gave up waiting. try later"
    assert said and said[0].startswith("  pool p is being deleted (")
    assert waiting.until(lambda: True, "x", 0, pace, said.append) < 0.1  # done at once
