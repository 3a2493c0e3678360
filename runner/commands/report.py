"""`bwf report SPEC`: the report of a recorded run, as one HTML page or as JSON.

Reads only BWF_HOME (the run record) and the spec: no service is needed, so a run whose
job and pool clean-up deleted can still be shown. docs/report.md explains the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from runner import pipeline
from runner.commands.options import (
    allow_path_option,
    json_option,
    parse_vars,
    target_option,
    var_option,
)
from runner.errors import UsageError
from runner.paths import Allowed


@click.command(name="report")
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@allow_path_option
@click.option("--run", "run_id", metavar="ID", help="The run to show (default: the latest).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the page (or, with --json, the JSON) to this file. Default: the page "
    "goes next to the run's record in BWF_HOME, the JSON to standard output.",
)
@json_option
@click.option(
    "--price", type=float, help="Price of a dedicated node-hour (overrides the spec and the table)."
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False),
    help="A JSON price table replacing the built-in one (docs/report.md).",
)
def command(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    allow_paths: tuple[str, ...],
    run_id: str | None,
    out: str | None,
    as_json: bool,
    price: float | None,
    prices_file: str | None,
) -> None:
    """Draw a recorded run of SPEC: per-node timeline, durations, node-hours, cost estimate."""
    from runner.ledger import ledger_for
    from runner.report import load_price_table, to_json
    from runner.runrecord import RunRecord
    from runner.runreport import load, run_data, write_html

    if price is not None and not price >= 0:
        raise UsageError(f"--price {price}: expected a price of 0 or more")
    table = load_price_table(Path(prices_file) if prices_file else None)
    desired = pipeline.desired_state(spec, parse_vars(var_args), Allowed.of(allow_paths))
    record = RunRecord(ledger_for(desired, target))
    if not as_json:
        path = write_html(record, desired, run_id, Path(out) if out else None, price, table)
        click.echo(f"Wrote the run report to {path}")
        return
    chosen, events = load(record, run_id)
    text = json.dumps(to_json(run_data(chosen, events, desired), price, table), indent=2)
    if out is None:
        click.echo(text)
        return
    try:
        Path(out).write_text(text + "\n", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--out {out}: {e.strerror or e}") from None
