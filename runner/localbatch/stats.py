"""Figures the service derives from its state: job and pool statistics (`$expand=stats`)
and the account's pool usage metrics (`GET /poolusagemetrics`).

What one machine can measure is measured: task counts, retries, wall-clock and wait
times, node core time from each node's lifetime in its pool. CPU and I/O counters of
task processes are not collected and read as zero.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from runner.localbatch.catalog import VM_SIZE_VCPUS
from runner.localbatch.conditional import parse_iso
from runner.localbatch.store import Obj, now_iso

INTERVAL = timedelta(minutes=30)  # Batch aggregates usage in 30-minute intervals
_CORES = re.compile(r"^(?:standard_|basic_)?[a-z]+?(\d+)", re.IGNORECASE)


def vcpus(vm_size: str) -> int:
    """The cores of a VM size: from the catalog, else from its name (`standard_d2s_v3`
    -> 2; a name without a number -> 1)."""
    known = VM_SIZE_VCPUS.get((vm_size or "").lower())
    if known is not None:
        return known
    m = _CORES.match(vm_size or "")
    return max(1, int(m.group(1))) if m else 1


def iso_duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):.3f}S"


def _seconds(start: str | None, end: str | None) -> float:
    if not start:
        return 0.0
    stop = parse_iso(end) if end else datetime.now(timezone.utc)
    return max((stop - parse_iso(start)).total_seconds(), 0.0)


def job_stats(job: Obj, tasks: list[Obj]) -> dict[str, Any]:
    succeeded = failed = retries = 0
    wall = wait = 0.0
    for task in tasks:
        info = task.get("executionInfo") or {}
        retries += int(info.get("retryCount") or 0)
        if task["state"] == "completed":
            if info.get("result") == "success":
                succeeded += 1
            else:
                failed += 1
        if info.get("startTime"):
            wall += _seconds(info["startTime"], info.get("endTime"))
            wait += _seconds(task["creationTime"], info["startTime"])
    return {
        "url": f"{job['url']}/stats",
        "startTime": job["creationTime"],
        "lastUpdateTime": now_iso(),
        "userCPUTime": iso_duration(0),
        "kernelCPUTime": iso_duration(0),
        "wallClockTime": iso_duration(wall),
        "readIOps": "0",
        "writeIOps": "0",
        "readIOGiB": 0.0,
        "writeIOGiB": 0.0,
        "numSucceededTasks": str(succeeded),
        "numFailedTasks": str(failed),
        "numTaskRetries": str(retries),
        "waitTime": iso_duration(wait),
    }


def pool_stats(pool: Obj, usage: list[Obj]) -> dict[str, Any]:
    core_seconds = sum(
        u["cores"] * _seconds(u["start"], u.get("end"))
        for u in usage
        if u["poolId"] == pool["id"] and u["dedicated"] and u["start"] >= pool["creationTime"]
    )
    now = now_iso()
    return {
        "url": f"{pool['url']}/stats",
        "startTime": pool["creationTime"],
        "lastUpdateTime": now,
        "usageStats": {
            "startTime": pool["creationTime"],
            "lastUpdateTime": now,
            "dedicatedCoreTime": iso_duration(core_seconds),
        },
    }


def usage_metrics(
    usage: list[Obj], start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    """Core hours per pool and VM size in each 30-minute interval between start and end."""
    now = datetime.now(timezone.utc)
    end = min(end or now, now)
    buckets: dict[tuple[datetime, str, str], float] = {}
    for u in usage:
        lo, hi = parse_iso(u["start"]), parse_iso(u["end"]) if u.get("end") else now
        if start is not None:
            lo = max(lo, start)
        hi = min(hi, end)
        t = _floor(lo)
        while t < hi:
            overlap = (min(hi, t + INTERVAL) - max(lo, t)).total_seconds()
            if overlap > 0:
                key = (t, u["poolId"], u["vmSize"])
                buckets[key] = buckets.get(key, 0.0) + u["cores"] * overlap / 3600
            t += INTERVAL
    return [
        {
            "poolId": pool_id,
            "startTime": _iso(t),
            "endTime": _iso(t + INTERVAL),
            "vmSize": vm_size,
            "totalCoreHours": round(hours, 6),
        }
        for (t, pool_id, vm_size), hours in sorted(buckets.items())
    ]


def _floor(t: datetime) -> datetime:
    return t.replace(minute=t.minute - t.minute % 30, second=0, microsecond=0)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
