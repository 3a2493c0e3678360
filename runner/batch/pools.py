"""Pools and their nodes: read, create, resize, delete."""

from __future__ import annotations

from azure.batch import models as m

from runner.batch.connection import POLL, Connection
from runner.batch.models import FINGERPRINT_METADATA, Resolver, pool_options
from runner.batch.observed import observed_node, value
from runner.errors import BwfError
from runner.state import DesiredPool, ObservedNode, ObservedPool


class Pools:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.client = conn.client

    def node_agent_sku(self, publisher: str, offer: str, sku: str) -> str:
        """The node agent SKU Batch pairs with an image (as the tutorial's
        select_latest_verified_vm_image_with_node_agent_sku does)."""
        wanted = (publisher.lower(), offer.lower(), sku.lower())
        images = self.conn.call(
            "listing supported images", lambda: list(self.client.list_supported_images())
        )
        for image in images:
            ref = image.image_reference
            if (
                (ref.publisher or "").lower(),
                (ref.offer or "").lower(),
                (ref.sku or "").lower(),
            ) == wanted:
                return str(image.node_agent_sku_id)
        raise BwfError(f"the Batch account does not support the image {publisher}/{offer}/{sku}")

    def get(self, pool_id: str) -> ObservedPool | None:
        p = self.conn.call_or_none(f"reading pool {pool_id}", lambda: self.client.get_pool(pool_id))
        if p is None:
            return None
        vmc = p.virtual_machine_configuration
        ref = vmc.image_reference if vmc else None
        meta = {i.name: i.value for i in p.metadata or []}
        states: dict[str, int] = {}
        if p.current_dedicated_nodes or p.current_low_priority_nodes:
            for n in self.nodes(pool_id):
                states[n.state] = states.get(n.state, 0) + 1
        return ObservedPool(
            id=p.id,
            state=value(p.state),
            allocation_state=value(p.allocation_state),
            vm_size=(p.vm_size or "").lower(),
            publisher=(ref.publisher or "") if ref else "",
            offer=(ref.offer or "") if ref else "",
            sku=(ref.sku or "") if ref else "",
            version=(ref.version or "latest") if ref else "",
            node_agent_sku=vmc.node_agent_sku_id if vmc else "",
            dedicated_target=p.target_dedicated_nodes or 0,
            spot_target=p.target_low_priority_nodes or 0,
            task_slots_per_node=p.task_slots_per_node or 1,
            fingerprint=meta.get(FINGERPRINT_METADATA, ""),
            node_states=states,
        )

    def create(self, pool: DesiredPool, node_agent_sku: str, r: Resolver) -> None:
        options = pool_options(pool, node_agent_sku, r)
        self.conn.call(f"creating pool {pool.id}", lambda: self.client.create_pool(options))

    def resize(self, pool_id: str, dedicated: int, spot: int) -> None:
        options = m.BatchPoolResizeOptions(
            target_dedicated_nodes=dedicated, target_low_priority_nodes=spot
        )
        self.conn.call(
            f"resizing pool {pool_id}",
            lambda: self.client.begin_resize_pool(pool_id, options, polling_interval=POLL).result(),
        )

    def delete(self, pool_id: str) -> bool:
        """Delete a pool and wait until it is gone; False when there was none."""
        return self.conn.wait_deleted(
            f"pool {pool_id}", lambda: self.client.begin_delete_pool(pool_id, polling_interval=POLL)
        )

    def nodes(self, pool_id: str) -> list[ObservedNode]:
        """The pool's nodes (empty when the pool is gone)."""
        found = self.conn.call_or_none(
            f"listing nodes of {pool_id}", lambda: list(self.client.list_nodes(pool_id))
        )
        return [observed_node(n) for n in found or []]

    def node_file(self, pool_id: str, node_id: str, path: str) -> bytes | None:
        """A file on a node (the start task's stderr), None when it is not there."""
        return self.conn.call_or_none(
            f"reading {path} on {node_id}",
            lambda: b"".join(self.client.download_node_file(pool_id, node_id, path, stream=False)),
        )
