"""Templates (runner.templates): the fast path renders exactly what Jinja renders, and
leaves to Jinja whatever it cannot decide; command values are shell-quoted."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner import templates

CONTEXT: dict[str, Any] = {
    "item": {
        "name": "a b.txt",
        "stem": "a b",
        "size": 3,
        "ratio": 0.5,
        "none": None,
        "items": "shadowed",  # a dict method's name: Jinja's attribute lookup finds the method
        "list": ["x", "y"],
        "sub": {"deep": "$(id)"},
    },
    "vars": {"n": 3, "empty": "", "quote": "it's"},
    "index": 7,
    "text": "plain",
}


def reference(source: str, command: bool) -> str:
    """What Jinja itself renders, with the same environment."""
    return templates.environment(command).from_string(source).render(CONTEXT)


def rendered(source: str, command: bool) -> str:
    env = templates.environment(command)
    return templates.compile_template(env, source, ("job", "x"), command).render(CONTEXT)


@pytest.mark.parametrize("command", [True, False], ids=["command", "text"])
@pytest.mark.parametrize(
    "source",
    [
        "cat {{ item.name }}",
        "{{item.name}}-{{ index }}-{{ vars.n }}",
        "{{ item.size }} {{ item.ratio }} {{ vars.empty }} {{ vars.quote }}",
        "{{ item.sub.deep }}",
        "{{ item.stem | batch_id }}",
        "{{ item.stem|batch_id }}-{{ text | batch_id }}",
        "{{ item.none }}",
        "{{ item.list }}",
        "{{ item.sub }}",
        "{{ item.items }}",
        "{{ text }} } {{ index }}",
        "{{ index }} {",
        "a { {{ index }}",
        "{{ index + 1 }}",
        "{{ item['name'] }}",
        "{% if index %}{{ item.name }}{% endif %}",
        "no template at all",
        "{{ 'x' }}{{ item.name }}",
        "{{ item.name }}\n",  # Jinja drops one final newline
        "{{ item.name }}\n\n",
        "a\r\n{{ item.name }}\rb",  # and writes every line break as \n
    ],
)
def test_the_fast_path_renders_what_jinja_renders(source: str, command: bool) -> None:
    assert rendered(source, command) == reference(source, command)


def test_command_values_are_shell_words() -> None:
    assert rendered("cat {{ item.name }} {{ item.sub.deep }}", True) == "cat 'a b.txt' '$(id)'"
    assert rendered("cat {{ item.name }}", False) == "cat a b.txt"
    assert rendered("{{ item.stem | batch_id }}", True) == "a-b"


@pytest.mark.parametrize(
    "source", ["{{ missing }}", "{{ item.missing }}", "{{ text.upper.x }}", "{{ vars.n.x }}"]
)
def test_undefined_names_are_jinja_errors(source: str) -> None:
    with pytest.raises(jinja2.UndefinedError) as fast:
        rendered(source, True)
    with pytest.raises(jinja2.UndefinedError) as slow:
        reference(source, True)
    assert str(fast.value) == str(slow.value)


def test_plain_text_is_not_compiled() -> None:
    env = templates.environment(False)
    plain = templates.compile_template(env, "echo }} done", ("p",), False)
    assert plain.compiled is None and plain.render({}) == "echo }} done"
    fast = templates.compile_template(env, "a {{ b }} c", ("p",), False)
    assert fast.fast == ((("a ", ("b",), False),), " c")
    assert templates.compile_template(env, "{{ b }} }", ("p",), False).fast is None
    assert templates.compile_template(env, "{ {{ b }}", ("p",), False).fast is None
    assert templates.compile_template(env, "{{ b }} {", ("p",), False).fast is None
    assert templates.compile_template(env, "} {{ b }}", ("p",), False).fast is None
    assert templates.compile_template(env, "{{ b | upper }}", ("p",), False).fast is None
    # a dict method's name: Jinja's attribute lookup decides, for every context
    assert templates.compile_template(env, "{{ item.items }}", ("p",), False).fast is None
    assert templates.compile_template(env, "a {{ b.c.keys }}", ("p",), False).fast is None
    assert templates.compile_template(env, "{{ items }}", ("p",), False).fast is not None


def fast_template(source: str, command: bool) -> templates.Template:
    env = templates.environment(command)
    return templates.compile_template(env, source, ("p",), command)


def test_lookups_take_the_fast_path() -> None:
    """Text and lookups of strings and numbers in nested mappings never reach Jinja."""
    source = "a {{ item.sub.deep }} {{ index }}{{ item.ratio }} {{ item.stem | batch_id }}"
    assert fast_template(source, True).render_fast(CONTEXT) == "a '$(id)' 70.5 a-b"
    assert fast_template(source, False).render_fast(CONTEXT) == "a $(id) 70.5 a-b"


@pytest.mark.parametrize(
    "source",
    [
        "{{ item.none }}",  # None, lists and mappings: Jinja formats them
        "{{ item.list }}",
        "{{ item.sub }}",
        "{{ missing }}",
        "{{ item.missing }}",
        "{{ text.upper }}",  # an attribute of a string
        "{{ index.real }}",
    ],
)
def test_what_the_fast_path_leaves_to_jinja(source: str) -> None:
    with pytest.raises(templates._Miss):
        fast_template(source, True).render_fast(CONTEXT)


def test_syntax_errors_are_raised_when_compiling() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        templates.compile_template(templates.environment(True), "{{ a ", ("p",), True)


@pytest.mark.parametrize(
    ("source", "line"), [("one\ntwo {{ x }}\n{{ missing }}", 3), ("one\n{{ missing }}\n{{ x }}", 2)]
)
def test_the_template_line_of_an_error(source: str, line: int) -> None:
    env = templates.environment(False)
    t = templates.compile_template(env, source, ("p",), False)
    assert t.compiled is not None
    with pytest.raises(jinja2.UndefinedError) as raised:
        t.render({"x": 1})
    assert templates.template_line(raised.value, t.compiled) == line
    assert templates.template_line(ValueError("not from a template"), t.compiled) is None


_PATHS = [
    *("item.name", "item.size", "item.none", "item.list", "item.items", "item.sub.deep"),
    *("vars.quote", "vars.empty", "index", "text", "item.missing"),
]
_LITERAL = st.text(st.sampled_from(list("ab $'\"{}\n\r-")), max_size=4)
_EXPR = st.builds(
    lambda path, filt, pad: "{{" + pad + path + (" | batch_id" if filt else "") + pad + "}}",
    st.sampled_from(_PATHS),
    st.booleans(),
    st.sampled_from(["", " "]),
)


@settings(derandomize=True, deadline=None)
@given(st.lists(st.tuples(_LITERAL, _EXPR), min_size=1, max_size=4), _LITERAL, st.booleans())
def test_any_simple_template_renders_as_jinja_does(
    parts: list[tuple[str, str]], tail: str, command: bool
) -> None:
    source = "".join(a + b for a, b in parts) + tail
    try:
        expected: str | type[BaseException] = reference(source, command)
    except jinja2.TemplateError as e:
        expected = type(e)
    try:
        got: str | type[BaseException] = rendered(source, command)
    except jinja2.TemplateError as e:
        got = type(e)
    assert got == expected
