"""Loading the job's steps: `job.steps` (a DAG), or `job.tasks` + `job.merge` as sugar
for the two steps `tasks` and `merge`; then the checks on the graph, each located at
the key or value at fault:

- a step name that is not a step (with a "did you mean"), and a cycle (printed);
- a `{step: NAME}` chain from a step that is one task, so has no per-item task IDs;
- `item` in resource files of a step whose items are not blobs;
- `on_failure` on a step that waits on nothing, and dependency actions Batch cannot
  give: Batch sets the action on the task waited on (`exitConditions`), so every step
  waiting on one step must agree, and `run_anyway` cannot follow a step whose tasks
  block (Batch keeps a blocked task active for ever: what waits on it never runs).
"""

from __future__ import annotations

from typing import Any

from runner import stepgraph
from runner.load_tasks import Checks, TaskLoader
from runner.schema import did_you_mean, dotted
from runner.spec import ForEachSpec, StepSpec, YamlPath

SUGAR_TASKS = "tasks"  # the step names job.tasks and job.merge load as
SUGAR_MERGE = "merge"


class StepLoader:
    def __init__(self, checks: Checks, tasks: TaskLoader) -> None:
        self.checks = checks
        self.source = checks.source
        self.tasks = tasks
        self.invalid_fan_outs: set[str] = set()  # reported already: no further checks

    def problem(self, path: YamlPath, message: str, *, at_key: bool = False) -> None:
        loc = self.source.key(path) if at_key else self.source.value(path)
        self.checks.problem(loc, message)

    def steps(self, job: dict[str, Any]) -> tuple[StepSpec, ...]:
        """Every step, each after the steps it waits on."""
        if "steps" in job:
            if "tasks" in job or "merge" in job:
                extra = "tasks" if "tasks" in job else "merge"
                self.problem(
                    ("job", extra),
                    f"job.{extra}: give job.steps or job.tasks (with job.merge), not both",
                    at_key=True,
                )
            steps = [self._step(name, st) for name, st in job["steps"].items()]
        elif "tasks" in job:
            steps = self._sugar(job)
        else:
            self.problem(("job",), "job: missing required key 'steps' (or 'tasks')", at_key=True)
            return ()
        return self._checked(steps)

    def _sugar(self, job: dict[str, Any]) -> list[StepSpec]:
        t = job["tasks"]
        path: YamlPath = ("job", "tasks")
        steps = [
            StepSpec(
                name=SUGAR_TASKS,
                path=path,
                task=self.tasks.task(t, path, t["id"]),
                for_each=self._for_each(SUGAR_TASKS, t["for_each"], path, steps=False),
            )
        ]
        if "merge" in job:
            m = job["merge"]
            steps.append(
                StepSpec(
                    name=SUGAR_MERGE,
                    path=("job", "merge"),
                    task=self.tasks.task(m, ("job", "merge"), m["id"]),
                    needs=(SUGAR_TASKS,),
                    on_failure=m.get("on_failure", "block"),
                )
            )
        return steps

    def _step(self, name: str, st: dict[str, Any]) -> StepSpec:
        path: YamlPath = ("job", "steps", name)
        fe = None
        if "for_each" in st:
            fe = self._for_each(name, st["for_each"], path, steps=True)
        return StepSpec(
            name=name,
            path=path,
            task=self.tasks.task(st, path, st["id"]),
            for_each=fe,
            needs=tuple(dict.fromkeys(st.get("needs", ()))),
            on_failure=st.get("on_failure", "block"),
        )

    def _for_each(self, name: str, fe: dict[str, Any], path: YamlPath, steps: bool) -> ForEachSpec:
        loaded = self.tasks.for_each(fe, (*path, "for_each"), steps)
        if loaded is None:
            self.invalid_fan_outs.add(name)
            return ForEachSpec(kind="values", values=(None,))
        return loaded

    # --- the graph ---------------------------------------------------------------------

    def _checked(self, steps: list[StepSpec]) -> tuple[StepSpec, ...]:
        by_name = {s.name: s for s in steps}
        waits = {s.name: [w for w in s.waits_on if w in by_name] for s in steps}
        for s in steps:
            self._references(s, list(by_name))
        loop = stepgraph.cycle(waits)
        if loop is not None:
            path = self._reference_path(by_name[loop[0]], loop[1])
            self.problem(
                path,
                f"{dotted(path)}: the steps wait on each other in a cycle: "
                f"{stepgraph.arrows(loop)} (each waits on the next)",
            )
            return tuple(steps)
        ordered = tuple(by_name[n] for n in stepgraph.in_order(waits))
        for s in ordered:
            self._chain_source(s, by_name)
            self._item_files(s, by_name)
        self._dependency_actions(ordered, by_name, waits)
        return ordered

    def _references(self, s: StepSpec, known: list[str]) -> None:
        refs: list[tuple[str, YamlPath]] = []
        if s.chain is not None:
            refs.append((s.chain, (*s.path, "for_each", "step")))
        refs += [(n, (*s.path, "needs", i)) for i, n in enumerate(s.needs)]
        for ref, path in refs:
            if ref not in known:
                hint = did_you_mean(ref, known) or f" (steps: {', '.join(known)})"
                self.problem(path, f"{dotted(path)}: unknown step '{ref}'{hint}")

    def _reference_path(self, s: StepSpec, to: str) -> YamlPath:
        if s.chain == to:
            return (*s.path, "for_each", "step")
        return (*s.path, "needs", s.needs.index(to)) if to in s.needs else s.path

    def _chain_source(self, s: StepSpec, by_name: dict[str, StepSpec]) -> None:
        source = by_name.get(s.chain or "")
        if source is not None and source.for_each is None:
            path = (*s.path, "for_each", "step")
            self.problem(
                path,
                f"{dotted(path)}: step '{source.name}' is one task, with no task per item to "
                f"chain from; wait on it with needs: [{source.name}]",
            )

    def _item_files(self, s: StepSpec, by_name: dict[str, StepSpec]) -> None:
        """`item` is the item's own blob: the step's items must be blobs."""
        root = s
        while root.chain is not None and root.chain in by_name:
            root = by_name[root.chain]
        if root.name in self.invalid_fan_outs:
            return
        blobs = root.for_each is not None and root.for_each.kind == "container"
        for i, rf in enumerate(s.task.resource_files):
            if rf.item and not blobs:
                path = (*s.path, "resource_files", i)
                wanted = dotted((*root.path, "for_each", "container"))
                if root is not s:
                    wanted += f" (this step chains from '{root.name}')"
                self.problem(path, f"{dotted(path)}: 'item' needs {wanted}")

    def _dependency_actions(
        self,
        steps: tuple[StepSpec, ...],
        by_name: dict[str, StepSpec],
        waits: dict[str, list[str]],
    ) -> None:
        dependents = stepgraph.dependents(waits)
        for s in steps:
            if s.on_failure != "block" and not waits[s.name]:
                self.problem(
                    (*s.path, "on_failure"),
                    f"{dotted(s.path)}.on_failure: step '{s.name}' waits on no step",
                )
            actions = {by_name[d].on_failure for d in dependents[s.name]}
            if len(actions) > 1:
                blocking = next(d for d in dependents[s.name] if by_name[d].on_failure == "block")
                for d in dependents[s.name]:
                    if by_name[d].on_failure == "run_anyway":
                        self._disagree(by_name[d], s.name, blocking)
            if s.on_failure == "run_anyway":
                for w in waits[s.name]:
                    before = by_name[w]
                    if waits[w] and before.on_failure == "block":
                        self._after_blocking(s, before)

    def _disagree(self, s: StepSpec, waited: str, blocking: str) -> None:
        path = (*s.path, "on_failure")
        self.problem(
            path,
            f"{dotted(path)}: run_anyway, but step '{blocking}' also waits on '{waited}' and "
            f"blocks: Batch gives each task of '{waited}' one dependency action for all that "
            "wait on it, so they must agree",
        )

    def _after_blocking(self, s: StepSpec, before: StepSpec) -> None:
        path = (*s.path, "on_failure")
        self.problem(
            path,
            f"{dotted(path)}: run_anyway cannot follow step '{before.name}', whose tasks block "
            f"when a task they wait on fails (Batch keeps them waiting for ever, so "
            f"'{s.name}' would never run); give '{before.name}' on_failure: run_anyway too",
        )
