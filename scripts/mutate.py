"""Mutation testing of bwf's pure modules with mutmut (`make mutate`; not part of CI).

Each module is mutated in turn and the pure tests (no services, seconds to run) are
run against every mutant. mutmut edits source files in place, so it works on a copy
of the checkout in `.mutmut/` (ignored by git): a run that is interrupted leaves the
checkout untouched, and the copy keeps mutmut's cache, so a second run only tests
what changed. The score of a module is the share of its mutants that a test kills
(a time-out counts as killed: the mutant made the tests hang).

    .venv/bin/python scripts/mutate.py [--show] [MODULE ...]

Surviving mutants and the reason each cannot matter are listed in docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutmut"
MODULES = (
    "shell",
    "names",
    "durations",
    "limits",
    "secrets",
    "templates",
    "yamlpos",
    "schema",
    "plan",
)
# The tests that need no service (seconds each, no network).
PURE_TESTS = (
    "tests/test_names.py",
    "tests/test_durations.py",
    "tests/test_shell.py",
    "tests/test_secrets.py",
    "tests/test_limits.py",
    "tests/test_boundaries.py",
    "tests/test_templates.py",
    "tests/test_yamlpos.py",
    "tests/test_schema.py",
    "tests/test_load.py",
    "tests/test_render.py",
    "tests/test_plan.py",
    "tests/test_plan_rules.py",
    "tests/test_steps.py",
    "tests/test_invalid_specs.py",
    "tests/test_targets.py",
    "tests/test_secret_tokens.py",
    "tests/test_hostile_spec.py",
    "tests/test_hostile_templates.py",
)
# The pure tests that exercise each module, its own first: every mutant is run against
# these (with -x, so a killed one costs a second or two), and a mutant they all let
# live is run again against every pure test before it counts as surviving.
MODULE_TESTS = {
    "shell": ("shell", "secrets", "render", "boundaries", "limits"),
    "names": ("names", "boundaries", "load", "render", "invalid_specs"),
    "durations": ("durations", "load", "limits", "invalid_specs"),
    "limits": ("limits", "boundaries", "secrets", "steps", "invalid_specs"),
    "secrets": ("secrets", "secret_tokens", "targets"),
    "templates": ("templates", "hostile_templates", "render", "boundaries", "invalid_specs"),
    "yamlpos": ("yamlpos", "hostile_spec", "load", "invalid_specs"),
    "schema": ("schema", "load", "invalid_specs", "durations"),
    "plan": ("plan_rules", "plan", "steps", "render"),
}
COPIED = ("runner", "tests", "schemas", "pyproject.toml")
KILLED = ("ok_killed", "ok_suspicious", "bad_timeout")


def sync_copy() -> None:
    """Refresh the copy of the sources and tests that mutmut edits (its cache stays)."""
    WORK.mkdir(exist_ok=True)
    for name in COPIED:
        src, dst = ROOT / name, WORK / name
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)


def mutmut(*args: str) -> None:
    """Run mutmut in the copy, under nice; PYTHONPATH makes the copy's `runner` the one
    imported (not the checkout's editable install). The copy's sources are refreshed
    first: a mutmut run that ended early can leave a mutant in place."""
    sync_copy()
    cmd = ["nice", "-n", "10", str(Path(sys.executable).parent / "mutmut"), *args]
    env = {**os.environ, "PYTHONPATH": str(WORK)}
    subprocess.run(cmd, cwd=WORK, env=env, check=False, stdout=subprocess.DEVNULL)


def pytest_command(tests: list[str]) -> str:
    return f"{sys.executable} -m pytest -x -q -p no:cacheprovider {' '.join(tests)}"


def run_module(module: str) -> None:
    print(f"== mutating runner/{module}.py", flush=True)
    own = [f"tests/test_{name}.py" for name in MODULE_TESTS[module]]
    mutmut("run", "--paths-to-mutate", f"runner/{module}.py", "--runner", pytest_command(own))
    survivors = results().get(module, {}).get("bad_survived", [])
    if survivors:
        print(f"   {len(survivors)} survive its tests; trying them against every pure test")
        for mutant_id in survivors:
            set_status(mutant_id, "untested")  # mutmut runs only those (killed ones stay)
        every_pure_test = pytest_command(list(PURE_TESTS))
        mutmut("run", "--paths-to-mutate", f"runner/{module}.py", "--runner", every_pure_test)
        # a mutmut 2.4.5 cache error can end a run early: what it did not reach survived
        # the module's own tests, and stays a survivor
        for mutant_id in results().get(module, {}).get("untested", []):
            if mutant_id in survivors:
                set_status(mutant_id, "bad_survived")


def set_status(mutant_id: int, status: str) -> None:
    with sqlite3.connect(WORK / ".mutmut-cache") as db:
        db.execute(
            "UPDATE Mutant SET status = ?, tested_against_hash = '' WHERE id = ?",
            (status, mutant_id),
        )


def results() -> dict[str, dict[str, list[int]]]:
    """module -> status -> mutant ids, from mutmut's cache."""
    out: dict[str, dict[str, list[int]]] = {}
    with sqlite3.connect(WORK / ".mutmut-cache") as db:
        rows = db.execute(
            "SELECT s.filename, m.status, m.id FROM Mutant m "
            "JOIN Line l ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id ORDER BY m.id"
        )
        for filename, status, mutant_id in rows:
            module = Path(filename).stem
            out.setdefault(module, {}).setdefault(status, []).append(mutant_id)
    return out


def show(mutant_id: int) -> str:
    """The mutant as `line: before -> after` from mutmut's diff."""
    mutmut = str(Path(sys.executable).parent / "mutmut")
    shown = subprocess.run(
        [mutmut, "show", str(mutant_id)], cwd=WORK, capture_output=True, text=True, check=False
    )
    diff = shown.stdout.splitlines()
    before = [d[1:].strip() for d in diff if d.startswith("-") and not d.startswith("---")]
    after = [d[1:].strip() for d in diff if d.startswith("+") and not d.startswith("+++")]
    return f"{' / '.join(before)}  ->  {' / '.join(after)}"


def report(modules: list[str], with_diffs: bool) -> None:
    by_module = results()
    print(f"\n{'module':<12}{'mutants':>9}{'killed':>8}{'survived':>10}{'score':>8}")
    for module in modules:
        statuses = by_module.get(module, {})
        total = sum(len(ids) for status, ids in statuses.items() if status != "skipped")
        killed = sum(len(statuses.get(s, [])) for s in KILLED)
        survived = statuses.get("bad_survived", [])
        score = f"{100 * killed / total:.0f}%" if total else "-"
        print(f"{module:<12}{total:>9}{killed:>8}{len(survived):>10}{score:>8}")
        if with_diffs:
            for mutant_id in survived:
                print(f"    #{mutant_id} {show(mutant_id)}")
        untested = statuses.get("untested", [])
        if untested:
            print(f"    ({len(untested)} mutants not tested yet)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--show", action="store_true", help="print each surviving mutant")
    parser.add_argument("--report-only", action="store_true", help="do not run, report the cache")
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"not a mutated module: {', '.join(unknown)} (one of {', '.join(MODULES)})")
    if not args.report_only:
        sync_copy()
        for module in modules:
            run_module(module)
    report(modules, args.show)


if __name__ == "__main__":
    main()
