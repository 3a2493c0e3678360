"""The renderer's core: templates compiled and rendered through the sandbox, and every
problem collected with its position in the spec.

A template that fails is reported once, at its line, not once per item: the first
failure marks it, and later renders of it return None. Passing a bound of the whole
spec (its rendered size, its rendering time) stops everything (`Stop`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.meta

from runner import bounds, paths, sandbox, templates
from runner.errors import Loc, Problem
from runner.schema import dotted
from runner.secrets import secret_token
from runner.spec import Spec, YamlPath
from runner.templates import Template

DEADLINE_EVERY = 64


class Stop(Exception):
    """A bound of the whole spec was passed: nothing more is rendered."""


class Renderer:
    def __init__(self, spec: Spec, allowed: paths.Allowed) -> None:
        self.spec = spec
        self.allowed = allowed
        self.problems: list[Problem] = []
        self.reported: set[YamlPath] = set()  # templates that failed: rendered no more
        self.rendered_chars = 0
        self.renders = 0
        self.plain = templates.environment(command=False)
        self.cmd = templates.environment(command=True)
        self.base_context = self._base_context()

    def loc(self, path: YamlPath) -> Loc:
        return self.spec.source.value(path)

    def problem(self, path: YamlPath, message: str, *, at_key: bool = False) -> None:
        loc = self.spec.source.key(path) if at_key else self.spec.source.value(path)
        self.problems.append(Problem(loc, message))

    def problem_once(self, path: YamlPath, message: str) -> None:
        """A problem with a template that holds for every item: reported once."""
        if path not in self.reported:
            self.reported.add(path)
            self.problem(path, message)

    def template(self, source: str, path: YamlPath, command: bool = False) -> Template:
        try:
            return templates.compile_template(
                self.cmd if command else self.plain, source, path, command
            )
        except jinja2.TemplateSyntaxError as e:
            self.problem(
                path,
                f"{dotted(path)}: template syntax error: {e.message} (template line {e.lineno})",
            )
        except sandbox.TemplateRefused as e:
            line = f" (template line {e.lineno})" if e.lineno else ""
            self.problem(path, f"{dotted(path)}: template refused: {e.message}{line}")
        except RecursionError:
            self.problem(path, f"{dotted(path)}: template refused: it nests too deeply to compile")
        self.reported.add(path)  # a template that does not compile is not rendered
        return Template(source, path, None)

    def uses(self, t: Template, name: str) -> bool:
        """Whether a template reads the variable `name` (checked where a name is known not
        to exist, so that the error says why rather than only that it is undefined)."""
        if t.compiled is None or name not in t.source:
            return False
        return name in jinja2.meta.find_undeclared_variables(self.plain.parse(t.source))

    def render(self, t: Template, context: Mapping[str, Any], what: str = "") -> str | None:
        if t.path in self.reported:
            return None  # it failed once: once per template, not once per item
        try:
            # the clock is read every DEADLINE_EVERY renders (a fast render takes about a
            # microsecond; a long one ticks the deadline itself, runner.sandbox_budget)
            self.renders += 1
            if self.renders % DEADLINE_EVERY == 1:
                sandbox.check_deadline()
            text = t.render(context)
        except jinja2.UndefinedError as e:
            message = str(e.message).replace("'dict object' has no attribute", "no such attribute")
            self._failed(t, f"undefined template variable: {message}", e, what)
            return None
        except sandbox.TimeLimitExceeded:
            seconds = f"{bounds.RENDER_SECONDS_MAX:g}"
            self._failed(
                t,
                f"template refused: rendering the spec's templates took more than {seconds} s",
                None,
                what,
            )
            raise Stop from None
        except sandbox.TemplateRefused as e:
            self._failed(t, f"template refused: {e.message}", e, what)
            return None
        except jinja2.TemplateError as e:
            self._failed(t, f"template error: {e}", e, what)
            return None
        except RecursionError as e:
            self._failed(t, "template refused: it recurses too deeply", e, what)
            return None
        except Exception as e:  # the template's own operation failed: 1/0, 'a' + 1, ...
            self._failed(t, f"template error: {type(e).__name__}: {e}", e, what)
            return None
        self.rendered_chars += len(text)
        if self.rendered_chars > bounds.RENDERED_CHARS_MAX:
            self._failed(
                t,
                f"template refused: the spec renders more than {bounds.RENDERED_CHARS_MAX:,} "
                "characters in all its templates",
                None,
                what,
            )
            raise Stop
        return text

    def _failed(
        self, t: Template, message: str, e: BaseException | None = None, what: str = ""
    ) -> None:
        self.reported.add(t.path)
        line = templates.template_line(e, t.compiled) if e is not None and t.compiled else None
        where = (f" (template line {line})" if line else "") + (f" for {what}" if what else "")
        loc = self.spec.source.template_line(t.path, line)
        self.problems.append(Problem(loc, f"{dotted(t.path)}: {message}{where}"))

    def _base_context(self) -> dict[str, Any]:
        spec = self.spec
        containers = {
            key: {
                "name": c.name,
                "url": secret_token(key, "url"),
                "read_sas": secret_token(key, "read"),
                "write_sas": secret_token(key, "write"),
            }
            for key, c in spec.containers.items()
        }
        return {
            **self.plain.globals,
            "vars": dict(spec.vars),
            "pool": {"id": spec.pool.id, "vm_size": spec.pool.vm_size},
            "job": {"id": spec.job.id},
            "containers": containers,
            "workflow": {"name": spec.name},
        }
