"""The vCPUs of the VM sizes bwf knows, for Batch's limit on task slots per node.

Batch accepts at most 4 task slots per vCPU of the pool's VM size, and 256 in all
(`taskSlotsPerNode`); a spec asking more would be refused at pool creation, half-way
through an apply, so `runner.load` checks it first. Sizes not listed here are checked
against 256 only. This is the client's own table: the local Batch service keeps one of
its own (it never shares code with the client), and a test keeps the two in agreement.
"""

from __future__ import annotations

SLOTS_PER_VCPU = 4
MAX_TASK_SLOTS = 256

# vCPUs -> sizes, without the `standard_` every one of them starts with
_BY_VCPUS: dict[int, str] = {
    1: "a1_v2 b1s b1ms",
    2: "a2_v2 b2s b2ms d2_v3 d2s_v3 d2s_v5 d2ds_v5 d2as_v5 e2s_v3 e2s_v5 f2s_v2",
    4: "a4_v2 b4ms d4_v3 d4s_v3 d4s_v5 d4ds_v5 d4as_v5 e4s_v3 e4s_v5 f4s_v2 nc4as_t4_v3",
    6: "nc6s_v3",
    8: "a8_v2 b8ms d8_v3 d8s_v3 d8s_v5 d8ds_v5 d8as_v5 e8s_v3 e8s_v5 f8s_v2 nc8as_t4_v3",
    12: "nc12s_v3",
    16: "d16_v3 d16s_v3 d16s_v5 e16s_v3 e16s_v5 f16s_v2 nc16as_t4_v3",
    24: "nc24s_v3",
    32: "d32s_v3 d32s_v5 f32s_v2",
    44: "hc44rs",
    48: "d48s_v3",
    64: "d64s_v3 d64s_v5 f64s_v2",
    72: "f72s_v2",
    96: "d96s_v5",
    120: "hb120rs_v3",
}
VCPUS: dict[str, int] = {
    f"standard_{size}": vcpus for vcpus, sizes in _BY_VCPUS.items() for size in sizes.split()
}


def too_many_slots(vm_size: str, slots: int) -> str | None:
    """Why Batch would refuse `slots` task slots per node on `vm_size`; None if it would not."""
    vcpus = VCPUS.get(vm_size.lower())
    most = MAX_TASK_SLOTS if vcpus is None else min(SLOTS_PER_VCPU * vcpus, MAX_TASK_SLOTS)
    if slots <= most:
        return None
    why = f"{vm_size.lower()} has {vcpus} vCPUs" if vcpus else f"at most {MAX_TASK_SLOTS}"
    return (
        f"{slots} is more than Batch allows ({why}: {SLOTS_PER_VCPU} slots per vCPU, "
        f"at most {MAX_TASK_SLOTS}, so at most {most})"
    )
