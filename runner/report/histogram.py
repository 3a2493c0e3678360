"""The histogram of task durations as an SVG: one column per bin, stacked by result."""

from __future__ import annotations

from collections.abc import Sequence

from runner.report.figures import HistogramBin
from runner.report.model import Result
from runner.report.svg import RESULT_COLOURS, RESULT_LABELS, esc, fmt_seconds, num

_WIDTH = 520
_HEIGHT = 230
_LEFT = 40
_RIGHT = 12
_TOP = 12
_BOTTOM = 34


def histogram_svg(bins: Sequence[HistogramBin]) -> str:
    """Columns of execution counts per duration bin, with count and duration axes."""
    if not bins:
        return '<p class="empty">No execution both started and ended.</p>'
    peak = max(b.total for b in bins)
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    column = plot_w / len(bins)
    base = float(_TOP + plot_h)
    parts = [
        f'<svg class="histogram" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="Histogram of task durations">',
        *_count_axis(peak, base, plot_h),
    ]
    label_every = max(1, round(len(bins) / 6))
    for index, one in enumerate(bins):
        x = _LEFT + index * column
        parts.append(f'<g class="hist-bin"><title>{esc(_hover(one))}</title>')
        parts.append(
            f'<rect class="hist-hit" x="{num(x)}" y="{_TOP}" width="{num(column)}" height="{num(plot_h)}"/>'
        )
        top = base
        for result in Result:
            count = one.counts.get(result, 0)
            if count:
                height = count / peak * plot_h
                top -= height
                parts.append(
                    f'<rect x="{num(x + 1)}" y="{num(top)}" width="{num(max(1.0, column - 2))}" '
                    f'height="{num(height)}" fill="{RESULT_COLOURS[result]}"/>'
                )
        parts.append("</g>")
        if index % label_every == 0:
            parts.append(
                f'<text class="tick" x="{num(x)}" y="{num(base + 14)}">{fmt_seconds(one.low)}</text>'
            )
    parts += [
        f'<text class="tick last" x="{num(_LEFT + plot_w)}" y="{num(base + 14)}">'
        f"{fmt_seconds(bins[-1].high)}</text>",
        f'<line class="baseline" x1="{_LEFT}" y1="{num(base)}" x2="{_LEFT + plot_w}" y2="{num(base)}"/>',
        f'<text class="axis-title middle" x="{_LEFT + plot_w / 2}" y="{_HEIGHT - 4}">'
        "duration of an execution</text>",
        "</svg>",
    ]
    return "\n".join(parts)


def _count_axis(peak: int, base: float, plot_h: float) -> list[str]:
    parts = []
    for value in sorted({0, (peak + 1) // 2, peak}):
        y = base - value / peak * plot_h
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{num(y)}" x2="{_WIDTH - _RIGHT}" y2="{num(y)}"/>'
        )
        parts.append(f'<text class="tick count" x="{_LEFT - 6}" y="{num(y + 4)}">{value}</text>')
    return parts


def _hover(one: HistogramBin) -> str:
    counts = ", ".join(
        f"{one.counts[result]} {RESULT_LABELS[result]}"
        for result in Result
        if one.counts.get(result)
    )
    noun = "execution" if one.total == 1 else "executions"
    return f"{fmt_seconds(one.low)} to {fmt_seconds(one.high)}: {one.total} {noun}" + (
        f" ({counts})" if counts else ""
    )
