"""Azure's naming rules, in one place: containers, blobs, Batch IDs.

Each `check_*` returns None when the name is valid, else the reason it is not,
phrased to follow "'<name>' is not a valid ...: ".
"""

from __future__ import annotations

import re

# Matched with fullmatch: a regex `$` also matches before a final newline.
_CONTAINER_RE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_BATCH_ID_RE = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_BLOB_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_BLOB_BAD_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")

BATCH_ID_MAX = 64
BLOB_NAME_MAX = 1024


def check_container_name(name: str) -> str | None:
    """Storage: 3-63 characters; lowercase letters, digits and single hyphens; starts and ends alphanumeric."""
    if not 3 <= len(name) <= 63:
        return f"container names have 3 to 63 characters, this one has {len(name)}"
    if not _CONTAINER_RE.fullmatch(name):
        return "container names use lowercase letters, digits and single hyphens, and start and end with a letter or digit"
    return None


def check_blob_name(name: str) -> str | None:
    """Storage: 1-1024 characters, not ending with '.' or '/', no control characters or backslashes."""
    if not name:
        return "blob names cannot be empty"
    if len(name) > BLOB_NAME_MAX:
        return f"blob names have at most {BLOB_NAME_MAX} characters, this one has {len(name)}"
    if name.endswith((".", "/")):
        return "blob names cannot end with '.' or '/'"
    if _BLOB_BAD_CHARS.search(name):
        return "blob names cannot contain backslashes or control characters"
    if _BLOB_BAD_SEGMENT.search(name):
        return "blob names cannot have empty, '.' or '..' path segments"
    return None


def check_batch_id(value: str) -> str | None:
    """Batch: 1-64 characters, letters, digits, hyphens and underscores."""
    if not value:
        return "Batch IDs cannot be empty"
    if len(value) > BATCH_ID_MAX:
        return f"Batch IDs have at most {BATCH_ID_MAX} characters, this one has {len(value)}"
    if not _BATCH_ID_RE.fullmatch(value):
        bad = "".join(sorted(set(_UNSAFE_ID_CHARS.findall(value)[0])))
        return f"Batch IDs use only letters, digits, '-' and '_' (found {bad!r})"
    return None


def to_batch_id(value: object) -> str:
    """The `batch_id` template filter: any text -> the closest valid Batch ID characters."""
    return _UNSAFE_ID_CHARS.sub("-", str(value)).strip("-") or "x"


def default_container_name(workflow: str, key: str) -> str:
    """`topn` + `input` -> `topn-input` (underscores in keys become hyphens)."""
    return f"{workflow}-{key.replace('_', '-')}"
