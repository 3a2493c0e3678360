"""Content MD5 of local files, remembered under BWF_HOME between runs.

Planning hashes every file it uploads (Azure Storage compares blobs by Content-MD5).
A re-plan of the same inputs should not read them all again: the digest of a file is
kept with its size, modification time and inode, and reused while all three match.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runner.home import bwf_home


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
        """Hash the files the cache does not know, on a few threads (reads release the GIL)."""
        todo = [(p, st) for p, st in files if not _fresh(self.entries.get(p), st)]
        if len(todo) < 64:
            return
        workers = 4
        slices = [todo[i::workers] for i in range(workers)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_md5_many, [[p for p, _ in part] for part in slices])
            for part, digests in zip(slices, results, strict=True):
                for (p, st), digest in zip(part, digests, strict=True):
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
