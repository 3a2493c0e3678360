"""The invalid-spec corpus: every file in tests/invalid/ states the exact problems it must raise.

Each file starts with `# expect: LINE:COL: message` lines (and optionally
`# vars: k=v` for a --var override). The test runs the same validation as
`bwf validate` and asserts the exact `FILE:LINE:COL: message` lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner import pipeline
from runner.commands.options import parse_vars

CORPUS = Path(__file__).parent / "invalid"
CASES = sorted(CORPUS.glob("*.yaml"))


def _header(path: Path) -> tuple[list[str], tuple[str, ...]]:
    expect, var_args = [], []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            expect.append(line.removeprefix("# expect: "))
        elif line.startswith("# vars: "):
            var_args.append(line.removeprefix("# vars: "))
    return expect, tuple(var_args)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_invalid_spec(path: Path) -> None:
    expect, var_args = _header(path)
    assert expect, f"{path.name} has no '# expect:' line"
    problems = pipeline.validate([path], parse_vars(var_args))
    assert [str(p) for p in problems] == [f"{path}:{e}" for e in expect]


@pytest.mark.parametrize(
    "name",
    [
        "unknown_task_key",
        "yaml_syntax",
        "task_ids_collide",
        "var_undeclared",
        "job_id_trailing_newline",
        "merge_barrier_id_too_long",
    ],
)
def test_cli_exit_code_and_no_traceback(name: str) -> None:
    path = CORPUS / f"{name}.yaml"
    expect, var_args = _header(path)
    argv = [sys.executable, "-m", "runner", "validate", str(path)]
    for v in var_args:
        argv += ["--var", v]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [f"{path}:{e}" for e in expect]
    assert r.stdout == ""
