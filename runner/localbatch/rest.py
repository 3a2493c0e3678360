"""Requests and responses as the handlers see them, and Batch's common rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from runner.localbatch.errors import ApiError, invalid, missing
from runner.localbatch.store import Obj

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TASKS_PER_COLLECTION = 100
MAX_BODY = 1024 * 1024
MAX_DEPENDS_ON_CHARS = 64000  # all of dependsOn.taskIds together
PAGE = 1000
FOREVER = "P10675199DT2H48M5.4775807S"


@dataclass
class Request:
    method: str
    parts: list[str]  # decoded path segments
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(
                400, "InvalidRequestBody", "The request body is not valid JSON."
            ) from None


@dataclass
class Response:
    status: int
    body: Any = None  # dict -> JSON; bytes -> raw
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
