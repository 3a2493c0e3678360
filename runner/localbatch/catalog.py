"""What the service knows of Azure: the images `GET /supportedimages` lists, with the node
agent SKU each needs, the node agents Azure has retired, the REST API versions it
answers, and the vCPUs of common VM sizes (the task slot limit, core hours)."""

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

# vCPUs of common VM sizes: Batch allows at most 4 task slots per vCPU (and 256 in all).
_SIZES_BY_VCPUS: dict[int, str] = {
    1: "standard_a1_v2 standard_b1s standard_b1ms",
    2: "standard_a2_v2 standard_b2s standard_b2ms standard_d2_v3 standard_d2s_v3"
    " standard_d2s_v5 standard_d2ds_v5 standard_d2as_v5 standard_e2s_v3 standard_e2s_v5"
    " standard_f2s_v2",
    4: "standard_a4_v2 standard_b4ms standard_d4_v3 standard_d4s_v3 standard_d4s_v5"
    " standard_d4ds_v5 standard_d4as_v5 standard_e4s_v3 standard_e4s_v5 standard_f4s_v2"
    " standard_nc4as_t4_v3",
    6: "standard_nc6s_v3",
    8: "standard_a8_v2 standard_b8ms standard_d8_v3 standard_d8s_v3 standard_d8s_v5"
    " standard_d8ds_v5 standard_d8as_v5 standard_e8s_v3 standard_e8s_v5 standard_f8s_v2"
    " standard_nc8as_t4_v3",
    12: "standard_nc12s_v3",
    16: "standard_d16_v3 standard_d16s_v3 standard_d16s_v5 standard_e16s_v3 standard_e16s_v5"
    " standard_f16s_v2 standard_nc16as_t4_v3",
    24: "standard_nc24s_v3",
    32: "standard_d32s_v3 standard_d32s_v5 standard_f32s_v2",
    44: "standard_hc44rs",
    48: "standard_d48s_v3",
    64: "standard_d64s_v3 standard_d64s_v5 standard_f64s_v2",
    72: "standard_f72s_v2",
    96: "standard_d96s_v5",
    120: "standard_hb120rs_v3",
}
VM_SIZE_VCPUS: dict[str, int] = {
    size: vcpus for vcpus, sizes in _SIZES_BY_VCPUS.items() for size in sizes.split()
}
MAX_TASK_SLOTS = 256


def max_task_slots(vm_size: str) -> int:
    """The most `taskSlotsPerNode` Batch accepts for a VM size (256 for sizes not listed)."""
    vcpus = VM_SIZE_VCPUS.get(vm_size.lower())
    return MAX_TASK_SLOTS if vcpus is None else min(4 * vcpus, MAX_TASK_SLOTS)
