"""Small pieces shared by the report's SVG and HTML: escaping, colours, time scales and
their ticks, duration formatting, and packing overlapping bars into lanes."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from runner.report.model import Result

# One colour per result; the legend, the bars and the histogram all read these, and list
# results in the enum's order.
RESULT_COLOURS = {
    Result.SUCCESS: "#3b9c5e",
    Result.FAILURE: "#d6454f",
    Result.BLOCKED: "#98a2b3",
    Result.PREEMPTED: "#e9a23b",
    Result.RUNNING: "#6c8ed4",
}
RESULT_LABELS = {
    Result.SUCCESS: "succeeded",
    Result.FAILURE: "failed",
    Result.BLOCKED: "blocked",
    Result.PREEMPTED: "preempted",
    Result.RUNNING: "still running",
}
# Colours told apart by most readers, including the colour-blind, for steps.
STEP_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#76b7b2",
    "#b07aa1",
    "#59a14f",
    "#edc948",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#e15759",
)
# Tick spacings a reader finds natural, in seconds.
_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
# Characters XML 1.0 forbids (or HTML reports as errors): shown as visible escapes instead.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def esc(text: object) -> str:
    """`text` made safe inside an element or a quoted attribute, in HTML and in XML.

    Markup characters become entities; control characters, lone surrogates and
    non-characters become visible `\\xNN` / `\\uNNNN` escapes, so a hostile task id can
    neither break the markup nor vanish.
    """
    cleaned = _UNSAFE_CHARS.sub(_visible, str(text))
    return html.escape(cleaned, quote=True)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 task`, `2 tasks`, `0 tasks`; `many` for irregular plurals (`retries`)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


def fmt_seconds(seconds: float) -> str:
    """A duration for people: `0.4s`, `12s`, `3m05s`, `1h02m`, `2d03h`."""
    if seconds == 0:
        return "0s"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def fmt_offset(seconds: float) -> str:
    """A tick label, time since the start: `0`, `45s`, `1m30s`, `2h`, `1h15m`."""
    whole = round(seconds)
    if whole == 0:
        return "0"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)


@dataclass(frozen=True)
class TimeScale:
    """Maps seconds since the run's start onto x coordinates."""

    span: float  # seconds shown
    x0: float
    x1: float

    def x(self, offset: float) -> float:
        fraction = offset / self.span if self.span > 0 else 0.0
        return self.x0 + min(1.0, max(0.0, fraction)) * (self.x1 - self.x0)

    def ticks(self, most: int = 10) -> list[float]:
        """Offsets of round ticks from 0 to the span, at most `most` + 1 of them."""
        step = next((s for s in _TICK_STEPS if self.span / s <= most), None)
        if step is None:
            step = 86400 * max(1, int(self.span / 86400 / most) + 1)
        count = int(self.span // step)
        return [i * step for i in range(count + 1)]


T = TypeVar("T")


def pack_lanes(
    items: Sequence[T], interval: Callable[[T], tuple[float, float]], most: int
) -> tuple[list[int], int]:
    """Lane of each item so that items in one lane do not overlap, using at most `most`
    lanes (beyond that, an item shares the lane that frees first). Returns the lanes in
    the order of `items` and the number of lanes used."""
    order = sorted(range(len(items)), key=lambda i: interval(items[i]))
    lane_ends: list[float] = []
    lanes = [0] * len(items)
    for i in order:
        start, end = interval(items[i])
        free = next((n for n, e in enumerate(lane_ends) if e <= start + 1e-6), None)
        if free is None and len(lane_ends) < max(1, most):
            lane_ends.append(end)
            free = len(lane_ends) - 1
        elif free is None:
            free = min(range(len(lane_ends)), key=lambda n: lane_ends[n])
        lane_ends[free] = max(lane_ends[free], end)
        lanes[i] = free
    return lanes, len(lane_ends)


def num(value: float) -> str:
    """An SVG coordinate: two decimals at most, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
