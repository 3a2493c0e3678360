"""The items a step fans out over: the blobs uploaded to a container, values, a range,
or the combinations of a matrix. (A chain's items are its upstream step's, paired
with that step's tasks: `runner.render.steps`.)"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

from runner import bounds
from runner.render.renderer import Renderer
from runner.schema import dotted
from runner.spec import ForEachSpec, StepSpec
from runner.state import Upload


@dataclass(frozen=True, slots=True)
class Item:
    value: Any  # what templates see as `item`
    label: str  # how errors and the plan name it: a blob name, a value, `a=1, b=2`


def items(r: Renderer, step: StepSpec, uploads: Mapping[str, tuple[Upload, ...]]) -> list[Item]:
    fe = step.for_each
    assert fe is not None and fe.kind != "step"
    if fe.kind == "container":
        return _blobs(r, step, fe, uploads)
    if fe.kind == "values":
        return [Item(v, json.dumps(v, default=str)) for v in fe.values]
    if fe.kind == "range":
        assert fe.range is not None
        return [Item(v, str(v)) for v in range(*fe.range)]
    keys = list(fe.matrix)
    combos = []
    for i, values in enumerate(itertools.product(*(fe.matrix[k] for k in keys))):
        item = dict(zip(keys, values, strict=True))
        combos.append(Item({**item, "index": i}, ", ".join(f"{k}={v}" for k, v in item.items())))
    return combos


def _blobs(
    r: Renderer, step: StepSpec, fe: ForEachSpec, uploads: Mapping[str, tuple[Upload, ...]]
) -> list[Item]:
    assert fe.container is not None
    path = (*step.path, "for_each", "container")
    where = dotted((*step.path, "for_each"))
    blobs = uploads.get(fe.container, ())
    if fe.pattern:
        blobs = tuple(u for u in blobs if fnmatchcase(u.blob, fe.pattern))
    if len(blobs) > bounds.FAN_OUT_MAX:
        r.problem(
            path,
            f"{where}: container '{fe.container}' fans out to {len(blobs):,} items, more than "
            f"the {bounds.FAN_OUT_MAX:,} bwf accepts",
        )
        return []
    prefix = os.path.abspath(r.spec.base_dir) + os.sep
    out = []
    for i, u in enumerate(blobs):
        stem, suffix = _stem_and_suffix(u.blob)
        shown = u.local_path[len(prefix) :] if u.local_path.startswith(prefix) else u.local_path
        item = {
            "name": u.blob,
            "stem": stem,
            "suffix": suffix,
            "path": shown,
            "size": u.size,
            "md5": u.md5,
            "index": i,
            "blob": u.blob,
        }
        out.append(Item(item, u.blob))
    if not out and not r.problems:
        r.problem(
            path,
            f"{where}: container '{fe.container}' has no uploads"
            + (f" matching '{fe.pattern}'" if fe.pattern else "")
            + " to fan out over",
        )
    return out


def _stem_and_suffix(blob: str) -> tuple[str, str]:
    """`PurePosixPath(blob)`'s `stem` and `suffix`, without building the path (once per
    item of a fan-out of up to 100,000)."""
    name = blob.rpartition("/")[2]
    if name in ("", "."):  # a name the path would drop: let it say what it means
        p = PurePosixPath(blob)
        return p.stem, p.suffix
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""
