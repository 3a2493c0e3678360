"""Exit codes of `bwf plan`, through the real entry point.

With `--detailed-exitcode` they follow Terraform: 0 no changes, 1 an error (an invalid
spec included), 2 changes pending. Without it an invalid spec exits 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import MINIMAL, write_spec
from tests.run_cli import bwf

INVALID = MINIMAL.replace("vm_size: standard_d2s_v3", "vm_size: standard_d2s_v3\n  nodez: 2")


def test_changes_pending_exit_2_only_with_the_flag(tmp_path: Path) -> None:
    spec = str(write_spec(tmp_path))
    assert bwf("plan", spec, "--offline").code == 0
    assert bwf("plan", spec, "--offline", "--detailed-exitcode").code == 2


@pytest.mark.parametrize(
    ("case", "args"),
    [
        ("invalid spec", ("--offline",)),
        ("missing spec", ("--offline",)),
        ("undeclared --var", ("--offline", "--var", "nope=1")),
        ("malformed --var", ("--offline", "--var", "=1")),
        ("unknown option", ("--offline", "--bogus")),
    ],
)
def test_an_error_exits_1_with_the_flag_and_2_without(
    tmp_path: Path, case: str, args: tuple[str, ...]
) -> None:
    spec = write_spec(tmp_path, INVALID if case == "invalid spec" else MINIMAL)
    if case == "missing spec":
        spec = tmp_path / "missing.yaml"
    plain = bwf("plan", str(spec), *args)
    assert plain.code == 2, plain
    detailed = bwf("plan", str(spec), *args, "--detailed-exitcode")
    assert detailed.code == 1, detailed
    assert detailed.err == plain.err and detailed.out == ""
    assert "Traceback" not in detailed.err


def test_invalid_spec_message_is_located_with_the_flag(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, INVALID)
    result = bwf("plan", str(spec), "--offline", "--detailed-exitcode")
    assert result.code == 1
    assert result.err.startswith(f"{spec}:10:3: unknown key 'nodez' in pool")


def test_no_changes_exit_0_after_apply(
    stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real local stack: applied, then nothing to do (0); an input edited (2)."""
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    name = f"x{tmp_path.name[-8:].replace('_', '')}"
    text = (
        MINIMAL.replace("name: t\n", f"name: {name}\n")
        .replace("id: p\n", f"id: {name}-p\n")
        .replace("id: j\n", f"id: {name}-j\n")
    )
    spec = str(write_spec(tmp_path, text))
    applied = bwf("apply", spec, "--yes")
    assert applied.code == 0, applied
    same = bwf("plan", spec, "--detailed-exitcode")
    assert same.code == 0, same
    assert same.out.startswith("No changes.")
    (tmp_path / "data" / "a.txt").write_text("edited\n")
    edited = bwf("plan", spec, "--detailed-exitcode")
    assert edited.code == 2, edited
    assert bwf("destroy", spec, "--yes").code == 0
