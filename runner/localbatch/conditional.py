"""Conditional requests on resources with an ETag (pools, jobs, tasks) and on files.

`If-Match` / `If-None-Match` compare the ETag (`*` matches any existing resource);
`If-Modified-Since` / `If-Unmodified-Since` compare `lastModified` to the second, as
HTTP dates carry. A read (GET, HEAD) whose condition fails answers 304 with no body
(`NotModified`, turned into the response by the router); any other request gets 412
`ConditionNotMet` and changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from runner.localbatch.errors import ApiError
from runner.localbatch.rest import Request

READS = ("GET", "HEAD")


class NotModified(Exception):
    """A read whose condition failed: the router answers 304 with these headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(timezone.utc), usegmt=True)


def validators(obj: dict[str, Any]) -> dict[str, str]:
    """The `ETag` and `Last-Modified` headers of a resource."""
    return {"ETag": obj["eTag"], "Last-Modified": http_date(parse_iso(obj["lastModified"]))}


def _header(req: Request, name: str) -> str | None:
    for key, value in req.headers.items():
        if key.lower() == name:
            return value.strip()
    return None


def _tags(value: str) -> set[str]:
    return {t.strip().removeprefix("W/").strip('"') for t in value.split(",") if t.strip()}


def _date(req: Request, name: str, value: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        raise ApiError(
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format.",
            {"HeaderName": name, "HeaderValue": value},
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _failed(req: Request, etag: str | None, modified: datetime) -> str | None:
    """The name of the first header whose condition fails, or None."""
    if_match = _header(req, "if-match")
    if if_match and "*" not in _tags(if_match) and (etag is None or etag not in _tags(if_match)):
        return "If-Match"
    if_none = _header(req, "if-none-match")
    if if_none and ("*" in _tags(if_none) or (etag is not None and etag in _tags(if_none))):
        return "If-None-Match"
    modified = modified.replace(microsecond=0)
    since = _header(req, "if-modified-since")
    if since and modified <= _date(req, "If-Modified-Since", since):
        return "If-Modified-Since"
    unmodified = _header(req, "if-unmodified-since")
    if unmodified and modified > _date(req, "If-Unmodified-Since", unmodified):
        return "If-Unmodified-Since"
    return None


def check(req: Request, obj: dict[str, Any]) -> None:
    """Apply the request's conditional headers to a resource with `eTag`/`lastModified`."""
    enforce(req, obj.get("eTag"), parse_iso(obj["lastModified"]), validators(obj))


def enforce(req: Request, etag: str | None, modified: datetime, headers: dict[str, str]) -> None:
    failed = _failed(req, etag, modified)
    if failed is None:
        return
    if req.method in READS and failed in ("If-None-Match", "If-Modified-Since"):
        raise NotModified(headers)
    raise ApiError(
        412,
        "ConditionNotMet",
        "The condition specified using HTTP conditional header(s) is not met.",
        {"HeaderName": failed},
    )
