"""mm/ksm.py: ksmd merging, counters, unmerge, KSM COW, rmap walk, swap-in copies, run=2.

Page pictures: K = pte maps a KSM page, . = anything else; slot pictures as
in test_memory.py (S swap pte, C present + swap cache, P present).
"""

from __future__ import annotations

import pytest
from test_memory import ledger_problems, make_world, pte_of, states

from swaplab.check import findings
from swaplab.include.linux.mm_types import VM_MERGEABLE
from swaplab.kernel.dup import folio, folio_lock, folio_unlock
from swaplab.mm import ksm
from swaplab.mm.ksm import ksm_might_need_to_copy, ksm_sysfs_show
from swaplab.mm.swap import swap_info
from swaplab.mm.swapfile import swap_map_count
from swaplab.mm.vmstat import vm_event_states
from swaplab.sim.world import World


def ksm_world(kind: str = "rotational", npages: int = 8) -> World:
    """run=1, one full scan per wake-up, ksmd sleeping long between wake-ups."""
    w = make_world(kind)
    for name, value in (("pages_to_scan", "10000"), ("sleep_millisecs", "600000"), ("run", "1")):
        assert w.write_file(w.main, "/sys/kernel/mm/ksm/" + name, value) == 0
    w.map(w.main, npages)
    return w


def kmap(w: World) -> str:
    return "".join("K" if k else "." for k in w.ksm_flags(w.main))


def counters() -> tuple[int | None, int | None]:
    return ksm_sysfs_show("pages_shared"), ksm_sysfs_show("pages_sharing")


def test_merging_needs_a_page_seen_unchanged_in_two_full_scans() -> None:
    # page   01234567     0..3 one pattern, 4..7 unique
    w = ksm_world()
    w.write(w.main, 0, 4, pattern=0)
    w.write(w.main, 4, 8)
    w.madvise(w.main, 0, 8, "merge")          # wakes ksmd: scan 1 records checksums
    assert ksm_sysfs_show("full_scans") == 1
    assert kmap(w) == "........" and counters() == (0, 0)
    assert w.ksm_wait(1) == (True, 1)         # scan 2 merges
    assert kmap(w) == "KKKK...." and counters() == (1, 3)
    assert w.ksm_wait(1) == (True, 1)         # scan 3 changes nothing
    assert kmap(w) == "KKKK...." and counters() == (1, 3)
    assert w.read(w.main, 0, 8) == (0, 0, 0)
    assert findings.log.findings == []


def test_the_second_page_of_a_group_becomes_the_ksm_folio() -> None:
    # The first page waits in the unstable tree; the second matches it and
    # is upgraded in place; the first is merged into it, the rest join it.
    w = ksm_world()
    w.write(w.main, 0, 3, pattern=5)
    second = pte_of(w, w.main, 1).page.folio
    w.madvise(w.main, 0, 8, "merge")
    w.ksm_wait(1)
    assert all(pte_of(w, w.main, i).page.folio is second for i in range(3))
    assert second.PG_ksm and second.total_mapcount == 3
    assert not pte_of(w, w.main, 0).write     # KSM ptes are read-only


def test_ksmd_runs_once_per_wake_up() -> None:
    w = make_world()
    w.map(w.main, 4)
    w.write(w.main, 0, 4, pattern=1)
    assert w.write_file(w.main, "/sys/kernel/mm/ksm/sleep_millisecs", "600000") == 0
    w.madvise(w.main, 0, 4, "merge")          # run is 0: ksmd stays idle
    assert ksm_sysfs_show("full_scans") == 0
    assert w.ksm_wait(1) == (False, 0)        # nothing to wake: times out
    w.write_file(w.main, "/sys/kernel/mm/ksm/run", "1")   # run=1 wakes it: scan 1
    assert ksm_sysfs_show("full_scans") == 1
    w.write_file(w.main, "/sys/kernel/mm/ksm/run", "1")   # sleeping between batches: no scan
    assert ksm_sysfs_show("full_scans") == 1
    w.sleep(599999)
    assert ksm_sysfs_show("full_scans") == 1
    w.sleep(1)                                # its sleep times out: scan 2
    assert ksm_sysfs_show("full_scans") == 2 and kmap(w) == "KKKK"


def test_unmerge_gives_private_copies_and_leaves_the_counters() -> None:
    w = ksm_world()
    w.write(w.main, 0, 4, pattern=0)
    w.madvise(w.main, 0, 8, "merge")
    w.ksm_wait(1)
    w.madvise(w.main, 1, 2, "unmerge")
    assert kmap(w) == "K.KK...." and vm_event_states["cow_ksm"] == 1
    assert counters() == (1, 3)               # only a scan or run=2 moves them
    # The VMA is split: [0,1) and [2,8) stay mergeable, [1,2) is not.
    flags = [bool(v.vm_flags & VM_MERGEABLE) for v in w.main.mm.mmap]
    assert flags == [True, False, True]
    w.ksm_wait(1)                             # the next scan drops page 1's rmap item
    assert counters() == (1, 2)
    assert w.read(w.main, 0, 8) == (0, 0, 0)


def test_write_to_a_ksm_page_copies_it() -> None:
    w = ksm_world()
    w.write(w.main, 0, 2, pattern=0)
    w.madvise(w.main, 0, 8, "merge")
    w.ksm_wait(1)
    w.write(w.main, 0, 1)
    assert kmap(w) == ".K......" and vm_event_states["cow_ksm"] == 1
    assert pte_of(w, w.main, 0).write
    assert w.read(w.main, 0, 8) == (0, 0, 0)


def test_run_2_breaks_every_mapping_and_drops_the_stable_tree() -> None:
    w = ksm_world()
    w.write(w.main, 0, 3, pattern=0)
    w.write(w.main, 3, 5, pattern=1)
    w.madvise(w.main, 0, 8, "merge")
    w.ksm_wait(1)
    assert counters() == (2, 3)
    assert w.write_file(w.main, "/sys/kernel/mm/ksm/run", "2") == 0
    assert kmap(w) == "........" and counters() == (0, 0)
    assert vm_event_states["cow_ksm"] == 5    # every pte, the last mapper's too
    assert ksm_sysfs_show("full_scans") == 0 and not ksm.root_stable_tree
    assert w.read(w.main, 0, 8) == (0, 0, 0)


def test_reclaim_unmaps_a_ksm_page_through_its_stable_node() -> None:
    # 48 ptes on one KSM page -> one slot with count 48 (oracle ksm1 k4)
    w = ksm_world("sync", npages=48)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 48, pattern=0)
    w.memcg_leave(w.main)
    w.madvise(w.main, 0, 48, "merge")
    w.ksm_wait(1)
    w.madvise(w.main, 0, 48, "pageout")       # mapped 48 times: MADV_PAGEOUT skips it
    assert states(w, w.main) == "P" * 48
    assert w.memory_reclaim(w.main, 1024) == -11
    assert states(w, w.main) == "S" * 48
    entries = {w.page_states(w.main)[1][i] for i in range(48)}
    assert len(entries) == 1
    (type_, offset), = entries
    assert swap_map_count(swap_info[type_], offset) == 48
    assert not ledger_problems(w)
    assert counters() == (1, 47)              # swap-out does not move them


def test_swap_in_copies_for_other_addresses_of_the_slot() -> None:
    # SSSS (one slot, the KSM page gone) -> read -> C P P P, ksm_swpin_copy 3
    w = ksm_world("rotational", npages=4)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 4, pattern=0)
    w.madvise(w.main, 0, 4, "merge")
    w.ksm_wait(1)
    w.memory_reclaim(w.main, 1024)
    w.memory_reclaim(w.main, 1024)            # the second pass frees it from the cache
    assert states(w, w.main) == "SSSS" and w.counters()["swapcached_kb"] == 0
    w.read(w.main, 0, 4)
    assert states(w, w.main) == "CPPP" and vm_event_states["ksm_swpin_copy"] == 3
    assert kmap(w) == "...." and not ledger_problems(w)


def _locked_folio() -> folio:
    f = folio(0)
    folio_lock(f)
    return f


def test_ksm_might_need_to_copy_conditions() -> None:
    w = ksm_world(npages=2)
    w.write(w.main, 0, 2)
    vma = w.main.mm.mmap[0]
    a0, a1 = vma.vm_start, vma.vm_start + 4096
    mapped = pte_of(w, w.main, 0).page.folio  # anon, index of page 0
    folio_lock(mapped)
    assert ksm_might_need_to_copy(mapped, vma, a0) is mapped
    copy = ksm_might_need_to_copy(mapped, vma, a1)    # another address: copied
    assert copy is not mapped and copy.pages[0].content == mapped.pages[0].content
    assert copy.PG_dirty and vm_event_states["ksm_swpin_copy"] == 1
    folio_unlock(mapped)
    fresh = _locked_folio()                   # not anon yet (fresh swap-in): no copy
    assert ksm_might_need_to_copy(fresh, vma, a1) is fresh
    large = folio(1)
    assert ksm_might_need_to_copy(large, vma, a1) is large
    kf = _locked_folio()
    ksm.folio_set_stable_node(kf, ksm.ksm_stable_node(kf))
    assert ksm_might_need_to_copy(kf, vma, a0) is kf  # KSM with its node, run 1
    ksm.folio_set_stable_node(kf, None)
    assert ksm_might_need_to_copy(kf, vma, a0) is not kf  # node gone
    ksm.folio_set_stable_node(kf, ksm.ksm_stable_node(kf))
    w.write_file(w.main, "/sys/kernel/mm/ksm/run", "2")
    assert ksm_might_need_to_copy(kf, vma, a0) is not kf  # unmerge mode
    assert vm_event_states["ksm_swpin_copy"] == 3


@pytest.mark.parametrize("variant,ok", [(None, True), ("v5", False)])
def test_swapoff_of_a_ksm_slot_puts_the_swap_cache_folio(variant: str | None, ok: bool) -> None:
    """Spec §6.3: unuse_pte() maps KSM copies; T14F puts the slot of the
    swap-cache folio, T14 (v5) the copy's (offset 0): the slot leaks and
    swapoff loops until -EINTR."""
    from swaplab.variants import using

    def run() -> tuple[int, World]:
        w = ksm_world("rotational", npages=4)
        w.memcg_enter(w.main)
        w.write(w.main, 0, 4, pattern=0)
        w.madvise(w.main, 0, 4, "merge")
        w.ksm_wait(1)
        w.memory_reclaim(w.main, 1024)
        w.memory_reclaim(w.main, 1024)
        return w.swapoff(w.main, "/dev/swap0"), w

    if variant is None:
        rc, w = run()
    else:
        with using(variant):
            rc, w = run()
    copies = vm_event_states["ksm_swpin_copy"]
    assert copies == 3                        # pages 1..3 copy page 0's read
    if ok:
        assert rc == 0 and states(w, w.main) == "PPPP"
        assert w.read(w.main, 0, 4) == (0, 0, 0) and findings.log.findings == []
    else:
        assert rc == -4 and w.counters()["used_kb"] == 4
        assert {f.kind for f in findings.log.findings} == {"vm-warn", "hang"}


def test_rmap_walk_ksm_visits_every_mapping() -> None:
    from swaplab.mm.rmap import rmap_walk
    w = ksm_world(npages=4)
    w.write(w.main, 0, 4, pattern=3)
    w.madvise(w.main, 0, 4, "merge")
    w.ksm_wait(1)
    kf = pte_of(w, w.main, 0).page.folio
    seen: list[int] = []
    folio_lock(kf)
    rmap_walk(kf, lambda f, vma, addr, arg: seen.append(addr) or True, None, None, False)
    folio_unlock(kf)
    base = w.main.anon.addr  # type: ignore[union-attr]
    assert sorted(seen) == [base + i * 4096 for i in range(4)]


# Recorded on Linux 7.2.13 (kernel-oracle, brd) for this file: merge does one
# scan (nothing merged), the second scan merges, a scan after MADV_UNMERGEABLE
# drops the unmerged page's rmap item, run=2 breaks the 4 mappings left.
KSM_SCANS_OPS = """\
swapon @swapdev
sysctl vm/page-cluster 0
write_file /sys/kernel/mm/ksm/pages_to_scan 10000
write_file /sys/kernel/mm/ksm/sleep_millisecs 600000
write_file /sys/kernel/mm/ksm/run 1
map 8
write_same 0 3
write_same 3 5 1
write 5 8
report s0
merge
report s1_merge_one_scan
ksm_wait 1
report s2_two_scans
unmerge 1 2
ksm_wait 1
report s3_after_unmerge_scan
write_file /sys/kernel/mm/ksm/run 2
report s4_run2
"""
KSM_SCANS_KERNEL = [("s0", 0, 0, ".8", 0), ("s1_merge_one_scan", 0, 0, ".8", 0),
                    ("s2_two_scans", 2, 3, "K5.3", 0), ("s3_after_unmerge_scan", 2, 2, "K1.1K3.3", 1),
                    ("s4_run2", 0, 0, ".8", 5)]


@pytest.mark.parametrize("swapdev", ["virtio", "brd"])
def test_scan_counts_match_linux_7_2(swapdev: str) -> None:
    from swaplab.oracle.ops import parse_ops
    from swaplab.oracle.replay import replay
    run = replay(parse_ops(KSM_SCANS_OPS, "ksm-scans.ops"), swapdev)
    got = [(r["label"], r["ksm_pages_shared"], r["ksm_pages_sharing"], r["ksm_map"], r["cow_ksm"])
           for r in run["reports"]]
    assert got == KSM_SCANS_KERNEL
    assert run["ops"][-3:] == ["ksm_wait 1 -> ok", "ksm_wait 1 -> ok",
                               "write_file /sys/kernel/mm/ksm/run=2 -> 0"]


def test_fork_and_exit_enter_and_leave_ksm() -> None:
    # ksm_fork(): the child of an MMF_VM_MERGEABLE mm is on ksmd's list; the last
    # mmput() calls __ksm_exit(), which frees a slot without rmap items at once.
    w = ksm_world()
    w.write(w.main, 0, 8, pattern=1)
    w.madvise(w.main, 0, 8, "merge")
    assert ksm.mm_flags_test_vm_mergeable(w.main.mm)
    child = w.fork(w.main, "child")
    assert not isinstance(child, int)
    assert ksm.mm_flags_test_vm_mergeable(child.mm)
    assert [s.mm for s in ksm.ksm_mm_head] == [w.main.mm, child.mm]
    assert all(vma.vm_flags & VM_MERGEABLE for vma in child.mm.mmap)
    mm = child.mm
    w.exit(child)
    assert not ksm.mm_flags_test_vm_mergeable(mm)
    assert [s.mm for s in ksm.ksm_mm_head] == [w.main.mm]
    assert w.read(w.main, 0, 8) == (0, 0, 0)
    assert findings.log.findings == []


def test_fork_of_an_unmergeable_mm_stays_out_of_ksm() -> None:
    w = ksm_world()
    w.write(w.main, 0, 8)
    child = w.fork(w.main, "child")
    assert not isinstance(child, int)
    assert not ksm.mm_flags_test_vm_mergeable(child.mm) and ksm.ksm_mm_head == []
