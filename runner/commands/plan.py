"""`bwf plan SPEC`: what `apply` would do, as text or JSON; changes nothing."""

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
from runner.errors import EXIT_INVALID, UsageError
from runner.paths import Allowed
from runner.plan import Plan, diff
from runner.plan_json import to_json
from runner.show import render_plan
from runner.state import Observed


def make_plan(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    offline: bool,
    allowed: Allowed | None = None,
) -> Plan:
    desired = pipeline.desired_state(spec, parse_vars(var_args), allowed)
    if offline:
        observed = Observed.empty()
    else:
        from runner.observe import observe_target

        observed = observe_target(desired, target)
    return diff(desired, observed, target)


@click.command(name="plan")
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@allow_path_option
@json_option
@click.option(
    "--out", "out", type=click.Path(dir_okay=False), help="Also save the plan as JSON to this file."
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are."
)
@click.option(
    "--offline", is_flag=True, help="Do not read the services: plan against an empty world."
)
def command(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    allow_paths: tuple[str, ...],
    as_json: bool,
    out: str | None,
    detailed_exitcode: bool,
    offline: bool,
) -> None:
    """Show what `bwf apply SPEC` would create, update, replace or skip."""
    plan = make_plan(spec, target, var_args, offline, Allowed.of(allow_paths))
    data = to_json(plan)
    if out:
        try:
            Path(out).write_text(json.dumps(data, indent=2) + "\n")
        except OSError as e:
            raise UsageError(f"--out {out}: {e.strerror}") from None
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_plan(plan), nl=False)
    if detailed_exitcode and plan.has_changes:
        raise SystemExit(EXIT_INVALID)
