"""`bwf local up|down|status`: the local stack (Azurite + the local Batch service)."""

from __future__ import annotations

import json

import click

from runner import localstack
from runner.commands.options import json_option


def _show(info: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    storage, batch, pids = info["storage"], info["batch"], info["pids"]
    assert isinstance(storage, dict) and isinstance(batch, dict) and isinstance(pids, dict)
    click.echo(
        f"storage  {storage['blob_url']}  (account {storage['account']}, Azurite pid {pids['azurite']})"
    )
    click.echo(f"batch    {batch['url']}  (account {batch['account']}, pid {pids['batch']})")
    click.echo(f"state    {info['home']}")


@click.group(name="local")
def command() -> None:
    """Run the local stack: Azurite for Storage and bwf's local Batch service."""


@command.command()
@json_option
def up(as_json: bool) -> None:
    """Start both services in the background (or reuse them) and wait until they answer."""
    _show(localstack.up(), as_json)


@command.command()
def down() -> None:
    """Stop both services; their data stays under BWF_HOME."""
    click.echo("local stack stopped" if localstack.down() else "local stack was not running")


@command.command()
@json_option
def status(as_json: bool) -> None:
    """Where the services listen (with --json: accounts, development keys, URLs, pids)."""
    info = localstack.status()
    if info is None:
        if as_json:
            click.echo("null")
        else:
            click.echo("local stack is not running (start it with: bwf local up)")
        return
    _show(info, as_json)
