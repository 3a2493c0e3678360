"""The run report and the event stream of a real run on the local stack, checked against
what the Batch service itself recorded (read through the SDK).

The workflow: three tasks that succeed, one that fails on both of its attempts (one
retry), and a merge that the failure blocks. The failing task waits at a gate file per
attempt, so the test reads the service's record of each attempt while it runs: Batch
keeps only a task's latest attempt, and the first would be gone afterwards.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from runner import localstack
from runner.report import Result
from runner.report.svg import RESULT_COLOURS
from tests.chromium import chromium_or_skip, page_requests, screenshot
from tests.gated import Apply
from tests.helpers import fan_out_spec
from tests.png import colour_counts, pixels_near, read_png
from tests.run_cli import Result as CliResult
from tests.run_cli import bwf

JOB_TIMEOUT = 60.0  # generous: a bound that proves "not hanging"
OK_TASKS = ("ok1", "ok2", "ok3")


@dataclass
class Attempt:
    """One execution as the service recorded it."""

    task: str
    node: str
    started: datetime
    ended: datetime


@dataclass
class RealRun:
    home: Path
    spec: Path
    apply: CliResult
    events: list[dict[str, Any]]
    attempts: list[Attempt]  # every execution, from the service's records
    allocated: dict[str, datetime]  # node -> allocationTime
    usable_from: dict[str, datetime]  # node -> its start task's end: idle from then
    report: dict[str, Any]  # bwf report --json
    html: Path  # bwf report --out


def _spec(tmp: Path, name: str) -> Path:
    counter, gate = tmp / "attempts", tmp / "gate"
    # the failing task counts its attempts and waits at gate<attempt> before exiting 3
    fail = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; "
        f'while [ ! -e "{gate}$n" ]; do sleep 0.05; done; exit 3'
    )
    return fan_out_spec(
        tmp,
        name,
        {f"{stem}.txt": f"words of {stem}\n" for stem in OK_TASKS} | {"bad.txt": "FAIL\n"},
        ">-\n"
        f"      if grep -q FAIL {{{{ item.name }}}}; then {fail}; fi;\n"
        "      wc -w {{ item.name }} > {{ item.stem }}.out",
        slots=1,
        timeout="2m",
        pool_extra='  price_per_hour: 0.5\n  start_task: {commands: ["true"]}\n',
        task_extra="    retries: 1\n",
        job_extra=(
            "  merge:\n    id: all\n    command: cat *.out > all.txt\n"
            "    resource_files: [{container: output}]\n"
            "    outputs: [{pattern: all.txt, container: output}]\n"
        ),
    )


@contextlib.contextmanager
def _home(home: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BWF_HOME", str(home))
        yield


def _client(home: Path) -> Any:
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    with _home(home):
        info = localstack.up()
    batch = info["batch"]
    assert isinstance(batch, dict)
    credential = AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY)
    return BatchClient(str(batch["url"]), credential)


def _until(what: str, probe: Callable[[], Any], apply: Apply) -> Any:
    """Poll `probe` until it returns something, while apply still runs."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        assert apply.proc.poll() is None, f"apply ended while waiting for {what}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _started(path: Path, task: str, attempt: int) -> bool:
    return any(
        e["event"] == "task_started" and e["task"] == task and e["attempt"] == attempt
        for e in _events(path)
    )


def _running(client: Any, job: str, retries: int) -> Callable[[], Any]:
    def probe() -> Any:
        try:
            t = client.get_task(job, "bad")
        except ResourceNotFoundError:  # not submitted yet
            return None
        info = t.execution_info
        if t.state == "running" and info and info.retry_count == retries and t.node_info:
            return t
        return None

    return probe


@pytest.fixture(scope="module")
def real_run(stack_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    tmp = tmp_path_factory.mktemp("report-run")
    name = f"r{uuid.uuid4().hex[:8]}"
    spec, events = _spec(tmp, name), tmp / "events.jsonl"
    job = f"{name}-job"
    client = _client(stack_home)
    run = Apply(stack_home, spec, "--events", str(events), "--allow-path", str(tmp))
    try:
        first = _until("the first attempt", _running(client, job, 0), run)
        _until("its task_started event", lambda: _started(events, "bad", 1), run)
        (tmp / "gate0").touch()
        second = _until("the retry", _running(client, job, 1), run)
        _until("the retry's task_started event", lambda: _started(events, "bad", 2), run)
        (tmp / "gate1").touch()
        applied = run.finish(timeout=JOB_TIMEOUT)
    finally:
        for gate in ("gate0", "gate1"):
            (tmp / gate).touch()
        run.kill()
    try:
        attempts = [
            Attempt(
                "bad",
                first.node_info.node_id,
                first.execution_info.start_time,
                second.execution_info.last_retry_time,
            ),
        ]
        for t in client.list_tasks(job):
            info = t.execution_info
            if info is not None and info.start_time is not None:
                attempts.append(Attempt(t.id, t.node_info.node_id, info.start_time, info.end_time))
        nodes = list(client.list_nodes(f"{name}-pool"))
        with _home(stack_home):
            report = bwf("report", str(spec), "--json", "--allow-path", str(tmp))
            assert report.code == 0, report.err
            html = tmp / "report.html"
            drawn = bwf("report", str(spec), "--out", str(html), "--allow-path", str(tmp))
            assert drawn.code == 0, drawn.err
        yield RealRun(
            home=stack_home,
            spec=spec,
            apply=applied,
            events=_events(events),
            attempts=attempts,
            allocated={n.id: n.allocation_time for n in nodes},
            usable_from={n.id: n.start_task_info.end_time for n in nodes},
            report=json.loads(report.out),
            html=html,
        )
    finally:
        client.begin_delete_job(job, polling_interval=0.1).result()
        client.begin_delete_pool(f"{name}-pool", polling_interval=0.1).result()


def _bars(html: Path) -> dict[str | None, list[tuple[str, str, str]]]:
    """(task, attempt, classes) of every bar, by row: a node id, or None for "not run"."""
    rows: dict[str | None, list[tuple[str, str, str]]] = {}
    for row in ET.fromstring(html.read_text(encoding="utf-8")).iter("g"):
        classes = (row.get("class") or "").split()
        if "row" in classes:
            key = None if "not-run" in classes else row.get("data-node")
            rows[key] = sorted(
                (g.get("data-task") or "", g.get("data-attempt") or "", g.get("class") or "")
                for g in row.iter("g")
                if "bar" in (g.get("class") or "").split()
            )
    return rows


def test_apply_fails_and_says_where_its_report_is(real_run: RealRun) -> None:
    out = real_run.apply.out
    assert real_run.apply.code == 1, out + real_run.apply.err
    assert "5 of 5 tasks to run" in out and "Adding 5 tasks" in out  # counts that agree
    assert "Uploading 4 files" in out and "1 task failed:" in out
    report_line = next(line for line in out.splitlines() if line.startswith("Run report: "))
    assert Path(report_line.removeprefix("Run report: ")).is_file()


def test_one_bar_per_execution_on_the_node_that_ran_it(real_run: RealRun) -> None:
    rows = _bars(real_run.html)
    expected: dict[str | None, list[tuple[str, str, str]]] = {None: [("all", "0", "bar blocked")]}
    for a in real_run.attempts:
        retry = (
            "1"
            if a.started != min(b.started for b in real_run.attempts if b.task == a.task)
            else "0"
        )
        result = "failure" if a.task == "bad" else "success"
        classes = f"bar {result}" + (" retry" if retry == "1" else "")
        expected.setdefault(a.node, []).append((a.task, retry, classes))
    assert rows == {key: sorted(bars) for key, bars in expected.items()}


def test_the_totals_are_what_the_service_recorded(real_run: RealRun) -> None:
    report = real_run.report
    assert report["tasks"]["total"] == 5
    assert report["tasks"]["by_result"] == {
        "success": 3,
        "failure": 1,
        "blocked": 1,
        "preempted": 0,
        "running": 0,
    }
    assert (report["tasks"]["executions"], report["tasks"]["retries"]) == (6, 1)
    durations = sorted((a.ended - a.started).total_seconds() for a in real_run.attempts)
    reported = sorted(e["duration_seconds"] for e in report["slowest"])
    assert len(reported) == len(durations) == 5
    for mine, theirs in zip(durations, reported, strict=True):
        assert math.isclose(mine, theirs, abs_tol=0.05)
    assert [(f["task_id"], f["exit_code"], f["retried"]) for f in report["failures"]] == [
        ("bad", 3, True),
        ("bad", 3, False),
    ]


def test_node_hours_and_utilisation_recomputed_from_the_service(real_run: RealRun) -> None:
    report = real_run.report
    end = datetime.fromisoformat(report["ended"])
    node_seconds = sum((end - at).total_seconds() for at in real_run.allocated.values())
    assert math.isclose(report["node_hours"]["dedicated"], node_seconds / 3600, rel_tol=1e-6)
    assert report["node_hours"]["spot"] == 0
    busy = sum((a.ended - a.started).total_seconds() for a in real_run.attempts)
    # usable from the end of the node's start task; the record samples node states, so
    # allow for the short idle gaps it may not have seen
    usable = sum((end - at).total_seconds() for at in real_run.usable_from.values())
    assert math.isclose(report["slots"]["busy_hours"] * 3600, busy, abs_tol=0.05)
    assert math.isclose(report["slots"]["available_hours"] * 3600, usable, rel_tol=0.05)
    assert math.isclose(report["slots"]["utilisation"], busy / usable, abs_tol=0.02)
    cost = report["cost"]
    assert cost["available"] and cost["price_per_node_hour"]["dedicated"] == 0.5
    assert math.isclose(cost["total"], 0.5 * node_seconds / 3600, rel_tol=1e-6)


def test_the_event_stream_tells_the_run(real_run: RealRun) -> None:
    events = real_run.events
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {e["run"] for e in events} == {real_run.report["run_id"]}
    assert sorted(e["container"] for e in events if e["event"] == "upload_done") == [
        real_run.spec.read_text().split()[3] + "-input"
    ]
    pool = [e for e in events if e["event"] == "pool_resized"]
    assert pool and (pool[-1]["dedicated"], pool[-1]["spot"]) == (2, 0)
    started = sorted(
        (e["task"], e["attempt"], e["node"]) for e in events if e["event"] == "task_started"
    )
    ran = sorted(real_run.attempts, key=lambda a: (a.task, a.started))
    numbered = [(a.task, 1 + [b for b in ran if b.task == a.task].index(a), a.node) for a in ran]
    assert started == sorted(numbered)
    completed = {e["task"]: e for e in events if e["event"] == "task_completed"}
    assert sorted(completed) == list(OK_TASKS)
    for a in real_run.attempts:
        if a.task in completed:
            assert completed[a.task]["ended"] == a.ended.isoformat().replace("+00:00", "Z")
    failed = [
        (e["attempt"], e["exit_code"], e["will_retry"])
        for e in events
        if e["event"] == "task_failed"
    ]
    assert failed == [(1, 3, True), (2, 3, False)]
    assert [(e["task"], e["blocked_by"]) for e in events if e["event"] == "task_blocked"] == [
        ("all", "bad")
    ]
    downloads = [e for e in events if e["event"] == "download_done"]
    assert len(downloads) == 1 and downloads[0]["files"] == len(OK_TASKS)
    assert kinds.index("download_done") > max(
        i for i, k in enumerate(kinds) if k.startswith("task_")
    )


def test_the_real_report_renders_offline_in_chromium(real_run: RealRun, tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    png, log = tmp_path / "report.png", tmp_path / "net-log.json"
    screenshot(chromium, real_run.html, png, tmp_path, size=(1100, 900), net_log=log)
    assert page_requests(log) == []
    image = read_png(png.read_bytes())
    counts = colour_counts(image)
    assert counts.most_common(1)[0][1] / counts.total() < 0.8, "the page is (nearly) blank"
    assert pixels_near(counts, RESULT_COLOURS[Result.SUCCESS]) > 200  # the bars, drawn
    assert pixels_near(counts, RESULT_COLOURS[Result.FAILURE]) > 50
