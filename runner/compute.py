"""The compute options of desired and observed pools and tasks: a pool's container
configuration and autoscale formula, a task's container (see `runner.state`). No
secrets: a registry keeps only the name of the variable holding its password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runner.frozen import plain_repr


@plain_repr
@dataclass(frozen=True)
class ContainerRegistry:
    """A private registry. Only the name of the variable holding its password is kept:
    apply reads the password from the environment (runner.resolver)."""

    server: str
    username: str
    password_env: str


@plain_repr
@dataclass(frozen=True)
class TaskContainer:
    """A task that runs in a container (Batch containerSettings)."""

    image: str
    options: str = ""  # containerRunOptions
    workdir: Literal["task", "image"] = "task"  # taskWorkingDirectory | containerImageDefault
    registry: ContainerRegistry | None = None  # the declared registry the image comes from


@dataclass(frozen=True)
class PoolContainers:
    """A pool that runs container tasks (Batch containerConfiguration, dockerCompatible)."""

    images: tuple[str, ...] = ()  # prefetched on every node
    registries: tuple[ContainerRegistry, ...] = ()


@dataclass(frozen=True)
class Autoscale:
    """A pool's autoscale formula and how often Batch evaluates it."""

    formula: str
    interval: int  # seconds
