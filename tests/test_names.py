"""Azure's naming rules (runner.names) at their boundaries: the last valid name and the
first invalid one, for containers, blobs and Batch IDs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner import names


@pytest.mark.parametrize("name", ["abc", "a" * 63, "a-b", "a1-2b-c3", "123", "a-1-b"])
def test_valid_container_names(name: str) -> None:
    assert names.check_container_name(name) is None


@pytest.mark.parametrize("length", [0, 2, 64])
def test_container_names_have_3_to_63_characters(length: int) -> None:
    assert names.check_container_name("a" * length) == (
        f"container names have 3 to 63 characters, this one has {length}"
    )


@pytest.mark.parametrize(
    "name", ["Abc", "a--b", "-ab", "ab-", "a_b", "a.b", "ab ", "ab\n", "abc\n", "\nabc"]
)
def test_container_name_characters(name: str) -> None:
    assert names.check_container_name(name) == (
        "container names use lowercase letters, digits and single hyphens, "
        "and start and end with a letter or digit"
    )


@pytest.mark.parametrize(
    "name", ["a", "a" * 1024, "dir/file.txt", "a/b/c", "...a", "a/.b", "a/..b", "é€"]
)
def test_valid_blob_names(name: str) -> None:
    assert names.check_blob_name(name) is None


def test_blob_names_have_at_most_1024_characters() -> None:
    assert names.check_blob_name("a" * 1025) == (
        "blob names have at most 1024 characters, this one has 1025"
    )
    assert names.BLOB_NAME_MAX == 1024


def test_empty_blob_name() -> None:
    assert names.check_blob_name("") == "blob names cannot be empty"


@pytest.mark.parametrize("name", ["a.", "a/", "a/b/", "."])
def test_blob_names_do_not_end_with_a_dot_or_slash(name: str) -> None:
    assert names.check_blob_name(name) == "blob names cannot end with '.' or '/'"


@pytest.mark.parametrize("name", ["a\\b", "a\x00b", "a\x1fb", "a\x7fb", "a\nb", "\tb"])
def test_blob_names_without_backslashes_or_control_characters(name: str) -> None:
    assert names.check_blob_name(name) == (
        "blob names cannot contain backslashes or control characters"
    )


@pytest.mark.parametrize("name", ["a//b", "/a", "./a", "a/./b", "../a", "a/../b", "//a"])
def test_blob_names_without_empty_dot_or_dotdot_segments(name: str) -> None:
    assert names.check_blob_name(name) == (
        "blob names cannot have empty, '.' or '..' path segments"
    )


@pytest.mark.parametrize("value", ["a", "A" * 64, "Z-_9", "-", "_"])
def test_valid_batch_ids(value: str) -> None:
    assert names.check_batch_id(value) is None


def test_batch_ids_have_at_most_64_characters() -> None:
    assert names.check_batch_id("a" * 65) == (
        "Batch IDs have at most 64 characters, this one has 65"
    )
    assert names.BATCH_ID_MAX == 64


def test_empty_batch_id() -> None:
    assert names.check_batch_id("") == "Batch IDs cannot be empty"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("a b", " "),
        ("a.b", "."),
        ("x/y:z", "/"),
        ("ok-é$!", "!$é"),
        ("ab ", " "),
        ("a\nb", "\n"),
        ("abc\n", "\n"),  # a regex `$` would match before this newline
    ],
)
def test_batch_id_characters_name_the_first_offending_run(value: str, found: str) -> None:
    assert names.check_batch_id(value) == (
        f"Batch IDs use only letters, digits, '-' and '_' (found {found!r})"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("report 2024.txt", "report-2024-txt"),
        ("--a--", "a"),
        ("a  b", "a-b"),
        ("", "x"),
        ("!!!", "x"),
        ("ok_ID-1", "ok_ID-1"),
        ("X-y.X", "X-y-X"),
        (42, "42"),
    ],
)
def test_batch_id_filter(text: object, expected: str) -> None:
    assert names.to_batch_id(text) == expected


@settings(derandomize=True, deadline=None)
@given(st.text())
def test_batch_id_filter_always_gives_a_valid_id_character_set(text: str) -> None:
    out = names.to_batch_id(text)
    assert out and all(c.isascii() and (c.isalnum() or c in "-_") for c in out)
    assert not out.startswith("-") and not out.endswith("-")


def test_default_container_name() -> None:
    assert names.default_container_name("topn", "input") == "topn-input"
    assert names.default_container_name("wf", "my_out_put") == "wf-my-out-put"
