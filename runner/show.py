"""Plans for humans: one line per resource with Terraform's markers, a block per step
of the job (`runner.show_steps`), then a summary.

Each container with uploads lists the first local files it sends, so that a reviewer
sees what leaves the machine. Names, IDs, commands and paths can come from file names
and item values: they are printed through `terminal.escape`.
"""

from __future__ import annotations

import os

from runner import durations
from runner.actions import (
    MARKERS,
    Action,
    CleanupAction,
    ContainerAction,
    DownloadAction,
    JobAction,
    PoolAction,
    RestoreAction,
    TasksAction,
    UploadAction,
)
from runner.plan import Plan
from runner.plan_json import summary
from runner.plan_steps import RUNS
from runner.secrets import REDACTED
from runner.show_steps import INDENT, step_lines
from runner.terminal import escape
from runner.words import plural

# Local files listed under a container with uploads; the rest are counted.
SOURCES_SHOWN = 3


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
        lines.append(f"{INDENT}... and {plural(more, 'more local file')}")
    return lines


def _upload_sources(plan: Plan, uploads: dict[str, UploadAction]) -> dict[str, list[str]]:
    """The local path of every blob each upload action sends, by container key."""
    out = {}
    for key, a in uploads.items():
        wanted = set(a.blobs)
        out[key] = [u.local_path for u in plan.desired.container(key).uploads if u.blob in wanted]
    return out


def _why(a: Action) -> str:
    return f"  ({a.reason})" if a.reason and (a.change != "create" or a.reason != "missing") else ""


def _container(
    a: ContainerAction, uploads: dict[str, UploadAction], sources: dict[str, list[str]]
) -> list[str]:
    text = f"container  {a.name}"
    if a.logs:
        text += "  (task stdout/stderr)"
    up = uploads.get(a.id)
    if up is not None:
        text += f"  upload {plural(up.count, 'blob')} ({_fmt_size(up.bytes)})"
        if up.unchanged:
            text += f", {up.unchanged} unchanged"
    elif a.change == "noop":
        text += "  up to date"
    marker = a.marker if a.change != "noop" or up is None else MARKERS["update"]
    return [f"  {marker:>3} {text}{_why(a)}", *_sources(sources.get(a.id, []))]


def _pool(a: PoolAction) -> list[str]:
    nodes = f"{a.dedicated_nodes} dedicated" + (f" + {a.spot_nodes} spot" if a.spot_nodes else "")
    size = f"{nodes} x {a.vm_size}"
    if a.autoscale is not None:
        size = f"{a.vm_size} nodes, autoscaled"
    image = a.image
    ref = a.image_reference
    if "/" not in image:
        image += f" ({ref.publisher}/{ref.offer}/{ref.sku})"
    lines = [
        f"  {a.marker:>3} pool       {a.id}  {size}, {plural(a.task_slots_per_node, 'slot')} per node{_why(a)}",
        f"                 image {image}, node agent {a.node_agent_sku}",
    ]
    if a.from_nodes is not None:
        f = a.from_nodes
        lines.append(
            f"                 nodes {f.dedicated}+{f.spot} -> {a.dedicated_nodes}+{a.spot_nodes}"
        )
    lines += _pool_compute(a)
    if a.reboot:
        lines.append(f"{INDENT}reboot {plural(a.reboot, 'node')} whose start task failed")
    if a.start_task:
        lines.append(f"{INDENT}start task: {escape(a.start_task)}")
    return lines


def _pool_compute(a: PoolAction) -> list[str]:
    """The pool's autoscale formula (in full: it decides what the pool costs) and its
    container images and registries (the password never: only where apply reads it)."""
    lines = []
    if a.autoscale is not None:
        every = durations.human(a.autoscale.interval)
        lines.append(f"{INDENT}autoscale every {every}, formula:")
        lines += [f"{INDENT}  {escape(line)}" for line in a.autoscale.formula.strip().splitlines()]
    elif a.autoscale_change == "disable":
        lines.append(f"{INDENT}autoscale off, back to fixed node counts")
    if a.container_images is not None:
        images = ", ".join(escape(i) for i in a.container_images) or "none prefetched"
        lines.append(f"{INDENT}container images: {images}")
    for g in a.container_registries:
        lines.append(
            f"{INDENT}registry {escape(g.server)} user {escape(g.username)}, "
            f"password {REDACTED} (from ${g.password_env})"
        )
    return lines


def _job(a: JobAction) -> list[str]:
    lines = [
        f"  {a.marker:>3} job        {a.id}  on {a.pool}, monitored for {durations.human(a.timeout)}{_why(a)}"
    ]
    for name, script in (("prepare", a.prepare), ("release", a.release)):
        if script:
            lines.append(f"{INDENT}{name}: {escape(script)}")
    return lines


def _restore(a: RestoreAction) -> list[str]:
    text = f"restore    {a.name}  {plural(a.count, 'blob')} ({_fmt_size(a.bytes)}) from the copy kept in BWF_HOME"
    return [f"  {a.marker:>3} {text}  ({a.reason})"]


def _download(a: DownloadAction) -> list[str]:
    notes = [a.reason] if a.reason else []
    if a.source == "kept":
        notes.append("from the copy kept in BWF_HOME")
    shown = f"  ({'; '.join(notes)})" if notes else ""
    return [
        f"  {a.marker:>3} download   {a.name}/{escape(a.pattern)} -> {escape(_rel(a.to))}{shown}"
    ]


def _resources(plan: Plan) -> list[str]:
    """Every action's lines, in order; the tasks as one block per step (show_steps)."""
    uploads = {a.id: a for a in plan.of(UploadAction)}
    sources = _upload_sources(plan, uploads)
    lines: list[str] = []
    steps_shown = False
    for a in plan.actions:
        if isinstance(a, ContainerAction):
            lines += _container(a, uploads, sources)
        elif isinstance(a, RestoreAction):
            lines += _restore(a)
        elif isinstance(a, PoolAction):
            lines += _pool(a)
        elif isinstance(a, JobAction):
            lines += _job(a)
        elif isinstance(a, TasksAction) and not steps_shown:
            lines += step_lines(plan)
            steps_shown = True
        elif isinstance(a, DownloadAction):
            lines += _download(a)
    return lines


def render_plan(plan: Plan) -> str:
    """The human form of a plan (secrets redacted)."""
    s = summary(plan)
    if not plan.has_changes and not any(a.reason == "in progress" for a in plan.actions):
        return f"No changes. All {plural(s['tasks'], 'task')} of {plan.desired.job.id} are done with the same inputs.\n"
    lines = [f"bwf will perform the following actions on target {plan.target}:", ""]
    lines += _resources(plan)
    cleanup = {a.id: a.policy for a in plan.of(CleanupAction)}
    if cleanup:
        lines.append("      clean-up   " + ", ".join(f"{k}: {v}" for k, v in cleanup.items()))
    deleted = f", {s['delete']} to delete" if s["delete"] else ""
    # the logs container too: apply creates it like the others
    containers = sum(1 for a in plan.of(ContainerAction) if a.change == "create")
    uploads = plan.of(UploadAction)
    blobs = sum(a.count for a in uploads)
    size = sum(a.bytes for a in uploads)
    pools = sum(1 for a in plan.of(PoolAction) if a.change == "create")
    jobs = sum(1 for a in plan.of(JobAction) if a.change == "create")
    n = sum(1 for a in plan.of(DownloadAction) if a.change == "create")
    fetches = f", {plural(n, 'download')}" if n else ""
    barriers = sum(a.count for a in plan.of(TasksAction) if a.barriers and a.change in RUNS)
    among = f" (including {plural(barriers, 'barrier task')})" if barriers else ""
    lines += [
        "",
        f"Plan: {plural(containers, 'container')}, {plural(blobs, 'upload')} ({_fmt_size(size)}), "
        f"{plural(pools, 'pool')}, {plural(jobs, 'job')}, "
        f"{s['tasks_to_run']} of {plural(s['tasks'], 'task')} to run{among}{fetches}; {s['create']} to create, "
        f"{s['update']} to update, {s['replace']} to replace{deleted}.",
    ]
    return "\n".join(lines) + "\n"
