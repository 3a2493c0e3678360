"""Schema problems (runner.schema) in their exact words: each JSON type by its name,
alternatives, and the helpers that name a place and suggest a key. The invalid corpus
(tests/invalid/) holds the other keywords."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import schema
from runner.pipeline import validate
from tests.helpers import MINIMAL, write_spec


def problems(tmp_path: Path, old: str, new: str) -> list[str]:
    spec = write_spec(tmp_path, MINIMAL.replace(old, new))
    return [p.message for p in validate([spec])]


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("1.5", "a number"),
        ("true", "true or false"),
        ("null", "null"),
        ("[1]", "a list"),
        ("{a: 1}", "a mapping"),
        ("'1'", "a string"),
    ],
)
def test_each_type_by_its_name(tmp_path: Path, value: str, got: str) -> None:
    found = problems(tmp_path, "    resource_files: [item]\n", f"    retries: {value}\n")
    assert found == [f"job.tasks.retries: expected an integer, got {got}"]


@pytest.mark.parametrize(
    ("value", "got"),
    [("1.5", "1.5"), ("'two'", "'two'"), ("true", "True"), ("null", "null"), ("[1]", "a list")],
)
def test_alternatives_name_what_was_expected(tmp_path: Path, value: str, got: str) -> None:
    found = problems(
        tmp_path, "  image: ubuntu-22.04\n", f"  image: ubuntu-22.04\n  nodes: {value}\n"
    )
    assert found == [f"pool.nodes: expected an integer or a mapping, got {got}"]


def test_a_string_where_a_number_is_expected(tmp_path: Path) -> None:
    assert problems(tmp_path, "  id: j\n", "  id: 5\n") == [
        "job.id: expected a string, got an integer"
    ]


def test_numbers_out_of_range(tmp_path: Path) -> None:
    found = problems(tmp_path, "  image: ubuntu-22.04\n", "  image: ubuntu-22.04\n  nodes: 10001\n")
    assert found == ["pool.nodes: must be <= 10000, got 10001"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("job", "tasks", "outputs", 0, "container"), "job.tasks.outputs[0].container"),
        ((), "the spec"),
        ((0,), "[0]"),
        (("a",), "a"),
        ((0, "a", 1, 2), "[0].a[1][2]"),
    ],
)
def test_dotted(path: tuple[str | int, ...], text: str) -> None:
    assert schema.dotted(path) == text


def test_did_you_mean() -> None:
    assert schema.did_you_mean("comand", ["command", "commands", "id"]) == (
        " (did you mean 'command'?)"
    )
    assert schema.did_you_mean("retrie", ["retries", "id"]) == " (did you mean 'retries'?)"
    assert schema.did_you_mean("zzz", ["command", "id"]) == ""
    assert schema.did_you_mean("ab", ["abcde"]) == ""  # below the 0.6 similarity cutoff
    assert schema.did_you_mean("abc", ["abcde"]) == " (did you mean 'abcde'?)"  # 0.75


def test_every_pattern_in_the_schema_is_anchored_at_the_end() -> None:
    """schema._python_pattern reads a final `$` as JSON Schema means it."""
    patterns: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema.schema())
    assert len(patterns) >= 10
    for p in patterns:
        assert p.startswith("^") and p.endswith("$"), p
        assert schema._python_pattern(p).pattern.endswith(r"\Z")
    assert schema._python_pattern(r"^a\$").pattern == r"^a\$"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    resource_files: [item]\n",
            "    resource_files: [5]\n",
            "job.tasks.resource_files[0]: expected 'item' or a mapping, got 5",
        ),
        (
            "    resource_files: [item]\n",
            "    resource_files: [items]\n",
            "job.tasks.resource_files[0]: expected 'item' or a mapping, got 'items'",
        ),
        (
            "    resource_files: [item]\n",
            "    env: {A: [1]}\n",
            "job.tasks.env.A: expected a string or a number or true or false, got a list",
        ),
        ("cat {{ item.name }}", "''", "job.tasks.command: must not be empty"),
        (
            "{container: input}",
            "{matrix: {}}",
            "job.tasks.for_each.matrix: must not be empty",
        ),
    ],
)
def test_alternatives_type_lists_and_empty_values(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert problems(tmp_path, old, new) == [message]
