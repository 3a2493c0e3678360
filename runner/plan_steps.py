"""The tasks of the plan, step by step: one `TasksAction` per step, change and reason
(barrier tasks in groups of their own), and a `StepPlan` per step saying what it fans
out over, what it waits on and how many of its tasks run. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from runner import shell
from runner.actions import Action, Change, CommandSample, TasksAction
from runner.compute import TaskContainer
from runner.plan_tasks import TaskPlan
from runner.state import Desired, DesiredStep, DesiredTask, FanOut

SAMPLE_COMMANDS = 3
_CHANGE_ORDER: tuple[Change, ...] = ("delete", "create", "replace", "update", "noop")
RUNS: tuple[Change, ...] = ("create", "replace")


@dataclass(frozen=True)
class StepPlan:
    """One step as the plan shows it: its shape, what it waits on, what of it runs."""

    name: str
    fan_out: FanOut  # container, values, range, matrix, step (a chain), single (one task)
    over: str  # the container, the matrix's names, or the step chained from
    tasks: int
    chain: str | None  # each task waits on its own task of this step
    needs: tuple[str, ...]  # each task waits on every task of these steps
    on_failure: str
    barriers: int  # tasks standing for `needs` in its dependency lists
    to_run: int
    depends: int  # dependencies of the tasks that run, in all
    waits_on: int  # of those, the ones the job holds (the others are done earlier)
    container: TaskContainer | None = None  # the container its tasks run in
    required_slots: int = 1  # slots each of its tasks takes on its node


def task_actions(desired: Desired, tp: TaskPlan) -> list[Action]:
    actions: list[Action] = []
    job = desired.job.id
    if tp.removed:
        actions.append(
            TasksAction(
                id=job,
                change="delete",
                reason="not in the spec",
                step=None,
                count=len(tp.removed),
                ids=tuple(tp.removed),
                sample=(),
            )
        )
    for step in desired.job.steps:
        actions += _grouped(job, step.name, step.barriers, tp, barriers=True)
        actions += _grouped(job, step.name, step.tasks, tp, barriers=False)
    return actions


def _grouped(
    job: str, step: str, tasks: tuple[DesiredTask, ...], tp: TaskPlan, barriers: bool
) -> list[Action]:
    groups: dict[tuple[Change, str], list[DesiredTask]] = {}
    for t in tasks:
        groups.setdefault(tp.status[t.id], []).append(t)
    return [
        TasksAction(
            id=job,
            change=change,
            reason=reason,
            step=step,
            barriers=barriers,
            count=len(group),
            ids=tuple(t.id for t in group),
            sample=tuple(
                CommandSample(t.id, shell.unwrap(t.command_line)) for t in group[:SAMPLE_COMMANDS]
            ),
        )
        for (change, reason), group in sorted(
            groups.items(), key=lambda kv: _CHANGE_ORDER.index(kv[0][0])
        )
    ]


def step_plans(desired: Desired, tp: TaskPlan) -> tuple[StepPlan, ...]:
    in_job = tp.in_job()
    return tuple(_step_plan(step, tp, in_job) for step in desired.job.steps)


def _step_plan(step: DesiredStep, tp: TaskPlan, in_job: set[str]) -> StepPlan:
    running = [t for t in step.tasks if tp.status[t.id][0] in RUNS]
    return StepPlan(
        name=step.name,
        fan_out=step.fan_out,
        over=step.over,
        tasks=len(step.tasks),
        chain=step.chain,
        needs=step.needs,
        on_failure=step.on_failure,
        barriers=len(step.barriers),
        to_run=len(running),
        depends=sum(len(t.depends_on) for t in running),
        waits_on=sum(1 for t in running for d in t.depends_on if d in in_job),
        container=step.tasks[0].container if step.tasks else None,
        required_slots=step.tasks[0].required_slots if step.tasks else 1,
    )
