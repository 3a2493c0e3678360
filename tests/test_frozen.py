"""runner.frozen: the fast ways of making and showing frozen dataclasses give the very
objects and text of the general ones, for each place that uses them."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from runner.compute import TaskContainer
from runner.frozen import assemble
from runner.load import load_spec
from runner.render import render
from runner.render.files import _item_file
from runner.render.tasks import _output_file, logs_output
from runner.state import DesiredTask, OutputFile, ResourceFile

SPEC = """\
apiVersion: bwf/v1
name: frozen
storage:
  containers:
    input: {upload: ["data/*.txt"]}
    output: {}
pool: {id: p, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 1}
job:
  id: j
  tasks:
    for_each: {container: input}
    id: "t-{{ item.stem }}"
    command: cat {{ item.name }}
    resource_files: [item, {container: input, prefix: ""}]
    env: {A: "{{ item.size }}"}
    retries: 2
    max_wall_clock: 1m
    outputs: [{pattern: "*.out", container: output, path: "o/{{ item.stem }}"}]
  merge: {id: m, command: echo merged}
"""


def _same(fast: object, general: object) -> None:
    assert fast == general
    assert type(fast) is type(general)
    assert list(vars(fast).items()) == list(vars(general).items())  # same dict, same order
    assert repr(fast) == repr(general)
    assert hash(fast) == hash(general)


def test_assemble_equals_the_constructor() -> None:
    values = {f.name: f.default for f in fields(DesiredTask)}
    values.update(id="t", command_line="c", item_index=3, container=TaskContainer("img"))
    _same(assemble(DesiredTask, dict(values)), DesiredTask(**values))


def test_the_output_and_resource_files_made_per_task_equal_the_constructor() -> None:
    _same(_output_file("*.out", "output", "o/a", "success"), OutputFile("*.out", "output", "o/a"))
    _same(
        logs_output("j", "t1"),
        OutputFile(pattern="../std*.txt", container="logs", path="j/t1", when="completion"),
    )
    _same(
        _item_file("input", "a.txt", "x=="),
        ResourceFile(container="input", blob="a.txt", file_path="a.txt", md5="x=="),
    )


def test_rendered_tasks_equal_tasks_made_by_the_constructor(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "data" / name).write_text(name)
    spec_file = tmp_path / "bwf.yaml"
    spec_file.write_text(SPEC)
    desired = render(load_spec(spec_file))
    tasks = [t for step in desired.job.steps for t in step.tasks]
    assert len(tasks) == 3
    for t in tasks:
        general = DesiredTask(**{f.name: getattr(t, f.name) for f in fields(DesiredTask)})
        _same(t, general)
        for part in (*t.resource_files, *t.outputs):
            _same(part, type(part)(**{f.name: getattr(part, f.name) for f in fields(part)}))
