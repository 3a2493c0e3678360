"""Resource files in, output files out: the node agent's side of the Blob REST API.

Resource files are `httpUrl` (one GET) or `storageContainerUrl` (+ `blobPrefix`): the
container is listed with the SAS it carries and every blob is fetched. Output files are
PUT as block blobs to `destination.container.containerUrl` (a SAS URL) under `path`.
Only HTTP is used, never the Storage SDK, as on a real node. Storage that does not
answer for a while (Azurite restarting) is retried, as a node agent retries transient
transfer failures, before the task fails.
"""

from __future__ import annotations

import functools
import glob
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from runner.localbatch import keepalive

BLOB_API_VERSION = "2021-08-06"
TIMEOUT = 60
# How long a transfer is retried while Storage refuses connections or is busy (long
# enough for the local stack to restart Azurite on its port).
TRANSIENT_RETRY_SECONDS = 60.0
_TRANSIENT_HTTP = (500, 502, 503, 504)
UPLOAD_THREADS = 16  # output files PUT at once, across the tasks that end together
_UPLOADERS: ThreadPoolExecutor | None = None
_UPLOADERS_LOCK = threading.Lock()

T = TypeVar("T")


class TransferError(Exception):
    """A download or upload failed; the message names the file, never the SAS."""


def _redacted(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, "", ""))


def _blob_url(container_url: str, blob: str) -> str:
    p = urllib.parse.urlsplit(container_url)
    path = p.path.rstrip("/") + "/" + urllib.parse.quote(blob, safe="/")
    return urllib.parse.urlunsplit((p.scheme, p.netloc, path, p.query, ""))


def _refused(e: urllib.error.HTTPError) -> str:
    """`HTTP 403 AuthorizationFailure (reason)`: Storage's error code says why (an expired
    or wrong SAS, a missing blob), as the node agent reports it."""
    code = e.headers.get("x-ms-error-code") if e.headers else None
    return f"HTTP {e.code} {code} ({e.reason})" if code else f"HTTP {e.code} {e.reason}"


def _open(req: urllib.request.Request) -> Any:
    req.add_header("x-ms-version", BLOB_API_VERSION)
    return keepalive.urlopen(req, timeout=TIMEOUT)


def _transient(e: OSError) -> bool:
    if isinstance(e, urllib.error.HTTPError):
        return e.code in _TRANSIENT_HTTP
    if isinstance(e, urllib.error.URLError):
        return isinstance(e.reason, ConnectionError | TimeoutError)
    return isinstance(e, ConnectionError | TimeoutError)


def _retrying(transfer: Callable[[], T]) -> T:
    """`transfer()`, again with backoff while it fails transiently, for a bounded time."""
    deadline = time.monotonic() + TRANSIENT_RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            return transfer()
        except OSError as e:
            if not _transient(e) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def safe_join(root: Path, relative: str) -> Path:
    """`root/relative`, refusing anything that leaves `root`."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise TransferError(f"the file path {relative!r} leaves the task directory")
    return root.joinpath(*rel.parts)


def _download(url: str, dest: Path) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TransferError(f"unsupported URL scheme in {_redacted(url)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _retrying(functools.partial(_fetch, url, dest))
    except urllib.error.HTTPError as e:
        raise TransferError(f"downloading {_redacted(url)} failed: {_refused(e)}") from None
    except (urllib.error.URLError, OSError) as e:
        raise TransferError(f"downloading {_redacted(url)} failed: {e}") from None


def _fetch(url: str, dest: Path) -> None:
    with _open(urllib.request.Request(url)) as resp, open(dest, "wb") as f:
        while chunk := resp.read(1 << 20):
            f.write(chunk)


def _read(url: str) -> bytes:
    with _open(urllib.request.Request(url)) as resp:
        body: bytes = resp.read()
        return body


def _put(url: str, data: bytes) -> None:
    req = urllib.request.Request(url, data=data, method="PUT")
    req.add_header("x-ms-blob-type", "BlockBlob")
    req.add_header("Content-Length", str(len(data)))
    with _open(req) as resp:
        resp.read()  # to its end: the connection is kept for the next request


def list_blobs(container_url: str, prefix: str) -> list[str]:
    names: list[str] = []
    marker = ""
    p = urllib.parse.urlsplit(container_url)
    while True:
        extra = {"restype": "container", "comp": "list", "prefix": prefix}
        if marker:
            extra["marker"] = marker
        query = "&".join(x for x in (p.query, urllib.parse.urlencode(extra)) if x)
        url = urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, query, ""))
        try:
            page = _retrying(functools.partial(_read, url))
            root = ET.fromstring(page)
        except urllib.error.HTTPError as e:
            raise TransferError(
                f"listing {_redacted(container_url)} failed: {_refused(e)}"
            ) from None
        except (urllib.error.URLError, OSError, ET.ParseError) as e:
            raise TransferError(f"listing {_redacted(container_url)} failed: {e}") from None
        names += [el.text or "" for el in root.iter("Name")]
        marker = (root.findtext("NextMarker") or "").strip()
        if not marker:
            return names


def fetch_resource_files(files: list[dict[str, Any]], wd: Path) -> None:
    """Download every resource file into the working directory `wd`."""
    for rf in files:
        file_path = rf.get("filePath")
        if rf.get("httpUrl"):
            url = rf["httpUrl"]
            name = (
                file_path
                or PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
            )
            targets = [(url, safe_join(wd, name))]
        elif rf.get("storageContainerUrl"):
            cu = rf["storageContainerUrl"]
            base = safe_join(wd, file_path) if file_path else wd
            targets = [
                (_blob_url(cu, b), safe_join(base, b))
                for b in list_blobs(cu, rf.get("blobPrefix") or "")
            ]
        else:
            raise TransferError("a resource file needs httpUrl or storageContainerUrl")
        for url, dest in targets:
            _download(url, dest)
            if rf.get("fileMode"):
                os.chmod(dest, int(rf["fileMode"], 8))


def _matches(pattern: str, wd: Path) -> list[tuple[Path, str]]:
    """Files matching a Batch filePattern (relative to wd, `**` allowed), with their name
    relative to the pattern's literal leading directories."""
    parts = PurePosixPath(pattern).parts
    literal: list[str] = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        literal.append(part)
    base = os.path.normpath(os.path.join(str(wd), *literal)) if literal else str(wd)
    full = os.path.normpath(os.path.join(str(wd), pattern))
    out = []
    for m in sorted(glob.glob(full, recursive=True)):
        if os.path.isfile(m):
            out.append((Path(m), os.path.relpath(m, base).replace(os.sep, "/")))
    return out


def _uploaders() -> ThreadPoolExecutor:
    global _UPLOADERS
    with _UPLOADERS_LOCK:
        if _UPLOADERS is None:
            _UPLOADERS = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="upload")
        return _UPLOADERS


@dataclass(frozen=True)
class _Upload:
    entry: int  # which output file entry
    path: Path
    rel: str  # its name as the entry's pattern matched it
    container_url: str
    blob: str


def upload_outputs(
    outputs: list[dict[str, Any]],
    wd: Path,
    succeeded: bool,
    timed: list[tuple[str, float, int]] | None = None,
) -> None:
    """Upload the output files whose upload condition holds, all at once (Storage takes
    each PUT to disk before it answers: one after the other, a task's stdout, stderr and
    outputs would keep its slot three times as long). Each entry's pattern, the seconds
    until its last file was up and its number of files are appended to `timed`. Raises
    TransferError: the first failure in the order of the entries and their files."""
    began = time.perf_counter()
    todo: list[_Upload] = []
    entries: list[int] = []
    for i, out in enumerate(outputs):
        cond = (out.get("uploadOptions") or {}).get("uploadCondition", "tasksuccess").lower()
        if (cond == "tasksuccess" and not succeeded) or (cond == "taskfailure" and succeeded):
            continue
        entries.append(i)
        todo += _entry_files(i, out, wd)
    # the last file goes up on this thread, the others on the uploaders' meanwhile
    futures = [_uploaders().submit(_upload, u) for u in todo[:-1]]
    last: float | BaseException | None = None
    if todo:
        try:
            last = _upload(todo[-1])
        except BaseException as e:  # reported in the order of the files, below
            last = e
    wait(futures)
    ended = [f.result() for f in futures]  # raises the first failure, in order
    if isinstance(last, BaseException):
        raise last
    if last is not None:
        ended.append(last)
    for i in entries:
        mine = [t for u, t in zip(todo, ended, strict=True) if u.entry == i]
        if timed is not None:
            timed.append((outputs[i]["filePattern"], max(mine, default=began) - began, len(mine)))


def _entry_files(i: int, out: dict[str, Any], wd: Path) -> list[_Upload]:
    """The files of output file entry `i`, and the blob each goes to."""
    dest = (out.get("destination") or {}).get("container") or {}
    container_url = dest.get("containerUrl")
    if not container_url:
        raise TransferError("an output file needs destination.container.containerUrl")
    pattern = out["filePattern"]
    prefix = dest.get("path") or ""
    wildcard = glob.has_magic(pattern)
    files = []
    for path, rel in _matches(pattern, wd):
        blob = (
            (f"{prefix.rstrip('/')}/{rel}" if prefix else rel)
            if wildcard
            else (prefix or path.name)
        )
        files.append(_Upload(i, path, rel, container_url, blob))
    return files


def _upload(u: _Upload) -> float:
    """PUT one file; when it was done (time.perf_counter())."""
    try:
        data = u.path.read_bytes()
        _retrying(functools.partial(_put, _blob_url(u.container_url, u.blob), data))
    except urllib.error.HTTPError as e:
        raise TransferError(
            f"uploading {u.rel} to {_redacted(u.container_url)} failed: HTTP {e.code} {e.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as e:
        raise TransferError(f"uploading {u.rel} failed: {e}") from None
    return time.perf_counter()
