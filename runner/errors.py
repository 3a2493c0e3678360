"""The user-facing error types, caught once in the CLI.

`BwfError` is the single error a user should see without a traceback. `SpecError`
carries every located problem found in a spec (exit code 2); anything that is not a
`BwfError` is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.terminal import escape

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_CHANGES = 2  # `bwf plan --detailed-exitcode`: changes pending (as Terraform)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


@dataclass(frozen=True, order=True)
class Loc:
    """A position in a source file; line and col are 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a spec: prints as `FILE:LINE:COL: message`."""

    loc: Loc
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}"


class BwfError(Exception):
    """An error the user can act on; printed without a traceback."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(BwfError):
    """Bad input that is not located in a spec (a bad --var, a missing file)."""

    exit_code = EXIT_INVALID


class SpecError(BwfError):
    """All the problems found in one or more specs, sorted by position."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        # one line per problem, whatever a file name or a value in it holds
        super().__init__("\n".join(escape(str(p)) for p in self.problems))


class ServiceUnreachable(BwfError):
    """A service did not answer at all (connection refused, reset or timed out), as
    opposed to answering with an error. Monitoring retries these for a while."""
