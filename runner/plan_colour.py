"""The text plan in colour: the markers `+` green, `~` yellow, `-` red (Terraform's).

rich decides whether colour is shown at all: not when the output is not a terminal,
nor when `NO_COLOR` is set (https://no-color.org). The text itself does not change.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.text import Text

# An action line of runner.show: two spaces, the marker right-aligned in three columns.
_MARKER = re.compile(r"^  (-/\+|  [+~-]) ", re.MULTILINE)
MARKER_STYLES = {"+": "green", "~": "yellow", "-": "red"}


def styled(text: str) -> Text:
    """`text` (a rendered plan) with its markers coloured."""
    out = Text(text)
    for match in _MARKER.finditer(text):
        for offset, char in enumerate(match.group(1)):
            style = MARKER_STYLES.get(char)
            if style is not None:
                at = match.start(1) + offset
                out.stylize(style, at, at + 1)
    return out


def print_plan(text: str, console: Console | None = None) -> None:
    """Print a rendered plan, in colour where the console shows colour."""
    out = console or Console(highlight=False, soft_wrap=True)
    out.print(styled(text), end="")
