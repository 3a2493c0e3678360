"""The storage half of the diff: containers to create, restore from their kept copy
or upload into, and downloads to make. Pure, no I/O."""

from __future__ import annotations

from runner import downloads
from runner.actions import Action, ContainerAction, DownloadAction, RestoreAction, UploadAction
from runner.plan_tasks import TaskPlan
from runner.spec import LOGS_KEY
from runner.state import Desired, DesiredContainer, Observed, ObservedContainer


def container_actions(desired: Desired, observed: Observed, tp: TaskPlan) -> list[Action]:
    """Per container: create it when missing, restore it from its kept copy, upload the
    blobs whose MD5 differs or is absent."""
    actions: list[Action] = []
    for c in desired.containers:
        live = observed.containers.get(c.name)
        actions.append(
            ContainerAction(
                id=c.key,
                change="noop" if live else "create",
                reason="" if live else "missing",
                name=c.name,
                logs=c.key == LOGS_KEY,
            )
        )
        if c.key in tp.restore:
            kept = observed.kept[c.name]
            actions.append(
                RestoreAction(
                    id=c.key,
                    change="create",
                    reason="deleted by clean-up",
                    name=c.name,
                    count=len(kept.blobs),
                    bytes=sum(b.size for b in kept.blobs.values()),
                )
            )
        upload = _upload(c, live)
        if upload is not None:
            actions.append(upload)
    return actions


def _upload(c: DesiredContainer, live: ObservedContainer | None) -> UploadAction | None:
    stale = [
        u
        for u in c.uploads
        if live is None or (b := live.blobs.get(u.blob)) is None or b.md5 != u.md5
    ]
    if not stale:
        return None
    return UploadAction(
        id=c.key,
        change="create",
        reason="missing" if live is None else "changed or missing",
        name=c.name,
        blobs=tuple(u.blob for u in stale),
        count=len(stale),
        bytes=sum(u.size for u in stale),
        unchanged=len(c.uploads) - len(stale),
    )


def download_actions(desired: Desired, tp: TaskPlan) -> list[Action]:
    actions: list[Action] = []
    for d in desired.downloads:
        planned = tp.downloads.get(downloads.key(d))
        if planned is None:
            continue
        reason, source = planned
        actions.append(
            DownloadAction(
                id=d.container,
                change="create",
                reason=reason,
                name=d.container_name,
                to=d.to,
                pattern=d.pattern,
                source=source,
            )
        )
    return actions
