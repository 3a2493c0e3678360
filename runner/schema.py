"""The workflow JSON Schema, and its validation errors as located, readable problems.

`schemas/workflow.schema.json` is the single source of truth for a spec's shape. An
unknown key gets a "did you mean", a wrong value says what was expected, and every
problem points at the key or value that caused it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from runner.errors import Problem, UsageError
from runner.spec import SourceMap, YamlPath

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "workflow.schema.json"


@cache
def schema() -> dict[str, Any]:
    """The workflow JSON Schema (schemas/workflow.schema.json)."""
    try:
        return json.loads(SCHEMA_PATH.read_text())  # type: ignore[no-any-return]
    except FileNotFoundError as e:  # pragma: no cover - only in a broken install
        raise UsageError(f"the workflow schema is missing: {SCHEMA_PATH}") from e


@cache
def _python_pattern(pattern: str) -> re.Pattern[str]:
    """A schema pattern as Python must read it. JSON Schema patterns are ECMA-262
    regexes, whose `$` is the end of the text; Python's `$` also matches before a final
    newline, which would let `"j\\n"` pass as a Batch ID. Every pattern in the schema
    ends with `$`."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(
    validator: Any, pattern: str, instance: Any, _schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not _python_pattern(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def validator() -> jsonschema.protocols.Validator:
    """The schema's validator, with ECMA-262's `$` in patterns."""
    extend = jsonschema.validators.extend
    checker: type[jsonschema.protocols.Validator] = extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"pattern": _pattern}
    )
    return checker(schema())


def dotted(path: Iterable[str | int]) -> str:
    """("job", "tasks", "outputs", 0, "container") -> "job.tasks.outputs[0].container"."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the spec"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _expected(types: Any) -> str:
    if isinstance(types, str):
        types = [types]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def schema_problems(err: jsonschema.ValidationError, source: SourceMap) -> list[Problem]:
    path: YamlPath = tuple(err.absolute_path)
    where = dotted(path)
    inst: Any = err.instance
    vv: Any = err.validator_value
    v = err.validator
    sch = err.schema if isinstance(err.schema, dict) else {}
    if v == "additionalProperties":
        allowed = list(sch.get("properties", {}))
        return [
            Problem(
                source.key((*path, k)), f"unknown key '{k}' in {where}{did_you_mean(k, allowed)}"
            )
            for k in inst
            if k not in allowed
        ]
    if v == "required":
        missing = [k for k in vv if k not in inst]
        return [Problem(source.key(path), f"{where}: missing required key '{k}'") for k in missing]
    if v in ("anyOf", "oneOf"):
        return _alternatives(err, source)
    if "propertyNames" in err.schema_path and isinstance(inst, str):
        what = sch.get("x-error") or "a valid name"
        return [Problem(source.key((*path, inst)), f"'{inst}' in {where} is not {what}")]
    loc = source.value(path)
    if v == "type" and inst == "item" and "resource_files" in path:
        return [
            Problem(
                loc,
                f"{where}: 'item' is only for a task that fans out over a container (for_each.container)",
            )
        ]
    if v == "type":
        return [
            Problem(
                loc,
                f"{where}: expected {_expected(vv)}, got {_TYPE_NAMES[_type_of(inst)]}",
            )
        ]
    if v == "enum":
        options = ", ".join(str(o) for o in vv)
        return [
            Problem(
                loc,
                f"{where}: {inst!r} is not one of: {options}{did_you_mean(str(inst), map(str, vv))}",
            )
        ]
    if v == "const":
        return [Problem(loc, f"{where}: must be {vv!r}")]
    if v == "pattern":
        what = sch.get("x-error") or f"matching {vv}"
        return [Problem(loc, f"{where}: {inst!r} is not {what}")]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return [Problem(loc, f"{where}: must be {op} {vv}, got {inst}")]
    if v in ("minItems", "minLength", "minProperties"):
        return [Problem(loc, f"{where}: must not be empty")]
    if v == "not":
        return [Problem(loc, f"{where}: {inst!r} is not allowed here")]
    return [
        Problem(loc, f"{where}: {err.message}")
    ]  # pragma: no cover - keywords the schema does not use


def _alternatives(err: jsonschema.ValidationError, source: SourceMap) -> list[Problem]:
    """anyOf: report the errors of the branch meant for the value's type, else what was expected."""
    by_branch: dict[int, list[jsonschema.ValidationError]] = {}
    for sub in err.context or []:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = [
        errs
        for errs in by_branch.values()
        if not any(e.validator in ("type", "const", "enum") and not e.relative_path for e in errs)
    ]
    if len(fitting) == 1:
        return [p for e in fitting[0] for p in schema_problems(e, source)]
    path: YamlPath = tuple(err.absolute_path)
    branches: Any = err.validator_value
    wanted = []
    for b in branches:
        if "const" in b:
            wanted.append(repr(b["const"]))
        elif "enum" in b:
            wanted.append("one of " + ", ".join(b["enum"]))
        elif "$ref" in b:
            wanted.append("a mapping")
        elif "type" in b:
            wanted.append(_expected(b["type"]))
    inst = err.instance
    shown = repr(inst) if isinstance(inst, (str, int, float)) else _TYPE_NAMES[_type_of(inst)]
    return [
        Problem(source.value(path), f"{dotted(path)}: expected {' or '.join(wanted)}, got {shown}")
    ]
