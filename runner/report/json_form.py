"""The report's figures as data (`bwf report --json`, format_version 1; docs/report.md).

Durations are seconds, node-hours and slot-hours are hours, times are ISO 8601 in UTC,
money is in the price table's currency. Keys are stable; new ones may be added.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from runner.report.figures import (
    Figures,
    all_nodes,
    billed_seconds,
    busy_slot_seconds,
    compute_figures,
    run_end,
    usable_intervals,
)
from runner.report.model import Result, RunData, TaskExecution
from runner.report.prices import BUILTIN_PRICES, PriceTable

FORMAT_VERSION = 1


def to_json(
    run: RunData, price: float | None = None, table: PriceTable = BUILTIN_PRICES
) -> dict[str, Any]:
    """The figures of `run` as a JSON-ready dict; `price` and `table` as in `compute_figures`."""
    return figures_json(run, compute_figures(run, price, table))


def figures_json(run: RunData, figures: Figures) -> dict[str, Any]:
    """The JSON form of figures already computed for `run`."""
    return {
        "format_version": FORMAT_VERSION,
        "workflow": run.workflow,
        "run_id": run.run_id,
        "pool_id": run.pool_id,
        "vm_size": run.vm_size,
        "slots_per_node": run.slots_per_node,
        "started": run.started.astimezone(timezone.utc).isoformat(),
        "ended": run.ended.astimezone(timezone.utc).isoformat(),
        "wall_seconds": figures.wall_seconds,
        "tasks": {
            "total": figures.tasks,
            "by_result": {r.value: figures.tasks_by_result.get(r, 0) for r in Result},
            "executions": figures.executions,
            "retries": figures.retries,
            "requeues": figures.requeues,
            "preemptions": figures.preemptions,
        },
        "node_hours": {
            "dedicated": figures.node_hours_dedicated,
            "spot": figures.node_hours_spot,
            "total": figures.node_hours,
        },
        "slots": {
            "busy_hours": figures.busy_slot_hours,
            "available_hours": figures.available_slot_hours,
            "utilisation": figures.utilisation,
        },
        "queue_wait_seconds": {"median": figures.queue_wait_median, "max": figures.queue_wait_max},
        "failures": [
            {
                "task_id": f.task_id,
                "retry": f.retry,
                "node_id": f.node_id,
                "exit_code": f.exit_code,
                "reason": f.reason,
                "retried": f.retried,
            }
            for f in figures.failures
        ],
        "duration_histogram": [
            {
                "low": b.low,
                "high": b.high,
                "count": b.total,
                "by_result": {r.value: b.counts.get(r, 0) for r in Result},
            }
            for b in figures.histogram
        ],
        "slowest": [_execution(e) for e in figures.slowest],
        "nodes": _nodes(run),
        "cost": _cost(figures),
    }


def _execution(e: TaskExecution) -> dict[str, Any]:
    return {
        "task_id": e.task_id,
        "retry": e.retry,
        "step": e.step,
        "barrier": e.barrier,
        "node_id": e.node_id,
        "duration_seconds": e.duration,
        "exit_code": e.exit_code,
        "result": e.result.value,
    }


def _nodes(run: RunData) -> list[dict[str, Any]]:
    end = run_end(run)
    out = []
    for node in all_nodes(run):
        mine = [e for e in run.executions if e.node_id == node.node_id]
        usable = sum(high - low for low, high in usable_intervals(node, mine, end))
        out.append(
            {
                "node_id": node.node_id,
                "spot": node.spot,
                "billed_hours": billed_seconds(node, end) / 3600,
                "usable_hours": usable / 3600,
                "busy_slot_hours": sum(busy_slot_seconds(e, end) for e in mine) / 3600,
                "executions": len(mine),
            }
        )
    return out


def _cost(figures: Figures) -> dict[str, Any]:
    cost = figures.cost
    if cost is None:
        return {"estimate": True, "available": False, "note": figures.cost_note}
    return {
        "estimate": True,
        "available": True,
        "currency": cost.quote.currency,
        "price_per_node_hour": {"dedicated": cost.quote.dedicated, "spot": cost.quote.spot},
        "dedicated": cost.dedicated,
        "spot": cost.spot,
        "total": cost.total,
        "note": cost.quote.source,
    }
