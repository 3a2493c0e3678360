"""What `GET /supportedimages` lists: images with the node agent SKU each needs."""

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
