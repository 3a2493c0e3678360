"""`bwf plan --json` is written as it is made (runner.plan_json_text): the text is
exactly what `json.dumps(to_json(plan), indent=2)` prints, secrets redacted, for
every shape of plan; and the CLI prints the same document with --json and --out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.load import load_spec
from runner.plan import diff
from runner.plan_json import _plain, document, to_json
from runner.plan_json_text import chunks, encode
from runner.render import render
from runner.state import Observed
from tests.helpers import MINIMAL, write_spec
from tests.run_cli import bwf

ROOT = Path(__file__).resolve().parent.parent

# Secret tokens in a command and an environment value, non-ASCII and quotes in vars,
# numbers of every kind, a matrix, a chain and a fan-in through barrier-free `needs`.
AWKWARD = """\
apiVersion: bwf/v1
name: awkward
vars: {greeting: "héllo \\"wörld\\"\\t→", ratio: 0.1, big: 12345678901234567890, flag: false}
storage:
  containers:
    input: {upload: ["data/*.txt"]}
    output: {}
pool: {id: p, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 2}
job:
  id: j
  steps:
    first:
      for_each: {container: input}
      id: "a-{{ item.stem }}"
      command: curl {{ containers.input.read_sas }} {{ vars.greeting }} {{ item.name }}
      env: {TOKEN: "{{ containers.output.write_sas }}", RATIO: "{{ vars.ratio }}"}
      resource_files: [item]
      outputs: [{pattern: "*.out", container: output, path: "{{ item.stem }}/x"}]
    second:
      for_each: {step: first}
      id: "b-{{ item.stem }}"
      command: echo {{ upstream.id }} {{ vars.big }}
    sweep:
      for_each: {matrix: {n: [1, 2], mode: [fast, slow]}}
      id: "s-{{ item.n }}-{{ item.mode }}"
      command: run {{ item.n }} {{ item.mode }} {{ vars.flag }}
    last:
      needs: [second, sweep]
      id: last
      command: echo done
"""


@pytest.mark.parametrize("name", ["topn.yaml", "topn-sweep.yaml", "wordstats.yaml"])
def test_the_text_is_json_dumps_with_indent_2(name: str) -> None:
    plan = diff(render(load_spec(ROOT / "workflows" / name)), Observed.empty())
    assert "".join(chunks(document(plan))) == json.dumps(to_json(plan), indent=2)


def test_awkward_values_are_written_as_json_dumps_writes_them(tmp_path: Path) -> None:
    plan = diff(render(load_spec(write_spec(tmp_path, AWKWARD))), Observed.empty())
    text = "".join(chunks(document(plan)))
    assert text == json.dumps(to_json(plan), indent=2)
    assert "@@bwf-secret" not in text and "<redacted>" in text
    assert "\\u00e9" in text  # ASCII only, as json.dumps writes it


def test_plain_values_of_every_kind() -> None:
    values = [
        {"a": [], "b": {}, "c": [[]], "d": [{}], 1: None, "e": (1, 2.5, -0.0, True, False)},
        [float("nan"), float("inf"), -float("inf"), 10**30, "\x00\x1f\u2028\U0001f600"],
        "",
        7,
    ]
    for v in values:
        assert encode(v) == json.dumps(_plain(v), indent=2)
    with pytest.raises(TypeError):
        encode({"a": object()})


@dataclass(frozen=True)
class _Empty:
    pass


@dataclass(frozen=True)
class _Pair:
    name: str
    inner: Any


def test_pieces_of_every_shape_join_into_json_dumps() -> None:
    """Whatever is written whole or a value at a time, at whatever depth."""
    deep: Any = {"x": [_Pair('a"b', None)]}
    for _ in range(8):
        deep = {"k": [deep, _Pair("p", deep), (), {}, _Empty()], 2: list(range(70))}
    values = [
        deep,
        {"a": [{"n": i, "s": "é"} for i in range(100)], "b": [[1, [2]], (3,)]},
        [_Pair("x", (_Pair("y", 1.5), _Empty(), {1: True})) for _ in range(3)],
        {"only": _Empty(), "none": None, "empty": [], "obj": {}},
        ["@@bwf-secret:input:read@@", *[str(i) for i in range(65)]],
    ]
    for v in values:
        assert "".join(chunks(v)) == json.dumps(_plain(v), indent=2)
        assert encode(v) == json.dumps(_plain(v), indent=2)
    with pytest.raises(TypeError):
        "".join(chunks({"a": [object()] * 100}))


def test_a_long_plan_comes_in_pieces(tmp_path: Path) -> None:
    files = {f"data/f{i:04d}.txt": f"{i}\n" for i in range(1500)}
    plan = diff(render(load_spec(write_spec(tmp_path, MINIMAL, files))), Observed.empty())
    pieces = list(chunks(document(plan)))
    assert len(pieces) > 5
    assert max(len(p) for p in pieces) < 200_000
    assert "".join(pieces) == json.dumps(to_json(plan), indent=2)


def test_plan_json_and_out_print_the_same_document(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, AWKWARD)
    saved = tmp_path / "plan.json"
    r = bwf("plan", "--offline", "--json", "--out", str(saved), str(spec))
    assert r.code == 0, r.err
    assert r.out == saved.read_text()
    assert r.out.endswith("}\n")
    data = json.loads(r.out)
    assert data["workflow"] == "awkward" and data["summary"]["tasks"] == 2 + 2 + 4 + 1


def test_plan_out_into_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    r = bwf("plan", "--offline", "--out", str(tmp_path / "nowhere" / "plan.json"), str(spec))
    assert r.code == 2
    assert "--out" in r.err and "Traceback" not in r.err
