"""`bwf local up|down|status`: the local stack (Azurite + the local Batch service)."""

from __future__ import annotations

import json

import click

from runner import localstack
from runner.commands.options import json_option

_LABELS = {"storage": ("storage", "Azurite"), "batch": ("batch", "local Batch service")}


def _show(info: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for name, (label, program) in _LABELS.items():
        service = info[name]
        assert isinstance(service, dict)
        url = service.get("blob_url") or service.get("url")
        if service["running"]:
            state = (
                f"running  {url}  (account {service['account']}, {program} pid {service['pid']})"
            )
        elif url:
            state = f"stopped  (kept port {service['port']}: {url})"
        else:
            state = "stopped"
        click.echo(f"{label:<8} {state}")
    click.echo(f"state    {info['home']}")
    if not info["running"]:
        click.echo("start what is stopped with: bwf local up")


@click.group(name="local")
def command() -> None:
    """Run the local stack: Azurite for Storage and bwf's local Batch service."""


@command.command()
@json_option
def up(as_json: bool) -> None:
    """Start what is not running, on the ports kept in BWF_HOME, and wait until it answers."""
    _show(localstack.up(), as_json)


@command.command()
def down() -> None:
    """Stop both services; their data and ports stay under BWF_HOME."""
    click.echo("local stack stopped" if localstack.down() else "local stack was not running")


@command.command()
@json_option
def status(as_json: bool) -> None:
    """Each service: running or stopped, URL, port, pid (with --json: accounts and keys too)."""
    _show(localstack.status(), as_json)
