"""Vars hold JSON values: YAML dates stay text, other non-JSON values are located errors.

Through `bwf plan --json` and `bwf validate`, as a user runs them; no service is used.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import MINIMAL, write_spec
from tests.run_cli import bwf

WITH_VARS = MINIMAL.replace("name: t\n", "name: t\nvars:\n  n: 3\n  d: 2024-01-01\n").replace(
    "cat {{ item.name }}", "echo {{ vars.n }} {{ vars.d }}"
)


def test_a_date_given_with_var_is_its_text(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, WITH_VARS)
    result = bwf("plan", str(spec), "--offline", "--json", "--var", "n=2024-01-01")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["vars"]["n"] == "2024-01-01"
    task = data["desired"]["job"]["steps"][0]["tasks"][0]
    assert "echo 2024-01-01 2024-01-01" in task["command_line"]


def test_dates_and_times_in_the_spec_are_text(tmp_path: Path) -> None:
    text = WITH_VARS.replace("  d: 2024-01-01\n", "  d: 2024-01-01\n  at: [2024-01-01T10:00:00Z]\n")
    result = bwf("plan", str(write_spec(tmp_path, text)), "--offline", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["vars"] == {
        "n": 3,
        "d": "2024-01-01",
        "at": ["2024-01-01T10:00:00Z"],
    }


def test_a_var_json_cannot_hold_is_a_usage_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, WITH_VARS)
    for value, reason in (("!!binary aGVsbG8=", "binary"), (".nan", "finite")):
        result = bwf("plan", str(spec), "--offline", "--json", "--var", f"n={value}")
        assert result.code == 2, (value, result.out)
        assert result.err.startswith("--var n: ") and reason in result.err
        assert "Traceback" not in result.err and result.out == ""


def test_a_spec_value_json_cannot_hold_is_located(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, WITH_VARS.replace("  n: 3\n", "  n: 3\n  blob: !!binary aGVsbG8=\n")
    )
    result = bwf("validate", str(spec))
    assert result.code == 2
    assert result.err.startswith(f"{spec}:5:9: ") and "binary" in result.err
