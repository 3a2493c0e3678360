"""The local stack runs Azurite on a Node.js that Azurite supports: the pinned one that
`npm ci` installs beside it (package.json), not whatever `node` comes first on PATH
(Debian's is older than Azurite's minimum)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from runner import localstack


def _version(text: str) -> tuple[int, ...]:
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    assert found, text
    return tuple(int(p) for p in found.groups())


def test_azurite_runs_on_a_node_it_supports(azurite: localstack.RunningService) -> None:
    package = json.loads((localstack.REPO_ROOT / "node_modules/azurite/package.json").read_text())
    needed = _version(package["engines"]["node"])  # ">=22.0.0"
    exe = Path(os.readlink(f"/proc/{azurite.pid}/exe"))
    running = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert _version(running) >= needed, f"Azurite runs on {exe} {running.strip()}"


def test_the_pinned_node_is_the_one_package_json_names() -> None:
    """On Linux x64 and arm64 `npm ci` installs the pinned Node (an optional dependency,
    skipped by npm elsewhere) and the local stack uses it; elsewhere the `node` on PATH."""
    package = json.loads((localstack.REPO_ROOT / "package.json").read_text())
    pinned = {v for k, v in package["optionalDependencies"].items() if k.startswith("node-")}
    node = localstack.node_executable()
    if sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64"):
        assert node == str(localstack.REPO_ROOT / "node_modules" / ".bin" / "node")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    if node.startswith(str(localstack.REPO_ROOT)):
        assert out.strip().lstrip("v") in pinned
