"""`bwf logs SPEC TASK`: a task's stdout (or stderr), from the logs container or its node."""

from __future__ import annotations

import sys

import click

from runner import pipeline, secrets
from runner.commands.options import allow_path_option, parse_vars, target_option, var_option
from runner.errors import BwfError
from runner.paths import Allowed


@click.command(name="logs")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("task")
@click.option("--stderr", "stderr", is_flag=True, help="Show stderr instead of stdout.")
@target_option
@var_option
@allow_path_option
def command(
    spec: str,
    task: str,
    stderr: bool,
    target: str,
    var_args: tuple[str, ...],
    allow_paths: tuple[str, ...],
) -> None:
    """Print TASK's stdout (or --stderr). Works after the node or the pool is gone."""
    from runner.engine import connect
    from runner.spec import LOGS_KEY

    desired = pipeline.desired_state(spec, parse_vars(var_args), Allowed.of(allow_paths))
    name = "stderr.txt" if stderr else "stdout.txt"
    s = connect(desired, target)
    data = s.storage.read_blob(desired.container(LOGS_KEY).name, f"{desired.job.id}/{task}/{name}")
    if data is None:
        data = s.batch.task_file(desired.job.id, task, name)
    if data is None:
        raise BwfError(
            f"no {name} for task {task} of job {desired.job.id} (not run yet, or its logs were deleted)"
        )
    sys.stdout.write(secrets.scrub(data.decode(errors="replace")))
