"""YAML with positions: plain Python data plus where every key and value starts.

`parse(text, file)` returns the document as dicts/lists/scalars and a `SourceMap`,
or the located problems (syntax errors, duplicate keys). Only YAML's safe tag set is
understood; a duplicate key is reported at its second occurrence.

Values are JSON values by construction, since plans, digests and `--json` output are
JSON: a date or time (`2024-01-01`) stays the text it is written as, and a value JSON
cannot hold (`!!binary`, `.nan`, `.inf`) is a located problem. `parse_value` applies
the same rules to a value given on the command line (`--var k=VALUE`).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from runner.errors import Loc, Problem
from runner.spec import SourceMap, YamlPath

try:  # libyaml's composer is several times faster; the pure one gives the same marks
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


class _JsonConstructor(yaml.SafeLoader):
    """YAML's safe tags, with dates and times kept as the text they are written as."""


def _timestamp_as_text(loader: _JsonConstructor, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_JsonConstructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _not_json(value: object) -> str | None:
    """Why a constructed scalar has no JSON form, or None when it has one."""
    if isinstance(value, bytes):
        return "binary values (!!binary) are not supported: write the text itself"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number (JSON has no NaN or infinity)"
    return None


def _first_not_json(value: object) -> str | None:
    if isinstance(value, set):
        return "sets (!!set) are not supported: write a list"
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return next((p for p in map(_first_not_json, value) if p is not None), None)
    return _not_json(value)


def parse_value(text: str) -> Any:
    """A value given on the command line, read with the spec's rules. Text that is not
    valid YAML is that text; raises ValueError for a value JSON cannot hold."""
    loader = _JsonConstructor(text)
    try:
        value = loader.get_single_data()
    except yaml.YAMLError:
        return text
    finally:
        loader.dispose()
    problem = _first_not_json(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _loc(file: str, mark: Any) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


def parse(text: str, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse one YAML document. On a syntax error the data is None."""
    keys: dict[YamlPath, Loc] = {}
    values: dict[YamlPath, Loc] = {}
    blocks: dict[YamlPath, Loc] = {}
    lines = text.splitlines()
    problems: list[Problem] = []
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = _loc(file, mark) if mark is not None else Loc(file, 1, 1)
        problems.append(Problem(loc, f"invalid YAML: {e.problem or e.context}"))
        return None, SourceMap(file), problems
    except yaml.YAMLError as e:
        problems.append(Problem(Loc(file, 1, 1), f"invalid YAML: {e}"))
        return None, SourceMap(file), problems
    if node is None:
        return None, SourceMap(file, keys, values), problems
    constructor = _JsonConstructor("")

    def build(n: yaml.Node, path: YamlPath) -> Any:
        values[path] = _loc(file, n.start_mark)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k_node, v_node in n.value:
                if k_node.tag == "tag:yaml.org,2002:merge":
                    problems.append(
                        Problem(
                            _loc(file, k_node.start_mark), "YAML merge keys (<<) are not supported"
                        )
                    )
                    continue
                key = constructor.construct_object(k_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                key_path: YamlPath = (*path, key)
                if key in out:
                    first = keys[key_path]
                    problems.append(
                        Problem(
                            _loc(file, k_node.start_mark),
                            f"duplicate key '{key}' (first defined at line {first.line})",
                        )
                    )
                    continue
                keys[key_path] = _loc(file, k_node.start_mark)
                out[key] = build(v_node, key_path)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        if isinstance(n, yaml.ScalarNode) and n.style == "|":
            body = n.start_mark.line + 1  # the line after the indicator, 0-based
            if body < len(lines):
                content = lines[body]
                blocks[path] = Loc(file, body + 1, len(content) - len(content.lstrip()) + 1)
        try:
            value = constructor.construct_object(n, deep=True)
        except yaml.constructor.ConstructorError as e:
            problems.append(Problem(_loc(file, n.start_mark), f"invalid YAML value: {e.problem}"))
            return None
        if (reason := _not_json(value)) is not None:
            problems.append(Problem(_loc(file, n.start_mark), f"invalid value: {reason}"))
            return None
        return value

    data = build(node, ())
    return data, SourceMap(file, keys, values, blocks), problems
