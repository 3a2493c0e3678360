"""The job's steps as a graph of names: which steps each one waits on, an order in which
every step comes after those, and the cycle a spec may hold by mistake.

Pure functions over step names (a step's `waits_on`: the step it chains from, then
those it needs). The loader checks a spec with them and orders its steps; render
follows that order, so a task is always built, and submitted, after what it waits on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Waits = Mapping[str, Sequence[str]]  # step -> the steps it waits on


def cycle(waits: Waits) -> list[str] | None:
    """A cycle as the steps along it, first step repeated at the end (`a b a`: a waits on
    b, which waits on a); None when there is none. Steps are visited in the mapping's
    order, so the cycle reported is the one the spec reaches first."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in waits:
        if state.get(root):
            continue
        path = [root]
        todo = [iter(waits.get(root, ()))]
        state[root] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt) and nxt in waits:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(waits.get(nxt, ())))
    return None


def in_order(waits: Waits) -> list[str]:
    """Every step after the steps it waits on, otherwise in the mapping's order (a spec
    written top-down keeps its order). The graph must have no cycle."""
    placed: set[str] = set()
    out: list[str] = []
    left = list(waits)
    while left:
        ready = next(s for s in left if all(w in placed or w not in waits for w in waits[s]))
        left.remove(ready)
        placed.add(ready)
        out.append(ready)
    return out


def dependents(waits: Waits) -> dict[str, list[str]]:
    """Step -> the steps that wait on it, in the mapping's order."""
    out: dict[str, list[str]] = {name: [] for name in waits}
    for name, deps in waits.items():
        for d in dict.fromkeys(deps):
            if d in out:
                out[d].append(name)
    return out


def upstream_of(name: str, waits: Waits) -> set[str]:
    """Every step `name` waits on, directly or through others."""
    seen: set[str] = set()
    todo: list[str] = list(waits.get(name, ()))
    while todo:
        step = todo.pop()
        if step not in seen:
            seen.add(step)
            todo.extend(waits.get(step, ()))
    return seen


def arrows(steps: Iterable[str]) -> str:
    """`a → b → a`: a cycle as a user reads it."""
    return " → ".join(steps)
