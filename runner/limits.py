"""Batch's hard limits, checked on the desired state before anything is sent.

A spec that would be refused by Batch half-way through a run is refused here instead,
with a located error. Secret tokens are measured at the size of a real SAS URL.
"""

from __future__ import annotations

import json

from runner import durations
from runner.errors import Problem
from runner.schema import dotted
from runner.secrets import secret_token, secret_tokens
from runner.spec import SourceMap, Spec, YamlPath
from runner.state import Desired, DesiredTask, ResourceFile

# dependsOn.taskIds may hold at most 64,000 characters of IDs; beyond that a step waits
# on barrier tasks, each depending on a slice of what it needs (runner.render.steps).
DEPENDS_ON_MAX_CHARS = 64000
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
                total += 16 + _json_chars(extra)
    return total


def _json_chars(text: str) -> int:
    """`len(json.dumps(text))`, without encoding the common plain text."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text))


def check(desired: Desired, spec: Spec) -> list[Problem]:
    """Every Batch limit the desired state would break, located at the template at fault."""
    source = spec.source
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
    for step in job.steps:
        path = spec.job.step(step.name).path
        for t in step.tasks:  # the first offender per step is enough to locate the template
            found = _task_problems(t, path, source)
            if found:
                problems += found
                break
    for extra, name in ((job.prepare, "prepare"), (job.release, "release")):
        if extra is not None:
            problems += _task_problems(extra, ("job", name), source)
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


def _task_problems(t: DesiredTask, path: YamlPath, source: SourceMap) -> list[Problem]:
    problems = []
    where = dotted(path)
    n = measured_length(t.command_line)
    if n > COMMAND_LINE_MAX:
        problems.append(
            Problem(
                source.value((*path, "command")),
                f"{where}.command: the command line of task '{t.id}' has {n} characters, "
                f"over Batch's limit of {COMMAND_LINE_MAX}",
            )
        )
    size = resource_files_json_chars(t.resource_files)
    if size > RESOURCE_FILES_MAX_CHARS:
        problems.append(
            Problem(
                source.key((*path, "resource_files")),
                f"{where}.resource_files: task '{t.id}' has {size} characters of resource "
                f"files, over Batch's limit of {RESOURCE_FILES_MAX_CHARS}; use a container prefix instead of "
                "listing blobs",
            )
        )
    return problems
