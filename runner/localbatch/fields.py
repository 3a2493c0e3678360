"""Reads of request bodies whose types `shapes` has already checked: Batch's defaults
for what is omitted, the checks of values (ranges, enums, required properties), and
the conversion of what the Azure CLI sends as strings.

Each handler declares its body with `shapes.accepts`, which refuses a property of the
wrong JSON type before the handler runs, so nothing here checks a type. What `shapes`
lets through as a string for an integer or a boolean (`INT_OPTION`, `BOOL_OPTION`:
`{"priority": "22"}` from `az batch job set`) is converted here and stored as the type
the API declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runner.localbatch.errors import ApiError, invalid, missing

Body = dict[str, Any]


def integer(
    src: Body, key: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
) -> int | None:
    value = src.get(key)
    if value is None:
        return default
    number = int(value)  # an integer, or its digits in a string (shapes.INT_OPTION)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise invalid(key, value, f"{key} must be {_span(lo, hi)}.")
    return number


def _span(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"


def boolean(src: Body, key: str, default: bool | None = None) -> bool | None:
    value = src.get(key)
    if value is None:
        return default
    if isinstance(value, str):  # "true" or "false" (shapes.BOOL_OPTION)
        return value.lower() == "true"
    return bool(value)


def text(src: Body, key: str, default: str | None = None, *, required: bool = False) -> str | None:
    """A string property; an empty one counts as omitted."""
    value = src.get(key)
    if value is None or value == "":
        if required:
            raise missing(key)
        return default
    return str(value)


def choice(src: Body, key: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    """An enum value, matched ignoring case and stored in Batch's (lower-case) spelling."""
    value = text(src, key)
    if value is None:
        return default
    options = {a.lower(): a for a in allowed}
    if value.lower() not in options:
        raise invalid(key, value, f"{key} must be one of: {', '.join(options.values())}.")
    return options[value.lower()]


def part(src: Body, key: str, *, required: bool = False) -> Any:
    """A nested object or array, or None when omitted (unless `required`)."""
    value = src.get(key)
    if value is None and required:
        raise missing(key)
    return value


def metadata(src: Body, key: str = "metadata", *, required: bool = False) -> list[dict[str, str]]:
    """Name/value pairs: `[{"name": ..., "value": ...}]`, no name empty."""
    items: list[dict[str, str]] = part(src, key, required=required) or []
    if any(not item["name"] for item in items):
        raise ApiError(
            400, "EmptyMetadataKey", "The key for one of the metadata key-value pairs is empty."
        )
    return [{"name": item["name"], "value": item["value"]} for item in items]
