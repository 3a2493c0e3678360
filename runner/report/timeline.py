"""The Gantt timeline: one row per node with a bar per task execution, coloured by
result, the node's life drawn behind its bars; a row for executions that never ran;
then the per-step activity rows and the pool's size (runner/report/activity.py)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.report.activity import pool_rows, step_rows
from runner.report.figures import busy_slot_seconds, state_spans, usable_intervals
from runner.report.frame import WIDTH, Frame, frame_for, step_of
from runner.report.legend import PATTERNS, axis, label, legend
from runner.report.model import (
    UNBILLED_NODE_STATES,
    USABLE_NODE_STATES,
    NodeSpan,
    Result,
    RunData,
    TaskExecution,
)
from runner.report.svg import (
    RESULT_COLOURS,
    RESULT_LABELS,
    esc,
    fmt_offset,
    fmt_seconds,
    num,
    pack_lanes,
    shorten,
)

_ROW_PAD = 6
_ROW_MIN = 34
_ROW_MAX = 96  # a node with many slots gets thinner lanes, not a taller row
_LANE_GAP = 2
_NOT_RUN_LANES = 4
_COMMAND_CHARS = 80
_SECTION_GAP = 16


@dataclass(frozen=True)
class _Row:
    """A row of bars: one node's, or (node_id None) the executions that never ran."""

    node_id: str | None
    node: NodeSpan | None
    executions: tuple[TaskExecution, ...]


def timeline_svg(run: RunData) -> str:
    """The whole timeline as one `<svg>` element."""
    frame = frame_for(run)
    legend_parts, y = legend(frame, any(e.result is Result.RUNNING for e in run.executions))
    axis_top = y + 18
    y = axis_top + 6
    rows: list[str] = []
    stripes: list[str] = []
    for index, row in enumerate(_rows(run)):
        parts, height = _row(frame, run, row, y)
        if index % 2 == 0:
            stripes.append(
                f'<rect class="stripe" x="0" y="{num(y)}" width="{WIDTH}" height="{num(height)}"/>'
            )
        rows += parts
        y += height
    for section in (step_rows, pool_rows):
        parts, height = section(frame, run, y + _SECTION_GAP)
        if height:
            rows += parts
            y += _SECTION_GAP + height
    return "\n".join(
        [
            f'<svg class="timeline" viewBox="0 0 {WIDTH} {num(y + 26)}" role="img" '
            f'aria-label="Timeline of the run: task executions per node">',
            PATTERNS,
            *legend_parts,
            *stripes,
            *axis(frame, axis_top, y),
            *rows,
            "</svg>",
        ]
    )


def _rows(run: RunData) -> list[_Row]:
    """Node rows in the order the nodes joined, then nodes known only from executions,
    then the row of executions that never ran on a node (when there are any)."""
    by_node: dict[str, list[TaskExecution]] = {}
    never: list[TaskExecution] = []
    for e in run.executions:
        if e.node_id is None or e.started is None:
            never.append(e)
        else:
            by_node.setdefault(e.node_id, []).append(e)
    nodes = sorted(run.nodes, key=lambda n: (n.added, n.node_id))
    rows = [_Row(n.node_id, n, tuple(by_node.pop(n.node_id, []))) for n in nodes]
    rows += [_Row(node_id, None, tuple(by_node[node_id])) for node_id in sorted(by_node)]
    if never:
        rows.append(_Row(None, None, tuple(never)))
    return rows


def _row(frame: Frame, run: RunData, row: _Row, y: float) -> tuple[list[str], float]:
    spans = [_interval(frame, e) for e in row.executions]
    most = run.slots_per_node if row.node_id is not None else _NOT_RUN_LANES
    lanes, used = pack_lanes(spans, lambda span: span, most)
    lane_height = min(16.0, (_ROW_MAX - 2 * _ROW_PAD) / max(1, used) - _LANE_GAP)
    height = max(_ROW_MIN, 2 * _ROW_PAD + used * (lane_height + _LANE_GAP) - _LANE_GAP)
    top = y + (height - used * (lane_height + _LANE_GAP) + _LANE_GAP) / 2
    if row.node_id is None:
        parts = ['<g class="row not-run">']
        parts += label(
            y,
            height,
            "not run",
            "blocked, never started or not seen",
            "Executions that never ran on a node, or that bwf never saw on one",
        )
    else:
        parts = [f'<g class="row" data-node="{esc(row.node_id)}">']
        if row.node is not None:
            parts += _life(frame, row.node, y, height)
        parts += _node_label(frame, run, row, y, height)
    for execution, lane in zip(row.executions, lanes, strict=True):
        parts.append(_bar(frame, execution, top + lane * (lane_height + _LANE_GAP), lane_height))
    parts.append("</g>")
    return parts, height


def _interval(frame: Frame, e: TaskExecution) -> tuple[float, float]:
    """Where the bar of `e` runs, in seconds since the start: start (or queued) to end."""
    begin = frame.offset(e.started if e.started is not None else e.queued)
    stop = frame.offset(e.ended) if e.ended is not None else frame.end_offset
    return begin, max(begin, stop)


def _life(frame: Frame, node: NodeSpan, y: float, height: float) -> list[str]:
    """The node's life behind its bars: usable, not usable yet (or any more), preempted."""
    life = (node.added.timestamp(), (node.removed or frame.end).timestamp())
    spans = state_spans(node, frame.end) or [(life, "idle")]
    parts = []
    for (low, high), state in spans:
        if state in USABLE_NODE_STATES:
            kind = "usable"
        elif state in UNBILLED_NODE_STATES:
            kind = "unbilled"
        else:
            kind = "other"
        x0, x1 = frame.x_epoch(low), frame.x_epoch(high)
        parts.append(
            f'<rect class="life {kind}" x="{num(x0)}" y="{num(y + 3)}" '
            f'width="{num(max(0.0, x1 - x0))}" height="{num(height - 6)}">'
            f"<title>{esc(node.node_id)}: {esc(state)} for {fmt_seconds(high - low)}</title></rect>"
        )
    return parts


def _node_label(frame: Frame, run: RunData, row: _Row, y: float, height: float) -> list[str]:
    node_id = row.node_id or ""
    busy = sum(busy_slot_seconds(e, frame.end) for e in row.executions)
    kind = "spot" if row.node is not None and row.node.spot else "dedicated"
    if row.node is None:
        return label(y, height, node_id, f"{kind}?", f"{node_id}: no node record")
    usable = sum(high - low for low, high in usable_intervals(row.node, row.executions, frame.end))
    available = usable * run.slots_per_node
    share = f"{busy / available:.0%} busy" if available > 0 else "never usable"
    hover = (
        f"{node_id}\n{kind} node, {len(row.executions)} executions\n"
        f"usable {fmt_seconds(usable)}, slots busy {share}"
    )
    return label(y, height, node_id, f"{kind} \u00b7 {share}", hover)


def _bar(frame: Frame, e: TaskExecution, top: float, height: float) -> str:
    start, stop = _interval(frame, e)
    x0 = frame.scale.x(start)
    width = max(2.0, frame.scale.x(stop) - x0)
    classes = (
        ["bar", e.result.value]
        + (["retry"] if e.retry > 0 else [])
        + (["requeued"] if e.requeued else [])
    )
    fill = "url(#p-blocked)" if e.result is Result.BLOCKED else RESULT_COLOURS[e.result]
    geometry = f'x="{num(x0)}" y="{num(top)}" width="{num(width)}" height="{num(height)}"'
    parts = [
        f'<g class="{" ".join(classes)}" data-task="{esc(e.task_id)}" data-attempt="{e.retry}">',
        f"<title>{_hover(frame, e)}</title>",
        f'<rect class="fill" {geometry} rx="2" fill="{fill}"/>',
    ]
    if e.retry > 0:
        parts.append(f'<rect class="mark" {geometry} rx="2" fill="url(#p-retry)"/>')
    if e.requeued:
        parts.append(f'<rect class="mark requeue-mark" {geometry} rx="2"/>')
    if frame.step_colours:
        colour = frame.step_colours[step_of(e.step)]
        strip = f'x="{num(x0)}" y="{num(top + height - 3)}" width="{num(width)}" height="3"'
        parts.append(f'<rect class="step-strip" {strip} fill="{colour}"/>')
    parts.append("</g>")
    return "".join(parts)


def _hover(frame: Frame, e: TaskExecution) -> str:
    """The bar's hover text: task, command, duration, exit code, node, step, wait, reason."""
    attempt = f" \u00b7 attempt {e.retry + 1}" + (" (requeued)" if e.requeued else "")
    lines = [e.task_id + attempt]
    if e.command:
        lines.append(shorten(e.command, _COMMAND_CHARS))
    exit_code = "no exit code" if e.exit_code is None else f"exit code {e.exit_code}"
    duration = "never started" if e.started is None else fmt_seconds(e.duration or 0.0)
    if e.started is not None and e.ended is None:
        duration = "still running at the end of the record"
    lines.append(f"{duration} \u00b7 {exit_code} \u00b7 {RESULT_LABELS[e.result]}")
    where = [f"node {e.node_id}"] if e.node_id else []
    if e.step is not None:
        where.append(f"step {e.step}" + (" (a barrier task)" if e.barrier else ""))
    if where:
        lines.append(" \u00b7 ".join(where))
    wait = f", waited {fmt_seconds(e.queue_wait)}" if e.queue_wait is not None else ""
    lines.append(f"queued at +{fmt_offset(frame.offset(e.queued)) or '0'}{wait}")
    if e.failure_reason:
        lines.append(f"reason: {e.failure_reason}")
    return esc("\n".join(lines))
