"""What apply shows while it works: story lines, and progress that suits the output.

On a terminal, rich progress bars; otherwise (CI, pipes) plain lines at most every few
seconds, so logs stay readable. Everything printed goes through `secrets.scrub`, and
control characters from file names or values are escaped (`terminal`).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from runner import secrets
from runner.plan_colour import print_plan
from runner.terminal import escape, escape_lines


class Ui:
    def __init__(self, quiet: bool = False, stderr: bool = False) -> None:
        # stderr: standard output carries something else (`bwf apply --events -`)
        self.console = Console(highlight=False, soft_wrap=True, stderr=stderr)
        self.quiet = quiet
        self.live = self.console.is_terminal

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(escape_lines(secrets.scrub(text)), markup=False)

    def plan(self, text: str) -> None:
        """A rendered plan, its markers in colour on a terminal (runner.plan_colour)."""
        if not self.quiet:
            print_plan(escape_lines(secrets.scrub(text)), self.console)

    def warn(self, text: str) -> None:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            escape_lines(secrets.scrub(text)), markup=False
        )

    def bar(self, label: str, total: int, unit: str = "") -> Bar:
        return Bar(self, label, total, unit)


class Bar:
    """A progress bar (terminal) or throttled progress lines (anything else)."""

    def __init__(self, ui: Ui, label: str, total: int, unit: str) -> None:
        self.ui = ui
        self.label = escape(label)
        self.total = total
        self.unit = unit
        self.done = 0
        self.extra = ""
        self.started = time.monotonic()
        self._last_line = self.started  # plain output: a line every 5 s, and one at the end
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        if self.ui.live and not self.ui.quiet:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[extra]}"),
                TimeElapsedColumn(),
                console=self.ui.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, extra="")
        return self

    def update(self, done: int, extra: str = "") -> None:
        self.done, self.extra = done, escape(extra)
        if self._progress is not None:
            self._progress.update(self._task, completed=done, extra=extra)
        elif not self.ui.quiet and time.monotonic() - self._last_line >= 5:
            self._line()

    def advance(self, n: int = 1) -> None:
        """Thread-safe: uploads and submissions advance the bar from worker threads."""
        with self._lock:
            self.update(self.done + n, self.extra)

    def _line(self) -> None:
        self._last_line = time.monotonic()
        elapsed = time.monotonic() - self.started
        print(
            f"  {self.label}: {self.done}/{self.total}{self.unit} {self.extra} [{elapsed:.0f}s]",
            file=self.ui.console.file,
            flush=True,
        )

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif not self.ui.quiet:
            self._line()
        self.ui.console.file.flush()
