"""The shortcuts a 100,000-task plan takes give exactly what the general code gives:
an item's stem and suffix (PurePosixPath), a resource file's JSON size (json.dumps),
whether a path climbs out of its directory (PurePosixPath parts)."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from runner.limits import _json_chars
from runner.paths import climbs_out
from runner.render.items import _stem_and_suffix

NAMES = [
    "a.txt",
    "dir/a.txt",
    "a",
    "a.",
    "a..b",
    ".hidden",
    ".hidden.txt",
    "..",
    "a/..",
    "a/.",
    "a/",
    "x//y.tar.gz",
    "/abs/p.y",
    "...",
    "a.b.",
    ".",
    "",
    "d.d/noext",
    "é/ü.ß",
]


@pytest.mark.parametrize("blob", NAMES)
def test_stem_and_suffix_are_those_of_the_path(blob: str) -> None:
    p = PurePosixPath(blob)
    assert _stem_and_suffix(blob) == (p.stem, p.suffix)


@pytest.mark.parametrize(
    "text",
    [
        "a.txt",
        "",
        'a"b',
        "a\\b",
        "é",
        "\t",
        "\x7f",
        "a b",
        "€",
        "\u2028",
        "~!@#$%^&*()_+`-={}[]|:;'<>?,./",
    ],
)
def test_json_chars_is_the_length_of_the_json(text: str) -> None:
    assert _json_chars(text) == len(json.dumps(text))


@pytest.mark.parametrize(
    ("path", "out"),
    [
        ("a/b", False),
        ("", False),
        ("/a", True),
        ("\\a", True),
        ("a/../b", True),
        ("..", True),
        ("a\\..\\b", True),
        ("a..b/c", False),
        ("a/..b", False),
        ("...", False),
        ("//x", True),
    ],
)
def test_climbs_out(path: str, out: bool) -> None:
    assert climbs_out(path) is out
