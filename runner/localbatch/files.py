"""Task and node files over REST: listings and downloads under a directory, never outside it.

A task writes what it likes in its directory, symbolic links included, so every path
is resolved and must still lie inside the directory: a link that points outside it
(to the host's /etc/passwd, say) is neither served, nor listed, nor followed when
deleting. Only regular files are read (never a FIFO or a device, which could block a
thread or never end), and they are streamed, not loaded into memory.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path, PurePosixPath
from typing import Any

from runner.localbatch.errors import ApiError
from runner.localbatch.rest import FileBody, Request, Response

_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _not_found(file_path: str) -> ApiError:
    return ApiError(
        404, "FileNotFound", "The specified file does not exist.", {"FilePath": file_path}
    )


def _inside(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _relative(file_path: str) -> PurePosixPath:
    rel = PurePosixPath(urllib.parse.unquote(file_path))
    if rel.is_absolute() or ".." in rel.parts or "\0" in file_path:
        raise ApiError(400, "InvalidUri", "The file path must stay inside the directory.")
    return rel


def _resolve(root: Path, rel: PurePosixPath, file_path: str) -> tuple[str, str]:
    """(the resolved root, the resolved path); 404 when the path leads outside the root."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, *rel.parts))
    if not _inside(real_root, real):
        raise _not_found(file_path)
    return real_root, real


def _entry(real_root: str, path: str) -> os.stat_result | None:
    """The stat of a listed entry, or None when it must not be listed: a link leading
    outside the root, or anything but a regular file or a directory."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(path)
        if not _inside(real_root, real):
            return None
        st = os.stat(real)
    return st if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else None


def _walk(real_root: str, recursive: bool) -> Iterator[tuple[str, os.stat_result]]:
    """(relative name, stat) of every listable entry; links to directories are listed,
    never descended into (they could loop or lead elsewhere)."""
    todo = [""]
    while todo:
        rel_dir = todo.pop()
        try:
            entries = list(os.scandir(os.path.join(real_root, rel_dir)))
        except OSError:
            continue  # removed meanwhile, or unreadable
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                st = _entry(real_root, entry.path)
            except OSError:
                continue
            if st is None:
                continue
            yield rel, st
            if recursive and entry.is_dir(follow_symlinks=False):
                todo.append(rel)


def listing(root: Path, url: str, req: Request) -> Iterator[dict[str, Any]]:
    recursive = req.query.get("recursive", "false").lower() == "true"
    if not root.is_dir():
        return
    for name, st in sorted(_walk(os.path.realpath(root), recursive)):
        is_dir = stat.S_ISDIR(st.st_mode)
        entry: dict[str, Any] = {
            "name": name,
            "url": f"{url}/{urllib.parse.quote(name)}",
            "isDirectory": is_dir,
        }
        if not is_dir:
            entry["properties"] = {
                "creationTime": _iso(st.st_ctime),
                "lastModified": _iso(st.st_mtime),
                "contentLength": str(st.st_size),  # an int64, which the API sends as a string
                "contentType": "application/octet-stream",
                "fileMode": oct(stat.S_IMODE(st.st_mode) | 0o100000)[2:],
            }
        yield entry


def _open(real_root: str, real: str, file_path: str) -> tuple[int, os.stat_result]:
    """Open a regular file or a directory without following a last-moment link, and check
    where the descriptor really leads (the tree may change between resolving and opening)."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise _not_found(file_path) from None
    try:
        st = os.fstat(fd)
        opened = os.readlink(f"/proc/self/fd/{fd}")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) or not _inside(
            real_root, opened
        ):
            raise _not_found(file_path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _byte_range(req: Request, size: int) -> tuple[int, int]:
    """(start, length) of the requested range (`ocp-range` or `Range`), else the whole file."""
    rng = req.headers.get("ocp-range") or req.headers.get("range")
    if not rng or size == 0:
        return 0, size
    m = _RANGE.fullmatch(rng.strip())
    if not m or not (m[1] or m[2]):
        raise ApiError(
            400,
            "InvalidHeaderValue",
            "The range must read bytes=START-END.",
            {"HeaderName": "Range"},
        )
    if not m[1]:  # bytes=-N: the last N bytes
        start = max(0, size - int(m[2]))
        return start, size - start
    start = int(m[1])
    end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start >= size or end < start:
        raise ApiError(
            416, "InvalidRange", "The range specified is invalid for the current size of the file."
        )
    return start, end - start + 1


def file_response(root: Path, file_path: str, url: str, req: Request) -> Response:
    real_root, real = _resolve(root, _relative(file_path), file_path)
    fd, st = _open(real_root, real, file_path)
    is_dir = stat.S_ISDIR(st.st_mode)
    headers = {
        "ocp-creation-time": format_datetime(
            datetime.fromtimestamp(st.st_ctime, timezone.utc), usegmt=True
        ),
        "ocp-batch-file-isdirectory": "true" if is_dir else "false",
        "ocp-batch-file-url": f"{url}/{urllib.parse.quote(file_path)}",
        "ocp-batch-file-mode": oct(stat.S_IMODE(st.st_mode) | (0o40000 if is_dir else 0o100000))[
            2:
        ],
        "Last-Modified": format_datetime(
            datetime.fromtimestamp(st.st_mtime, timezone.utc), usegmt=True
        ),
        "Content-Type": "application/octet-stream",
    }
    if req.method == "HEAD" or is_dir:
        os.close(fd)
        headers["Content-Length"] = "0" if is_dir else str(st.st_size)
        return Response(200, None, headers)
    try:
        start, length = _byte_range(req, st.st_size)
    except ApiError:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    f = os.fdopen(fd, "rb")
    f.seek(start)
    return Response(200, FileBody(f, length), headers)


def delete_file(root: Path, file_path: str) -> None:
    rel = _relative(file_path)
    if not rel.parts:
        raise _not_found(file_path)
    # the directory holding it must lie inside the root; the entry itself, even a link, goes
    _, real_parent = _resolve(root, rel.parent, file_path)
    path = os.path.join(real_parent, rel.name)
    try:
        st = os.lstat(path)
    except OSError:
        raise _not_found(file_path) from None
    if stat.S_ISDIR(st.st_mode):
        raise ApiError(409, "FileIsDirectory", "Deleting a directory needs recursive=true.")
    os.remove(path)
