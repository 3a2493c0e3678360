"""Requests and responses as the handlers see them, and Batch's common rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any, BinaryIO

from runner.localbatch.errors import ApiError, invalid, missing
from runner.localbatch.store import Obj

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TASKS_PER_COLLECTION = 100
MAX_BODY = 1024 * 1024
MAX_DEPENDS_ON_CHARS = 64000  # all of dependsOn.taskIds together
PAGE = 1000
FOREVER = "P10675199DT2H48M5.4775807S"
_ISO_UNITS = {"D": 86400, "H": 3600, "M": 60, "S": 1}


def iso_seconds(value: str | None) -> float | None:
    """`PT1H30M` -> 5400.0; None when absent or effectively unlimited (> 10 years)."""
    if not value:
        return None
    total = 0.0
    number = ""
    for ch in value.upper():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in _ISO_UNITS and number:
            total += float(number) * _ISO_UNITS[ch]
            number = ""
    return None if total > 10 * 365 * 86400 else total


def bad_body(reason: str, prop: str | None = None) -> ApiError:
    """Batch's error for a body that cannot be read as the operation's model."""
    values = {"PropertyName": prop} if prop else {}
    values["Reason"] = reason
    return ApiError(
        400, "InvalidRequestBody", "The specified Request Body is not syntactically valid.", values
    )


@dataclass
class Request:
    method: str
    parts: list[str]  # decoded path segments
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    _parsed: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (`{}` when empty); ApiError 400 for anything else.
        Handlers check the properties they read with `shapes.accepts`."""
        if self._parsed is None:
            if not self.body:
                self._parsed = {}
            else:
                try:
                    value = json.loads(self.body)
                except (ValueError, RecursionError):
                    raise bad_body("The request body is not valid JSON.") from None
                if not isinstance(value, dict):
                    raise bad_body(
                        f"The request body must be a JSON object, not {json_type(value)}."
                    )
                self._parsed = value
        return self._parsed


def json_type(value: Any) -> str:
    """How a JSON value is called in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


@dataclass
class FileBody:
    """`length` bytes of an open file, from its current position, sent in chunks (a task's
    output can be larger than the service's memory). The server closes it."""

    file: BinaryIO
    length: int


@dataclass
class Response:
    status: int
    body: Any = None  # dict -> JSON; bytes -> raw; FileBody -> streamed
    headers: dict[str, str] = field(default_factory=dict)


def check_id(kind: str, value: Any) -> str:
    if value is None or value == "":
        raise missing("id")
    if not isinstance(value, str) or not ID_RE.match(value):
        raise invalid(
            "id", value, f"The {kind} id must be 1-64 letters, digits, hyphens or underscores."
        )
    return value


def rfc1123(iso: str) -> str:
    dt = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return format_datetime(dt, usegmt=True)


def created(obj: Obj, url: str) -> Response:
    return Response(
        201,
        None,
        {
            "ETag": obj["eTag"],
            "Last-Modified": rfc1123(obj["lastModified"]),
            "Location": url,
            "DataServiceId": url,
        },
    )
