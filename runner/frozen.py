"""Frozen dataclasses made and shown faster, as the same objects and the same text:
a plan of 100,000 tasks builds 100,000 tasks and digests the `repr` of 300,000 files.

- `plain_repr`: the generated `repr` without the guard against recursive objects that
  `dataclasses` wraps it in (a set of the object IDs being shown, per thread), which
  costs more than the text itself. Plain frozen data cannot contain itself, so the
  guard has nothing to catch, and the text is the same function's: task fingerprints,
  digests of that text (`runner.render.fingerprints`), do not change.
- `assemble`: an instance from the values of all its fields, set in one step instead
  of one `object.__setattr__` per field (what a frozen dataclass's `__init__` does).
  The instance then has a dict of its own rather than its fields inline, about 300
  bytes more: worth it for a task's 16 fields (a fifth of a second less per 100,000
  tasks for 30 MB), not for the small objects of a task, made by positional calls.
"""

from __future__ import annotations

from typing import Any, TypeVar

C = TypeVar("C", bound=type)
T = TypeVar("T")

_set = object.__setattr__


def plain_repr(cls: C) -> C:
    """Apply above `@dataclass(frozen=True)` (so after it): the same text, made faster."""
    generated: Any = cls.__repr__
    setattr(cls, "__repr__", getattr(generated, "__wrapped__", generated))  # noqa: B010
    return cls


def assemble(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the frozen dataclass `cls` equal to `cls(**values)`, `values` being
    every field in declaration order, defaults included (tests compare the two for each
    caller). `values` becomes the instance's own dict: the caller must not keep it."""
    obj = object.__new__(cls)
    _set(obj, "__dict__", values)
    return obj
