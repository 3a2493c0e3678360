"""Small helpers for tests: write an inline spec (and its input files) into a directory."""

from __future__ import annotations

import textwrap
from pathlib import Path

MINIMAL = """\
apiVersion: bwf/v1
name: t
storage:
  containers:
    input: {upload: ["data/*.txt"]}
    output: {}
pool:
  id: p
  vm_size: standard_d2s_v3
  image: ubuntu-22.04
job:
  id: j
  tasks:
    for_each: {container: input}
    id: "t-{{ item.stem }}"
    command: cat {{ item.name }}
    resource_files: [item]
    outputs: [{pattern: "*.out", container: output}]
"""


def write_spec(directory: Path, text: str = MINIMAL, files: dict[str, str] | None = None) -> Path:
    """Write `spec.yaml` (dedented) and data files into `directory`; return the spec path."""
    for name, content in (
        files if files is not None else {"data/a.txt": "a\n", "data/b.txt": "b b\n"}
    ).items():
        p = directory / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    spec = directory / "spec.yaml"
    spec.write_text(textwrap.dedent(text))
    return spec
