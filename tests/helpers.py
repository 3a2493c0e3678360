"""Small helpers for tests: write an inline spec (and its input files) into a directory;
run bwf in a subprocess and measure its time and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from runner import localstack
from runner.state import Desired, DesiredTask, ObservedPool
from runner.targets import Target

# A made-up account key for tests that sign locally (base64 of
# "secret-key-for-tests-only-1234567890"): no service accepts it.
TEST_KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3ODkw"


def local_target(batch_url: str = "http://127.0.0.1:1", storage_url: str | None = None) -> Target:
    """The local stack's accounts and keys at these URLs: a test's own Batch service or
    Azurite (the other one unreachable, or with no storage, for tests of one service)."""
    return Target(
        name="local",
        batch_url=batch_url,
        batch_account=localstack.BATCH_ACCOUNT,
        storage_url=storage_url or "http://127.0.0.1:1/none",
        storage_account=localstack.STORAGE_ACCOUNT if storage_url else "none",
        batch_key=localstack.BATCH_KEY,
        storage_key=localstack.STORAGE_KEY if storage_url else None,
    )


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


def fanned(d: Desired) -> tuple[DesiredTask, ...]:
    """The tasks of `job.tasks` (the step `tasks`)."""
    return d.job.step("tasks").tasks


def merge_of(d: Desired) -> DesiredTask | None:
    """The task of `job.merge` (the step `merge`), if the spec has one."""
    steps = {s.name: s for s in d.job.steps}
    return steps["merge"].tasks[0] if "merge" in steps and steps["merge"].tasks else None


# Runs a command in a fresh driver process, so that RUSAGE_CHILDREN holds that command's
# peak memory alone (not that of earlier children of the test process).
_DRIVER = """
import json, resource, subprocess, sys, time
started = time.monotonic()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr,
    "seconds": time.monotonic() - started,
    "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float  # the command's peak resident memory


def run_measured(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Measured:
    """Run `argv` and measure its wall-clock time and peak memory for real."""
    r = subprocess.run(
        [sys.executable, "-c", _DRIVER, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=True,
    )
    return Measured(**json.loads(r.stdout))


def bwf_measured(
    *args: str, cwd: Path, home: Path, prelude: str = "", timeout: float = 120
) -> Measured:
    """`bwf ARGS` through the real CLI entry point (after `prelude`, Python run first)."""
    code = f"{prelude}\nfrom runner.cli import main\nmain()"
    env = {**os.environ, "BWF_HOME": str(home)}
    return run_measured([sys.executable, "-c", code, *args], cwd, env, timeout)


KEEP_ALL = "{containers: keep, job: keep, pool: keep}"


def fan_out_spec(
    directory: Path,
    name: str,
    inputs: dict[str, str],
    command: str,
    *,
    nodes: int = 2,
    slots: int = 2,
    timeout: str | None = None,
    outputs: str = '[{pattern: "*.out", container: output}]',
    pool_extra: str = "",
    task_extra: str = "",
    job_extra: str = "",
    cleanup: str = KEEP_ALL,
) -> Path:
    """A workflow of its own for the local stack: `inputs` (file name -> text) written to
    `directory/data` and uploaded, one task per file (ID: the file's stem) running
    `command` (a template, written as is), its outputs downloaded to `directory/out`.
    The `*_extra` texts are YAML lines added to the pool, to the task template and to
    the job (e.g. a merge), indented as there."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    for file_name, text in inputs.items():
        (data / file_name).write_text(text)
    job_timeout = f"  timeout: {timeout}\n" if timeout else ""
    spec = directory / "spec.yaml"
    spec.write_text(
        f"apiVersion: bwf/v1\nname: {name}\n"
        "storage:\n  containers:\n"
        '    input: {upload: ["data/*.txt"]}\n    output: {}\n'
        f"pool:\n  id: {name}-pool\n  vm_size: standard_d2s_v3\n  image: ubuntu-22.04\n"
        f"  nodes: {nodes}\n  task_slots_per_node: {slots}\n{pool_extra}"
        f"job:\n  id: {name}-job\n{job_timeout}"
        "  tasks:\n    for_each: {container: input}\n"
        '    id: "{{ item.stem }}"\n'
        f"    command: {command}\n"
        "    resource_files: [item]\n"
        f"    outputs: {outputs}\n{task_extra}{job_extra}"
        f"download: [{{container: output, to: {directory / 'out'}}}]\n"
        f"cleanup: {cleanup}\n"
    )
    return spec


def observed_pool(d: Desired, **fields: object) -> ObservedPool:
    """The spec's pool as Batch shows it once created and steady, with `fields` changed."""
    p = d.pool
    steady = ObservedPool(
        id=p.id,
        state="active",
        allocation_state="steady",
        vm_size=p.vm_size,
        publisher=p.publisher,
        offer=p.offer,
        sku=p.sku,
        version=p.version,
        node_agent_sku=p.node_agent_sku,
        dedicated_target=p.dedicated_nodes,
        spot_target=p.spot_nodes,
        task_slots_per_node=p.task_slots_per_node,
        fingerprint=p.fingerprint,
    )
    return replace(steady, **fields)  # type: ignore[arg-type]


# The head of a multi-step spec (a job with `steps:` to follow), for step tests.
STEPS_HEAD = """\
apiVersion: bwf/v1
name: t
vars: {n: 3}
storage:
  containers:
    input: {upload: ["data/*.txt"]}
    output: {}
pool: {id: p, vm_size: standard_d2s_v3, image: ubuntu-22.04}
job:
  id: j
"""


def lines_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    """The lines `proc` has printed up to the first that holds `text` (that one
    included, or all of them if none does)."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            break
    return seen
