"""Render a `Spec` into the `Desired` state: globs, fan-out, templates, IDs, shell wrapping.

Pure apart from reading the local files to upload (their size and MD5). Problems are
collected and raised together as one `SpecError`, located at the spec key or value
that produced them: globs that match nothing, undefined template variables, rendered
IDs or blob names that break Azure's rules, task IDs that collide.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

import jinja2

from runner import inputs, limits, names, shell, templates
from runner.digests import DigestCache
from runner.errors import Loc, Problem, SpecError
from runner.schema import dotted
from runner.spec import ResourceFileSpec, Spec, TaskSpec, YamlPath
from runner.state import (
    Desired,
    DesiredCleanup,
    DesiredContainer,
    DesiredDownload,
    DesiredJob,
    DesiredPool,
    DesiredStartTask,
    DesiredTask,
    OutputFile,
    ResourceFile,
    Upload,
    secret_token,
)
from runner.templates import Template

LOGS_KEY = "logs"
# Batch keeps a task's stdout.txt/stderr.txt one level above its working directory.
LOG_PATTERN = "../std*.txt"
# dependsOn.taskIds may hold at most 64,000 characters of IDs; beyond that the merge
# waits on barrier tasks, each depending on a slice of the fan-out.
DEPENDS_ON_MAX_CHARS = 64000


def _fingerprint(obj: Any) -> str:
    """A short digest of plain data (tuples, lists, scalars, frozen dataclasses).

    `repr` is deterministic for these and several times faster than JSON; mappings
    must be passed as sorted tuples."""
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:32]


class _Renderer:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.problems: list[Problem] = []
        self._reported: set[YamlPath] = set()
        self.plain = templates.environment(command=False)
        self.cmd = templates.environment(command=True)
        self.base_context = self._base_context()

    # --- helpers -------------------------------------------------------------------

    def loc(self, path: YamlPath) -> Loc:
        return self.spec.source.value(path)

    def problem(self, path: YamlPath, message: str, *, at_key: bool = False) -> None:
        loc = self.spec.source.key(path) if at_key else self.spec.source.value(path)
        self.problems.append(Problem(loc, message))

    def template(self, source: str, path: YamlPath, command: bool = False) -> Template:
        try:
            return templates.compile_template(
                self.cmd if command else self.plain, source, path, command
            )
        except jinja2.TemplateSyntaxError as e:
            self.problem(
                path,
                f"{dotted(path)}: template syntax error: {e.message} (template line {e.lineno})",
            )
            return Template(source, path, None)

    def render(self, t: Template, context: Mapping[str, Any], what: str = "") -> str | None:
        try:
            return t.render(context)
        except jinja2.UndefinedError as e:
            if t.path not in self._reported:  # once per template, not once per item
                self._reported.add(t.path)
                line = templates.template_line(e, t.compiled) if t.compiled else None
                self.problems.append(Problem(
                    self.spec.source.template_line(t.path, line),
                    f"{dotted(t.path)}: undefined template variable: "
                    + str(e.message).replace("'dict object' has no attribute", "no such attribute")
                    + (f" (template line {line})" if line else "")
                    + (f" for {what}" if what else ""),
                ))  # fmt: skip
            return None
        except jinja2.TemplateError as e:
            if t.path not in self._reported:
                self._reported.add(t.path)
                self.problem(
                    t.path,
                    f"{dotted(t.path)}: template error: {e}" + (f" for {what}" if what else ""),
                )
            return None

    def _base_context(self) -> dict[str, Any]:
        spec = self.spec
        containers = {
            key: {
                "name": c.name,
                "url": secret_token(key, "url"),
                "read_sas": secret_token(key, "read"),
                "write_sas": secret_token(key, "write"),
            }
            for key, c in spec.containers.items()
        }
        return {
            **self.plain.globals,
            "vars": dict(spec.vars),
            "pool": {"id": spec.pool.id, "vm_size": spec.pool.vm_size},
            "job": {"id": spec.job.id},
            "containers": containers,
            "workflow": {"name": spec.name},
        }

    # --- uploads -------------------------------------------------------------------

    def uploads(self) -> dict[str, tuple[Upload, ...]]:
        out: dict[str, tuple[Upload, ...]] = {}
        base = self.spec.base_dir
        digests = DigestCache(self.spec.path)
        for key, c in self.spec.containers.items():
            seen: dict[str, str] = {}
            ups: list[Upload] = []
            for i, u in enumerate(c.uploads):
                path: YamlPath = ("storage", "containers", key, "upload", i)
                matches = inputs.glob_files(base, u.pattern)
                digests.prefetch([(local, st) for local, _, st in matches])
                if not matches:
                    self.problem(
                        path,
                        f"{dotted(path)}: '{u.pattern}' matches no file (paths are relative to the spec file)",
                    )
                    continue
                for local, rel, st in matches:
                    blob = u.prefix + rel
                    if reason := names.check_blob_name(blob):
                        self.problem(
                            path, f"{dotted(path)}: blob name '{blob}' is not valid: {reason}"
                        )
                        continue
                    if blob in seen:
                        if seen[blob] != local:
                            self.problem(
                                path,
                                f"{dotted(path)}: blob '{blob}' comes from both {seen[blob]} and {local}",
                            )
                        continue
                    seen[blob] = local
                    ups.append(
                        Upload(
                            local_path=local, blob=blob, size=st.st_size, md5=digests.md5(local, st)
                        )
                    )
            out[key] = tuple(ups)
        digests.save()
        return out

    # --- fan-out items -------------------------------------------------------------------

    def items(self, uploads: Mapping[str, tuple[Upload, ...]]) -> list[tuple[Any, str]]:
        """(item, label) per fan-out item; the item is what templates see as `item`."""
        fe = self.spec.job.tasks.for_each
        prefix = os.path.abspath(self.spec.base_dir) + os.sep
        if fe.kind == "container":
            assert fe.container is not None
            blobs = uploads.get(fe.container, ())
            if fe.pattern:
                blobs = tuple(u for u in blobs if fnmatchcase(u.blob, fe.pattern))
            out = []
            for i, u in enumerate(blobs):
                p = PurePosixPath(u.blob)
                shown = (
                    u.local_path[len(prefix) :] if u.local_path.startswith(prefix) else u.local_path
                )
                item = {
                    "name": u.blob,
                    "stem": p.stem,
                    "suffix": p.suffix,
                    "path": shown,
                    "size": u.size,
                    "md5": u.md5,
                    "index": i,
                    "blob": u.blob,
                }
                out.append((item, u.blob))
            if not out and not self.problems:
                self.problem(
                    ("job", "tasks", "for_each", "container"),
                    f"job.tasks.for_each: container '{fe.container}' has no uploads"
                    + (f" matching '{fe.pattern}'" if fe.pattern else "")
                    + " to fan out over",
                )
            return out
        if fe.kind == "values":
            return [(v, json.dumps(v, default=str)) for v in fe.values]
        if fe.kind == "range":
            assert fe.range is not None
            return [(v, str(v)) for v in range(*fe.range)]
        keys = list(fe.matrix)
        combos = []
        for i, values in enumerate(itertools.product(*(fe.matrix[k] for k in keys))):
            item = dict(zip(keys, values, strict=True))
            combos.append(({**item, "index": i}, ", ".join(f"{k}={v}" for k, v in item.items())))
        return combos

    # --- tasks -------------------------------------------------------------------------

    def resource_files(
        self,
        specs: Sequence[ResourceFileSpec],
        path: YamlPath,
        context: Mapping[str, Any],
        item: Any,
        md5s: Mapping[tuple[str, str], str],
        what: str = "",
    ) -> tuple[ResourceFile, ...]:
        out = []
        for i, rf in enumerate(specs):
            p = (*path, i)
            if rf.item:
                fe = self.spec.job.tasks.for_each
                assert fe.container is not None
                out.append(
                    ResourceFile(
                        container=fe.container,
                        blob=item["blob"],
                        file_path=item["blob"],
                        md5=item["md5"],
                    )
                )
                continue

            def r(value: str | None, field: str, p: YamlPath = p) -> str | None:
                if value is None:
                    return None
                return self.render(self.template(value, (*p, field)), context, what)

            file_path = r(rf.path, "path")
            if file_path is not None and (reason := _check_file_path(file_path)):
                self.problem((*p, "path"), f"{dotted((*p, 'path'))}: '{file_path}' {reason}")
            if rf.url is not None:
                out.append(
                    ResourceFile(url=r(rf.url, "url"), file_path=file_path, file_mode=rf.mode)
                )
            elif rf.blob is not None:
                assert rf.container is not None
                blob = r(rf.blob, "blob") or ""
                if reason := names.check_blob_name(blob):
                    self.problem(
                        (*p, "blob"),
                        f"{dotted((*p, 'blob'))}: '{blob}' is not a valid blob name: {reason}",
                    )
                out.append(
                    ResourceFile(
                        container=rf.container,
                        blob=blob,
                        file_path=file_path or blob,
                        file_mode=rf.mode,
                        md5=md5s.get((rf.container, blob)),
                    )
                )
            else:
                out.append(
                    ResourceFile(
                        container=rf.container,
                        prefix=r(rf.prefix, "prefix") or "",
                        file_path=file_path,
                        file_mode=rf.mode,
                        md5=_prefix_digest(md5s, rf.container or "", r(rf.prefix, "prefix") or ""),
                    )
                )
        return tuple(out)


def _check_file_path(path: str) -> str | None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        return "must stay inside the task's working directory (no absolute path, no '..')"
    return None


def _prefix_digest(md5s: Mapping[tuple[str, str], str], container: str, prefix: str) -> str | None:
    """A digest of every known blob under a prefix, so a task re-runs when its inputs change."""
    parts = sorted((b, m) for (c, b), m in md5s.items() if c == container and b.startswith(prefix))
    return _fingerprint(parts) if parts else None


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Rendering allocates millions of small acyclic objects for a big fan-out; the cyclic
    garbage collector would rescan them over and over (a third of the time at 100,000
    tasks) while finding nothing to free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render(spec: Spec) -> Desired:
    """The desired state a spec describes; raises SpecError with every render-time problem."""
    with _no_gc():
        return _render(spec)


def _render(spec: Spec) -> Desired:
    r = _Renderer(spec)
    uploads = r.uploads()
    md5s = {(key, u.blob): u.md5 for key, ups in uploads.items() for u in ups}
    containers = tuple(
        DesiredContainer(key, c.name, uploads.get(key, ())) for key, c in spec.containers.items()
    )
    containers += (DesiredContainer(LOGS_KEY, spec.logs_container, ()),)
    pool = _pool(r, md5s)
    items = r.items(uploads)
    tasks = _fan_out(r, items, md5s)
    merge = _merge(r, items, tasks, md5s)
    prepare = release = None
    if spec.job.prepare is not None:
        prepare = _single_task(r, spec.job.prepare, ("job", "prepare"), md5s, logs=False)
    if spec.job.release is not None:
        release = _single_task(r, spec.job.release, ("job", "release"), md5s, logs=False)
    job = DesiredJob(
        id=spec.job.id,
        pool_id=spec.pool.id,
        timeout=spec.job.timeout,
        uses_task_dependencies=merge is not None,
        tasks=tasks,
        merge=merge,
        prepare=prepare,
        release=release,
        max_parallel_tasks=spec.job.max_parallel_tasks,
    )
    downloads = tuple(
        DesiredDownload(
            d.container, spec.containers[d.container].name, os.path.abspath(d.to), d.pattern
        )
        for d in spec.downloads
    )
    c = spec.cleanup
    desired = Desired(
        name=spec.name,
        spec_path=str(spec.path),
        vars=dict(spec.vars),
        containers=containers,
        pool=pool,
        job=job,
        downloads=downloads,
        cleanup=DesiredCleanup(c.containers, c.job, c.pool, c.logs),
        sas_expiry=spec.job.timeout + limits.QUEUE_ALLOWANCE,
    )
    if not r.problems:
        r.problems.extend(limits.check(desired, spec.source))
    if r.problems:
        raise SpecError(r.problems)
    return desired


def _pool(r: _Renderer, md5s: Mapping[tuple[str, str], str]) -> DesiredPool:
    p = r.spec.pool
    start = None
    if p.start_task is not None:
        st = p.start_task
        base: YamlPath = ("pool", "start_task")
        ctx = r.base_context
        commands = [
            r.render(r.template(cmd, (*base, "commands", i), command=True), ctx) or ""
            for i, cmd in enumerate(st.commands)
        ]
        start = DesiredStartTask(
            command_line=shell.wrap(commands),
            resource_files=r.resource_files(
                st.resource_files, (*base, "resource_files"), ctx, None, md5s
            ),
            env=tuple(
                (k, r.render(r.template(v, (*base, "env", k)), ctx) or "")
                for k, v in sorted(st.env.items())
            ),
            elevated=st.elevated,
            wait_for_success=st.wait_for_success,
            retries=st.retries,
        )
    img = p.image
    fingerprint = _fingerprint(
        [
            p.vm_size,
            img.publisher,
            img.offer,
            img.sku,
            img.version,
            img.node_agent_sku,
            p.task_slots_per_node,
            start,
        ]
    )
    return DesiredPool(
        id=p.id,
        vm_size=p.vm_size,
        publisher=img.publisher,
        offer=img.offer,
        sku=img.sku,
        version=img.version,
        node_agent_sku=img.node_agent_sku or "",
        image_alias=img.alias,
        dedicated_nodes=p.dedicated_nodes,
        spot_nodes=p.spot_nodes,
        task_slots_per_node=p.task_slots_per_node,
        start_task=start,
        fingerprint=fingerprint,
    )


def _task_fingerprint(t: DesiredTask) -> str:
    return _fingerprint(
        [
            t.command_line,
            t.resource_files,
            t.outputs,
            t.env,
            t.retries,
            t.max_wall_clock,
            t.elevated,
            t.depends_on,
            t.depends_on_ranges,
            t.on_dependency_failure,
        ]
    )


def _logs_output(job_id: str, task_id: str) -> OutputFile:
    return OutputFile(
        pattern=LOG_PATTERN, container=LOGS_KEY, path=f"{job_id}/{task_id}", when="completion"
    )


def _build_task(
    r: _Renderer,
    spec: TaskSpec,
    path: YamlPath,
    task_id: str,
    context: Mapping[str, Any],
    item: Any,
    md5s: Mapping[tuple[str, str], str],
    templates: Mapping[str, Template],
    *,
    what: str = "",
    logs: bool = True,
    item_index: int | None = None,
    depends_on: tuple[str, ...] = (),
    on_dependency_failure: str = "block",
) -> DesiredTask | None:
    command = r.render(templates["command"], context, what)
    outputs = tuple(
        OutputFile(
            pattern=o.pattern,
            container=o.container,
            path=r.render(templates[f"outputs.{i}.path"], context, what) or "",
            when=o.when,
        )
        for i, o in enumerate(spec.outputs)
    )
    if logs:
        outputs += (_logs_output(r.spec.job.id, task_id),)
    env = tuple((k, r.render(templates[f"env.{k}"], context, what) or "") for k in sorted(spec.env))
    resource_files = r.resource_files(
        spec.resource_files, (*path, "resource_files"), context, item, md5s, what
    )
    if command is None:
        return None
    t = DesiredTask(
        id=task_id,
        command_line=shell.wrap([command]),
        resource_files=resource_files,
        outputs=outputs,
        env=env,
        retries=spec.retries,
        max_wall_clock=spec.max_wall_clock,
        elevated=spec.elevated,
        depends_on=depends_on,
        on_dependency_failure=on_dependency_failure,  # type: ignore[arg-type]
        item_index=item_index,
        display=what,
    )
    return _with_fingerprint(t)


def _with_fingerprint(t: DesiredTask) -> DesiredTask:
    object.__setattr__(t, "fingerprint", _task_fingerprint(t))  # still being built: no copy
    return t


def _templates(r: _Renderer, spec: TaskSpec, path: YamlPath) -> dict[str, Template]:
    out = {"command": r.template(spec.command, (*path, "command"), command=True)}
    for i, o in enumerate(spec.outputs):
        out[f"outputs.{i}.path"] = r.template(o.path, (*path, "outputs", i, "path"))
    for k, v in spec.env.items():
        out[f"env.{k}"] = r.template(v, (*path, "env", k))
    return out


def _fan_out(
    r: _Renderer, items: list[tuple[Any, str]], md5s: Mapping[tuple[str, str], str]
) -> tuple[DesiredTask, ...]:
    spec = r.spec.job.tasks.task
    path: YamlPath = ("job", "tasks")
    id_template = r.template(spec.id, (*path, "id"))
    templates = _templates(r, spec, path)
    on_failure = (
        "satisfy"
        if r.spec.job.merge is not None and r.spec.job.merge.on_failure == "run_anyway"
        else "block"
    )
    tasks: list[DesiredTask] = []
    by_id: dict[str, list[str]] = {}
    bad_ids = 0
    first_bad: str | None = None
    base = r.base_context
    for index, (item, label) in enumerate(items):
        context = {**base, "item": item, "index": index}
        task_id = r.render(id_template, context, label)
        if task_id is None:
            continue
        if reason := names.check_batch_id(task_id):
            bad_ids += 1
            if first_bad is None:
                first_bad = f"job.tasks.id: rendered task ID {task_id!r} for {label!r} is not valid: {reason}"
            continue
        by_id.setdefault(task_id.lower(), []).append(label)
        t = _build_task(
            r,
            spec,
            path,
            task_id,
            context,
            item,
            md5s,
            templates,
            what=label,
            item_index=index,
            on_dependency_failure=on_failure,
        )
        if t is not None:
            tasks.append(t)
    if first_bad is not None:
        hint = (
            "; the batch_id filter makes any text a valid ID" if "batch_id" not in spec.id else ""
        )
        r.problem((*path, "id"), f"{first_bad} ({bad_ids} of {len(items)} items{hint})")
    collisions = [(tid, labels) for tid, labels in by_id.items() if len(labels) > 1]
    for tid, labels in collisions[:5]:
        shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
        r.problem(
            (*path, "id"),
            f"job.tasks.id: task ID '{tid}' is rendered for {len(labels)} items: {shown} (IDs are case-insensitive)",
        )
    if len(collisions) > 5:
        r.problem((*path, "id"), f"job.tasks.id: {len(collisions)} task IDs collide in all")
    return tuple(tasks)


def _single_task(
    r: _Renderer,
    spec: TaskSpec,
    path: YamlPath,
    md5s: Mapping[tuple[str, str], str],
    *,
    logs: bool = True,
    depends_on: tuple[str, ...] = (),
    extra: Mapping[str, Any] | None = None,
) -> DesiredTask | None:
    context = {**r.base_context, "item": None, "index": None, **(extra or {})}
    t = _build_task(
        r,
        spec,
        path,
        spec.id,
        context,
        None,
        md5s,
        _templates(r, spec, path),
        logs=logs,
        depends_on=depends_on,
    )
    return t


def _merge(
    r: _Renderer,
    items: list[tuple[Any, str]],
    tasks: tuple[DesiredTask, ...],
    md5s: Mapping[tuple[str, str], str],
) -> DesiredTask | None:
    m = r.spec.job.merge
    if m is None:
        return None
    if m.task.id.lower() in {t.id.lower() for t in tasks}:
        r.problem(
            ("job", "merge", "id"),
            f"job.merge.id: '{m.task.id}' is also the ID of a fanned-out task",
        )
        return None
    # The merge's dependency list, and so its fingerprint, covers every fan-out task's
    # fingerprint: a changed input re-runs the merge.
    groups = list(_chunks_by_chars([t.id for t in tasks], DEPENDS_ON_MAX_CHARS))
    if len(groups) <= 1:
        depends: tuple[str, ...] = tuple(t.id for t in tasks)
    else:
        depends = tuple(f"{m.task.id}-barrier-{i}" for i in range(len(groups)))
        if not _barrier_ids_are_valid(r, depends, tasks):
            return None
    # the merge's templates also see every fan-out item and task ID
    extra = {"items": [item for item, _ in items], "task_ids": [t.id for t in tasks]}
    t = _single_task(r, m.task, ("job", "merge"), md5s, depends_on=depends, extra=extra)
    if t is None:
        return None
    upstream = _fingerprint([x.fingerprint for x in tasks])
    return replace(t, fingerprint=_fingerprint([t.fingerprint, upstream]))


def _barrier_ids_are_valid(
    r: _Renderer, barrier_ids: tuple[str, ...], tasks: tuple[DesiredTask, ...]
) -> bool:
    """Barrier task IDs are Batch IDs too: within 64 characters, unique ignoring case."""
    where = ("job", "merge", "id")
    longest = barrier_ids[-1]
    if reason := names.check_batch_id(longest):
        r.problem(
            where,
            f"job.merge.id: the merge waits on {len(barrier_ids)} barrier tasks, and the ID "
            f"{longest!r} is not valid: {reason}",
        )
        return False
    taken = {t.id.lower() for t in tasks}
    for barrier_id in barrier_ids:
        if barrier_id.lower() in taken:
            r.problem(
                where,
                f"job.merge.id: barrier task ID {barrier_id!r} is also the ID of a fanned-out task",
            )
            return False
    return True


def barrier_tasks(desired: Desired) -> tuple[DesiredTask, ...]:
    """The tasks the merge waits on when the fan-out is too big for one dependency list."""
    merge = desired.job.merge
    if merge is None or not merge.depends_on or not merge.depends_on[0].endswith("-barrier-0"):
        return ()
    fingerprints = {t.id: t.fingerprint for t in desired.job.tasks}
    groups = list(_chunks_by_chars(list(fingerprints), DEPENDS_ON_MAX_CHARS))
    out = []
    for barrier_id, group in zip(merge.depends_on, groups, strict=True):
        t = DesiredTask(
            id=barrier_id,
            command_line=shell.wrap(["true"]),
            depends_on=tuple(group),
            on_dependency_failure=merge.on_dependency_failure,
            display="barrier",
        )
        # a barrier re-runs whenever one of the tasks it waits on does
        upstream = _fingerprint([fingerprints[i] for i in group])
        out.append(replace(t, fingerprint=_fingerprint([_task_fingerprint(t), upstream])))
    return tuple(out)


def _chunks_by_chars(ids: list[str], limit: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for i in ids:
        if chunk and size + len(i) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += len(i)
    if chunk:
        yield chunk
