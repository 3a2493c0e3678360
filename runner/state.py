"""Desired and observed state: what a spec asks for, and what the services hold.

`runner.render` turns a `Spec` into a `Desired`; `runner.observe` reads the
services into an `Observed`; `runner.plan.diff(desired, observed)` compares them.
Both are plain frozen dataclasses with no SDK types in them.

Secrets never live in these objects. Where a template asks for a SAS URL
(`containers.output.write_sas`), the rendered text holds a *secret token*
(`secret_token("output", "write")`); `redact()` turns tokens into `<redacted>` for
display and the apply stage substitutes real SAS URLs just before sending. So a
fingerprint does not change when a SAS is re-issued, and a printed plan holds no
secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# --- secrets -------------------------------------------------------------------

SasKind = Literal["read", "write", "url"]
_SECRET_RE = re.compile(r"@@bwf-secret:([a-z0-9_-]+):(read|write|url)@@")
REDACTED = "<redacted>"


def secret_token(container_key: str, kind: SasKind) -> str:
    """The placeholder rendered in place of a container's SAS URL."""
    return f"@@bwf-secret:{container_key}:{kind}@@"


def redact(text: str) -> str:
    """Text fit to print: every secret token becomes `<redacted>`."""
    return _SECRET_RE.sub(REDACTED, text)


def secret_tokens(text: str) -> list[tuple[str, SasKind]]:
    """The (container key, kind) pairs whose secrets `text` needs."""
    return [(m.group(1), m.group(2)) for m in _SECRET_RE.finditer(text)]  # type: ignore[misc]


def resolve_secrets(text: str, lookup: Mapping[tuple[str, str], str]) -> str:
    """Substitute real values for secret tokens (apply stage only)."""
    return _SECRET_RE.sub(lambda m: lookup[(m.group(1), m.group(2))], text)


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


@dataclass(frozen=True)
class OutputFile:
    """A Batch output file: pattern uploaded to a container (logical key) under `path`."""

    pattern: str
    container: str
    path: str
    when: Literal["success", "failure", "completion"] = "success"


@dataclass(frozen=True)
class DesiredTask:
    """One Batch task, fully rendered. `command_line` is already wrapped in /bin/bash -c."""

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
    on_dependency_failure: Literal["block", "satisfy"] = "block"  # Batch exitConditions action
    fingerprint: str = ""  # sha256 over everything above except id and the fingerprint
    item_index: int | None = None  # position in the fan-out; None for merge/prepare/release
    display: str = ""  # short human label (e.g. the input file name)


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


@dataclass(frozen=True)
class DesiredJob:
    id: str
    pool_id: str
    timeout: int  # seconds: how long apply monitors before giving up
    uses_task_dependencies: bool
    tasks: tuple[DesiredTask, ...]
    merge: DesiredTask | None = None
    prepare: DesiredTask | None = None
    release: DesiredTask | None = None
    max_parallel_tasks: int | None = None


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


@dataclass(frozen=True)
class ObservedTask:
    id: str
    state: str  # active | preparing | running | completed
    fingerprint: str  # what bwf recorded at creation, "" if unknown
    exit_code: int | None = None
    result: str | None = None  # success | failure (completed tasks)
    retry_count: int = 0


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

    @staticmethod
    def empty() -> Observed:
        return Observed()
