"""The local Batch service reboots a node on request, as Batch does: the node's tasks
are re-queued and its start task runs again (how bwf repairs a node whose start task
failed on an expired SAS)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchNodeRebootOptions
from azure.core.exceptions import ResourceExistsError

from tests.test_localbatch import make_pool


def _nodes_in(client: BatchClient, pool_id: str, state: str) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        nodes = list(client.list_nodes(pool_id))
        if nodes and all(n.state == state for n in nodes):
            return nodes
        assert time.monotonic() < deadline, [n.state for n in nodes]
        time.sleep(0.05)


def test_a_rebooted_node_runs_its_start_task_again(batch_client: BatchClient) -> None:
    start = m.BatchStartTask(
        command_line='/bin/sh -c "echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots; sleep 2"',
        wait_for_success=True,
    )
    pool_id = make_pool(batch_client, nodes=1, start_task=start)
    (node,) = _nodes_in(batch_client, pool_id, "idle")
    first = node.start_task_info.start_time
    options = BatchNodeRebootOptions(node_reboot_kind="requeue")
    batch_client.begin_reboot_node(pool_id, node.id, options, polling_interval=1)
    # down for a moment, then booting: its start task takes 2 s
    assert batch_client.get_node(pool_id, node.id).state in (
        m.BatchNodeState.REBOOTING,
        m.BatchNodeState.STARTING,
        m.BatchNodeState.WAITING_FOR_START_TASK,
    )
    with pytest.raises(ResourceExistsError) as e:  # not twice at once
        batch_client.begin_reboot_node(pool_id, node.id, options)
    assert e.value.error.code in ("NodeBeingRebooted", "NodeBeingStarted")
    (node,) = _nodes_in(batch_client, pool_id, "idle")
    assert node.start_task_info.start_time > first
    boots = b"".join(batch_client.download_node_file(pool_id, node.id, "shared/boots"))
    assert boots == b"boot\nboot\n"
    batch_client.begin_delete_pool(pool_id)
