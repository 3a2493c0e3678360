"""The job's steps, rendered in dependency order into `DesiredStep`s.

- A fan-out step renders its template once per item; a `{step: NAME}` chain once per
  task of that step, with the same item, each task waiting on its own upstream task
  (`dependsOn.taskIds` of one ID); a step without `for_each` is one task.
- `needs` makes every task of a step wait on every task of the steps needed. When
  their IDs do not fit in one dependency list (Batch's 64,000 characters), the step
  gets barrier tasks (`<step or task id>-barrier-N`, running `true`), each waiting on a
  slice that fits, and its tasks wait on the barriers: 100,000 IDs of 12 characters
  make about 20 barriers.
- Templates see `item`, `index`, `vars` as for any task, `task.id` (the task's own ID,
  once rendered), `upstream` (`id`, `item`) in a chain, and `steps.<name>.items` and
  `.task_ids` of every step upstream; a one-task step needing one step also sees
  them as `items` and `task_ids` (as `job.merge` always has).
- Batch decides on the task waited on what happens to its dependents when it fails
  (`exitConditions`): a step's tasks satisfy their dependents when every step waiting
  on it says `on_failure: run_anyway` (the loader made sure they agree).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runner import bounds, forked, limits, names, shell, stepgraph
from runner.render import fingerprints
from runner.render.fingerprints import Uploads
from runner.render.ids import Owner, StepIds
from runner.render.items import Item, items
from runner.render.renderer import Renderer
from runner.render.tasks import Dependencies, TaskTemplate
from runner.schema import dotted
from runner.spec import StepSpec
from runner.state import DesiredStep, DesiredTask, Upload

UPSTREAM = "upstream"


class _Unclean(Exception):
    """A forked child's part of a step is not clean: this process renders it again."""


@dataclass
class _Rendered:
    """A step as the steps after it see it: its tasks with their items."""

    step: DesiredStep
    items: list[Item]  # aligned with step.tasks


@dataclass(frozen=True)
class _Needs:
    """What every task of a step waits on through `needs`."""

    depends_on: tuple[str, ...] = ()  # the tasks needed, or the barriers standing for them
    barriers: tuple[DesiredTask, ...] = ()
    fingerprint: str | None = None  # of every task needed


class StepsRenderer:
    def __init__(
        self, r: Renderer, uploads: Mapping[str, tuple[Upload, ...]], md5s: Uploads
    ) -> None:
        self.r = r
        self.uploads = uploads
        self.md5s = md5s
        self.specs = {s.name: s for s in r.spec.job.steps}
        self.waits = {s.name: s.waits_on for s in r.spec.job.steps}
        self.dependents = stepgraph.dependents(self.waits)
        self.done: dict[str, _Rendered] = {}
        self.owners: dict[str, Owner] = {}  # every task ID so far (runner.render.ids)

    def render(self) -> tuple[DesiredStep, ...]:
        for spec in self.r.spec.job.steps:
            self.done[spec.name] = self._step(spec)
        return tuple(d.step for d in self.done.values())

    def _step(self, spec: StepSpec) -> _Rendered:
        template = TaskTemplate(
            self.r, spec.task, spec.path, self.md5s, item_container=self._item_container(spec)
        )
        if spec.chain is None:
            self._no_upstream(template)
        ids = StepIds(self.r, spec, self.owners)
        if spec.for_each is None:
            rendered = self._single(spec, template, ids)
        else:
            rendered = self._fan_out(spec, template, ids)
        ids.report()
        return rendered

    def _single(self, spec: StepSpec, template: TaskTemplate, ids: StepIds) -> _Rendered:
        context = {**self._context(spec), "item": None, "index": None}
        task_id = self.r.render(template.id, context)
        tasks: tuple[DesiredTask, ...] = ()
        needs = _Needs()
        if task_id is not None and ids.check(task_id, ""):
            needs = self._needs(spec, task_id, ids)
            context["task"] = {"id": task_id}
            deps = Dependencies(needs.depends_on, _present(needs.fingerprint), self._action(spec))
            task = template.build(task_id, context, deps=deps)
            tasks = (task,) if task is not None else ()
        step = self._desired(spec, tasks, needs.barriers)
        return _Rendered(step, [Item(None, "")] * len(tasks))

    def _fan_out(self, spec: StepSpec, template: TaskTemplate, ids: StepIds) -> _Rendered:
        base = self._context(spec)
        needs = self._needs(spec, spec.name, ids)
        action = self._action(spec)
        shared = Dependencies(needs.depends_on, _present(needs.fingerprint), action)
        pairs = list(self._items(spec))

        def render_part(start: int, end: int, tasks: list[DesiredTask], kept: list[Item]) -> None:
            """The tasks of items `start` to `end` (excluded), appended to `tasks`, their
            items to `kept`."""
            for index in range(start, end):
                item, upstream = pairs[index]
                context = {**base, "item": item.value, "index": index}
                deps = shared  # the same for every task of a step that does not chain
                if upstream is not None:
                    context[UPSTREAM] = {"id": upstream.id, "item": item.value}
                    deps = Dependencies(
                        (upstream.id, *shared.depends_on),
                        (upstream.fingerprint, *shared.upstream),
                        action,
                    )
                task_id = self.r.render(template.id, context, item.label)
                if task_id is None or not ids.check(task_id, item.label):
                    continue
                context["task"] = {"id": task_id}
                t = template.build(
                    task_id, context, item=item.value, item_index=index, what=item.label, deps=deps
                )
                if t is not None:
                    tasks.append(t)
                    kept.append(item)

        tasks: list[DesiredTask] = []
        kept: list[Item] = []
        # a spec with problems already is rendered on, for its problems only: in one process
        split = None if self.r.problems else forked.split_point(len(pairs))
        if split is None:
            render_part(0, len(pairs), tasks, kept)
        else:
            self._render_split(spec, ids, pairs, split, render_part, tasks, kept)
        return _Rendered(self._desired(spec, tuple(tasks), needs.barriers), kept)

    def _render_split(
        self,
        spec: StepSpec,
        ids: StepIds,
        pairs: list[tuple[Item, DesiredTask | None]],
        split: int,
        render_part: Callable[[int, int, list[DesiredTask], list[Item]], None],
        tasks: list[DesiredTask],
        kept: list[Item],
    ) -> None:
        """`render_part` over all the items, those from `split` on by a forked child
        (`runner.forked`) while this process renders the others. The child's
        tasks are taken only when both parts are clean (no problem, every task made, the
        bounds of the whole spec kept once both are counted; Batch's limits are measured
        on every task afterwards, as for one process);
        otherwise this process renders the child's part itself, as one process does."""
        r = self.r
        end = len(pairs)

        def child_part() -> tuple[list[DesiredTask], int, int]:
            problems, reported, bad = len(r.problems), len(r.reported), ids.bad
            renders, chars = r.renders, r.rendered_chars
            part: list[DesiredTask] = []
            render_part(split, end, part, [])
            if len(r.problems) != problems or len(r.reported) != reported or ids.bad != bad:
                raise _Unclean
            if len(part) != end - split:
                raise _Unclean
            return part, r.renders - renders, r.rendered_chars - chars

        child = forked.Child(
            child_part, f"rendering tasks {split + 1} to {end} of step '{spec.name}'"
        )
        try:
            problems = len(r.problems)
            render_part(0, split, tasks, kept)
            clean = len(r.problems) == problems and len(tasks) == split
            got: tuple[bool, Any] = child.result() if clean else (False, None)
        finally:
            child.cancel()  # nothing to do once its result is read
        answered, result = got
        if answered:
            part, renders, chars = result
            answered = r.rendered_chars + chars <= bounds.RENDERED_CHARS_MAX
        if not answered:
            render_part(split, end, tasks, kept)
            return
        r.renders += renders
        r.rendered_chars += chars
        ids.take_checked(
            [(t.id, item.label) for t, (item, _) in zip(part, pairs[split:], strict=True)]
        )
        tasks += part
        kept += [item for item, _ in pairs[split:]]

    def _items(self, spec: StepSpec) -> Iterator[tuple[Item, DesiredTask | None]]:
        """The step's items, each with the upstream task it chains from (if any)."""
        if spec.chain is None:
            for item in items(self.r, spec, self.uploads):
                yield item, None
            return
        upstream = self.done[spec.chain]
        yield from zip(upstream.items, upstream.step.tasks, strict=True)

    def _context(self, spec: StepSpec) -> dict[str, Any]:
        """What every task of the step sees besides its item: the steps upstream."""
        above = stepgraph.upstream_of(spec.name, self.waits)
        steps = {
            name: {
                "items": [i.value for i in done.items],
                "task_ids": [t.id for t in done.step.tasks],
            }
            for name, done in self.done.items()
            if name in above
        }
        context = {**self.r.base_context, "steps": steps}
        if spec.for_each is None and len(spec.needs) == 1:
            context.update(steps[spec.needs[0]])
        return context

    def _needs(self, spec: StepSpec, barrier_prefix: str, ids: StepIds) -> _Needs:
        needed = [t for name in spec.needs for t in self.done[name].step.tasks]
        if not needed:
            return _Needs()
        fingerprint = fingerprints.of_all(needed)
        # a chained task also waits on its own upstream task: leave room for its ID
        room = limits.DEPENDS_ON_MAX_CHARS - (names.BATCH_ID_MAX if spec.chain else 0)
        groups = list(_chunks_by_chars(needed, room))
        if len(groups) <= 1:
            return _Needs(tuple(t.id for t in needed), (), fingerprint)
        barriers = tuple(
            _barrier(f"{barrier_prefix}-barrier-{i}", group, spec.name)
            for i, group in enumerate(groups)
        )
        for b in barriers:
            ids.check_barrier(b.id)
        return _Needs(tuple(b.id for b in barriers), barriers, fingerprint)

    def _action(self, spec: StepSpec) -> Literal["block", "satisfy"]:
        """Batch's dependency action for this step's tasks: what their dependents do when
        one fails."""
        waiting = [self.specs[d].on_failure for d in self.dependents.get(spec.name, ())]
        return "satisfy" if waiting and all(w == "run_anyway" for w in waiting) else "block"

    def _item_container(self, spec: StepSpec) -> str | None:
        """The container whose blobs the step's items are, through chains."""
        root = spec
        while root.chain is not None:
            root = self.specs[root.chain]
        fe = root.for_each
        return fe.container if fe is not None and fe.kind == "container" else None

    def _no_upstream(self, template: TaskTemplate) -> None:
        for t in template.all_templates():
            if self.r.uses(t, UPSTREAM):
                self.r.problem_once(
                    t.path,
                    f"{dotted(t.path)}: '{UPSTREAM}' is only defined in a step that chains "
                    "from another (for_each: {step: NAME})",
                )

    def _desired(
        self, spec: StepSpec, tasks: tuple[DesiredTask, ...], barriers: tuple[DesiredTask, ...]
    ) -> DesiredStep:
        fe = spec.for_each
        over = ""
        if fe is not None:
            over = fe.container or fe.step or ", ".join(fe.matrix)
        return DesiredStep(
            name=spec.name,
            fan_out=fe.kind if fe is not None else "single",
            tasks=tasks,
            over=over,
            chain=spec.chain,
            needs=spec.needs,
            on_failure=spec.on_failure,
            barriers=barriers,
        )


def _present(fingerprint: str | None) -> tuple[str, ...]:
    return (fingerprint,) if fingerprint is not None else ()


def _barrier(task_id: str, group: list[DesiredTask], step: str) -> DesiredTask:
    t = DesiredTask(
        id=task_id,
        command_line=shell.wrap(["true"]),
        depends_on=tuple(x.id for x in group),
        display=f"waits on {len(group)} tasks for step {step}",
    )
    # a barrier runs again whenever one of the tasks it waits on does
    return fingerprints.fingerprinted(t, (fingerprints.of_all(group),))


def _chunks_by_chars(tasks: list[DesiredTask], limit: int) -> Iterator[list[DesiredTask]]:
    chunk: list[DesiredTask] = []
    size = 0
    for t in tasks:
        if chunk and size + len(t.id) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(t)
        size += len(t.id)
    if chunk:
        yield chunk
