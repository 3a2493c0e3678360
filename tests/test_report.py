"""The run report's figures, from a hand-built run: recomputed independently here, the
cost estimate and price tables, and the JSON form. The HTML is tested in
test_report_html.py, its rendering in Chromium in test_report_browser.py."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.report import (
    BUILTIN_PRICES,
    SPOT_FACTOR,
    NodeSpan,
    NodeState,
    Result,
    RunData,
    compute_figures,
    load_price_table,
    to_json,
)
from tests.report_runs import at, small_run


def _state_at(node: NodeSpan, t: datetime) -> str | None:
    current = None
    for change in node.states:
        if change.at <= t:
            current = change.state
    return current


def _recount(run: RunData) -> tuple[float, float, float, float]:
    """Dedicated and spot node-seconds, busy and available slot-seconds, by sampling the
    middle of every second of the run (independent of the report's interval arithmetic)."""
    dedicated = spot = busy = available = 0.0
    for second in range(int((run.ended - run.started).total_seconds())):
        moment = at(second + 0.5)
        for node in run.nodes:
            if not node.added <= moment < (node.removed or run.ended):
                continue
            state = _state_at(node, moment)
            if state != "preempted":
                spot += node.spot
                dedicated += not node.spot
            running = [
                e
                for e in run.executions
                if e.node_id == node.node_id
                and e.started
                and e.ended
                and e.started <= moment < e.ended
            ]
            busy += len(running)
            if state in ("idle", "running") or running:
                available += run.slots_per_node
    return dedicated, spot, busy, available


def test_figures_match_an_independent_count() -> None:
    run = small_run()
    figures = compute_figures(run)
    dedicated, spot, busy, available = _recount(run)
    assert (dedicated, spot) == (200, 160)  # node-b is not billed while preempted
    assert (busy, available) == (257, 180 + 145)  # node-a usable from its first task, at 20 s
    assert figures.node_hours_dedicated == pytest.approx(dedicated / 3600)
    assert figures.node_hours_spot == pytest.approx(spot / 3600)
    assert figures.busy_slot_hours == pytest.approx(busy / 3600)
    assert figures.available_slot_hours == pytest.approx(available / 3600)
    assert figures.utilisation == pytest.approx(busy / available)
    waits = [(e.started - e.queued).total_seconds() for e in run.executions if e.started]
    assert figures.queue_wait_median == statistics.median(waits) == 15
    assert figures.queue_wait_max == max(waits) == 175
    assert figures.wall_seconds == 210
    assert (figures.tasks, figures.executions) == (6, 8)
    assert figures.tasks_by_result == {Result.SUCCESS: 4, Result.FAILURE: 1, Result.BLOCKED: 1}
    assert (figures.retries, figures.requeues, figures.preemptions) == (1, 1, 1)
    assert [(f.task_id, f.retry, f.reason, f.retried) for f in figures.failures] == [
        ("t-bad", 0, "exit code 2", False),
        ("t-fail", 0, "exit code 3: bad input", True),
    ]
    assert [e.task_id for e in figures.slowest][:2] == ["t-pre", "t-pre"]  # 80 s, then 49 s
    assert sum(b.total for b in figures.histogram) == 7  # every execution that ran


def test_cost_is_node_hours_times_a_price_and_spot_is_priced_apart() -> None:
    run = small_run()
    listed = compute_figures(run).cost
    assert listed is not None
    assert listed.quote.dedicated == 0.096 and listed.quote.spot == pytest.approx(
        0.096 * SPOT_FACTOR
    )
    assert listed.total == pytest.approx(200 / 3600 * 0.096 + 160 / 3600 * 0.096 * SPOT_FACTOR)
    assert "as of" in listed.quote.source
    from_spec = compute_figures(replace(run, price_per_hour=0.5)).cost
    assert from_spec is not None and from_spec.dedicated == pytest.approx(200 / 3600 * 0.5)
    assert "pool.price_per_hour" in from_spec.quote.source
    explicit = compute_figures(replace(run, price_per_hour=0.5), price=2.0).cost
    assert explicit is not None and explicit.dedicated == pytest.approx(200 / 3600 * 2.0)
    unknown = compute_figures(replace(run, vm_size="standard_x99_v9"))
    assert unknown.cost is None and "--price" in unknown.cost_note


def test_a_user_price_table_replaces_the_built_in_one(tmp_path: Path) -> None:
    table_file = tmp_path / "prices.json"
    table_file.write_text(
        json.dumps(
            {
                "currency": "EUR",
                "region": "westeurope",
                "as_of": "2025-06",
                "prices": {"Standard_D2s_v3": {"dedicated": 0.12, "spot": 0.03}},
            }
        )
    )
    assert load_price_table(environ={}) is BUILTIN_PRICES
    for table in (
        load_price_table(table_file, {}),
        load_price_table(None, {"BWF_PRICES": str(table_file)}),
    ):
        cost = compute_figures(small_run(), table=table).cost
        assert cost is not None and cost.quote.currency == "EUR"
        assert cost.spot == pytest.approx(160 / 3600 * 0.03)
        assert str(table_file) in cost.quote.source
    assert (
        compute_figures(
            small_run(vm_size="standard_d4s_v3"), table=load_price_table(table_file, {})
        ).cost
        is None
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"price": {}}', 'a "prices" object'),
        (
            '{"prices": {"standard_d2s_v3": "cheap"}}',
            'prices.standard_d2s_v3: expected a number, got "cheap"',
        ),
        ('{"prices": {"standard_d2s_v3": -1}}', "expected a price of 0 or more"),
        ('{"prices": {}, "spotfactor": 0.3}', "unknown key(s) in the price table: spotfactor"),
    ],
)
def test_a_bad_price_table_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    table_file = tmp_path / "prices.json"
    table_file.write_text(content)
    with pytest.raises(UsageError) as raised:
        load_price_table(table_file, {})
    assert str(raised.value).startswith(f"{table_file}: ") and message in str(raised.value)
    with pytest.raises(UsageError, match="cannot read"):
        load_price_table(tmp_path / "missing.json", {})


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NodeState(datetime(2025, 1, 1), "idle")


def test_json_gives_the_same_figures_as_data() -> None:
    run = small_run()
    data = json.loads(json.dumps(to_json(run, price=1.0)))
    figures = compute_figures(run, price=1.0)
    assert data["format_version"] == 1
    assert data["tasks"]["by_result"] == {
        "success": 4,
        "failure": 1,
        "blocked": 1,
        "preempted": 0,
        "running": 0,
    }
    assert data["node_hours"] == {
        "dedicated": pytest.approx(200 / 3600),
        "spot": pytest.approx(160 / 3600),
        "total": pytest.approx(360 / 3600),
    }
    assert data["slots"]["utilisation"] == pytest.approx(figures.utilisation)
    assert data["queue_wait_seconds"] == {"median": 15, "max": 175}
    assert figures.cost is not None
    assert data["cost"]["estimate"] is True
    assert data["cost"]["total"] == pytest.approx(figures.cost.total)
    assert [n["billed_hours"] * 3600 for n in data["nodes"]] == pytest.approx([200, 160])
    assert len(data["slowest"]) == 7 and data["failures"][0]["task_id"] == "t-bad"
