"""Kept copies of output containers: what clean-up deletes, kept in BWF_HOME.

`cleanup.containers: delete` (the tutorial's way) removes the containers after a
clean run. The outputs in them are still needed later: a fan-in that runs again
reads every task's outputs, not only those of the task an edit re-runs, a chain's
step that runs again reads what the step before it wrote, and deleted download
targets must come back. So before deleting a container that tasks write to, bwf
copies from it what the spec reads back: the blobs under the prefixes tasks read,
and those matching the download patterns. A later apply restores the
container from that copy before tasks run (as if clean-up had kept it), or copies
missing download targets straight from it, instead of running done tasks again.

Layout under `BWF_HOME/kept/<workflow>-<key>/`: `manifest.json` (per container: the
blobs with size and MD5, what selected them, and the fingerprints of the tasks whose
outputs they are) and `objects/<md5 hex>`, one file per distinct content.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import BwfError
from runner.ledger import Ledger
from runner.spec import LOGS_KEY
from runner.state import Desired, DownloadedFile, KeptCopy, ObservedBlob, Upload

if TYPE_CHECKING:  # no SDK loaded when nothing is asked of Storage
    from runner.storage import Storage


def selections(desired: Desired) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Container key -> (prefixes, patterns) to keep: for every container tasks write
    to, what tasks read from it (a fan-in's prefix, a chain's prefix per task) and what
    the downloads take from it."""
    tasks = desired.job.step_tasks
    written = {o.container for t in tasks for o in t.outputs}
    written.discard(LOGS_KEY)
    read: dict[str, set[str]] = {}
    for t in tasks:
        for rf in t.resource_files:
            if rf.container in written and rf.url is None:
                read.setdefault(rf.container, set()).add(rf.prefix or rf.blob or "")
    out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for key in sorted(written):
        prefixes = _widest(read.get(key, set()))
        patterns = tuple(d.pattern for d in desired.downloads if d.container == key)
        if prefixes or patterns:
            out[key] = (prefixes, patterns)
    return out


def _widest(prefixes: set[str]) -> tuple[str, ...]:
    """The prefixes that no other one covers (sorted, what a prefix covers follows it)."""
    out: list[str] = []
    for p in sorted(prefixes):
        if not out or not p.startswith(out[-1]):
            out.append(p)
    return tuple(out)


def _selected(name: str, prefixes: frozenset[str], patterns: tuple[str, ...]) -> bool:
    return any(name[:i] in prefixes for i in range(len(name) + 1)) or any(
        fnmatch.fnmatchcase(name, p) for p in patterns
    )


def _hex(md5: str) -> str:
    return base64.b64decode(md5).hex()


def _to_json(copy: KeptCopy) -> dict[str, Any]:
    return {
        "blobs": {b.name: [b.size, b.md5] for b in copy.blobs.values()},
        "prefixes": list(copy.prefixes),
        "patterns": list(copy.patterns),
        "tasks": dict(copy.tasks),
    }


def _from_json(name: str, data: dict[str, Any]) -> KeptCopy:
    return KeptCopy(
        container=name,
        blobs={b: ObservedBlob(b, int(size), str(md5)) for b, (size, md5) in data["blobs"].items()},
        prefixes=tuple(data.get("prefixes", ())),
        patterns=tuple(data.get("patterns", ())),
        tasks=dict(data.get("tasks", {})),
    )


def _incoming_name(blob: str) -> str:
    return hashlib.sha256(blob.encode()).hexdigest()


class Kept:
    def __init__(self, ledger: Ledger) -> None:
        self.root = ledger.sibling("kept")
        self.manifest = self.root / "manifest.json"
        self.objects = self.root / "objects"

    def copies(self) -> dict[str, KeptCopy]:
        """The kept copies by container name (local files only, no network)."""
        try:
            data: dict[str, dict[str, Any]] = json.loads(self.manifest.read_text())
            return {name: _from_json(name, entry) for name, entry in data.items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def take(
        self,
        desired: Desired,
        storage: Storage,
        done: Mapping[str, str],
        local: Mapping[str, Path] | None = None,
    ) -> int:
        """Copy what later applies read back from the output containers, before
        clean-up deletes them; `done` are the tasks (id -> fingerprint) whose outputs
        the containers hold. A blob already downloaded (`local`: MD5 -> file) is copied
        from disk rather than fetched again. Returns the number of blobs kept."""
        copies = self.copies()  # a container that is gone already keeps its copy
        taken = 0
        incoming = self.objects / ".incoming"
        for key, (prefixes, patterns) in selections(desired).items():
            name = desired.container(key).name
            listed = storage.observe([name], list_blobs=[name]).get(name)
            if listed is None:
                continue
            kept = frozenset(prefixes)
            wanted = [b for b in listed.blobs.values() if _selected(b.name, kept, patterns)]
            blobs = {b.name: b for b in wanted if b.md5 and self._keep_local(b.md5, local or {})}
            missing = [b.name for b in wanted if b.name not in blobs]
            for f in storage.fetch(name, missing, lambda n: incoming / _incoming_name(n)):
                os.replace(incoming / _incoming_name(f.name), self.objects / _hex(f.md5))
                blobs[f.name] = ObservedBlob(f.name, f.size, f.md5)
            copies[name] = KeptCopy(name, blobs, prefixes, patterns, dict(done))
            taken += len(blobs)
        self._save(copies)
        return taken

    def _keep_local(self, md5: str, local: Mapping[str, Path]) -> bool:
        """Whether the content is kept already, or now from a local file that has it."""
        target = self.objects / _hex(md5)
        if target.is_file():
            return True
        source = local.get(md5)
        if source is None:
            return False
        self.objects.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        try:
            shutil.copyfile(source, tmp)
        except OSError:
            return False
        os.replace(tmp, target)
        return True

    def restore(self, name: str, storage: Storage, progress: Callable[[int], None]) -> int:
        """Upload the kept copy of a container into it again; the number of blobs."""
        copy = self.copies().get(name)
        if copy is None:
            return 0
        uploads = [
            Upload(str(self._object(b.md5 or "")), b.name, b.size, b.md5 or "")
            for b in copy.blobs.values()
        ]
        storage.upload(name, uploads, progress)
        return len(uploads)

    def copy_out(self, name: str, pattern: str, to: Path) -> list[DownloadedFile]:
        """A download served from the kept copy (its container is gone)."""
        copy = self.copies().get(name)
        if copy is None:
            raise BwfError(f"no kept copy of container {name} in BWF_HOME: plan again")
        root = to.resolve()
        out = []
        for b in copy.blobs.values():
            if not fnmatch.fnmatchcase(b.name, pattern):
                continue
            dest = (root / b.name).resolve()
            if root not in dest.parents:
                raise BwfError(f"blob {b.name!r} of {name} would be written outside {to}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._object(b.md5 or ""), dest)
            out.append(DownloadedFile(b.name, b.size, b.md5 or ""))
        return out

    def forget(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _object(self, md5: str) -> Path:
        path = self.objects / _hex(md5)
        if not path.is_file():
            raise BwfError(f"the kept copy in {self.root} is incomplete ({path.name} is missing)")
        return path

    def _save(self, copies: Mapping[str, KeptCopy]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps({n: _to_json(c) for n, c in copies.items()}))
        os.replace(tmp, self.manifest)
        # contents no copy refers to any more
        used = {_hex(b.md5 or "") for c in copies.values() for b in c.blobs.values()}
        for f in self.objects.glob("*"):
            if f.is_file() and f.name not in used:
                f.unlink()
        shutil.rmtree(self.objects / ".incoming", ignore_errors=True)
