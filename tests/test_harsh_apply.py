"""`bwf apply` against a local Batch service as harsh as Azure (docs/targets.md, "What
differs on Azure"): each switch on its own, then all of them at once. Every test runs a
private stack started with its switches (tests/harsh_stack.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from runner import localstack
from tests.gated import Apply
from tests.harsh_stack import batch_client, fan_out, harsh_stack, word_counts, workflow_ids
from tests.run_cli import bwf

pytestmark = pytest.mark.usefixtures("in_tmp_path")

EXPECTED = {f"in{i}": i + 1 for i in range(4)}  # what fan_out's four tasks count


def events(path: Path, kind: str) -> list[dict[str, Any]]:
    """The events of one kind that `bwf apply --events PATH` wrote."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in lines if e["event"] == kind]


def test_a_pool_short_of_its_quota_runs_every_task_on_the_nodes_it_got(tmp_path: Path) -> None:
    with harsh_stack(tmp_path / "home", BWF_LOCALBATCH_MAX_NODES="1"):
        spec = fan_out(tmp_path, nodes=2, timeout="40s")
        stream = tmp_path / "events.jsonl"
        run = bwf("apply", str(spec), "--yes", "--events", str(stream))
        assert run.code == 0, run.out + run.err
        assert "Traceback" not in run.out + run.err
        assert "AccountCoreQuotaReached" in run.err and "1 of the 2 nodes" in run.err, run.err
        # the warning is in the event stream and in the run's report
        (short,) = events(stream, "pool_resize_error")
        assert (short["dedicated"], short["asked_dedicated"]) == (1, 2), short
        assert any(e.startswith("AccountCoreQuotaReached: ") for e in short["errors"]), short
        report = bwf("report", str(spec), "--json")
        assert report.code == 0, report.out + report.err
        (warning,) = json.loads(report.out)["warnings"]
        assert "1 of the 2 nodes" in warning and "AccountCoreQuotaReached" in warning
        assert word_counts(tmp_path / "out") == EXPECTED
        nodes = {p.read_text() for p in (tmp_path / "out").glob("*.node")}
        assert len(nodes) == 1  # every task ran on the one node the quota allowed
        # the pool stays short: the next apply that runs tasks asks for the nodes again
        (tmp_path / "data" / "in0.txt").write_text("one two three four five\n")
        plan = bwf("plan", str(spec))
        assert plan.code == 0, plan.out + plan.err
        assert re.search(r"~ pool .*\(fewer nodes than asked\)", plan.out), plan.out
        assert "nodes 1+0 -> 2+0" in plan.out, plan.out


def test_deletions_that_take_seconds_are_waited_for_by_apply_and_destroy(tmp_path: Path) -> None:
    delay = 2.0
    with harsh_stack(tmp_path / "home", BWF_LOCALBATCH_DELETE_DELAY=str(delay)) as home:
        spec = fan_out(tmp_path, nodes=1)
        pool_id, job_id = workflow_ids(spec)
        first = bwf("apply", str(spec), "--yes")
        assert first.code == 0, first.out + first.err
        # someone deletes the job and the pool; a changed input is applied meanwhile
        client = batch_client(home)
        client.begin_delete_job(job_id, polling_interval=60)
        client.begin_delete_pool(pool_id, polling_interval=60)
        (tmp_path / "data" / "in0.txt").write_text("a b c d e f g\n")
        started = time.monotonic()
        stream = tmp_path / "events.jsonl"
        again = bwf("apply", str(spec), "--yes", "--events", str(stream))
        assert again.code == 0, again.out + again.err
        assert time.monotonic() - started >= delay  # it waited for the pool to be gone
        assert "(pool is being deleted)" in again.out, again.out
        # the record saw the wait, then the old pool gone, before the new one's nodes
        waits = {e["for"]: e["seconds"] for e in events(stream, "waited")}
        assert waits.get(f"pool {pool_id} is being deleted", 0) > 0, waits
        assert [e["pool"] for e in events(stream, "pool_deleted")] == [pool_id]
        assert word_counts(tmp_path / "out") == {**EXPECTED, "in0": 7}
        # destroy waits until both are gone, then apply creates them anew
        destroy = bwf("destroy", str(spec), "--yes")
        assert destroy.code == 0, destroy.out + destroy.err
        assert f"job {job_id}: deleted" in destroy.out and f"pool {pool_id}: deleted" in destroy.out
        assert [p.id for p in client.list_pools()] == [] and list(client.list_jobs()) == []
        third = bwf("apply", str(spec), "--yes")
        assert third.code == 0, third.out + third.err
        assert "Creating pool [" in third.out and "Traceback" not in third.out + third.err


def test_a_node_count_changed_while_the_pool_allocates_stops_that_resize_first(
    tmp_path: Path,
) -> None:
    delay = 3.0
    with harsh_stack(tmp_path / "home", BWF_LOCALBATCH_ALLOCATION_DELAY=str(delay)) as home:
        spec = fan_out(tmp_path, nodes=1)
        pool_id, _ = workflow_ids(spec)
        first = Apply(home, spec)  # interrupted while its pool allocates
        try:
            first.wait_for("Creating job")
        finally:
            first.kill()
        client = batch_client(home)
        assert client.get_pool(pool_id).allocation_state == m.AllocationState.RESIZING
        spec.write_text(spec.read_text().replace("  nodes: 1\n", "  nodes: 2\n"))
        run = bwf("apply", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        assert "(node count changed)" in run.out
        assert f"Pool [{pool_id}] is resizing: stopping that resize first..." in run.out
        pool = client.get_pool(pool_id)
        assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (2, 2)
        assert word_counts(tmp_path / "out") == EXPECTED


def _terminate_later(home: Path, job_id: str, after: float) -> threading.Thread:
    def terminate() -> None:
        time.sleep(after)
        options = BatchJobTerminateOptions(termination_reason="done elsewhere")
        batch_client(home).begin_terminate_job(job_id, options=options, polling_interval=1)

    thread = threading.Thread(target=terminate)
    thread.start()
    return thread


def test_under_an_active_job_quota_of_one_workflows_run_one_after_the_other(
    tmp_path: Path,
) -> None:
    with harsh_stack(tmp_path / "home", BWF_LOCALBATCH_MAX_ACTIVE_JOBS="1") as home:
        first, second = fan_out(tmp_path / "a", nodes=1), fan_out(tmp_path / "b", nodes=1)
        stream = tmp_path / "events.jsonl"
        run = bwf("apply", str(first), "--yes", "--events", str(stream))
        assert run.code == 0, run.out + run.err
        assert "Terminated job [" in run.out  # kept, but no longer active
        _, job_id = workflow_ids(first)
        assert [e["job"] for e in events(stream, "job_terminated")] == [job_id]
        run = bwf("apply", str(second), "--yes")
        assert run.code == 0, run.out + run.err
        assert word_counts(tmp_path / "b" / "out") == EXPECTED
        # a job of someone else's holds the quota: apply waits, says so, and goes on
        client = batch_client(home)
        pool_id, _ = workflow_ids(second)
        client.create_job(
            m.BatchJobCreateOptions(id="other", pool_info=m.BatchPoolInfo(pool_id=pool_id))
        )
        (tmp_path / "a" / "data" / "in0.txt").write_text("a b c d e f g\n")
        freed = _terminate_later(home, "other", after=1.5)
        run = bwf("apply", str(first), "--yes", "--events", str(stream))
        freed.join()
        assert run.code == 0, run.out + run.err
        assert "(job is completed)" in run.out  # the kept job is replaced to run again
        assert "quota of active jobs is reached (ActiveJobAndScheduleQuotaReached)" in run.out
        (quota,) = [e for e in events(stream, "waited") if "quota" in e["for"]]
        assert quota["seconds"] > 0, quota
        assert word_counts(tmp_path / "a" / "out") == {**EXPECTED, "in0": 7}
        # ... for up to the job's timeout, then gives up naming the quota
        client.create_job(
            m.BatchJobCreateOptions(id="stuck", pool_info=m.BatchPoolInfo(pool_id=pool_id))
        )
        second.write_text(second.read_text().replace("timeout: 60s", "timeout: 2s"))
        (tmp_path / "b" / "data" / "in0.txt").write_text("a b\n")
        run = bwf("apply", str(second), "--yes")
        assert run.code == 1, run.out + run.err
        assert "ActiveJobAndScheduleQuotaReached" in run.err and "gave up waiting" in run.err
        assert "Traceback" not in run.out + run.err


def test_apply_and_destroy_succeed_while_batch_throttles(tmp_path: Path) -> None:
    """A fifth of all requests refused with 429 or 503 and Retry-After."""
    switches = {
        "BWF_LOCALBATCH_THROTTLE_RATE": "0.2",
        "BWF_LOCALBATCH_THROTTLE_RETRY_AFTER": "0.02",
        "BWF_LOCALBATCH_FAULT_SEED": "11",
    }
    with harsh_stack(tmp_path / "home", **switches):
        spec = fan_out(tmp_path, inputs=30, nodes=2, slots=4)
        run = bwf("apply", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        assert len(word_counts(tmp_path / "out")) == 30
        (tmp_path / "data" / "in3.txt").write_text("x\n")
        run = bwf("apply", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        assert word_counts(tmp_path / "out")["in3"] == 1
        run = bwf("destroy", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        assert "Traceback" not in run.out + run.err


def test_stale_task_counts_neither_end_monitoring_early_nor_hold_it_to_the_timeout(
    tmp_path: Path,
) -> None:
    with harsh_stack(tmp_path / "home", BWF_LOCALBATCH_STALE_COUNTS="3") as home:
        spec = fan_out(tmp_path, nodes=1, slots=4, timeout="10m")
        spec.write_text(spec.read_text().replace("command: wc", "command: sleep 1; wc"))
        first = Apply(home, spec)  # interrupted once its tasks are done: the job stays active
        try:
            first.wait_for("Tasks: 4/4")
        finally:
            first.kill()
        # the counts now answer "4 completed" for a while: the changed task, deleted and
        # added again, must still be waited for
        (tmp_path / "data" / "in2.txt").write_text("a b c d e f g h i\n")
        started = time.monotonic()
        run = bwf("apply", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        assert re.search(r"-/\+   1 task  \(changed\)", run.out), run.out
        # done once the task is: not when the job timeout gives up on the frozen counts
        assert time.monotonic() - started < 120, run.out
        assert word_counts(tmp_path / "out") == {**EXPECTED, "in2": 9}


def _expire_start_task_sas(client: Any, pool_id: str) -> None:
    """What time does to a kept pool: its start task's SAS URLs expire. Done here by
    signing them with an expiry in the past (the rest of the pool unchanged)."""
    pool = client.get_pool(pool_id)
    start = pool.start_task
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    for rf in start.resource_files:
        url, _, _ = rf.storage_container_url.partition("?")
        sas = generate_container_sas(
            localstack.STORAGE_ACCOUNT,
            url.rsplit("/", 1)[1],
            account_key=localstack.STORAGE_KEY,
            permission=ContainerSasPermissions(read=True, list=True),
            start=past - dt.timedelta(hours=1),
            expiry=past,
        )
        rf.storage_container_url = f"{url}?{sas}"
    client.replace_pool_properties(
        pool_id,
        m.BatchPoolReplaceOptions(
            start_task=start, application_package_references=[], metadata=pool.metadata
        ),
    )


def _wait_for_nodes(client: Any, pool_id: str, state: str) -> list[Any]:
    deadline = time.monotonic() + 60
    while True:
        nodes = list(client.list_nodes(pool_id))
        if nodes and all(n.state == state for n in nodes):
            return nodes
        assert time.monotonic() < deadline, [n.state for n in nodes]
        time.sleep(0.1)


def test_a_kept_pool_whose_start_task_sas_expired_is_signed_afresh_and_its_nodes_rebooted(
    tmp_path: Path,
) -> None:
    tool = tmp_path / "tool.sh"
    tool.write_text("wc -w\n")
    start_task = (
        "  start_task:\n"
        '    commands: [\'cp "$AZ_BATCH_TASK_WORKING_DIR"/tool.sh "$AZ_BATCH_NODE_SHARED_DIR"/\']\n'
        "    resource_files: [{container: application}]\n"
    )
    with harsh_stack(tmp_path / "home") as home:
        spec = fan_out(tmp_path, nodes=1, pool_extra=start_task)
        text = spec.read_text().replace(
            "    output: {}\n", "    output: {}\n    application: {upload: [tool.sh]}\n"
        )
        spec.write_text(text.replace("wc -w <", "sh $AZ_BATCH_NODE_SHARED_DIR/tool.sh <"))
        pool_id, _ = workflow_ids(spec)
        run = bwf("apply", str(spec), "--yes")
        assert run.code == 0, run.out + run.err
        client = batch_client(home)
        _expire_start_task_sas(client, pool_id)
        # the node reboots (here: the service restarts, which reboots every node); its
        # start task cannot download its files any more
        localstack.stop_process(localstack.status()["batch"]["pid"])  # type: ignore[index]
        localstack.up()
        (node,) = _wait_for_nodes(client, pool_id, "starttaskfailed")
        failure = node.start_task_info.failure_info
        assert failure.code == "ResourceFileDownloadFailed" and "403" in failure.message
        (tmp_path / "data" / "in1.txt").write_text("a b c d e f\n")
        stream = tmp_path / "events.jsonl"
        run = bwf("apply", str(spec), "--yes", "--events", str(stream))
        assert run.code == 0, run.out + run.err
        assert "(start task failed on 1 node)" in run.out and "Rebooting 1 node of pool" in run.out
        (rebooted,) = events(stream, "nodes_rebooted")
        assert (rebooted["nodes"], rebooted["refused"]) == ([node.id], []), rebooted
        # the record saw the node fail, then boot again
        states = [e["state"] for e in events(stream, "node_state") if e["node"] == node.id]
        assert states[0] == "starttaskfailed", states
        assert {"idle", "running"} & set(states[1:]), states
        assert word_counts(tmp_path / "out") == {**EXPECTED, "in1": 6}
        # the start task now holds a SAS valid for days: a node that reboots tomorrow
        # still starts
        url = client.get_pool(pool_id).start_task.resource_files[0].storage_container_url
        expiry = dt.datetime.fromisoformat(
            parse_qs(urlsplit(url).query)["se"][0].replace("Z", "+00:00")
        )
        assert expiry - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=6)


def test_two_workflows_under_every_switch_at_once(tmp_path: Path) -> None:
    switches = {
        "BWF_LOCALBATCH_MAX_NODES": "1",
        "BWF_LOCALBATCH_ALLOCATION_DELAY": "0.5",
        "BWF_LOCALBATCH_DELETE_DELAY": "1",
        "BWF_LOCALBATCH_THROTTLE_RATE": "0.2",
        "BWF_LOCALBATCH_THROTTLE_RETRY_AFTER": "0.02",
        "BWF_LOCALBATCH_FAULT_SEED": "4",
        "BWF_LOCALBATCH_STALE_COUNTS": "1",
        "BWF_LOCALBATCH_MAX_ACTIVE_JOBS": "1",
    }
    cleanup = "{containers: keep, job: keep, pool: delete}"  # frees the one node allowed
    with harsh_stack(tmp_path / "home", **switches):
        first = fan_out(tmp_path / "a", nodes=2, cleanup=cleanup)
        second = fan_out(tmp_path / "b", nodes=2, cleanup=cleanup)
        for spec in (first, second):
            run = bwf("apply", str(spec), "--yes")
            assert run.code == 0, run.out + run.err
            assert "AccountCoreQuotaReached" in run.err and "1 of the 2 nodes" in run.err
            assert "Terminated job [" in run.out and "Deleted pool [" in run.out
            assert word_counts(spec.parent / "out") == EXPECTED
        run = bwf("destroy", str(first), "--yes")
        assert run.code == 0, run.out + run.err
        (tmp_path / "a" / "data" / "in2.txt").write_text("a b c d e f g h i\n")
        run = bwf("apply", str(first), "--yes")
        assert run.code == 0, run.out + run.err
        assert word_counts(tmp_path / "a" / "out") == {**EXPECTED, "in2": 9}
        assert "Traceback" not in run.out + run.err
