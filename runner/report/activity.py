"""Timeline rows that are not nodes: one per step (how many of its tasks ran at each
moment, in the step's colour) and the pool's size over time."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from runner.report.figures import last_executions
from runner.report.frame import WIDTH, Frame, step_of
from runner.report.legend import label
from runner.report.model import RunData, TaskExecution
from runner.report.svg import RESULT_LABELS, esc, fmt_seconds, num, plural

_STEP_ROW = 36
_POOL_ROW = 46
_DEDICATED_COLOUR = "#4e79a7"
_SPOT_COLOUR = "#a0cbe8"


def step_rows(frame: Frame, run: RunData, top: float) -> tuple[list[str], float]:
    """A row per step, from `top`: how many of its executions were running over time
    (its barrier tasks, which stand for what it waits on, counted apart). Returns the
    parts and their height."""
    if not frame.step_colours:
        return [], 0.0
    by_step: dict[str, list[TaskExecution]] = {name: [] for name in frame.step_colours}
    barriers: Counter[str] = Counter()
    for e in run.executions:
        if e.barrier:
            barriers[step_of(e.step)] += 1
        else:
            by_step[step_of(e.step)].append(e)
    parts = ['<g class="steps">']
    for index, (name, executions) in enumerate(by_step.items()):
        y = top + index * _STEP_ROW
        parts += _step_row(frame, name, executions, barriers[name], y)
    parts.append("</g>")
    return parts, float(len(by_step) * _STEP_ROW)


def _step_row(
    frame: Frame, name: str, executions: list[TaskExecution], barriers: int, y: float
) -> list[str]:
    events = []
    for e in executions:
        if e.started is not None:
            events.append((frame.offset(e.started), 1))
            events.append((frame.offset(e.ended) if e.ended else frame.end_offset, -1))
    peak = _peak(events)
    finals = last_executions(executions)
    results = Counter(e.result for e in finals.values())
    durations = [e.duration for e in executions if e.duration is not None]
    hover = f"step {name}: {plural(len(finals), 'task')}, " + ", ".join(
        f"{count} {RESULT_LABELS[result]}"
        for result, count in sorted(results.items(), key=lambda r: r[0].value)
    )
    if durations:
        hover += f"\nmedian duration {fmt_seconds(statistics.median(durations))}"
    if barriers:
        hover += f"\nwaited on what it needs through {plural(barriers, 'barrier task')}"
    colour = frame.step_colours[name]
    base = y + _STEP_ROW - 5
    parts = [f'<g class="step-row" data-step="{esc(name)}">']
    parts += label(
        y, _STEP_ROW, name, f"{plural(len(finals), 'task')} \u00b7 at most {peak} at once", hover
    )
    if peak:
        path = _step_path(frame, events, base, (_STEP_ROW - 10) / peak)
        parts.append(
            f'<path class="activity" d="{path}" fill="{colour}"><title>{esc(hover)}</title></path>'
        )
    parts.append(
        f'<line class="row-rule" x1="0" y1="{num(y + _STEP_ROW)}" x2="{WIDTH}" y2="{num(y + _STEP_ROW)}"/>'
    )
    parts.append("</g>")
    return parts


def pool_rows(frame: Frame, run: RunData, top: float) -> tuple[list[str], float]:
    """The pool's dedicated and spot node counts over time, stacked, from `top`."""
    samples = sorted(run.pool_sizes, key=lambda s: s.at)
    if not samples:
        return [], 0.0
    peak = max(s.dedicated + s.spot for s in samples)
    top_dedicated = max(s.dedicated for s in samples)
    top_spot = max(s.spot for s in samples)
    hover = f"pool size: at most {peak} nodes ({top_dedicated} dedicated, {top_spot} spot)"
    parts = ['<g class="pool-row">']
    parts += label(top, _POOL_ROW, "pool size", f"up to {plural(peak, 'node')}", hover)
    if peak:
        unit = (_POOL_ROW - 10) / peak
        base = top + _POOL_ROW - 5
        total = _levels(frame, ((s.at, s.dedicated + s.spot) for s in samples))
        dedicated = _levels(frame, ((s.at, s.dedicated) for s in samples))
        parts.append(
            f'<path d="{_level_path(frame, total, base, unit)}" fill="{_SPOT_COLOUR}">'
            f"<title>{esc(hover)}</title></path>"
        )
        parts.append(
            f'<path d="{_level_path(frame, dedicated, base, unit)}" fill="{_DEDICATED_COLOUR}">'
            f"<title>{esc(hover)}</title></path>"
        )
    parts.append("</g>")
    return parts, float(_POOL_ROW)


def _peak(events: list[tuple[float, int]]) -> int:
    level = peak = 0
    for _, delta in sorted(events, key=lambda ev: (ev[0], ev[1])):
        level += delta
        peak = max(peak, level)
    return peak


def _step_path(frame: Frame, events: list[tuple[float, int]], base: float, unit: float) -> str:
    """A closed step-shaped path: the running count over time, from `base` upwards."""
    levels: list[tuple[float, int]] = []
    level = 0
    for offset, delta in sorted(events, key=lambda ev: (ev[0], ev[1])):
        level += delta
        if levels and levels[-1][0] == offset:
            levels[-1] = (offset, level)
        else:
            levels.append((offset, level))
    return _level_path(frame, levels, base, unit)


def _levels(frame: Frame, samples: Iterable[tuple[datetime, int]]) -> list[tuple[float, int]]:
    return [(frame.offset(at), value) for at, value in samples]


def _level_path(frame: Frame, levels: list[tuple[float, int]], base: float, unit: float) -> str:
    """Each level holds from its time to the next one's (the last to the run's end)."""
    if not levels:
        return ""
    commands = [f"M{num(frame.scale.x(levels[0][0]))} {num(base)}"]
    for offset, value in levels:
        commands.append(f"H{num(frame.scale.x(offset))}V{num(base - value * unit)}")
    commands.append(f"H{num(frame.scale.x(max(levels[-1][0], frame.end_offset)))}V{num(base)}Z")
    return "".join(commands)
