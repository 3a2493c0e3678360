"""Load a spec: YAML with positions → JSON Schema → semantic checks → `runner.spec.Spec`.

Every problem is collected and reported at once, located at the key or value that
caused it (`FILE:LINE:COL: message`), sorted by position. Nothing here touches the
network; render-time checks (globs, templates, rendered IDs) live in `runner.render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner import durations, images, load_compute, names, vm_sizes, yamlpos
from runner.errors import Loc, Problem, SpecError, UsageError
from runner.load_steps import StepLoader
from runner.load_tasks import TaskLoader, env_values
from runner.schema import did_you_mean, dotted, schema_problems, validator
from runner.spec import (
    LOGS_KEY,
    CleanupSpec,
    ContainerSpec,
    DownloadSpec,
    ImageSpec,
    JobSpec,
    PoolSpec,
    SourceMap,
    Spec,
    StartTaskSpec,
    UploadSpec,
    YamlPath,
)

DEFAULT_TIMEOUT = 3600


# --- the loader ----------------------------------------------------------------------


def load_spec(
    path: Path | str, overrides: Mapping[str, Any] | None = None, target: str | None = None
) -> Spec:
    """Load, validate and check one spec file; raise SpecError with every problem found.
    `target` (local, azure; None: any) adds the checks of that target."""
    path = Path(path)
    file = str(path)
    try:
        text, problems = yamlpos.read(path, file)
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except OSError as e:
        raise UsageError(f"{file}: cannot read: {e.strerror or e}") from None
    if text is None:
        raise SpecError(problems)
    data, source, problems = yamlpos.parse(text, file)
    if data is None and not problems:
        problems.append(Problem(Loc(file, 1, 1), "the spec is empty"))
    if problems:
        raise SpecError(problems)
    schema_errors = list(validator().iter_errors(data))
    for err in schema_errors:
        problems.extend(schema_problems(err, source))
    if problems:
        raise SpecError(problems)
    builder = _Builder(path, data, source, dict(overrides or {}), target)
    spec = builder.build()
    if builder.problems:
        raise SpecError(builder.problems)
    return spec


class _Builder:
    """Semantic checks and construction of the frozen dataclasses from schema-valid data."""

    def __init__(
        self,
        path: Path,
        data: dict[str, Any],
        source: SourceMap,
        overrides: dict[str, Any],
        target: str | None = None,
    ) -> None:
        self.path = path
        self.target = target
        self.data = data
        self.source = source
        self.overrides = overrides
        self.problems: list[Problem] = []
        self.tasks = TaskLoader(self)
        self.container_keys = list(data.get("storage", {}).get("containers", {}))

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def build(self) -> Spec:
        d = self.data
        name = d["name"]
        vars_ = self._vars()
        containers = self._containers(name)
        pool = self._pool(d["pool"])
        self.tasks.pool = pool
        job = self._job(d["job"])
        downloads = tuple(
            DownloadSpec(
                container=self.container_ref(dl["container"], ("download", i, "container")),
                to=dl["to"],
                pattern=dl.get("pattern", "*"),
            )
            for i, dl in enumerate(d.get("download", []))
        )
        c = d.get("cleanup", {})
        cleanup = CleanupSpec(
            containers=c.get("containers", "delete"),
            job=c.get("job", "ask"),
            pool=c.get("pool", "ask"),
            logs=c.get("logs", "keep"),
        )
        logs_container = names.default_container_name(name, "logs")
        if logs_container in {ct.name for ct in containers.values() if ct.key != LOGS_KEY}:
            self.problem(
                self.source.key(("name",)),
                f"container name '{logs_container}' is reserved for the task logs",
            )
        return Spec(
            path=self.path,
            api_version=d["apiVersion"],
            name=name,
            description=d.get("description", ""),
            vars=vars_,
            containers=containers,
            pool=pool,
            job=job,
            downloads=downloads,
            cleanup=cleanup,
            logs_container=logs_container,
            source=self.source,
        )

    def _vars(self) -> dict[str, Any]:
        declared: dict[str, Any] = dict(self.data.get("vars", {}))
        for key, value in self.overrides.items():
            if key not in declared:
                loc = (
                    self.source.key(("vars",)) if "vars" in self.data else Loc(str(self.path), 1, 1)
                )
                self.problem(loc, f"--var '{key}': no such var{did_you_mean(key, declared)}")
            else:
                declared[key] = value
        return declared

    def _containers(self, workflow: str) -> dict[str, ContainerSpec]:
        out: dict[str, ContainerSpec] = {}
        seen: dict[str, str] = {}
        for key, c in self.data.get("storage", {}).get("containers", {}).items():
            base: YamlPath = ("storage", "containers", key)
            if key == LOGS_KEY:
                self.problem(
                    self.source.key(base), f"container key '{key}' is reserved for the task logs"
                )
            real = c.get("name") or names.default_container_name(workflow, key)
            if "name" not in c and (reason := names.check_container_name(real)):
                self.problem(
                    self.source.key(base),
                    f"the default container name '{real}' is not valid: {reason}; set name:",
                )
            if real in seen:
                self.problem(
                    self.source.value((*base, "name")) if "name" in c else self.source.key(base),
                    f"container name '{real}' is also used by '{seen[real]}'",
                )
            seen[real] = key
            uploads = tuple(
                UploadSpec(u) if isinstance(u, str) else UploadSpec(u["path"], u.get("prefix", ""))
                for u in c.get("upload", [])
            )
            out[key] = ContainerSpec(key=key, name=real, uploads=uploads)
        return out

    def container_ref(self, key: str, path: YamlPath) -> str:
        if key not in self.container_keys:
            known = ", ".join(self.container_keys) or "none declared"
            self.problem(
                self.source.value(path),
                f"{dotted(path)}: unknown container '{key}'{did_you_mean(key, self.container_keys)}"
                + ("" if did_you_mean(key, self.container_keys) else f" (containers: {known})"),
            )
        return key

    def duration(self, value: str | None, path: YamlPath, default: int | None = None) -> int | None:
        if value is None:
            return default
        seconds = durations.parse(value)  # the schema pattern already guarantees the form
        if seconds <= 0:
            self.problem(self.source.value(path), f"{dotted(path)}: must be longer than 0s")
        return seconds

    def _pool(self, p: dict[str, Any]) -> PoolSpec:
        image = p["image"]
        if isinstance(image, str):
            img = images.resolve_alias(image)  # the schema enum guarantees a known alias
        else:
            img = ImageSpec(
                image["publisher"],
                image["offer"],
                image["sku"],
                image.get("version", "latest"),
                image["node_agent_sku"],
            )
        nodes = p.get("nodes", 1)
        dedicated, spot = (
            (nodes, 0)
            if isinstance(nodes, int)
            else (nodes.get("dedicated", 0), nodes.get("spot", 0))
        )
        st = p.get("start_task")
        start = None
        if st is not None:
            start = StartTaskSpec(
                commands=tuple(st["commands"]),
                resource_files=self.tasks.resource_files(
                    st.get("resource_files", []), ("pool", "start_task", "resource_files")
                ),
                env=env_values(st.get("env", {})),
                elevated=st.get("elevated", False),
                wait_for_success=st.get("wait_for_success", True),
                retries=st.get("retries", 0),
            )
        return PoolSpec(
            id=p["id"],
            vm_size=p["vm_size"].lower(),
            image=img,
            dedicated_nodes=dedicated,
            spot_nodes=spot,
            task_slots_per_node=self._task_slots(p),
            start_task=start,
            price_per_hour=p.get("price_per_hour"),
            container=load_compute.pool_container(self, p),
            autoscale=load_compute.autoscale(self, p, self.target),
        )

    def _task_slots(self, p: dict[str, Any]) -> int:
        slots: int = p.get("task_slots_per_node", 1)
        if refusal := vm_sizes.too_many_slots(p["vm_size"], slots):
            where = self.source.value(("pool", "task_slots_per_node"))
            self.problem(where, f"pool.task_slots_per_node: {refusal}")
        return slots

    def _job(self, j: dict[str, Any]) -> JobSpec:
        steps = StepLoader(self, self.tasks).steps(j)
        prepare = release = None
        if "prepare" in j:
            prepare = self.tasks.task(j["prepare"], ("job", "prepare"), "jobpreparation")
        if "release" in j:
            release = self.tasks.task(j["release"], ("job", "release"), "jobrelease")
        timeout = self.duration(j.get("timeout"), ("job", "timeout"), DEFAULT_TIMEOUT)
        return JobSpec(
            id=j["id"],
            timeout=timeout or DEFAULT_TIMEOUT,
            steps=steps,
            prepare=prepare,
            release=release,
            max_parallel_tasks=j.get("max_parallel_tasks"),
        )
