"""Command lines for Batch: templates whose values are data, wrapped in /bin/bash -c.

Batch splits a task's command line into arguments without a shell (on Linux, with
shell-like quoting). bwf wraps every command in `/bin/bash -c '<script>'`, as the
tutorial's `wrap_commands_in_shell` does, so `$AZ_BATCH_*` variables expand and
`set -e` stops at the first failing command. Values interpolated by a template are
shell-quoted first (`quote`), so a file named `$(id).txt` stays a file name.

A task that runs in a container gets `/bin/sh -c` instead: many images (busybox,
Alpine, distroless shells) have no bash; `pipefail` is set where that shell knows it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from runner.secrets import SECRET_TOKEN_PREFIX, redact


def quote(value: object) -> str:
    """A template value as one shell word. Secret tokens are quoted too: the SAS URLs
    they stand for contain `&` and `?`, and are substituted after rendering."""
    text = "" if value is None else str(value)
    quoted = shlex.quote(text)
    if quoted == text and SECRET_TOKEN_PREFIX in text:
        quoted = f"'{text}'"
    return quoted


BASH = "/bin/bash"
SH = "/bin/sh"  # container tasks: the image may have no bash
_PIPEFAIL = {BASH: "set -o pipefail", SH: "(set -o pipefail) 2>/dev/null && set -o pipefail"}


def wrap(commands: Sequence[str], shell: str = BASH) -> str:
    """Commands -> one Batch command line: `/bin/bash -c '<set -e script>'` (or
    `/bin/sh -c`, for a task in a container).

    Commands are joined by newlines (not `;`), so a command ending in `&` or `;`, or
    spanning several lines, keeps its meaning. `wait` collects background jobs.
    """
    if len(commands) == 1:  # a task's command (once per task of a plan)
        body = commands[0].strip()
    else:
        body = "\n".join(c.strip() for c in commands if c.strip())
    script = f"set -e\n{_PIPEFAIL[shell]}\n{body}\nwait"
    return f"{shell} -c " + shlex.quote(script)


_QUOTED_QUOTE = "'\"'\"'"  # how shlex.quote writes a ' inside single quotes


def _split_wrapped(command_line: str) -> list[str] | None:
    """`[shell, "-c", script]` for a line as `wrap` writes it, without a full shell
    lexer (a run report unwraps every task's line); None for any other line."""
    shell, _, rest = command_line.partition(" -c '")
    if shell not in _PIPEFAIL or not rest.endswith("'"):
        return None
    pieces = rest[:-1].split(_QUOTED_QUOTE)
    if any("'" in piece for piece in pieces):
        return None
    return [shell, "-c", "'".join(pieces)]


def unwrap(command_line: str) -> str:
    """The script inside a wrapped command line, for display (secrets redacted)."""
    argv = _split_wrapped(command_line)
    if argv is None:
        try:
            argv = shlex.split(command_line)
        except ValueError:
            return redact(command_line)
    if len(argv) == 3 and argv[0] in _PIPEFAIL and argv[1] == "-c":
        lines = argv[2].split("\n")
        if lines[:2] == ["set -e", _PIPEFAIL[argv[0]]] and lines[-1] == "wait":
            lines = lines[2:-1]
        return redact("; ".join(lines))
    return redact(command_line)
