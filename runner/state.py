"""Desired and observed state: what a spec asks for, and what the services hold.

`runner.render` turns a `Spec` into a `Desired`; `runner.observe` reads the
services into an `Observed`; `runner.plan.diff(desired, observed)` compares them.
Both are plain frozen dataclasses with no SDK types in them.

Secrets never live in these objects: where a template asks for a SAS URL, the
rendered text holds a secret token (`runner.secrets.secret_token`), which the apply
stage alone resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from runner.compute import Autoscale, PoolContainers, TaskContainer
from runner.frozen import plain_repr

# --- desired state ---------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A local file to upload as one blob."""

    local_path: str  # absolute path
    blob: str
    size: int
    md5: str  # base64 of the MD5 digest, as Azure Storage reports Content-MD5


@dataclass(frozen=True)
class DesiredContainer:
    key: str  # logical name
    name: str  # Azure container name
    uploads: tuple[Upload, ...] = ()


@plain_repr
@dataclass(frozen=True)
class ResourceFile:
    """A resolved resource file. Exactly one of blob / prefix-or-whole-container / url.

    `container` is a logical key; apply turns it into a read SAS URL
    (`httpUrl` for a blob, `storageContainerUrl` + `blobPrefix` otherwise).
    """

    container: str | None = None
    blob: str | None = None  # one blob -> httpUrl
    prefix: str | None = None  # with container and no blob: blobPrefix ("" = whole container)
    url: str | None = None  # a plain httpUrl
    file_path: str | None = None
    file_mode: str | None = None
    md5: str | None = None  # the blob's MD5 when known (part of the task fingerprint)


@plain_repr
@dataclass(frozen=True)
class OutputFile:
    """A Batch output file: pattern uploaded to a container (logical key) under `path`."""

    pattern: str
    container: str
    path: str
    when: Literal["success", "failure", "completion"] = "success"


@dataclass(frozen=True)
class DesiredTask:
    """One Batch task, fully rendered. `command_line` is already wrapped in /bin/bash -c
    (/bin/sh -c for a task in a container)."""

    id: str
    command_line: str  # may contain secret tokens
    resource_files: tuple[ResourceFile, ...] = ()
    outputs: tuple[OutputFile, ...] = ()  # includes the stdout/stderr -> logs container
    env: tuple[tuple[str, str], ...] = ()  # may contain secret tokens
    retries: int = 0
    max_wall_clock: int | None = None  # seconds
    elevated: bool = False
    depends_on: tuple[str, ...] = ()  # task ids (Batch dependsOn.taskIds)
    depends_on_ranges: tuple[tuple[int, int], ...] = ()  # Batch dependsOn.taskIdRanges
    # what Batch does to the tasks waiting on this one when it fails
    # (exitConditions.default.dependencyAction): hold them back, or let them run
    on_dependency_failure: Literal["block", "satisfy"] = "block"
    # a digest of everything above but the id, and of the fingerprints of the tasks it
    # waits on: an edit upstream changes the fingerprint of every task below it
    fingerprint: str = ""
    item_index: int | None = None  # position in its step's fan-out; None for a one-task step
    display: str = ""  # short human label (e.g. the input file name)
    container: TaskContainer | None = None
    required_slots: int = 1  # Batch requiredSlots


@dataclass(frozen=True)
class DesiredStartTask:
    command_line: str
    resource_files: tuple[ResourceFile, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    elevated: bool = False
    wait_for_success: bool = True
    retries: int = 0


@dataclass(frozen=True)
class DesiredPool:
    id: str
    vm_size: str
    publisher: str
    offer: str
    sku: str
    version: str
    node_agent_sku: str
    image_alias: str | None
    dedicated_nodes: int
    spot_nodes: int
    task_slots_per_node: int
    start_task: DesiredStartTask | None
    fingerprint: str  # over what cannot change without replacing the pool
    price_per_hour: float | None = None  # for the report's cost estimate; not in the fingerprint
    containers: PoolContainers | None = None  # in the fingerprint: a change replaces the pool
    autoscale: Autoscale | None = None  # None: fixed node counts; updated in place


FanOut = Literal["container", "values", "range", "matrix", "step", "single"]


@dataclass(frozen=True)
class DesiredStep:
    """One step of the job, rendered: its tasks and what they wait on."""

    name: str
    fan_out: FanOut  # what it fans out over; "step": a chain, "single": one task
    tasks: tuple[DesiredTask, ...]
    over: str = ""  # the container, the matrix's names, or the step chained from
    chain: str | None = None  # each task waits on its own task of this step
    needs: tuple[str, ...] = ()  # each task waits on every task of these steps
    on_failure: Literal["block", "run_anyway"] = "block"
    # When the tasks of `needs` do not fit in one dependency list (Batch's 64,000
    # characters), each task of this step waits on these instead, each of them on a
    # slice of those tasks.
    barriers: tuple[DesiredTask, ...] = ()


@dataclass(frozen=True)
class DesiredJob:
    id: str
    pool_id: str
    timeout: int  # seconds: how long apply monitors before giving up
    uses_task_dependencies: bool
    steps: tuple[DesiredStep, ...]  # in dependency order
    prepare: DesiredTask | None = None
    release: DesiredTask | None = None
    max_parallel_tasks: int | None = None

    @cached_property
    def all_tasks(self) -> tuple[DesiredTask, ...]:
        """Every task of the job in submission order (each after what it waits on): step
        by step, a step's barriers before its tasks."""
        return tuple(t for s in self.steps for t in (*s.barriers, *s.tasks))

    @cached_property
    def step_tasks(self) -> tuple[DesiredTask, ...]:
        """The tasks of every step, barriers aside: what the spec asks to run."""
        return tuple(t for s in self.steps for t in s.tasks)

    @cached_property
    def step_of(self) -> Mapping[str, str]:
        """Task ID -> the name of its step (a barrier's: the step that waits on it)."""
        return {t.id: s.name for s in self.steps for t in (*s.barriers, *s.tasks)}

    @cached_property
    def barrier_ids(self) -> frozenset[str]:
        return frozenset(b.id for s in self.steps for b in s.barriers)

    def step(self, name: str) -> DesiredStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class DesiredDownload:
    container: str  # logical key
    container_name: str
    to: str  # local directory (absolute)
    pattern: str = "*"


@dataclass(frozen=True)
class DesiredCleanup:
    containers: Literal["delete", "keep"]
    job: Literal["ask", "delete", "keep"]
    pool: Literal["ask", "delete", "keep"]
    logs: Literal["delete", "keep"]


@dataclass(frozen=True)
class Desired:
    """Everything a spec asks for, rendered with its vars. No secrets, no SDK types."""

    name: str
    spec_path: str
    vars: Mapping[str, object]
    containers: tuple[DesiredContainer, ...]  # includes the logs container (key "logs")
    pool: DesiredPool
    job: DesiredJob
    downloads: tuple[DesiredDownload, ...]
    cleanup: DesiredCleanup
    sas_expiry: int  # seconds the SAS URLs must stay valid (job timeout + queueing)

    def container(self, key: str) -> DesiredContainer:
        for c in self.containers:
            if c.key == key:
                return c
        raise KeyError(key)


# --- observed state --------------------------------------------------------------


@dataclass(frozen=True)
class ObservedBlob:
    name: str
    size: int
    md5: str | None  # base64 Content-MD5, None when the service has none


@dataclass(frozen=True)
class DownloadedFile:
    """A blob written to (or found identical in) a local directory by a download."""

    name: str  # the blob name, which is also the path under the download directory
    size: int
    md5: str  # base64 MD5 of the content


@dataclass(frozen=True)
class ObservedContainer:
    name: str
    blobs: Mapping[str, ObservedBlob] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedPool:
    id: str
    state: str  # active | deleting
    allocation_state: str  # steady | resizing | stopping
    vm_size: str
    publisher: str
    offer: str
    sku: str
    version: str
    node_agent_sku: str
    dedicated_target: int
    spot_target: int
    task_slots_per_node: int
    fingerprint: str  # what bwf recorded at creation (pool metadata), "" if not bwf's
    node_states: Mapping[str, int] = field(default_factory=dict)  # idle: 2, starting: 1...
    current_dedicated: int | None = None  # the nodes it has; None when not read
    current_spot: int | None = None
    # why the last resize got fewer nodes than asked ("AccountCoreQuotaReached: ...")
    resize_errors: tuple[str, ...] = ()
    autoscale: Autoscale | None = None  # its formula and interval when it autoscales

    @property
    def short(self) -> bool:
        """Steady with fewer nodes than its targets (a quota, no spot capacity)."""
        if self.allocation_state != "steady" or self.current_dedicated is None:
            return False
        if self.autoscale is not None:  # its formula sets the targets, and moves them
            return False
        current = (self.current_dedicated, self.current_spot or 0)
        return current[0] < self.dedicated_target or current[1] < self.spot_target


@dataclass(frozen=True)
class ObservedTask:
    id: str
    state: str  # active | preparing | running | completed
    fingerprint: str  # what bwf recorded at creation, "" if unknown
    exit_code: int | None = None
    result: str | None = None  # success | failure (completed tasks)
    retry_count: int = 0
    requeue_count: int = 0
    node_id: str | None = None  # the node it runs or ran on (last attempt)
    created: str | None = None  # ISO 8601 UTC times, as Batch reports them
    started: str | None = None
    ended: str | None = None
    failure_code: str | None = (
        None  # executionInfo.failureInfo.code (ResourceFileDownloadFailed...)
    )
    failure_message: str | None = None  # scrubbed of secrets
    depends_on: tuple[str, ...] = ()  # the task IDs it was created to wait on
    last_retry: str | None = None  # executionInfo.lastRetryTime
    last_requeue: str | None = None  # executionInfo.lastRequeueTime
    changed: str | None = None  # stateTransitionTime: when it last changed state


@dataclass(frozen=True)
class TaskCounts:
    """A job's task counts (one cheap request), as Batch reports them."""

    active: int = 0
    running: int = 0  # running or preparing
    completed: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class ObservedNode:
    id: str
    state: str  # idle | running | starting | waitingforstarttask | starttaskfailed | ...
    dedicated: bool = True  # False for spot (low-priority) nodes
    running_tasks: int = 0
    total_tasks_run: int = 0
    start_task_exit_code: int | None = None
    start_task_failure: str | None = None  # failure code and message of the start task
    start_task_started: str | None = None  # when its start task last started (ISO 8601)
    since: str | None = None  # when it entered its state (stateTransitionTime), ISO 8601 UTC
    allocated: str | None = None  # when it joined the pool (allocationTime)


@dataclass(frozen=True)
class KeptCopy:
    """What bwf kept in BWF_HOME of one output container before clean-up deleted it
    (see runner.kept): the blobs, what they were selected by, and the tasks (id ->
    fingerprint) whose outputs they hold."""

    container: str  # real container name
    blobs: Mapping[str, ObservedBlob]
    prefixes: tuple[str, ...] = ()  # every blob under these prefixes was kept
    patterns: tuple[str, ...] = ()  # every blob matching these patterns was kept
    tasks: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def _prefix_set(self) -> frozenset[str]:
        return frozenset(self.prefixes)

    def covers_prefix(self, prefix: str) -> bool:
        """Whether every blob under `prefix` was kept: one of the kept prefixes starts it
        (looked up by length, as a chain keeps a prefix per task)."""
        kept = self._prefix_set
        return any(prefix[:i] in kept for i in range(len(prefix) + 1))

    def covers_pattern(self, pattern: str) -> bool:
        return "" in self.prefixes or pattern in self.patterns


@dataclass(frozen=True)
class ObservedJob:
    id: str
    state: str  # active | terminating | completed | deleting | ...
    pool_id: str
    uses_task_dependencies: bool
    tasks: Mapping[str, ObservedTask] = field(default_factory=dict)


@dataclass(frozen=True)
class Observed:
    """One pass of reads against the services. Missing things are simply absent."""

    containers: Mapping[str, ObservedContainer] = field(default_factory=dict)  # by real name
    pool: ObservedPool | None = None
    job: ObservedJob | None = None
    # The run ledger kept under BWF_HOME: task id -> fingerprint of tasks that
    # succeeded and whose outputs were downloaded, so that a re-apply after clean-up
    # deleted the job, pool and containers still says "No changes".
    ledger: Mapping[str, str] = field(default_factory=dict)
    # Local download targets (runner.downloads): download key -> why its files are not
    # in place ("missing locally", "changed locally", "not downloaded yet"); absent
    # when every file it wrote last time is still there unchanged.
    downloads: Mapping[str, str] = field(default_factory=dict)
    # Copies of output containers that clean-up deleted, kept in BWF_HOME (by name).
    kept: Mapping[str, KeptCopy] = field(default_factory=dict)

    @staticmethod
    def empty() -> Observed:
        return Observed()
