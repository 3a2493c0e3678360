"""Task fingerprints (runner.render.fingerprints.own) never change from one version of
bwf to the next: they are kept in Batch and in ledgers, and a changed one would make
apply replace every task. Checked against the digest of the `repr` of the fields as it
was first defined, for tasks of every shape (a faster way of writing that text must
give it exactly), and against a fingerprint recorded by an earlier version."""

from __future__ import annotations

import pytest

from runner.compute import ContainerRegistry, TaskContainer
from runner.render.fingerprints import digest, own
from runner.state import DesiredTask, OutputFile, ResourceFile


def generic(t: DesiredTask) -> str:
    """The fingerprint as it was first defined: the digest of the `repr` of the fields."""
    return digest(
        [
            t.command_line,
            t.resource_files,
            t.outputs,
            t.env,
            t.retries,
            t.max_wall_clock,
            t.elevated,
            t.depends_on,
            t.depends_on_ranges,
            t.on_dependency_failure,
        ]
    )


ONE_FILE = (ResourceFile(container="input", blob="data/a.txt", file_path="a.txt", md5="x=="),)
MANY_FILES = (
    ResourceFile(container="input", prefix="", file_mode="0755"),
    ResourceFile(url="https://example.org/a?b='c'&d=\"e\"", file_path="é/\\n"),
    ResourceFile(container="in'put", prefix="dir/", file_path=None, md5=None),
)
OUTPUTS = (
    OutputFile(pattern="*_OUTPUT.txt", container="output", path="p/{x}"),
    OutputFile(pattern="../std*.txt", container="logs", path="t1", when="completion"),
)

TASKS = [
    DesiredTask(id="t", command_line="/bin/bash -c 'echo hi'"),
    DesiredTask(id="t", command_line="x", resource_files=ONE_FILE),
    DesiredTask(id="t", command_line="x", outputs=OUTPUTS[:1]),
    DesiredTask(
        id="t",
        command_line="/bin/bash -c 'python3 \"$X\" --n 3 → ü \\t'",
        resource_files=MANY_FILES,
        outputs=OUTPUTS,
        env=(("A", "1"), ("QUOTE", 'it\'s "q"'), ("SECRET", "{{secret:k}}")),
        retries=3,
        max_wall_clock=3600,
        elevated=True,
        depends_on=("a", "b"),
        depends_on_ranges=((0, 9), (20, 29)),
        on_dependency_failure="satisfy",
        fingerprint="ignored",
        item_index=7,
        display="ignored too",
    ),
    DesiredTask(id="t", command_line="", env=(("ONLY", ""),), depends_on=("one",)),
]


@pytest.mark.parametrize("task", TASKS, ids=range(len(TASKS)))
def test_own_is_the_digest_of_the_repr_of_the_fields(task: DesiredTask) -> None:
    assert own(task) == generic(task)


def test_own_ignores_the_id_and_what_is_only_shown() -> None:
    t = TASKS[3]
    other = DesiredTask(
        **{**t.__dict__, "id": "u", "item_index": 1, "display": "", "fingerprint": ""}
    )
    assert own(other) == own(t)


def test_a_fingerprint_recorded_by_an_earlier_version_still_matches() -> None:
    # recorded by bwf 0.1.0
    assert own(TASKS[3]) == "de6634bb75db3e9e6535aa210b312fd1"


def test_the_repr_of_the_fields_is_the_dataclass_text_without_its_recursion_guard() -> None:
    # runner.frozen.plain_repr drops the guard: the text must be what dataclasses writes
    registry = ContainerRegistry("r.io", "me", "PW")
    container = TaskContainer("r.io/img:1", "--rm", "image", registry)
    assert repr(OUTPUTS[1]) == (
        "OutputFile(pattern='../std*.txt', container='logs', path='t1', when='completion')"
    )
    assert repr(ONE_FILE[0]) == (
        "ResourceFile(container='input', blob='data/a.txt', prefix=None, url=None, "
        "file_path='a.txt', file_mode=None, md5='x==')"
    )
    assert repr(container) == (
        "TaskContainer(image='r.io/img:1', options='--rm', workdir='image', "
        "registry=ContainerRegistry(server='r.io', username='me', password_env='PW'))"
    )
    for cls in (OutputFile, ResourceFile, TaskContainer, ContainerRegistry):
        assert not hasattr(cls.__repr__, "__wrapped__")
