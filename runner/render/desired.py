"""`render`: a spec into the whole desired state (containers with their uploads, the
pool, the job and its steps, downloads, clean-up), then Batch's limits checked on it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from runner import bounds, gcpause, limits, paths, sandbox
from runner.errors import SpecError
from runner.render.fingerprints import Uploads
from runner.render.pool import pool
from runner.render.renderer import Renderer, Stop
from runner.render.steps import StepsRenderer
from runner.render.tasks import TaskTemplate
from runner.render.uploads import uploads
from runner.spec import LOGS_KEY, Spec, TaskSpec, YamlPath
from runner.state import (
    Desired,
    DesiredCleanup,
    DesiredContainer,
    DesiredDownload,
    DesiredJob,
    DesiredTask,
    Upload,
)


def render(spec: Spec, allowed: paths.Allowed | None = None) -> Desired:
    """The desired state a spec describes; raises SpecError with every render-time problem.

    `allowed` holds the directories besides the spec's own (uploads) and the current one
    (downloads) that the person running bwf lets the spec reach."""
    r = Renderer(spec, allowed or paths.Allowed())
    with gcpause.paused():
        files = uploads(r)
        try:
            with sandbox.deadline(bounds.RENDER_SECONDS_MAX):
                return _render(r, files)
        except Stop:
            raise SpecError(r.problems) from None


def _render(r: Renderer, files: Mapping[str, tuple[Upload, ...]]) -> Desired:
    spec = r.spec
    md5s = Uploads({(key, u.blob): u.md5 for key, ups in files.items() for u in ups})
    containers = tuple(
        DesiredContainer(key, c.name, files.get(key, ())) for key, c in spec.containers.items()
    )
    containers += (DesiredContainer(LOGS_KEY, spec.logs_container, ()),)
    desired_pool = pool(r, md5s)
    steps = StepsRenderer(r, files, md5s).render()
    job = DesiredJob(
        id=spec.job.id,
        pool_id=spec.pool.id,
        timeout=spec.job.timeout,
        uses_task_dependencies=any(s.chain or s.needs for s in steps),
        steps=steps,
        prepare=_job_task(r, spec.job.prepare, ("job", "prepare"), md5s),
        release=_job_task(r, spec.job.release, ("job", "release"), md5s),
        max_parallel_tasks=spec.job.max_parallel_tasks,
    )
    c = spec.cleanup
    desired = Desired(
        name=spec.name,
        spec_path=str(spec.path),
        vars=dict(spec.vars),
        containers=containers,
        pool=desired_pool,
        job=job,
        downloads=_downloads(r),
        cleanup=DesiredCleanup(c.containers, c.job, c.pool, c.logs),
        sas_expiry=spec.job.timeout + limits.QUEUE_ALLOWANCE,
    )
    if not r.problems:
        r.problems.extend(limits.check(desired, spec))
    if r.problems:
        raise SpecError(r.problems)
    return desired


def _job_task(
    r: Renderer, spec: TaskSpec | None, path: YamlPath, md5s: Uploads
) -> DesiredTask | None:
    """Batch's job preparation or release task (its stdout stays on the node)."""
    if spec is None:
        return None
    template = TaskTemplate(r, spec, path, md5s, logs=False)
    return template.build(spec.id, {**r.base_context, "item": None, "index": None})


def _downloads(r: Renderer) -> tuple[DesiredDownload, ...]:
    spec = r.spec
    roots = r.allowed.download_roots()
    for i, d in enumerate(spec.downloads):
        if refusal := paths.download_refusal(d.to, roots):
            r.problem(("download", i, "to"), f"download[{i}].to: {refusal}")
    return tuple(
        DesiredDownload(
            d.container, spec.containers[d.container].name, os.path.abspath(d.to), d.pattern
        )
        for d in spec.downloads
    )
