"""Observe: one pass of reads against the services, into an `Observed`.

Containers with their blobs' MD5s, the pool, the job with each task's state and the
fingerprint it was created with, and the run ledger. Nothing here writes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from runner.batch import Batch
from runner.ledger import Ledger
from runner.plan import all_tasks, diff
from runner.state import Desired, Observed
from runner.storage import Storage
from runner.targets import Target, resolve_target


def ledger_for(desired: Desired, target_name: str) -> Ledger:
    """The run ledger of this spec's job on this target's Batch account (no network)."""
    from runner.localstack import BATCH_ACCOUNT
    from runner.targets import azure_target

    account = BATCH_ACCOUNT if target_name == "local" else azure_target().batch_url
    return Ledger(target_name, account, desired.name, desired.job.id)


def all_done(desired: Desired, ledger: Ledger) -> bool:
    """Whether the ledger alone shows every task done with the same fingerprint, and no
    task that the spec no longer has (which a kept job may still hold)."""
    tasks = all_tasks(desired)
    return len(ledger.tasks) == len(tasks) and all(
        ledger.tasks.get(t.id) == t.fingerprint for t in tasks
    )


def observe(desired: Desired, storage: Storage, batch: Batch, ledger: Ledger) -> Observed:
    """Storage and Batch are read at the same time (two services, two connections).
    Blobs are listed only when some task has to run: otherwise no upload can be needed,
    and a finished run over 10,000 inputs is observed without listing them."""
    names = [c.name for c in desired.containers]
    with ThreadPoolExecutor(max_workers=3) as pool:
        containers = pool.submit(storage.observe, names)
        live_pool = pool.submit(batch.get_pool, desired.pool.id)
        job = pool.submit(batch.get_job, desired.job.id)
        observed = Observed(
            containers=containers.result(),
            pool=live_pool.result(),
            job=job.result(),
            ledger=dict(ledger.tasks),
        )
    if any(a.kind == "container" for a in diff(desired, observed).actions):  # tasks to run
        listed = storage.observe(
            names, list_blobs=[c.name for c in desired.containers if c.uploads]
        )
        observed = replace(observed, containers=listed)
    return observed


def observe_target(desired: Desired, target_name: str) -> Observed:
    """What `bwf plan` compares with: the ledger alone when it shows everything done,
    else one pass of reads (starting the local stack if needed)."""
    ledger = ledger_for(desired, target_name)
    if all_done(desired, ledger):
        return Observed(ledger=dict(ledger.tasks))
    target: Target = resolve_target(target_name)
    return observe(desired, Storage(target), Batch(target), ledger)
