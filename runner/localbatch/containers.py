"""Container tasks: a pool's `containerConfiguration` and a task's `containerSettings`
run with podman, as Batch runs them with Docker.

What Batch documents for a container task, done here: the node's Batch directories
(everything under `AZ_BATCH_NODE_ROOT_DIR`, or the `containerHostBatchBindMounts` the
task lists) are bind-mounted into the container at the same paths, so every
`AZ_BATCH_*` variable means the same inside; the task's environment is passed in; the
command line runs in the container, in the task working directory unless
`workingDirectory` is `containerImageDefault`; `containerRunOptions` are added to the
run command. Images are never pulled: no registry is reachable from a local node, so an
image must already be in podman's store (`podman load`, `podman import`, `podman
build`); one that is missing fails as a Batch node fails to pull it.

Each container is named after its node, job and task (plus a random suffix), runs under
the task's supervisor like any command line (`nursery`: conmon and the container's
processes are descendants of the supervisor, which kills them all when the task ends),
and is removed (`podman rm --force`) once its process is over, so that a killed task
leaves no container behind in podman's store.

Podman's own options come from `BWF_LOCALBATCH_PODMAN_OPTIONS` (default: runc with
cgroupfs, which works in containers and on cgroup v1/v2 hybrids, where crun and the
systemd cgroup manager do not), the program from `BWF_LOCALBATCH_CONTAINER_RUNTIME`
(default `podman`, looked up on PATH).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_RUNTIME = "podman"
DEFAULT_OPTIONS = "--runtime runc --cgroup-manager cgroupfs"
RUNTIME_ENV = "BWF_LOCALBATCH_CONTAINER_RUNTIME"
OPTIONS_ENV = "BWF_LOCALBATCH_PODMAN_OPTIONS"
_TIMEOUT = 60.0  # seconds for a podman command of the service's own (image check, removal)

# Batch's codes (TaskFailureInformationCodes) for a container task that cannot start
INVALID_IMAGE = "ContainerInvalidImage"
INVALID_SETTINGS = "ContainerInvalidSettings"
MISC_ERROR = "ContainerMiscError"
# This service's code for a node of a container pool where podman is missing
RUNTIME_UNAVAILABLE = "ContainerRuntimeUnavailable"

# What podman itself needs from the service's environment (its store and configuration
# are found through HOME and XDG_* when it runs rootless); never the service's keys.
_RUNTIME_ENVIRONMENT = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "CONTAINERS_CONF",
    "CONTAINERS_STORAGE_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINER_HOST",
    "DBUS_SESSION_BUS_ADDRESS",
)


class ContainerProblem(Exception):
    """A container task that cannot start: the failure Batch would record."""

    def __init__(self, category: str, code: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.code = code
        self.message = message

    def failure(self) -> dict[str, Any]:
        return {"category": self.category, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Mount:
    source: Path
    read_only: bool = False


@dataclass(frozen=True)
class ContainerCommand:
    """How one command line runs in a container; `wrap` turns it into podman's."""

    program: str
    options: tuple[str, ...]
    image: str
    name: str
    mounts: tuple[Mount, ...]
    workdir: str | None  # None: the image's own working directory
    run_options: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)  # the task's, passed in

    def wrap(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """podman's argv and environment for running `argv` with the task's variables."""
        runtime_env = runtime_environment()
        flags: list[str] = []
        for name, value in self.variables.items():
            if name in runtime_env:  # podman needs its own value: pass the task's outright
                flags += ["--env", f"{name}={value}"]
            else:  # taken from podman's environment: values stay off the command line
                runtime_env[name] = value
                flags += ["--env", name]
        for mount in self.mounts:
            suffix = ":ro" if mount.read_only else ""
            flags += ["--volume", f"{mount.source}:{mount.source}{suffix}"]
        if self.workdir is not None:
            flags += ["--workdir", self.workdir]
        # the host's network (loopback included, where Storage listens), unless the
        # task's own options choose one: podman refuses two
        if not any(o.split("=")[0] in ("--network", "--net") for o in self.run_options):
            flags.append("--network=host")
        command = [
            self.program,
            *self.options,
            "run",
            "--rm",
            "--name",
            self.name,
            "--pull=never",
            *_ulimits(),
            *flags,
            *self.run_options,
            self.image,
            *argv,
        ]
        return command, runtime_env


def runtime_environment() -> dict[str, str]:
    return {k: os.environ[k] for k in _RUNTIME_ENVIRONMENT if k in os.environ}


# Limits a container may not go past, whatever the service's own (measured: runc refuses
# an RLIMIT_NPROC above the kernel's pid_max, and the kernel an RLIMIT_NOFILE above nr_open)
_LIMIT_CAPS = {"nproc": "/proc/sys/kernel/pid_max", "nofile": "/proc/sys/fs/nr_open"}


def _ulimits() -> list[str]:
    """The service's own limits, capped as the kernel allows: podman raises them by
    default, which needs a privilege (CAP_SYS_RESOURCE) that a container or an
    unprivileged user lacks."""
    out: list[str] = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        try:
            cap = int(Path(_LIMIT_CAPS[name]).read_text())
        except (OSError, ValueError):
            cap = resource.RLIM_INFINITY
        soft, hard = resource.getrlimit(which)
        hard = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
        out += ["--ulimit", f"{name}={soft}:{hard}"]
    return out


@dataclass(frozen=True)
class ContainerRuntime:
    """podman as the service finds it; `program` is None when it is not installed."""

    name: str = DEFAULT_RUNTIME
    program: str | None = None
    options: tuple[str, ...] = tuple(shlex.split(DEFAULT_OPTIONS))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ContainerRuntime:
        name = env.get(RUNTIME_ENV) or DEFAULT_RUNTIME
        try:
            options = tuple(shlex.split(env.get(OPTIONS_ENV, DEFAULT_OPTIONS)))
        except ValueError as e:
            raise SystemExit(f"{OPTIONS_ENV}: cannot be split into options: {e}") from None
        return cls(name, shutil.which(name), options)

    def missing(self) -> str:
        return (
            f"The container runtime {self.name!r} is not installed on this machine (not found "
            "on PATH): install podman and runc (apt-get install podman runc) to run container tasks."
        )

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.program is not None
        return subprocess.run(
            [self.program, *self.options, *args],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=runtime_environment(),
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def image_problem(self, image: str) -> str | None:
        """Why `image` cannot run here (not installed, not in the store), or None."""
        if self.program is None:
            return self.missing()
        try:
            done = self._run("image", "exists", image)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{self.name} could not check the image {image}: {e}"
        if done.returncode == 0:
            return None
        if done.returncode == 1:
            return (
                f"The container image {image} is not on the node, and local nodes pull no "
                f"images: load it into {self.name}'s store first (podman load, import or build)."
            )
        return f"{self.name} could not check the image {image}: {done.stderr.strip()[:500]}"

    def remove(self, *names: str) -> None:
        """Remove containers whatever their state (a task killed before podman could)."""
        if self.program is None or not names:
            return
        # a container left behind is untidy, not wrong: the next start uses a new name
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self._run("rm", "--force", "--ignore", "--time", "0", *names)

    def pool_errors(
        self, container_configuration: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        """A node's `errors` when it starts: podman missing, or an image the pool names
        (prefetched on Batch) not in the store. Empty when the node is usable."""
        if not container_configuration:
            return []
        if self.program is None:
            return [
                {
                    "code": RUNTIME_UNAVAILABLE,
                    "message": self.missing(),
                    "errorDetails": [{"name": "runtime", "value": self.name}],
                }
            ]
        errors = []
        for image in container_configuration.get("containerImageNames") or []:
            problem = self.image_problem(str(image))
            if problem is not None:
                errors.append(
                    {
                        "code": INVALID_IMAGE,
                        "message": problem,
                        "errorDetails": [{"name": "containerImageName", "value": image}],
                    }
                )
        return errors

    def command(
        self,
        settings: Mapping[str, Any],
        mounts: tuple[Mount, ...],
        working_dir: Path,
        variables: Mapping[str, str],
        label: str,
    ) -> ContainerCommand:
        """The container for a command line with `settings` (a task's containerSettings),
        once its image is known to be there. Raises ContainerProblem otherwise."""
        image = str(settings["imageName"])
        if self.program is None:
            raise ContainerProblem("servererror", MISC_ERROR, self.missing())
        problem = self.image_problem(image)
        if problem is not None:
            raise ContainerProblem("usererror", INVALID_IMAGE, problem)
        try:
            run_options = tuple(shlex.split(str(settings.get("containerRunOptions") or "")))
        except ValueError as e:
            raise ContainerProblem(
                "usererror", INVALID_SETTINGS, f"containerRunOptions cannot be parsed: {e}"
            ) from None
        own_dir = settings.get("workingDirectory") != "containerImageDefault"
        return ContainerCommand(
            program=self.program,
            options=self.options,
            image=image,
            name=container_name(label),
            mounts=mounts,
            workdir=str(working_dir) if own_dir else None,
            run_options=run_options,
            variables=dict(variables),
        )


def container_name(label: str) -> str:
    """A container name from a node, job and task (podman allows [a-zA-Z0-9_.-])."""
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in label)
    return f"bwf-{safe}-{uuid.uuid4().hex[:8]}"


def bind_mounts(
    settings: Mapping[str, Any],
    node_root: Path,
    directories: Mapping[str, Path],
    working_dir: Path,
) -> tuple[Mount, ...]:
    """What to mount: the whole node root, or the sources `containerHostBatchBindMounts`
    names (`directories`: source -> host path), and always the task working directory,
    which Batch maps into every container task."""
    listed = settings.get("containerHostBatchBindMounts")
    if listed is None:
        return (Mount(node_root),)
    mounts = []
    for entry in listed:
        path = directories.get(str(entry.get("source") or ""))
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            mounts.append(Mount(path, bool(entry.get("isReadOnly"))))
    if not any(working_dir.is_relative_to(m.source) for m in mounts):
        working_dir.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(working_dir))
    return tuple(mounts)
