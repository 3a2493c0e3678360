"""The loader: defaults, conversions, overrides and positions (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import durations, names
from runner.errors import Loc, SpecError, UsageError
from runner.load import load_spec
from tests.helpers import MINIMAL, write_spec


def test_defaults_are_applied(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    assert spec.pool.dedicated_nodes == 1 and spec.pool.spot_nodes == 0
    assert spec.pool.task_slots_per_node == 1
    assert spec.pool.image.node_agent_sku == "batch.node.ubuntu 22.04"
    assert spec.job.timeout == 3600
    assert (
        spec.cleanup.job == "ask"
        and spec.cleanup.containers == "delete"
        and spec.cleanup.logs == "keep"
    )
    assert spec.containers["input"].name == "t-input"
    assert spec.logs_container == "t-logs"
    assert spec.job.steps[0].task.outputs[0].when == "success"


def test_values_are_converted(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("  id: j\n", "  id: j\n  timeout: 1h30m\n")
        .replace(
            "  image: ubuntu-22.04\n",
            "  image: ubuntu-22.04\n  nodes: {dedicated: 2, spot: 3}\n  vm_size: Standard_D2s_v3\n",
        )
        .replace("  vm_size: standard_d2s_v3\n", "")
    )
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.job.timeout == 5400
    assert (spec.pool.dedicated_nodes, spec.pool.spot_nodes) == (2, 3)
    assert spec.pool.vm_size == "standard_d2s_v3"


def test_var_overrides_replace_defaults(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: t\n", "name: t\nvars: {top_n: 3, label: x}\n")
    spec = load_spec(write_spec(tmp_path, text), {"top_n": 7})
    assert dict(spec.vars) == {"top_n": 7, "label": "x"}


def test_undeclared_var_is_located_at_the_vars_block(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: t\n", "name: t\nvars:\n  top_n: 3\n")
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_spec(path, {"top": 1})
    assert [str(p) for p in e.value.problems] == [
        f"{path}:3:1: --var 'top': no such var (did you mean 'top_n'?)"
    ]


def test_positions_point_at_keys_and_values(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    assert spec.source.key(("job", "tasks", "command")) == Loc(str(tmp_path / "spec.yaml"), 16, 5)
    assert spec.source.value(("job", "tasks", "command")) == Loc(
        str(tmp_path / "spec.yaml"), 16, 14
    )


def test_all_problems_are_reported_at_once_sorted(tmp_path: Path) -> None:
    text = MINIMAL.replace("  id: p\n", "  id: p\n  nodes: -1\n").replace(
        "    command:", "    comand: x\n    command:"
    )
    with pytest.raises(SpecError) as e:
        load_spec(write_spec(tmp_path, text))
    lines = [p.loc.line for p in e.value.problems]
    assert len(lines) == 2 and lines == sorted(lines)


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("20m", 1200),
        ("1h30m", 5400),
        ("2d", 172800),
        ("PT1H30M", 5400),
        ("P1DT1S", 86401),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert durations.parse(text) == seconds


def test_duration_iso_round_trip() -> None:
    for s in (1, 59, 60, 3600, 5400, 86400, 90061):
        assert durations.parse(durations.to_iso(s)) == s


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("abc", True),
        ("a-b-c", True),
        ("ab", False),
        ("a--b", False),
        ("-ab", False),
        ("Abc", False),
        ("a" * 64, False),
    ],
)
def test_container_names(name: str, ok: bool) -> None:
    assert (names.check_container_name(name) is None) == ok


def test_batch_ids() -> None:
    assert names.check_batch_id("topn-a_1") is None
    assert "64" in (names.check_batch_id("x" * 65) or "")
    assert names.check_batch_id("a b") is not None
    assert names.to_batch_id("x'; touch pwned; '") == "x-touch-pwned"
