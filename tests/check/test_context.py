"""Each Context violation produces exactly its finding (kind, function, slot)."""

from __future__ import annotations

import pytest
from helpers import add_device, swap_out_entry

from swaplab.check import findings
from swaplab.errors import ModelBug
from swaplab.include.linux.swapops import swp_entry
from swaplab.kernel.dup import folio, folio_lock, folio_unlock
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_cluster_lock, swap_cluster_unlock, swap_info
from swaplab.mm.swap_state import __swap_cache_del_folio, swap_cache_add_folio
from swaplab.sim.oops import KernelOops
from swaplab.sim.system import boot


def cached_folio(order: int = 0) -> folio:
    f = folio(order)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == 0
    return f


def only(log, kind, function, entry=None):
    assert [(f.kind, f.function) for f in log.findings] == [(kind, function)], log.findings
    if entry is not None:
        assert log.findings[0].entry == entry


def test_folio_alloc_swap_needs_lock(kernel):
    add_device()
    f = folio(0)
    with pytest.raises(KernelOops):                 # VM_BUG_ON_FOLIO: the task oopses
        swapfile.folio_alloc_swap(f)
    only(kernel, "vm-warn", "folio_alloc_swap")
    assert swap_info[0].swap_map[1] == 0            # nothing was allocated


@pytest.mark.parametrize("fn", ["folio_dup_swap", "folio_put_swap"])
def test_folio_dup_put_need_lock(kernel, fn):
    add_device()
    f = cached_folio()
    swapfile.folio_dup_swap(f, f.pages[0])
    folio_unlock(f)
    getattr(swapfile, fn)(f, f.pages[0])
    only(kernel, "vm-warn", fn, (0, 1))


def test_folio_put_swap_on_folio_not_in_cache(kernel):
    # Bug 6.3's shape: a fresh copy has folio->swap == 0 -> type 0, offset 0 (BAD header).
    si = add_device()
    copy = folio(0)
    folio_lock(copy)
    swapfile.folio_put_swap(copy, copy.pages[0])
    only(kernel, "vm-warn", "folio_put_swap")
    assert si.swap_map[0] == 0x3f                    # the header slot is left alone


def test_folio_put_swap_on_copy_when_type0_is_gone(kernel):
    add_device("/dev/vda")
    add_device("/dev/vdb")
    assert swapfile.sys_swapoff("/dev/vda") == 0
    copy = folio(0)
    folio_lock(copy)
    with pytest.raises(KernelOops):
        swapfile.folio_put_swap(copy, copy.pages[0])
    # not in swap cache; percpu_ref_is_zero(&si->users); the NULL cluster_info
    assert [f.kind for f in kernel.findings] == ["vm-warn", "vm-warn", "crash"]
    assert kernel.findings[2].function == "swap_entries_put_map"
    assert kernel.findings[2].backtrace[:2] == ["swap_entries_put_map", "folio_put_swap"]


def test_swap_cache_add_folio_needs_lock(kernel):
    add_device()
    e = swap_out_entry()
    f = folio(0)
    assert swap_cache_add_folio(f, e, None, False) == 0
    only(kernel, "vm-warn", "swap_cache_add_folio", (0, 1))


def test_swap_cache_del_folio_needs_cluster_lock(kernel):
    add_device()
    f = cached_folio()
    ci = swap_info[0].cluster_info[0]
    __swap_cache_del_folio(ci, f, f.swap, None)
    kinds = {(x.kind, x.function) for x in kernel.findings}
    assert ("lock-not-held", "__swap_cache_del_folio") in kinds


def test_cluster_lock_recursion(kernel):
    si = add_device()
    e = swap_out_entry()
    ci = swap_cluster_lock(si, 1)
    with pytest.raises(KernelOops):                   # the task never returns
        swapfile.swap_entry_swapped(si, e)            # takes the same cluster lock again
    swap_cluster_unlock(ci)
    only(kernel, "lock-recursion", "swap_entry_swapped", (0, 1))
    assert "already holding" in kernel.findings[0].message


def test_unlock_of_unlocked_lock(kernel):
    si = add_device()
    swap_cluster_unlock(si.cluster_info[0])
    assert [f.kind for f in kernel.findings] == ["lock-not-held"]


def test_strict_mode_raises_first_finding():
    boot(checks=findings.STRICT)
    add_device()
    f = folio(0)
    with pytest.raises(ModelBug) as exc:
        swapfile.folio_dup_swap(f, f.pages[0])
    assert exc.value.finding.kind == "vm-warn"


def test_off_mode_records_nothing():
    boot(checks=findings.OFF)
    add_device()
    f = folio(0)
    assert swapfile.folio_alloc_swap(f) == 0        # the kernel would BUG; nothing recorded
    assert findings.log.findings == []


def test_dup_without_device(kernel):
    add_device()
    assert swapfile.__swap_duplicate(swp_entry(7, 1), 1, 1) == -22
    only(kernel, "vm-warn", "__swap_duplicate")


def test_finding_json_shape(kernel):
    add_device()
    f = cached_folio()
    folio_unlock(f)
    swapfile.folio_dup_swap(f, f.pages[0])
    j = kernel.findings[0].to_json()
    assert j["kind"] == "vm-warn" and j["function"] == "folio_dup_swap"
    assert j["entry"] == [0, 1] and j["step"] == 0
