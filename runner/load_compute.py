"""Loading the compute options of a spec: the pool's containers and autoscale, and each
task's container and slots, with their located checks. Used by `runner.load` (the pool)
and `runner.load_tasks` (each task template)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner import durations
from runner.autoscale_formula import DEFAULT_INTERVAL, pending_tasks_formula
from runner.schema import dotted
from runner.spec import (
    AutoscaleSpec,
    PoolContainerSpec,
    PoolSpec,
    RegistrySpec,
    TaskContainerSpec,
    YamlPath,
)

if TYPE_CHECKING:
    from runner.load_tasks import Checks

# Batch's bounds on autoScaleEvaluationInterval.
INTERVAL_MIN = 5 * 60
INTERVAL_MAX = 168 * 3600
SHORT_FORM = ("min", "max", "tasks_per_node", "spot")
# Azure Container Registry never serves anonymous pulls unless told to: an image of one
# that the pool declares no credentials for would leave its nodes unusable.
PRIVATE_REGISTRY_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us")


def image_server(image: str) -> str | None:
    """The registry server an image reference names (`host[:port]/...`), None for
    Docker Hub's short names (`busybox`, `library/ubuntu:22.04`)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def pool_container(checks: Checks, p: dict[str, Any]) -> PoolContainerSpec | None:
    c = p.get("container")
    if c is None:
        return None
    base: YamlPath = ("pool", "container")
    registries = tuple(
        RegistrySpec(r["server"].lower(), r["username"], r["password_env"])
        for r in c.get("registries", [])
    )
    seen: set[str] = set()
    for i, r in enumerate(registries):
        if r.server in seen:
            where = checks.source.value((*base, "registries", i, "server"))
            checks.problem(where, f"{dotted(base)}.registries: '{r.server}' is declared twice")
        seen.add(r.server)
    images = tuple(c.get("images", []))
    for i, image in enumerate(images):
        undeclared_registry(checks, image, registries, (*base, "images", i))
    return PoolContainerSpec(images=images, registries=registries)


def undeclared_registry(
    checks: Checks, image: str, registries: tuple[RegistrySpec, ...], path: YamlPath
) -> None:
    """An image of a private registry (one that refuses anonymous pulls) needs that
    registry in `pool.container.registries`."""
    server = image_server(image)
    if server is None or server.lower() in {r.server for r in registries}:
        return
    if server.lower().endswith(PRIVATE_REGISTRY_SUFFIXES):
        checks.problem(
            checks.source.value(path),
            f"{dotted(path)}: '{image}' comes from registry '{server}', which is not declared "
            "in pool.container.registries (with its username and password_env)",
        )


def autoscale(checks: Checks, p: dict[str, Any], target: str | None) -> AutoscaleSpec | None:
    """`pool.autoscale`: a formula, or the short form written as one. `target` "azure"
    holds the interval to Batch's 5 minutes at least; the local service accepts shorter
    ones when started with BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL (docs/local-batch.md)."""
    a = p.get("autoscale")
    if a is None:
        return None
    base: YamlPath = ("pool", "autoscale")
    if "nodes" in p:
        checks.problem(
            checks.source.key(("pool", "nodes")),
            "pool.nodes: give nodes or autoscale, not both (an autoscale pool's formula sets its size)",
        )
    interval = _interval(checks, a.get("interval"), (*base, "interval"), target)
    short = [k for k in SHORT_FORM if k in a]
    if "formula" in a:
        if short:
            checks.problem(
                checks.source.key((*base, short[0])),
                f"{dotted(base)}: give formula, or min, max and tasks_per_node, not both",
            )
        return AutoscaleSpec(formula=a["formula"], interval=interval)
    missing = [k for k in ("min", "max", "tasks_per_node") if k not in a]
    if missing:
        checks.problem(
            checks.source.key(base),
            f"{dotted(base)}: give formula, or min, max and tasks_per_node (missing "
            + ", ".join(missing)
            + ")",
        )
        return None
    if a["min"] > a["max"]:
        checks.problem(
            checks.source.value((*base, "min")),
            f"{dotted(base)}.min: {a['min']} is more than max ({a['max']})",
        )
        return None
    formula = pending_tasks_formula(
        a["min"], a["max"], a["tasks_per_node"], spot=a.get("spot", False)
    )
    return AutoscaleSpec(formula=formula, interval=interval, short=True)


def _interval(checks: Checks, value: str | None, path: YamlPath, target: str | None) -> int:
    if value is None:
        return DEFAULT_INTERVAL
    seconds = durations.parse(value)  # the schema pattern already guarantees the form
    low = INTERVAL_MIN if target == "azure" else 1
    if not low <= seconds <= INTERVAL_MAX:
        bounds = "from 5m to 168h on Azure" if target == "azure" else "from 1s to 168h"
        checks.problem(checks.source.value(path), f"{dotted(path)}: must be {bounds}")
    return seconds


def task_container(
    checks: Checks, t: dict[str, Any], path: YamlPath, pool: PoolSpec | None
) -> TaskContainerSpec | None:
    c = t.get("container")
    if c is None:
        return None
    where: YamlPath = (*path, "container")
    if pool is not None and pool.container is None:
        checks.problem(
            checks.source.key(where),
            f"{dotted(where)}: a container task needs a pool with containers (pool.container)",
        )
    elif pool is not None and pool.container is not None:
        undeclared_registry(checks, c["image"], pool.container.registries, (*where, "image"))
    return TaskContainerSpec(
        image=c["image"], options=c.get("options", ""), workdir=c.get("workdir", "task")
    )


def required_slots(checks: Checks, t: dict[str, Any], path: YamlPath, pool: PoolSpec | None) -> int:
    slots: int = t.get("required_slots", 1)
    if pool is not None and slots > pool.task_slots_per_node:
        checks.problem(
            checks.source.value((*path, "required_slots")),
            f"{dotted((*path, 'required_slots'))}: {slots} is more than the pool's "
            f"task_slots_per_node ({pool.task_slots_per_node}): the task could never run",
        )
    return slots
