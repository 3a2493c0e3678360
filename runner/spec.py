"""The loaded spec: frozen dataclasses produced by `runner.load`, consumed by `runner.render`.

A `Spec` is the YAML file after schema and semantic checks, with defaults filled in
and durations converted to seconds. Templates (task ids, commands, environment
values) are kept as source text here; rendering them is `runner.render`'s job.

Every spec keeps a `SourceMap` so that later stages (render, plan limits) can
report a problem at the line and column of the key or value that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runner.errors import Loc

# The logical key of the container that keeps every task's stdout and stderr.
LOGS_KEY = "logs"

# A path into the YAML document: mapping keys and sequence indexes,
# e.g. ("job", "tasks", "resource_files", 0, "container").
YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceMap:
    """Positions of every key and value of one YAML document.

    `keys[path]` is where the mapping key that leads to `path` starts; `values[path]`
    is where the value at `path` starts. Sequence items have only a value position.
    """

    file: str
    keys: Mapping[YamlPath, Loc] = field(default_factory=dict)
    values: Mapping[YamlPath, Loc] = field(default_factory=dict)
    # literal block scalars (`|`): where their first content line starts, so that an
    # error on line N of a multi-line template points at that very line of the file
    blocks: Mapping[YamlPath, Loc] = field(default_factory=dict)

    def template_line(self, path: YamlPath, line: int | None) -> Loc:
        """Where line `line` (1-based) of the template at `path` is in the file."""
        start = self.blocks.get(tuple(path))
        if start is None or not line:
            return self.value(path)
        return Loc(start.file, start.line + line - 1, start.col)

    def key(self, path: YamlPath) -> Loc:
        """Where the key of `path` is, else its value, else the nearest ancestor's."""
        return self._find(path, prefer_key=True)

    def value(self, path: YamlPath) -> Loc:
        """Where the value of `path` is, else its key, else the nearest ancestor's."""
        return self._find(path, prefer_key=False)

    def _find(self, path: YamlPath, prefer_key: bool) -> Loc:
        first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
        p = tuple(path)
        while True:
            if p in first:
                return first[p]
            if p in second:
                return second[p]
            if not p:
                return Loc(self.file, 1, 1)
            p = p[:-1]


# --- storage -----------------------------------------------------------------


@dataclass(frozen=True)
class UploadSpec:
    """One upload entry: a path or glob relative to the spec file."""

    pattern: str
    prefix: str = ""  # prepended to each blob name


@dataclass(frozen=True)
class ContainerSpec:
    """A logical container. `name` is the real container name."""

    key: str  # logical name used everywhere in the spec, e.g. "input"
    name: str  # the Azure container name (default "<workflow>-<key>")
    uploads: tuple[UploadSpec, ...] = ()


# --- files of a task ---------------------------------------------------------


@dataclass(frozen=True)
class ResourceFileSpec:
    """A file (or blobs) downloaded to the node before a task runs.

    Exactly one source: `item` (the fan-out item's own blob), `container` (whole
    container, optionally limited by `prefix`, or one `blob`), or `url`.
    `path` is the file path relative to the task's working directory (Batch's
    `filePath`); `mode` is the octal file mode on Linux (Batch's `fileMode`).
    """

    item: bool = False
    container: str | None = None  # logical container name
    blob: str | None = None  # template allowed
    prefix: str | None = None  # template allowed
    url: str | None = None  # template allowed
    path: str | None = None  # template allowed
    mode: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """Files uploaded from the node after a task ends (Batch output files)."""

    pattern: str  # Batch filePattern, relative to the task working dir, `**` allowed
    container: str  # logical container name
    path: str = ""  # blob name prefix (template allowed); "" keeps relative paths
    when: Literal["success", "failure", "completion"] = "success"


# --- pool ----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSpec:
    """A marketplace image. `alias` is set when the spec used an alias like ubuntu-22.04."""

    publisher: str
    offer: str
    sku: str
    version: str = "latest"
    node_agent_sku: str | None = None  # None: resolved through the supported-images API
    alias: str | None = None


@dataclass(frozen=True)
class StartTaskSpec:
    commands: tuple[str, ...]  # joined under `set -e` semantics, run by /bin/bash -c
    resource_files: tuple[ResourceFileSpec, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    elevated: bool = False
    wait_for_success: bool = True
    retries: int = 0


@dataclass(frozen=True)
class RegistrySpec:
    """A private container registry; its password is read from `password_env` by apply."""

    server: str  # host[:port], as image references name it
    username: str
    password_env: str  # the environment variable holding the password


@dataclass(frozen=True)
class PoolContainerSpec:
    """`pool.container`: the pool runs container tasks (Batch containerConfiguration)."""

    images: tuple[str, ...] = ()  # prefetched when a node joins
    registries: tuple[RegistrySpec, ...] = ()


@dataclass(frozen=True)
class AutoscaleSpec:
    """`pool.autoscale`, the formula as Batch gets it (the short form written out)."""

    formula: str
    interval: int  # seconds between evaluations
    short: bool = False  # written by bwf from {min, max, tasks_per_node}


@dataclass(frozen=True)
class PoolSpec:
    id: str
    vm_size: str
    image: ImageSpec
    dedicated_nodes: int = 1
    spot_nodes: int = 0
    task_slots_per_node: int = 1
    start_task: StartTaskSpec | None = None
    price_per_hour: float | None = None  # a node-hour's price, for the report's cost estimate
    container: PoolContainerSpec | None = None
    autoscale: AutoscaleSpec | None = None  # None: fixed node counts


# --- job -----------------------------------------------------------------------


@dataclass(frozen=True)
class ForEachSpec:
    """The fan-out. Exactly one kind is set."""

    kind: Literal["container", "values", "range", "matrix", "step"]
    container: str | None = None  # kind == "container": logical container name
    pattern: str | None = None  # kind == "container": optional glob on blob names
    values: tuple[Any, ...] = ()  # kind == "values"
    range: tuple[int, int, int] | None = None  # kind == "range": (start, stop, step)
    matrix: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # kind == "matrix"
    step: str | None = None  # kind == "step": one task per task of that step


@dataclass(frozen=True)
class TaskContainerSpec:
    """A task's `container` (Batch containerSettings)."""

    image: str
    options: str = ""  # containerRunOptions
    workdir: Literal["task", "image"] = "task"


@dataclass(frozen=True)
class TaskSpec:
    """A task template: `id`, `command`, env values, file paths are Jinja2 templates."""

    id: str
    command: str
    resource_files: tuple[ResourceFileSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    max_wall_clock: int | None = None  # seconds
    elevated: bool = False
    container: TaskContainerSpec | None = None
    required_slots: int = 1


OnFailure = Literal["block", "run_anyway"]


@dataclass(frozen=True)
class StepSpec:
    """One step of the job's DAG: a task template, what it fans out over and what it
    waits on. `job.tasks` and `job.merge` load as the steps `tasks` and `merge`."""

    name: str
    path: YamlPath  # where the step is in the YAML, for located errors
    task: TaskSpec
    for_each: ForEachSpec | None = None  # None: one task
    needs: tuple[str, ...] = ()  # steps whose every task each task of this one waits on
    on_failure: OnFailure = "block"  # when a task it waits on fails

    @property
    def chain(self) -> str | None:
        """The step this one chains from (`for_each: {step: NAME}`), if any."""
        fe = self.for_each
        return fe.step if fe is not None and fe.kind == "step" else None

    @property
    def waits_on(self) -> tuple[str, ...]:
        """Every step this one waits on: the one it chains from, then those it needs."""
        chain = self.chain
        return ((chain,) if chain else ()) + tuple(n for n in self.needs if n != chain)


@dataclass(frozen=True)
class JobSpec:
    """The Batch job: its steps (a DAG), Batch's preparation and release tasks."""

    id: str
    timeout: int  # seconds; monitoring gives up after this
    steps: tuple[StepSpec, ...]  # in dependency order: a step comes after what it waits on
    prepare: TaskSpec | None = None  # Batch job preparation task (id is fixed by Batch)
    release: TaskSpec | None = None  # Batch job release task
    max_parallel_tasks: int | None = None

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


# --- after the job -------------------------------------------------------------


@dataclass(frozen=True)
class DownloadSpec:
    container: str  # logical container name
    to: str  # local directory, relative to the current directory
    pattern: str = "*"  # glob on blob names


CleanupPolicy = Literal["ask", "delete", "keep"]


@dataclass(frozen=True)
class CleanupSpec:
    containers: Literal["delete", "keep"] = "delete"
    job: CleanupPolicy = "ask"
    pool: CleanupPolicy = "ask"
    logs: Literal["delete", "keep"] = "keep"  # the logs container outlives the pool


@dataclass(frozen=True)
class Spec:
    """A whole workflow spec, validated, with defaults applied."""

    path: Path  # the spec file
    api_version: str
    name: str
    description: str
    vars: Mapping[str, Any]  # effective values: declared defaults overridden by --var
    containers: Mapping[str, ContainerSpec]  # logical name -> container
    pool: PoolSpec
    job: JobSpec
    downloads: tuple[DownloadSpec, ...]
    cleanup: CleanupSpec
    logs_container: str  # the real name of the container keeping task stdout/stderr
    source: SourceMap

    @property
    def base_dir(self) -> Path:
        """Directory that upload globs are relative to."""
        return self.path.parent
