"""The tasks of a plan for humans, one block per step: its task count, what it fans
out over and what it waits on (`per item of simulate`, `after all of analyse`), then
what of it runs and why, with the first rendered commands."""

from __future__ import annotations

from runner.actions import MARKERS, TasksAction
from runner.plan import Plan
from runner.plan_steps import StepPlan
from runner.terminal import escape
from runner.words import plural

INDENT = " " * 17


def _shape(s: StepPlan) -> str:
    """What the step fans out over."""
    if s.fan_out == "container":
        return f"one per blob of {s.over}"
    if s.fan_out == "values":
        return "one per value"
    if s.fan_out == "range":
        return "one per number of the range"
    if s.fan_out == "matrix":
        return f"one per combination of {s.over}"
    if s.fan_out == "step":
        return f"per item of {s.chain}"
    return ""


def _waits(s: StepPlan) -> str:
    """What the step waits on besides its chain, and how much of it is in the job."""
    parts = []
    if s.needs:
        each = "each " if s.fan_out != "single" else ""
        through = f" through {plural(s.barriers, 'barrier task')}" if s.barriers else ""
        parts.append(f"{each}after all of {', '.join(s.needs)}{through}")
    if s.to_run and s.waits_on < s.depends:
        if s.fan_out == "single":
            parts.append(f"waiting on the {s.waits_on} in the job (the others are done)")
        else:
            parts.append(
                f"waiting on the {s.waits_on} of their {s.depends} dependencies in the job "
                "(the others are done)"
            )
    return ", ".join(parts)


def _compute(s: StepPlan) -> str:
    """Where each task runs: its container image and options, the slots it takes."""
    parts = []
    c = s.container
    if c is not None:
        where = f"in container {escape(c.image)}"
        if c.options:
            where += f" (options: {escape(c.options)})"
        if c.workdir == "image":
            where += " in the image's working directory"
        parts.append(where)
    if s.required_slots != 1:
        parts.append(f"{s.required_slots} slots each")
    return ", ".join(parts)


def header(s: StepPlan) -> str:
    text = f"      step {escape(s.name)}: {plural(s.tasks, 'task')}"
    for part in (_shape(s), _waits(s), _compute(s)):
        if part:
            text += f", {part}"
    if s.chain or s.needs:
        text += f" (on_failure: {s.on_failure})"
    return text


def group(a: TasksAction) -> list[str]:
    m = MARKERS[a.change]
    if a.change == "noop":
        return [f"  {m:>3}   {plural(a.count, 'task')}  {a.reason}"]
    why = f"  ({a.reason})" if a.reason and (a.change != "create" or a.reason != "missing") else ""
    lines = [f"  {m:>3}   {plural(a.count, 'task')}{why}"]
    for sample in a.sample:
        lines.append(f"{INDENT}{escape(sample.id)}: {escape(sample.command)}")
    if a.count > len(a.sample):
        lines.append(f"{INDENT}... and {a.count - len(a.sample)} more")
    return lines


def step_lines(plan: Plan) -> list[str]:
    """The blocks of every step, and the tasks the spec no longer has."""
    by_step: dict[str | None, list[TasksAction]] = {}
    for a in plan.of(TasksAction):
        if not a.barriers:
            by_step.setdefault(a.step, []).append(a)
    lines = []
    for a in by_step.get(None, []):
        lines.append(
            f"  {MARKERS[a.change]:>3} {plural(a.count, 'task')} in {escape(a.id)}  ({a.reason})"
        )
    for s in plan.steps:
        lines.append(header(s))
        for a in by_step.get(s.name, []):
            lines += group(a)
    return lines
