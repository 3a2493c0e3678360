"""Batch's hard limits, checked on the desired state before anything is sent.

A spec that would be refused by Batch half-way through a run is refused here instead,
with a located error. Secret tokens are measured at the size of a real SAS URL.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from runner import durations, sas_times
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
# The length a secret token stands for once resolved: a container URL with its SAS. The
# longest bwf issues on Azure is a user-delegation SAS (about 300 characters of query)
# for a 63-character container of a 24-character account in the longest cloud domain:
# 423 characters (tests/test_limits.py). The rest allows for a signature whose base64
# needs more percent-encoding than usual.
SAS_URL_CHARS = 450
# The most characters of one resource file's JSON besides its names (blob, prefix, file
# path, mode): keys, quotes, separators and a SAS URL (tests/test_limits.py).
FILE_JSON_MAX_CHARS = SAS_URL_CHARS + 150


def measured_length(text: str) -> int:
    """Length of `text` once its secret tokens are replaced by real SAS URLs."""
    tokens = secret_tokens(text)
    return len(text) + sum(SAS_URL_CHARS - len(secret_token(k, kind)) for k, kind in tokens)


# Text that JSON writes as is, and text that percent-encoding leaves as is: most names
# are both, and measuring them needs no encoding (this runs for every task of a plan).
_JSON_AS_IS = re.compile(r"[ !#-\[\]-~]*")
_URL_AS_IS = re.compile(r"[A-Za-z0-9_.~/-]*")


def _json_chars(value: str) -> int:
    """Length of `value` as a JSON string, as the SDK writes it (ASCII, with escapes)."""
    return len(value) + 2 if _JSON_AS_IS.fullmatch(value) else len(json.dumps(value))


def _url_chars(path: str) -> int:
    """Length of a blob path once percent-encoded, as runner.resolver encodes it."""
    return len(path) if _URL_AS_IS.fullmatch(path) else len(urllib.parse.quote(path))


def _field_chars(key: str, value_chars: int) -> int:
    """Length of `"key": value` in a JSON object, separator after it included."""
    return len(key) + 6 + value_chars


def resource_file_json_chars(f: ResourceFile) -> int:
    """Length of one resource file's JSON as Batch receives it, SAS URLs at SAS_URL_CHARS.

    The URLs are built as runner.resolver builds them: a blob is the container's SAS URL
    with the percent-encoded blob path before the query, and its file path defaults to
    the blob name."""
    if f.url is not None:
        total = _field_chars("httpUrl", _json_chars(f.url) + measured_length(f.url) - len(f.url))
    elif f.blob is not None:
        total = _field_chars("httpUrl", SAS_URL_CHARS + 1 + _url_chars(f.blob) + 2)
    else:
        total = _field_chars("storageContainerUrl", SAS_URL_CHARS + 2)
        if f.prefix:
            total += _field_chars("blobPrefix", _json_chars(f.prefix))
    file_path = f.file_path if f.blob is None else (f.file_path or f.blob)
    if file_path is not None:
        total += _field_chars("filePath", _json_chars(file_path))
    if f.file_mode is not None:
        total += _field_chars("fileMode", _json_chars(f.file_mode))
    return total  # "{" and "}" instead of the last field's ", "


def resource_files_json_chars(files: tuple[ResourceFile, ...]) -> int:
    """Length of a task's `resourceFiles` JSON array as Batch receives it."""
    return 2 + sum(resource_file_json_chars(f) for f in files) + 2 * max(len(files) - 1, 0)


def check(desired: Desired, spec: Spec) -> list[Problem]:
    """Every Batch limit the desired state would break, located at the template at fault."""
    source = spec.source
    problems: list[Problem] = []
    job = desired.job
    # a SAS is signed for its lifetime plus the clock skew allowed on either side
    span = job.timeout + QUEUE_ALLOWANCE + 2 * sas_times.SKEW
    if span > sas_times.MAX_LIFETIME:
        problems.append(
            Problem(
                source.value(("job", "timeout")),
                f"job.timeout: {durations.human(job.timeout)} plus {durations.human(QUEUE_ALLOWANCE)} of queueing "
                f"and {durations.human(2 * sas_times.SKEW)} of clock skew allowance exceeds the "
                f"{durations.human(sas_times.MAX_LIFETIME)} a SAS URL can live; tasks would lose their files",
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


def _may_pass_files_limit(files: tuple[ResourceFile, ...]) -> bool:
    """Whether a task's resource files could pass Batch's limit, by a bound cheaper than
    measuring them (this runs for every task of a plan): each file is at most
    FILE_JSON_MAX_CHARS besides its names, and a character of a name at most 12 once
    escaped for JSON or percent-encoded (one outside the BMP: a surrogate pair of
    `\\uXXXX`, or four UTF-8 bytes of `%XX`). URLs, which may hold secret tokens, are
    always measured."""
    bound = 2
    for f in files:
        if f.url is not None:
            return True
        # a blob's name is in its URL, and is its file path when it has none
        names = 2 * len(f.blob or "") + len(f.prefix or "") + len(f.file_path or "")
        bound += FILE_JSON_MAX_CHARS + 12 * (names + len(f.file_mode or ""))
    return bound > RESOURCE_FILES_MAX_CHARS


def _task_problems(t: DesiredTask, path: YamlPath, source: SourceMap) -> list[Problem]:
    problems = []
    n = measured_length(t.command_line)
    if n > COMMAND_LINE_MAX:
        problems.append(
            Problem(
                source.value((*path, "command")),
                f"{dotted(path)}.command: the command line of task '{t.id}' has {n} characters, "
                f"over Batch's limit of {COMMAND_LINE_MAX}",
            )
        )
    if not _may_pass_files_limit(t.resource_files):
        return problems
    size = resource_files_json_chars(t.resource_files)
    if size > RESOURCE_FILES_MAX_CHARS:
        problems.append(
            Problem(
                source.key((*path, "resource_files")),
                f"{dotted(path)}.resource_files: task '{t.id}' has {size} characters of resource "
                f"files, over Batch's limit of {RESOURCE_FILES_MAX_CHARS}; use a container prefix instead of "
                "listing blobs",
            )
        )
    return problems
