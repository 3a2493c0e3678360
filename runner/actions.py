"""The actions of a plan, one dataclass per kind of resource: what `runner.apply`
executes, `runner.show` prints and `runner.plan_json` writes (each action's fields but
`id`, `change` and `reason` are its JSON `details`). No secrets in any of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

Change = Literal["create", "update", "replace", "delete", "noop"]
MARKERS: Mapping[Change, str] = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "noop": " ",
}
_COMMON = ("id", "change", "reason")


@dataclass(frozen=True, kw_only=True)
class Action:
    """One step of a plan: a change to one resource (or one group of tasks)."""

    KIND: ClassVar[str] = ""
    id: str
    change: Change
    reason: str = ""  # why, in a few words: "missing", "changed", "failed"

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def marker(self) -> str:
        return MARKERS[self.change]

    def details(self) -> dict[str, Any]:
        """The fields of this kind of action (the JSON form's `details`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _COMMON}


@dataclass(frozen=True, kw_only=True)
class ContainerAction(Action):
    KIND: ClassVar[str] = "container"  # id: the container's logical key
    name: str
    logs: bool = False  # the container of the tasks' stdout and stderr


@dataclass(frozen=True, kw_only=True)
class RestoreAction(Action):
    """A container clean-up deleted, filled again from the copy kept in BWF_HOME."""

    KIND: ClassVar[str] = "restore"  # id: the container's logical key
    name: str
    count: int
    bytes: int


@dataclass(frozen=True, kw_only=True)
class UploadAction(Action):
    KIND: ClassVar[str] = "upload"  # id: the container's logical key
    name: str
    blobs: tuple[str, ...]
    count: int
    bytes: int
    unchanged: int  # blobs of the container already there with the same MD5


@dataclass(frozen=True)
class ImageReference:
    publisher: str
    offer: str
    sku: str
    version: str


@dataclass(frozen=True)
class NodeCounts:
    dedicated: int
    spot: int


@dataclass(frozen=True)
class PoolAutoscale:
    formula: str  # as Batch gets it: the short form written out in full
    interval: int  # seconds


@dataclass(frozen=True)
class RegistryLogin:
    """A registry the pool logs in to; its password is never in a plan."""

    server: str
    username: str
    password_env: str  # the variable apply reads it from


@dataclass(frozen=True, kw_only=True)
class PoolAction(Action):
    KIND: ClassVar[str] = "pool"  # id: the pool's ID
    vm_size: str
    dedicated_nodes: int
    spot_nodes: int
    task_slots_per_node: int
    image: str  # the alias, or publisher/offer/sku/version
    image_reference: ImageReference
    node_agent_sku: str
    start_task: str | None  # its script (inside /bin/bash -c)
    from_nodes: NodeCounts | None = None  # a resize: the node counts before
    reboot: int = 0  # nodes whose start task failed, rebooted to run it again
    autoscale: PoolAutoscale | None = None  # None: fixed node counts
    # on a kept pool: enable (a new or changed formula) or disable (back to fixed counts)
    autoscale_change: Literal["enable", "disable"] | None = None
    container_images: tuple[str, ...] | None = None  # None: no container configuration
    container_registries: tuple[RegistryLogin, ...] = ()


@dataclass(frozen=True, kw_only=True)
class JobAction(Action):
    KIND: ClassVar[str] = "job"  # id: the job's ID
    pool: str
    timeout: int
    uses_task_dependencies: bool
    max_parallel_tasks: int | None
    prepare: str | None  # the scripts of the job preparation and release tasks
    release: str | None


@dataclass(frozen=True)
class CommandSample:
    id: str
    command: str  # the script inside /bin/bash -c


@dataclass(frozen=True, kw_only=True)
class TasksAction(Action):
    """Tasks of one step with one change and one reason (or tasks the spec no longer
    has, `step` None)."""

    KIND: ClassVar[str] = "tasks"  # id: the job's ID
    step: str | None
    barriers: bool = False  # tasks that stand for a step's `needs` in its dependency lists
    count: int
    ids: tuple[str, ...]
    sample: tuple[CommandSample, ...]  # the first few, rendered


@dataclass(frozen=True, kw_only=True)
class DownloadAction(Action):
    KIND: ClassVar[str] = "download"  # id: the container's logical key
    name: str
    to: str
    pattern: str
    source: Literal["container", "kept"]  # kept: the copy in BWF_HOME


@dataclass(frozen=True, kw_only=True)
class CleanupAction(Action):
    KIND: ClassVar[str] = "cleanup"  # id: containers | job | pool | logs
    policy: str
