"""The previous client generation: azure-batch 14.x (`BatchServiceClient`, msrest) runs the
quickstart (pool, job, tasks, stdout) against the local service, from its own virtual
environment (`.venv-sdk14`, created on first use from the package index)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner import localstack

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-sdk14"
PYTHON = VENV / "bin" / "python"


@pytest.fixture(scope="module")
def sdk14_python() -> Path:
    if not (VENV / ".ready").exists():
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120
        )
        subprocess.run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "azure-batch==14.2.0",
            ],
            check=True,
            timeout=600,
        )
        (VENV / ".ready").touch()
    return PYTHON


def test_quickstart_with_batch_service_client(sdk14_python: Path, tmp_path: Path) -> None:
    version = subprocess.run(
        [str(sdk14_python), "-c", "import azure.batch; print(azure.batch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("14.")
    svc = localstack.start_batch_service(tmp_path / "batch")
    try:
        r = subprocess.run(
            [
                str(sdk14_python),
                str(ROOT / "tests" / "sdk14_quickstart.py"),
                svc.url,
                localstack.BATCH_ACCOUNT,
                localstack.BATCH_KEY,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        localstack.stop_process(svc.pid)
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == [
        "pool exists: True",
        "stdout: Task0 0 quickstart 0",
        "stdout: Task1 0 quickstart 1",
        "stdout: Task2 0 quickstart 2",
    ]
