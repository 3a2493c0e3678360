"""Tokens and syntax tree of an autoscale formula, and the parser between them.

A formula is statements separated by `;` (the last one may omit it), each an
assignment `name = expression` or a bare expression; `//` starts a comment that ends
with the line. Expressions use C's operators and precedence: `?:`, `||`, `&&`,
`== !=`, `< <= > >=`, `+ -`, `* /`, unary `- !`, calls `f(a, b)`, methods
`$Metric.GetSample(...)` and members `t.hour`. Nesting is bounded so that no formula
can exhaust the stack: the formula is at most 8 KB, but `((((...))))` need not be.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from runner.localbatch.autoscale.errors import Position, syntax_error

MAX_NESTING = 32  # parentheses, call arguments and unary operators inside each other
MAX_DEPTH = 100  # levels of the syntax tree, e.g. a chain of 100 additions

_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+|//[^\n]*)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)"
    r'|(?P<string>"[^"]*")'
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/!<>?:=(),.;])"
)


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "string", "op" or "end"
    text: str
    at: Position


def tokenize(formula: str) -> Iterator[Token]:
    line, line_start, index = 1, 0, 0
    while index < len(formula):
        match = _TOKEN.match(formula, index)
        at = Position(line, index - line_start + 1)
        if match is None:
            if formula[index] == '"':
                raise syntax_error(at, "unterminated string")
            raise syntax_error(at, f"unexpected character '{formula[index]}'")
        kind, text = match.lastgroup or "", match.group()
        if kind != "space":
            yield Token(kind, text, at)
        for offset, char in enumerate(text):
            if char == "\n":
                line, line_start = line + 1, index + offset + 1
        index = match.end()
    yield Token("end", "", Position(line, index - line_start + 1))


@dataclass(frozen=True)
class Node:
    at: Position
    depth: int = field(init=False, compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()

    def __post_init__(self) -> None:
        depth = 1 + max((child.depth for child in self.children()), default=0)
        object.__setattr__(self, "depth", depth)


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Name(Node):
    """A variable (user-defined or `$ServiceDefined`), a constant or a keyword."""

    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Conditional(Node):
    test: Node
    then: Node
    otherwise: Node

    def children(self) -> tuple[Node, ...]:
        return (self.test, self.then, self.otherwise)


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True)
class MethodCall(Node):
    """`$Metric.Method(args)`: the sample methods of a sampled service variable."""

    receiver: Node
    method: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return (self.receiver, *self.args)


@dataclass(frozen=True)
class Member(Node):
    """`timestamp.member`."""

    target: Node
    member: str

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Statement:
    at: Position
    target: str | None  # the assigned variable, None for a bare expression
    value: Node


_BINARY_LEVELS = (
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/"),
)


def parse(formula: str) -> tuple[Statement, ...]:
    """The statements of `formula`; raises FormulaError (syntax) on the first mistake."""
    return _Parser(formula).statements()


class _Parser:
    def __init__(self, formula: str) -> None:
        self.tokens = list(tokenize(formula))
        self.index = 0
        self.nesting = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def expect(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.unexpected(f"expected '{op}'")
        return self.advance()

    def unexpected(self, hint: str = "") -> Exception:
        token = self.token
        found = "end of formula" if token.kind == "end" else f"'{token.text}'"
        return syntax_error(token.at, f"unexpected {found}" + (f", {hint}" if hint else ""))

    def statements(self) -> tuple[Statement, ...]:
        statements: list[Statement] = []
        while self.token.kind != "end":
            if self.at_op(";"):
                self.advance()
                continue
            statements.append(self.statement())
            if self.token.kind != "end":
                self.expect(";")
        if not statements:
            raise syntax_error(self.token.at, "the formula has no statement")
        return tuple(statements)

    def statement(self) -> Statement:
        first, after = self.token, self.tokens[self.index + 1]
        if first.kind == "name" and after.kind == "op" and after.text == "=":
            self.index += 2
            return Statement(first.at, first.text, self.expression())
        value = self.expression()
        if self.at_op("="):
            raise syntax_error(self.token.at, "only a variable can be assigned")
        return Statement(first.at, None, value)

    def expression(self) -> Node:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise syntax_error(self.token.at, "the expression is nested too deeply")
        test = self.binary(0)
        if self.at_op("?"):
            at = self.advance().at
            then = self.expression()
            self.expect(":")
            test = self.checked(Conditional(at, test, then, self.expression()))
        self.nesting -= 1
        return test

    def binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.at_op(*_BINARY_LEVELS[level]):
            op = self.advance()
            left = self.checked(Binary(op.at, op.text, left, self.binary(level + 1)))
        return left

    def unary(self) -> Node:
        if self.at_op("-", "!"):
            op = self.advance()
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise syntax_error(op.at, "the expression is nested too deeply")
            node = self.checked(Unary(op.at, op.text, self.unary()))
            self.nesting -= 1
            return node
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while self.at_op("."):
            self.advance()
            name = self.advance()
            if name.kind != "name" or name.text.startswith("$"):
                self.index -= 1
                raise self.unexpected("expected a method or member name")
            if self.at_op("("):
                node = self.checked(MethodCall(name.at, node, name.text, self.arguments()))
            else:
                node = self.checked(Member(name.at, node, name.text))
        return node

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            return Number(token.at, float(token.text))
        if token.kind == "string":
            self.advance()
            return String(token.at, token.text[1:-1])
        if token.kind == "name":
            self.advance()
            if self.at_op("(") and not token.text.startswith("$"):
                return self.checked(Call(token.at, token.text, self.arguments()))
            return Name(token.at, token.text)
        if self.at_op("("):
            self.advance()
            inner = self.expression()
            self.expect(")")
            return inner
        raise self.unexpected()

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if not self.at_op(")"):
            args.append(self.expression())
            while self.at_op(","):
                self.advance()
                args.append(self.expression())
        self.expect(")")
        return tuple(args)

    def checked(self, node: Node) -> Node:
        if node.depth > MAX_DEPTH:
            raise syntax_error(node.at, "the expression is too complex")
        return node
