"""Directories the service deletes (a deleted job's task directories, a removed or
reimaged node's disk): moved aside at once, removed in the background.

A job's task directories hold a few files per task; thousands of them take a second or
more to delete on some disks, and the scheduler deletes under the store's lock, which
every request needs. A rename is instant, and what the API shows is the same: the
files are gone. What a restart finds moved aside is removed then.
"""

from __future__ import annotations

import os
import shutil
import uuid
from concurrent.futures import Executor
from pathlib import Path


class Trash:
    def __init__(self, home: Path, workers: Executor) -> None:
        self.dir = home / "trash"
        self.workers = workers
        if self.dir.is_dir():  # left by a service that stopped before it was done
            for leftover in self.dir.iterdir():
                workers.submit(shutil.rmtree, leftover, True)

    def discard(self, path: Path) -> None:
        """Make `path` (a directory, or nothing) disappear now; free its space later."""
        self.dir.mkdir(parents=True, exist_ok=True)
        aside = self.dir / uuid.uuid4().hex
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return
        except OSError:  # not on the same filesystem, say: the slow way, at once
            shutil.rmtree(path, ignore_errors=True)
            return
        self.workers.submit(shutil.rmtree, aside, True)
