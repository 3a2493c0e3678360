"""The OData query options clients use: `$filter` (eq/ne joined by and/or), `$select`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from runner.localbatch.errors import ApiError

_CLAUSE = re.compile(r"^\s*([A-Za-z][\w/]*)\s+(eq|ne)\s+(?:'((?:[^']|'')*)'|(\S+))\s*$")


def _get(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def compile_filter(text: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """A predicate for `$filter`, or None when there is none. Raises ApiError when unsupported."""
    if not text:
        return None
    alternatives = []
    for alt in re.split(r"\s+or\s+", text.strip()):
        clauses = []
        for clause in re.split(r"\s+and\s+", alt.strip().strip("()")):
            m = _CLAUSE.match(clause.strip("() "))
            if not m:
                raise ApiError(
                    400,
                    "InvalidQueryParameterValue",
                    f"The $filter clause {clause!r} is not supported.",
                )
            path, op, quoted, bare = m.groups()
            value: Any = quoted.replace("''", "'") if quoted is not None else _literal(bare)
            clauses.append((path, op, value))
        alternatives.append(clauses)

    def predicate(obj: dict[str, Any]) -> bool:
        for clauses in alternatives:
            if all((_get(obj, p) == v) == (op == "eq") for p, op, v in clauses):
                return True
        return False

    return predicate


def _literal(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        return text


def select(obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return obj
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    return {k: v for k, v in obj.items() if k in wanted}
