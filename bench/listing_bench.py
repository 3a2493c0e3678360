"""How long `bwf plan` takes when it must list a big container: N inputs uploaded
already, their tasks still to run (nothing in BWF_HOME says they ran), so the plan
lists the input container to tell which uploads are needed. Run as a user runs it:
`bwf plan` in a subprocess, against the local stack (`bwf local up` first, not timed).

Usage: python bench/listing_bench.py [--blobs 10000] [--runs 5] [--vs-checkout DIR]

The N input files are plan_bench's (created once under --dir); they are uploaded with
bwf's own upload code before the runs. With --vs-checkout, the `runner` package of DIR
(another version) plans the same spec, its runs alternating with this checkout's, and
the ratio of this checkout's median to DIR's is printed last. `bwf plan --offline`
(no service read, no listing) runs in turn too, for what the reads add.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plan_bench import prepare

ROOT = Path(__file__).resolve().parent.parent


def plan(spec: Path, home: Path, checkout: Path, *extra: str) -> tuple[float, float]:
    """One `bwf plan` process of `checkout`: (wall seconds, CPU seconds)."""
    env = {**os.environ, "BWF_HOME": str(home)}
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "plan", str(spec), *extra],
        stdout=subprocess.DEVNULL,
        env=env,
        cwd=checkout,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bwf plan ({checkout}) exited {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_utime + usage.ru_stime


def upload_inputs(spec: Path) -> int:
    """Upload the spec's inputs with bwf's own code (as an apply would); their number."""
    from runner.pipeline import desired_state
    from runner.storage import Storage
    from runner.targets import resolve_target

    desired = desired_state(spec)
    store = Storage(resolve_target("local"))
    count = 0
    for c in desired.containers:
        if c.uploads:
            store.create_container(c.name)
            store.upload(c.name, list(c.uploads), lambda _n: None)
            count += len(c.uploads)
    return count


def spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--blobs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bwf-plan-bench"))
    ap.add_argument("--vs-checkout", type=Path, help="also plan with the runner of this directory")
    args = ap.parse_args()
    spec = prepare(args.dir / str(args.blobs), args.blobs)
    checkouts = {"this": ROOT}
    if args.vs_checkout:
        checkouts["vs"] = args.vs_checkout.resolve()
    with tempfile.TemporaryDirectory(prefix="bwf-listing-bench-") as home:
        os.environ["BWF_HOME"] = home
        sys.path.insert(0, str(ROOT))
        subprocess.run(
            [sys.executable, "-m", "runner", "local", "up"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        try:
            print(f"uploaded {upload_inputs(spec)} inputs")
            walls: dict[str, list[float]] = {k: [] for k in [*checkouts, "offline"]}
            cpus: dict[str, list[float]] = {k: [] for k in walls}
            for _ in range(args.runs):
                for kind, checkout in [*checkouts.items(), ("offline", ROOT)]:
                    extra = ("--offline",) if kind == "offline" else ()
                    wall, cpu = plan(spec, Path(home), checkout, *extra)
                    walls[kind].append(wall)
                    cpus[kind].append(cpu)
        finally:
            subprocess.run(
                [sys.executable, "-m", "runner", "local", "down"],
                cwd=ROOT,
                check=False,
                stdout=subprocess.DEVNULL,
            )
    names = {"this": "bwf plan", "vs": f"bwf plan of {args.vs_checkout}", "offline": "--offline"}
    for kind in walls:
        print(f"  {names[kind]:<40} wall {spread(walls[kind])}  cpu {spread(cpus[kind])}")
    this = statistics.median(walls["this"])
    added = this - statistics.median(walls["offline"])
    print(f"reading the services and listing {args.blobs} blobs adds {added:.2f} s to the plan")
    if "vs" in walls:
        vs = statistics.median(walls["vs"])
        print(f"ratio this checkout / {args.vs_checkout} (median wall): {this / vs:.2f}")


if __name__ == "__main__":
    main()
