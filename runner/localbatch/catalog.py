"""What the service knows of Azure: the images `GET /supportedimages` lists, with the node
agent SKU each needs, and the vCPUs of common VM sizes (the task slot limit)."""

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
