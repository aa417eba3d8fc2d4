"""Spec §10.3 S10 at the API level: 3 x SNAPSHOT_ALLOC_SWAP_PAGE, then close /dev/snapshot.

    offset 0123 ... 512 ... 1024     H = header, 1 = count 1 (hibernation slot)
    rotational: H111                  one extent [1, 3]
    ssd:        H1.. ... 1   ... 1    three one-slot extents
"""

from __future__ import annotations

import pytest
from helpers import add_device, byte

from swaplab.check import findings
from swaplab.errors import ModelBug
from swaplab.kernel.locking import get_current
from swaplab.kernel.power import swap as power_swap
from swaplab.kernel.power.user import (
    SNAPSHOT_ALLOC_SWAP_PAGE,
    SNAPSHOT_SET_SWAP_AREA,
    snapshot_data,
    snapshot_ioctl,
    snapshot_open,
    snapshot_release,
)
from swaplab.mm import swapfile
from swaplab.sim.system import boot
from swaplab.variants import using

OFFSETS = {"rotational": [1, 2, 3], "ssd": [1, 512, 1024]}


def open_and_alloc(kind: str, offsets: list[int] | None = None):
    """Open /dev/snapshot on a new device of ``kind`` and allocate 3 slots at ``offsets``."""
    offsets = offsets or OFFSETS[kind]
    si = add_device("/dev/vda", kind=kind)
    data = snapshot_open(get_current())
    assert isinstance(data, snapshot_data)
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == 0
    got = [snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE) for _ in range(3)]
    assert got == [(0, o * 4096) for o in offsets]
    assert [byte(si, o) for o in offsets] == [1, 1, 1]
    return si, data


def spy_frees(monkeypatch) -> list[int]:
    """Offsets passed to swap_free_hibernation_slot() by the variant's free_all_swap_pages()."""
    calls: list[int] = []
    real = power_swap.swap_free_hibernation_slot
    mod = power_swap.free_all_swap_pages.__globals__

    def swap_free_hibernation_slot(entry: int) -> None:
        calls.append(entry & 0xffffffff)
        real(entry)
    monkeypatch.setitem(mod, "swap_free_hibernation_slot", swap_free_hibernation_slot)
    return calls


@pytest.mark.parametrize("variant", ["mainline", "legacy", "linux-7.2"])
@pytest.mark.parametrize("kind", ["rotational", "ssd"])
def test_s10_everything_freed(variant, kind):
    with using(variant):
        boot()
        # linux-7.2 takes hibernation slots from this CPU's cluster: 1, 2, 3 on an SSD too.
        si, data = open_and_alloc(kind, [1, 2, 3] if variant == "linux-7.2" else None)
        assert snapshot_release(data) == 0
        assert [byte(si, o) for o in range(4)] == [0x3f, 0, 0, 0]
        assert swapfile.swap_usage_in_pages(si) == 0
        assert findings.log.findings == []


def test_s10_v5_rotational_deadlocks_at_the_first_free():
    # The kernel never returns from the recursive cluster lock: strict mode
    # ends the task at the first finding, as the deadlock does.
    with using("v5"):
        boot(checks=findings.STRICT)
        si, data = open_and_alloc("rotational")
        with pytest.raises(ModelBug):
            snapshot_release(data)
    [f] = findings.log.findings
    assert (f.kind, f.function, f.entry) == ("lock-recursion", "swap_entry_swapped", (0, 1))
    assert f.backtrace[:4] == ["swap_entry_swapped", "swap_free_hibernation_slot",
                               "free_all_swap_pages", "snapshot_release"]
    # Slot 1 was freed before the WARN_ON; 2 and 3 stay allocated (count 1).
    assert [byte(si, o) for o in range(5)] == [0x3f, 0, 1, 1, 0]
    assert swapfile.swap_usage_in_pages(si) == 2
    boot()


def test_s10_v5_rotational_record_mode():
    # Record mode: the self-deadlock ends the operation (KernelOops), as the
    # task never returns in the kernel: exactly the kernel's state remains.
    from swaplab.sim.oops import KernelOops
    with using("v5"):
        boot()
        si, data = open_and_alloc("rotational")
        with pytest.raises(KernelOops):
            snapshot_release(data)
    [first] = findings.log.findings
    assert (first.kind, first.function, first.entry) == ("lock-recursion", "swap_entry_swapped", (0, 1))
    assert byte(si, 1) == 0 and byte(si, 2) == 1 and byte(si, 3) == 1


def test_s10_v5_ssd_leaks_every_slot_without_a_free(monkeypatch):
    with using("v5"):
        boot()
        si, data = open_and_alloc("ssd")
        frees = spy_frees(monkeypatch)
        assert snapshot_release(data) == 0
    assert frees == []                                  # start < end never holds
    assert findings.log.findings == []
    assert [byte(si, o) for o in OFFSETS["ssd"]] == [1, 1, 1]
    assert swapfile.swap_usage_in_pages(si) == 3
    assert list(power_swap.iter_swsusp_extents()) == []     # nothing knows them any more
