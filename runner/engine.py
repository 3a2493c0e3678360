"""The network half of the pipeline as the commands use it: target, observe, plan, apply.

`prepare` renders a spec (or re-renders a saved plan's spec) and returns everything
`apply`, `status`, `logs` and `destroy` need; `run_apply` is `bwf apply`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner import pipeline
from runner.errors import BwfError, UsageError
from runner.events import EventStream
from runner.ledger import Ledger, ledger_for
from runner.lock import workflow_lock
from runner.observe import all_done, observe, observe_local
from runner.paths import Allowed
from runner.plan import PLAN_FORMAT_VERSION, Plan, all_tasks, diff
from runner.plan_json import desired_digest
from runner.plan_tasks import IN_PROGRESS
from runner.progress import Ui
from runner.runreport import write_html
from runner.show import render_plan
from runner.state import Desired
from runner.targets import Target, resolve_target

if TYPE_CHECKING:  # the SDKs load only when a service is called: not for "No changes"
    from runner.batch import Batch
    from runner.storage import Storage


@dataclass
class Session:
    desired: Desired
    target: Target
    storage: Storage
    batch: Batch
    ledger: Ledger


def connect(desired: Desired, target_name: str) -> Session:
    from runner.batch import Batch
    from runner.storage import Storage

    target = resolve_target(target_name)
    return Session(
        desired, target, Storage(target), Batch(target), ledger_for(desired, target_name)
    )


def load_saved_plan(path: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a saved plan: {e}") from None
    if "spec" not in data or "format_version" not in data:
        raise UsageError(f"{path}: not a bwf plan")
    if data["format_version"] != PLAN_FORMAT_VERSION:
        raise UsageError(
            f"{path}: a plan of format_version {data['format_version']}, made by another "
            f"version of bwf (this one applies {PLAN_FORMAT_VERSION}); plan again"
        )
    return data


def run_apply(
    spec: str,
    target_name: str,
    overrides: dict[str, Any],
    yes: bool,
    allowed: Allowed | None = None,
    events: str | None = None,
) -> int:
    """`bwf apply`; `events` is `--events` (a file, or `-` for standard output, which then
    carries the events alone: the story goes to standard error)."""
    stream = EventStream.open(events) if events is not None else None
    try:
        return _apply(spec, target_name, overrides, yes, allowed, stream)
    finally:
        if stream is not None:
            stream.close()


def _apply(
    spec: str,
    target_name: str,
    overrides: dict[str, Any],
    yes: bool,
    allowed: Allowed | None,
    stream: EventStream | None,
) -> int:
    ui = Ui(stderr=stream is not None and stream.out is sys.stdout)
    saved = None
    if spec.endswith(".json"):
        saved = load_saved_plan(spec)
        if overrides:
            raise UsageError("--var cannot be combined with a saved plan: its vars are part of it")
        spec, overrides, target_name = (
            saved["spec"],
            dict(saved.get("vars") or {}),
            saved.get("target", target_name),
        )
    desired = pipeline.desired_state(spec, overrides, allowed, target_name)
    if saved is not None and desired_digest(desired) != saved.get("desired_digest"):
        raise BwfError(
            f"the saved plan is stale: {spec} or its input files changed since it was made; plan again"
        )
    # observed exactly as `bwf plan` observes, so that a saved plan's digest compares
    ledger = ledger_for(desired, target_name)
    # the ledger's name says which job on which account: one apply of it at a time
    with workflow_lock(ledger.path.stem, f"workflow '{desired.name}'", ui.warn):
        return _apply_locked(desired, saved, ledger, target_name, yes, ui, stream)


def _history(plan: Plan) -> str:
    """The plan's estimate from an earlier run, as a line to print after it (or "")."""
    from runner.plan_history import describe, estimate
    from runner.runrecord import RunRecord

    found = estimate(plan, RunRecord(ledger_for(plan.desired, plan.target)))
    return describe(found) + "\n" if found else ""


def _apply_locked(
    desired: Desired,
    saved: dict[str, Any] | None,
    ledger: Ledger,
    target_name: str,
    yes: bool,
    ui: Ui,
    stream: EventStream | None,
) -> int:
    local = observe_local(desired, ledger)
    s: Session | None = None
    observed = local
    if not all_done(desired, local):
        s = connect(desired, target_name)
        observed = observe(desired, s.storage, s.batch, local)
        s.ledger.keep_only({t.id for t in all_tasks(desired)})
    plan: Plan = diff(desired, observed, target_name)
    if saved is not None and plan.observed_digest != saved.get("observed_digest"):
        raise BwfError(
            "the saved plan is stale: the storage account, the Batch account or the local "
            "results changed since it was made; plan again"
        )
    ui.plan(render_plan(plan) + _history(plan))
    in_progress = any(a.reason == IN_PROGRESS for a in plan.actions)
    if s is None or (not plan.has_changes and not in_progress):
        if s is not None:
            # every task is done and nothing is left to download: remember it, so that
            # the next apply needs no service at all
            s.ledger.record({t.id: t.fingerprint for t in all_tasks(desired)})
        return 0
    if not yes and saved is None:
        if not sys.stdin.isatty():
            raise UsageError("apply changes things: confirm in a terminal, or pass --yes")
        if not click.confirm("Apply these changes?", default=False):
            ui.say("Nothing done.")
            return 1
    from runner.apply import Executor

    executor = Executor(plan, s.storage, s.batch, s.ledger, ui, yes)
    if stream is not None:
        executor.record.listeners.append(stream)
    code = executor.run()
    if executor.record.run_id is not None:
        try:
            path = write_html(executor.record, desired, executor.record.run_id)
        except BwfError as e:  # the run is done and recorded: say so, keep its exit code
            ui.warn(f"The run report could not be written: {e}")
        else:
            ui.say(f"Run report: {path}")
    return code
