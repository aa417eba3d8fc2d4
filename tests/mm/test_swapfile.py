"""Tests of swaplab/mm/swapfile.py: allocation, counts, continuation, errors, swapon."""

from __future__ import annotations

import pytest
from helpers import MB, add_device, byte, swap_out_entry

from swaplab.check.invariants import check_swap_invariants
from swaplab.include.linux.errno import EBUSY, EINVAL, ENOENT, ENOMEM, EPERM
from swaplab.include.linux.swap import (COUNT_CONTINUED, MAX_SWAPFILES, SWAP_FLAG_PREFER,
                                        SWAP_HAS_CACHE, SWAP_MAP_BAD, SWAPFILE_CLUSTER,
                                        SWP_CONTINUED, SWP_SOLIDSTATE, SWP_SYNCHRONOUS_IO,
                                        SWP_WRITEOK)
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kernel.custom import inject_fault, mkswap_header, register_backing, swap_backing
from swaplab.kernel.dup import folio, folio_lock, folio_unlock
from swaplab.mm import swapfile
from swaplab.mm.swap import (CLUSTER_FLAG_FRAG, CLUSTER_FLAG_FREE, CLUSTER_FLAG_FULL,
                             CLUSTER_FLAG_NONFULL, swap_cluster_lock, swap_cluster_unlock)
from swaplab.mm.swap_state import __swap_cache_del_folio, swap_cache_add_folio
from swaplab.mm.swap_table import xa_mk_value
from swaplab.sim import inspect


def consistent() -> None:
    assert check_swap_invariants() == []


# --- S1: one anon page reclaimed on an SSD -----------------------------------
# offset 0123    H = header (BAD)
# byte   H@      after folio_alloc_swap: 0x40 (count 0, cached)
#        HA      after try_to_unmap_one: 0x41
#        H1      after __remove_mapping: 0x01
def test_s1_reclaim_one_page(kernel):
    si = add_device("/dev/vda", 1024, "ssd")
    assert si.flags & SWP_SOLIDSTATE
    assert inspect.cluster_lists(si)["nonfull[0]"] == [0]
    f = folio(0)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == 0
    assert f.swap == swp_entry(0, 1) and f.PG_swapcache
    assert byte(si, 1) == 0x40 and f._refcount == 2
    assert swapfile.folio_dup_swap(f, f.pages[0]) == 0
    assert byte(si, 1) == 0x41
    ci = swap_cluster_lock(si, 1)
    __swap_cache_del_folio(ci, f, f.swap, xa_mk_value(7))
    swap_cluster_unlock(ci)
    assert byte(si, 1) == 0x01 and not f.PG_swapcache
    assert swapfile.swap_usage_in_pages(si) == 1
    ci0 = si.cluster_info[0]
    assert ci0.count == 2 and ci0.flags == CLUSTER_FLAG_FRAG and ci0.order == 0
    assert inspect.cluster_lists(si)["frag[0]"] == [0]
    assert inspect.percpu_next() == {0: (0, 2)}
    assert inspect.slot_state(si, 1)["table"] == "shadow:0xf"
    consistent()
    assert kernel.findings == []


def test_allocation_is_sequential_and_per_cpu(kernel):
    add_device(kind="ssd")
    offs = [swp_offset(swap_out_entry()) for _ in range(5)]
    assert offs == [1, 2, 3, 4, 5]
    consistent()


def test_hdd_uses_global_cluster(kernel):
    si = add_device(kind="rotational")
    assert not si.flags & SWP_SOLIDSTATE and si.global_cluster is not None
    offs = [swp_offset(swap_out_entry()) for _ in range(3)]
    assert offs == [1, 2, 3]
    assert si.global_cluster[0] == 4
    assert inspect.percpu_next() == {}


def test_freed_slots_behind_are_not_reused(kernel):
    add_device()
    entries = [swap_out_entry() for _ in range(3)]
    for e in entries:
        swapfile.swap_put_entries_direct(e, 1)
    assert swp_offset(swap_out_entry()) == 4
    consistent()


def test_empty_cluster_returns_to_free_list_tail(kernel):
    # e3 on brd in the oracle: a freed cluster goes behind never-used ones.
    si = add_device(mb=16, kind="sync")
    assert si.flags & SWP_SYNCHRONOUS_IO
    entries = [swap_out_entry() for _ in range(1024)]
    assert swp_offset(entries[-1]) == 1024
    for e in entries:
        swapfile.swap_put_entries_direct(e, 1)
    lists = inspect.cluster_lists(si)
    assert lists["free"][-2:] == [1, 2] and lists["free"][0] == 3
    got = [swp_offset(swap_out_entry()) for _ in range(1024)]
    assert got[:511] == list(range(1, 512))
    assert got[511:] == list(range(1536, 2049))
    consistent()


@pytest.mark.parametrize("order", range(1, 10))
def test_large_allocations_are_aligned(kernel, order):
    si = add_device(mb=64)
    nr = 1 << order
    for _ in range(12):
        f = folio(order)
        folio_lock(f)
        assert swapfile.folio_alloc_swap(f) == 0
        off = swp_offset(f.swap)
        assert off % nr == 0
        assert off // SWAPFILE_CLUSTER == (off + nr - 1) // SWAPFILE_CLUSTER
        assert all(byte(si, off + i) == SWAP_HAS_CACHE for i in range(nr))
        ci = si.cluster_info[off // SWAPFILE_CLUSTER]
        assert ci.order == order
    consistent()
    assert kernel.findings == []


def test_order9_takes_whole_free_cluster(kernel):
    si = add_device(mb=4)       # 1024 slots: clusters 0 (header) and 1
    f = folio(9)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == 0
    assert swp_offset(f.swap) == 512
    g = folio(9)
    folio_lock(g)
    assert swapfile.folio_alloc_swap(g) == -ENOMEM    # cluster 0 has the header
    assert si.cluster_info[1].flags == CLUSTER_FLAG_FULL


def test_s7_large_folio_on_swap_file(kernel):
    add_device("/swapfile", 64, "rotational", blkdev=False)
    f = folio(4)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == -ENOMEM
    assert not f.PG_swapcache
    g = folio(0)
    folio_lock(g)
    assert swapfile.folio_alloc_swap(g) == 0


def test_folio_larger_than_cluster_is_einval(kernel):
    add_device()
    f = folio(10)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == -EINVAL
    assert [x.kind for x in kernel.findings] == ["vm-warn"]
    assert kernel.findings[0].function == "folio_alloc_swap"


def test_no_device_is_enomem(kernel):
    f = folio(0)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == -ENOMEM


# --- S11: a device fills up --------------------------------------------------
def test_s11_device_full(kernel):
    si = add_device(mb=1)       # 256 pages: 255 usable
    assert si.pages == 255
    entries = [swap_out_entry() for _ in range(255)]
    assert len({swp_offset(e) for e in entries}) == 255
    assert not swapfile.plist_node_in(si, swapfile.swap_avail_head)
    f = folio(0)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == -ENOMEM
    assert swapfile.get_nr_swap_pages() == 0
    swapfile.swap_put_entries_direct(entries[10], 1)
    assert swapfile.plist_node_in(si, swapfile.swap_avail_head)
    assert swapfile.folio_alloc_swap(f) == 0 and swp_offset(f.swap) == swp_offset(entries[10])
    consistent()
    assert kernel.findings == []


def cache_only_folios(n: int) -> list[folio]:
    """``n`` folios in the swap cache at count 0 (allocated, never unmapped), unlocked."""
    out = []
    for _ in range(n):
        f = folio(0)
        folio_lock(f)
        assert swapfile.folio_alloc_swap(f) == 0
        folio_unlock(f)
        out.append(f)
    return out


def test_s12_scan_evicts_cache_only_slots_when_full(kernel):
    # More than half used: the cluster scan reclaims cache-only slots (TTRS_ANYWAY).
    si = add_device(mb=1)
    held = cache_only_folios(255)
    assert not swapfile.plist_node_in(si, swapfile.swap_avail_head)
    folio_lock(held[99])
    assert swapfile.folio_free_swap(held[99])          # slot 100 free, device back on the list
    folio_unlock(held[99])
    assert swapfile.vm_swap_full()
    f = folio(0)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == 0
    assert swp_offset(f.swap) == 1                     # not 100: the scan restarts at the
    assert not held[0].PG_swapcache                    # cluster start and evicts slot 1's folio
    consistent()
    assert kernel.findings == []


def test_full_device_schedules_async_reclaim(kernel):
    from swaplab.kernel.custom import flush_scheduled_work
    si = add_device(mb=1)
    held = cache_only_folios(255)
    assert si.reclaim_work_pending
    assert flush_scheduled_work() == 1                 # swap_reclaim_work, force
    assert swapfile.swap_usage_in_pages(si) == 0
    assert not any(h.PG_swapcache for h in held)
    consistent()


def test_cache_only_slots_kept_below_half(kernel):
    si = add_device(mb=1)
    cache_only_folios(100)
    assert not swapfile.vm_swap_full()
    assert swp_offset(swap_out_entry()) == 101
    assert swapfile.swap_usage_in_pages(si) == 101


# --- S5: count continuation --------------------------------------------------
def dup_n(entry: int, n: int) -> None:
    for _ in range(n):
        assert swapfile.swap_dup_entry_direct(entry) == 0


def test_s5_continuation_arithmetic(kernel):
    si = add_device()
    e = swap_out_entry()             # count 1
    off = swp_offset(e)
    dup_n(e, 61)                     # after 61 forks: 62
    assert byte(si, off) == 0x3e and not si.flags & SWP_CONTINUED
    dup_n(e, 1)                      # 63 needs a continuation page
    assert byte(si, off) == COUNT_CONTINUED
    assert si.swap_map_cont[0][0][off] == 1
    assert si.flags & SWP_CONTINUED
    dup_n(e, 8)                      # 71
    assert byte(si, off) == 0x88
    assert swapfile.swp_swapcount(e) == 71
    for expect in range(70, 0, -1):
        swapfile.swap_put_entries_direct(e, 1)
        assert swapfile.swp_swapcount(e) == expect
    assert byte(si, off) == 1
    swapfile.swap_put_entries_direct(e, 1)
    assert byte(si, off) == 0
    consistent()
    assert kernel.findings == []


@pytest.mark.parametrize("levels,capacity", [(0, 62), (1, 8063), (2, 1032191)])
def test_continuation_capacity(kernel, levels, capacity):
    si = add_device()
    e = swap_out_entry()
    assert swp_offset(e) == 1
    # Give the slot's swap_map page exactly `levels` continuation pages.
    if levels:
        si.swap_map_cont[0] = [bytearray(4096) for _ in range(levels)]
        si.flags |= SWP_CONTINUED
    # Raise the count to capacity without adding pages: dup with page allocation failing.
    inject_fault("cont_alloc", times=-1)
    target = capacity
    # Walk the count up digit-wise through the real increment path.
    count = 1
    while count < target:
        assert swapfile.__swap_duplicate(e, 1, 1) == 0
        count += 1
    assert swapfile.swp_swapcount(e) == capacity
    assert swapfile.__swap_duplicate(e, 1, 1) == -ENOMEM
    assert swapfile.swap_dup_entry_direct(e) == -ENOMEM     # GFP_ATOMIC page refused
    assert swapfile.swp_swapcount(e) == capacity
    assert len(si.swap_map_cont.get(0, [])) == levels


def test_folio_dup_swap_atomic_failure(kernel):
    si = add_device()
    f = folio(0)
    folio_lock(f)
    swapfile.folio_alloc_swap(f)
    for _ in range(62):
        assert swapfile.folio_dup_swap(f, f.pages[0]) == 0
    inject_fault("page_alloc_atomic", times=1)
    assert swapfile.folio_dup_swap(f, f.pages[0]) == -ENOMEM
    assert byte(si, 1) == 0x40 | 0x3e
    assert swapfile.folio_dup_swap(f, f.pages[0]) == 0
    assert byte(si, 1) == 0x40 | COUNT_CONTINUED
    assert kernel.findings == []


# --- put / dup edge cases ----------------------------------------------------
def test_folio_put_swap_never_frees(kernel):
    si = add_device()
    f = folio(2)
    folio_lock(f)
    swapfile.folio_alloc_swap(f)
    swapfile.folio_dup_swap(f, None)
    assert [byte(si, swp_offset(f.swap) + i) for i in range(4)] == [0x41] * 4
    swapfile.folio_put_swap(f, None)
    assert [byte(si, swp_offset(f.swap) + i) for i in range(4)] == [0x40] * 4
    assert swapfile.swap_usage_in_pages(si) == 4
    assert swapfile.folio_free_swap(f)
    assert swapfile.swap_usage_in_pages(si) == 0
    consistent()


def test_folio_free_swap_refuses_while_swapped_or_writeback(kernel):
    add_device()
    f = folio(0)
    folio_lock(f)
    swapfile.folio_alloc_swap(f)
    swapfile.folio_dup_swap(f, f.pages[0])
    assert not swapfile.folio_free_swap(f)
    swapfile.folio_put_swap(f, f.pages[0])
    f.PG_writeback = True
    assert not swapfile.folio_free_swap(f)
    f.PG_writeback = False
    assert swapfile.folio_free_swap(f) and f.PG_dirty


def test_dup_of_free_slot_is_enoent_and_swallowed(kernel):
    si = add_device()
    e = swp_entry(0, 100)
    assert swapfile.__swap_duplicate(e, 1, 1) == -ENOENT
    assert swapfile.swap_dup_entry_direct(e) == 0
    assert byte(si, 100) == 0
    assert swapfile.__swap_duplicate(swp_entry(0, 0), 1, 1) == -ENOENT   # header is BAD
    assert [f.kind for f in kernel.findings] == ["vm-warn"]           # WARN_ON on the BAD slot


def test_double_put_is_count_underflow(kernel):
    add_device()
    e = swap_out_entry()
    f = folio(0)
    folio_lock(f)
    assert swap_cache_add_folio(f, e, None, False) == 0   # swap-in: count 1, cached
    swapfile.folio_put_swap(f, f.pages[0])
    swapfile.folio_put_swap(f, f.pages[0])
    kinds = [x.kind for x in kernel.findings]
    assert kinds == ["count-underflow"]
    assert kernel.findings[0].function == "swap_entry_put_locked"
    assert kernel.findings[0].entry == (0, 1)


def test_swap_put_entries_direct_bad_entry_warns_once(kernel):
    add_device()
    swapfile.swap_put_entries_direct(swp_entry(5, 1), 1)
    swapfile.swap_put_entries_direct(swp_entry(5, 1), 1)
    assert [f.kind for f in kernel.findings] == ["vm-warn"]
    assert kernel.findings[0].function == "swap_put_entries_direct"


def test_legacy_api_matches(kernel):
    si = add_device()
    e = swapfile.get_swap_page_of_type(0)
    assert swp_offset(e) == 1 and byte(si, 1) == 1
    assert swapfile.swap_duplicate(e) == 0 and byte(si, 1) == 2
    swapfile.swap_free(e)
    assert byte(si, 1) == 1
    swapfile.free_swap_and_cache(e)
    assert byte(si, 1) == 0
    swapfile.swap_free(e)                  # double free: logged, nothing changes
    from swaplab.include.linux.printk import dmesg
    assert dmesg[-1][2].startswith("_swap_info_get: Unused swap offset entry")
    consistent()


def test_hibernation_slot_t14f_layouts(kernel):
    ssd = add_device("/dev/vda", 64, "ssd")
    hdd = add_device("/dev/vdb", 64, "rotational")
    assert [swp_offset(swapfile.swap_alloc_hibernation_slot(0)) for _ in range(3)] == [1, 512, 1024]
    assert [swp_offset(swapfile.swap_alloc_hibernation_slot(1)) for _ in range(3)] == [1, 2, 3]
    assert byte(ssd, 512) == 1 and byte(hdd, 2) == 1
    for off in (1, 512, 1024):
        swapfile.swap_free_hibernation_slot(swp_entry(0, off))
    for off in (1, 2, 3):
        swapfile.swap_free_hibernation_slot(swp_entry(1, off))
    assert swapfile.swap_usage_in_pages(ssd) == swapfile.swap_usage_in_pages(hdd) == 0
    consistent()
    assert kernel.findings == []


def test_memcg_limit_s13(kernel):
    from swaplab.kernel.custom import mem_cgroup
    si = add_device()
    cg = mem_cgroup("oracle", swap_max=0)
    f = folio(0)
    f.memcg = cg
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == -ENOMEM
    assert byte(si, 1) == 0 and swapfile.swap_usage_in_pages(si) == 0
    assert cg.swap_fail_events == 1
    consistent()


# --- swapon / swapoff --------------------------------------------------------
def swapon_header(kernel, header: bytes, size: int = 4 * MB, **kw: object) -> int:
    register_backing(swap_backing("/dev/x", size, "ssd", header=header, **kw))  # type: ignore[arg-type]
    return swapfile.sys_swapon("/dev/x", 0)


@pytest.mark.parametrize("header,msg", [
    (mkswap_header(1024, magic=b"SWAP-SPACE"), "Unable to find swap-space signature"),
    (mkswap_header(1024, version=2), "Unable to handle swap header version 2"),
    (mkswap_header(1024, last_page=0), "Empty swap-file"),
    (mkswap_header(1024, last_page=5000), "Swap area shorter than signature indicates"),
    (mkswap_header(1024, badpages=[0]), "Bad slot offset is out of border"),
    (mkswap_header(1024, badpages=[3000]), "Bad slot offset is out of border"),
    (mkswap_header(1024, badpages=[5, 5]), "Duplicated bad slot offset"),
])
def test_swapon_bad_header(kernel, header, msg):
    from swaplab.include.linux.printk import dmesg
    assert swapon_header(kernel, header) == -EINVAL
    assert dmesg[-1][2] == msg
    assert swapfile.swap_show_rows() == [] and swapfile.total_swap_pages == 0
    assert swapfile.swap_info[0].flags == 0          # no half-enabled device


def test_swapon_too_many_badpages(kernel):
    import struct
    hdr = bytearray(mkswap_header(1024))
    struct.pack_into("<I", hdr, 1032, 638)
    assert swapon_header(kernel, bytes(hdr)) == -EINVAL


def test_swapon_byteswapped_header(kernel):
    assert swapon_header(kernel, mkswap_header(1024, badpages=[7], byteswap=True)) == 0
    si = swapfile.swap_info[0]
    assert si.pages == 1022 and si.swap_map[7] == SWAP_MAP_BAD
    assert si.cluster_info[0].count == 2


def test_swapon_badpages_and_tail(kernel):
    # 700 pages: cluster 1 holds slots 512..699 plus 324 pseudo-slots past the end.
    assert swapon_header(kernel, mkswap_header(700, badpages=[600]), size=700 * 4096) == 0
    si = swapfile.swap_info[0]
    assert si.max == 700 and si.pages == 698
    assert si.cluster_info[1].count == 512 - 188 + 1
    assert inspect.cluster_lists(si)["nonfull[0]"] == [0, 1]
    consistent()


def test_swapon_errors(kernel):
    assert swapfile.sys_swapon("/dev/nothing", 0) == -ENOENT
    register_backing(swap_backing("/dev/vda", 4 * MB, "ssd"))
    assert swapfile.sys_swapon("/dev/vda", 0x100000) == -EINVAL
    assert swapfile.sys_swapon("/dev/vda", 0) == 0
    assert swapfile.sys_swapon("/dev/vda", 0) == -EBUSY
    for i in range(1, MAX_SWAPFILES):
        register_backing(swap_backing(f"/dev/d{i}", 4 * MB, "ssd"))
        assert swapfile.sys_swapon(f"/dev/d{i}", 0) == 0
    register_backing(swap_backing("/dev/last", 4 * MB, "ssd"))
    assert swapfile.sys_swapon("/dev/last", 0) == -EPERM
    assert swapfile.sys_swapoff("/dev/d3") == 0
    assert swapfile.sys_swapon("/dev/last", 0) == 0
    assert swapfile.swap_info[3].swap_file.name == "/dev/last"    # lowest free type reused
    consistent()


def test_priorities_and_proc_swaps(kernel):
    add_device("/dev/vda", 1, "rotational", flags=SWAP_FLAG_PREFER | 10)
    add_device("/dev/vdb", 8, "rotational", flags=SWAP_FLAG_PREFER | 5)
    add_device("/dev/vdc", 8, "rotational")
    rows = swapfile.swap_show_rows()
    assert [(r["name"], r["priority"], r["size_kb"]) for r in rows] == [
        ("/dev/vda", 10, 1020), ("/dev/vdb", 5, 8188), ("/dev/vdc", -1, 8188)]
    assert swapfile.proc_swaps().splitlines()[1] == \
        "/dev/vda" + " " * 32 + "partition\t\t1020\t\t0\t\t10"
    # the higher priority device fills first, then allocation spills over
    entries = [swap_out_entry() for _ in range(300)]
    assert {swp_type(e) for e in entries[:255]} == {0}
    assert {swp_type(e) for e in entries[255:]} == {1}


def test_equal_priorities_round_robin(kernel):
    add_device("/dev/vda", 8, "rotational")
    add_device("/dev/vdb", 8, "rotational")
    types = [swp_type(swap_out_entry()) for _ in range(4)]
    assert types == [0, 1, 0, 1]


def test_swapoff_empty_and_busy(kernel):
    si = add_device()
    assert swapfile.sys_swapoff("/dev/vdz") == -ENOENT
    e = swapfile.swap_alloc_hibernation_slot(0)
    assert swapfile.sys_swapoff("/dev/vda") == -4            # EINTR: nothing can free it
    assert [f.kind for f in kernel.findings] == ["hang"]
    assert si.flags & SWP_WRITEOK                             # re-enabled
    consistent()
    swapfile.swap_free_hibernation_slot(e)
    assert swapfile.sys_swapoff("/dev/vda") == 0
    assert swapfile.swap_show_rows() == [] and swapfile.total_swap_pages == 0
    assert swapfile.sys_swapoff("/dev/vda") == -EINVAL


def test_swapoff_frees_cache_only_slots(kernel):
    add_device()
    f = folio(0)
    folio_lock(f)
    swapfile.folio_alloc_swap(f)
    folio_unlock(f)
    assert swapfile.sys_swapoff("/dev/vda") == 0
    assert not f.PG_swapcache


def test_discard_device_goes_through_discard_list(kernel):
    from swaplab.include.linux.swap import SWAP_FLAG_DISCARD, SWP_PAGE_DISCARD
    from swaplab.kernel.custom import flush_scheduled_work
    si = add_device(mb=4, discard=True, flags=SWAP_FLAG_DISCARD)
    assert si.flags & SWP_PAGE_DISCARD and si.bdev.area_discards == 1
    f = folio(9)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == 0 and swp_offset(f.swap) == 512
    assert swapfile.folio_free_swap(f)
    assert inspect.cluster_lists(si)["discard"] == [1]
    assert flush_scheduled_work() == 1
    assert inspect.cluster_lists(si)["discard"] == [] and si.bdev.discards == 1
    assert si.cluster_info[1].flags == CLUSTER_FLAG_FREE
    consistent()


def test_sync_discard_on_allocation_failure(kernel):
    from swaplab.include.linux.swap import SWAP_FLAG_DISCARD
    si = add_device(mb=4, discard=True, flags=SWAP_FLAG_DISCARD)
    big = folio(9)
    folio_lock(big)
    assert swapfile.folio_alloc_swap(big) == 0
    small = [swap_out_entry() for _ in range(511)]   # fills cluster 0
    assert swapfile.folio_free_swap(big)             # cluster 1 -> discard list
    assert inspect.cluster_lists(si)["discard"] == [1]
    assert swp_offset(swap_out_entry()) == 512        # swap_sync_discard() made room
    assert len(small) == 511


def test_cluster_flags_after_partial_free(kernel):
    si = add_device()
    entries = [swap_out_entry() for _ in range(511)]    # cluster 0 full
    assert si.cluster_info[0].flags == CLUSTER_FLAG_FULL
    swapfile.swap_put_entries_direct(entries[0], 1)
    assert si.cluster_info[0].flags == CLUSTER_FLAG_NONFULL
    consistent()


def test_try_to_reclaim_swap_flags(kernel):
    si = add_device()
    f = folio(0)
    folio_lock(f)
    swapfile.folio_alloc_swap(f)
    f.total_mapcount = 1
    assert swapfile.__try_to_reclaim_swap(si, 1, swapfile.TTRS_UNMAPPED) == -1   # locked by us
    folio_unlock(f)
    assert swapfile.__try_to_reclaim_swap(si, 1, swapfile.TTRS_UNMAPPED) == -1   # mapped
    f.total_mapcount = 0
    assert swapfile.__try_to_reclaim_swap(si, 1, swapfile.TTRS_UNMAPPED) == 1
    assert byte(si, 1) == 0
    assert swapfile.__try_to_reclaim_swap(si, 1, swapfile.TTRS_ANYWAY) == 0
