"""Rendered task IDs, and the IDs of barrier tasks: valid Batch IDs, and unique ignoring
case across the whole job (Batch compares task IDs case-insensitively), within a step
and across steps.

Problems are summed up per step at its `id` key: the first invalid ID with how many
items have one, the first invalid barrier task ID, and the first few collisions with
the items that collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner import names
from runner.render.renderer import Renderer
from runner.schema import dotted
from runner.spec import StepSpec, YamlPath

COLLISIONS_SHOWN = 5
BARRIER = "a barrier task"  # what a barrier is called where an item's label would be


@dataclass(frozen=True)
class Owner:
    """The step (and item) that rendered an ID, or the step a barrier task belongs to."""

    step: str
    label: str
    barrier: bool = False

    def this(self, task_id: str) -> str:
        """The ID as the step that has it names it."""
        if self.barrier:
            return f"barrier task ID '{task_id}'"
        return f"task ID '{task_id}'" + (f" for {self.label}" if self.label else "")

    def theirs(self) -> str:
        """What the ID already is, in the step that had it first."""
        if self.barrier:
            return f"is also a barrier task of step '{self.step}'"
        return f"is also rendered by step '{self.step}'" + (
            f" for {self.label}" if self.label else ""
        )


@dataclass
class StepIds:
    """The IDs of one step as they are rendered, and of its barrier tasks; `report` once
    the step is done."""

    r: Renderer
    step: StepSpec
    owners: dict[str, Owner]  # every ID of the job so far, lowercased
    items: int = 0
    bad: int = 0
    first_bad: str | None = None
    barriers: int = 0
    bad_barrier: str | None = None
    mine: dict[str, list[str]] = field(default_factory=dict)  # lowercased ID -> labels
    elsewhere: list[tuple[str, Owner, Owner]] = field(default_factory=list)

    def check(self, task_id: str, label: str) -> bool:
        """Whether a rendered ID is valid; a collision is noted (and reported) but not
        refused."""
        self.items += 1
        if reason := names.check_batch_id(task_id):
            self.bad += 1
            if self.first_bad is None:
                item = f" for {label!r}" if label else ""
                self.first_bad = f"rendered task ID {task_id!r}{item} is not valid: {reason}"
            return False
        self._take(task_id, Owner(self.step.name, label))
        return True

    def take_checked(self, checked: list[tuple[str, str]]) -> None:
        """(ID, item label) of tasks whose IDs were checked valid elsewhere (a forked
        child, `runner.forked`), in item order: counted and taken as `check`
        does."""
        self.items += len(checked)
        step = self.step.name
        for task_id, label in checked:
            self._take(task_id, Owner(step, label))

    def check_barrier(self, task_id: str) -> bool:
        """Whether a barrier task's ID (named after the step or its task) is valid: it is
        a task of the job like any other, so a Batch ID unique ignoring case."""
        self.barriers += 1
        if reason := names.check_batch_id(task_id):
            if self.bad_barrier is None:
                self.bad_barrier = f"barrier task ID {task_id!r} is not valid: {reason}"
            return False
        self._take(task_id, Owner(self.step.name, BARRIER, barrier=True))
        return True

    def _take(self, task_id: str, this: Owner) -> None:
        key = task_id.lower()
        owner = self.owners.get(key)
        if owner is not None and owner.step != self.step.name:
            self.elsewhere.append((task_id, this, owner))
        else:
            self.mine.setdefault(key, []).append(this.label)
            self.owners.setdefault(key, this)

    def report(self) -> None:
        path = (*self.step.path, "id")
        where = dotted(path)
        if self.first_bad is not None:
            hint = (
                ""
                if "batch_id" in self.step.task.id
                else "; the batch_id filter makes any text a valid ID"
            )
            counted = (
                f" ({self.bad} of {self.items} items{hint})"
                if self.step.for_each is not None
                else ""
            )
            self.r.problem(path, f"{where}: {self.first_bad}{counted}")
        if self.bad_barrier is not None:
            self.r.problem(
                path,
                f"{where}: the step waits on {self.barriers} barrier tasks, and {self.bad_barrier}",
            )
        self._report_collisions(path, where)

    def _report_collisions(self, path: YamlPath, where: str) -> None:
        collisions = [(tid, labels) for tid, labels in self.mine.items() if len(labels) > 1]
        for tid, labels in collisions[:COLLISIONS_SHOWN]:
            shown = ", ".join(labels[:5]) + (
                f" and {len(labels) - 5} more" if len(labels) > 5 else ""
            )
            self.r.problem(
                path,
                f"{where}: task ID '{tid}' is rendered for {len(labels)} items: {shown} "
                "(IDs are case-insensitive)",
            )
        if len(collisions) > COLLISIONS_SHOWN:
            self.r.problem(path, f"{where}: {len(collisions)} task IDs collide in all")
        for task_id, this, owner in self.elsewhere[:COLLISIONS_SHOWN]:
            self.r.problem(
                path,
                f"{where}: {this.this(task_id)} {owner.theirs()} (IDs are case-insensitive)",
            )
        if len(self.elsewhere) > COLLISIONS_SHOWN:
            self.r.problem(
                path, f"{where}: {len(self.elsewhere)} task IDs are also IDs of other steps"
            )
