"""Batch's hard limits, checked on the desired state before anything is sent.

A spec that would be refused by Batch half-way through a run is refused here instead,
with a located error. Secret tokens are measured at the size of a real SAS URL.
"""

from __future__ import annotations

import json

from runner import durations
from runner.errors import Problem
from runner.secrets import secret_token, secret_tokens
from runner.spec import SourceMap, YamlPath
from runner.state import Desired, DesiredTask, ResourceFile

# A task's resource files travel as JSON; Batch refuses more than this.
RESOURCE_FILES_MAX_CHARS = 32768
# Batch publishes no command-line limit of its own; cmd.exe's 8191 characters is the
# smallest a node imposes, and bwf keeps specs within it so they run on any pool.
COMMAND_LINE_MAX = 8191
# How long a task may wait in the queue after the job timeout: SAS URLs outlive both.
QUEUE_ALLOWANCE = 3600
# A user-delegation SAS (Entra ID) lives at most 7 days.
SAS_MAX_LIFETIME = 7 * 86400
# The length a secret token stands for once resolved: a container URL with its SAS.
SAS_URL_CHARS = 300


def measured_length(text: str) -> int:
    """Length of `text` once its secret tokens are replaced by real SAS URLs."""
    tokens = secret_tokens(text)
    return len(text) + sum(SAS_URL_CHARS - len(secret_token(k, kind)) for k, kind in tokens)


def resource_files_json_chars(files: tuple[ResourceFile, ...]) -> int:
    """Estimated size of the resource files' JSON as Batch receives it (URLs with SAS)."""
    total = 2
    for f in files:
        # {"httpUrl"|"storageContainerUrl": "<url with SAS>", "filePath": ..., "fileMode": ..., "blobPrefix": ...}
        total += 40 + SAS_URL_CHARS + len(f.container or "") + len(f.blob or "") + len(f.url or "")
        for extra in (f.file_path, f.file_mode, f.prefix):
            if extra is not None:
                total += 16 + len(json.dumps(extra))
    return total


def check(desired: Desired, source: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    job = desired.job
    lifetime = job.timeout + QUEUE_ALLOWANCE
    if lifetime > SAS_MAX_LIFETIME:
        problems.append(
            Problem(
                source.value(("job", "timeout")),
                f"job.timeout: {durations.human(job.timeout)} plus {durations.human(QUEUE_ALLOWANCE)} of queueing "
                f"exceeds the {durations.human(SAS_MAX_LIFETIME)} a SAS URL can live; tasks would lose their files",
            )
        )

    def check_task(t: DesiredTask, path: YamlPath) -> None:
        n = measured_length(t.command_line)
        if n > COMMAND_LINE_MAX:
            problems.append(
                Problem(
                    source.value((*path, "command")),
                    f"{'.'.join(map(str, path))}.command: the command line of task '{t.id}' has {n} characters, "
                    f"over Batch's limit of {COMMAND_LINE_MAX}",
                )
            )
        size = resource_files_json_chars(t.resource_files)
        if size > RESOURCE_FILES_MAX_CHARS:
            problems.append(
                Problem(
                    source.key((*path, "resource_files")),
                    f"{'.'.join(map(str, path))}.resource_files: task '{t.id}' has {size} characters of resource "
                    f"files, over Batch's limit of {RESOURCE_FILES_MAX_CHARS}; use a container prefix instead of "
                    "listing blobs",
                )
            )

    for t in job.tasks:  # the first offender per limit is enough to locate the template
        before = len(problems)
        check_task(t, ("job", "tasks"))
        if len(problems) > before:
            break
    for extra, path in ((job.merge, "merge"), (job.prepare, "prepare"), (job.release, "release")):
        if extra is not None:
            check_task(extra, ("job", path))
    if desired.pool.start_task is not None:
        n = measured_length(desired.pool.start_task.command_line)
        if n > COMMAND_LINE_MAX:
            problems.append(
                Problem(
                    source.key(("pool", "start_task", "commands")),
                    f"pool.start_task.commands: the start task's command line has {n} characters, "
                    f"over Batch's limit of {COMMAND_LINE_MAX}",
                )
            )
    return problems
