"""`bwf schema`: print the workflow JSON Schema (for editors)."""

from __future__ import annotations

import json

import click

from runner.schema import schema


@click.command(name="schema")
def command() -> None:
    """Print the JSON Schema of workflow specs."""
    click.echo(json.dumps(schema(), indent=2))
