"""The `bwf` command line: one click group; each subcommand lives in `runner.commands.<verb>`.

This module only wires commands together and turns a `BwfError` into a clean exit:
the message on stderr (control characters escaped), no traceback, the error's exit code. Anything else is a bug
and keeps its traceback. `run` is the `bwf` command itself: `main`, then the process
ends without freeing its memory object by object (`runner.exiting`).
"""

from __future__ import annotations

import importlib
import sys

import click

from runner import __version__, exiting, profiling
from runner.errors import BwfError
from runner.terminal import escape_lines

PROFILE_ENV = "BWF_PROFILE"  # a CPU profile of this bwf process (runner.profiling)

# verb -> module under runner.commands exposing a click command named `command`
COMMANDS = (
    "validate",
    "plan",
    "apply",
    "status",
    "logs",
    "report",
    "destroy",
    "local",
    "schema",
)


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs, so `bwf validate` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"runner.commands.{cmd_name}")
        command: click.Command = module.command
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bwf")
def cli() -> None:
    """bwf: declarative workflows for Azure Batch and Azure Storage."""


def run() -> None:
    """The `bwf` command (and `python -m runner`): `main`, and the process ends."""
    exiting.begin()
    try:
        main()
    except SystemExit as stop:
        exiting.end(stop)


def main(argv: list[str] | None = None) -> None:
    """bwf with these arguments (sys.argv's by default); always raises SystemExit."""
    stop_profile = profiling.start_from_env(PROFILE_ENV)
    try:
        _main(argv)
    finally:
        stop_profile()


def _main(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="bwf", standalone_mode=False)
    except BwfError as e:
        click.echo(escape_lines(str(e)), err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)  # a usage error's is 2, unless its command says otherwise
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    sys.exit(0)
