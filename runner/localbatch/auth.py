"""Shared Key authentication, verified exactly as the Batch service computes it.

String to sign (the SDK's `BatchSharedKeyAuthPolicy`): the verb; the values of
Content-Encoding, Content-Language, Content-Length (empty when 0), Content-MD5,
Content-Type, Date, If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since
and Range, one per line; the sorted `ocp-*` headers as `name:value`; then
`/{account}{path as sent}` and the sorted, decoded query parameters as
`\\nname:value`. HMAC-SHA256 with the base64-decoded account key.

The request's date (`ocp-date`, else `Date`, both signed) must be within 15 minutes of
the server's clock (`stale_date`), so that a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime

# How far a request's date may be from the server's clock: Azure Storage's documented window
# for Shared Key requests. Beyond it a captured request cannot be replayed.
MAX_CLOCK_SKEW = 15 * 60

_STANDARD = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def string_to_sign(
    method: str, raw_path: str, query: str, headers: Mapping[str, str], account: str
) -> str:
    h = {k.lower(): v for k, v in headers.items() if v}
    if method.upper() not in ("GET", "HEAD"):
        h.setdefault("content-length", "0")
    text = method.upper() + "\n" + "\n".join(h.get(name, "") for name in _STANDARD) + "\n"
    text += "".join(f"{k}:{v}\n" for k, v in sorted((k, v) for k, v in h.items() if "ocp-" in k))
    text += f"/{account}{raw_path}"
    params = urllib.parse.parse_qs(query)
    for name in sorted(params):
        if params[name][0]:
            text += f"\n{name}:{params[name][0]}"
    return text


def sign(key_b64: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    method: str, raw_path: str, query: str, headers: Mapping[str, str], account: str, key_b64: str
) -> str | None:
    """None when the request carries a valid signature, else why not (never the expected value)."""
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not auth:
        return "The request is not signed: the Authorization header is missing."
    scheme, _, credential = auth.partition(" ")
    if scheme != "SharedKey" or ":" not in credential:
        return "The Authorization header is not a SharedKey credential."
    name, _, signature = credential.partition(":")
    if name != account:
        return f"The account name in the Authorization header is not {account!r}."
    expected = sign(key_b64, string_to_sign(method, raw_path, query, headers, account))
    if not hmac.compare_digest(expected, signature):
        return (
            "The MAC signature found in the HTTP request is not the same as any computed signature."
        )
    return None


def stale_date(headers: Mapping[str, str], now: float) -> str | None:
    """None when the request's `ocp-date` (else `Date`) is within MAX_CLOCK_SKEW of `now`,
    else why not. Both are signed, so a replay cannot change them."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw = lower.get("ocp-date") or lower.get("date")
    if not raw:
        return "The request has neither an ocp-date nor a Date header."
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return "The request's date is not an RFC 1123 date."
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if abs(when.timestamp() - now) > MAX_CLOCK_SKEW:
        return (
            f"The request's date ({raw}) is more than {MAX_CLOCK_SKEW // 60} minutes "
            "from the server's time."
        )
    return None
