"""Plans for humans: one line per resource with Terraform's markers, then a summary.

Each container with uploads lists the first local files it sends, so that a reviewer
sees what leaves the machine. Names, IDs, commands and paths can come from file names
and item values: they are printed through `terminal.escape`.
"""

from __future__ import annotations

import os

from runner import durations
from runner.plan import MARKERS, Action, Plan
from runner.plan_json import summary
from runner.terminal import escape
from runner.words import plural

# Local files listed under a container with uploads; the rest are counted.
SOURCES_SHOWN = 3
INDENT = " " * 17


def _fmt_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _sources(paths: list[str]) -> list[str]:
    lines = [f"{INDENT}from {escape(_rel(p))}" for p in paths[:SOURCES_SHOWN]]
    if len(paths) > SOURCES_SHOWN:
        more = len(paths) - SOURCES_SHOWN
        lines.append(f"{INDENT}... and {more} more local file{'s' if more != 1 else ''}")
    return lines


def _upload_sources(plan: Plan, uploads: dict[str, Action]) -> dict[str, list[str]]:
    """The local path of every blob each upload action sends, by container key."""
    out = {}
    for key, a in uploads.items():
        wanted = set(a.details["blobs"])
        out[key] = [u.local_path for u in plan.desired.container(key).uploads if u.blob in wanted]
    return out


def _line(a: Action, uploads: dict[str, Action], sources: dict[str, list[str]]) -> list[str]:
    m = MARKERS[a.change]
    d = a.details
    why = f"  ({a.reason})" if a.reason and (a.change != "create" or a.reason != "missing") else ""
    if a.kind == "container":
        text = f"container  {d['name']}"
        if d.get("logs"):
            text += "  (task stdout/stderr)"
        up = uploads.get(a.id)
        if up is not None:
            text += f"  upload {plural(up.details['count'], 'blob')} ({_fmt_size(up.details['bytes'])})"
            if up.details.get("unchanged"):
                text += f", {up.details['unchanged']} unchanged"
        elif a.change == "noop":
            text += "  up to date"
        marker = m if a.change != "noop" or up is None else MARKERS["update"]
        return [f"  {marker:>3} {text}{why}", *_sources(sources.get(a.id, []))]
    if a.kind == "pool":
        nodes = f"{d['dedicated_nodes']} dedicated" + (
            f" + {d['spot_nodes']} spot" if d["spot_nodes"] else ""
        )
        image = d["image"]
        ref = d["image_reference"]
        if "/" not in image:
            image += f" ({ref['publisher']}/{ref['offer']}/{ref['sku']})"
        lines = [
            f"  {m:>3} pool       {a.id}  {nodes} x {d['vm_size']}, {plural(d['task_slots_per_node'], 'slot')} per node{why}",
            f"                 image {image}, node agent {d['node_agent_sku']}",
        ]
        if "from_nodes" in d:
            f = d["from_nodes"]
            lines.append(
                f"                 nodes {f['dedicated']}+{f['spot']} -> {d['dedicated_nodes']}+{d['spot_nodes']}"
            )
        if d.get("start_task"):
            lines.append(f"{INDENT}start task: {escape(d['start_task'])}")
        return lines
    if a.kind == "job":
        lines = [
            f"  {m:>3} job        {a.id}  on {d['pool']}, monitored for {durations.human(d['timeout'])}{why}"
        ]
        for k in ("prepare", "release"):
            if d.get(k):
                lines.append(f"{INDENT}{k}: {escape(d[k])}")
        return lines
    if a.kind in ("tasks", "merge"):
        n = d["count"]
        label = f"{plural(n, 'task')} in {a.id}"
        if a.kind == "merge":
            via = f" through {d['barriers']} barrier tasks" if d.get("barriers") else ""
            waits = ""
            if a.change != "noop" and d.get("waits_on", d["depends"]) < d["depends"]:
                waits = f", waiting on the {d['waits_on']} in the job (the others are done)"
            label = f"merge task after all {plural(d['after'], 'task')}{via}{waits} (on_failure: {d['on_failure']})"
        if a.change == "noop":
            return [f"  {m:>3} {label}  {a.reason}"]
        lines = [f"  {m:>3} {label}{why}"]
        for s in d["sample"]:
            lines.append(f"{INDENT}{escape(s['id'])}: {escape(s['command'])}")
        if n > len(d["sample"]):
            lines.append(f"                 ... and {n - len(d['sample'])} more")
        return lines
    if a.kind == "restore":
        size = _fmt_size(d["bytes"])
        text = f"restore    {d['name']}  {plural(d['count'], 'blob')} ({size}) from the copy kept in BWF_HOME"
        return [f"  {m:>3} {text}  ({a.reason})"]
    if a.kind == "download":
        notes = [a.reason] if a.reason else []
        if d.get("source") == "kept":
            notes.append("from the copy kept in BWF_HOME")
        shown = f"  ({'; '.join(notes)})" if notes else ""
        return [
            f"  {m:>3} download   {d['name']}/{escape(d['pattern'])} -> "
            f"{escape(_rel(d['to']))}{shown}"
        ]
    return []


def render_plan(plan: Plan) -> str:
    """The human form of a plan (secrets redacted)."""
    if not plan.has_changes and not any(a.reason == "in progress" for a in plan.actions):
        done = sum(a.details.get("count", 0) for a in plan.actions if a.kind in ("tasks", "merge"))
        return f"No changes. All {plural(done, 'task')} of {plan.desired.job.id} are done with the same inputs.\n"
    uploads = {a.id: a for a in plan.actions if a.kind == "upload"}
    sources = _upload_sources(plan, uploads)
    lines = [f"bwf will perform the following actions on target {plan.target}:", ""]
    for a in plan.actions:
        if a.kind not in ("upload", "cleanup"):
            lines.extend(_line(a, uploads, sources))
    cleanup = {a.id: a.details["policy"] for a in plan.actions if a.kind == "cleanup"}
    if cleanup:
        lines.append("      clean-up   " + ", ".join(f"{k}: {v}" for k, v in cleanup.items()))
    s = summary(plan)
    deleted = f", {s['delete']} to delete" if s["delete"] else ""
    containers = sum(1 for a in plan.actions if a.kind == "container" and a.change == "create")
    blobs = sum(a.details["count"] for a in uploads.values())
    size = sum(a.details["bytes"] for a in uploads.values())
    pools = sum(1 for a in plan.actions if a.kind == "pool" and a.change == "create")
    jobs = sum(1 for a in plan.actions if a.kind == "job" and a.change == "create")
    n = sum(1 for a in plan.actions if a.kind == "download" and a.change == "create")
    fetches = f", {plural(n, 'download')}" if n else ""
    lines += [
        "",
        f"Plan: {plural(containers, 'container')}, {plural(blobs, 'upload')} ({_fmt_size(size)}), "
        f"{plural(pools, 'pool')}, {plural(jobs, 'job')}, "
        f"{s['tasks_to_run']} of {plural(s['tasks'], 'task')} to run{fetches}; {s['create']} to create, {s['update']} to update, "
        f"{s['replace']} to replace{deleted}.",
    ]
    return "\n".join(lines) + "\n"
