"""Durations (runner.durations): the spec's forms, Batch's ISO 8601 form, and the
schema's duration pattern, which must accept exactly what `parse` accepts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner import durations, schema


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("90s", 90),
        ("20m", 1200),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1d2h3m4s", 93784),
        ("1d4s", 86404),
        ("PT0S", 0),
        ("PT1H30M", 5400),
        ("P1D", 86400),
        ("P1DT2H", 93600),
        ("P2DT3H4M5S", 183845),
        ("PT90M", 5400),
        ("PT1.5S", 1),
        ("PT0.999S", 0),
        ("P0D", 0),
    ],
)
def test_parse(text: str, seconds: int) -> None:
    assert durations.parse(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        *("", "5", "h", "1x", "20x", "1h30", "30m1h", "1.5h", "-1h", "1h 30m", " 1h"),
        *("PT", "P", "P1DT", "PT1D", "P1H", "1H", "pt1h", "T1H", "P1D2H"),
        *("20m\n", "\n20m", "PT1H\n"),  # a regex `$` would match before the newline
    ],
)
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        durations.parse(text)
    assert str(raised.value) == f"not a duration: {text!r}"


@pytest.mark.parametrize(
    ("seconds", "iso"),
    [
        (0, "PT0S"),
        (1, "PT1S"),
        (59, "PT59S"),
        (60, "PT1M"),
        (61, "PT1M1S"),
        (3600, "PT1H"),
        (5400, "PT1H30M"),
        (86399, "PT23H59M59S"),
        (86400, "P1D"),
        (86401, "P1DT1S"),
        (90061, "P1DT1H1M1S"),
        (7 * 86400, "P7D"),
    ],
)
def test_to_iso(seconds: int, iso: str) -> None:
    assert durations.to_iso(seconds) == iso


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (60, "1m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (604800, "7d"),
        (608400, "7d1h"),
    ],
)
def test_human(seconds: int, text: str) -> None:
    assert durations.human(seconds) == text


@settings(derandomize=True, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_iso_and_human_forms_parse_back(seconds: int) -> None:
    assert durations.parse(durations.to_iso(seconds)) == seconds
    assert durations.parse(durations.human(seconds)) == seconds


_SCHEMA_DURATION = re.compile(schema.schema()["$defs"]["duration"]["pattern"])
_DURATION_ALPHABET = st.sampled_from(list("0123456789dhmsPTDHMS. \n"))


@settings(derandomize=True, deadline=None)
@given(st.text(_DURATION_ALPHABET, max_size=12))
def test_the_schema_accepts_what_parse_accepts(text: str) -> None:
    """One grammar in two places (the schema for editors, `parse` for bwf): they agree,
    except fractional seconds, which only Batch writes and the schema does not take."""
    try:
        durations.parse(text)
        parsed = True
    except ValueError:
        parsed = False
    in_schema = _SCHEMA_DURATION.fullmatch(text) is not None
    if "." in text:
        assert not in_schema
    else:
        assert in_schema == parsed, text
