"""The timeline's furniture: fill patterns, the legend, the time axis with its grid, and
the row labels in the left column."""

from __future__ import annotations

from runner.report.frame import LABEL_WIDTH, WIDTH, Frame
from runner.report.model import Result
from runner.report.svg import RESULT_COLOURS, RESULT_LABELS, esc, fmt_offset, num, shorten

# Patterns the bars and node bands fill with; ids are unique in the page (one timeline).
PATTERNS = (
    "<defs>"
    '<pattern id="p-retry" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="2.4" height="6" fill="#ffffff" fill-opacity="0.6"/>'
    "</pattern>"
    '<pattern id="p-blocked" width="6" height="6" patternUnits="userSpaceOnUse" '
    f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e4e7ec"/>'
    f'<rect width="2.4" height="6" fill="{RESULT_COLOURS[Result.BLOCKED]}"/></pattern>'
    '<pattern id="p-unbilled" width="8" height="8" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="8" height="8" fill="#fdf3e1"/>'
    '<rect width="2" height="8" fill="#f1c983"/></pattern>'
    "</defs>"
)
_LEGEND_ROW = 20
_CHAR_WIDTH = 6.4  # average width of a 12px sans-serif character in viewBox units
_SWATCH = 'width="16" height="11" rx="2"'


def legend(frame: Frame, running: bool) -> tuple[list[str], float]:
    """The legend's items, flowing in rows across the width; returns them and their bottom.
    `running` adds the colour of executions still running when the record stopped."""
    shown = [Result.SUCCESS, Result.FAILURE, Result.PREEMPTED] + (
        [Result.RUNNING] if running else []
    )
    items = [(f'<rect {_SWATCH} fill="{RESULT_COLOURS[r]}"/>', RESULT_LABELS[r]) for r in shown]
    items += [
        (f'<rect {_SWATCH} fill="url(#p-blocked)"/>', "blocked / never ran"),
        (
            f'<rect {_SWATCH} fill="{RESULT_COLOURS[Result.SUCCESS]}"/>'
            f'<rect {_SWATCH} fill="url(#p-retry)"/>',
            "retry",
        ),
        (
            f'<rect {_SWATCH} fill="{RESULT_COLOURS[Result.SUCCESS]}"/>'
            f'<rect class="requeue-mark" {_SWATCH}/>',
            "requeued",
        ),
        (f'<rect class="life usable" {_SWATCH}/>', "node usable (empty = idle)"),
        (f'<rect class="life other" {_SWATCH}/>', "node starting / unusable"),
        (f'<rect class="life unbilled" {_SWATCH}/>', "node preempted"),
    ]
    items += [
        (f'<rect width="16" height="4" y="7" fill="{colour}"/>', f"step {name}")
        for name, colour in frame.step_colours.items()
    ]
    parts = ['<g class="legend">']
    x, y = 10.0, 8.0
    for swatch, text in items:
        width = 22 + len(text) * _CHAR_WIDTH + 18
        if x + width > WIDTH and x > 10:
            x, y = 10.0, y + _LEGEND_ROW
        parts.append(
            f'<g transform="translate({num(x)},{num(y)})">{swatch}'
            f'<text x="22" y="10">{esc(shorten(text, 40))}</text></g>'
        )
        x += width
    parts.append("</g>")
    return parts, y + _LEGEND_ROW


def axis(frame: Frame, top: float, bottom: float) -> list[str]:
    """Vertical grid lines at round times, labelled above the first row and below the last."""
    parts = [
        '<g class="axis">',
        f'<text class="axis-title" x="10" y="{num(top - 4)}">time since start</text>',
    ]
    for tick in frame.scale.ticks():
        x = num(frame.scale.x(tick))
        label = fmt_offset(tick)
        parts += [
            f'<line class="grid" x1="{x}" y1="{num(top)}" x2="{x}" y2="{num(bottom)}"/>',
            f'<text class="tick" x="{x}" y="{num(top - 4)}">{label}</text>',
            f'<text class="tick" x="{x}" y="{num(bottom + 14)}">{label}</text>',
        ]
    end = num(frame.scale.x(frame.end_offset))
    parts.append(
        f'<line class="grid end" x1="{end}" y1="{num(top)}" x2="{end}" y2="{num(bottom)}"/>'
    )
    parts.append(
        f'<line class="baseline" x1="{LABEL_WIDTH}" y1="{num(top)}" x2="{LABEL_WIDTH}" y2="{num(bottom)}"/>'
    )
    parts.append("</g>")
    return parts


def label(y: float, height: float, main: str, sub: str, hover: str) -> list[str]:
    """A row's label in the left column: a name, a smaller line under it, a hover text."""
    middle = y + height / 2
    return [
        f'<text class="row-label" x="10" y="{num(middle - 2)}">{esc(shorten(main, 27))}'
        f"<title>{esc(hover)}</title></text>",
        f'<text class="row-sub" x="10" y="{num(middle + 11)}">{esc(shorten(sub, 32))}</text>',
    ]
