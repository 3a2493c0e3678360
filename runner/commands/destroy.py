"""`bwf destroy SPEC`: delete the job, the pool and the containers the spec owns."""

from __future__ import annotations

import sys

import click

from runner import pipeline
from runner.commands.options import parse_vars, target_option, var_option, yes_option
from runner.errors import UsageError
from runner.kept import Kept


@click.command(name="destroy")
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@yes_option
def command(spec: str, target: str, var_args: tuple[str, ...], yes: bool) -> None:
    """Delete what SPEC created (job, pool, its containers including the logs); nothing else."""
    from runner.engine import connect

    desired = pipeline.desired_state(spec, parse_vars(var_args))
    names = [c.name for c in desired.containers]
    what = f"job {desired.job.id}, pool {desired.pool.id}, containers {', '.join(names)}"
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"destroy deletes {what}: confirm in a terminal, or pass --yes")
        if not click.confirm(f"Delete {what}?", default=False):
            raise SystemExit(1)
    s = connect(desired, target)
    click.echo(
        f"job {desired.job.id}: {'deleted' if s.batch.delete_job(desired.job.id) else 'not found'}"
    )
    click.echo(
        f"pool {desired.pool.id}: {'deleted' if s.batch.delete_pool(desired.pool.id) else 'not found'}"
    )
    for name in names:
        click.echo(
            f"container {name}: {'deleted' if s.storage.delete_container(name) else 'not found'}"
        )
    s.ledger.forget_all()
    Kept(s.ledger).forget()
