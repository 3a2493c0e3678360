"""`bwf status SPEC`: pool nodes by state, the job, task counts and each task's state.

When the job is gone (clean-up deleted it), the tasks come from the last run's record
in BWF_HOME (runner.runrecord), and status says so."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from runner import dag, pipeline, stepcounts
from runner.commands.options import (
    allow_path_option,
    json_option,
    parse_vars,
    target_option,
    var_option,
)
from runner.paths import Allowed
from runner.runrecord import RunRecord, RunSummary
from runner.state import Desired, ObservedJob
from runner.words import plural


def collect(
    spec: str, target: str, var_args: tuple[str, ...], allow_paths: tuple[str, ...] = ()
) -> dict[str, Any]:
    from runner.engine import connect

    desired = pipeline.desired_state(spec, parse_vars(var_args), Allowed.of(allow_paths))
    s = connect(desired, target)
    pool = s.batch.get_pool(desired.pool.id)
    job = s.batch.get_job(desired.job.id, with_tasks=True)
    out: dict[str, Any] = {
        "workflow": desired.name,
        "target": s.target.name,
        "pool": None,
        "job": None,
        "tasks": [],
    }
    if pool is not None:
        out["pool"] = {
            "id": pool.id,
            "state": pool.state,
            "allocation_state": pool.allocation_state,
            "dedicated_target": pool.dedicated_target,
            "spot_target": pool.spot_target,
            "nodes": dict(sorted(pool.node_states.items())),
        }
    if job is not None:
        counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
        for t in job.tasks.values():
            bucket = "running" if t.state in ("running", "preparing") else t.state
            counts[bucket] = counts.get(bucket, 0) + 1
            if t.state == "completed":
                counts["succeeded" if t.result == "success" else "failed"] += 1
        out["job"] = {"id": job.id, "state": job.state, "task_counts": counts}
        out["tasks"] = [
            {
                "id": t.id,
                "state": t.state,
                "result": t.result,
                "exit_code": t.exit_code,
                "retry_count": t.retry_count,
            }
            for t in job.tasks.values()
        ]
    done = {t.id for t in desired.job.step_tasks if s.ledger.tasks.get(t.id) == t.fingerprint}
    out["ledger_done"] = len(done)
    out["run"] = None
    run = RunRecord(s.ledger).latest() if job is None else None
    if job is None:
        out["run"] = _last_run(run)
    out["steps"] = _steps(desired, job, run, done)
    return out


def _steps(
    desired: Desired, job: ObservedJob | None, run: RunSummary | None, done: set[str]
) -> list[dict[str, Any]]:
    """Each step's task counts: from the live job, else from the last run's record; a
    task in neither is succeeded when the ledger has it done, else waiting."""
    states = {i: stepcounts.SUCCEEDED for i in done}
    if job is not None:
        graph = dag.Graph(
            {t.id: t.depends_on for t in job.tasks.values()},
            frozenset(t.id for t in desired.job.all_tasks if t.on_dependency_failure == "satisfy"),
        )
        failed = {
            t.id for t in job.tasks.values() if t.state == "completed" and t.result != "success"
        }
        blocked = dag.blocked(graph, set(job.tasks), failed)
        for t in job.tasks.values():
            states[t.id] = stepcounts.bucket(t.state, t.result, t.id in blocked)
    elif run is not None:
        for record in run.tasks.values():
            states[record.id] = _recorded(record.state)
    return [asdict(c) for c in stepcounts.count(desired.job, states)]


def _recorded(state: str) -> str:
    """A state of the run record as the step counts have it."""
    if state in ("preparing", "running"):
        return stepcounts.RUNNING
    return stepcounts.WAITING if state == "active" else state


def _last_run(run: RunSummary | None) -> dict[str, Any] | None:
    """The last run as its record in BWF_HOME tells it (the job itself is gone)."""
    if run is None:
        return None
    counts: dict[str, int] = {}
    for t in run.tasks.values():
        counts[t.state] = counts.get(t.state, 0) + 1
    return {
        "id": run.id,
        "started": run.started,
        "finished": run.finished,
        "outcome": run.outcome,
        "task_counts": counts,
        "tasks": [asdict(t) for t in run.tasks.values()],
    }


@click.command(name="status")
@click.argument("spec", type=click.Path(dir_okay=False))
@target_option
@var_option
@allow_path_option
@json_option
def command(
    spec: str,
    target: str,
    var_args: tuple[str, ...],
    allow_paths: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show the pool's nodes, the job's task counts and every task's state and exit code."""
    data = collect(spec, target, var_args, allow_paths)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    pool, job = data["pool"], data["job"]
    if pool is None:
        click.echo("pool: none")
    else:
        nodes = ", ".join(f"{k} {v}" for k, v in pool["nodes"].items()) or "no nodes"
        click.echo(f"pool {pool['id']}: {pool['state']}/{pool['allocation_state']}, {nodes}")
    if job is None:
        _show_run(data)
        return
    c = job["task_counts"]
    click.echo(
        f"job {job['id']}: {job['state']}; {c['succeeded']} succeeded, {c['failed']} failed, "
        f"{c['running']} running, {c['active']} waiting"
    )
    _show_steps(data)
    for t in data["tasks"]:
        result = f" {t['result']} (exit {t['exit_code']})" if t["state"] == "completed" else ""
        retries = f", {plural(t['retry_count'], 'retry', 'retries')}" if t["retry_count"] else ""
        click.echo(f"  {t['id']}: {t['state']}{result}{retries}")


def _show_run(data: dict[str, Any]) -> None:
    run = data["run"]
    if run is None:
        done = data["ledger_done"]
        click.echo(
            "job: none" + (f" ({plural(done, 'task')} done in earlier runs)" if done else "")
        )
        return
    state = f"finished {run['finished']}, {run['outcome']}" if run["finished"] else "not finished"
    click.echo(
        f"job: none (deleted); from the record of run {run['id']} "
        f"(started {run['started']}, {state}):"
    )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(run["task_counts"].items()))
    click.echo(f"  tasks: {counts or 'none recorded'}")
    _show_steps(data)
    for t in run["tasks"]:
        detail = [t["state"]]
        if t["exit_code"] is not None:
            detail.append(f"exit {t['exit_code']}")
        if t["node"]:
            detail.append(f"on {t['node']}")
        if t["retries"]:
            detail.append(plural(t["retries"], "retry", "retries"))
        if t["failure"] and t["state"] == "failed":
            detail.append(t["failure"])
        if t["blocked_by"]:
            detail.append(f"waits on {t['blocked_by']}")
        click.echo(f"  {t['id']}: " + ", ".join(detail))


def _show_steps(data: dict[str, Any]) -> None:
    """`steps: simulate 6/6 ✓, analyse 4/6, summary waiting` for a job of several steps."""
    if len(data["steps"]) > 1:
        counts = [stepcounts.StepCount(**c) for c in data["steps"]]
        click.echo(f"  steps: {stepcounts.line(counts)}")
