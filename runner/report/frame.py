"""The geometry every timeline row shares: the run's start, the time scale, the
width of the label column, and each step's colour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runner.report.figures import run_end
from runner.report.model import RunData
from runner.report.svg import STEP_COLOURS, TimeScale

WIDTH = 1000  # viewBox width: the SVG scales to the page, text with it
LABEL_WIDTH = 190  # the node / step label column on the left
RIGHT_MARGIN = 24
NO_STEP = "(no step)"


@dataclass(frozen=True)
class Frame:
    """Maps the run's times onto the timeline's x axis."""

    start: datetime
    end: datetime  # the last recorded moment (see figures.run_end)
    scale: TimeScale
    step_colours: dict[str, str]  # empty when the workflow has no steps

    def offset(self, when: datetime) -> float:
        """Seconds since the run's start."""
        return (when - self.start).total_seconds()

    def x(self, when: datetime) -> float:
        return self.scale.x(self.offset(when))

    def x_epoch(self, seconds: float) -> float:
        """The x of a POSIX timestamp (the figures' intervals are in those)."""
        return self.scale.x(seconds - self.start.timestamp())

    @property
    def end_offset(self) -> float:
        return self.offset(self.end)


def frame_for(run: RunData) -> Frame:
    """The frame of `run`: from its start to its last recorded moment."""
    end = run_end(run)
    span = max(1.0, (end - run.started).total_seconds())
    return Frame(
        start=run.started,
        end=end,
        scale=TimeScale(span, LABEL_WIDTH, WIDTH - RIGHT_MARGIN),
        step_colours=_step_colours(run) if run.has_steps else {},
    )


def step_of(step: str | None) -> str:
    return NO_STEP if step is None else step


def _step_colours(run: RunData) -> dict[str, str]:
    """A colour per step, in the order the steps were first queued."""
    first: dict[str, float] = {}
    for e in run.executions:
        name = step_of(e.step)
        first[name] = min(first.get(name, e.queued.timestamp()), e.queued.timestamp())
    ordered = sorted(first, key=lambda name: (first[name], name))
    return {name: STEP_COLOURS[i % len(STEP_COLOURS)] for i, name in enumerate(ordered)}
