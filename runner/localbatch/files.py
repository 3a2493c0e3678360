"""Task and node files over REST: listings and downloads under a directory, never outside it."""

from __future__ import annotations

import os
import stat
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path, PurePosixPath
from typing import Any

from runner.localbatch.errors import ApiError
from runner.localbatch.rest import Request, Response


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _resolve(root: Path, file_path: str) -> Path:
    rel = PurePosixPath(urllib.parse.unquote(file_path))
    if rel.is_absolute() or ".." in rel.parts:
        raise ApiError(400, "InvalidUri", "The file path must stay inside the directory.")
    return root.joinpath(*rel.parts)


def listing(root: Path, url: str, req: Request) -> Iterator[dict[str, Any]]:
    recursive = req.query.get("recursive", "false").lower() == "true"
    if not root.is_dir():
        return
    walker = sorted(root.rglob("*")) if recursive else sorted(root.iterdir())
    for p in walker:
        st = p.stat()
        name = p.relative_to(root).as_posix()
        is_dir = p.is_dir()
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


def file_response(root: Path, file_path: str, url: str, req: Request) -> Response:
    path = _resolve(root, file_path)
    if not path.exists():
        raise ApiError(
            404, "FileNotFound", "The specified file does not exist.", {"FilePath": file_path}
        )
    st = path.stat()
    is_dir = path.is_dir()
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
        headers["Content-Length"] = "0" if is_dir else str(st.st_size)
        return Response(200, None, headers)
    data = path.read_bytes()
    rng = req.headers.get("ocp-range") or req.headers.get("range")
    if rng and rng.startswith("bytes="):
        start_s, _, end_s = rng[6:].partition("-")
        start = int(start_s or 0)
        end = int(end_s) if end_s else len(data) - 1
        data = data[start : end + 1]
    return Response(200, data, headers)


def delete_file(root: Path, file_path: str) -> None:
    path = _resolve(root, file_path)
    if not path.exists():
        raise ApiError(
            404, "FileNotFound", "The specified file does not exist.", {"FilePath": file_path}
        )
    if path.is_dir():
        raise ApiError(409, "FileIsDirectory", "Deleting a directory needs recursive=true.")
    os.remove(path)
