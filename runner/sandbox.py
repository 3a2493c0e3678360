"""The sandbox a spec's templates render in: Jinja's immutable sandbox, bounded in what a
template may compute and for how long.

Jinja's sandbox keeps templates away from Python's internals but lets them build
anything: `[1]*10**9`, `'x'*10**9`, `9**(9**9)` or two nested loops exhaust or hang a
machine. Here every operator that can grow a value is checked before it runs
(`call_binop`), and so are calls and filters that can (widths, `replace`, `join`,
`format`) and any value a template turns into text; loops, calls and operators count
against a budget of steps per rendering, and a deadline set by the renderer stops the
rest. `include`, `import` and `extends` are refused when a template compiles: a spec's
templates never read other files. The bounds live in `runner.bounds`.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from runner import sandbox_sizes as sizes
from runner.sandbox_budget import (
    TemplateRefused,
    TimeLimitExceeded,
    check_deadline,
    deadline,
    start_rendering,
    tick,
)

__all__ = [
    "BoundedEnvironment",
    "TemplateRefused",
    "TimeLimitExceeded",
    "check_deadline",
    "deadline",
    "start_rendering",
]


# Parameters through which Jinja passes its own objects to a filter, before the value.
_PASSED = frozenset(("context", "environment", "env", "eval_ctx"))


def _bounded_filter(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
    """`run` checked by `sizes.check_filter` before it runs, and its result after."""
    signature = inspect.signature(run)
    value_name = next((p for p in signature.parameters if p not in _PASSED), None)

    @functools.wraps(run)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        try:
            params = signature.bind(*args, **kwargs).arguments
        except TypeError:
            params = {}  # the filter itself reports the wrong call
        sizes.check_filter(name, params.get(value_name) if value_name else None, params)
        return sizes.check_result(run(*args, **kwargs))

    return bounded


class _Guard(NodeTransformer):
    """Routes every loop and every `~` through the bounded helpers of the environment."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("bounded_iter", [cast(nodes.Expr, node.iter)], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("bounded_tilde", [nodes.List(node.nodes, lineno=node.lineno)], node.lineno)


def _call(helper: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    target = nodes.EnvironmentAttribute(helper, lineno=lineno)
    return nodes.Call(target, args, [], None, None, lineno=lineno)


_READS_FILES = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
}


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with bwf's bounds; `quote` post-processes every `{{ }}`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, quote: Callable[[Any], Any] | None = None, **options: Any) -> None:
        def finalize(value: Any) -> Any:
            sizes.as_text(value)
            return quote(value) if quote is not None else value

        super().__init__(finalize=finalize, **options)
        self.globals["range"] = sizes.bounded_range
        del self.globals["lipsum"]  # lorem ipsum of any length: nothing a spec needs
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters["join"] = _bounded_filter("join", sizes.bounded_join)
        self.concat = sizes.bounded_concat  # type: ignore[method-assign]

    def add_filter(self, name: str, run: Callable[..., Any]) -> None:
        self.filters[name] = _bounded_filter(name, run)

    def compile_bounded(self, source: str) -> Any:
        """Parse, refuse what reads files, route loops and `~` through the bounds, compile."""
        tree = self.parse(source)
        for node in tree.find_all(tuple(_READS_FILES)):
            tag = _READS_FILES[type(node)]
            raise TemplateRefused(
                f"{{% {tag} %}} is not allowed: a spec's templates cannot read other files",
                node.lineno,
            )
        tree = _Guard().visit(tree)
        tree.set_environment(self)
        return self.from_string(tree)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "**":
            sizes.check_power(left, right)
        elif operator == "*":
            sizes.check_product(left, right)
        elif operator == "+":
            sizes.check_sum(left, right)
        elif operator == "%" and isinstance(left, str):
            sizes.check_format(left, right)
        return sizes.check_result(self.binop_table[operator](left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick()
        if isinstance(obj, types.BuiltinMethodType) and isinstance(obj.__self__, (str, bytes, int)):
            args = sizes.check_method(obj, args, kwargs)
        wrapped = getattr(obj, "__wrapped__", None)
        if isinstance(wrapped, types.BuiltinMethodType) and wrapped.__name__ in (
            "format",
            "format_map",
        ):
            sizes.check_format(wrapped.__self__, (args, kwargs))
        return sizes.check_result(super().call(context, obj, *args, **kwargs))

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """What a `{% for %}` loop iterates: each item is a step."""
        for item in iterable:
            tick()
            yield item

    def bounded_tilde(self, parts: list[Any]) -> str:
        """The `~` operator: every operand written out, within bounds."""
        return sizes.bounded_concat(
            p if isinstance(p, str) else str(sizes.as_text(p)) for p in parts
        )
