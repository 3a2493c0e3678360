"""Rendered task IDs: valid Batch IDs, and unique ignoring case across the whole job
(Batch compares task IDs case-insensitively), within a step and across steps.

Problems are summed up per step at its `id` key: the first invalid ID with how many
items have one, and the first few collisions with the items that collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner import names
from runner.render.renderer import Renderer
from runner.schema import dotted
from runner.spec import StepSpec

COLLISIONS_SHOWN = 5
BARRIER = "a barrier task"  # what a barrier is called where an item's label would be


@dataclass
class Owner:
    """The step (and item) that first rendered an ID."""

    step: str
    label: str


@dataclass
class StepIds:
    """The IDs of one step as they are rendered; `report` once the step is done."""

    r: Renderer
    step: StepSpec
    owners: dict[str, Owner]  # every ID of the job so far, lowercased
    items: int = 0
    bad: int = 0
    first_bad: str | None = None
    mine: dict[str, list[str]] = field(default_factory=dict)  # lowercased ID -> labels
    elsewhere: list[tuple[str, str, Owner]] = field(default_factory=list)

    def check(self, task_id: str, label: str) -> bool:
        """Whether the ID is valid; a collision is noted (and reported) but not refused."""
        self.items += 1
        if reason := names.check_batch_id(task_id):
            self.bad += 1
            if self.first_bad is None:
                item = f" for {label!r}" if label and label != BARRIER else ""
                self.first_bad = f"rendered task ID {task_id!r}{item} is not valid: {reason}"
            return False
        key = task_id.lower()
        owner = self.owners.get(key)
        if owner is not None and owner.step != self.step.name:
            self.elsewhere.append((task_id, label, owner))
        else:
            self.mine.setdefault(key, []).append(label)
            self.owners.setdefault(key, Owner(self.step.name, label))
        return True

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
        for task_id, label, owner in self.elsewhere[:COLLISIONS_SHOWN]:
            this = f" for {label}" if label else ""
            theirs = f" for {owner.label}" if owner.label else ""
            self.r.problem(
                path,
                f"{where}: task ID '{task_id}'{this} is also rendered by step '{owner.step}'"
                f"{theirs} (IDs are case-insensitive)",
            )
        if len(self.elsewhere) > COLLISIONS_SHOWN:
            self.r.problem(
                path, f"{where}: {len(self.elsewhere)} task IDs are also IDs of other steps"
            )
