"""How a node splits a task's command line into arguments: `shlex.split`'s POSIX rules
(as Batch on Linux), with no shell. The node's splitter is its own (shlex reads a
character at a time); it must agree with shlex on every input, errors included."""

from __future__ import annotations

import random
import shlex
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m

from runner.shell import split_command_line
from tests.batch_helpers import make_job, make_pool, wait_completed

PIECES = ["a", "b", " ", "\t", "\n", "\r", "'", '"', "\\", "$", "é", "\x0b", "\x0c", "#", ";"]


def _outcome(split: object, text: str) -> tuple[str, object]:
    try:
        return "ok", split(text)  # type: ignore[operator]
    except ValueError as e:
        return "error", str(e)


def test_the_splitter_agrees_with_shlex_on_every_kind_of_input() -> None:
    rnd = random.Random(13)
    for _ in range(40_000):
        text = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 12)))
        assert _outcome(split_command_line, text) == _outcome(shlex.split, text), repr(text)


def test_a_task_gets_its_arguments_split_as_batch_splits_them(batch_client: BatchClient) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=1, slots=1))
    args = [
        "plain",
        "two words",
        "",
        "it's",
        'say "hi"',
        "back\\slash",
        "$HOME stays",
        "new\nline",
        "tab\there",
    ]
    line = "printf '[%s]\\n' " + " ".join(shlex.quote(a) for a in args)
    line += ' "in \\"double\\" \\$x \\\\ \\n" back\\ slashed'
    batch_client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="args", command_line=line),
            m.BatchTaskCreateOptions(id="unclosed", command_line="echo 'no end"),
        ],
    )
    wait_completed(batch_client, job_id, 2)
    out = b"".join(batch_client.download_task_file(job_id, "args", "stdout.txt")).decode()
    expected = [*args, 'in "double" \\$x \\ \\n', "back slashed"]
    assert out == "".join(f"[{a}]\n" for a in expected)
    ended: Any = batch_client.get_task(job_id, "unclosed")
    failure = ended.execution_info.failure_info
    assert failure.code == "CommandProgramNotFound"
    assert "No closing quotation" in failure.message
