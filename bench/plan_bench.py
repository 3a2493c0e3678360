"""How long `bwf plan --offline` takes for a spec fanning out over N input files.

Usage: python bench/plan_bench.py [--files 100000] [--dir /tmp/bwf-plan-bench]

Creates N small input files once (reused across runs), then times each stage of the
pure pipeline - load, render (glob, MD5, templates, fingerprints), diff, text output,
JSON output - and the whole. Target: under 5 s for 100,000 files on 2 cores (later: 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from runner.load import load_spec
from runner.plan import diff
from runner.plan_json import to_json
from runner.render import render
from runner.show import render_plan
from runner.state import Observed

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


def prepare(directory: Path, files: int) -> Path:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    have = len(os.listdir(data))
    for i in range(have, files):
        (data / f"in{i:06d}.txt").write_text(f"word{i % 97} text {i}\n")
    spec = directory / "bench.yaml"
    spec.write_text(SPEC)
    return spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bwf-plan-bench"))
    args = ap.parse_args()
    spec_path = prepare(args.dir / str(args.files), args.files)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    spec = load_spec(spec_path)
    times["load"] = time.perf_counter() - t0
    t = time.perf_counter()
    desired = render(spec)
    times["render"] = time.perf_counter() - t
    t = time.perf_counter()
    plan = diff(desired, Observed.empty())
    times["diff"] = time.perf_counter() - t
    t = time.perf_counter()
    text = render_plan(plan)
    times["text"] = time.perf_counter() - t
    t = time.perf_counter()
    data = json.dumps(to_json(plan))
    times["json"] = time.perf_counter() - t
    fanned = len(desired.job.step("tasks").tasks)
    assert fanned == args.files, fanned
    plan_s = times["load"] + times["render"] + times["diff"] + times["text"]
    print(
        f"files: {args.files}  tasks: {fanned}  text: {len(text)} B  json: {len(data) / 1e6:.1f} MB"
    )
    for k, v in times.items():
        print(f"  {k:<7} {v:7.2f} s")
    print(
        f"bwf plan (text): {plan_s:.2f} s ({plan_s / args.files * 1e6:.1f} us per task); "
        f"target 5 s -> ratio {plan_s / 5:.2f}; later target 2 s -> ratio {plan_s / 2:.2f}"
    )
    print(f"bwf plan --json: {plan_s - times['text'] + times['json']:.2f} s")


if __name__ == "__main__":
    main()
