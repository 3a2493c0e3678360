"""The formula bwf writes for `autoscale: {min, max, tasks_per_node}`, run by the local
service's evaluator on the samples of a few situations (no network)."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runner.autoscale_formula import pending_tasks_formula
from runner.localbatch.autoscale import Sample, SystemSamples, evaluate, validate

NOW = datetime(2024, 1, 3, 12, 0, 0, tzinfo=timezone.utc)


def pending(values: list[float]) -> SystemSamples:
    """$PendingTasks sampled every 30 seconds, the last sample now."""
    samples = [
        Sample(NOW - timedelta(seconds=30 * (len(values) - 1 - i)), value)
        for i, value in enumerate(values)
    ]
    return SystemSamples(history={"$PendingTasks": samples})


@pytest.mark.parametrize(
    ("tasks", "low", "high", "per_node", "nodes"),
    [
        ([0] * 6, 0, 20, 4, 0),  # nothing pending: the minimum
        ([0] * 6, 2, 20, 4, 2),
        ([500] * 6, 0, 20, 4, 20),  # far more than the maximum can run: capped
        ([5] * 6, 0, 20, 4, 2),  # 5 tasks, 4 per node: 2 nodes
        ([4] * 6, 0, 20, 4, 1),
        # Shrinking: the average of 3 minutes, 41 / 6 = 6.83 > the last 1, without its fraction.
        ([8, 8, 8, 8, 8, 1], 0, 20, 1, 6),
        ([], 1, 5, 2, 1),  # a new pool, no samples yet: the minimum
        ([3], 0, 5, 1, 3),  # too few samples to average: the last sample
    ],
)
def test_short_form_formula(
    tasks: list[float], low: int, high: int, per_node: int, nodes: int
) -> None:
    formula = pending_tasks_formula(low, high, per_node)
    assert validate(formula) is None
    result = evaluate(formula, pending(tasks), NOW)
    assert result.error is None, result.error
    assert (result.target_dedicated_nodes, result.target_low_priority_nodes) == (nodes, 0)
    assert result.node_deallocation_option == "taskcompletion"


def test_short_form_for_spot_nodes() -> None:
    result = evaluate(pending_tasks_formula(0, 10, 3, spot=True), pending([9] * 6), NOW)
    assert (result.target_dedicated_nodes, result.target_low_priority_nodes) == (0, 3)


@pytest.mark.parametrize(("low", "high", "per_node"), [(-1, 5, 1), (6, 5, 1), (0, 5, 0)])
def test_short_form_refuses_impossible_bounds(low: int, high: int, per_node: int) -> None:
    with pytest.raises(ValueError):
        pending_tasks_formula(low, high, per_node)


def test_short_form_module_is_client_side() -> None:
    source = Path(__file__).parents[1] / "runner" / "autoscale_formula.py"
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not any("localbatch" in name for name in imported)
