"""YAML with positions (runner.yamlpos): the data, where each key and value starts, and
located problems for what bwf refuses (syntax errors, duplicate and merge keys)."""

from __future__ import annotations

import textwrap

import pytest

from runner import yamlpos
from runner.errors import Loc


def parse(text: str) -> tuple[object, yamlpos.SourceMap, list[str]]:
    data, source, problems = yamlpos.parse(textwrap.dedent(text), "f.yaml")
    return data, source, [str(p) for p in problems]


def test_data_and_positions() -> None:
    data, source, problems = parse(
        """\
        a: 1
        b:
          - x
          -   {c: "two", 3: no}
        """
    )
    assert problems == []
    assert data == {"a": 1, "b": ["x", {"c": "two", "3": False}]}
    assert source.keys[("a",)] == Loc("f.yaml", 1, 1)
    assert source.values[("a",)] == Loc("f.yaml", 1, 4)
    assert source.keys[("b",)] == Loc("f.yaml", 2, 1)
    assert source.values[("b",)] == Loc("f.yaml", 3, 3)
    assert source.values[("b", 0)] == Loc("f.yaml", 3, 5)
    assert source.values[("b", 1)] == Loc("f.yaml", 4, 7)
    assert source.keys[("b", 1, "c")] == Loc("f.yaml", 4, 8)
    assert source.values[("b", 1, "c")] == Loc("f.yaml", 4, 11)
    assert source.keys[("b", 1, "3")] == Loc("f.yaml", 4, 18)  # keys become strings
    assert source.values[()] == Loc("f.yaml", 1, 1)
    assert ("b", 0) not in source.keys


def test_literal_blocks_point_at_their_first_line() -> None:
    _, source, _ = parse(
        """\
        run: |
            echo one
            echo two
        folded: >
          x
        end: |
        """
    )
    assert source.blocks == {("run",): Loc("f.yaml", 2, 5)}
    assert source.template_line(("run",), 2) == Loc("f.yaml", 3, 5)


def test_an_empty_document() -> None:
    for text in ("", "# only a comment\n"):
        data, source, problems = parse(text)
        assert (data, problems, source.file) == (None, [], "f.yaml")


def test_a_duplicate_key_is_reported_at_its_second_occurrence() -> None:
    data, _, problems = parse(
        """\
        a: 1
        b:
          c: 1
          c: 2
        a: 3
        """
    )
    assert problems == [
        "f.yaml:4:3: duplicate key 'c' (first defined at line 3)",
        "f.yaml:5:1: duplicate key 'a' (first defined at line 1)",
    ]
    assert data == {"a": 1, "b": {"c": 1}}


def test_merge_keys_are_refused() -> None:
    data, _, problems = parse(
        """\
        base: &b {x: 1}
        other:
          <<: *b
          y: 2
        """
    )
    assert problems == ["f.yaml:3:3: YAML merge keys (<<) are not supported"]
    assert data == {"base": {"x": 1}, "other": {"y": 2}}


def test_invalid_yaml_is_located() -> None:
    """The wording is libyaml's; the position and the prefix are bwf's."""
    data, _, problems = parse("a: [1, 2\n")
    assert data is None
    assert problems == ["f.yaml:2:1: invalid YAML: did not find expected ',' or ']'"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a:\n\tb: 1\n", "2:1: tabs are not allowed for indentation; indent with spaces"),
        ("a: 1\n---\nb: 2\n", "2:1: a spec holds one YAML document; found a second"),
        ("a: *nothing\n", "1:4: alias *nothing has no anchor before it"),
    ],
)
def test_yaml_bwf_refuses_is_located(text: str, problem: str) -> None:
    """Tabs, a second document and an alias without its anchor: bwf's words, at the
    first character at fault."""
    data, _, problems = parse(text)
    assert data is None
    assert problems == [f"f.yaml:{problem}"]


def test_a_value_yaml_cannot_construct_is_located() -> None:
    data, _, problems = parse("a: 1\nb: !!python/name:os.system x\n")
    assert problems == [
        "f.yaml:2:4: invalid YAML value: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/name:os.system'"
    ]
    assert data == {"a": 1, "b": None}


def test_a_character_yaml_refuses() -> None:
    """The reader's errors carry no line: they are placed at the start of the file."""
    data, _, problems = parse("a: 1\nb: \x07\n")
    assert data is None and len(problems) == 1
    assert problems[0].startswith("f.yaml:1:1: invalid YAML: unacceptable character #x0007")


def test_complex_keys_are_refused_at_the_key() -> None:
    data, _, problems = parse("? [a, b]\n: 1\n? {c: 2}\n: 3\nd: 4\n")
    assert problems == [
        "f.yaml:1:3: a mapping key must be a plain value, not a collection",
        "f.yaml:3:3: a mapping key must be a plain value, not a collection",
    ]
    assert data == {"d": 4}
