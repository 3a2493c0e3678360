"""`bwf local up|status|down` start, describe and stop the real local stack; `up`
restarts only what is down, on the ports kept in BWF_HOME."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

from tests.run_cli import bwf_process


def status(home: Path) -> dict[str, Any]:
    result = bwf_process(home, "local", "status", "--json")
    assert result.code == 0, result.err
    info: dict[str, Any] = json.loads(result.out)
    return info


def gone(pid: int) -> bool:
    proc = Path(f"/proc/{pid}")
    return not proc.exists() or "zombie" in (proc / "status").read_text().lower()


def test_up_status_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = status(home)
    assert before["running"] is False
    assert before["storage"]["running"] is False and before["storage"]["port"] is None
    try:
        up = bwf_process(home, "local", "up", "--json")
        assert up.code == 0, up.err
        info = json.loads(up.out)
        assert set(info) == {"running", "home", "storage", "batch"} and info["running"] is True
        assert set(info["storage"]) == {
            "running",
            "pid",
            "port",
            "account",
            "key",
            "blob_url",
            "connection_string",
        }
        assert set(info["batch"]) == {"running", "pid", "port", "account", "key", "url"}
        assert info["home"] == str(home.resolve())
        assert info["batch"]["url"] == f"http://127.0.0.1:{info['batch']['port']}"
        # a second `up` reuses the running services
        again = json.loads(bwf_process(home, "local", "up", "--json").out)
        assert again == info == status(home)
        from azure.storage.blob import BlobServiceClient

        # Azurite accepts the published key: a container made with it is listed
        blobs = BlobServiceClient.from_connection_string(info["storage"]["connection_string"])
        blobs.create_container("made-with-the-published-key")
        assert [c.name for c in blobs.list_containers()] == ["made-with-the-published-key"]
        assert (home / "local" / "batch" / "batch.sqlite").exists()
        human = bwf_process(home, "local", "status").out
        assert info["batch"]["url"] in human and info["batch"]["key"] not in human
    finally:
        down = bwf_process(home, "local", "down")
    assert down.out.strip() == "local stack stopped"
    after = status(home)
    assert after["running"] is False
    for name in ("storage", "batch"):
        assert gone(info[name]["pid"])
        # stopped, with its port kept for the next `up`
        assert after[name]["running"] is False and after[name]["pid"] is None
        assert after[name]["port"] == info[name]["port"]
    assert bwf_process(home, "local", "down").out.strip() == "local stack was not running"


def test_up_restarts_only_what_is_down_on_the_same_ports(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        first = json.loads(bwf_process(home, "local", "up", "--json").out)
        for dead, alive in (("storage", "batch"), ("batch", "storage")):
            before = status(home)
            os.kill(before[dead]["pid"], signal.SIGKILL)
            half = status(home)
            assert half["running"] is False
            assert half[dead]["running"] is False and half[alive]["running"] is True
            human = bwf_process(home, "local", "status").out
            assert f"{dead:<8} stopped" in human and f"{alive:<8} running" in human
            assert "bwf local up" in human
            up = bwf_process(home, "local", "up", "--json")
            assert up.code == 0, up.err
            after = json.loads(up.out)
            assert after["running"] is True
            assert after[dead]["pid"] != before[dead]["pid"]
            assert after[alive]["pid"] == before[alive]["pid"]  # left alone
            for name in ("storage", "batch"):
                assert after[name]["port"] == first[name]["port"]
        # down and up again: the same ports too
        bwf_process(home, "local", "down")
        restarted = json.loads(bwf_process(home, "local", "up", "--json").out)
        assert [restarted[n]["port"] for n in ("storage", "batch")] == [
            first[n]["port"] for n in ("storage", "batch")
        ]
    finally:
        bwf_process(home, "local", "down")


def test_a_kept_port_taken_by_another_program_is_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        info = json.loads(bwf_process(home, "local", "up", "--json").out)
    finally:
        bwf_process(home, "local", "down")
    port = info["storage"]["port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        up = bwf_process(home, "local", "up")
    assert up.code == 1
    assert f"cannot start Azurite (Storage) on 127.0.0.1:{port}" in up.err
    assert "another program listens on that port" in up.err and "Traceback" not in up.err
    assert status(home)["storage"]["running"] is False
