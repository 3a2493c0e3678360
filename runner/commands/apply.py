"""`bwf apply` (not implemented yet)."""

from __future__ import annotations

import click

from runner.errors import BwfError


@click.command(name="apply", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1)
def command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise BwfError("bwf apply is not implemented yet")
