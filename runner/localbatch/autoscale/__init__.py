"""Batch's autoscale formula language: parse, type-check and evaluate a pool's formula.

Pure (no I/O, no clock: the caller passes the time and the samples). `validate` and
`evaluate` (in `run`) are the entry points; `SystemSamples` is what a formula reads.
Modules: `syntax` (tokens, tree, parser), `checker` (types), `functions` (operators and
built-in functions), `samples` (GetSample and the other sample methods), `variables`
(service-defined variables, SystemSamples), `values` (types, time, text form),
`evaluator`, `errors` (Batch's AutoScaleRunError). docs/local-batch.md lists what is
supported.
"""

from runner.localbatch.autoscale.errors import AutoScaleError
from runner.localbatch.autoscale.run import (
    MAX_FORMULA_LENGTH,
    AutoScaleResult,
    evaluate,
    format_results,
    validate,
)
from runner.localbatch.autoscale.values import TimeInterval, Timestamp, Value
from runner.localbatch.autoscale.variables import SAMPLED_METRICS, Sample, SystemSamples

__all__ = [
    "MAX_FORMULA_LENGTH",
    "SAMPLED_METRICS",
    "AutoScaleError",
    "AutoScaleResult",
    "Sample",
    "SystemSamples",
    "TimeInterval",
    "Timestamp",
    "Value",
    "evaluate",
    "format_results",
    "validate",
]
