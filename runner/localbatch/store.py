"""The service's state: pools, nodes, jobs and tasks as REST-shaped dicts, kept in
memory and written through to SQLite so that a restart (even after `kill -9`) loses
nothing. One lock guards it all; request handlers and the scheduler take it briefly.

Objects are the JSON bodies Batch returns; keys starting with `_` are internal
(creation order, process group, node directory) and never leave the service.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

Obj = dict[str, Any]


ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # how the service writes every time


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime(ISO_FORMAT)


_last_etag = 0
_etag_lock = threading.Lock()


def new_etag() -> str:
    """A fresh ETag, different from every earlier one even within the same nanosecond."""
    global _last_etag
    with _etag_lock:
        _last_etag = max(_last_etag + 1, time.time_ns() // 100)  # 100 ns units, as Batch counts
        return f"0x8D{_last_etag:X}"


def public(obj: Obj) -> Obj:
    """The REST view of an object: internal keys removed."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def touch(obj: Obj) -> None:
    obj["eTag"] = new_etag()
    obj["lastModified"] = now_iso()


def set_state(obj: Obj, state: str) -> None:
    """A job's or task's state change: the previous state is kept, as Batch shows it, and
    the resource gets a new ETag."""
    if obj.get("state") != state:
        obj["previousState"] = obj.get("state")
        obj["previousStateTransitionTime"] = obj.get("stateTransitionTime")
        set_plain_state(obj, state)


def set_plain_state(obj: Obj, state: str) -> None:
    """A pool's or node's state change (Batch shows no previous state for those); one with
    an ETag (a pool) gets a new one."""
    if obj.get("state") != state:
        obj["state"] = state
        obj["stateTransitionTime"] = now_iso()
        if "eTag" in obj:
            touch(obj)


class Store:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,"
            " body TEXT NOT NULL, PRIMARY KEY (kind, key))"
        )
        self.lock = threading.RLock()
        self.pools: dict[str, Obj] = {}  # lower-case id -> pool
        self.nodes: dict[str, dict[str, Obj]] = {}  # pool key -> node id -> node
        self.jobs: dict[str, Obj] = {}  # lower-case id -> job
        self.tasks: dict[
            str, dict[str, Obj]
        ] = {}  # job key -> lower-case task id -> task (creation order)
        self.usage: dict[str, Obj] = {}  # node id -> its lifetime in a pool (usage metrics)
        self.seq = 0
        self._load()

    def _load(self) -> None:
        rows = self.db.execute("SELECT kind, key, seq, body FROM objects ORDER BY seq").fetchall()
        for kind, key, seq, body in rows:
            obj = json.loads(body)
            self.seq = max(self.seq, seq)
            if kind == "pool":
                self.pools[key] = obj
                self.nodes.setdefault(key, {})
            elif kind == "job":
                self.jobs[key] = obj
                self.tasks.setdefault(key, {})
            elif kind == "node":
                pool_key, _, node_id = key.partition("/")
                self.nodes.setdefault(pool_key, {})[node_id] = obj
            elif kind == "task":
                job_key, _, task_key = key.partition("/")
                self.tasks.setdefault(job_key, {})[task_key] = obj
            elif kind == "usage":
                self.usage[key] = obj

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # --- persistence (call with the lock held) -------------------------------------

    def save(self, kind: str, key: str, obj: Obj) -> None:
        seq = obj.setdefault("_seq", self.next_seq())
        self.db.execute(
            "INSERT OR REPLACE INTO objects (kind, key, seq, body) VALUES (?, ?, ?, ?)",
            (kind, key, seq, json.dumps(obj, separators=(",", ":"))),
        )

    def save_many(self, kind: str, items: Iterable[tuple[str, Obj]]) -> None:
        rows = []
        for key, obj in items:
            seq = obj.setdefault("_seq", self.next_seq())
            rows.append((kind, key, seq, json.dumps(obj, separators=(",", ":"))))
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO objects (kind, key, seq, body) VALUES (?, ?, ?, ?)", rows
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def remove(self, kind: str, key: str) -> None:
        self.db.execute("DELETE FROM objects WHERE kind = ? AND key = ?", (kind, key))

    def remove_prefix(self, kind: str, prefix: str) -> None:
        self.db.execute(
            "DELETE FROM objects WHERE kind = ? AND key >= ? AND key < ?",
            (kind, prefix, prefix + "\uffff"),
        )

    def save_task(self, job_key: str, task: Obj) -> None:
        self.save("task", f"{job_key}/{task['id'].lower()}", task)

    def save_node(self, pool_key: str, node: Obj) -> None:
        self.save("node", f"{pool_key}/{node['id']}", node)
