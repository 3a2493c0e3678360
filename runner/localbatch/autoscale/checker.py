"""Type checking of a parsed formula, before anything is evaluated.

The language has no branching statements, so walking the statements in order knows
the type of every variable wherever it is read. A formula that uses an operator or a
function on types the documentation does not list, reads a variable before assigning
it, or assigns a read-only variable is refused as a whole with
AutoScalingFormulaSyntaxError, as Batch refuses a formula it cannot compile.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.localbatch.autoscale.errors import syntax_error
from runner.localbatch.autoscale.functions import BINARY, FUNCTIONS, UNARY, overload
from runner.localbatch.autoscale.samples import METHODS, method_result
from runner.localbatch.autoscale.syntax import (
    Binary,
    Call,
    Conditional,
    Member,
    MethodCall,
    Name,
    Node,
    Number,
    Statement,
    String,
    Unary,
)
from runner.localbatch.autoscale.values import TIMESTAMP_MEMBERS, Kind
from runner.localbatch.autoscale.variables import (
    DEALLOCATION_OPTIONS,
    NODE_DEALLOCATION_OPTION,
    SAMPLED_METRICS,
    Role,
    not_an_option,
    resolve,
)

MAX_STATEMENTS = 100  # Batch's limit
NOTHING = Kind.NOTHING


def check(statements: Sequence[Statement]) -> None:
    """Raises FormulaError (syntax) on the first statement that cannot be typed."""
    if len(statements) > MAX_STATEMENTS:
        raise syntax_error(
            statements[MAX_STATEMENTS].at, f"a formula has at most {MAX_STATEMENTS} statements"
        )
    variables: dict[str, Kind] = {}
    for statement in statements:
        kind = _Types(variables).of(statement.value)
        if statement.target is not None:
            _assign(statement, kind, variables)


def _assign(statement: Statement, kind: Kind, variables: dict[str, Kind]) -> None:
    assert statement.target is not None
    role, name = resolve(statement.target)
    if role is Role.USER:
        variables[name] = kind
        return
    if role is not Role.OUTPUT:
        raise syntax_error(statement.at, f"{name} is a {role.value} and cannot be assigned")
    expected = Kind.STRING if name == NODE_DEALLOCATION_OPTION else Kind.DOUBLE
    if kind not in (expected, NOTHING):
        raise syntax_error(statement.at, f"{name} takes a {expected.value}, not a {kind.value}")
    value = statement.value
    if isinstance(value, String) and value.value not in DEALLOCATION_OPTIONS:
        raise syntax_error(value.at, not_an_option(value.value))


class _Types:
    def __init__(self, variables: dict[str, Kind]) -> None:
        self.variables = variables

    def of(self, node: Node) -> Kind:
        match node:
            case Number():
                return Kind.DOUBLE
            case String():
                return Kind.STRING
            case Name():
                return self.name(node)
            case Unary():
                return self.unary(node)
            case Binary():
                return self.binary(node)
            case Conditional():
                return self.conditional(node)
            case Call():
                return self.call(node)
            case MethodCall():
                return self.method(node)
            case Member(target=target, member=member):
                kind = self.of(target)
                if kind not in (Kind.TIMESTAMP, NOTHING):
                    raise syntax_error(
                        node.at, f"'.{member}' needs a timestamp, not a {kind.value}"
                    )
                if member not in TIMESTAMP_MEMBERS:
                    raise syntax_error(node.at, f"a timestamp has no member '{member}'")
                return Kind.DOUBLE
        raise AssertionError(node)

    def name(self, node: Name) -> Kind:
        role, name = resolve(node.name)
        if role is Role.INTERVAL_CONSTANT:
            return Kind.TIME_INTERVAL
        if role is Role.DEALLOCATION_OPTION:
            return Kind.STRING
        if role is Role.OUTPUT:
            return Kind.STRING if name == NODE_DEALLOCATION_OPTION else Kind.DOUBLE
        if role is Role.CURRENT:
            return Kind.DOUBLE
        if role is Role.METRIC:
            raise syntax_error(
                node.at, f"{name} is a sample set: read it with a method, e.g. {name}.GetSample(1)"
            )
        if name not in self.variables:
            raise syntax_error(node.at, f"'{name}' is used before it is assigned")
        return self.variables[name]

    def unary(self, node: Unary) -> Kind:
        kind = self.of(node.operand)
        if kind is NOTHING:
            return NOTHING
        rule = UNARY.get((node.op, kind))
        if rule is None:
            raise syntax_error(node.at, f"operator '{node.op}' is not defined for a {kind.value}")
        return rule[0]

    def binary(self, node: Binary) -> Kind:
        left, right = self.of(node.left), self.of(node.right)
        if NOTHING in (left, right):
            return NOTHING
        rule = BINARY.get((node.op, left, right))
        if rule is None:
            raise syntax_error(
                node.at, f"operator '{node.op}' is not defined for {left.value} and {right.value}"
            )
        return rule[0]

    def conditional(self, node: Conditional) -> Kind:
        test = self.of(node.test)
        if test not in (Kind.DOUBLE, NOTHING):
            raise syntax_error(
                node.at, f"the condition of '?' must be a double, not a {test.value}"
            )
        then, otherwise = self.of(node.then), self.of(node.otherwise)
        if NOTHING in (then, otherwise):
            return otherwise if then is NOTHING else then
        if then is not otherwise:
            raise syntax_error(
                node.at, f"the two branches of '?' differ: {then.value} and {otherwise.value}"
            )
        return then

    def call(self, node: Call) -> Kind:
        kinds = [self.of(arg) for arg in node.args]
        if node.function not in FUNCTIONS:
            raise syntax_error(node.at, f"unknown function '{node.function}'")
        found = overload(node.function, kinds)
        if found is None:
            raise syntax_error(node.at, f"{node.function}() is not defined for ({_listing(kinds)})")
        return found.result

    def method(self, node: MethodCall) -> Kind:
        receiver = node.receiver
        metric = resolve(receiver.name)[1] if isinstance(receiver, Name) else None
        if metric not in SAMPLED_METRICS:
            raise syntax_error(
                node.at, f"{node.method}() is a method of the sampled variables, e.g. $PendingTasks"
            )
        if node.method not in METHODS:
            raise syntax_error(node.at, f"unknown method '{node.method}'")
        kinds = [self.of(arg) for arg in node.args]
        result = method_result(node.method, kinds)
        if result is None:
            raise syntax_error(node.at, f"{node.method}() is not defined for ({_listing(kinds)})")
        return result


def _listing(kinds: Sequence[Kind]) -> str:
    return ", ".join(kind.value for kind in kinds)
