"""How an SDK error becomes a user-facing error: the one translation, secrets scrubbed."""

from __future__ import annotations

from azure.core.exceptions import AzureError, HttpResponseError, ServiceRequestError

from runner import secrets
from runner.errors import BwfError, ServiceUnreachable


def connection_reason(e: AzureError) -> str:
    text = str(e)
    for known in (
        "Connection refused",
        "Connection reset",
        "timed out",
        "Name or service not known",
    ):
        if known.lower() in text.lower():
            return known.lower()
    return text.splitlines()[0][:200] if text else type(e).__name__


def error_code(e: HttpResponseError) -> str:
    """Batch's error code (`PoolExists`, `JobBeingDeleted`...), "" when the body had none."""
    return str(e.error.code) if e.error is not None and e.error.code else ""


def translate(what: str, e: AzureError, url: str = "") -> BwfError:
    """The one place an SDK error becomes a user-facing error (secrets scrubbed)."""
    if isinstance(e, ServiceRequestError):
        where = f" at {url}" if url else ""
        return ServiceUnreachable(
            secrets.scrub(
                f"{what}: the Batch service{where} does not answer ({connection_reason(e)})"
            )
        )
    if isinstance(e, HttpResponseError):
        code = e.error.code if e.error is not None else e.status_code
        message = e.error.message if e.error is not None else e.reason
        return BwfError(secrets.scrub(f"{what}: {code}: {message}"))
    return BwfError(secrets.scrub(f"{what}: {e}"))


def throttled(e: HttpResponseError) -> bool:
    """Batch asks the client to slow down: 429, or 503 (`ServerBusy`)."""
    return e.status_code in (429, 503)


def retry_after(e: HttpResponseError) -> float | None:
    """The seconds the answer's `Retry-After` header asks to wait, if it has one."""
    headers = getattr(e.response, "headers", None) or {}
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None  # an HTTP date: Batch sends seconds; the caller backs off instead
