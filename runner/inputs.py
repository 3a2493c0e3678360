"""Local input files: globs relative to the spec file, and what each file becomes as a blob.

Globs are confined to the directories a spec may read (`runner.paths`): the literal
part of a pattern is resolved before anything is listed, and every file found is
resolved again, so `../x`, `/etc/*` or a link to `/etc` raise `paths.Outside`. A
wildcard never descends into a symbolic link to a directory (links can loop, or fan
out into the whole file system) nor climbs up with `..`; a link to a file counts if
its target may be read.
Like Python's glob, `*` and `**` skip names that start with a dot unless the pattern
segment does.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from runner.paths import Outside, in_git_dir, within


def _file_stat(path: str) -> os.stat_result | None:
    """The stat of a regular file, None for anything else (directories, devices, missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except OSError:
        return []


def _real_dirs(directory: str, segment: str) -> Iterator[str]:
    hidden_ok = segment.startswith(".")
    for entry in _entries(directory):
        if (hidden_ok or not entry.name.startswith(".")) and entry.is_dir(follow_symlinks=False):
            yield entry.name


def _walk(directory: str, segments: list[str], rel: str) -> Iterator[tuple[str, bool]]:
    """Relative paths (with '/') under `directory` matching the glob `segments`, each with
    whether it may be a symbolic link (directories walked are real, so only the last part
    of a path can be one)."""
    segment, rest = segments[0], segments[1:]
    if segment == "**":
        if rest:
            yield from _walk(directory, rest, rel)
        else:
            yield from _files(directory, "*", rel)
        for name in _real_dirs(directory, "*"):
            yield from _walk(os.path.join(directory, name), segments, f"{rel}{name}/")
        return
    if not rest:
        yield from _files(directory, segment, rel)
        return
    if segment in (".", ".."):
        return  # after a wildcard a glob only goes down
    if not glob.has_magic(segment):
        sub = os.path.join(directory, segment)
        if os.path.isdir(sub) and not os.path.islink(sub):
            yield from _walk(sub, rest, f"{rel}{segment}/")
        return
    for name in _real_dirs(directory, segment):
        if fnmatchcase(name, segment):
            yield from _walk(os.path.join(directory, name), rest, f"{rel}{name}/")


def _files(directory: str, segment: str, rel: str) -> Iterator[tuple[str, bool]]:
    if segment in (".", ".."):
        return
    if not glob.has_magic(segment):
        if os.path.lexists(os.path.join(directory, segment)):
            yield rel + segment, True
        return
    hidden_ok = segment.startswith(".")
    for entry in _entries(directory):
        if (hidden_ok or not entry.name.startswith(".")) and fnmatchcase(entry.name, segment):
            yield rel + entry.name, entry.is_symlink()


def glob_files(
    base: Path, pattern: str, roots: tuple[str, ...]
) -> list[tuple[str, str, os.stat_result]]:
    """(absolute path, blob name, stat) of the files matching `pattern` relative to `base`, sorted.

    The blob name is the path relative to the pattern's literal leading directories:
    `data/topn/*.txt` gives `a.txt`, `data/**/*.txt` gives `sub/a.txt`, a plain path
    gives its file name. Raises `paths.Outside` for a path outside `roots`.
    """
    base_dir = os.path.abspath(base)
    full = os.path.join(base_dir, pattern)  # an absolute pattern stays itself
    parts = pattern.replace(os.sep, "/").split("/")
    if not glob.has_magic(pattern):
        _check_inside(full, roots)
        st = _file_stat(full)
        return [(os.path.normpath(full), os.path.basename(full), st)] if st is not None else []
    first_magic = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    prefix = "/".join(parts[:first_magic]) or ("/" if pattern.startswith("/") else "")
    literal = os.path.join(base_dir, prefix) if prefix else base_dir
    _check_inside(literal, roots)
    shown_root = os.path.normpath(literal)
    segments = [p for p in parts[first_magic:] if p]
    out = []
    # os.path.join(shown_root, rel), rel being relative (built once per input file)
    root = shown_root if shown_root.endswith(os.sep) else shown_root + os.sep
    walked = list(_walk(os.path.realpath(literal), segments, ""))
    found = dict(walked)  # sorted below by name alone: strings sort faster than pairs
    if len(found) != len(walked):  # a path found twice (through `**`): maybe a link if once
        for rel, maybe_link in walked:
            if maybe_link:
                found[rel] = True
    for rel in sorted(found):
        maybe_link = found[rel]
        local = root + rel
        if maybe_link:
            _check_inside(local, roots)
        st = _file_stat(local)
        if st is not None:
            out.append((local, rel, st))
    return out


def _check_inside(path: str, roots: tuple[str, ...]) -> None:
    real = os.path.realpath(path)
    if not within(real, roots) or in_git_dir(real, roots[:1]):
        raise Outside(os.path.normpath(path), real)
