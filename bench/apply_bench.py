"""End-to-end speed of `bwf apply` on the local stack, against the floor of this machine.

Usage: python bench/apply_bench.py [--files 400] [--runs 3] [--reapply-files 10000]
                                   [--profile DIR]

1. topn over N generated texts on a 2-node local pool (one task slot per node), end to
   end (upload, pool, job, tasks, monitor, download, clean-up) as a user runs it
   (`bwf local up` first, then `bwf apply` in its own process), compared in the same
   run with `xargs -P2` running node_scripts/topn.py directly on the same files.
   Target: at most 1.5x the xargs time. Each run prints where the apply's time went:
   its phases (from the run record in BWF_HOME), the local service's overhead per task
   (from its timing log, BWF_LOCALBATCH_TIMING_LOG) and the CPU each process used.
2. A re-apply with nothing changed over M uploaded inputs (containers, job and pool
   kept), through the run ledger. Target: under 1 s. Then, as a diagnostic, one with
   the ledger removed (BWF_HOME lost). `--reapply-files 0` skips both.

`--profile DIR` writes a CPU profile of bwf, the local service and Azurite to DIR (see
bench/profiles.py) and prints each one's busiest functions. The local stack runs under
a temporary BWF_HOME, stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import apply_phases
import profiles

from runner.localbatch.cpu import tree_seconds

ROOT = Path(__file__).resolve().parent.parent
BWF = [sys.executable, "-m", "runner"]
TARGET = 1.5
REAPPLY_TARGET = 1.0
TICK = os.sysconf("SC_CLK_TCK")
# The interpreter both sides run topn.py with, named by its real path: `python3` on PATH
# may be a version manager's shim (pyenv's costs ~60 ms a start), which would add the
# same large constant to every task on both sides and hide bwf's own overhead.
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
WORDS = [
    "harbour",
    "orchard",
    "signal",
    "river",
    "stone",
    "light",
    "window",
    "garden",
    "letter",
    "market",
    "winter",
    "summer",
    "station",
    "bridge",
    "paper",
    "thread",
    "candle",
    "silver",
    "forest",
    "meadow",
]


def make_texts(directory: Path, n: int, words: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(1)
    for i in range(n):
        (directory / f"t{i:05d}.txt").write_text(
            " ".join(rnd.choice(WORDS) for _ in range(words)) + "\n"
        )


def spec_text(
    name: str, data: str, out: Path, command: str, nodes: int, slots: int, cleanup: str
) -> str:
    return f"""\
apiVersion: bwf/v1
name: {name}
storage:
  containers:
    application: {{upload: ["{ROOT}/node_scripts/topn.py"]}}
    input: {{upload: ["{data}/*.txt"]}}
    output: {{}}
pool:
  id: {name}-pool
  vm_size: standard_d2s_v3
  image: ubuntu-22.04
  nodes: {nodes}
  task_slots_per_node: {slots}
  start_task:
    commands: ['cp -r "$AZ_BATCH_TASK_WORKING_DIR"/. "$AZ_BATCH_NODE_SHARED_DIR"']
    resource_files: [{{container: application}}]
job:
  id: {name}-job
  timeout: 1h
  tasks:
    for_each: {{container: input}}
    id: "{name}-{{{{ item.stem }}}}"
    command: {command}
    resource_files: [item]
    outputs: [{{pattern: "*_OUTPUT.txt", container: output}}]
download: [{{container: output, to: {out}}}]
cleanup: {cleanup}
"""


def bwf(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run bwf to its end: (wall seconds, CPU seconds of the bwf process)."""
    _children_cpu()  # what ran before (`bwf local status`) is not this command's
    t0 = time.perf_counter()
    proc = subprocess.Popen([*BWF, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bwf {' '.join(args)} failed:\n{out.decode()}\n{err.decode()}")
    return wall, _children_cpu()


_seen_children = 0.0


def _children_cpu() -> float:
    """CPU seconds of the child processes reaped since the last call."""
    global _seen_children
    times = os.times()
    total = times.children_user + times.children_system
    spent, _seen_children = total - _seen_children, total
    return spent


def proc_cpu(pid: int) -> float:
    """CPU seconds a process (not its children) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu() -> tuple[float, float]:
    """Core-seconds the whole machine has been busy and idle (iowait counted idle)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK, idle / TICK


def usage(before: tuple[float, float]) -> str:
    busy, idle = (a - b for a, b in zip(machine_cpu(), before, strict=True))
    return f"machine busy {busy:.1f} core-s, idle {idle:.1f} core-s"


@dataclass
class Floor:
    """The xargs run: its seconds, the machine's use meanwhile, and its tree's CPU."""

    seconds: float
    machine: str
    cpu: float


def floor(data: Path, out: Path) -> Floor:
    out.mkdir(parents=True, exist_ok=True)
    before = machine_cpu()
    _children_cpu()
    t0 = time.perf_counter()
    subprocess.run(
        f"ls {data}/*.txt | xargs -P2 -n1 {PYTHON} {ROOT}/node_scripts/topn.py --numwords 3 --outdir {out} --filepath",
        shell=True,
        check=True,
        capture_output=True,
    )
    spent = time.perf_counter() - t0
    return Floor(spent, usage(before), _children_cpu())


def nursery_pid(service: int) -> int | None:
    """The local Batch service's nursery (the parent of every task process)."""
    for task in Path(f"/proc/{service}/task").iterdir():
        for child in (task / "children").read_text().split():
            if "nursery.py" in Path(f"/proc/{child}/cmdline").read_text():
                return int(child)
    return None


def allowed(work: Path) -> list[str]:
    """The specs read node_scripts/ and the work directory, outside their own."""
    return ["--allow-path", str(work), "--allow-path", str(ROOT / "node_scripts")]


def stack_pids(env: dict[str, str]) -> dict[str, int]:
    r = subprocess.run([*BWF, "local", "status", "--json"], env=env, capture_output=True, text=True)
    info = json.loads(r.stdout)
    return {"local Batch service": info["batch"]["pid"], "Azurite": info["storage"]["pid"]}


def one_run(
    i: int, args: argparse.Namespace, work: Path, env: dict[str, str]
) -> tuple[float, float]:
    """Floor and apply on the same files; (apply seconds, floor seconds)."""
    data = work / "texts"
    xargs = floor(data, work / f"floor{i}")
    run_floor = xargs.seconds
    spec = work / f"topn{i}.yaml"
    command = (
        f"{PYTHON} $AZ_BATCH_NODE_SHARED_DIR/topn.py --filepath {{{{ item.name }}}} --numwords 3"
    )
    cleanup = "{containers: delete, job: delete, pool: delete}"
    spec.write_text(spec_text(f"bench{i}", str(data), work / f"out{i}", command, 2, 1, cleanup))
    apply_env = dict(env)
    if args.profile:
        apply_env["BWF_PROFILE"] = str(args.profile / f"bwf-run{i}.prof")
    pids = stack_pids(env)
    before = {name: proc_cpu(pid) for name, pid in pids.items()}
    nursery = nursery_pid(pids["local Batch service"])
    tasks_before = tree_seconds(nursery) if nursery else 0.0
    machine = machine_cpu()
    began = time.time()
    e2e, bwf_cpu = bwf(["apply", str(spec), "--yes", *allowed(work)], apply_env)
    exited = time.time()
    apply_usage = usage(machine)
    used = {name: proc_cpu(pid) - before[name] for name, pid in pids.items()}
    nursery = nursery or nursery_pid(pids["local Batch service"])
    tasks_cpu = tree_seconds(nursery) - tasks_before if nursery else float("nan")
    outputs = len(list((work / f"out{i}").glob("*_OUTPUT.txt")))
    assert outputs == args.files, outputs
    print(
        f"\nrun {i}: bwf apply {e2e:.2f} s, xargs -P2 {run_floor:.2f} s, ratio {e2e / run_floor:.2f}"
    )
    m = apply_phases.marks(apply_phases.latest_run(work / "home"), began, exited)
    for name, seconds in apply_phases.phases(m):
        print(f"  {name:<55} {seconds:6.2f} s")
    timing = apply_phases.read_timing(work / "timing.jsonl", f"bench{i}-job")
    print("\n".join(apply_phases.overhead_table(apply_phases.task_overheads(timing))))
    cpu = {"bwf": bwf_cpu, **used}
    print("  CPU used during the apply: " + ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items()))
    print(
        f"  task processes (nursery, supervisors, shells, tasks): {tasks_cpu:.2f} s CPU; "
        f"xargs and its tasks: {xargs.cpu:.2f} s"
    )
    print(f"  whole machine: during the apply {apply_usage}; during xargs {xargs.machine}")
    return e2e, run_floor


def reapply(n: int, work: Path, env: dict[str, str]) -> float:
    """Seconds of a re-apply with nothing changed over n inputs, through the ledger."""
    many = work / "many"
    make_texts(many, n, 5)
    spec = work / "many.yaml"
    spec.write_text(
        spec_text(
            "many",
            str(many),
            work / "out-many",
            "wc -w {{ item.name }} > {{ item.stem }}_OUTPUT.txt",
            2,
            8,
            "{containers: keep, job: keep, pool: keep}",
        )
    )
    allow = allowed(work)
    first, _ = bwf(["apply", str(spec), "--yes", *allow], env)
    again, _ = bwf(["apply", str(spec), "--yes", *allow], env)
    for f in (work / "home" / "ledger").glob("many-*.json"):
        f.unlink()  # BWF_HOME lost: apply verifies the downloaded outputs against their blobs
    observe, _ = bwf(["apply", str(spec), "--yes", *allow], env)
    print(
        f"\n{n} inputs: first apply {first:.1f} s; re-apply, nothing changed: {again:.2f} s "
        f"(target < {REAPPLY_TARGET:.0f} s); with the ledger removed: {observe:.2f} s"
    )
    return again


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reapply-files", type=int, default=10000)
    ap.add_argument("--profile", type=Path, help="write CPU profiles of the three processes here")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # each run as it ends
    work = Path(tempfile.mkdtemp(prefix="bwf-apply-bench-"))
    env = {**os.environ, "BWF_HOME": str(work / "home")}
    up_env = {**env, "BWF_LOCALBATCH_TIMING_LOG": str(work / "timing.jsonl")}
    if args.profile:
        args.profile = args.profile.resolve()
        up_env.update(profiles.stack_env(args.profile))
    subprocess.run([*BWF, "local", "up"], env=up_env, check=True, capture_output=True)
    ratios: list[float] = []
    again = None
    try:
        make_texts(work / "texts", args.files, 400)
        results = [one_run(i, args, work, env) for i in range(1, args.runs + 1)]
        ratios = [e2e / fl for e2e, fl in results]
        print(
            f"\n{args.runs} runs: bwf apply {spread([r[0] for r in results])} s; "
            f"xargs -P2 {spread([r[1] for r in results])} s"
        )
        if args.reapply_files:
            again = reapply(args.reapply_files, work, env)
    finally:
        subprocess.run([*BWF, "local", "down"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    if args.profile:
        show_profiles(args.profile, args.runs)
    tail = (
        f"; no-change re-apply of {args.reapply_files}: {again:.2f} s, ratio {again / REAPPLY_TARGET:.2f} to < 1 s"
        if again is not None
        else ""
    )
    print(
        f"\nratio bwf apply / xargs -P2 over {args.files} files: {spread(ratios)} (target <= {TARGET}: "
        f"{statistics.median(ratios) / TARGET:.2f} of it){tail}"
    )


def show_profiles(directory: Path, runs: int) -> None:
    print(f"\nCPU profiles in {directory}")
    print(f"bwf (run {runs}):\n" + profiles.python_summary(directory / f"bwf-run{runs}.prof"))
    print("local Batch service:\n" + profiles.python_summary(directory / "localbatch.prof"))
    print("Azurite:\n" + profiles.node_summary(directory / "azurite"))


if __name__ == "__main__":
    main()
