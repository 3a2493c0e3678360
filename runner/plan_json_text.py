"""The text of `bwf plan --json`: exactly what `json.dumps(to_json(plan), indent=2)`
would print, written in pieces as it is made.

A plan of 100,000 tasks is about 100 MB of JSON. `json.dumps` with `indent` runs the
standard library's pure-Python encoder over a copy of the plan turned into dicts, and
holds every piece of the text in memory before joining them: seconds, and over a
gigabyte. Here the frozen dataclasses are read as they are (their fields in order, as
`plan_json._plain` lists them), strings are escaped by the C function the standard
encoder uses, secret tokens are redacted, and the top levels of the document are
yielded a piece at a time, so that only one task's text is held at once.
"""

from __future__ import annotations

import codecs
import json.encoder
import operator
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from runner import forked
from runner.secrets import SECRET_TOKEN_PREFIX, redact

_escape = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii)
_INF = float("inf")
# Values at this depth or deeper are written whole: one task (root > desired > job >
# steps > step > tasks > task) or one upload at a time.
_STREAM_DEPTH = 6
_FLUSH_CHARS = 1 << 16
# A list longer than this is written an item at a time.
_WHOLE_ITEMS = 64
# The share of a long list of records (tasks, uploads) this process writes itself when a
# forked child writes the rest: about a third, since this process also writes the rest of
# the document and copies the child's text out (measured on a 100,000-task plan).
_OWN_SHARE = 0.36

_newlines: list[str] = []  # "\n" and the indentation of each depth
_keys: dict[type, tuple[tuple[str, str], ...]] = {}  # dataclass -> (field, '"field": ')
_records: dict[tuple[type, int], Callable[[Any], str] | None] = {}  # (type, depth) -> writer


def _newline(depth: int) -> str:
    while len(_newlines) <= depth:
        _newlines.append("\n" + "  " * len(_newlines))
    return _newlines[depth]


def _fields(cls: type) -> tuple[tuple[str, str], ...]:
    keys = _keys.get(cls)
    if keys is None:
        names = getattr(cls, "__dataclass_fields__", None)
        keys = tuple((n, _escape(n) + ": ") for n in names) if names is not None else ()
        _keys[cls] = keys
    return keys


def _float(x: float) -> str:
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    return float.__repr__(x)


def _scalar(obj: Any) -> str | None:
    """The text of a string, number, boolean or null; None for anything else."""
    if isinstance(obj, str):
        return _escape(redact(obj) if SECRET_TOKEN_PREFIX in obj else obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        return _float(obj)
    return None


def _items(obj: Any) -> list[tuple[str, Any]] | None:
    """The keys (escaped, with their separator) and values of a dataclass or a mapping."""
    if isinstance(obj, Mapping):
        return [(_escape(str(k)) + ": ", v) for k, v in obj.items()]
    if hasattr(type(obj), "__dataclass_fields__") and not isinstance(obj, type):
        return [(key, getattr(obj, name)) for name, key in _fields(type(obj))]
    return None


def _block(opening: str, parts: list[str], depth: int, closing: str) -> str:
    """A non-empty list or object: one part a line, indented one level deeper."""
    inner = _newline(depth + 1)
    return opening + inner + ("," + inner).join(parts) + _newline(depth) + closing


def _record(cls: type, depth: int) -> Callable[[Any], str] | None:
    """The writer of the instances of dataclass `cls` at `depth` (None for another type):
    one format string holding the indentation and every key, filled with the fields'
    texts (100,000 tasks are written by a few such writers)."""
    if not hasattr(cls, "__dataclass_fields__"):
        return None
    fields = _fields(cls)
    if not fields:
        return lambda obj: "{}"
    inner = _newline(depth + 1)
    text = "{{" + inner + ("," + inner).join(_braces(key) + "{}" for _, key in fields)
    fill = (text + _newline(depth) + "}}").format
    get = operator.attrgetter(*(name for name, _ in fields))
    below = depth + 1
    if len(fields) == 1:
        return lambda obj: fill(encode(get(obj), below))
    # a string field (most are) is written here rather than through `encode`
    return lambda obj: fill(
        *[
            _escape(v)
            if type(v) is str and SECRET_TOKEN_PREFIX not in v
            else ("null" if v is None else encode(v, below))
            for v in get(obj)
        ]
    )


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def encode(obj: Any, depth: int = 0) -> str:
    """One value as `json.dumps(plan_json._plain(obj), indent=2)` writes it at `depth`."""
    t = type(obj)
    if t is str:  # the usual cases first
        return _escape(redact(obj) if SECRET_TOKEN_PREFIX in obj else obj)
    if obj is None:
        return "null"
    if t is tuple or t is list:
        return _block("[", [encode(x, depth + 1) for x in obj], depth, "]") if obj else "[]"
    if t is int:
        return int.__repr__(obj)
    write = _records.get((t, depth))
    if write is None and (t, depth) not in _records:
        write = _records[t, depth] = _record(t, depth)
    if write is not None:
        return write(obj)
    text = _scalar(obj)
    if text is not None:
        return text
    if isinstance(obj, (tuple, list)):
        return encode(list(obj), depth)
    items = _items(obj)
    if items is None:
        raise TypeError(f"Object of type {t.__name__} is not JSON serializable")
    return _block("{", [k + encode(v, depth + 1) for k, v in items], depth, "}") if items else "{}"


def _whole(obj: Any) -> bool:
    """Whether a value is written in one piece: a scalar, or a short list or an object
    holding scalars only (one upload, one task ID); a list or an object holding others
    is written a value at a time, so that a step of 100,000 tasks is never held whole."""
    if isinstance(obj, (tuple, list)):
        return len(obj) <= _WHOLE_ITEMS and all(_is_scalar(x) for x in obj)
    items = _items(obj)
    return items is None or all(_is_scalar(v) for _, v in items)


def _is_scalar(obj: Any) -> bool:
    return obj is None or isinstance(obj, (str, int, float))


def _pieces(obj: Any, depth: int) -> Iterator[str]:
    if depth >= _STREAM_DEPTH or _whole(obj):
        yield encode(obj, depth)
        return
    inner = _newline(depth + 1)
    if isinstance(obj, (tuple, list)):
        yield "["
        yield from _list_items(obj, depth, inner)
        yield _newline(depth) + "]"
        return
    items = _items(obj)
    assert items  # an empty one is whole
    yield "{"
    for i, (key, value) in enumerate(items):
        yield (("," + inner) if i else inner) + key
        yield from _pieces(value, depth + 1)
    yield _newline(depth) + "}"


def _list_items(obj: Sequence[Any], depth: int, inner: str) -> Iterator[str]:
    """The items of a list written a value at a time. Of a long list of records (the
    tasks of a step, the uploads of a container), a forked child writes the last part
    to a temporary file meanwhile (`runner.forked`), copied out in its turn;
    when the child has no clean result, this process writes that part itself."""
    split = None
    if obj and not _is_scalar(obj[0]):
        split = forked.split_point(len(obj), _OWN_SHARE)
    file = _scratch() if split is not None else None
    if split is None or file is None:
        yield from _each(obj, depth, inner, first=True)
        return
    rest = obj[split:]
    with file:
        child = forked.Child(
            lambda: _write_items(file, rest, depth, inner),
            f"writing items {split + 1} to {len(obj)} of a list of the JSON plan",
        )
        try:
            yield from _each(obj[:split], depth, inner, first=True)
            answered, _ = child.result()
        finally:
            child.cancel()  # nothing to do once its result is read
        if answered:
            fd = file.fileno()
            os.lseek(fd, 0, os.SEEK_SET)
            decode = codecs.getincrementaldecoder("utf-8")().decode
            while chunk := os.read(fd, 1 << 20):
                yield decode(chunk)
            return
    yield from _each(rest, depth, inner, first=False)


def _each(items: Sequence[Any], depth: int, inner: str, first: bool) -> Iterator[str]:
    for i, x in enumerate(items):
        yield inner if first and not i else "," + inner
        yield from _pieces(x, depth + 1)


def _scratch() -> IO[bytes] | None:
    """An anonymous temporary file (unlinked already: nothing is left behind)."""
    try:
        return tempfile.TemporaryFile()  # the caller closes it
    except OSError:
        return None


def _write_items(file: IO[bytes], items: Sequence[Any], depth: int, inner: str) -> bool:
    """What `_list_items` yields for `items` after the first item of a list, to `file`."""
    for text in _joined(_each(items, depth, inner, first=False)):
        file.write(text.encode())
    file.flush()
    return True


def _joined(pieces: Iterator[str]) -> Iterator[str]:
    """`pieces` joined into pieces of about 64 KB."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _FLUSH_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def chunks(obj: Any) -> Iterator[str]:
    """The JSON text of `obj` (plain data and frozen dataclasses, as `to_json` holds
    them) in pieces of about 64 KB, with no final newline."""
    return _joined(_pieces(obj, 0))
