"""Options shared by several subcommands, and the parsing of `--var k=v`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from runner.errors import UsageError
from runner.paths import ALLOW_FLAG

F = TypeVar("F", bound=Callable[..., Any])


def target_option(f: F) -> F:
    return click.option(
        "--target",
        type=click.Choice(["local", "azure"]),
        default="local",
        show_default=True,
        help="local: Azurite + the local Batch service (started if needed); "
        "azure: endpoints and credentials from BWF_* environment variables.",
    )(f)


def var_option(f: F) -> F:
    return click.option(
        "--var",
        "var_args",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a declared var (repeatable). VALUE is parsed as YAML (5, true, [a, b]).",
    )(f)


def allow_path_option(f: F) -> F:
    return click.option(
        ALLOW_FLAG,
        "allow_paths",
        multiple=True,
        metavar="DIR",
        type=click.Path(file_okay=False),
        help="Let the spec's uploads read, and its downloads write, under DIR (repeatable). "
        "Without it a spec reads only under its own directory and writes only under the "
        "current one.",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable, documented).")(
        f
    )


def yes_option(f: F) -> F:
    return click.option("--yes", "-y", is_flag=True, help="Answer yes to every question.")(f)


def parse_vars(var_args: tuple[str, ...]) -> dict[str, Any]:
    """`("top_n=5", "name=x")` -> `{"top_n": 5, "name": "x"}`; values are YAML read as
    in a spec (a date stays text, a value JSON cannot hold is refused)."""
    from runner.yamlpos import parse_value

    out: dict[str, Any] = {}
    for arg in var_args:
        key, sep, raw = arg.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--var {arg!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = parse_value(raw) if raw else ""
        except ValueError as e:
            raise UsageError(f"--var {key.strip()}: {e}") from None
    return out
