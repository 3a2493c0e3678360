"""Typed reads of request bodies, so a wrong shape is a 400 and never a 500 or a value
stored with the wrong type.

Batch's front end reads JSON leniently where the Azure CLI relies on it: integers and
booleans sent as strings (`{"priority": "22"}`) are converted, and stored as the type
the API declares. Anything else of the wrong type is refused with
`InvalidPropertyValue` naming the property.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from runner.localbatch.errors import ApiError, invalid, missing
from runner.localbatch.rest import Request

Body = dict[str, Any]

_INT = re.compile(r"^\s*[-+]?\d+\s*$")
_DURATION = re.compile(
    r"^-?P(?!$)(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)


def body(req: Request) -> Body:
    """The request body as a JSON object (an empty body reads as `{}`)."""
    value = req.json()
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "InvalidRequestBody",
            "The specified Request Body is not syntactically valid.",
            {"Reason": "The request body must be a JSON object."},
        )
    return value


def integer(
    src: Body, key: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
) -> int | None:
    value = src.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and _INT.match(value))
    ):
        raise invalid(key, value, f"{key} must be an integer.")
    number = int(value)
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
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(key, value, f"{key} must be true or false.")


def text(src: Body, key: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = src.get(key)
    if value is None or value == "":
        if required:
            raise missing(key)
        return default
    if not isinstance(value, str):
        raise invalid(key, value, f"{key} must be a string.")
    return value


def choice(src: Body, key: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    """An enum value, matched ignoring case and stored in Batch's (lower-case) spelling."""
    value = text(src, key)
    if value is None:
        return default
    options = {a.lower(): a for a in allowed}
    if value.lower() not in options:
        raise invalid(key, value, f"{key} must be one of: {', '.join(options.values())}.")
    return options[value.lower()]


def duration(src: Body, key: str, default: str | None = None) -> str | None:
    value = text(src, key)
    if value is None:
        return default
    if not _DURATION.match(value.upper()):
        raise invalid(key, value, f"{key} must be an ISO 8601 duration such as PT1H30M.")
    return value


def mapping(src: Body, key: str, *, required: bool = False) -> Body | None:
    value = src.get(key)
    if value is None:
        if required:
            raise missing(key)
        return None
    if not isinstance(value, dict):
        raise invalid(key, value, f"{key} must be a JSON object.")
    return value


def array(src: Body, key: str, *, required: bool = False) -> list[Any] | None:
    value = src.get(key)
    if value is None:
        if required:
            raise missing(key)
        return None
    if not isinstance(value, list):
        raise invalid(key, value, f"{key} must be a JSON array.")
    return value


def metadata(src: Body, key: str = "metadata", *, required: bool = False) -> list[dict[str, str]]:
    """Name/value pairs, each checked: `[{"name": ..., "value": ...}]`."""
    items = array(src, key, required=required) or []
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ApiError(
                400, "EmptyMetadataKey", "The key for one of the metadata key-value pairs is empty."
            )
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise invalid(f"{key}.value", value, "A metadata value must be a string.")
        out.append({"name": item["name"], "value": value or ""})
    return out
