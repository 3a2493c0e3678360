"""Rendering: fan-out kinds, templates, shell safety, fingerprints, merge (no network)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from runner import limits
from runner.load import load_spec
from runner.render import render
from runner.secrets import redact
from tests.helpers import MINIMAL, fanned, merge_of, write_spec


def test_one_task_per_uploaded_file(tmp_path: Path) -> None:
    d = render(load_spec(write_spec(tmp_path)))
    assert [t.id for t in fanned(d)] == ["t-a", "t-b"]
    t = fanned(d)[0]
    assert t.command_line == "/bin/bash -c 'set -e\nset -o pipefail\ncat a.txt\nwait'"
    assert t.resource_files[0].container == "input" and t.resource_files[0].blob == "a.txt"
    assert [o.container for o in t.outputs] == ["output", "logs"]
    assert t.outputs[1].path == "j/t-a" and t.outputs[1].when == "completion"
    up = d.container("input").uploads
    assert [(u.blob, u.size) for u in up] == [("a.txt", 2), ("b.txt", 4)]


SWEEP = MINIMAL.replace("    resource_files: [item]\n", "")


@pytest.mark.parametrize(
    ("for_each", "id_tmpl", "ids"),
    [
        ("{values: [x, y]}", "v-{{ item }}", ["v-x", "v-y"]),
        ("{range: {start: 1, stop: 7, step: 3}}", "r-{{ item }}", ["r-1", "r-4"]),
        (
            "{matrix: {n: [1, 2], m: [a, b]}}",
            "m-{{ item.n }}-{{ item.m }}",
            ["m-1-a", "m-1-b", "m-2-a", "m-2-b"],
        ),
        ("{container: input, pattern: 'b*'}", "f-{{ item.stem }}-{{ index }}", ["f-b-0"]),
    ],
)
def test_sweeps(tmp_path: Path, for_each: str, id_tmpl: str, ids: list[str]) -> None:
    text = SWEEP.replace("{container: input}", for_each).replace(
        '"t-{{ item.stem }}"', f'"{id_tmpl}"'
    )
    text = text.replace("cat {{ item.name }}", "echo {{ index }}")
    d = render(load_spec(write_spec(tmp_path, text)))
    assert [t.id for t in fanned(d)] == ids


def test_vars_and_containers_in_templates(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: t\n", "name: t\nvars: {n: 3}\n").replace(
        "cat {{ item.name }}",
        "wc -w {{ item.name }} {{ vars.n }} {{ containers.output.name }} {{ pool.id }} {{ job.id }}",
    )
    d = render(load_spec(write_spec(tmp_path, text), {"n": 5}))
    assert "wc -w a.txt 5 t-output p j" in fanned(d)[0].command_line


def test_sas_urls_are_tokens_quoted_and_redacted(tmp_path: Path) -> None:
    text = MINIMAL.replace("cat {{ item.name }}", "upload {{ containers.output.write_sas }}")
    d = render(load_spec(write_spec(tmp_path, text)))
    cmd = fanned(d)[0].command_line
    assert "@@bwf-secret:output:write@@" in cmd
    # the token is single-quoted inside the script, so a real SAS with & and ? stays one word
    script = shlex.split(cmd)[2]
    assert "upload '@@bwf-secret:output:write@@'" in script
    assert "<redacted>" in redact(cmd) and "@@" not in redact(cmd)


NASTY = [
    "x'; touch pwned; '.txt",
    "$(id).txt",
    "a b.txt",
    "`id`.txt",
    'q"uote.txt',
    "semi;colon.txt",
]


def test_interpolated_names_are_data_not_shell(tmp_path: Path) -> None:
    """Each rendered command line runs exactly as a Batch node runs it (argv split, no
    shell around it): it reads the file by its exact name and executes nothing else."""
    files = {f"data/{n}": f"content of {n}\n" for n in NASTY}
    text = (
        MINIMAL.replace('"t-{{ item.stem }}"', '"t-{{ item.index }}"')
        .replace(
            "cat {{ item.name }}",
            "cat {{ item.name }} > copy-{{ item.index }}.out; echo {{ item.stem }}",
        )
        .replace('"data/*.txt"', '"data/*"')
    )
    d = render(load_spec(write_spec(tmp_path, text, files)))
    assert len(fanned(d)) == len(NASTY)
    for t in fanned(d):
        wd = tmp_path / "node" / t.id
        wd.mkdir(parents=True)
        name = t.resource_files[0].blob
        assert name is not None
        (wd / name).write_text(f"content of {name}\n")
        r = subprocess.run(
            shlex.split(t.command_line), cwd=wd, capture_output=True, text=True, timeout=30
        )
        assert r.returncode == 0, r.stderr
        assert (wd / f"copy-{t.item_index}.out").read_text() == f"content of {name}\n"
        assert r.stdout == os.path.splitext(name)[0] + "\n"
        assert "uid=" not in r.stdout + r.stderr
    assert not list(tmp_path.rglob("pwned"))


def test_fingerprints_are_stable_and_track_inputs(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    first = render(load_spec(path))
    again = render(load_spec(path))
    assert [t.fingerprint for t in fanned(first)] == [t.fingerprint for t in fanned(again)]
    (tmp_path / "data" / "a.txt").write_text("changed\n")
    changed = render(load_spec(path))
    assert fanned(changed)[0].fingerprint != fanned(first)[0].fingerprint
    assert fanned(changed)[1].fingerprint == fanned(first)[1].fingerprint
    assert changed.pool.fingerprint == first.pool.fingerprint


MERGE = MINIMAL + "  merge: {id: m, command: echo merged, on_failure: run_anyway}\n"


def test_merge_depends_on_every_task(tmp_path: Path) -> None:
    d = render(load_spec(write_spec(tmp_path, MERGE)))
    assert merge_of(d) is not None
    assert merge_of(d).depends_on == ("t-a", "t-b")
    assert d.job.uses_task_dependencies
    assert all(t.on_dependency_failure == "satisfy" for t in fanned(d))


def test_huge_fan_out_merges_through_barriers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DEPENDS_ON_MAX_CHARS", 20)
    text = (
        MERGE.replace("{container: input}", "{range: {stop: 12}}")
        .replace('"t-{{ item.stem }}"', '"task-{{ item }}"')
        .replace("    resource_files: [item]\n", "")
        .replace("{{ item.name }}", "{{ item }}")
    )
    d = render(load_spec(write_spec(tmp_path, text)))
    barriers = d.job.step("merge").barriers
    assert merge_of(d) is not None and merge_of(d).depends_on == tuple(b.id for b in barriers)
    covered = [i for b in barriers for i in b.depends_on]
    assert covered == [t.id for t in fanned(d)]
    assert all(sum(map(len, b.depends_on)) <= 20 for b in barriers)


def test_merge_templates_see_all_items_and_task_ids(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "  merge: {id: m, command: \"echo {{ items | length }} {{ task_ids | join(',') }}\"}\n"
    )
    d = render(load_spec(write_spec(tmp_path, text)))
    assert merge_of(d) is not None
    assert "echo 2 t-a,t-b" in merge_of(d).command_line
