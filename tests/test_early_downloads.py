"""Results downloaded while the tasks run (`runner.early_downloads`), on the real local
stack: a task's outputs reach the download directory before the job ends, and what is
on disk at the end is what the containers hold at the end, whatever an early pass did."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from runner.early_downloads import EarlyDownloads
from runner.engine import run_apply
from runner.storage import Storage
from tests.gated import Apply
from tests.helpers import fan_out_spec, local_target
from tests.run_cli import bwf_process

pytestmark = pytest.mark.usefixtures("in_tmp_path")


def test_a_result_is_downloaded_while_other_tasks_still_run(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Task `slow` only ends once task `fast`'s output is in the local download directory:
    without downloads during the run it would wait until its own failure (30 s)."""
    out = tmp_path / "out"
    # bwf runs a command line through bash: this is shell, quoted for YAML
    command = (
        f"'if [ {{{{ item.stem }}}} = slow ]; then i=0; while [ ! -f {out}/fast.out ]; do "
        "i=$((i+1)); if [ $i -gt 300 ]; then echo not downloaded early >&2; exit 3; fi; "
        "sleep 0.1; done; fi; echo done > {{ item.stem }}.out'"
    )
    name = f"early{uuid.uuid4().hex[:6]}"
    spec = fan_out_spec(
        tmp_path, name, {"fast.txt": "f", "slow.txt": "s"}, command, nodes=1, slots=2
    )
    assert run_apply(str(spec), "local", {}, yes=True) == 0
    said = capsys.readouterr().out
    assert (out / "fast.out").read_text() == "done\n"
    assert (out / "slow.out").read_text() == "done\n"
    assert "2 files in place (1 fetched while the tasks ran)" in said
    ledger = json.loads(next((home / "ledger").glob(f"{name}-*.json")).read_text())
    recorded = next(iter(ledger["downloads"].values()))
    assert sorted(recorded) == ["fast.out", "slow.out"]


def _put(cc: Any, name: str, data: bytes) -> None:
    md5 = bytearray(hashlib.md5(data).digest())
    cc.upload_blob(name, data, overwrite=True, content_settings=ContentSettings(content_md5=md5))


def test_the_end_has_what_the_container_has_then(
    blob_service: BlobServiceClient, azurite: Any, tmp_path: Path
) -> None:
    """A blob fetched early and then overwritten is fetched again at the end; a blob
    without a Content-MD5 (a block list) is left to the end, where it is fetched once."""
    container = f"early-{uuid.uuid4().hex[:8]}"
    cc = blob_service.create_container(container)
    _put(cc, "a.out", b"first")
    staged = cc.get_blob_client("blocks.out")
    staged.stage_block("b1", b"no ")
    staged.stage_block("b2", b"md5")
    staged.commit_block_list(["b1", "b2"])
    store = Storage(local_target(storage_url=azurite.url))
    to = tmp_path / "out"
    early = EarlyDownloads(store, [(container, "*", to)])
    early.completed(1)
    deadline = time.monotonic() + 30
    while not (to / "a.out").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert early.finish() == 1
    assert (to / "a.out").read_bytes() == b"first"
    assert not (to / "blocks.out").exists()

    _put(cc, "a.out", b"second")
    files = store.download(container, "*", to)
    assert (to / "a.out").read_bytes() == b"second"
    assert (to / "blocks.out").read_bytes() == b"no md5"
    want = base64.b64encode(hashlib.md5(b"second").digest()).decode()
    assert {f.name: f.md5 for f in files}["a.out"] == want


def test_an_early_pass_that_fails_leaves_the_end_to_say_so(azurite: Any, tmp_path: Path) -> None:
    """A container that does not exist (yet): the early pass fetches nothing and raises
    nothing; the downloads at the end report it."""
    store = Storage(local_target(storage_url=azurite.url))
    early = EarlyDownloads(store, [(f"absent-{uuid.uuid4().hex[:8]}", "*", tmp_path / "out")])
    early.completed(1)
    assert early.finish() == 0
    assert not (tmp_path / "out").exists()


def test_finish_stops_a_pass_between_blobs(
    blob_service: BlobServiceClient, azurite: Any, tmp_path: Path
) -> None:
    """Monitoring over, the pass in progress fetches no more blobs: the downloads at the
    end take over at once."""
    container = f"early-{uuid.uuid4().hex[:8]}"
    cc = blob_service.create_container(container)
    for i in range(200):
        _put(cc, f"{i:03d}.out", b"x" * 10)
    store = Storage(local_target(storage_url=azurite.url))
    early = EarlyDownloads(store, [(container, "*", tmp_path / "out")], workers=1)
    gate = threading.Event()
    original = store._fetch

    def slow_fetch(*args: Any) -> Any:
        gate.set()
        return original(*args)

    store._fetch = slow_fetch  # type: ignore[method-assign]
    early.completed(1)
    assert gate.wait(30)
    fetched = early.finish()
    assert fetched < 200
    assert len(list((tmp_path / "out").glob("*.out"))) == fetched


def test_finish_abandons_a_large_blob_being_fetched(
    blob_service: BlobServiceClient, azurite: Any, tmp_path: Path
) -> None:
    """Ctrl-C or the end of monitoring during an early fetch of a large blob: it stops
    after the chunk in flight, leaving neither the file nor a partial one."""
    container = f"early-{uuid.uuid4().hex[:8]}"
    cc = blob_service.create_container(container)
    _put(cc, "large.bin", os.urandom(1 << 20) * 80)  # 80 MiB: three chunks and more
    store = Storage(local_target(storage_url=azurite.url))
    to = tmp_path / "out"
    early = EarlyDownloads(store, [(container, "*", to)])
    early.completed(1)
    partial = to / "large.bin.bwf-partial"
    deadline = time.monotonic() + 30
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert partial.exists()
    assert early.finish() == 0
    assert list(to.iterdir()) == []


def test_an_apply_killed_after_an_early_fetch_converges(stack_home: Path, tmp_path: Path) -> None:
    """kill -9 once a result was fetched early (no ledger entry yet), then a user edit of
    that file: the next apply monitors, downloads what is missing or changed, records
    both files, and the one after has nothing to do."""
    out = tmp_path / "out"
    gate = tmp_path / "gate"
    command = (
        f"'if [ {{{{ item.stem }}}} = slow ]; then while [ ! -e {gate} ]; do sleep 0.05; done; "
        "fi; echo done {{ item.stem }} > {{ item.stem }}.out'"
    )
    spec = fan_out_spec(
        tmp_path, f"early{uuid.uuid4().hex[:6]}", {"fast.txt": "f", "slow.txt": "s"}, command
    )
    first = Apply(stack_home, spec)
    try:
        first.wait_for("Monitoring")
        deadline = time.monotonic() + 60
        while not (out / "fast.out").exists():
            assert time.monotonic() < deadline, "fast.out was not fetched while slow ran"
            time.sleep(0.02)
        first.kill()
        (out / "fast.out").write_text("edited\n")
        gate.touch()
        resumed = bwf_process(stack_home, "apply", str(spec), "--yes")
        assert resumed.code == 0, resumed.out + resumed.err
        assert "Adding" not in resumed.out  # nothing was submitted again
        assert (out / "fast.out").read_text() == "done fast\n"
        assert (out / "slow.out").read_text() == "done slow\n"
        again = bwf_process(stack_home, "apply", str(spec), "--yes")
        assert again.code == 0 and again.out.startswith("No changes."), again.out
    finally:
        gate.touch()
        first.kill()
