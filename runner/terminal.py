"""Text from a spec or its input files, made safe to print on a terminal.

File names and item values can hold escape sequences (`\\x1b[2J` clears the screen, a
carriage return hides what came before it on the line) or Unicode controls that
reorder text. Everything bwf prints about a spec goes through `escape`, which shows
such characters as Python escapes (`\\x1b`, `\\u202e`) instead of sending them.
"""

from __future__ import annotations

# C0 controls but the tab, DEL and C1 controls, and the Unicode bidirectional overrides
# and isolates.
_CONTROLS = [
    *range(0x00, 0x09),
    *range(0x0A, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]


def _code(c: int) -> str:
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


_ESCAPE = {c: _code(c) for c in _CONTROLS}
_ESCAPE_BUT_NEWLINES = {c: v for c, v in _ESCAPE.items() if c != 0x0A}


def escape(text: str) -> str:
    """`text` on one line: every control character but the tab escaped, newlines included."""
    return text.translate(_ESCAPE)


def escape_lines(text: str) -> str:
    """`text` with its newlines and tabs kept and every other control character escaped."""
    return text.translate(_ESCAPE_BUT_NEWLINES)
