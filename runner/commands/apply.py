"""`bwf apply SPEC|plan.json`: plan, confirm, execute, monitor, download, clean up."""

from __future__ import annotations

import click

from runner.commands.options import (
    allow_path_option,
    parse_vars,
    target_option,
    var_option,
    yes_option,
)
from runner.errors import EXIT_INTERRUPTED
from runner.paths import Allowed


@click.command(name="apply")
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@allow_path_option
@yes_option
@click.option(
    "--events",
    metavar="FILE",
    help="Also write one JSON line per state change to FILE (`-`: standard output, "
    "the rest then goes to standard error). See docs/events.md.",
)
def command(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    allow_paths: tuple[str, ...],
    yes: bool,
    events: str | None,
) -> None:
    """Make the world match SPEC (or apply a plan saved with `bwf plan --out`).

    Writes the run's report to BWF_HOME and prints its path at the end (`bwf report`).
    Exit 0 when every task succeeded, 1 when a task or the service failed, 2 for invalid
    input, 130 when interrupted (Ctrl-C)."""
    from runner.engine import run_apply

    try:
        code = run_apply(spec, target, parse_vars(var_args), yes, Allowed.of(allow_paths), events)
    except KeyboardInterrupt:
        # Batch does not need bwf: what was submitted runs on, and apply is idempotent
        again = (
            "`bwf apply` on the plan's spec" if spec.endswith(".json") else f"`bwf apply {spec}`"
        )
        click.echo(
            f"\nInterrupted. Tasks already submitted keep running in Batch; run {again} "
            "again to resume: it submits what is missing, monitors the rest and downloads "
            "the results.",
            err=True,
        )
        code = EXIT_INTERRUPTED
    raise SystemExit(code)
