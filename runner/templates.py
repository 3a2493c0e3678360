"""Jinja2 templates for task IDs, commands and paths: sandboxed and bounded
(`runner.sandbox`), undefined names are errors, values interpolated into commands are
shell-quoted (`shell.quote`), and no rendered template is longer than
`bounds.TEMPLATE_OUTPUT_MAX`.

Templates that are only text and `{{ a.b.c }}` (optionally `| batch_id`) - nearly all
task IDs and commands - are rendered without Jinja's per-call machinery, which costs
~10 us a render: at 100,000 tasks that is most of a plan's time. Anything else, and
any lookup that misses, goes through Jinja, so results and errors are Jinja's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from runner import names, sandbox, shell
from runner.bounds import TEMPLATE_OUTPUT_MAX
from runner.spec import YamlPath


def environment(command: bool) -> sandbox.BoundedEnvironment:
    """A bounded sandbox; for commands, every `{{ }}` value is shell-quoted."""
    env = sandbox.BoundedEnvironment(
        quote=shell.quote if command else None,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.add_filter("batch_id", names.to_batch_id)
    return env


def compile_template(
    env: sandbox.BoundedEnvironment, source: str, path: YamlPath, command: bool
) -> Template:
    """Compile `source` (raises jinja2.TemplateSyntaxError, or sandbox.TemplateRefused for
    what a spec's templates may not do). Plain text stays text."""
    if "{" not in source:
        return Template(source, path, None)
    compiled = env.compile_bounded(source)
    compiled.globals = {}  # already in every context the renderer builds; Jinja copies these keys per render
    return Template(source, path, compiled, _fast_parts(source), command)


_FAST_EXPR = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(\|\s*batch_id\s*)?\}\}")
_FastPart = tuple[str, tuple[str, ...], bool]  # literal text before, lookup path, batch_id filter


class _Miss(Exception):
    """The fast path cannot decide: let Jinja render (and report) it."""


def _fast_parts(source: str) -> tuple[tuple[_FastPart, ...], str] | None:
    if "\r" in source:
        return None  # Jinja writes \r and \r\n as \n: let it
    parts: list[_FastPart] = []
    pos = 0
    for m in _FAST_EXPR.finditer(source):
        literal = source[pos : m.start()]
        if "{" in literal or "}" in literal:
            return None
        path = tuple(m.group(1).split("."))
        if any(hasattr(dict, name) for name in path[1:]):
            return None  # `a.items`, `a.keys`: Jinja gives a dict's attribute before its key
        parts.append((literal, path, m.group(2) is not None))
        pos = m.end()
    tail = source[pos:]
    if "{" in tail or "}" in tail:
        return None
    return tuple(parts), tail.removesuffix("\n")  # as Jinja, which drops a final newline


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    try:
        value = context[path[0]]
    except KeyError:
        raise _Miss from None
    for name in path[1:]:  # none is an attribute of dict (_fast_parts)
        if type(value) is not dict or name not in value:
            raise _Miss
        value = value[name]
    if value is None or not isinstance(value, (str, int, float)):
        raise _Miss  # None, lists, dicts: let Jinja format them
    return value


@dataclass(frozen=True)
class Template:
    source: str
    path: YamlPath
    compiled: jinja2.Template | None  # None: plain text, no template syntax
    fast: tuple[tuple[_FastPart, ...], str] | None = None
    command: bool = False

    def render_fast(self, context: Mapping[str, Any]) -> str:
        assert self.fast is not None
        parts, tail = self.fast
        show = shell.quote if self.command else str
        out = []
        for literal, path, to_id in parts:
            value = _lookup(context, path)
            if to_id:
                value = names.to_batch_id(value)
            out.append(literal)
            out.append(show(value))
        out.append(tail)
        return "".join(out)

    def render(self, context: Mapping[str, Any]) -> str:
        """The rendered text; raises Jinja's errors (UndefinedError, TemplateError, and
        sandbox.TemplateRefused) and whatever the template's own operations raise."""
        if self.compiled is None:
            return self.source
        if self.fast is not None:
            try:
                return _bounded_output(self.render_fast(context))
            except _Miss:
                pass
        sandbox.start_rendering()
        # shared=True: the context dict (globals already merged in) is used as is,
        # which halves the cost of rendering 100,000 small templates
        ctx = self.compiled.new_context(dict(context), shared=True)
        out: list[str] = []
        size = 0
        for part in self.compiled.root_render_func(ctx):
            size += len(part)
            if size > TEMPLATE_OUTPUT_MAX:
                _bounded_output(part, size)
            out.append(part)
        return "".join(out)


def _bounded_output(text: str, size: int | None = None) -> str:
    if (size or len(text)) > TEMPLATE_OUTPUT_MAX:
        raise sandbox.TemplateRefused(
            f"the rendered text has more than {TEMPLATE_OUTPUT_MAX:,} characters, the most "
            "one template may render"
        )
    return text


def template_line(e: BaseException, template: jinja2.Template) -> int | None:
    """The template line an error was raised at (Jinja maps generated code back to it)."""
    tb = e.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line
