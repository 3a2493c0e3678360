"""Evaluation of a type-checked formula, statement by statement, within a work budget.

Only the chosen branch of `?:` runs, and `&&`/`||` skip their right operand when the
left one decides, so `pct < 70 ? 1 : avg($X.GetSample(TimeInterval_Minute, 70))` does
not fail on missing samples. The budget counts values computed (each vector element
counts), so a formula cannot keep the service busy however large the sample history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from runner.localbatch.autoscale.errors import (
    INSUFFICIENT_SAMPLE_DATA,
    FormulaError,
    Position,
    ValueProblem,
    evaluation_error,
)
from runner.localbatch.autoscale.functions import (
    BINARY,
    LOGICAL,
    UNARY,
    CallContext,
    overload,
)
from runner.localbatch.autoscale.samples import InsufficientSamples, call_method
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
from runner.localbatch.autoscale.values import (
    TIME_INTERVAL_CONSTANTS,
    Timestamp,
    Value,
    kind_of,
    member,
)
from runner.localbatch.autoscale.variables import (
    ALIASES,
    DEALLOCATION_OPTIONS,
    DEFAULT_DEALLOCATION_OPTION,
    NODE_DEALLOCATION_OPTION,
    Role,
    SystemSamples,
    not_an_option,
    resolve,
)

WORK_BUDGET = 2_000_000  # values computed; a 2,880-sample day of history fits 690 times


class Evaluation:
    """One run of a formula; its variables stay readable after it stops or fails."""

    def __init__(self, samples: SystemSamples, context: CallContext) -> None:
        self.samples = samples
        self.context = context
        self.user: dict[str, Value] = {}
        self.outputs: dict[str, Value] = {}
        self.assigned_at: dict[str, Position] = {}
        self.budget = WORK_BUDGET

    def run(self, statements: Sequence[Statement]) -> None:
        """Raises FormulaError, or functions.StopEvaluation at stop()."""
        for statement in statements:
            value = self.value(statement.value)
            if statement.target is not None:
                self.assign(statement, value)

    def assign(self, statement: Statement, value: Value) -> None:
        assert statement.target is not None
        role, name = resolve(statement.target)
        if role is Role.USER:
            self.user[name] = value
            return
        if name == NODE_DEALLOCATION_OPTION and value not in DEALLOCATION_OPTIONS:
            raise evaluation_error(statement.at, not_an_option(str(value)))
        self.outputs[name] = value
        self.assigned_at[ALIASES.get(name, name)] = statement.at

    def output(self, name: str) -> Value:
        """An output's value: set by the formula (the full name before its alias) or current."""
        for spelling in (name, *(alias for alias, full in ALIASES.items() if full == name)):
            if spelling in self.outputs:
                return self.outputs[spelling]
        if name == NODE_DEALLOCATION_OPTION:
            return DEFAULT_DEALLOCATION_OPTION
        return self.samples.target(name)

    def value(self, node: Node) -> Value:
        match node:
            case Number(value=number):
                return number
            case String(value=text):
                return text
            case Name():
                return self.name(node)
            case Unary(op=op, operand=operand):
                argument = self.value(operand)
                rule = UNARY[(op, kind_of(argument))]
                return self.computed(node.at, lambda: rule[1](argument))
            case Binary():
                return self.binary(node)
            case Conditional(test=test, then=then, otherwise=otherwise):
                return self.value(then if self.value(test) != 0 else otherwise)
            case Call():
                return self.call(node)
            case MethodCall():
                return self.method(node)
            case Member(target=target, member=name):
                moment = self.value(target)
                assert isinstance(moment, Timestamp)
                return member(moment, name)
        raise AssertionError(node)

    def name(self, node: Name) -> Value:
        role, name = resolve(node.name)
        if role is Role.INTERVAL_CONSTANT:
            return TIME_INTERVAL_CONSTANTS[name]
        if role is Role.DEALLOCATION_OPTION:
            return name
        if role is Role.OUTPUT:
            return self.output(ALIASES.get(name, name))
        if role is Role.CURRENT:
            return self.samples.current(name)
        return self.user[name]

    def binary(self, node: Binary) -> Value:
        left = self.value(node.left)
        if node.op in LOGICAL and (left == 0) == (node.op == "&&"):
            return 0.0 if node.op == "&&" else 1.0
        right = self.value(node.right)
        rule = BINARY[(node.op, kind_of(left), kind_of(right))]
        return self.computed(node.at, lambda: rule[1](left, right), left, right)

    def call(self, node: Call) -> Value:
        args = [self.value(arg) for arg in node.args]
        found = overload(node.function, [kind_of(arg) for arg in args])
        assert found is not None
        return self.computed(node.at, lambda: found.run(args, self.context), *args)

    def method(self, node: MethodCall) -> Value:
        assert isinstance(node.receiver, Name)
        metric = resolve(node.receiver.name)[1]
        args = [self.value(arg) for arg in node.args]
        try:
            return self.computed(
                node.at,
                lambda: call_method(self.samples, metric, node.method, args, self.context.now),
            )
        except InsufficientSamples as short:
            raise FormulaError(
                INSUFFICIENT_SAMPLE_DATA,
                f"Insufficient data from data set: {metric} wanted {short.wanted:g}%, "
                f"received {short.received:g}%",
                node.receiver.at,
            ) from None

    def computed(self, at: Position, compute: Callable[[], Value], *inputs: Value) -> Value:
        try:
            result = compute()
        except ValueProblem as problem:
            raise evaluation_error(at, str(problem)) from None
        except ArithmeticError:
            raise evaluation_error(at, "arithmetic overflow") from None
        self.spend(at, result, *inputs)
        return result

    def spend(self, at: Position, *values: Value) -> None:
        self.budget -= 1 + sum(len(v) for v in values if isinstance(v, tuple))
        if self.budget < 0:
            raise evaluation_error(at, "the formula takes too much work to evaluate")
