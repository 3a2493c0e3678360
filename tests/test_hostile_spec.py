"""A spec from an untrusted pull request, loaded as an attacker would write it: YAML bombs,
oversized or malformed files, and huge fan-outs get a located error in bounded time and
memory. Templates are in test_hostile_templates.py, paths in test_hostile_paths.py.

Each bomb also runs through the real CLI in a subprocess whose peak memory is measured.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner import bounds, pipeline
from tests.helpers import MINIMAL, bwf_measured, write_spec

# Generous bounds: they prove "not hanging" and "not exhausting", not speed.
SECONDS = 60
PEAK_MB = 200

BILLION_LAUGHS = """\
apiVersion: bwf/v1
name: t
vars:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def problems(spec: Path) -> list[str]:
    started = time.monotonic()
    found = [str(p) for p in pipeline.validate([spec])]
    assert time.monotonic() - started < SECONDS
    return found


def assert_refused_by_cli(spec: Path, tmp_path: Path, expected: list[str]) -> None:
    """The real CLI: exit 2, the located errors alone, no traceback, bounded time and memory."""
    home = tmp_path / "home"
    r = bwf_measured("validate", str(spec), cwd=spec.parent, home=home)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines() == expected
    assert r.seconds < SECONDS
    assert r.peak_mb < PEAK_MB, f"peak memory {r.peak_mb:.0f} MB"


def test_a_billion_laughs_is_refused_at_the_alias_that_passes_the_limit(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(BILLION_LAUGHS)
    expected = [
        f"{spec}:10:10: alias *f expands the document to more than 1,000,000 nodes, "
        "the most bwf accepts"
    ]
    assert problems(spec) == expected
    assert_refused_by_cli(spec, tmp_path, expected)


def test_one_level_more_of_laughs_is_refused_the_same_way(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(BILLION_LAUGHS + "  j: &j [*i, *i, *i, *i, *i, *i, *i, *i, *i]\n")
    assert problems(spec)[0].startswith(f"{spec}:10:10: alias *f expands the document")


def test_aliases_of_long_strings_are_counted_in_characters(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    long = "x" * 1_000_000
    spec.write_text(f'vars:\n  a: &a "{long}"\n  b: [{", ".join(["*a"] * 30)}]\n')
    expected = [
        f"{spec}:3:79: alias *a expands the document to more than 20,000,000 characters, "
        "the most bwf accepts"
    ]
    assert problems(spec) == expected
    assert_refused_by_cli(spec, tmp_path, expected)


def test_a_recursive_alias_is_located_and_raises_no_recursion_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("apiVersion: bwf/v1\nx: &a [*a]\n")
    expected = [f"{spec}:2:8: recursive alias: *a is used inside the node &a names"]
    assert problems(spec) == expected
    assert_refused_by_cli(spec, tmp_path, expected)


def test_an_alias_inside_a_mapping_anchor_is_recursive_too(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("vars: &v\n  self: *v\n")
    assert problems(spec) == [f"{spec}:2:9: recursive alias: *v is used inside the node &v names"]


def test_a_spec_over_10_mib_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    line = "# " + "x" * 98 + "\n"
    spec.write_text(line * (bounds.SPEC_BYTES_MAX // len(line) + 1))
    expected = [
        f"{spec}:1:1: the spec is larger than 10,485,760 bytes (10 MiB), the most bwf reads"
    ]
    assert problems(spec) == expected
    assert_refused_by_cli(spec, tmp_path, expected)


def test_a_long_flat_list_is_refused_past_the_node_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "YAML_NODES_MAX", 10_000)  # the real limit takes 8 s to reach
    spec = tmp_path / "spec.yaml"
    spec.write_text("vars:\n  many: [" + "1, " * 20_000 + "1]\n")
    assert problems(spec) == [
        f"{spec}:2:29995: the document has more than 10,000 nodes, the most bwf accepts"
    ]


def test_a_byte_that_is_not_utf8_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"apiVersion: bwf/v1\nname: t\ndescription: caf\xc3\xa9 \xff\n")
    assert problems(spec) == [
        f"{spec}:3:19: the spec is not UTF-8: byte 0xff cannot be decoded (save the file as UTF-8)"
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("apiVersion: bwf/v1\npool:\n\tid: p\n", "3:1"),
        ("apiVersion: bwf/v1\npool:\n  id: p\n  \tvm_size: x\n", "4:3"),
    ],
)
def test_a_tab_used_for_indentation_says_tabs_are_not_allowed(
    tmp_path: Path, text: str, where: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    assert problems(spec) == [
        f"{spec}:{where}: tabs are not allowed for indentation; indent with spaces"
    ]


def test_deep_nesting_is_refused_at_the_level_past_the_limit(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("vars:\n  x: " + "[" * 100 + "]" * 100 + "\n")
    assert problems(spec) == [f"{spec}:2:68: the spec nests more than 64 levels deep"]


def test_an_anchor_defined_twice_and_an_undefined_alias_are_located(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("a: &x 1\nb: &x 2\n")
    assert problems(spec) == [f"{spec}:2:4: anchor &x is defined twice (first at line 1)"]
    spec.write_text("a: 1\nb: *nothing\n")
    assert problems(spec) == [f"{spec}:2:4: alias *nothing has no anchor before it"]


def test_a_collection_as_a_mapping_key_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("a: &k [1, 2]\n? *k\n: 1\n")
    assert problems(spec)[0] == f"{spec}:2:3: a mapping key must be a plain value, not a collection"


def test_a_huge_range_fan_out_is_refused_before_any_item_exists(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "for_each: {container: input}", "for_each: {range: {stop: 1000000000000}}"
    ).replace("    resource_files: [item]\n", "")
    spec = write_spec(tmp_path, text)
    assert problems(spec) == [
        f"{spec}:14:23: job.tasks.for_each.range: fans out to 1,000,000,000,000 items, "
        "more than the 1,000,000 bwf accepts"
    ]


def test_a_huge_matrix_fan_out_is_refused(tmp_path: Path) -> None:
    axis = "[" + ", ".join(str(i) for i in range(1000)) + "]"
    text = MINIMAL.replace(
        "for_each: {container: input}", f"for_each: {{matrix: {{a: {axis}, b: {axis}, c: [1, 2]}}}}"
    ).replace("    resource_files: [item]\n", "")
    spec = write_spec(tmp_path, text)
    (found,) = problems(spec)
    assert found.endswith(
        "job.tasks.for_each.matrix: fans out to 2,000,000 items, more than the 1,000,000 bwf accepts"
    )
