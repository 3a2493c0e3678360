"""The sample methods of the sampled service variables, with Batch's sample-percent rule.

A time argument is a timestamp, or a timeinterval looking back from the evaluation
time: `GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute)` reads the samples
taken between six and one minute ago. The sample percent of a window compares the
samples present with those Batch would have recorded, one every sample period (30 s):
with 29 samples in the last 15 minutes, `GetSamplePercent(15 * TimeInterval_Minute)`
is 96.6667. `GetSample(..., percent)` fails with InsufficientSampleData below `percent`.
Vectors list samples oldest first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from runner.localbatch.autoscale.errors import ValueProblem
from runner.localbatch.autoscale.values import Kind, TimeInterval, Timestamp, Value
from runner.localbatch.autoscale.variables import SystemSamples

D, V, TS, TI = Kind.DOUBLE, Kind.DOUBLE_VEC, Kind.TIMESTAMP, Kind.TIME_INTERVAL
_TIMES = (TS, TI)


class InsufficientSamples(Exception):
    def __init__(self, wanted: float, received: float) -> None:
        super().__init__(f"wanted {wanted:g}%, received {received:g}%")
        self.wanted = wanted
        self.received = received


def _signatures() -> dict[str, list[tuple[tuple[Kind, ...], Kind]]]:
    one_time = [((t,), V) for t in _TIMES]
    two_times = [(pair, V) for pair in itertools.product(_TIMES, repeat=2)]
    return {
        "GetSample": [
            ((D,), V),
            *one_time,
            *[((*params, D), V) for params, _ in one_time],
            *two_times,
            *[((*params, D), V) for params, _ in two_times],
        ],
        "GetSamplePercent": [(params, D) for params, _ in (*one_time, *two_times)],
        "GetSamplePeriod": [((), TI)],
        "Count": [((), D)],
        "HistoryBeginTime": [((), TS)],
    }


METHODS = _signatures()


def method_result(method: str, kinds: Sequence[Kind]) -> Kind | None:
    """The type `method` returns for arguments of `kinds`, None if it takes no such arguments."""
    for params, result in METHODS.get(method, []):
        if len(params) == len(kinds) and all(
            kind in (expected, Kind.NOTHING) for kind, expected in zip(kinds, params, strict=True)
        ):
            return result
    return None


def call_method(
    samples: SystemSamples, metric: str, method: str, args: Sequence[Value], now: Timestamp
) -> Value:
    """Runs a sample method (type-checked beforehand) on `metric`'s history."""
    if method == "GetSamplePeriod":
        return samples.period
    if method == "Count":
        return float(samples.count(metric))
    if method == "HistoryBeginTime":
        oldest = samples.oldest(metric)
        if oldest is None:
            raise ValueProblem(f"{metric} has no samples yet")
        return oldest
    if method == "GetSample" and isinstance(args[0], float):
        return samples.last(metric, _count(args[0]), now)
    times = [_point(arg, now) for arg in args if not isinstance(arg, float)]
    if len(times) == 1:  # from a start time up to now
        times.append(now)
    start, end = min(times[0], times[-1]), max(times[0], times[-1])
    present = samples.between(metric, start, end) if method == "GetSample" else ()
    received = _percent(samples, metric, start, end)
    if method == "GetSamplePercent":
        return received
    wanted = args[-1]
    if isinstance(wanted, float) and received < wanted:
        raise InsufficientSamples(wanted, received)
    return present


def _count(number: float) -> int:
    if not math.isfinite(number) or number < 0:
        raise ValueProblem(f"GetSample() cannot take {number:g} samples")
    return int(number)


def _point(arg: Value, now: Timestamp) -> Timestamp:
    if isinstance(arg, TimeInterval):
        return Timestamp(now.ticks - arg.ticks)
    assert isinstance(arg, Timestamp)
    return arg


def _percent(samples: SystemSamples, metric: str, start: Timestamp, end: Timestamp) -> float:
    expected = max(1, (end.ticks - start.ticks) // samples.period.ticks)
    return min(100.0, 100.0 * samples.count_between(metric, start, end) / expected)
