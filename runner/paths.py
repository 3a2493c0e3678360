"""Where a spec may reach on this machine and in a task's directory.

A spec can come from an untrusted pull request, so by default its uploads read only
under the repository that holds the spec (the nearest directory at or above the
spec's with a `.git` entry; the spec's own directory when there is none), never inside
`.git` itself, and its downloads write only under the current directory;
`--allow-path DIR` (the person running bwf, never the spec) adds directories to both.
A repository's own files are what its pull requests can already see; `.git` may hold
credentials (remote URLs, hooks) and is never read. Paths are compared once symbolic links are resolved, so a link
that points outside counts as outside. Paths inside a task or a container
(resource-file `path`, output `path`) may not climb out with `..` or start at `/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

ALLOW_FLAG = "--allow-path"


@dataclass(frozen=True)
class Allowed:
    """The directories the person running bwf allowed with --allow-path, resolved."""

    dirs: tuple[str, ...] = ()

    @classmethod
    def of(cls, dirs: Iterable[str]) -> Allowed:
        return cls(tuple(os.path.realpath(d) for d in dirs))

    def upload_roots(self, spec_dir: str) -> tuple[str, ...]:
        return (spec_home(spec_dir), *self.dirs)

    def download_roots(self) -> tuple[str, ...]:
        return (os.path.realpath(os.getcwd()), *self.dirs)


def spec_home(spec_dir: str) -> str:
    """The directory a spec's uploads may read by default: the repository holding it."""
    start = os.path.realpath(spec_dir)
    here = start
    while True:
        if os.path.lexists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return start
        here = parent


def in_git_dir(real: str, roots: Iterable[str]) -> bool:
    """Whether the resolved path lies inside a `.git` directory below one of `roots`."""
    for r in roots:
        if within(real, (r,)):
            rel = os.path.relpath(real, r)
            if ".git" in rel.split(os.sep):
                return True
    return False

    def download_roots(self) -> tuple[str, ...]:
        return (os.path.realpath(os.getcwd()), *self.dirs)


def within(real: str, roots: Iterable[str]) -> bool:
    """Whether the resolved path `real` is one of `roots` or lies under one."""
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


class Outside(Exception):
    """A path that resolves outside the directories a spec may reach."""

    def __init__(self, path: str, real: str) -> None:
        super().__init__(path)
        self.path = path
        self.real = real


def upload_refusal(pattern: str, e: Outside, spec_dir: str) -> str:
    shown = e.real if e.real == e.path else f"{e.path} (which resolves to {e.real})"
    home = spec_home(spec_dir)
    if in_git_dir(e.real, (home,)):
        return f"'{pattern}' reaches {shown}, inside .git, which bwf never uploads"
    where = (
        f"the repository {home} that holds the spec"
        if home != os.path.realpath(spec_dir)
        else f"the spec's directory {home}"
    )
    return (
        f"'{pattern}' reaches {shown}, outside {where}; "
        f"uploads read only from there unless you pass {ALLOW_FLAG} DIR"
    )


def download_refusal(to: str, roots: tuple[str, ...]) -> str | None:
    real = os.path.realpath(to)
    if within(real, roots):
        return None
    return (
        f"'{to}' writes to {real}, outside the current directory {roots[0]}; "
        f"downloads write only under it unless you pass {ALLOW_FLAG} DIR"
    )


def climbs_out(path: str) -> bool:
    """Whether a relative path inside a task or a container escapes it."""
    path = path.replace("\\", "/")
    if ".." not in path:  # the common case, without parsing (once per task and output)
        return path.startswith("/")
    p = PurePosixPath(path)
    return p.is_absolute() or ".." in p.parts
