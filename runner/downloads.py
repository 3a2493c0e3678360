"""Download targets: the local files a run's downloads wrote, and whether they are
still in place.

The desired state includes the results on the user's disk: after an apply, every
file a download wrote is remembered in the ledger with its size, MD5 and
modification time. A later plan checks them without any service: a missing file,
another size, or (when only the modification time changed) another MD5 makes the
download run again. A changed `to` or `pattern` is another download, never done yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.digests import file_md5
from runner.ledger import FileEntries
from runner.state import DesiredDownload, DownloadedFile


def key(d: DesiredDownload) -> str:
    """What identifies a download: its container, its pattern and where it writes."""
    return f"{d.container_name}|{d.pattern}|{d.to}"


def entries(to: str, files: Sequence[DownloadedFile]) -> FileEntries:
    """The ledger's record of what a download wrote (read back from disk for mtimes)."""
    out: FileEntries = {}
    for f in files:
        try:
            st = os.stat(Path(to) / f.name)
        except OSError:
            continue
        out[f.name] = [f.size, f.md5, st.st_mtime_ns]
    return out


def why_not_in_place(d: DesiredDownload, recorded: Mapping[str, FileEntries]) -> str:
    """ "" when every file the download wrote last time is there unchanged; otherwise
    the reason, as the plan shows it."""
    files = recorded.get(key(d))
    if files is None:
        return "not downloaded yet"
    join = os.path.join  # not pathlib: 10,000 files of a no-change re-apply
    for name, (size, md5, mtime) in files.items():
        path = join(d.to, name)
        try:
            st = os.stat(path)
        except OSError:
            return "missing locally"
        if st.st_size != size:
            return "changed locally"
        if st.st_mtime_ns != mtime and file_md5(path) != md5:
            return "changed locally"
    return ""


def observe(
    downloads: Sequence[DesiredDownload], recorded: Mapping[str, FileEntries]
) -> dict[str, str]:
    """download key -> reason, for the downloads that are not in place (local, no network)."""
    out = {}
    for d in downloads:
        reason = why_not_in_place(d, recorded)
        if reason:
            out[key(d)] = reason
    return out


def local_copies(
    downloads: Sequence[DesiredDownload], recorded: Mapping[str, FileEntries]
) -> dict[str, Path]:
    """MD5 -> a downloaded file that still has it (same size and modification time as
    when it was written), for copies that need not be fetched again."""
    out: dict[str, Path] = {}
    for d in downloads:
        for name, (size, md5, mtime) in recorded.get(key(d), {}).items():
            path = Path(d.to) / name
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_size == size and st.st_mtime_ns == mtime:
                out[str(md5)] = path
    return out
