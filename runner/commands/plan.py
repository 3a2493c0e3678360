"""`bwf plan SPEC`: what `apply` would do, as text or JSON; changes nothing.

Exit codes: 0, or an error's own (2 for invalid input). With `--detailed-exitcode`
they follow Terraform's `plan -detailed-exitcode`: 0 no changes, 1 an error (an
invalid spec or a bad option included), 2 changes pending.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from runner import exiting, gcpause, pipeline
from runner.commands.options import (
    allow_path_option,
    json_option,
    parse_vars,
    target_option,
    var_option,
)
from runner.errors import EXIT_CHANGES, EXIT_FAILED, BwfError, UsageError
from runner.paths import Allowed
from runner.plan import Plan, diff
from runner.plan_colour import print_plan
from runner.plan_history import Estimate, describe, estimate, estimate_json
from runner.plan_json import document
from runner.plan_json_text import chunks
from runner.show import render_plan
from runner.state import Observed

DETAILED_EXITCODE = "--detailed-exitcode"


def make_plan(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    offline: bool,
    allowed: Allowed | None = None,
) -> Plan:
    desired = pipeline.desired_state(spec, parse_vars(var_args), allowed, target)
    if offline:
        observed = Observed.empty()
    else:
        from runner.observe import observe_target

        observed = observe_target(desired, target)
    return diff(desired, observed, target)


class _PlanCommand(click.Command):
    """With --detailed-exitcode, a bad command line is an error like any other: exit 1
    (2 would read as "changes pending")."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as e:
            if DETAILED_EXITCODE in args:
                # click reads exit_code per instance; its stubs call it a class variable
                e.exit_code = EXIT_FAILED  # type: ignore[misc]
            raise


@click.command(name="plan", cls=_PlanCommand)
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@allow_path_option
@json_option
@click.option(
    "--out", "out", type=click.Path(dir_okay=False), help="Also save the plan as JSON to this file."
)
@click.option(
    DETAILED_EXITCODE,
    "detailed_exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on any error.",
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
    try:
        # The plan is made, shown and dropped while the cyclic collector is paused: it
        # would otherwise scan every object of a big plan once more before exit.
        with gcpause.paused():
            changes = _plan_and_show(
                spec, target, var_args, offline, Allowed.of(allow_paths), as_json, out
            )
    except BwfError as e:
        if detailed_exitcode:
            e.exit_code = EXIT_FAILED
        raise
    if detailed_exitcode and changes:
        raise SystemExit(EXIT_CHANGES)


def _plan_and_show(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    offline: bool,
    allowed: Allowed,
    as_json: bool,
    out: str | None,
) -> bool:
    """Whether the plan has changes, once shown."""
    plan = make_plan(spec, target, var_args, offline, allowed)
    _show(plan, as_json, out)
    exiting.leave(plan)  # freed by the process's end, not object by object
    return plan.has_changes


def _estimate(plan: Plan) -> Estimate | None:
    """The expected wall time and node-hours from an earlier run, when one is recorded."""
    from runner.ledger import ledger_for
    from runner.runrecord import RunRecord

    try:
        record = RunRecord(ledger_for(plan.desired, plan.target))
    except BwfError:  # no account to name the record by (an offline plan for Azure)
        return None
    return estimate(plan, record)


def _show(plan: Plan, as_json: bool, out: str | None) -> None:
    found = _estimate(plan)
    if as_json or out:
        data = document(plan)
        if found is not None:
            data["estimate"] = estimate_json(found)
        _write_json(data, as_json, out)
    if not as_json:
        print_plan(render_plan(plan) + (describe(found) + "\n" if found else ""))


def _write_json(data: dict[str, Any], to_stdout: bool, out: str | None) -> None:
    """The JSON plan to stdout and/or the --out file, written as it is made (a plan of
    100,000 tasks is about 100 MB of text)."""
    try:
        with contextlib.ExitStack() as stack:
            file = stack.enter_context(Path(out).open("w")) if out else None
            for chunk in chunks(data):
                if file is not None:
                    file.write(chunk)
                if to_stdout:
                    click.echo(chunk, nl=False)
            if file is not None:
                file.write("\n")
    except OSError as e:
        raise UsageError(f"--out {out}: {e.strerror}") from None
    if to_stdout:
        click.echo()
