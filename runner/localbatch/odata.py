"""The OData query options of Batch lists: `$filter` (a small real parser) and `$select`.

`$filter` follows "OData filters in Batch": comparisons `prop op literal` with `eq`,
`ne`, `gt`, `ge`, `lt`, `le`; `startswith(prop,'text')`; `and`/`or` (and binds tighter)
with parentheses. Literals: `'text'` (`''` escapes a quote), integers, `true`/`false`,
`null` and `datetime'2024-01-01T00:00:00Z'`. Each list allows its own properties, each
with its own operators (`filterable`); anything else gets Batch's 400
`InvalidQueryParameterValue` naming the reason, before a single item is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from runner.localbatch.errors import ApiError

Predicate = Callable[[dict[str, Any]], bool]

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Prop:
    """A filterable property: its type (`string`, `enum`, `datetime`, `int`, `bool`) and
    the operators the list allows on it (`startswith` among them when allowed)."""

    type: str
    ops: tuple[str, ...]
    field: str | None = None  # the object's property when the filter's name differs


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<datetime>datetime'(?:[^']|'')*')"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_/]*)"
    r"|(?P<punct>[(),])"
    r")"
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # datetime | string | number | name | punct | end
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _bad(text, f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        kind = m.lastgroup or "punct"
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _bad(text: str, reason: str) -> ApiError:
    return ApiError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        {"QueryParameterName": "$filter", "QueryParameterValue": text[:500], "Reason": reason},
    )


def parse_time(value: str) -> datetime | None:
    text = value.strip().replace("Z", "+00:00")
    # fractions beyond microseconds (Batch writes 7 digits) are cut to what Python reads
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class _Parser:
    """Recursive descent over the tokens; builds a predicate per clause."""

    def __init__(self, text: str, props: Mapping[str, Prop]) -> None:
        self.text = text
        self.props = props
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "name" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise _bad(
                self.text, f"expected {text!r} at {tok.pos}, found {tok.text or 'the end'!r}"
            )

    def parse(self) -> Predicate:
        pred = self.disjunction()
        tok = self.peek()
        if tok.kind != "end":
            raise _bad(self.text, f"unexpected {tok.text!r} at {tok.pos}")
        return pred

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda obj: any(p(obj) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.primary()]
        while self.keyword("and"):
            parts.append(self.primary())
        if len(parts) == 1:
            return parts[0]
        return lambda obj: all(p(obj) for p in parts)

    def primary(self) -> Predicate:
        tok = self.peek()
        if tok.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        if tok.kind == "name" and tok.text.lower() == "startswith":
            return self.startswith()
        if tok.kind != "name":
            raise _bad(
                self.text, f"expected a property name at {tok.pos}, found {tok.text or 'the end'!r}"
            )
        return self.comparison()

    def prop(self, op: str) -> tuple[str, Prop]:
        tok = self.take()
        if tok.kind != "name":
            raise _bad(self.text, f"expected a property name at {tok.pos}")
        prop = self.props.get(tok.text)
        if prop is None:
            allowed = ", ".join(self.props) or "none"
            raise _bad(
                self.text,
                f"the property {tok.text!r} cannot be filtered on in this list (allowed: {allowed})",
            )
        if op not in prop.ops:
            raise _bad(
                self.text,
                f"the operator {op!r} is not supported on {tok.text!r} (allowed: {', '.join(prop.ops)})",
            )
        return tok.text, prop

    def startswith(self) -> Predicate:
        self.take()
        self.expect("(")
        name, prop = self.prop("startswith")
        path = prop.field or name
        self.expect(",")
        tok = self.take()
        if tok.kind != "string":
            raise _bad(self.text, f"startswith needs a quoted string at {tok.pos}")
        prefix = tok.text[1:-1].replace("''", "'")
        self.expect(")")
        if self.keyword("eq"):  # OData v3 writes `startswith(a,'b') eq true`
            value = self.take()
            if value.text not in ("true", "false"):
                raise _bad(self.text, f"startswith(...) eq needs true or false at {value.pos}")
            want = value.text == "true"
            return lambda obj: _starts(_get(obj, path), prefix) == want
        return lambda obj: _starts(_get(obj, path), prefix)

    def comparison(self) -> Predicate:
        name = self.peek()
        op_tok = self.toks[self.i + 1]
        op = op_tok.text.lower()
        if op_tok.kind != "name" or op not in COMPARISONS:
            raise _bad(
                self.text,
                f"expected one of {', '.join(COMPARISONS)} after {name.text!r} at {op_tok.pos}",
            )
        path, prop = self.prop(op)
        self.take()  # the operator
        value = self.literal(prop)
        return _compare(prop.field or path, prop, op, value)

    def literal(self, prop: Prop) -> Any:
        tok = self.take()
        if tok.kind == "string":
            text = tok.text[1:-1].replace("''", "'")
            if prop.type == "datetime":
                return self.time(text, tok)
            return text
        if tok.kind == "datetime":
            return self.time(tok.text[9:-1].replace("''", "'"), tok)
        if tok.kind == "number":
            if prop.type not in ("int", "datetime"):
                return tok.text
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "name" and tok.text in ("true", "false"):
            return tok.text == "true"
        if tok.kind == "name" and tok.text == "null":
            return None
        raise _bad(self.text, f"expected a value at {tok.pos}, found {tok.text or 'the end'!r}")

    def time(self, text: str, tok: _Tok) -> datetime:
        dt = parse_time(text)
        if dt is None:
            raise _bad(self.text, f"{text!r} at {tok.pos} is not a date and time")
        return dt


def _get(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _starts(value: Any, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix)


def _normal(prop: Prop, value: Any) -> Any:
    """The value as it compares: times as datetimes, enum values ignoring case."""
    if value is None:
        return None
    if prop.type == "datetime":
        return parse_time(value) if isinstance(value, str) else value
    if prop.type == "enum" and isinstance(value, str):
        return value.lower()
    return value


def _compare(path: str, prop: Prop, op: str, literal: Any) -> Predicate:
    want = _normal(prop, literal)

    def predicate(obj: dict[str, Any]) -> bool:
        have = _normal(prop, _get(obj, path))
        if op == "eq":
            return bool(have == want)
        if op == "ne":
            return bool(have != want)
        if have is None or want is None:
            return False  # an absent value is never ordered (OData null semantics)
        try:
            if op == "gt":
                return bool(have > want)
            if op == "ge":
                return bool(have >= want)
            if op == "lt":
                return bool(have < want)
            return bool(have <= want)
        except TypeError:
            return False

    return predicate


def compile_filter(text: str | None, props: Mapping[str, Prop]) -> Predicate | None:
    """A predicate for `$filter` over the list's filterable `props`, or None when there is
    no filter. Raises ApiError (400) for a syntax error or an unsupported property."""
    if text is None or not text.strip():
        return None
    return _Parser(text, props).parse()


def select(obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return obj
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    return {k: v for k, v in obj.items() if k in wanted}
