"""Observe: one pass of reads against the services, into an `Observed`.

Containers with their blobs' MD5s, the pool, the job with each task's state and the
fingerprint it was created with; and, from BWF_HOME without any network, the run
ledger, the state of the local download targets and the kept output copies.
Nothing here writes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from runner import downloads
from runner.kept import Kept
from runner.ledger import Ledger, ledger_for
from runner.plan_tasks import all_tasks, runs_tasks
from runner.state import Desired, Observed
from runner.targets import Target, resolve_target

if TYPE_CHECKING:  # the SDKs load only when a service is read, not for "No changes"
    from runner.batch import Batch
    from runner.storage import Storage


def observe_local(desired: Desired, ledger: Ledger) -> Observed:
    """What BWF_HOME and the local disk say, with no network: the ledger, the download
    targets and the kept copies of deleted output containers."""
    return Observed(
        ledger=dict(ledger.tasks),
        downloads=downloads.observe(desired.downloads, ledger.downloads),
        kept=Kept(ledger).copies(),
    )


def all_done(desired: Desired, local: Observed) -> bool:
    """Whether BWF_HOME alone shows every task done with the same fingerprint, no task
    that the spec no longer has (which a kept job may still hold), and every download
    in place."""
    tasks = all_tasks(desired)
    return (
        len(local.ledger) == len(tasks)
        and all(local.ledger.get(t.id) == t.fingerprint for t in tasks)
        and not local.downloads
    )


def observe(desired: Desired, storage: Storage, batch: Batch, local: Observed) -> Observed:
    """Storage and Batch are read at the same time (two services, two connections).
    Blobs are listed only when some task has to run: otherwise no upload can be needed,
    and a finished run over 10,000 inputs is observed without listing them."""
    names = [c.name for c in desired.containers]
    with ThreadPoolExecutor(max_workers=3) as pool:
        containers = pool.submit(storage.observe, names)
        live_pool = pool.submit(batch.get_pool, desired.pool.id)
        job = pool.submit(batch.get_job, desired.job.id)
        observed = replace(
            local, containers=containers.result(), pool=live_pool.result(), job=job.result()
        )
    if runs_tasks(desired, observed):
        listed = storage.observe(
            names, list_blobs=[c.name for c in desired.containers if c.uploads]
        )
        observed = replace(observed, containers=listed)
    return observed


def observe_target(desired: Desired, target_name: str) -> Observed:
    """What `bwf plan` and `bwf apply` compare with: BWF_HOME alone when it shows
    everything done and in place, else one pass of reads (starting the local stack if
    needed)."""
    ledger = ledger_for(desired, target_name)
    local = observe_local(desired, ledger)
    if all_done(desired, local):
        return local
    from runner.batch import Batch
    from runner.storage import Storage

    target: Target = resolve_target(target_name)
    return observe(desired, Storage(target), Batch(target), local)
