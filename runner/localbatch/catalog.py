"""What the service supports: the images of `GET /supportedimages` with the node agent
SKU each needs, the node agents Azure has retired, and the REST API versions it answers."""

from __future__ import annotations

from typing import Any


def _image(agent: str, publisher: str, offer: str, sku: str, eol: str) -> dict[str, Any]:
    return {
        "nodeAgentSKUId": agent,
        "imageReference": {"publisher": publisher, "offer": offer, "sku": sku, "version": "latest"},
        "verificationType": "verified",
        "batchSupportEndOfLife": eol,
        "osType": "linux",
        "capabilities": [],
    }


SUPPORTED_IMAGES: list[dict[str, Any]] = [
    _image(
        "batch.node.ubuntu 22.04",
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
        "2027-04-30T00:00:00Z",
    ),
    _image(
        "batch.node.ubuntu 22.04",
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts-gen2",
        "2027-04-30T00:00:00Z",
    ),
    _image(
        "batch.node.ubuntu 24.04", "canonical", "ubuntu-24_04-lts", "server", "2029-04-30T00:00:00Z"
    ),
    _image(
        "batch.node.ubuntu 24.04",
        "canonical",
        "ubuntu-24_04-lts",
        "server-gen1",
        "2029-04-30T00:00:00Z",
    ),
    _image("batch.node.debian 12", "debian", "debian-12", "12", "2028-06-30T00:00:00Z"),
    _image("batch.node.el 9", "almalinux", "almalinux-x86_64", "9-gen2", "2032-05-31T00:00:00Z"),
    _image("batch.node.el 9", "microsoft-dsvm", "ubuntu-hpc", "2204", "2027-04-30T00:00:00Z"),
]

NODE_AGENT_SKUS = sorted({i["nodeAgentSKUId"] for i in SUPPORTED_IMAGES})

# Node agents Azure has retired: a pool asking for one is refused with a message that
# says so (Ubuntu 20.04's agent was retired on 2025-04-30).
RETIRED_NODE_AGENT_SKUS = {
    "batch.node.ubuntu 20.04": "2025-04-30",
    "batch.node.ubuntu 18.04": "2024-06-30",
    "batch.node.ubuntu 16.04": "2021-04-30",
    "batch.node.centos 7": "2024-06-30",
    "batch.node.debian 10": "2024-06-30",
}

# The Batch REST API versions the service answers: those the SDKs and the Azure CLI send
# (2025-06-01: azure-batch 15.1+; 2024-07-01.20.0: 15.0; 2024-02-01.19.0: 14.2 and the
# Azure CLI) and the earlier documented ones whose requests it understands.
API_VERSIONS = (
    "2025-06-01",
    "2024-07-01.20.0",
    "2024-02-01.19.0",
    "2023-11-01.18.0",
    "2023-05-01.17.0",
    "2022-10-01.16.0",
    "2022-01-01.15.0",
    "2021-06-01.14.0",
    "2020-09-01.12.0",
    "2020-03-01.11.0",
)
