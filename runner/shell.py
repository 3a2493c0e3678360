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

import re
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


# One piece of a command line in `shlex.split`'s POSIX rules (the only whitespace is
# space, tab, CR and LF; a backslash outside quotes keeps the next character, inside
# double quotes only a double quote or a backslash; single quotes keep everything).
_PIECE = re.compile(
    r"""(?P<space>[ \t\r\n]+)|'(?P<single>[^']*)'|"(?P<double>(?:[^"\\]|\\.)*)"|\\(?P<escaped>.)|(?P<plain>[^ \t\r\n'"\\]+)""",
    re.DOTALL,
)
_IN_DOUBLE = re.compile(r'\\(["\\])')


def split_command_line(command_line: str) -> list[str]:
    """The arguments of a command line, exactly as `shlex.split` gives them (Batch's
    rules on Linux), in one regular expression pass: shlex reads a character at a time
    in Python, a noticeable part of the local service's CPU per task and of a run
    report's time over every task's line. Raises ValueError."""
    argv: list[str] = []
    word: list[str] | None = None  # the argument being read; None between arguments
    pos, end = 0, len(command_line)
    while pos < end:
        m = _PIECE.match(command_line, pos)
        if m is None:  # an unclosed quote or a final backslash: shlex says which
            return shlex.split(command_line)
        pos = m.end()
        kind = m.lastgroup
        if kind == "space":
            if word is not None:
                argv.append("".join(word))
                word = None
            continue
        if word is None:
            word = []
        if kind == "double":
            word.append(_IN_DOUBLE.sub(r"\1", m.group("double")))
        else:
            word.append(m.group(kind or "plain"))
    if word is not None:
        argv.append("".join(word))
    return argv


def unwrap(command_line: str) -> str:
    """The script inside a wrapped command line, for display (secrets redacted)."""
    try:
        argv = split_command_line(command_line)
    except ValueError:
        return redact(command_line)
    if len(argv) == 3 and argv[0] in _PIPEFAIL and argv[1] == "-c":
        lines = argv[2].split("\n")
        if lines[:2] == ["set -e", _PIPEFAIL[argv[0]]] and lines[-1] == "wait":
            lines = lines[2:-1]
        return redact("; ".join(lines))
    return redact(command_line)
