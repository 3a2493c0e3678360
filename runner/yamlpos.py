"""YAML with positions: plain Python data plus where every key and value starts.

`read(path)` returns a spec file's text, refusing files over `bounds.SPEC_BYTES_MAX` and
bytes that are not UTF-8 (at their LINE:COL). `parse(text, file)` returns the document
as dicts/lists/scalars and a `SourceMap`, or the located problems (syntax errors,
duplicate keys). Only YAML's safe tag set is understood; a duplicate key is reported
at its second occurrence.

The document is built from libyaml's event stream rather than from its node graph, so
that aliases are counted as they are expanded: a spec whose expanded size passes
`bounds.YAML_NODES_MAX` nodes or `bounds.YAML_CHARS_MAX` characters, or an alias used
inside its own anchor, is refused at the alias, before anything walks the document.
An alias yields the very object its anchor built, so expansion costs no memory here.

Values are JSON values by construction, since plans, digests and `--json` output are
JSON: a date or time (`2024-01-01`) stays the text it is written as, and a value JSON
cannot hold (`!!binary`, `!!set`, `.nan`, `.inf`) is a located problem. `parse_value`
applies the same rules to a value given on the command line (`--var k=VALUE`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner import bounds
from runner.errors import Loc, Problem
from runner.spec import SourceMap, YamlPath

try:  # libyaml's parser is several times faster; the pure one gives the same marks
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    """The text of a spec file, or the located reason it cannot be a spec.

    Raises OSError when the file cannot be read at all."""
    with open(path, "rb") as f:
        data = f.read(bounds.SPEC_BYTES_MAX + 1)
    if len(data) > bounds.SPEC_BYTES_MAX:
        return None, [
            Problem(
                Loc(file, 1, 1),
                f"the spec is larger than {bounds.SPEC_BYTES_MAX:,} bytes (10 MiB), "
                "the most bwf reads",
            )
        ]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        col = len(data[line_start : e.start].decode("utf-8", errors="replace")) + 1
        return None, [
            Problem(
                Loc(file, line, col),
                f"the spec is not UTF-8: byte 0x{data[e.start]:02x} cannot be decoded "
                "(save the file as UTF-8)",
            )
        ]


class _JsonConstructor(yaml.SafeLoader):
    """YAML's safe tags, with dates and times kept as the text they are written as."""


def _timestamp_as_text(loader: _JsonConstructor, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_JsonConstructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
_JSON_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


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


class _Refused(Exception):
    """A problem after which the rest of the document cannot be trusted."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Anchor:
    loc: Loc
    value: Any = None
    # the nodes and scalar characters the anchored node expands to
    nodes: int = 0
    chars: int = 0
    open: bool = True  # still being built: an alias to it now would be recursive


class _MergeKey:
    """The key `<<`, which bwf refuses (a mapping reports it where it appears)."""


class _Builder:
    """Consumes one document's events and builds data, positions and counts."""

    def __init__(self, loader: yaml.SafeLoader, file: str, text: str) -> None:
        self.loader: Any = loader  # PyYAML's event API is untyped
        self.file = file
        self.lines = text.splitlines()
        self.keys: dict[YamlPath, Loc] = {}
        self.values: dict[YamlPath, Loc] = {}
        self.blocks: dict[YamlPath, Loc] = {}
        self.problems: list[Problem] = []
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = 0
        self.chars = 0
        self.constructor = _JsonConstructor("")

    def loc(self, mark: Any) -> Loc:
        return _loc(self.file, mark)

    def count(self, nodes: int, chars: int, mark: Any, via: str | None = None) -> None:
        self.nodes += nodes
        self.chars += chars
        if self.nodes > bounds.YAML_NODES_MAX or self.chars > bounds.YAML_CHARS_MAX:
            what = (
                f"more than {bounds.YAML_NODES_MAX:,} nodes"
                if self.nodes > bounds.YAML_NODES_MAX
                else f"more than {bounds.YAML_CHARS_MAX:,} characters"
            )
            how = f"alias *{via} expands the document to" if via else "the document has"
            raise _Refused(Problem(self.loc(mark), f"{how} {what}, the most bwf accepts"))

    def node(self, path: YamlPath, depth: int, key: bool = False) -> Any:
        event = self.loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            return self.alias(event, path)
        self.values[path] = self.loc(event.start_mark)
        nodes_before, chars_before = self.nodes, self.chars
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchors:
                first = self.anchors[anchor].loc
                raise _Refused(
                    Problem(
                        self.loc(event.start_mark),
                        f"anchor &{anchor} is defined twice (first at line {first.line})",
                    )
                )
            self.anchors[anchor] = _Anchor(self.loc(event.start_mark))
        if isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event, path, key)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if depth >= bounds.YAML_DEPTH_MAX:
                raise _Refused(
                    Problem(
                        self.loc(event.start_mark),
                        f"the spec nests more than {bounds.YAML_DEPTH_MAX} levels deep",
                    )
                )
            self.count(1, 0, event.start_mark)
            if event.tag is not None and event.tag not in _JSON_COLLECTION_TAGS:
                self.problems.append(
                    Problem(
                        self.loc(event.start_mark),
                        "sets (!!set) are not supported: write a list"
                        if event.tag == "tag:yaml.org,2002:set"
                        else f"invalid value: the tag {event.tag} is not supported",
                    )
                )
            if isinstance(event, yaml.SequenceStartEvent):
                value = self.sequence(path, depth)
            else:
                value = self.mapping(path, depth)
        else:  # pragma: no cover - libyaml only emits node events here
            raise _Refused(Problem(self.loc(event.start_mark), "invalid YAML: unexpected event"))
        if anchor is not None:  # complete: aliases to it may now follow
            done = self.anchors[anchor]
            done.value, done.open = value, False
            done.nodes, done.chars = self.nodes - nodes_before, self.chars - chars_before
        return value

    def alias(self, event: Any, path: YamlPath) -> Any:
        self.values[path] = self.loc(event.start_mark)
        target = self.anchors.get(event.anchor)
        if target is None:
            raise _Refused(
                Problem(
                    self.loc(event.start_mark), f"alias *{event.anchor} has no anchor before it"
                )
            )
        if target.open:
            raise _Refused(
                Problem(
                    self.loc(event.start_mark),
                    f"recursive alias: *{event.anchor} is used inside the node &{event.anchor} names",
                )
            )
        self.count(target.nodes, target.chars, event.start_mark, via=event.anchor)
        return target.value

    def scalar(self, event: Any, path: YamlPath, key: bool) -> Any:
        self.count(1, len(event.value), event.start_mark)
        if event.style == "|":
            body = event.start_mark.line + 1  # the line after the indicator, 0-based
            if body < len(self.lines):
                content = self.lines[body]
                self.blocks[path] = Loc(
                    self.file, body + 1, len(content) - len(content.lstrip()) + 1
                )
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if key and tag == _MERGE_TAG:
            return _MergeKey()
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as e:
            self.problems.append(
                Problem(self.loc(event.start_mark), f"invalid YAML value: {e.problem}")
            )
            return None
        finally:  # the constructor remembers every node it built; nothing here is shared
            self.constructor.constructed_objects.clear()
        if (reason := _not_json(value)) is not None:
            self.problems.append(Problem(self.loc(event.start_mark), f"invalid value: {reason}"))
            return None
        return value

    def sequence(self, path: YamlPath, depth: int) -> list[Any]:
        out: list[Any] = []
        while not self.loader.check_event(yaml.SequenceEndEvent):
            out.append(self.node((*path, len(out)), depth + 1))
        self.loader.get_event()
        return out

    def mapping(self, path: YamlPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while not self.loader.check_event(yaml.MappingEndEvent):
            start = self.loader.peek_event().start_mark
            key = self.node((*path, "<key>"), depth + 1, key=True)
            value_path: YamlPath = (*path, "<value>")
            if isinstance(key, _MergeKey):
                self.problems.append(
                    Problem(self.loc(start), "YAML merge keys (<<) are not supported")
                )
                self.node(value_path, depth + 1)
                continue
            if isinstance(key, (dict, list)):
                self.problems.append(
                    Problem(
                        self.loc(start), "a mapping key must be a plain value, not a collection"
                    )
                )
                self.node(value_path, depth + 1)
                continue
            if not isinstance(key, str):
                key = str(key)
            key_path: YamlPath = (*path, key)
            if key in out:
                self.problems.append(
                    Problem(
                        self.loc(start),
                        f"duplicate key '{key}' (first defined at line {self.keys[key_path].line})",
                    )
                )
                self.node(value_path, depth + 1)
                continue
            self.keys[key_path] = self.loc(start)
            out[key] = self.node(key_path, depth + 1)
        self.loader.get_event()
        self.values.pop((*path, "<key>"), None)
        self.values.pop((*path, "<value>"), None)
        return out


def _syntax_problem(e: yaml.MarkedYAMLError, file: str, lines: list[str]) -> Problem:
    mark = e.problem_mark or e.context_mark
    if mark is None:
        return Problem(Loc(file, 1, 1), f"invalid YAML: {e.problem or e.context}")
    line = lines[mark.line] if mark.line < len(lines) else ""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in indent and mark.column <= len(indent):
        return Problem(
            Loc(file, mark.line + 1, indent.index("\t") + 1),
            "tabs are not allowed for indentation; indent with spaces",
        )
    return Problem(_loc(file, mark), f"invalid YAML: {e.problem or e.context}")


def parse(text: str, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse one YAML document. On a syntax error or a refused document the data is None."""
    loader: Any = _Loader(text)
    builder = _Builder(loader, file, text)
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None, SourceMap(file), []
        loader.get_event()  # document start
        data = builder.node((), 0)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            second = loader.peek_event().start_mark
            return (
                None,
                SourceMap(file),
                [Problem(_loc(file, second), "a spec holds one YAML document; found a second")],
            )
    except yaml.MarkedYAMLError as e:
        return None, SourceMap(file), [_syntax_problem(e, file, builder.lines)]
    except yaml.YAMLError as e:
        return None, SourceMap(file), [Problem(Loc(file, 1, 1), f"invalid YAML: {e}")]
    except _Refused as e:
        return None, SourceMap(file), [e.problem]
    finally:
        loader.dispose()
    return data, SourceMap(file, builder.keys, builder.values, builder.blocks), builder.problems
