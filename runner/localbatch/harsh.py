"""Azure's slower, harsher behaviour, behind switches read once at service start.

The local service is kinder than Azure by default: it allocates every node at once,
never throttles and counts tasks exactly. Each switch below makes one of Azure's
behaviours observable, so that a client can be tested against it:

- `BWF_LOCALBATCH_MAX_NODES=N`: the account's core quota, as a node count across all
  pools; what a resize cannot get ends in `resizeErrors` (`AccountCoreQuotaReached`).
- `BWF_LOCALBATCH_ALLOCATION_DELAY=S`: a resize (pool creation and node removal
  included) stays `resizing` for S seconds; another resize meanwhile gets 409
  `PoolBeingResized`.
- `BWF_LOCALBATCH_DELETE_DELAY=S`: a deleted pool or job stays `deleting` for S seconds
  (default `DEFAULT_DELETE_DELAY`); creating one with its ID meanwhile gets 409.
- `BWF_LOCALBATCH_THROTTLE_RATE=F`: that fraction of authenticated requests gets 429
  `TooManyRequests` or 503 `ServerBusy` with `Retry-After`
  (`BWF_LOCALBATCH_THROTTLE_RETRY_AFTER` seconds, default 1; the seed is
  `BWF_LOCALBATCH_FAULT_SEED`).
- `BWF_LOCALBATCH_STALE_COUNTS=S`: `taskcounts` answers from a snapshot up to S s old.
- `BWF_LOCALBATCH_MAX_ACTIVE_JOBS=N`: the active job quota; every job not completed
  counts, and a job created past it gets 409 `ActiveJobAndScheduleQuotaReached`.

Pending transitions (allocation, deletion, termination) carry their due time, as
seconds since the epoch, in the object's internal `_due` key, so that they survive a
restart of the service.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.localbatch.errors import ApiError
from runner.localbatch.store import Obj

# Azure takes minutes to delete a pool or a job, and the SDK's begin_delete_* pollers
# wait for `deleting` to end: even with no switch set, deletions stay visible this long.
DEFAULT_DELETE_DELAY = 0.3
# Likewise `terminating`, which the begin_terminate_job poller waits on.
TERMINATE_DELAY = 0.3
DEFAULT_RETRY_AFTER = 1.0

QUOTA_CODE = "AccountCoreQuotaReached"
QUOTA_MESSAGE = "The specified account has reached VM core quota limit."
SERVER_BUSY = "The server is currently unable to receive requests. Please retry your request."
TOO_MANY_REQUESTS = "The account has sent too many requests. Please retry after the given delay."


def number_switch(env: Mapping[str, str], name: str, default: float) -> float:
    """A switch holding a number (of seconds, or a fraction); a malformed one stops the
    service with a message naming it."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(
            f"{name}: expected a number of seconds or a fraction, got {raw!r}"
        ) from None
    if value < 0:
        raise SystemExit(f"{name}: must not be negative, got {raw!r}")
    return value


def count_switch(env: Mapping[str, str], name: str) -> int | None:
    """A switch holding a whole number, None when unset."""
    raw = env.get(name)
    if not raw:
        return None
    if not raw.isdigit():
        raise SystemExit(f"{name}: expected a whole number, got {raw!r}")
    return int(raw)


@dataclass
class Harsh:
    max_nodes: int | None = None
    allocation_delay: float = 0.0
    delete_delay: float = DEFAULT_DELETE_DELAY
    throttle_rate: float = 0.0
    retry_after: float = DEFAULT_RETRY_AFTER
    stale_counts: float = 0.0
    max_active_jobs: int | None = None
    seed: int | None = None
    random: random.Random = field(init=False)
    lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    throttled: int = field(init=False, default=0)
    # job key -> (creation time of the job, when the snapshot was taken, the counts)
    snapshots: dict[str, tuple[str, float, dict[str, Any]]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # its own stream, so that turning throttling on does not move the fault injection's
        self.random = random.Random(None if self.seed is None else self.seed + 1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Harsh:
        """The switches from the environment; a malformed value stops the service."""
        rate = number_switch(env, "BWF_LOCALBATCH_THROTTLE_RATE", 0.0)
        if rate > 1:
            raise SystemExit(f"BWF_LOCALBATCH_THROTTLE_RATE: a fraction from 0 to 1, got {rate}")
        seed = env.get("BWF_LOCALBATCH_FAULT_SEED") or ""
        return cls(
            max_nodes=count_switch(env, "BWF_LOCALBATCH_MAX_NODES"),
            allocation_delay=number_switch(env, "BWF_LOCALBATCH_ALLOCATION_DELAY", 0.0),
            delete_delay=number_switch(env, "BWF_LOCALBATCH_DELETE_DELAY", DEFAULT_DELETE_DELAY),
            throttle_rate=rate,
            retry_after=number_switch(
                env, "BWF_LOCALBATCH_THROTTLE_RETRY_AFTER", DEFAULT_RETRY_AFTER
            ),
            stale_counts=number_switch(env, "BWF_LOCALBATCH_STALE_COUNTS", 0.0),
            max_active_jobs=count_switch(env, "BWF_LOCALBATCH_MAX_ACTIVE_JOBS"),
            seed=int(seed) if seed.lstrip("-").isdigit() else None,
        )

    # --- pending transitions ---------------------------------------------------------------

    @staticmethod
    def delay(obj: Obj, seconds: float) -> None:
        """The transition the object has just entered completes in `seconds`."""
        obj["_due"] = time.time() + seconds

    @staticmethod
    def due(obj: Obj) -> bool:
        return time.time() >= float(obj.get("_due") or 0)

    # --- throttling ------------------------------------------------------------------------

    def throttle(self) -> ApiError | None:
        """The error answering this request instead of the service, if it is throttled."""
        if self.throttle_rate <= 0:
            return None
        with self.lock:
            if self.random.random() >= self.throttle_rate:
                return None
            self.throttled += 1
            busy = self.random.random() < 0.5
        # Retry-After is whole seconds on Azure; azure-core also reads a fraction
        headers = {"Retry-After": f"{self.retry_after:g}"}
        if busy:
            return ApiError(503, "ServerBusy", SERVER_BUSY, headers=headers)
        return ApiError(429, "TooManyRequests", TOO_MANY_REQUESTS, headers=headers)

    # --- quotas ----------------------------------------------------------------------------

    def grant_nodes(self, target: int, current: int, elsewhere: int) -> tuple[int, list[Obj]]:
        """How many nodes a pool of `current` nodes asking for `target` gets, with the
        resize errors of what it cannot get; `elsewhere` nodes are in other pools. A
        pool keeps the nodes it has: the quota only stops it from growing."""
        if self.max_nodes is None or target <= current:
            return target, []
        granted = min(target, max(current, self.max_nodes - elsewhere))
        if granted == target:
            return target, []
        return granted, [{"code": QUOTA_CODE, "message": QUOTA_MESSAGE}]

    def check_job_quota(self, jobs: Iterable[Obj]) -> None:
        """Raise Batch's 409 when the account already has its quota of unfinished jobs."""
        if self.max_active_jobs is None:
            return
        if sum(1 for j in jobs if j["state"] != "completed") >= self.max_active_jobs:
            raise ApiError(
                409,
                "ActiveJobAndScheduleQuotaReached",
                "Active job and job schedule quota for the account has been reached.",
            )

    # --- stale task counts -----------------------------------------------------------------

    def task_counts(
        self, job_key: str, job: Obj, count: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """The job's task counts, from a snapshot up to `stale_counts` seconds old."""
        if self.stale_counts <= 0:
            return count()
        now = time.monotonic()
        kept = self.snapshots.get(job_key)
        if (
            kept is not None
            and kept[0] == job["creationTime"]
            and now - kept[1] < self.stale_counts
        ):
            return kept[2]
        counts = count()
        self.snapshots[job_key] = (job["creationTime"], now, counts)
        return counts
