"""The pure front of the pipeline, shared by the commands: load → render (→ diff)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.errors import Problem, SpecError
from runner.load import load_spec
from runner.paths import Allowed
from runner.render import render
from runner.state import Desired


def desired_state(
    path: Path | str,
    overrides: Mapping[str, Any] | None = None,
    allowed: Allowed | None = None,
    target: str | None = None,
) -> Desired:
    """Load and render one spec; SpecError lists every problem. `allowed`: the directories
    given with --allow-path; `target`: where it is to run (its own checks), None: anywhere."""
    return render(load_spec(path, overrides, target), allowed)


def validate(
    paths: Sequence[Path | str],
    overrides: Mapping[str, Any] | None = None,
    allowed: Allowed | None = None,
) -> list[Problem]:
    """Every problem in every spec (empty when all are valid). No network."""
    problems: list[Problem] = []
    for p in paths:
        try:
            desired_state(p, overrides, allowed)
        except SpecError as e:
            problems.extend(e.problems)
    return sorted(problems)
