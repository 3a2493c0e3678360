"""How large the values a template makes may grow, checked before they are made.

`measure` estimates how many characters a value has once written out (stopping early);
the `check_*` functions refuse an operator, a method call or a filter whose result
would pass `runner.bounds`, and the `bounded_*` helpers replace Jinja's own `range`,
`join` and output concatenation with versions that count as they go.
"""

from __future__ import annotations

import math
import re
from collections import abc
from collections.abc import Iterable, Iterator
from typing import Any

from jinja2.filters import make_attrgetter
from jinja2.utils import Namespace, pass_environment

from runner.bounds import TEMPLATE_INT_BITS_MAX, TEMPLATE_ITEMS_MAX, TEMPLATE_TEXT_MAX
from runner.sandbox_budget import TemplateRefused, spend

# What a template can hold that is written out item by item (dict views: `d.items()`).
_CONTAINERS = (list, tuple, set, frozenset, dict, abc.KeysView, abc.ValuesView, abc.ItemsView)


def measure(value: Any, limit: int = TEMPLATE_TEXT_MAX) -> int:
    """About how many characters `value` has once written out; stops counting past `limit`."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, bytes):
            total += 4 * len(v)  # written out as b'\xff...'
        elif isinstance(v, _CONTAINERS):
            total += 2 + 2 * len(v)
            if total <= limit:
                stack.extend(v)
                if isinstance(v, dict):
                    stack.extend(v.values())
        elif isinstance(v, Namespace):
            stack.append(object.__getattribute__(v, "_Namespace__attrs"))
        elif isinstance(v, int) and not isinstance(v, bool):
            total += v.bit_length() // 3 + 1
        else:
            total += 24  # numbers, None, and objects whose text is their short repr
    return total


def _refuse_text(size: int, what: str = "text", exact: bool = False) -> None:
    """Refuse text of `size` characters (`exact`), or of at least that many, past the limit."""
    if size > TEMPLATE_TEXT_MAX:
        amount = f"{size:,}" if exact else f"more than {TEMPLATE_TEXT_MAX:,}"
        raise TemplateRefused(
            f"{what} of {amount} characters, over the sandbox's limit of {TEMPLATE_TEXT_MAX:,}"
        )


def _refuse_items(count: int, what: str = "a list") -> None:
    if count > TEMPLATE_ITEMS_MAX:
        raise TemplateRefused(
            f"{what} of {count:,} items, over the sandbox's limit of {TEMPLATE_ITEMS_MAX:,}"
        )


def as_text(value: Any) -> Any:
    """`value` unchanged, once it is known that writing it out stays within bounds."""
    if isinstance(value, str):
        _refuse_text(len(value))
    else:
        size = measure(value)
        _refuse_text(size)
        spend(size)  # writing it out makes that text
    return value


def check_result(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        _refuse_text(len(value))
        spend(len(value))
    elif isinstance(value, (list, tuple)):
        _refuse_items(len(value))
        spend(len(value))
    return value


def check_power(base: Any, exponent: Any) -> None:
    if type(base) is int and type(exponent) is int and exponent > 0 and abs(base) > 1:
        bits = exponent * math.log2(abs(base))
        if bits > TEMPLATE_INT_BITS_MAX:
            raise TemplateRefused(
                f"{base} ** {exponent} has about {bits:,.0f} bits, over the sandbox's limit of "
                f"{TEMPLATE_INT_BITS_MAX:,}"
            )


def check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and not isinstance(right, int):
        left, right = right, left
    if isinstance(left, (str, bytes)) and isinstance(right, int):
        _refuse_text(len(left) * right, "repetition would make text", exact=True)
    elif isinstance(left, (list, tuple)) and isinstance(right, int):
        _refuse_items(len(left) * right, "repetition would make a list")
    elif type(left) is int and type(right) is int:
        bits = left.bit_length() + right.bit_length()
        if bits > TEMPLATE_INT_BITS_MAX:
            raise TemplateRefused(
                f"a product of about {bits:,} bits, over the sandbox's limit of "
                f"{TEMPLATE_INT_BITS_MAX:,}"
            )


def check_sum(left: Any, right: Any) -> None:
    if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
        _refuse_text(len(left) + len(right), "+ would make text", exact=True)
    elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        _refuse_items(len(left) + len(right))


# Widths and precisions in %-style and {}-style format specifications.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d+|\*)?(?:\.(\d+|\*))?")
_BRACE_SPEC = re.compile(r"\{[^{}:]*:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")


def check_format(fmt: Any, args: Any) -> None:
    """Refuse a format whose output could outgrow the sandbox: widths, or fields that each
    write out all of the arguments."""
    if not isinstance(fmt, str):
        return
    numbers = [n for m in _PERCENT_SPEC.finditer(fmt) for n in m.groups() if n]
    numbers += [n for spec in _BRACE_SPEC.findall(fmt) for n in _DIGITS.findall(spec)]
    widest = 0
    for n in numbers:
        if n == "*":
            flat = args if isinstance(args, (list, tuple)) else (args,)
            widest = max([widest, *(abs(a) for a in flat if type(a) is int)])
        else:
            widest = max(widest, int(n) if len(n) <= 9 else TEMPLATE_TEXT_MAX + 1)
    fields = fmt.count("%") + fmt.count("{")
    _refuse_text(len(fmt) + fields * (measure(args) + widest), "formatting could make text")


def _check_replace(s: Any, old: Any, new: Any, count: Any) -> None:
    s, old, new = str(as_text(s)), str(as_text(old)), str(as_text(new))
    hits = s.count(old) if old else len(s) + 1
    if type(count) is int and count >= 0:
        hits = min(hits, count)
    _refuse_text(len(s) + hits * len(new), "replace() would make text")


def _check_width(width: Any, limit: int = TEMPLATE_TEXT_MAX) -> None:
    if type(width) is int and abs(width) > limit:
        raise TemplateRefused(
            f"a width or count of {width:,}, over the sandbox's limit of {limit:,}"
        )


def check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call of a str, bytes or int method whose result could outgrow the sandbox;
    returns the arguments to call it with (an iterator to join is read once, here)."""
    s, name = method.__self__, method.__name__
    if name == "replace":
        old = args[0] if args else kwargs.get("old", "")
        new = args[1] if len(args) > 1 else kwargs.get("new", "")
        _check_replace(s, old, new, args[2] if len(args) > 2 else kwargs.get("count", -1))
    elif name in ("center", "ljust", "rjust", "zfill"):
        _check_width(args[0] if args else kwargs.get("width"))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if type(size) is int:
            _refuse_text(len(s) + s.count("\t" if isinstance(s, str) else b"\t") * size)
    elif name == "join" and args:
        parts = list(_bounded_items(args[0]))
        _refuse_text(measure(parts) + len(s) * len(parts), "join() would make text")
        return (parts, *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((measure(v) for v in args[0].values()), default=1)
        _refuse_text(len(s) * max(longest, 1), "translate() could make text")
    elif name == "to_bytes":
        _check_width(args[0] if args else kwargs.get("length", 1))
    return args


def _bounded_items(iterable: Any) -> Iterator[Any]:
    for i, item in enumerate(iterable):
        if i >= TEMPLATE_ITEMS_MAX:
            _refuse_items(i + 1, "a sequence")
        yield item


def bounded_range(*args: int) -> range:
    """`range` for templates: at most TEMPLATE_ITEMS_MAX numbers."""
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = TEMPLATE_ITEMS_MAX + 1
    _refuse_items(length, "range()")
    return numbers


def bounded_concat(parts: Iterable[str]) -> str:
    """Joins the output of a block, a macro or a whole template, within bounds."""
    out: list[str] = []
    total = 0
    for part in parts:
        total += len(part)
        _refuse_text(total, "output")
        out.append(part)
    spend(total)
    return "".join(out)


@pass_environment
def bounded_join(
    environment: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    """Jinja's `join` filter, counting the text it makes as it goes."""
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    separator = str(d)
    parts: list[str] = []
    total = 0
    for item in _bounded_items(value):
        text = item if isinstance(item, str) else str(as_text(item))
        total += len(text) + len(separator)
        _refuse_text(total, "join would make text")
        parts.append(text)
    spend(total)
    return separator.join(parts)


# Filters that do not write their value out as text, and so need no measuring of it.
_STRUCTURAL_FILTERS = frozenset(
    (
        "abs",
        "attr",
        "batch",
        "count",
        "d",
        "default",
        "dictsort",
        "first",
        "float",
        "groupby",
        "int",
        "items",
        "last",
        "length",
        "list",
        "map",
        "max",
        "min",
        "random",
        "reject",
        "rejectattr",
        "reverse",
        "round",
        "select",
        "selectattr",
        "slice",
        "sort",
        "sum",
        "unique",
        "join",  # bounded_join counts what it writes
    )
)


def check_filter(name: str, value: Any, params: dict[str, Any]) -> None:
    """Refuse a filter call whose result could outgrow the sandbox (`params` by name)."""
    if name not in _STRUCTURAL_FILTERS:
        as_text(value)
    if name == "replace":
        _check_replace(value, params.get("old", ""), params.get("new", ""), params.get("count"))
    elif name == "center":
        _check_width(params.get("width"))
    elif name in ("batch", "slice"):
        _check_width(params.get("linecount", params.get("slices")), TEMPLATE_ITEMS_MAX)
    elif name == "truncate":
        _check_width(params.get("length"))
    elif name == "indent":
        width = params.get("width", 4)
        _check_width(width)
        text = str(value)
        each = len(width) if isinstance(width, str) else width if type(width) is int else 0
        _refuse_text(len(text) + (text.count("\n") + 1) * each, "indent would make text")
    elif name == "wordwrap":
        text, width = str(value), params.get("width", 79)
        wrap = str(params.get("wrapstring") or "\n")
        lines = len(text) // max(width if type(width) is int else 1, 1) + text.count("\n") + 1
        _refuse_text(len(text) + lines * len(wrap), "wordwrap would make text")
    elif name == "format":
        check_format(value, (params.get("args", ()), params.get("kwargs", {})))
    elif name == "sum":
        if not isinstance(params.get("start", 0), (int, float)):
            raise TemplateRefused("sum adds numbers only (start must be a number)")
    elif name == "tojson":
        indent = params.get("indent")
        _check_width(indent, 16)
        _refuse_text(measure(value) * (1 + (indent or 0)), "tojson would make text")
