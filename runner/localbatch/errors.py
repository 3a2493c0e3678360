"""Batch's error bodies: `{"code", "message": {"lang", "value"}, "values"}` with an HTTP status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        values: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.values = values or {}
        self.headers = headers or {}  # e.g. Retry-After on throttling

    def body(self, base_url: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "odata.metadata": f"{base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            "code": self.code,
            "message": {"lang": "en-US", "value": self.message},
        }
        if self.values:
            out["values"] = [{"key": k, "value": v} for k, v in self.values.items()]
        return out


def not_found(kind: str, ident: str) -> ApiError:
    code = {
        "pool": "PoolNotFound",
        "job": "JobNotFound",
        "task": "TaskNotFound",
        "node": "NodeNotFound",
    }.get(kind, "ResourceNotFound")
    return ApiError(
        404, code, f"The specified {kind} does not exist.", {"Id": ident} if ident else None
    )


def invalid(prop: str, value: object, reason: str) -> ApiError:
    return ApiError(
        400,
        "InvalidPropertyValue",
        f"The value provided for one of the properties in the request body is invalid. {reason}",
        {"PropertyName": prop, "PropertyValue": str(value)[:200], "Reason": reason},
    )


def missing(prop: str) -> ApiError:
    return ApiError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        {"PropertyName": prop},
    )
