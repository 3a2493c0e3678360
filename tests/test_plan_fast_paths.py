"""The shortcuts a 100,000-task plan takes give exactly what the general code gives:
an item's stem and suffix (PurePosixPath), a resource file's JSON size (json.dumps),
whether a path climbs out of its directory (PurePosixPath parts); the MD5 cache that
spares a re-plan reading its inputs again still sees every edit; an offline plan
imports no service SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path, PurePosixPath

import pytest

from runner.digests import FORK_FROM, DigestCache, file_md5
from runner.limits import _json_chars
from runner.load import load_spec
from runner.paths import climbs_out
from runner.render import render
from runner.render.items import _stem_and_suffix
from tests.helpers import MINIMAL, write_spec

NAMES = [
    "a.txt",
    "dir/a.txt",
    "a",
    "a.",
    "a..b",
    ".hidden",
    ".hidden.txt",
    "..",
    "a/..",
    "a/.",
    "a/",
    "x//y.tar.gz",
    "/abs/p.y",
    "...",
    "a.b.",
    ".",
    "",
    "d.d/noext",
    "é/ü.ß",
]


@pytest.mark.parametrize("blob", NAMES)
def test_stem_and_suffix_are_those_of_the_path(blob: str) -> None:
    p = PurePosixPath(blob)
    assert _stem_and_suffix(blob) == (p.stem, p.suffix)


@pytest.mark.parametrize(
    "text",
    [
        "a.txt",
        "",
        'a"b',
        "a\\b",
        "é",
        "\t",
        "\x7f",
        "a b",
        "€",
        "\u2028",
        "~!@#$%^&*()_+`-={}[]|:;'<>?,./",
    ],
)
def test_json_chars_is_the_length_of_the_json(text: str) -> None:
    assert _json_chars(text) == len(json.dumps(text))


@pytest.mark.parametrize(
    ("path", "out"),
    [
        ("a/b", False),
        ("", False),
        ("/a", True),
        ("\\a", True),
        ("a/../b", True),
        ("..", True),
        ("a\\..\\b", True),
        ("a..b/c", False),
        ("a/..b", False),
        ("...", False),
        ("//x", True),
    ],
)
def test_climbs_out(path: str, out: bool) -> None:
    assert climbs_out(path) is out


def _md5s(spec: Path) -> dict[str, str]:
    desired = render(load_spec(spec))
    return {u.blob: u.md5 for c in desired.containers for u in c.uploads}


def test_the_digest_cache_follows_edits_and_survives_a_damaged_file(tmp_path: Path) -> None:
    files = {f"data/f{i:03d}.txt": f"{i:03d}\n" for i in range(FORK_FROM + 10)}  # to prefetch
    spec = write_spec(tmp_path, MINIMAL, files)
    first = _md5s(spec)
    assert first["f007.txt"] == file_md5(str(tmp_path / "data" / "f007.txt"))
    assert _md5s(spec) == first  # from the cache
    edited = tmp_path / "data" / "f007.txt"
    edited.write_text("new\n")  # same size: the modification time tells
    os.utime(edited, ns=(1, 1))
    again = _md5s(spec)
    assert again["f007.txt"] == file_md5(str(edited)) != first["f007.txt"]
    assert {k: v for k, v in again.items() if k != "f007.txt"} == {
        k: v for k, v in first.items() if k != "f007.txt"
    }
    for cache in (Path(os.environ["BWF_HOME"]) / "cache").iterdir():
        entries = json.loads(cache.read_text())
        cache.write_text(json.dumps({k: v[:2] for k, v in entries.items()}))  # short entries
    assert _md5s(spec) == again


def test_an_offline_plan_loads_no_service_sdk(tmp_path: Path) -> None:
    """The azure SDKs take a tenth of a second and tens of MB to import: a plan that
    reads no service does without them."""
    spec = write_spec(tmp_path)
    check = (
        "import sys\n"
        "from runner.cli import main\n"
        "try:\n"
        f"    main(['plan', '--offline', {str(spec)!r}])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('azure'))\n"
        "assert not loaded, loaded\n"
    )
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "t-a" in r.stdout  # the plan was shown


FORKED = """
import json, sys
from runner.digests import _md5_forked
try:
    print(json.dumps(_md5_forked(sys.argv[2:], int(sys.argv[1]))))
except FileNotFoundError as e:
    print(json.dumps(e.filename))
"""


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_forked_children_hash_as_this_process_does(tmp_path: Path, parts: int) -> None:
    # in a fresh process: a fork is only made from a process running no other thread
    files = []
    for i in range(7):
        f = tmp_path / f"f{i}"
        f.write_bytes(bytes(range(i * 30 % 256)) * (1 + i * 5000))
        files.append(str(f))
    run = [sys.executable, "-c", FORKED, str(parts)]
    out = subprocess.run([*run, *files], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [file_md5(f) for f in files]
    gone = str(tmp_path / "gone")  # an error in a child is met again here, as without children
    out = subprocess.run([*run, *files, gone], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout) == gone


def test_a_process_running_threads_hashes_on_threads_not_forks(tmp_path: Path) -> None:
    files = []
    for i in range(FORK_FROM + 3):
        f = tmp_path / f"f{i}"
        f.write_text(f"{i}\n")
        files.append((str(f), f.stat()))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        cache = DigestCache(tmp_path / "spec.yaml")
        cache.prefetch(files)
    finally:
        stop.set()
        other.join()
    assert [cache.entries[p][3] for p, _ in files] == [file_md5(p) for p, _ in files]
