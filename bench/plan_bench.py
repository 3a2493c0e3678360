"""How long `bwf plan --offline` takes, and how much memory it needs, for a spec
fanning out over N input files, run as a user runs it: `bwf` in a subprocess.

Usage: python bench/plan_bench.py [--files 100000] [--runs 3] [--dir /tmp/bwf-plan-bench]
                                  [--stages] [--checkout DIR]

Creates N small input files once (reused across runs). Each run times, as whole
processes under a fresh BWF_HOME:
- cold: `bwf plan --offline` with no digest cache (every input's MD5 is computed);
- warm: the same again, the digest cache now present;
- json: `bwf plan --offline --json` (warm), its output written to a file.
Peak memory is each process's maximum resident set size and its CPU time is user +
system time (from wait4; on a loaded machine it varies less than the wall time). With --stages it
also times each stage of the pipeline in this process, as a diagnostic only.
Targets for 100,000 files: 2 s warm, 3 s cold, 4 s with --json, 500 MB; the ratios to
them are printed last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
apiVersion: bwf/v1
name: bench
storage:
  containers:
    input: {upload: ["data/*.txt"]}
    output: {}
pool: {id: bench-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 4}
job:
  id: bench-job
  tasks:
    for_each: {container: input}
    id: "bench-{{ item.stem }}"
    command: python3 $AZ_BATCH_NODE_SHARED_DIR/topn.py --filepath {{ item.name }} --numwords {{ vars.n }}
    resource_files: [item]
    outputs: [{pattern: "*_OUTPUT.txt", container: output}]
  merge: {id: bench-merge, command: echo merged}
vars: {n: 3}
"""

# seconds (or MB) for 100,000 files, scaled linearly for other sizes
TARGETS = {"warm": 2.0, "cold": 3.0, "json": 4.0}
MEMORY_TARGET_MB = 500.0
TARGET_FILES = 100_000


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system: less disturbed than wall time by a loaded machine
    peak_mb: float
    out_bytes: int


def prepare(directory: Path, files: int) -> Path:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    have = len(os.listdir(data))
    for i in range(have, files):
        (data / f"in{i:06d}.txt").write_text(f"word{i % 97} text {i}\n")
    spec = directory / "bench.yaml"
    spec.write_text(SPEC)
    return spec


def run_bwf(args: list[str], home: Path, out: Path, checkout: Path) -> Run:
    """One `bwf` process (`runner` of `checkout`), its wall time and peak RSS; stdout
    to `out`."""
    env = {**os.environ, "BWF_HOME": str(home)}
    with out.open("wb") as stdout:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner", *args], stdout=stdout, env=env, cwd=checkout
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bwf {' '.join(args)} exited {proc.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, out.stat().st_size)


def one_round(spec: Path, scratch: Path, checkout: Path) -> dict[str, Run]:
    home = Path(tempfile.mkdtemp(dir=scratch, prefix="home-"))
    plan = ["plan", str(spec), "--offline"]
    return {
        "cold": run_bwf(plan, home, scratch / "plan.txt", checkout),
        "warm": run_bwf(plan, home, scratch / "plan.txt", checkout),
        "json": run_bwf([*plan, "--json"], home, scratch / "plan.json", checkout),
    }


def stages(spec_path: Path) -> None:
    """Each stage of the pipeline, in this process (the digest cache of this BWF_HOME)."""
    import json

    from runner.load import load_spec
    from runner.plan import diff
    from runner.plan_json import to_json
    from runner.render import render
    from runner.show import render_plan
    from runner.state import Observed

    t = time.perf_counter()
    spec = load_spec(spec_path)
    times = {"load": time.perf_counter() - t}
    t = time.perf_counter()
    desired = render(spec)
    times["render"] = time.perf_counter() - t
    t = time.perf_counter()
    plan = diff(desired, Observed.empty())
    times["diff"] = time.perf_counter() - t
    t = time.perf_counter()
    render_plan(plan)
    times["text"] = time.perf_counter() - t
    t = time.perf_counter()
    json.dumps(to_json(plan))
    times["json"] = time.perf_counter() - t
    print("stages in one process (diagnostic):")
    for k, v in times.items():
        print(f"  {k:<7} {v:7.2f} s")


def spread(values: list[float], unit: str) -> str:
    return (
        f"median {statistics.median(values):6.2f} {unit} "
        f"(min {min(values):.2f}, max {max(values):.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=TARGET_FILES)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bwf-plan-bench"))
    ap.add_argument("--stages", action="store_true", help="also time each stage in-process")
    ap.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="run the `runner` package of this directory (to compare with another version)",
    )
    args = ap.parse_args()
    spec = prepare(args.dir / str(args.files), args.files)
    rounds: list[dict[str, Run]] = []
    with tempfile.TemporaryDirectory(prefix="bwf-plan-bench-") as scratch:
        for _ in range(args.runs):
            rounds.append(one_round(spec, Path(scratch), args.checkout))
    if args.stages:
        # after the runs: a child's peak RSS (wait4) counts the memory of the process it
        # was forked from, and the stages make this one as big as a plan
        stages(spec)
    json_mb = rounds[-1]["json"].out_bytes / 1e6
    print(f"files: {args.files}  runs: {args.runs}  --json output: {json_mb:.1f} MB")
    scale = args.files / TARGET_FILES
    ratios = []
    for kind, target in TARGETS.items():
        secs = [r[kind].seconds for r in rounds]
        cpu = [r[kind].cpu_seconds for r in rounds]
        mem = [r[kind].peak_mb for r in rounds]
        print(f"  {kind:<5} wall {spread(secs, 's')}")
        print(f"        cpu  {spread(cpu, 's')}   peak RSS {spread(mem, 'MB')}")
        ratios.append(f"{kind} {statistics.median(secs) / (target * scale):.2f}")
    peak = max(r[k].peak_mb for r in rounds for k in TARGETS)
    ratios.append(f"memory {peak / MEMORY_TARGET_MB:.2f}")
    print(
        f"ratio to target (median / target; {TARGETS['warm']:g} s warm, "
        f"{TARGETS['cold']:g} s cold, {TARGETS['json']:g} s --json, "
        f"{MEMORY_TARGET_MB:g} MB peak, per {TARGET_FILES:,} files): " + ", ".join(ratios)
    )


if __name__ == "__main__":
    main()
