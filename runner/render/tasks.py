"""One task template, compiled once and rendered per task: its ID, command (shell-wrapped),
outputs (plus its stdout/stderr to the logs container), environment and resource
files, with its dependencies and a fingerprint that follows them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runner import paths, shell
from runner.compute import TaskContainer
from runner.frozen import assemble
from runner.load_compute import image_server
from runner.render.files import ResourceFiles
from runner.render.fingerprints import Uploads, fingerprinted
from runner.render.pool import pool_containers
from runner.render.renderer import Renderer
from runner.schema import dotted
from runner.spec import LOGS_KEY, TaskSpec, YamlPath
from runner.state import DesiredTask, OutputFile
from runner.templates import Template

# Batch keeps a task's stdout.txt/stderr.txt one level above its working directory.
LOG_PATTERN = "../std*.txt"


@dataclass(frozen=True)
class Dependencies:
    """What a task waits on, and what Batch does to the tasks waiting on it when it fails."""

    depends_on: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()  # the fingerprints its own follows (runner.render.fingerprints)
    on_dependency_failure: Literal["block", "satisfy"] = "block"


NO_DEPENDENCIES = Dependencies()


def logs_output(job_id: str, task_id: str) -> OutputFile:
    return _output_file(LOG_PATTERN, LOGS_KEY, f"{job_id}/{task_id}", "completion")


def _output_file(
    pattern: str, container: str, path: str, when: Literal["success", "failure", "completion"]
) -> OutputFile:
    """An output file, made for every task: positional arguments are the cheapest call
    (small objects keep their fields inline, which `runner.frozen.assemble` would undo)."""
    return OutputFile(pattern, container, path, when)


class TaskTemplate:
    def __init__(
        self,
        r: Renderer,
        spec: TaskSpec,
        path: YamlPath,
        uploads: Uploads,
        *,
        item_container: str | None = None,
        logs: bool = True,
    ) -> None:
        """`path`: where the template is in the YAML; `logs`: whether the task's stdout
        and stderr go to the logs container (not for job preparation and release)."""
        self.r = r
        self.spec = spec
        self.logs = logs
        self.id = r.template(spec.id, (*path, "id"))
        self.command = r.template(spec.command, (*path, "command"), command=True)
        self.outputs = [
            r.template(o.path, (*path, "outputs", i, "path")) for i, o in enumerate(spec.outputs)
        ]
        self.env = {k: r.template(v, (*path, "env", k)) for k, v in sorted(spec.env.items())}
        self.same_outputs = self._same_outputs()
        self.files = ResourceFiles(
            r, spec.resource_files, (*path, "resource_files"), uploads, item_container
        )
        self.container = self._container()

    def _same_outputs(self) -> tuple[OutputFile, ...] | None:
        """The outputs (logs aside) when they are the same for every task: none has a
        path, the most common case (an empty path renders nothing, and is not counted)."""
        if any(t.source for t in self.outputs):
            return None
        return tuple(_output_file(o.pattern, o.container, "", o.when) for o in self.spec.outputs)

    def _container(self) -> TaskContainer | None:
        """The task's container settings, shared by every task of the template; the
        registry is the declared one its image's server names, if any."""
        c = self.spec.container
        if c is None:
            return None
        server = (image_server(c.image) or "").lower()
        pool = pool_containers(self.r.spec.pool.container)
        registries = pool.registries if pool is not None else ()
        registry = next((g for g in registries if g.server == server), None)
        return TaskContainer(c.image, c.options, c.workdir, registry)

    def all_templates(self) -> list[Template]:
        return [
            self.id,
            self.command,
            *self.outputs,
            *self.env.values(),
            *self.files.all_templates(),
        ]

    def build(
        self,
        task_id: str,
        context: Mapping[str, Any],
        *,
        item: Any = None,
        item_index: int | None = None,
        what: str = "",
        deps: Dependencies = NO_DEPENDENCIES,
    ) -> DesiredTask | None:
        """The task, or None when its command did not render (the problem is reported)."""
        r = self.r
        command = r.render(self.command, context, what)
        outputs = self.same_outputs
        if outputs is None:
            outputs = tuple(
                _output_file(o.pattern, o.container, self._output_path(t, context, what), o.when)
                for o, t in zip(self.spec.outputs, self.outputs, strict=True)
            )
        if self.logs:
            outputs += (logs_output(r.spec.job.id, task_id),)
        env = tuple((k, r.render(t, context, what) or "") for k, t in self.env.items())
        resource_files = self.files.render(context, item, what)
        if command is None:
            return None
        spec = self.spec
        # every field of DesiredTask, in order (runner.frozen.assemble)
        t = assemble(
            DesiredTask,
            {
                "id": task_id,
                "command_line": shell.wrap([command], shell.SH if self.container else shell.BASH),
                "resource_files": resource_files,
                "outputs": outputs,
                "env": env,
                "retries": spec.retries,
                "max_wall_clock": spec.max_wall_clock,
                "elevated": spec.elevated,
                "depends_on": deps.depends_on,
                "depends_on_ranges": (),
                "on_dependency_failure": deps.on_dependency_failure,
                "fingerprint": "",
                "item_index": item_index,
                "display": what,
                "container": self.container,
                "required_slots": spec.required_slots,
            },
        )
        return fingerprinted(t, deps.upstream)

    def _output_path(self, t: Template, context: Mapping[str, Any], what: str) -> str:
        """An output's blob prefix; one that climbs out of its container is refused here
        rather than when the task has run."""
        path = self.r.render(t, context, what) or ""
        if paths.climbs_out(path) and t.path not in self.r.reported:
            self.r.problem_once(
                t.path,
                f"{dotted(t.path)}: '{path}' must stay inside the container "
                "(no absolute path, no '..')" + (f" for {what}" if what else ""),
            )
        return path
