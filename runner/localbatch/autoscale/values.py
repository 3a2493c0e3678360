"""The values of the autoscale language: its types, time arithmetic and their text form.

double is a Python float (IEEE arithmetic, as Batch's), doubleVec a tuple of floats,
string a str; timestamp and timeinterval count 100 ns ticks (the resolution of
`TimeInterval_100ns`), a timestamp from the Unix epoch, always in UTC.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from runner.localbatch.autoscale.errors import ValueProblem

TICKS_PER_SECOND = 10_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Timestamps stay within the years 1 to 9999, the range a date can be written in.
_MIN_TICKS = -62_135_596_800 * TICKS_PER_SECOND
_MAX_TICKS = 253_402_214_400 * TICKS_PER_SECOND


class Kind(enum.Enum):
    """The type of an expression, as the documentation names it."""

    DOUBLE = "double"
    DOUBLE_VEC = "doubleVec"
    STRING = "string"
    TIMESTAMP = "timestamp"
    TIME_INTERVAL = "timeinterval"
    # The type of stop(): evaluation ends there, so it fits wherever a value is expected.
    NOTHING = "nothing"


@dataclass(frozen=True, order=True)
class TimeInterval:
    ticks: int


@dataclass(frozen=True, order=True)
class Timestamp:
    ticks: int


Value = float | tuple[float, ...] | str | Timestamp | TimeInterval

_SECOND = TICKS_PER_SECOND
TIME_INTERVAL_CONSTANTS: dict[str, TimeInterval] = {
    "TimeInterval_Zero": TimeInterval(0),
    "TimeInterval_100ns": TimeInterval(1),
    "TimeInterval_Microsecond": TimeInterval(10),
    "TimeInterval_Millisecond": TimeInterval(10_000),
    "TimeInterval_Second": TimeInterval(_SECOND),
    "TimeInterval_Minute": TimeInterval(60 * _SECOND),
    "TimeInterval_Hour": TimeInterval(3600 * _SECOND),
    "TimeInterval_Day": TimeInterval(86400 * _SECOND),
    "TimeInterval_Week": TimeInterval(7 * 86400 * _SECOND),
    "TimeInterval_Year": TimeInterval(365 * 86400 * _SECOND),
}

# The members of a timestamp; weekday counts from Sunday = 0, so Monday is 1.
TIMESTAMP_MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")


def kind_of(value: Value) -> Kind:
    if isinstance(value, float):
        return Kind.DOUBLE
    if isinstance(value, tuple):
        return Kind.DOUBLE_VEC
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, Timestamp):
        return Kind.TIMESTAMP
    return Kind.TIME_INTERVAL


def interval(ticks: float) -> TimeInterval:
    """A timeinterval of `ticks` (rounded to 100 ns), refused when no date could hold it."""
    if not math.isfinite(ticks) or abs(ticks) > _MAX_TICKS - _MIN_TICKS:
        raise ValueProblem("the timeinterval is out of range")
    return TimeInterval(round(ticks))


def timestamp(ticks: int) -> Timestamp:
    """A timestamp, refused outside the years 1 to 9999."""
    if not _MIN_TICKS <= ticks <= _MAX_TICKS:
        raise ValueProblem("the timestamp is out of range")
    return Timestamp(ticks)


def timestamp_of(moment: datetime) -> Timestamp:
    if moment.tzinfo is None:
        raise ValueError("autoscale times must be timezone-aware")
    delta = moment - _EPOCH
    return Timestamp(
        (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10
    )


def datetime_of(moment: Timestamp) -> datetime:
    return _EPOCH + timedelta(microseconds=moment.ticks // 10)


def interval_of(duration: timedelta) -> TimeInterval:
    return TimeInterval(
        (duration.days * 86400 + duration.seconds) * TICKS_PER_SECOND + duration.microseconds * 10
    )


def member(moment: Timestamp, name: str) -> float:
    when = datetime_of(moment)
    if name == "weekday":
        return float(when.isoweekday() % 7)
    return float(getattr(when, name))


_W3C_DTF = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2}))?)?)?"
)


def parse_time(text: str) -> Timestamp:
    """time(string): a W3C-DTF or an RFC 1123 date, the two formats Batch documents."""
    stripped = text.strip()
    match = _W3C_DTF.fullmatch(stripped)
    try:
        if match:
            return timestamp_of(_w3c_datetime(match))
        parsed = parsedate_to_datetime(stripped)
    except (ValueError, TypeError, IndexError, OverflowError):
        raise ValueProblem(f"time() cannot read '{text}' as a W3C-DTF or RFC 1123 date") from None
    if parsed.tzinfo is None:  # RFC 1123 "-0000": a time in UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    return timestamp_of(parsed)


def _w3c_datetime(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = timezone.utc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0")[:6].ljust(6, "0")),
        tzinfo=tz,
    )


def format_double(number: float) -> str:
    """A double as Batch prints it in results: six significant digits (96.6667, 1e+06)."""
    return format(number, "g")


def format_value(value: Value) -> str:
    """A value as it appears in `autoScaleRun.results`."""
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, tuple):
        return "[" + ",".join(format_double(x) for x in value) + "]"
    if isinstance(value, str):
        return value
    if isinstance(value, Timestamp):
        when = datetime_of(value)
        return (
            f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}"
            f":{when.second:02d}.{when.microsecond // 1000:03d}Z"
        )
    return _interval_text(value)


def _interval_text(value: TimeInterval) -> str:
    """.NET's TimeSpan form, [-][d.]hh:mm:ss[.fffffff], which Batch's REST API also uses."""
    sign = "-" if value.ticks < 0 else ""
    seconds, fraction = divmod(abs(value.ticks), TICKS_PER_SECOND)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{days}." if days else sign
    text += f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{fraction:07d}" if fraction else "")
