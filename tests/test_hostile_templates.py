"""Templates written as an attacker would: what would take gigabytes or never end is
refused at the template's line with exit 2, and what reads other files is refused when
it compiles. Each bomb runs through the real CLI with its peak memory measured."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner import bounds, pipeline, shell
from tests.helpers import MINIMAL, bwf_measured, write_spec

SECONDS = 60
PEAK_MB = 200

# The command of MINIMAL is on line 16, its value at column 14.
COMMAND = "command: cat {{ item.name }}"
AT = "16:14: job.tasks.command"


def spec_with_command(tmp_path: Path, command: str) -> Path:
    return write_spec(tmp_path, MINIMAL.replace(COMMAND, f"command: {command}"))


def problems(spec: Path) -> list[str]:
    started = time.monotonic()
    found = [str(p) for p in pipeline.validate([spec])]
    assert time.monotonic() - started < SECONDS
    return found


BOMBS = [
    (
        '"echo {{ [1]*10**9 }}"',
        "template refused: repetition would make a list of 1,000,000,000 items, over the "
        "sandbox's limit of 100,000 (template line 1) for a.txt",
    ),
    (
        "\"echo {{ 'x'*10**9 }}\"",
        "template refused: repetition would make text of 1,000,000,000 characters, over the "
        "sandbox's limit of 1,000,000 (template line 1) for a.txt",
    ),
    (
        '"echo {{ 9**(9**9) }}"',
        "template refused: 9 ** 387420489 has about 1,228,093,894 bits, over the sandbox's "
        "limit of 4,096 (template line 1) for a.txt",
    ),
    (
        '"echo {{ range(10**6) }}"',
        "template refused: range() of 1,000,000 items, over the sandbox's limit of 100,000 "
        "(template line 1) for a.txt",
    ),
    (
        "\"{% set s = 'x' * 100000 %}{{ [s] * 100000 }}\"",
        "template refused: text of more than 1,000,000 characters, over the sandbox's limit "
        "of 1,000,000 (template line 1) for a.txt",
    ),
    (
        "\"{{ ('x' * 100000) | replace('x', 'y' * 1000) }}\"",
        "template refused: replace() would make text of more than 1,000,000 characters, over "
        "the sandbox's limit of 1,000,000 (template line 1) for a.txt",
    ),
    (
        "\"{{ 'x' | center(10**9) }}\"",
        "template refused: a width or count of 1,000,000,000, over the sandbox's limit of "
        "1,000,000 (template line 1) for a.txt",
    ),
    (
        "\"{{ '%999999999s' | format(1) }}\"",
        "template refused: formatting could make text of more than 1,000,000 characters, over "
        "the sandbox's limit of 1,000,000 (template line 1) for a.txt",
    ),
    (
        "\"{{ '{:>999999999}'.format(1) }}\"",
        "template refused: formatting could make text of more than 1,000,000 characters, over "
        "the sandbox's limit of 1,000,000 (template line 1) for a.txt",
    ),
    (
        '"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"',
        "template refused: more than 5,000,000 loop iterations, calls and operations in one "
        "rendering (template line 1) for a.txt",
    ),
    (
        "\"{% set s %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}\"",
        "template refused: more than 10,000,000 characters of text made in one rendering "
        "(template line 1) for a.txt",
    ),
]


@pytest.mark.parametrize(("command", "message"), BOMBS, ids=range(len(BOMBS)))
def test_a_template_bomb_is_a_located_error_in_bounded_time_and_memory(
    tmp_path: Path, command: str, message: str
) -> None:
    spec = spec_with_command(tmp_path, command)
    expected = [f"{spec}:{AT}: {message}"]
    assert problems(spec) == expected
    r = bwf_measured("validate", str(spec), cwd=tmp_path, home=tmp_path / "home")
    assert (r.returncode, r.stdout) == (2, "")
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines() == expected
    assert r.seconds < SECONDS
    assert r.peak_mb < PEAK_MB, f"peak memory {r.peak_mb:.0f} MB"


@pytest.mark.parametrize(
    ("tag", "template"),
    [
        ("include", "{% include 'spec.yaml' %}"),
        ("import", "{% import 'spec.yaml' as s %}"),
        ("import", "{% from 'spec.yaml' import x %}"),
        ("extends", "{% extends 'spec.yaml' %}"),
    ],
)
def test_templates_cannot_read_other_files(tmp_path: Path, tag: str, template: str) -> None:
    spec = spec_with_command(tmp_path, f'"echo\\n{template}"')
    assert problems(spec) == [
        f"{spec}:{AT}: template refused: {{% {tag} %}} is not allowed: a spec's templates "
        "cannot read other files (template line 2)"
    ]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ('"{{ 1 / 0 }}"', "template error: ZeroDivisionError: division by zero"),
        (
            "\"{{ 'a' + 1 }}\"",
            'template error: TypeError: can only concatenate str (not "int") to str',
        ),
        (
            '"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"',
            "template refused: it recurses too deeply",
        ),
        ("\"{{ ('9' * 5000) | int }}\"", None),
    ],
)
def test_every_template_failure_is_located(
    tmp_path: Path, command: str, message: str | None
) -> None:
    spec = spec_with_command(tmp_path, command)
    found = problems(spec)
    if message is None:  # Python refuses 5,000 digits; Jinja's int filter falls back to 0
        assert found == []
        return
    assert len(found) == 1
    assert found[0].startswith(f"{spec}:{AT}: {message}")
    assert found[0].endswith("for a.txt")


def test_a_template_that_fails_is_reported_once_not_once_per_item(tmp_path: Path) -> None:
    files = {f"data/f{i}.txt": "x" for i in range(50)}
    spec = write_spec(tmp_path, MINIMAL.replace(COMMAND, 'command: "{{ 1 / 0 }}"'), files)
    assert len(problems(spec)) == 1


def test_rendering_stops_at_the_time_limit(tmp_path: Path) -> None:
    # Few steps, each slow: only the clock stops it (the limit is lowered for the test).
    command = '"{% set l = range(100000) | list %}{% for i in l %}{{ l | max }}{% endfor %}"'
    spec = spec_with_command(tmp_path, command)
    r = bwf_measured(
        "validate",
        str(spec),
        cwd=tmp_path,
        home=tmp_path / "home",
        prelude="import runner.bounds as b; b.RENDER_SECONDS_MAX = 2.0",
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        f"{spec}:{AT}: template refused: rendering the spec's templates took more than 2 s "
        "for a.txt"
    ]
    assert r.seconds < SECONDS


def test_a_rendered_template_longer_than_linux_allows_for_one_string_is_refused(
    tmp_path: Path,
) -> None:
    spec = spec_with_command(tmp_path, "\"{{ 'x' * 200000 }}\"")
    assert problems(spec) == [
        f"{spec}:{AT}: template refused: the rendered text has more than 131,072 characters, "
        "the most one template may render for a.txt"
    ]


def test_ordinary_templates_still_render(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        COMMAND,
        "command: >-\n"
        "      echo {{ item.name | upper }} {{ '%05d' | format(index) }} {{ '{:>4}'.format(1) }}\n"
        "      {% for c in item.stem %}{{ loop.index ~ c }}{% endfor %}\n"
        "      {{ range(3) | join(',') }} {{ 2 ** 10 }} {{ [1, 2] * 2 }} {{ 'ab' * 2 }}",
    )
    desired = pipeline.desired_state(write_spec(tmp_path, text))
    assert shell.unwrap(desired.job.step_tasks[0].command_line) == (
        "echo A.TXT 00000 '   1' 1a 0,1,2 1024 '[1, 2, 1, 2]' abab"
    )


def test_all_the_rendered_text_of_a_spec_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "RENDERED_CHARS_MAX", 200)  # the real bound is 256 M characters
    files = {f"data/f{i:02d}.txt": "x" for i in range(20)}
    spec = write_spec(tmp_path, MINIMAL.replace(COMMAND, "command: echo {{ 'x' * 20 }}"), files)
    assert problems(spec) == [
        f"{spec}:{AT}: template refused: the spec renders more than 200 characters in all its "
        "templates for f06.txt"
    ]  # reported once, and nothing more is rendered


def test_a_container_fan_out_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounds, "FAN_OUT_MAX", 1)
    spec = write_spec(tmp_path)
    assert problems(spec) == [
        f"{spec}:14:27: job.tasks.for_each: container 'input' fans out to 2 items, more than "
        "the 1 bwf accepts"
    ]
