"""Loading one task template: its resource files, outputs, environment, limits and
fan-out (`for_each`), with their semantic checks. Used by `runner.load` for the start
task and the job's own tasks, and by `runner.load_steps` for every step."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Protocol

from runner import bounds, load_compute
from runner.errors import Loc
from runner.schema import dotted
from runner.spec import (
    ForEachSpec,
    OutputSpec,
    PoolSpec,
    ResourceFileSpec,
    SourceMap,
    TaskSpec,
    YamlPath,
)

FAN_OUT_KINDS = ("container", "values", "range", "matrix", "step")


class Checks(Protocol):
    """What the loader offers the parts it delegates to: positions, a place for
    problems, and the checks shared by every part of a spec."""

    source: SourceMap

    def problem(self, loc: Loc, message: str) -> None: ...

    def container_ref(self, key: str, path: YamlPath) -> str: ...

    def duration(self, value: str | None, path: YamlPath) -> int | None: ...


def env_values(env: Mapping[str, Any]) -> dict[str, str]:
    """Environment values as text: numbers and booleans as JSON writes them."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}


class TaskLoader:
    def __init__(self, checks: Checks) -> None:
        self.checks = checks
        self.source = checks.source
        self.pool: PoolSpec | None = None  # set once loaded: tasks are checked against it

    def task(self, t: dict[str, Any], path: YamlPath, task_id: str) -> TaskSpec:
        return TaskSpec(
            id=task_id,
            command=t["command"],
            resource_files=self.resource_files(
                t.get("resource_files", []), (*path, "resource_files")
            ),
            outputs=self.outputs(t.get("outputs", []), (*path, "outputs")),
            env=env_values(t.get("env", {})),
            retries=t.get("retries", 0),
            max_wall_clock=self.checks.duration(t.get("max_wall_clock"), (*path, "max_wall_clock")),
            elevated=t.get("elevated", False),
            container=load_compute.task_container(self.checks, t, path, self.pool),
            required_slots=load_compute.required_slots(self.checks, t, path, self.pool),
        )

    def resource_files(self, items: list[Any], path: YamlPath) -> tuple[ResourceFileSpec, ...]:
        """`item` entries load as they are: whether the task has an item blob is a
        question about its step (`runner.load_steps`)."""
        out = []
        for i, rf in enumerate(items):
            p = (*path, i)
            if rf == "item":
                out.append(ResourceFileSpec(item=True))
                continue
            self._one_source(rf, p)
            container = (
                self.checks.container_ref(rf["container"], (*p, "container"))
                if "container" in rf
                else None
            )
            out.append(
                ResourceFileSpec(
                    container=container,
                    blob=rf.get("blob"),
                    prefix=rf.get("prefix"),
                    url=rf.get("url"),
                    path=rf.get("path"),
                    mode=rf.get("mode"),
                )
            )
        return tuple(out)

    def _one_source(self, rf: dict[str, Any], p: YamlPath) -> None:
        sources = [k for k in ("container", "url") if k in rf]
        if len(sources) != 1:
            self._problem_at(p, f"{dotted(p)}: give exactly one of container or url")
        if "url" in rf and ("blob" in rf or "prefix" in rf):
            self._problem_at(p, f"{dotted(p)}: blob and prefix go with container, not url")
        if "blob" in rf and "prefix" in rf:
            self.checks.problem(
                self.source.key((*p, "prefix")), f"{dotted(p)}: give blob or prefix, not both"
            )
        if "url" in rf and "path" not in rf:
            self._problem_at(p, f"{dotted(p)}: a url needs a path")

    def _problem_at(self, path: YamlPath, message: str) -> None:
        self.checks.problem(self.source.value(path), message)

    def outputs(self, items: list[dict[str, Any]], path: YamlPath) -> tuple[OutputSpec, ...]:
        return tuple(
            OutputSpec(
                pattern=o["pattern"],
                container=self.checks.container_ref(o["container"], (*path, i, "container")),
                path=o.get("path", ""),
                when=o.get("when", "success"),
            )
            for i, o in enumerate(items)
        )

    def for_each(self, fe: dict[str, Any], path: YamlPath, steps: bool) -> ForEachSpec | None:
        """The fan-out; None when it is not valid (the problem is reported). `steps`:
        whether `{step: NAME}` is allowed (in job.steps, not in job.tasks)."""
        kinds = [k for k in FAN_OUT_KINDS if k in fe]
        if len(kinds) != 1:
            allowed = FAN_OUT_KINDS if steps else FAN_OUT_KINDS[:-1]
            self.checks.problem(
                self.source.key(path),
                f"{dotted(path)}: give exactly one of {', '.join(allowed)}"
                + (f" (found {', '.join(kinds)})" if kinds else ""),
            )
            return None
        kind = kinds[0]
        if "pattern" in fe and kind != "container":
            self.checks.problem(
                self.source.key((*path, "pattern")), f"{dotted(path)}: pattern goes with container"
            )
        if kind == "step":
            if not steps:
                self._problem_at(
                    (*path, "step"),
                    f"{dotted(path)}.step: chains between steps are for job.steps",
                )
                return None
            return ForEachSpec(kind="step", step=fe["step"])
        if kind == "container":
            return ForEachSpec(
                kind="container",
                container=self.checks.container_ref(fe["container"], (*path, "container")),
                pattern=fe.get("pattern"),
            )
        return self._sweep(kind, fe, path)

    def _sweep(self, kind: str, fe: dict[str, Any], path: YamlPath) -> ForEachSpec:
        if kind == "values":
            self._fan_out_size(len(fe["values"]), (*path, "values"))
            return ForEachSpec(kind="values", values=tuple(fe["values"]))
        if kind == "range":
            r = fe["range"]
            start, stop, step = r.get("start", 0), r["stop"], r.get("step", 1)
            if not range(start, stop, step):
                self._problem_at((*path, "range"), f"{dotted(path)}.range: produces no items")
            self._fan_out_size(max(0, -((start - stop) // step)), (*path, "range"))
            return ForEachSpec(kind="range", range=(start, stop, step))
        self._fan_out_size(math.prod(len(v) for v in fe["matrix"].values()), (*path, "matrix"))
        return ForEachSpec(kind="matrix", matrix={k: tuple(v) for k, v in fe["matrix"].items()})

    def _fan_out_size(self, items: int, path: YamlPath) -> None:
        """Every item becomes a task in memory: a range of 10**12 would never finish."""
        if items > bounds.FAN_OUT_MAX:
            self._problem_at(
                path,
                f"{dotted(path)}: fans out to {items:,} items, more than the "
                f"{bounds.FAN_OUT_MAX:,} bwf accepts",
            )
