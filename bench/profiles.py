"""CPU profiles of the three processes of an apply on the local stack, for
bench/apply_bench.py `--profile DIR`: bwf and the local Batch service through their
env-var hooks (runner/profiling.py: `BWF_PROFILE`, `BWF_LOCALBATCH_PROFILE`), Azurite
through Node's own `--cpu-prof` (`BWF_AZURITE_PROFILE`, read by runner/localstack.py). Each is summarised as its functions with the most CPU of their own.
"""

from __future__ import annotations

import io
import json
import pstats
from pathlib import Path

TOP = 12


def stack_env(directory: Path) -> dict[str, str]:
    """The environment of `bwf local up` that profiles the service and Azurite."""
    (directory / "azurite").mkdir(parents=True, exist_ok=True)
    return {
        "BWF_LOCALBATCH_PROFILE": str(directory / "localbatch.prof"),
        "BWF_AZURITE_PROFILE": str(directory / "azurite"),
    }


def python_summary(path: Path) -> str:
    if not path.is_file():
        return f"  (no profile at {path})"
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    lines = out.getvalue().splitlines()
    start = next((i for i, x in enumerate(lines) if "ncalls" in x), 0)
    total = next((x.strip() for x in lines if "function calls" in x), "")
    return "\n".join(["  " + total, *("  " + x for x in lines[start:] if x.strip())])


def node_summary(directory: Path) -> str:
    """Self time per function of Azurite's .cpuprofile (samples x their time deltas)."""
    files = sorted(directory.glob("*.cpuprofile"))
    if not files:
        return f"  (no .cpuprofile in {directory}: Azurite did not exit normally)"
    own: dict[str, float] = {}
    total = 0.0
    for f in files:
        prof = json.loads(f.read_text())
        names = {}
        for n in prof["nodes"]:
            cf = n["callFrame"]
            where = Path(cf.get("url") or "").name
            names[n["id"]] = (
                f"{cf.get('functionName') or '(anonymous)'} {where}:{cf.get('lineNumber', 0) + 1}"
            )
        for sample, delta in zip(prof.get("samples", []), prof.get("timeDeltas", []), strict=False):
            own[names[sample]] = own.get(names[sample], 0.0) + delta / 1e6
            total += delta / 1e6
    busy = total - own.get("(idle) :0", 0.0)
    top = sorted(own.items(), key=lambda kv: -kv[1])[:TOP]
    lines = [f"  {total:.1f} s profiled, {busy:.1f} s not idle; self time:"]
    lines += [f"  {seconds:8.2f}s  {name}" for name, seconds in top]
    return "\n".join(lines)
