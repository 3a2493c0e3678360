"""`bwf destroy SPEC`: delete the job, the pool and the containers the spec owns."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from runner import pipeline
from runner.commands.options import (
    allow_path_option,
    parse_vars,
    target_option,
    var_option,
    yes_option,
)
from runner.errors import UsageError
from runner.kept import Kept
from runner.lock import workflow_lock
from runner.paths import Allowed

if TYPE_CHECKING:
    from runner.engine import Session


@click.command(name="destroy")
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@allow_path_option
@yes_option
def command(
    spec: str, target: str, var_args: tuple[str, ...], allow_paths: tuple[str, ...], yes: bool
) -> None:
    """Delete what SPEC created (job, pool, its containers including the logs); nothing else."""
    from runner.engine import connect

    desired = pipeline.desired_state(spec, parse_vars(var_args), Allowed.of(allow_paths))
    names = [c.name for c in desired.containers]
    what = f"job {desired.job.id}, pool {desired.pool.id}, containers {', '.join(names)}"
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"destroy deletes {what}: confirm in a terminal, or pass --yes")
        if not click.confirm(f"Delete {what}?", default=False):
            raise SystemExit(1)
    s = connect(desired, target)
    # not while an apply of this workflow runs: it would re-create what is deleted
    with workflow_lock(s.ledger.path.stem, f"workflow '{desired.name}'", _warn):
        _destroy(s, names)


def _warn(message: str) -> None:
    click.echo(message, err=True)


def _destroy(s: Session, names: list[str]) -> None:
    job_id, pool_id = s.desired.job.id, s.desired.pool.id
    click.echo(f"job {job_id}: {'deleted' if s.batch.delete_job(job_id) else 'not found'}")
    click.echo(f"pool {pool_id}: {'deleted' if s.batch.delete_pool(pool_id) else 'not found'}")
    for name in names:
        click.echo(
            f"container {name}: {'deleted' if s.storage.delete_container(name) else 'not found'}"
        )
    s.ledger.forget_all()
    Kept(s.ledger).forget()
