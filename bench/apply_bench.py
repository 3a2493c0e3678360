"""End-to-end speed of `bwf apply` on the local stack, against the floor of this machine.

Usage: python bench/apply_bench.py [--files 1000] [--reapply-files 10000]

1. topn over N generated texts on a 2-node local pool (one task slot per node),
   end to end (upload, pool, job, tasks, monitor, download, clean-up), compared in
   the same run with `xargs -P2` running node_scripts/topn.py directly on the same
   files. Target: at most 1.5x the xargs time.
2. A re-apply with nothing changed over M uploaded inputs (containers, job and pool
   kept): through the run ledger, and with the ledger removed (a full observe that
   lists every blob and every task). Target: under 3 s.

The local stack runs under a temporary BWF_HOME and is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["harbour", "orchard", "signal", "river", "stone", "light", "window", "garden", "letter", "market", "winter", "summer", "station", "bridge", "paper", "thread", "candle", "silver", "forest", "meadow"]  # fmt: skip


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


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{r.stdout}\n{r.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--reapply-files", type=int, default=10000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bwf-apply-bench-"))
    env = {**os.environ, "BWF_HOME": str(work / "home")}
    bwf = [sys.executable, "-m", "runner"]
    # the specs download into the work directory, outside the current one
    allow = ["--allow-path", str(work)]
    subprocess.run([*bwf, "local", "up"], env=env, check=True, capture_output=True)
    try:
        data = work / "texts"
        make_texts(data, args.files, 400)
        floor_out = work / "floor"
        floor_out.mkdir()
        t0 = time.perf_counter()
        subprocess.run(
            f"ls {data}/*.txt | xargs -P2 -n1 python3 {ROOT}/node_scripts/topn.py --numwords 3 --outdir {floor_out} --filepath",
            shell=True, check=True, capture_output=True,
        )  # fmt: skip
        floor = time.perf_counter() - t0
        spec = work / "topn.yaml"
        command = (
            "python3 $AZ_BATCH_NODE_SHARED_DIR/topn.py --filepath {{ item.name }} --numwords 3"
        )
        spec.write_text(spec_text("bench", str(data), work / "out", command, 2, 1,
                                  "{containers: delete, job: delete, pool: delete}"))  # fmt: skip
        e2e = timed([*bwf, "apply", str(spec), "--yes", *allow], env)
        outputs = len(list((work / "out").glob("*_OUTPUT.txt")))
        assert outputs == args.files, outputs
        print(f"topn over {args.files} files, 2 nodes: bwf apply {e2e:.1f} s; xargs -P2 {floor:.1f} s; "
              f"ratio {e2e / floor:.2f} (target <= 1.5)")  # fmt: skip

        many = work / "many"
        make_texts(many, args.reapply_files, 5)
        spec2 = work / "many.yaml"
        spec2.write_text(spec_text("many", str(many), work / "out2", "wc -w {{ item.name }} > {{ item.stem }}_OUTPUT.txt",
                                   2, 8, "{containers: keep, job: keep, pool: keep}"))  # fmt: skip
        first = timed([*bwf, "apply", str(spec2), "--yes", *allow], env)
        ledger = timed([*bwf, "apply", str(spec2), "--yes", *allow], env)
        for f in (work / "home" / "ledger").glob("many-*.json"):
            f.unlink()
        observe = timed([*bwf, "apply", str(spec2), "--yes", *allow], env)
        print(f"{args.reapply_files} inputs: first apply {first:.1f} s; re-apply, nothing changed: "
              f"{ledger:.2f} s through the ledger, {observe:.2f} s with a full observe (target < 3 s: "
              f"ratios {ledger / 3:.2f}, {observe / 3:.2f})")  # fmt: skip
    finally:
        subprocess.run([*bwf, "local", "down"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
