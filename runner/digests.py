"""Content MD5 of local files, remembered under BWF_HOME between runs.

Planning hashes every file it uploads (Azure Storage compares blobs by Content-MD5).
A re-plan of the same inputs should not read them all again: the digest of a file is
kept with its size, modification time and inode, and reused while all three match.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runner.home import bwf_home

# Below this many files to hash, a fork costs more than it saves (md5 hashes them one by
# one in `md5`); above it, the work is split between this process and children.
FORK_FROM = 256
FORKED_MAX = 4


def file_md5(path: str) -> str:
    """Base64 MD5 of a file's content, as Azure Storage reports Content-MD5."""
    h = hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_RDONLY)  # os.read: half the cost of open() for small files
    try:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    finally:
        os.close(fd)
    return base64.b64encode(h.digest()).decode()


def _md5_many(paths: list[str]) -> list[str]:
    return [file_md5(p) for p in paths]


def _md5_threads(paths: list[str], parts: int) -> list[str]:
    slices = [paths[i::parts] for i in range(parts)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        results = list(pool.map(_md5_many, slices))
    out = [""] * len(paths)
    for i, digests in enumerate(results):
        out[i::parts] = digests
    return out


def _md5_or_empty(path: str) -> str:
    try:
        return file_md5(path)
    except OSError:
        return ""  # the parent hashes it again, and meets the error itself


def _md5_forked(paths: list[str], parts: int) -> list[str]:
    """The MD5s of `paths`, all but the first part hashed by forked children on the other
    cores. Processes, not threads: hashing small files holds the GIL longer than reading
    them releases it, so threads cost more CPU than they save. Only forked when this
    process runs no other thread (a child could inherit a lock held by one)."""
    size = -(-len(paths) // parts)
    slices = [paths[i : i + size] for i in range(0, len(paths), size)]
    children: list[tuple[int, int, list[str]]] = []
    try:
        for part in slices[1:]:
            children.append(_fork_hashing(part))
        out = _md5_many(slices[0])
        for pid, fd, part in children:
            out += _collect(pid, fd, part)
    finally:
        for pid, fd, _ in children:
            _close_child(pid, fd)
    return out


def _fork_hashing(paths: list[str]) -> tuple[int, int, list[str]]:
    """A child hashing `paths`, and the pipe its digests come back on, one a line."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            with os.fdopen(w, "wb") as f:
                f.write("\n".join(_md5_or_empty(p) for p in paths).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)  # never the parent's exit handlers or buffers
    os.close(w)
    return pid, r, paths


def _collect(pid: int, fd: int, paths: list[str]) -> list[str]:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    got = b"".join(chunks).decode().split("\n")
    if len(got) != len(paths):
        got = [""] * len(paths)  # the child failed: hash them here
    return [digest or file_md5(p) for digest, p in zip(got, paths, strict=True)]


def _close_child(pid: int, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _key(st: os.stat_result) -> list[int | str]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _fresh(entry: list[int | str] | None, st: os.stat_result) -> bool:
    """Whether a cache entry still stands for the file (compared without building its
    key: once per input of a plan)."""
    return (
        entry is not None
        and len(entry) == 4
        and entry[0] == st.st_size
        and entry[1] == st.st_mtime_ns
        and entry[2] == st.st_ino
    )


class DigestCache:
    """`md5(path, stat)` with a JSON cache per spec file under BWF_HOME/cache."""

    def __init__(self, spec_path: Path) -> None:
        key = hashlib.sha256(str(spec_path.resolve()).encode()).hexdigest()[:20]
        self.file = bwf_home() / "cache" / f"md5-{key}.json"
        try:
            self.entries: dict[str, list[int | str]] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.used: dict[str, list[int | str]] = {}
        self.changed = False

    def md5(self, path: str, st: os.stat_result) -> str:
        entry = self.entries.get(path)
        if entry is not None and _fresh(entry, st):
            self.used[path] = entry
            return str(entry[3])
        digest = file_md5(path)
        self.used[path] = [*_key(st), digest]
        self.changed = True
        return digest

    def prefetch(self, files: list[tuple[str, os.stat_result]]) -> None:
        """Hash the files the cache does not know, on every core (up to FORKED_MAX): in
        forked children, or on threads when this process runs others."""
        todo = [(p, st) for p, st in files if not _fresh(self.entries.get(p), st)]
        parts = min(FORKED_MAX, os.cpu_count() or 1)
        if len(todo) < FORK_FROM or parts < 2:
            return
        paths = [p for p, _ in todo]
        if threading.active_count() > 1:  # no fork: threads still help with big files
            digests = _md5_threads(paths, parts)
        else:
            digests = _md5_forked(paths, parts)
        for (p, st), digest in zip(todo, digests, strict=True):
            self.entries[p] = [*_key(st), digest]
        self.changed = True

    def save(self) -> None:
        """Keep the digests of the files used this time (a cache, so failures are ignored)."""
        if not self.changed and len(self.used) == len(self.entries):
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.used, separators=(",", ":")))
            os.replace(tmp, self.file)
        except OSError:
            pass
