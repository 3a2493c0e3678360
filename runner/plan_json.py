"""Plans as data: digests (what a saved plan is checked against), the summary, and the
stable JSON form (docs/plan-json.md). Secrets are redacted in everything here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from runner.actions import Action, TasksAction
from runner.plan import Plan, all_tasks, submitted
from runner.secrets import SECRET_TOKEN_PREFIX, redact
from runner.state import Desired


def desired_digest(desired: Desired) -> str:
    """A digest of the desired state (what the spec, its vars and its inputs render to),
    built from the fingerprints that already cover each task and the pool."""
    view = [
        desired.name,
        desired.pool.fingerprint,
        [desired.pool.dedicated_nodes, desired.pool.spot_nodes],
        *([repr(desired.pool.autoscale)] if desired.pool.autoscale else []),
        [(c.name, [(u.blob, u.md5) for u in c.uploads]) for c in desired.containers],
        [(t.id, t.fingerprint) for t in all_tasks(desired)],
        repr(
            (
                desired.job.id,
                desired.job.timeout,
                desired.job.prepare,
                desired.job.release,
                desired.job.max_parallel_tasks,
            )
        ),
        repr((desired.downloads, desired.cleanup)),
    ]
    return hashlib.sha256(json.dumps(view).encode()).hexdigest()


def summary(plan: Plan) -> dict[str, int]:
    """Counts of resources to create, update, replace and delete; tasks in all and to
    run: every task the job holds (those of every step and the barrier tasks), as
    apply's `Adding N tasks`, its progress and its result count them."""
    return {
        "create": sum(_weight(a) for a in plan.actions if a.change == "create"),
        "update": sum(_weight(a) for a in plan.actions if a.change == "update"),
        "replace": sum(_weight(a) for a in plan.actions if a.change == "replace"),
        "delete": sum(_weight(a) for a in plan.actions if a.change == "delete"),
        "tasks": len(all_tasks(plan.desired)),
        "tasks_to_run": len(submitted(plan)),
    }


def to_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-safe data (docs/plan-json.md). Secrets are redacted."""
    out: dict[str, Any] = _plain(document(plan))
    return out


def document(plan: Plan) -> dict[str, Any]:
    """What `to_json` returns before its values are made JSON-safe: the steps, the
    actions' details and the desired state as the plan holds them (frozen dataclasses,
    tuples, unredacted), for `runner.plan_json_text` to write out as they are."""
    d = plan.desired
    return {
        "format_version": plan.format_version,
        "workflow": d.name,
        "spec": d.spec_path,
        "target": plan.target,
        "vars": dict(d.vars),
        "observed_digest": plan.observed_digest,
        "desired_digest": desired_digest(d),
        "has_changes": plan.has_changes,
        "summary": summary(plan),
        "steps": plan.steps,
        "actions": [
            {
                "kind": a.kind,
                "id": a.id,
                "change": a.change,
                "reason": a.reason,
                "details": a.details(),
            }
            for a in plan.actions
        ],
        "desired": d,
    }


def _plain(obj: Any) -> Any:
    """Frozen dataclasses -> dicts, tuples -> lists, secret tokens redacted (faster than asdict)."""
    if isinstance(obj, str):
        return redact(obj) if SECRET_TOKEN_PREFIX in obj else obj
    if isinstance(obj, (tuple, list)):
        return [_plain(x) for x in obj]
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    fields = getattr(obj, "__dataclass_fields__", None)
    if fields is not None:
        return {name: _plain(getattr(obj, name)) for name in fields}
    return obj


def desired_json(d: Desired) -> dict[str, Any]:
    """The desired state as JSON-safe data, secrets redacted."""
    out: dict[str, Any] = _plain(d)
    return out


def _weight(a: Action) -> int:
    """Task groups count as their tasks; uploads, downloads and clean-up are not resources."""
    if isinstance(a, TasksAction):
        return a.count
    return 0 if a.kind in ("upload", "download", "cleanup") else 1
