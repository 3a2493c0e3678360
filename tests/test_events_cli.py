"""`bwf apply --events -`: standard output carries the events alone (the story goes to
standard error); a place the stream cannot be written is a usage error, before any
service is touched."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.run_cli import bwf, bwf_process


def _spec(tmp_path: Path) -> Path:
    name = f"e{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""\
apiVersion: bwf/v1
name: {name}
storage: {{containers: {{output: {{}}}}}}
pool: {{id: {name}-pool, vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: 1}}
job:
  id: {name}-job
  tasks:
    for_each: {{values: [a]}}
    id: "{{{{ item }}}}"
    command: echo {{{{ item }}}}
cleanup: {{containers: delete, job: delete, pool: delete}}
""")
    return spec


def test_events_on_standard_output_alone(stack_home: Path, tmp_path: Path) -> None:
    done = bwf_process(stack_home, "apply", str(_spec(tmp_path)), "--yes", "--events", "-")
    assert done.code == 0, done.out + done.err
    events = [json.loads(line) for line in done.out.splitlines()]  # nothing but JSON
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert [k for k in kinds if k.startswith("task_")] == ["task_started", "task_completed"]
    assert "pool_deleted" in kinds
    assert "Apply complete" in done.err and "Run report: " in done.err


def test_an_unwritable_events_file_is_a_usage_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    refused = bwf("apply", str(spec), "--yes", "--events", str(tmp_path / "no" / "such.jsonl"))
    assert refused.code == 2 and "--events" in refused.err
    assert "Traceback" not in refused.err and refused.out == ""
