"""The pool as desired: image, size, node counts or autoscale, containers and the start
task, with a fingerprint over what cannot change without replacing the pool (its
autoscale formula and node counts change in place)."""

from __future__ import annotations

from runner import shell
from runner.compute import Autoscale, ContainerRegistry, PoolContainers
from runner.render.files import ResourceFiles
from runner.render.fingerprints import Uploads, digest
from runner.render.renderer import Renderer
from runner.spec import PoolContainerSpec, StartTaskSpec, YamlPath
from runner.state import DesiredPool, DesiredStartTask


def pool(r: Renderer, uploads: Uploads) -> DesiredPool:
    p = r.spec.pool
    start = _start_task(r, p.start_task, uploads) if p.start_task is not None else None
    img = p.image
    containers = pool_containers(p.container)
    fingerprint = digest(
        [
            p.vm_size,
            img.publisher,
            img.offer,
            img.sku,
            img.version,
            img.node_agent_sku,
            p.task_slots_per_node,
            start,
            *([containers] if containers is not None else []),
        ]
    )
    autoscale = Autoscale(p.autoscale.formula, p.autoscale.interval) if p.autoscale else None
    return DesiredPool(
        id=p.id,
        vm_size=p.vm_size,
        publisher=img.publisher,
        offer=img.offer,
        sku=img.sku,
        version=img.version,
        node_agent_sku=img.node_agent_sku or "",
        image_alias=img.alias,
        # an autoscale pool starts empty: its formula sizes it
        dedicated_nodes=0 if autoscale else p.dedicated_nodes,
        spot_nodes=0 if autoscale else p.spot_nodes,
        task_slots_per_node=p.task_slots_per_node,
        start_task=start,
        fingerprint=fingerprint,
        price_per_hour=p.price_per_hour,
        containers=containers,
        autoscale=autoscale,
    )


def pool_containers(c: PoolContainerSpec | None) -> PoolContainers | None:
    if c is None:
        return None
    registries = tuple(
        ContainerRegistry(r.server, r.username, r.password_env) for r in c.registries
    )
    return PoolContainers(images=c.images, registries=registries)


def _start_task(r: Renderer, st: StartTaskSpec, uploads: Uploads) -> DesiredStartTask:
    base: YamlPath = ("pool", "start_task")
    ctx = r.base_context
    commands = [
        r.render(r.template(cmd, (*base, "commands", i), command=True), ctx) or ""
        for i, cmd in enumerate(st.commands)
    ]
    files = ResourceFiles(r, st.resource_files, (*base, "resource_files"), uploads)
    return DesiredStartTask(
        command_line=shell.wrap(commands),
        resource_files=files.render(ctx, None, ""),
        env=tuple(
            (k, r.render(r.template(v, (*base, "env", k)), ctx) or "")
            for k, v in sorted(st.env.items())
        ),
        elevated=st.elevated,
        wait_for_success=st.wait_for_success,
        retries=st.retries,
    )
