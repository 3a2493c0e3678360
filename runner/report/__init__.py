"""The run report: what a finished run did, as one self-contained HTML page (a per-node
timeline, step activity, duration histogram, slowest tasks, failures, node-hours,
utilisation and an estimated cost) or as the same figures in JSON.

Pure: no network, no SDK, no files but an optional price table. The wiring turns the
run record into a `RunData` (runner/report/model.py), then calls `render_html` or
`to_json` with `load_price_table(...)` and the user's `--price`.
"""

from __future__ import annotations

from runner.report.figures import CostEstimate, Failure, Figures, HistogramBin, compute_figures
from runner.report.html import page, render_html
from runner.report.json_form import FORMAT_VERSION, figures_json, to_json
from runner.report.model import NodeSpan, NodeState, PoolSample, Result, RunData, TaskExecution
from runner.report.prices import (
    BUILTIN_PRICES,
    PRICES_ENV,
    SPOT_FACTOR,
    ListPrice,
    PriceQuote,
    PriceTable,
    load_price_table,
    quote,
)

__all__ = [
    "BUILTIN_PRICES",
    "FORMAT_VERSION",
    "PRICES_ENV",
    "SPOT_FACTOR",
    "CostEstimate",
    "Failure",
    "Figures",
    "HistogramBin",
    "ListPrice",
    "NodeSpan",
    "NodeState",
    "PoolSample",
    "PriceQuote",
    "PriceTable",
    "Result",
    "RunData",
    "TaskExecution",
    "compute_figures",
    "figures_json",
    "load_price_table",
    "page",
    "quote",
    "render_html",
    "to_json",
]
