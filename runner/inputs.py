"""Local input files: globs relative to the spec file, and what each file becomes as a blob."""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path


def _file_stat(path: str) -> os.stat_result | None:
    """The stat of a regular file, None for anything else (directories, missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def glob_files(base: Path, pattern: str) -> list[tuple[str, str, os.stat_result]]:
    """(absolute path, blob name, stat) of the files matching `pattern` relative to `base`, sorted.

    The blob name is the path relative to the pattern's literal leading directories:
    `data/topn/*.txt` gives `a.txt`, `data/**/*.txt` gives `sub/a.txt`, a plain path
    gives its file name.
    """
    base = Path(os.path.abspath(base))
    full = pattern if os.path.isabs(pattern) else os.path.join(str(base), pattern)
    parts = Path(pattern).parts
    literal = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        literal.append(part)
    root = (
        os.path.normpath(os.path.join(str(base), *literal))
        if literal
        else os.path.normpath(str(base))
    )
    if os.path.isabs(pattern) and literal:
        root = os.path.normpath(os.path.join(*literal))
    if not glob.has_magic(pattern):
        st = _file_stat(full)
        return [(os.path.abspath(full), os.path.basename(full), st)] if st is not None else []
    out = []
    root_prefix = root.rstrip(os.sep) + os.sep
    for m in glob.glob(os.path.normpath(full), recursive=True):
        st = _file_stat(m)
        if st is not None:
            rel = m[len(root_prefix) :] if m.startswith(root_prefix) else os.path.relpath(m, root)
            out.append((m, rel.replace(os.sep, "/"), st))
    out.sort(key=lambda x: x[1])
    return out
