"""The renderer's shortcuts keep its rules: the time limit still stops templates that
take the fast path (text and `{{ a.b }}`), which read the clock only now and then."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import bounds
from runner.errors import SpecError
from runner.load import load_spec
from runner.render import render
from runner.render.renderer import DEADLINE_EVERY
from runner.state import OutputFile
from tests.helpers import MINIMAL, write_spec


def test_the_time_limit_stops_fast_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"data/f{i:03d}.txt": "x" for i in range(3 * DEADLINE_EVERY)}
    spec = write_spec(tmp_path, MINIMAL, files)
    monkeypatch.setattr(bounds, "RENDER_SECONDS_MAX", -1.0)  # already past
    with pytest.raises(SpecError) as e:
        render(load_spec(spec))
    assert [p.message for p in e.value.problems] == [
        "job.tasks.id: template refused: rendering the spec's templates took more than -1 s "
        "for f000.txt"
    ]


def test_outputs_without_a_path_are_those_the_general_path_makes(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'outputs: [{pattern: "*.out", container: output}]',
        'outputs: [{pattern: "*.out", container: output}, {pattern: "e", container: output, '
        "when: failure}]",
    )
    tasks = render(load_spec(write_spec(tmp_path, text))).job.step("tasks").tasks
    assert [t.outputs for t in tasks] == [
        (
            OutputFile("*.out", "output", ""),
            OutputFile("e", "output", "", "failure"),
            OutputFile("../std*.txt", "logs", f"j/{t.id}", "completion"),
        )
        for t in tasks
    ]
    assert [t.id for t in tasks] == ["t-a", "t-b"]
