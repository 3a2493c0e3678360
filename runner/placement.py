"""Where a download puts each blob in its local directory, and whether a file is there.

A blob's name comes from the service and may hold `..`, an absolute path or a part
that is a symbolic link on this machine: the place is resolved as `Path.resolve`
resolves it and refused when it is not inside the download directory, cheaply for
the plain names that nearly all blobs have (runner.storage).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runner.errors import BwfError


class Placement:
    """Where each blob of a download goes: `to`/name with links resolved (as
    `Path.resolve` resolves them), refused when that is not inside `to`. A plain name
    (no leading or trailing `/`, no `.`, `..` or empty part) is resolved through its
    directory, resolved once for all the blobs in it, and its own `lstat`; any other,
    or one whose file is a link, as a whole path."""

    def __init__(self, to: Path, container: str) -> None:
        self.to = to
        self.container = container
        self.root = os.path.realpath(to)
        self.inside = self.root if self.root.endswith(os.sep) else self.root + os.sep
        self.dirs: dict[str, str] = {"": self.root}

    def path(self, name: str) -> tuple[str, bool]:
        """(the path, whether a regular file is there now)."""
        head, _, tail = name.rpartition("/")
        plain = not name.startswith("/") and all(
            part not in ("", ".", "..") for part in name.split("/")
        )
        path = ""
        regular = False
        if plain:
            parent = self.dirs.get(head)
            if parent is None:
                parent = self.dirs[head] = os.path.realpath(os.path.join(self.root, head))
            path = os.path.join(parent, tail)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                mode = 0
            if stat.S_ISLNK(mode):
                plain = False
            regular = stat.S_ISREG(mode)
        if not plain:
            path = os.path.realpath(os.path.join(self.root, name))
            regular = os.path.isfile(path)
        if not path.startswith(self.inside):
            raise BwfError(f"blob {name!r} in {self.container} would be written outside {self.to}")
        return path, regular
