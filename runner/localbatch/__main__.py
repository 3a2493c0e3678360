"""`python -m runner.localbatch serve`: run the local Batch service in the foreground."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from runner.localbatch.api import Api
from runner.localbatch.autoscaling import AutoscaleSettings
from runner.localbatch.containers import ContainerRuntime
from runner.localbatch.faults import Faults
from runner.localbatch.harsh import Harsh
from runner.localbatch.preemption import Preemption
from runner.localbatch.scheduler import Scheduler
from runner.localbatch.server import BatchServer
from runner.localbatch.store import Store
from runner.profiling import start_from_env

PROFILE_ENV = "BWF_LOCALBATCH_PROFILE"  # a CPU profile of the service (runner.profiling)


def serve(
    home: Path, host: str, port: int, account: str, key: str, ready_file: Path | None
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    faults = Faults.from_env()
    harsh = Harsh.from_env()
    containers = ContainerRuntime.from_env()
    preemption = Preemption.from_env()
    autoscale = AutoscaleSettings.from_env()
    store = Store(home / "batch.sqlite")
    # the URL is known once the socket is bound; the scheduler needs it for node URLs
    server = BatchServer((host, port), None, account, key, faults, harsh)  # type: ignore[arg-type]
    url = f"http://{host}:{server.server_address[1]}"
    scheduler = Scheduler(
        store,
        home,
        account,
        url,
        faults,
        harsh,
        containers=containers,
        preemption=preemption,
        autoscale=autoscale,
    )
    server.api = Api(scheduler, url)
    scheduler.start()

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "account": account}))
        os.replace(tmp, ready_file)
    print(f"local Batch service for account {account} at {url}, state in {home}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        scheduler.stop()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runner.localbatch")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the service in the foreground")
    s.add_argument(
        "--home", type=Path, required=True, help="state directory (SQLite, node directories)"
    )
    s.add_argument("--host", default="127.0.0.1", help="listen address (default loopback only)")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--account", required=True)
    s.add_argument("--key", default=os.environ.get("BWF_LOCALBATCH_KEY"), help="base64 account key")
    s.add_argument("--ready-file", type=Path)
    args = ap.parse_args(argv)
    if not args.key:
        ap.error("--key (or BWF_LOCALBATCH_KEY) is required")
    stop_profile = start_from_env(PROFILE_ENV)
    try:
        serve(args.home, args.host, args.port, args.account, args.key, args.ready_file)
    finally:
        stop_profile()
    return 0


if __name__ == "__main__":
    sys.exit(main())
