"""The operators and built-in functions of the autoscale language, with their type rules.

One table serves both the type checker (which signatures exist, and their result
type) and the evaluator (how to compute them), so the two cannot disagree. The
operator table is the documentation's, no more: e.g. `timestamp - timeinterval` is not
in it (Batch's own example writes `time() + (-6 * TimeInterval_Hour)`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from runner.localbatch.autoscale.errors import ValueProblem
from runner.localbatch.autoscale.values import (
    Kind,
    TimeInterval,
    Timestamp,
    Value,
    interval,
    parse_time,
    timestamp,
)

D, V, S = Kind.DOUBLE, Kind.DOUBLE_VEC, Kind.STRING
TS, TI = Kind.TIMESTAMP, Kind.TIME_INTERVAL


def _divide(a: float, b: float) -> float:
    """IEEE division, as Batch computes: x/0 is an infinity, 0/0 is NaN."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
}


def _vec_scalar(op: Callable[[float, float], float]) -> Callable[[Value, Value], Value]:
    def run(vec: Value, scalar: Value) -> Value:
        assert isinstance(vec, tuple) and isinstance(scalar, float)
        return tuple(op(x, scalar) for x in vec)

    return run


def _vec_vec(op: Callable[[float, float], float]) -> Callable[[Value, Value], Value]:
    def run(left: Value, right: Value) -> Value:
        assert isinstance(left, tuple) and isinstance(right, tuple)
        if len(left) != len(right):
            raise ValueProblem(f"the doubleVecs have different lengths ({len(left)}, {len(right)})")
        return tuple(op(x, y) for x, y in zip(left, right, strict=True))

    return run


def _scalar(op: Callable[[float, float], float]) -> Callable[[Value, Value], Value]:
    def run(left: Value, right: Value) -> Value:
        assert isinstance(left, float) and isinstance(right, float)
        return op(left, right)

    return run


def _ticks(value: Value) -> int:
    assert isinstance(value, (TimeInterval, Timestamp))
    return value.ticks


def _number(value: Value) -> float:
    assert isinstance(value, float)
    return value


def _interval_divided(span: Value, by: Value) -> Value:
    if _number(by) == 0:
        raise ValueProblem("a timeinterval cannot be divided by zero")
    return interval(_ticks(span) / _number(by))


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Value, Value], Value]:
    return lambda left, right: 1.0 if op(left, right) else 0.0


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
    "!=": operator.ne,
}

BinaryRule = tuple[Kind, Callable[[Value, Value], Value]]
BINARY: dict[tuple[str, Kind, Kind], BinaryRule] = {}
for _op, _fn in _ARITHMETIC.items():
    BINARY[(_op, D, D)] = (D, _scalar(_fn))
    BINARY[(_op, V, D)] = (V, _vec_scalar(_fn))
    BINARY[(_op, V, V)] = (V, _vec_vec(_fn))
for _op, _cmp in _COMPARISONS.items():
    for _kind in (D, S, TS, TI):
        BINARY[(_op, _kind, _kind)] = (D, _compare(_cmp))
BINARY.update(
    {
        ("*", D, TI): (TI, lambda a, b: interval(_number(a) * _ticks(b))),
        ("*", TI, D): (TI, lambda a, b: interval(_ticks(a) * _number(b))),
        ("/", TI, D): (TI, _interval_divided),
        ("+", TI, TI): (TI, lambda a, b: interval(_ticks(a) + _ticks(b))),
        ("-", TI, TI): (TI, lambda a, b: interval(_ticks(a) - _ticks(b))),
        ("+", TI, TS): (TS, lambda a, b: timestamp(_ticks(a) + _ticks(b))),
        ("+", TS, TI): (TS, lambda a, b: timestamp(_ticks(a) + _ticks(b))),
        ("-", TS, TS): (TI, lambda a, b: interval(_ticks(a) - _ticks(b))),
    }
)
# The evaluator skips the right operand of && and || when the left one decides.
LOGICAL = ("&&", "||")
BINARY[("&&", D, D)] = (D, _scalar(lambda a, b: 1.0 if a != 0 and b != 0 else 0.0))
BINARY[("||", D, D)] = (D, _scalar(lambda a, b: 1.0 if a != 0 or b != 0 else 0.0))

UnaryRule = tuple[Kind, Callable[[Value], Value]]
UNARY: dict[tuple[str, Kind], UnaryRule] = {
    ("-", D): (D, lambda a: -_number(a)),
    ("!", D): (D, lambda a: 1.0 if _number(a) == 0 else 0.0),
    ("-", TI): (TI, lambda a: TimeInterval(-_ticks(a))),
}


@dataclass(frozen=True)
class CallContext:
    """What functions read besides their arguments: the evaluation time, a random source."""

    now: Timestamp
    random: Callable[[], float]


@dataclass(frozen=True)
class Overload:
    # The parameter types; None for a doubleVecList: any doubles and doubleVecs, flattened.
    params: tuple[Kind, ...] | None
    result: Kind
    run: Callable[[Sequence[Value], CallContext], Value]

    def accepts(self, kinds: Sequence[Kind]) -> bool:
        if self.params is None:
            return all(kind in (D, V, Kind.NOTHING) for kind in kinds)
        return len(kinds) == len(self.params) and all(
            kind in (expected, Kind.NOTHING)
            for kind, expected in zip(kinds, self.params, strict=True)
        )


def flatten(args: Sequence[Value]) -> tuple[float, ...]:
    """A doubleVecList made into one doubleVec: avg(v, 7) is avg(1, 2, 3, 7) for v = [1,2,3]."""
    out: list[float] = []
    for arg in args:
        out.extend(arg if isinstance(arg, tuple) else (_number(arg),))
    return tuple(out)


def _nonempty(name: str, values: tuple[float, ...]) -> tuple[float, ...]:
    if not values:
        raise ValueProblem(f"{name}() of an empty list")
    return values


def _std(values: tuple[float, ...]) -> float:
    if len(values) < 2:
        raise ValueProblem("std() needs at least two values (it is the sample standard deviation)")
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (len(values) - 1))


def _percentile(args: Sequence[Value], _: CallContext) -> Value:
    values, rank = sorted(_nonempty("percentile", flatten(args[:1]))), _number(args[1])
    if not 0 <= rank <= 100:
        raise ValueProblem(f"percentile() takes a percentile between 0 and 100, not {rank:g}")
    # The nearest-rank method: the result is an element of the vector.
    return values[max(0, math.ceil(rank / 100 * len(values)) - 1)]


def _val(args: Sequence[Value], _: CallContext) -> Value:
    values, index = flatten(args[:1]), _number(args[1])
    if not (index.is_integer() and 0 <= index < len(values)):
        raise ValueProblem(f"val() index {index:g} is not an element of a vector of {len(values)}")
    return values[int(index)]


def _log(base: float | None) -> Callable[[float], float]:
    def run(x: float) -> float:
        if math.isnan(x) or x < 0:
            return math.nan
        if x == 0:
            return -math.inf
        return math.log(x) if base is None else math.log(x, base)

    return run


def _rounding(fn: Callable[[float], float]) -> Callable[[float], float]:
    return lambda x: float(fn(x)) if math.isfinite(x) else x


def _round_half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _aggregate(fn: Callable[[tuple[float, ...]], float]) -> list[Overload]:
    return [Overload(None, D, lambda args, _: fn(flatten(args)))]


def _elementwise(fn: Callable[[float], float]) -> list[Overload]:
    # The double version applies to a single double; a doubleVec (or a list) gets the vector one.
    return [
        Overload((D,), D, lambda args, _: fn(_number(args[0]))),
        Overload(None, V, lambda args, _: tuple(fn(x) for x in flatten(args))),
    ]


def _time(args: Sequence[Value], context: CallContext) -> Value:
    text = args[0] if args else ""
    assert isinstance(text, str)
    return parse_time(text) if text.strip() else context.now


class StopEvaluation(Exception):
    """stop(): the evaluation ends here, with the values computed so far."""


def _stop(_: Sequence[Value], __: CallContext) -> Value:
    raise StopEvaluation


FUNCTIONS: dict[str, list[Overload]] = {
    "avg": _aggregate(lambda v: math.fsum(_nonempty("avg", v)) / len(v)),
    "len": _aggregate(lambda v: float(len(v))),
    "max": _aggregate(lambda v: max(_nonempty("max", v))),
    "min": _aggregate(lambda v: min(_nonempty("min", v))),
    "norm": _aggregate(lambda v: math.sqrt(math.fsum(x * x for x in v))),
    "range": _aggregate(lambda v: max(_nonempty("range", v)) - min(v)),
    "std": _aggregate(_std),
    "sum": _aggregate(math.fsum),
    "lg": _elementwise(_log(2)),
    "ln": _elementwise(_log(None)),
    "log": _elementwise(_log(10)),
    "ceil": _elementwise(_rounding(math.ceil)),
    "floor": _elementwise(_rounding(math.floor)),
    "round": _elementwise(_rounding(_round_half_away)),
    "percentile": [Overload((V, D), D, _percentile)],
    "val": [Overload((V, D), D, _val)],
    "rand": [Overload((), D, lambda _, context: context.random())],
    "time": [Overload((), TS, _time), Overload((S,), TS, _time)],
    "stop": [Overload((), Kind.NOTHING, _stop)],
}


def overload(name: str, kinds: Sequence[Kind]) -> Overload | None:
    """The version of function `name` that takes arguments of `kinds`, if any."""
    return next((o for o in FUNCTIONS.get(name, []) if o.accepts(kinds)), None)
