"""The client's table of VM sizes (runner/vm_sizes.py) and the local Batch service's
(runner/localbatch/catalog.py) are kept apart, as the client and the service always
are: they must agree on every size and on the task slot limit of each."""

from __future__ import annotations

from runner import vm_sizes
from runner.localbatch import catalog


def test_the_client_and_the_local_service_know_the_same_sizes_and_limits() -> None:
    assert vm_sizes.VCPUS == catalog.VM_SIZE_VCPUS
    for size in [*vm_sizes.VCPUS, "standard_unknown_v9"]:
        limit = catalog.max_task_slots(size)
        assert vm_sizes.too_many_slots(size, limit) is None, size
        assert vm_sizes.too_many_slots(size.upper(), limit + 1) is not None, size


def test_four_slots_per_vcpu_and_never_more_than_256() -> None:
    assert vm_sizes.too_many_slots("standard_d2s_v3", 8) is None
    assert "so at most 8" in (vm_sizes.too_many_slots("standard_d2s_v3", 9) or "")
    assert vm_sizes.too_many_slots("standard_hb120rs_v3", 256) is None
    assert "so at most 256" in (vm_sizes.too_many_slots("standard_hb120rs_v3", 257) or "")
