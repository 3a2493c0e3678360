"""`bwf local up|status|down` start, describe and stop the real local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def bwf(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BWF_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_up_status_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert bwf(home, "local", "status", "--json").stdout.strip() == "null"
    try:
        up = bwf(home, "local", "up", "--json")
        assert up.returncode == 0, up.stderr
        info = json.loads(up.stdout)
        assert set(info) == {"storage", "batch", "pids", "home"}
        assert set(info["storage"]) == {"account", "key", "blob_url", "connection_string"}
        assert set(info["batch"]) == {"account", "key", "url"}
        assert info["home"] == str(home.resolve())
        # a second `up` reuses the running services
        assert json.loads(bwf(home, "local", "up", "--json").stdout)["pids"] == info["pids"]
        status = json.loads(bwf(home, "local", "status", "--json").stdout)
        assert status == info
        from azure.storage.blob import BlobServiceClient

        # Azurite accepts the published key: a container made with it is listed
        blobs = BlobServiceClient.from_connection_string(info["storage"]["connection_string"])
        blobs.create_container("made-with-the-published-key")
        assert [c.name for c in blobs.list_containers()] == ["made-with-the-published-key"]
        assert (home / "local" / "batch" / "batch.sqlite").exists()
        human = bwf(home, "local", "status").stdout
        assert info["batch"]["url"] in human and info["batch"]["key"] not in human
    finally:
        down = bwf(home, "local", "down")
    assert down.stdout.strip() == "local stack stopped"
    assert bwf(home, "local", "status", "--json").stdout.strip() == "null"
    for pid in info["pids"].values():
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
