"""Azurite's CPU per request on one Node.js against another: what each blob operation of
a task (a resource file read, an output, stdout and stderr written) costs the machine
the tasks run on. A diagnostic beside bench/apply_bench.py, which times the product.

Usage: python bench/azurite_bench.py [--requests 1500] [--rounds 3]
                                     [--node PATH] [--vs-node PATH]

`--node` defaults to the one the local stack runs Azurite on (`node_modules/.bin/node`,
pinned in package.json), `--vs-node` to the first `node` on PATH. Each round starts a
fresh Azurite on each Node in turn (the same arguments as `bwf local up`), writes and
reads 300 blobs to warm it, then times N `Put Blob` (500 bytes, a container SAS, one
kept-alive connection, as the local Batch service's node agent sends them) and N `Get
Blob`: Azurite's user + system CPU (from /proc) per request, and the wall time per
request. Medians over the rounds; the ratio of the first Node's CPU to the second's is
printed last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from apply_bench import proc_cpu
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from runner import localstack

CONTAINER = "bench"
VERSION = "2021-08-06"
BODY = b"word " * 100
WARM = 300


@dataclass(frozen=True)
class Figures:
    put_cpu_ms: float
    get_cpu_ms: float
    put_wall_ms: float
    get_wall_ms: float


def one_round(node: str, requests: int) -> Figures:
    where = Path(tempfile.mkdtemp(prefix="bwf-azurite-bench-"))
    service = localstack.start_azurite(where, node=node)
    try:
        account, key = localstack.STORAGE_ACCOUNT, localstack.STORAGE_KEY
        client = BlobServiceClient(
            service.url, credential={"account_name": account, "account_key": key}
        )
        client.create_container(CONTAINER)
        sas = generate_container_sas(
            account,
            CONTAINER,
            account_key=key,
            permission=ContainerSasPermissions(read=True, write=True, create=True),
            expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
        )
        port = int(service.url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def call(method: str, name: str, expect: int) -> None:
            headers = {"x-ms-version": VERSION}
            body = None
            if method == "PUT":
                headers.update({"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"})
                body = BODY
            conn.request(method, f"/{account}/{CONTAINER}/{name}?{sas}", body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != expect:
                raise SystemExit(f"{method} {name}: HTTP {response.status}")

        for i in range(WARM):
            call("PUT", f"warm{i}", 201)
            call("GET", f"warm{i}", 200)
        c0, t0 = proc_cpu(service.pid), time.perf_counter()
        for i in range(requests):
            call("PUT", f"b{i}.txt", 201)
        c1, t1 = proc_cpu(service.pid), time.perf_counter()
        for i in range(requests):
            call("GET", f"b{i}.txt", 200)
        c2, t2 = proc_cpu(service.pid), time.perf_counter()
        conn.close()
        ms = 1000 / requests
        return Figures((c1 - c0) * ms, (c2 - c1) * ms, (t1 - t0) * ms, (t2 - t1) * ms)
    finally:
        localstack.stop_process(service.pid)
        shutil.rmtree(where, ignore_errors=True)


def version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--node", default=localstack.node_executable())
    ap.add_argument("--vs-node", default=shutil.which("node") or "node")
    args = ap.parse_args()
    nodes = [args.node, args.vs_node]
    got: dict[str, list[Figures]] = {n: [] for n in nodes}
    for _ in range(args.rounds):
        for node in nodes:
            got[node].append(one_round(node, args.requests))
    medians = {}
    for node in nodes:
        rows = got[node]
        put = statistics.median(f.put_cpu_ms for f in rows)
        get = statistics.median(f.get_cpu_ms for f in rows)
        medians[node] = (put, get)
        print(
            f"{node} ({version(node)}): Put Blob {put:.2f} ms CPU "
            f"(wall {statistics.median(f.put_wall_ms for f in rows):.2f}), "
            f"Get Blob {get:.2f} ms CPU "
            f"(wall {statistics.median(f.get_wall_ms for f in rows):.2f}); "
            f"{args.requests} requests each, median of {args.rounds} rounds"
        )
    (pa, ga), (pb, gb) = medians[nodes[0]], medians[nodes[1]]
    print(
        f"ratio of Azurite's CPU per request, first / second Node: Put {pa / pb:.2f}, Get {ga / gb:.2f}"
    )


if __name__ == "__main__":
    main()
