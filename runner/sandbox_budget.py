"""The budget of the template rendering in progress on this thread: steps taken (loop
iterations, calls, operators), text made, and a deadline for the whole spec.

Each value a template makes is bounded on its own (`runner.sandbox_sizes`); the budget
bounds what a loop can pile up and how long the templates of one spec may run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from jinja2.exceptions import SecurityError

from runner.bounds import TEMPLATE_MADE_MAX, TEMPLATE_STEPS_MAX


class TemplateRefused(SecurityError):
    """A template asked for more than the sandbox allows; `lineno` is set at compile time."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


class TimeLimitExceeded(TemplateRefused):
    """The renderer's deadline passed while a template was rendering."""


_budget = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Templates rendered on this thread inside the block stop after `seconds` in all."""
    previous = getattr(_budget, "deadline", None)
    _budget.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _budget.deadline = previous


def check_deadline() -> None:
    limit: float | None = getattr(_budget, "deadline", None)
    if limit is not None and time.monotonic() > limit:
        raise TimeLimitExceeded("rendering the spec's templates took too long")


def start_rendering() -> None:
    """A new rendering begins: its budget of steps and text is full again."""
    _budget.steps = 0
    _budget.made = 0


def spend(size: int) -> None:
    made: int = getattr(_budget, "made", 0) + size
    _budget.made = made
    if made > TEMPLATE_MADE_MAX:
        raise TemplateRefused(
            f"more than {TEMPLATE_MADE_MAX:,} characters of text made in one rendering"
        )


def tick() -> None:
    steps: int = getattr(_budget, "steps", 0) + 1
    _budget.steps = steps
    if steps > TEMPLATE_STEPS_MAX:
        raise TemplateRefused(
            f"more than {TEMPLATE_STEPS_MAX:,} loop iterations, calls and operations in one rendering"
        )
    if steps & 0xFF == 0:
        check_deadline()
