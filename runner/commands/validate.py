"""`bwf validate SPEC...`: schema and semantic checks of specs, no network."""

from __future__ import annotations

import click

from runner import pipeline
from runner.commands.options import allow_path_option, parse_vars, var_option
from runner.errors import SpecError
from runner.paths import Allowed


@click.command(name="validate")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@var_option
@allow_path_option
def command(
    specs: tuple[str, ...], var_args: tuple[str, ...], allow_paths: tuple[str, ...]
) -> None:
    """Check SPECs against the schema and Batch's rules; print FILE:LINE:COL: message per problem."""
    problems = pipeline.validate(specs, parse_vars(var_args), Allowed.of(allow_paths))
    if problems:
        raise SpecError(problems)
    for s in specs:
        click.echo(f"{s}: ok")
