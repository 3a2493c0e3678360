"""The local Batch service's throughput, measured with the real azure-batch SDK.

Usage: python bench/localbatch_bench.py [--tasks 100000] [--run 200]

1. Accepting tasks: `create_tasks` of N small tasks into a job whose pool has no
   nodes (nothing runs), timed end to end. Target: >= 5,000 tasks/s.
2. Scheduling overhead: R tasks running `true` on one node with one slot, against
   running the same command line R times directly with subprocess (no shell either
   way). Overhead per task = (service time - direct time) / R. Target: <= 20 ms.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential

from runner import localstack

IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(
        publisher="canonical", offer="ubuntu-24_04-lts", sku="server"
    ),
    node_agent_sku_id="batch.node.ubuntu 24.04",
)
COMMAND = "/bin/true"


def pool(c: BatchClient, pool_id: str, nodes: int) -> None:
    c.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            target_dedicated_nodes=nodes,
            task_slots_per_node=1,
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--run", type=int, default=200)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bwf-localbatch-bench-"))
    svc = localstack.start_batch_service(home)
    try:
        c = BatchClient(
            endpoint=svc.url,
            credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
        )
        pool(c, "idle-pool", 0)
        c.create_job(
            m.BatchJobCreateOptions(id="accept", pool_info=m.BatchPoolInfo(pool_id="idle-pool"))
        )
        tasks = [
            m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line=COMMAND)
            for i in range(args.tasks)
        ]
        t0 = time.perf_counter()
        c.create_tasks("accept", tasks, max_concurrency=4)
        accept = time.perf_counter() - t0
        counts = c.get_job_task_counts("accept").task_counts
        assert counts.active == args.tasks, counts
        rate = args.tasks / accept
        print(
            f"accept: {args.tasks} tasks in {accept:.2f} s = {rate:,.0f} tasks/s (target 5,000: ratio {rate / 5000:.2f})"
        )

        argv = shlex.split(COMMAND)
        t0 = time.perf_counter()
        for _ in range(args.run):
            subprocess.run(argv, check=True)
        direct = time.perf_counter() - t0

        pool(c, "run-pool", 1)
        while [n.state for n in c.list_nodes("run-pool")] != [m.BatchNodeState.IDLE]:
            time.sleep(0.05)
        c.create_job(
            m.BatchJobCreateOptions(id="run", pool_info=m.BatchPoolInfo(pool_id="run-pool"))
        )
        t0 = time.perf_counter()
        c.create_tasks(
            "run",
            [
                m.BatchTaskCreateOptions(id=f"r{i:05d}", command_line=COMMAND)
                for i in range(args.run)
            ],
        )
        while c.get_job_task_counts("run").task_counts.completed < args.run:
            time.sleep(0.02)
        served = time.perf_counter() - t0
        per_task = (served - direct) / args.run * 1000
        print(
            f"run: {args.run} tasks on 1 node x 1 slot in {served:.2f} s; directly {direct:.2f} s; "
            f"overhead {per_task:.1f} ms per task (target 20 ms: ratio {per_task / 20:.2f})"
        )
    finally:
        localstack.stop_process(svc.pid)


if __name__ == "__main__":
    main()
