"""Pools and their nodes: read, create, resize, autoscale, refresh the start task,
reboot, delete.

Azure refuses to resize a pool that is still resizing (409 `PoolBeingResized`) and to
create one whose ID is being deleted (409 `PoolBeingDeleted`); a create that azure-core
retried after it had succeeded gets 409 `PoolExists`. Each is handled here: stop the
resize first, wait until the old pool is gone, accept the pool that matches.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from azure.batch import models as m
from azure.batch.models._models import BatchNodeRebootOptions
from azure.core.exceptions import HttpResponseError

from runner import secrets
from runner.autoscale_formula import DEFAULT_INTERVAL
from runner.batch.connection import DELETE_BOUND, Connection
from runner.batch.errors import error_code, translate
from runner.batch.models import FINGERPRINT_METADATA, Resolver, pool_options, start_task
from runner.batch.observed import observed_node, value
from runner.compute import Autoscale
from runner.errors import BwfError
from runner.state import DesiredPool, ObservedNode, ObservedPool

# Azure settles a resize within its resize timeout (15 minutes unless set): a bound well
# past it.
RESIZE_BOUND = 30 * 60.0
REBOOT_BOUND = 10 * 60.0
STILL_DELETING = "Azure is still deleting it: apply again later, or use another pool id"


class Pools:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.client = conn.client

    def get(self, pool_id: str, with_nodes: bool = True) -> ObservedPool | None:
        """The pool (None when there is none); `with_nodes` also counts its nodes' states."""
        p = self.conn.call_or_none(f"reading pool {pool_id}", lambda: self.client.get_pool(pool_id))
        if p is None:
            return None
        vmc = p.virtual_machine_configuration
        ref = vmc.image_reference if vmc else None
        meta = {i.name: i.value for i in p.metadata or []}
        states: dict[str, int] = {}
        if with_nodes and (p.current_dedicated_nodes or p.current_low_priority_nodes):
            for n in self.nodes(pool_id):
                states[n.state] = states.get(n.state, 0) + 1
        errors = tuple(
            secrets.scrub(f"{e.code}: {e.message}" if e.message else str(e.code))
            for e in p.resize_errors or []
        )
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
            current_dedicated=p.current_dedicated_nodes or 0,
            current_spot=p.current_low_priority_nodes or 0,
            resize_errors=errors,
            autoscale=_autoscale(p),
        )

    def create(self, pool: DesiredPool, r: Resolver) -> None:
        """Create the pool; wait first for a pool of that ID being deleted to be gone."""
        options = pool_options(pool, r)
        what = f"creating pool {pool.id}"
        for attempt in range(2):
            try:
                self.conn.call_sdk(what, lambda: self.client.create_pool(options))
                return
            except HttpResponseError as e:
                code = error_code(e)
                if code == "PoolBeingDeleted" and attempt == 0:
                    self.conn.say(f"Pool [{pool.id}] is being deleted: waiting until it is gone...")
                    self.wait_gone(pool.id)
                    continue
                if code == "PoolExists":
                    self._accept_existing(pool, e)
                    return
                raise translate(what, e, self.conn.target.batch_url) from None

    def _accept_existing(self, pool: DesiredPool, e: HttpResponseError) -> None:
        """409 PoolExists: a create retried after it had succeeded, or a pool created
        meanwhile. The pool is accepted when it is the one asked for."""
        live = self.get(pool.id, with_nodes=False)
        if (
            live is not None
            and live.state == "active"
            and live.fingerprint == pool.fingerprint
            and live.autoscale == pool.autoscale
            and (
                pool.autoscale is not None
                or (live.dedicated_target, live.spot_target)
                == (pool.dedicated_nodes, pool.spot_nodes)
            )
        ):
            return
        raise translate(
            f"creating pool {pool.id} (it exists, and differs from the spec: plan again)",
            e,
            self.conn.target.batch_url,
        ) from None

    def resize(self, pool_id: str, dedicated: int, spot: int) -> None:
        """Resize the pool and wait until it is steady; a resize under way is stopped
        first (Azure refuses to resize a pool that is resizing)."""
        options = m.BatchPoolResizeOptions(
            target_dedicated_nodes=dedicated, target_low_priority_nodes=spot
        )
        what = f"resizing pool {pool_id}"
        for attempt in range(3):
            self._steady(pool_id)
            try:
                poller = self.conn.call_sdk(
                    what,
                    lambda: self.client.begin_resize_pool(
                        pool_id, options, polling_interval=self.conn.poll_interval
                    ),
                )
            except HttpResponseError as e:
                if error_code(e) == "PoolBeingResized" and attempt < 2:
                    continue  # resized by someone else meanwhile: stop that one too
                raise translate(what, e, self.conn.target.batch_url) from None
            self.conn.follow(
                poller,
                lambda: self._allocation(pool_id) != "resizing",
                f"pool {pool_id} is resizing",
                RESIZE_BOUND,
            )
            return

    def enable_autoscale(self, pool_id: str, autoscale: Autoscale) -> None:
        """Give the pool this formula and interval (it autoscales from now on; Batch
        evaluates the formula at once). Refused while the pool resizes: stopped first."""
        options = m.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=autoscale.formula,
            auto_scale_evaluation_interval=dt.timedelta(seconds=autoscale.interval),
        )
        self._steady(pool_id)
        self.conn.call(
            f"enabling autoscale on pool {pool_id}",
            lambda: self.client.enable_pool_auto_scale(pool_id, options),
        )

    def disable_autoscale(self, pool_id: str) -> None:
        """Stop autoscaling: the pool keeps the nodes it has until it is resized."""
        self.conn.call(
            f"disabling autoscale on pool {pool_id}",
            lambda: self.client.disable_pool_auto_scale(pool_id),
        )

    def _allocation(self, pool_id: str) -> str:
        p = self.conn.call(f"reading pool {pool_id}", lambda: self.client.get_pool(pool_id))
        return value(p.allocation_state)

    def _steady(self, pool_id: str) -> None:
        """Stop a resize under way, and wait until the pool is steady."""
        if self._allocation(pool_id) == "steady":
            return
        self.conn.say(f"Pool [{pool_id}] is resizing: stopping that resize first...")
        poller = self.conn.call(
            f"stopping the resize of pool {pool_id}",
            lambda: self.client.begin_stop_pool_resize(
                pool_id, polling_interval=self.conn.poll_interval
            ),
        )
        self.conn.follow(
            poller,
            lambda: self._allocation(pool_id) == "steady",
            f"pool {pool_id} is still stopping its resize",
            RESIZE_BOUND,
        )

    def refresh_start_task(self, pool: DesiredPool, r: Resolver) -> None:
        """Replace the pool's start task with the same one signed afresh: its SAS URLs
        are valid again for nodes that join or reboot. Nodes keep their state."""
        options = m.BatchPoolReplaceOptions(
            start_task=start_task(pool, r),
            application_package_references=[],
            metadata=[m.BatchMetadataItem(name=FINGERPRINT_METADATA, value=pool.fingerprint)],
        )
        self.conn.call(
            f"refreshing the start task of pool {pool.id}",
            lambda: self.client.replace_pool_properties(pool.id, options),
        )

    def reboot(self, pool_id: str, node_ids: list[str]) -> list[str]:
        """Ask Batch to reboot these nodes (they run the start task again); what they
        become is for the caller to watch. Returns why each refused reboot was refused
        (the REST reference allows only idle or running nodes; the service reboots a
        node whose start task failed all the same), for the caller to report."""
        before = {n.id: n.start_task_started for n in self.nodes(pool_id)}
        refused, rebooting = [], []
        for node_id in node_ids:
            try:
                self._reboot(pool_id, node_id)
                rebooting.append(node_id)
            except BwfError as e:
                refused.append(str(e))

        def taken() -> bool:
            """Every node rebooting has left the state it failed in, or run its start
            task again (a node may still show `starttaskfailed` just after the request)."""
            now = {n.id: n for n in self.nodes(pool_id)}
            return all(
                i not in now
                or now[i].state != "starttaskfailed"
                or now[i].start_task_started != before.get(i)
                for i in rebooting
            )

        pending = f"{len(rebooting)} node(s) of pool {pool_id} are to reboot"
        self.conn.follow(None, taken, pending, REBOOT_BOUND)
        return refused

    def _reboot(self, pool_id: str, node_id: str) -> None:
        # without options the SDK fails on the client (as begin_terminate_job does)
        options = BatchNodeRebootOptions(node_reboot_kind="requeue")
        self.conn.call(
            f"rebooting node {node_id} of pool {pool_id}",
            lambda: self.client.begin_reboot_node(
                pool_id, node_id, options, polling_interval=self.conn.slow_poll_interval
            ),
        )

    def delete(self, pool_id: str) -> bool:
        """Delete a pool and wait until it is gone; False when there was none. A pool
        that is being deleted already is only waited for."""
        live = self.get(pool_id, with_nodes=False)
        if live is None:
            return False
        if live.state == "deleting":
            self.wait_gone(pool_id)
            return True
        return self.conn.delete(
            f"pool {pool_id}",
            lambda: self.client.begin_delete_pool(
                pool_id, polling_interval=self.conn.poll_interval
            ),
            "PoolBeingDeleted",
            lambda: self._gone(pool_id),
            STILL_DELETING,
        )

    def wait_gone(self, pool_id: str) -> None:
        pending = f"pool {pool_id} is being deleted"
        self.conn.follow(None, lambda: self._gone(pool_id), pending, DELETE_BOUND, STILL_DELETING)

    def _gone(self, pool_id: str) -> bool:
        return (
            self.conn.call_or_none(f"reading pool {pool_id}", lambda: self.client.get_pool(pool_id))
            is None
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


def _autoscale(p: Any) -> Autoscale | None:
    if not p.enable_auto_scale:
        return None
    interval = p.auto_scale_evaluation_interval
    seconds = int(interval.total_seconds()) if interval is not None else DEFAULT_INTERVAL
    return Autoscale(formula=p.auto_scale_formula or "", interval=seconds)
