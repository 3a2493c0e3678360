"""Validating and evaluating a formula: what the pool endpoints and the interval timer call.

`validate` is what `enableautoscale` (and a pool created with a formula) checks: the
length limit, the syntax and the types. `evaluate` runs the formula on the pool's
samples and returns an AutoScaleResult: the variables it assigned (for
`autoScaleRun.results`), the node targets to apply, or the error (`autoScaleRun.error`),
in which case the pool keeps its size, as on Batch.
"""

from __future__ import annotations

import math
import random as random_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from runner.localbatch.autoscale.checker import check
from runner.localbatch.autoscale.errors import (
    TOO_LONG,
    AutoScaleError,
    FormulaError,
    evaluation_error,
)
from runner.localbatch.autoscale.evaluator import Evaluation
from runner.localbatch.autoscale.functions import CallContext, StopEvaluation
from runner.localbatch.autoscale.syntax import Statement, parse
from runner.localbatch.autoscale.values import Value, format_double, format_value, timestamp_of
from runner.localbatch.autoscale.variables import (
    NODE_DEALLOCATION_OPTION,
    OUTPUTS,
    TARGET_DEDICATED_NODES,
    TARGET_LOW_PRIORITY_NODES,
    SystemSamples,
)

MAX_FORMULA_LENGTH = 8192  # characters, Batch's limit


@dataclass(frozen=True)
class AutoScaleResult:
    """One evaluation. The targets are None when it failed: the pool then keeps its size."""

    timestamp: datetime
    # Every assigned variable, the outputs first, as `autoScaleRun.results` lists them.
    variables: tuple[tuple[str, Value], ...] = ()
    target_dedicated_nodes: int | None = None
    target_low_priority_nodes: int | None = None
    node_deallocation_option: str | None = None
    error: AutoScaleError | None = None

    @property
    def results(self) -> str:
        """`autoScaleRun.results`: `$Name=value;...`."""
        return format_results(self.variables)


def format_results(variables: Sequence[tuple[str, Value]]) -> str:
    return ";".join(f"{name}={format_value(value)}" for name, value in variables)


def validate(formula: str) -> AutoScaleError | None:
    """The error Batch would refuse `formula` with, or None if it compiles."""
    try:
        _compile(formula)
    except FormulaError as failure:
        return failure.error
    return None


def evaluate(
    formula: str,
    samples: SystemSamples,
    now: datetime,
    *,
    random: Callable[[], float] = random_module.random,
) -> AutoScaleResult:
    """Runs `formula` at time `now` (timezone-aware) on the pool's `samples`."""
    try:
        statements = _compile(formula)
    except FormulaError as failure:
        return AutoScaleResult(now, error=failure.error)
    run = Evaluation(samples, CallContext(timestamp_of(now), random))
    try:
        run.run(statements)
        return _success(now, run)
    except StopEvaluation:
        return _success(now, run)
    except FormulaError as failure:
        return AutoScaleResult(now, _variables(run), error=failure.error)


def _compile(formula: str) -> tuple[Statement, ...]:
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            TOO_LONG, f"the formula has {len(formula)} characters, more than {MAX_FORMULA_LENGTH}"
        )
    statements = parse(formula)
    check(statements)
    return statements


def _variables(run: Evaluation) -> tuple[tuple[str, Value], ...]:
    outputs = tuple((name, run.output(name)) for name in OUTPUTS)
    return outputs + tuple(sorted(run.user.items(), key=lambda item: item[0]))


def _success(now: datetime, run: Evaluation) -> AutoScaleResult:
    try:
        dedicated = _node_count(run, TARGET_DEDICATED_NODES)
        low_priority = _node_count(run, TARGET_LOW_PRIORITY_NODES)
    except FormulaError as failure:
        return AutoScaleResult(now, _variables(run), error=failure.error)
    option = run.output(NODE_DEALLOCATION_OPTION)
    assert isinstance(option, str)
    return AutoScaleResult(now, _variables(run), dedicated, low_priority, option)


def _node_count(run: Evaluation, name: str) -> int:
    value = run.output(name)
    assert isinstance(value, float)
    if not math.isfinite(value) or value < 0:
        raise evaluation_error(
            run.assigned_at[name], f"{name} is {format_double(value)}, not a number of nodes"
        )
    # Batch drops the fraction: its own examples round up by hand, with (tasks + 3) / 4.
    return int(value)
