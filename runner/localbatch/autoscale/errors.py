"""Errors of the autoscale formula language, in the shape of Batch's `AutoScaleRunError`.

A formula that cannot be parsed or type-checked fails with `AutoScalingFormulaSyntaxError`
(Batch's code for a formula it refuses); a formula longer than Batch's limit with
`AutoScaleFormulaTooLong`; a `GetSample` that asks for more samples than exist with
`InsufficientSampleData`, word for word as Batch reports it. Any other failure while
evaluating gets `AutoScalingFormulaEvaluationError`, a code of this service: Batch
documents no code for it. Every error carries one `Message` value located as Batch
locates it: `Line L, Col C: detail`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

SYNTAX_ERROR = "AutoScalingFormulaSyntaxError"
TOO_LONG = "AutoScaleFormulaTooLong"
INSUFFICIENT_SAMPLE_DATA = "InsufficientSampleData"
EVALUATION_ERROR = "AutoScalingFormulaEvaluationError"

_MESSAGES = {
    SYNTAX_ERROR: "The specified auto-scaling formula has a syntax error.",
    TOO_LONG: "The specified auto-scaling formula exceeds lengths limit.",
    INSUFFICIENT_SAMPLE_DATA: "Autoscale evaluation failed due to insufficient sample data",
    EVALUATION_ERROR: "Autoscale evaluation failed",
}


class Position(NamedTuple):
    """Where something starts in a formula: 1-based line and column, as Batch counts."""

    line: int
    col: int


@dataclass(frozen=True)
class AutoScaleError:
    """Batch's `AutoScaleRunError`: a code, a message and name/value details."""

    code: str
    message: str
    values: tuple[tuple[str, str], ...] = ()

    def to_rest(self) -> dict[str, object]:
        """The JSON form Batch returns in `autoScaleRun.error`."""
        return {
            "code": self.code,
            "message": self.message,
            "values": [{"name": name, "value": value} for name, value in self.values],
        }


class FormulaError(Exception):
    """Raised inside the language modules; `error` is the Batch error it becomes."""

    def __init__(self, code: str, detail: str, where: Position | None = None) -> None:
        located = f"Line {where.line}, Col {where.col}: {detail}" if where else detail
        super().__init__(located)
        self.error = AutoScaleError(code, _MESSAGES[code], (("Message", located),))


class ValueProblem(Exception):
    """A failure of an operator or a function; the evaluator adds where it happened."""


def syntax_error(where: Position | None, detail: str) -> FormulaError:
    return FormulaError(SYNTAX_ERROR, detail, where)


def evaluation_error(where: Position, detail: str) -> FormulaError:
    return FormulaError(EVALUATION_ERROR, detail, where)
