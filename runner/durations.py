"""Durations as specs write them (`20m`, `1h30m`, `PT1H`) and as Batch sends them (ISO 8601)."""

from __future__ import annotations

import re

# Matched with fullmatch: a regex `$` also matches before a final newline.
_SHORT = re.compile(r"(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_ISO = re.compile(r"P(?=\d|T\d)(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def parse(text: str) -> int:
    """Seconds in `text`: `90s`, `20m`, `1h30m`, `2d`, or ISO 8601 `PT1H30M`. Raises ValueError."""
    m = _SHORT.fullmatch(text) or _ISO.fullmatch(text)
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return int(((d * 24 + h) * 60 + mi) * 60 + s)


def to_iso(seconds: int) -> str:
    """Seconds -> ISO 8601 as Batch writes it: 5400 -> `PT1H30M`, 0 -> `PT0S`."""
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")
    if clock or not days:
        out += "T" + (clock or "0S")
    return out


def human(seconds: int) -> str:
    """5400 -> `1h30m`."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"
