"""Starting a command line on a node: a task, a start task, a job preparation or release
task. What it needs is gathered under the store's lock (`Launch.on`); its container, if
it has one, is checked outside it (podman takes a while); the process starts last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.localbatch.containers import (
    INVALID_SETTINGS,
    ContainerCommand,
    ContainerProblem,
    ContainerRuntime,
    Mount,
    bind_mounts,
)
from runner.localbatch.nodes import Node, Process, environment, task_variables


def failure_info(category: str, code: str, message: str) -> dict[str, Any]:
    """A task's `failureInfo` (TaskFailureInformationCodes name Batch's codes)."""
    return {"category": category, "code": code, "message": message}


@dataclass(frozen=True)
class Launch:
    command_line: str
    task_dir: Path
    variables: dict[str, str]
    container_settings: Mapping[str, Any] | None
    container_pool: bool  # whether the pool has a containerConfiguration
    mounts: tuple[Mount, ...]
    label: str  # names the container: node, job, task

    @classmethod
    def on(
        cls,
        node: Node,
        pool: Mapping[str, Any],
        spec: Mapping[str, Any],
        task_dir: Path,
        account: tuple[str, str],
        extra: dict[str, str],
        prep_dir: Path | None = None,
    ) -> Launch:
        """The launch of `spec` (a task, start task, preparation or release task) in
        `task_dir` on `node`; `account` is the account's name and URL."""
        variables = task_variables(
            node, task_dir, account[0], account[1], spec.get("environmentSettings"), extra
        )
        settings = spec.get("containerSettings")
        vmc = pool.get("virtualMachineConfiguration") or {}
        mounts: tuple[Mount, ...] = ()
        if settings:
            directories = {
                "Shared": node.shared,
                "Startup": node.startup,
                "Task": task_dir,
                "Applications": node.root / "applications",
                "VfsMounts": node.root / "fsmounts",
            }
            if prep_dir is not None:
                directories["JobPrep"] = prep_dir
            mounts = bind_mounts(settings, node.root, directories, task_dir / "wd")
        label = "-".join([node.node_id, extra.get("AZ_BATCH_JOB_ID", ""), task_dir.name])
        return cls(
            spec["commandLine"],
            task_dir,
            variables,
            settings,
            bool(vmc.get("containerConfiguration")),
            mounts,
            label,
        )

    def container(self, runtime: ContainerRuntime) -> ContainerCommand | None:
        """The container the command line runs in, None for the node itself. Raises
        ContainerProblem (Batch's failure) when it cannot run. Call without the lock."""
        if self.container_settings is None:
            return None
        if not self.container_pool:
            raise ContainerProblem(
                "usererror",
                INVALID_SETTINGS,
                "The task has containerSettings but its pool has no containerConfiguration.",
            )
        return runtime.command(
            self.container_settings, self.mounts, self.task_dir / "wd", self.variables, self.label
        )

    def start(self, container: ContainerCommand | None, *, keep_tree: bool = False) -> Process:
        """The running command line. Raises OSError when it cannot start."""
        env = environment(self.variables, self.task_dir)
        return Process(
            self.command_line, self.task_dir, env, keep_tree=keep_tree, container=container
        )
