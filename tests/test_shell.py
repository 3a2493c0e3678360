"""Command lines (runner.shell): values are quoted into one shell word, commands are
wrapped in `/bin/bash -c`, and a wrapped line unwraps for display. Round trips run the
command line as the local Batch node does: split with shell-like quoting, then exec."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner import shell
from runner.secrets import resolve, secret_token

HOSTILE = [
    "x'; touch pwned; '.txt",
    "$(id).txt",
    "`id`",
    "a b\tc",
    "\"double\" 'single'",
    "back\\slash\\",
    "line\nbreak\n",
    "!history !! ^a^b",
    "*",
    "~",
    "{a,b}",
    "$HOME ${IFS} $1 $@",
    "-e",
    "--help",
    "%s %d",
    "'",
    "''''",
    "; exit 3",
    "&& false || true &",
    "#comment",
    "é € 日本",
    "",
    " ",
    "a=b",
    "@@not-a-token@@",
]


def run(command_line: str) -> subprocess.CompletedProcess[str]:
    """Run a Batch command line as the local node does: shlex.split, then exec."""
    return subprocess.run(
        shlex.split(command_line), capture_output=True, text=True, timeout=60, check=False
    )


def echo_back(values: Sequence[str]) -> list[str]:
    """Each value, quoted into a command, printed back by bash (NUL-separated)."""
    commands = [f"printf '%s\\0' {shell.quote(v)}" for v in values]
    out = subprocess.run(shlex.split(shell.wrap(commands)), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode().split("\0")[:-1]


def test_hostile_values_reach_the_command_as_data() -> None:
    assert echo_back(HOSTILE) == HOSTILE


@settings(derandomize=True, deadline=None, max_examples=50)  # one bash run per example
@given(st.lists(st.text(st.characters(exclude_characters="\x00", codec="utf-8")), max_size=8))
def test_any_text_round_trips_through_quote_wrap_and_bash(values: list[str]) -> None:
    assert echo_back(values) == values


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        (None, "''"),
        ("", "''"),
        ("abc", "abc"),
        ("a b", "'a b'"),
        (7, "7"),
        (1.5, "1.5"),
        ("it's", "'it'\"'\"'s'"),
        ("@@bwf-secret:out:write@@", "'@@bwf-secret:out:write@@'"),
        ("--to=@@bwf-secret:out:url@@", "'--to=@@bwf-secret:out:url@@'"),
        ("a b @@bwf-secret:out:read@@", "'a b @@bwf-secret:out:read@@'"),
        ("@@x", "@@x"),
    ],
)
def test_quote(value: object, quoted: str) -> None:
    assert shell.quote(value) == quoted


def test_a_secret_token_stands_for_a_url_that_needs_quoting() -> None:
    """The token is a safe shell word, the SAS URL substituted for it is not (`&`, `?`)."""
    url = "http://127.0.0.1:1/acct/out?sv=2026&sp=cw&sig=a%2Bb%3D&st=x y"
    line = shell.wrap([f"printf %s {shell.quote(secret_token('out', 'write'))}"])
    out = run(resolve(line, lambda key, kind: url if (key, kind) == ("out", "write") else ""))
    assert (out.returncode, out.stdout) == (0, url)


def test_wrap() -> None:
    assert shell.wrap(["echo a", "  ", " echo b ", ""]) == (
        "/bin/bash -c 'set -e\nset -o pipefail\necho a\necho b\nwait'"
    )
    assert shell.wrap([]) == "/bin/bash -c 'set -e\nset -o pipefail\n\nwait'"


def test_wrapped_commands_stop_at_the_first_failure() -> None:
    out = run(shell.wrap(["echo before", "false", "echo after"]))
    assert (out.returncode, out.stdout) == (1, "before\n")


def test_wrapped_pipelines_fail_when_a_stage_fails() -> None:
    out = run(shell.wrap(["false | cat", "echo after"]))
    assert (out.returncode, out.stdout) == (1, "")


def test_commands_keep_their_meaning_when_joined() -> None:
    """Joined by newlines: a trailing `&` or `;` or a multi-line command is intact, and
    `wait` collects the background job before the task ends."""
    out = run(shell.wrap(["(sleep 0.1; echo bg) &", "echo fg;", "for i in 1 2\ndo echo $i\ndone"]))
    assert out.returncode == 0
    assert out.stdout.splitlines() == ["fg", "1", "2", "bg"]


def test_batch_variables_expand_in_the_script() -> None:
    line = shell.wrap(['echo "$AZ_BATCH_X"'])
    out = subprocess.run(
        shlex.split(line), capture_output=True, text=True, timeout=60, env={"AZ_BATCH_X": "v"}
    )
    assert out.stdout == "v\n"


@pytest.mark.parametrize(
    ("commands", "shown"),
    [
        (["echo a"], "echo a"),
        (["echo a", "echo b", "echo c"], "echo a; echo b; echo c"),
        (["cat 'x y'"], "cat 'x y'"),
        (["curl @@bwf-secret:out:write@@"], "curl <redacted>"),
    ],
)
def test_unwrap_shows_the_commands(commands: list[str], shown: str) -> None:
    assert shell.unwrap(shell.wrap(commands)) == shown


def test_unwrap_shows_a_multi_line_command_on_one_line() -> None:
    assert shell.unwrap(shell.wrap(["for i in 1 2\ndo echo $i\ndone"])) == (
        "for i in 1 2; do echo $i; done"
    )


ONE_LINE = [v for v in HOSTILE if "\n" not in v]


@settings(derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(ONE_LINE).map(lambda v: f"echo {shell.quote(v)}"), min_size=1))
def test_unwrap_inverts_wrap(commands: list[str]) -> None:
    assert shell.unwrap(shell.wrap(commands)) == "; ".join(c.strip() for c in commands)


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("/bin/bash -c 'echo a\necho b'", "echo a; echo b"),  # no set -e prologue
        ("/bin/bash -c 'set -e\nset -o pipefail\necho a'", "set -e; set -o pipefail; echo a"),
        ("/bin/bash -c 'set -e\necho a\nwait'", "set -e; echo a; wait"),
        ("/bin/sh -c 'echo a'", "echo a"),  # a container task's shell
        (
            "/bin/sh -c 'set -e\n(set -o pipefail) 2>/dev/null && set -o pipefail\necho a\nwait'",
            "echo a",
        ),
        (
            "/bin/sh -c 'set -e\nset -o pipefail\necho a\nwait'",
            "set -e; set -o pipefail; echo a; wait",
        ),
        ("/bin/zsh -c 'echo a'", "/bin/zsh -c 'echo a'"),
        ("/bin/bash -x 'echo a'", "/bin/bash -x 'echo a'"),
        ("/bin/bash -c 'echo a' extra", "/bin/bash -c 'echo a' extra"),
        ("/bin/bash -c", "/bin/bash -c"),
        ("python3 run.py @@bwf-secret:in:read@@", "python3 run.py <redacted>"),
        ("echo 'unterminated @@bwf-secret:in:read@@", "echo 'unterminated <redacted>"),
    ],
)
def test_unwrap_other_command_lines(line: str, shown: str) -> None:
    assert shell.unwrap(line) == shown


@pytest.mark.parametrize("command", ["echo hi", "  x y \n", "", " \n ", "a &\n b;"])
def test_one_command_is_wrapped_as_in_a_list_of_several(command: str) -> None:
    # wrap takes a shortcut for one command (a task's): an empty one adds nothing
    for sh in (shell.BASH, shell.SH):
        assert shell.wrap([command], sh) == shell.wrap([command, ""], sh)


@settings(derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(HOSTILE).map(lambda v: f"echo {shell.quote(v)}"), min_size=1))
def test_a_wrapped_line_splits_as_a_shell_splits_it(commands: list[str]) -> None:
    """The run report unwraps every task's line with the one-pass splitter: same words."""
    for wrapper in (shell.BASH, shell.SH):
        line = shell.wrap(commands, wrapper)
        assert shell.split_command_line(line) == shlex.split(line)
