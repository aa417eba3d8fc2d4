"""mm/page_io.py: zero-filled folios, content tokens, synchronous and asynchronous writes."""

from __future__ import annotations

import pytest
from test_memory import make_world, pte_of, states

from swaplab.check import findings
from swaplab.include.linux import printk
from swaplab.include.linux.pgtable import PTE_MARKER_POISONED, is_pte_marker
from swaplab.include.linux.swapops import swp_offset
from swaplab.kernel.custom import inject_fault
from swaplab.mm.page_io import swap_bios_inflight, swap_complete_inflight_io
from swaplab.mm.swap import swap_info
from swaplab.mm.swap_state import swap_cache_get_folio
from swaplab.mm.vmstat import vm_event_states
from swaplab.sim.world import World


def test_zero_folio_goes_to_the_zeromap() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2, zero=True)
    w.madvise(w.main, 0, 2, "pageout")
    assert vm_event_states["swpout_zero"] == 2 and vm_event_states["pswpout"] == 0
    assert states(w, w.main) == "SS" and w.counters()["swapcached_kb"] == 0
    assert w.read(w.main, 0, 2) == (0, 0, 0)
    assert vm_event_states["swpin_zero"] == 2 and vm_event_states["pswpin"] == 0


def test_written_slot_holds_the_page_token() -> None:
    w = make_world("sync")
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    token = w.main.anon.expected[0]  # type: ignore[union-attr]
    w.madvise(w.main, 0, 1, "pageout")
    e = pte_of(w, w.main, 0).entry
    assert swap_info[0].swap_data[swp_offset(e)] == token
    w.read(w.main, 0, 1)
    assert swp_offset(e) not in swap_info[0].swap_data       # slot freed with its data
    assert findings.log.findings == []


def test_async_write_completes_when_the_block_layer_says_so() -> None:
    from swaplab.kernel.locking import set_current
    from swaplab.mm.madvise import MADV_PAGEOUT, do_madvise
    w = make_world()
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    set_current(w.main.task)
    do_madvise(w.main.mm, w.main.anon.addr, 4096, MADV_PAGEOUT)  # type: ignore[union-attr]
    assert len(swap_bios_inflight) == 1 and swap_bios_inflight[0].bi_folio.PG_writeback
    assert swap_complete_inflight_io() == 1
    assert not swap_bios_inflight


@pytest.mark.parametrize("kind", ["rotational", "sync"])
def test_swap_write_io_error_redirties_and_keeps_the_folio_cached(kind: str) -> None:
    # page  01      write of page 0 fails: its folio is redirtied, stays in the swap cache
    # pte   SS      (both unmapped); slot count 1 each; page 1 written (sync: freed from cache)
    w = make_world(kind)
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    inject_fault("swap_write_io")
    w.madvise(w.main, 0, 2, "pageout")
    assert states(w, w.main) == "SS"
    e0 = pte_of(w, w.main, 0).entry
    f = swap_cache_get_folio(e0)
    assert f is not None and f.PG_dirty and not f.PG_writeback and not f.PG_reclaim
    assert swp_offset(e0) not in swap_info[0].swap_data       # the device kept nothing
    assert [t for _, lvl, t in printk.dmesg if lvl == "alert"] == \
        [f"Write-error on swap-device (0:0:{swp_offset(e0) * 8})"]
    assert w.counters()["swapcached_kb"] == (8 if kind == "rotational" else 4)
    # The data is safe in the cached folio; a swap-in maps it back.
    assert w.read(w.main, 0, 2) == (0, 0, 0)
    w.exit(w.main)
    assert w.counters()["used_kb"] == 0 and w.counters()["swapcached_kb"] == 0
    assert findings.log.findings == []


def swapped_out_world(kind: str, npages: int = 2) -> World:
    """``npages`` written pages swapped out and out of the swap cache (S ptes, no folio)."""
    w = make_world(kind)
    w.memcg_enter(w.main)
    w.map(w.main, npages)
    w.write(w.main, 0, npages)
    w.madvise(w.main, 0, npages, "pageout")
    w.memory_reclaim(w.main, 4 * npages)      # evicts what writeback left in the cache
    assert states(w, w.main) == "S" * npages and w.counters()["swapcached_kb"] == 0
    return w


@pytest.mark.parametrize("kind", ["rotational", "sync"])
def test_swap_read_io_error_is_sigbus(kind: str) -> None:
    # page  01   read of page 0 fails: folio !uptodate -> VM_FAULT_SIGBUS
    # pte   SS   -> the process is killed; exit_mm zaps both swap ptes: slots freed
    w = swapped_out_world(kind)
    inject_fault("swap_read_io")
    assert w.read(w.main, 0, 2) == (0, 0, 0)
    assert not w.main.alive and w.main.killed_by == "SIGBUS"
    assert "parent" not in w.processes
    assert printk.dmesg[-1][1:] == ("alert", "Read-error on swap-device (0:0:8)")
    assert vm_event_states["pswpin"] == 1          # counted when the bio was submitted
    assert w.counters()["used_kb"] == 0 and w.counters()["swapcached_kb"] == 0
    assert findings.log.findings == []
    with pytest.raises(Exception, match="killed by SIGBUS"):
        w.read(w.main, 0, 1)


def test_swapoff_read_error_leaves_a_poisoned_marker() -> None:
    # page  01   swapoff reads page 0 with an error: unuse_pte() installs a poisoned
    # pte   SS   marker (MM_SWAPENTS -1, the count still put); page 1 comes back.
    from swaplab.include.linux.mm_types import MM_SWAPENTS
    w = swapped_out_world("rotational")
    inject_fault("swap_read_io")
    assert w.swapoff(w.main, "/dev/swap0") == 0
    pte = pte_of(w, w.main, 0)
    assert is_pte_marker(pte) and pte.entry == PTE_MARKER_POISONED
    assert states(w, w.main) == "-P"
    assert w.main.mm.rss_stat[MM_SWAPENTS] == 0
    # Touching the poisoned page: SIGBUS.
    w.read(w.main, 0, 1)
    assert w.main.killed_by == "SIGBUS"
    assert findings.log.findings == []


def test_shmem_read_error_leaves_the_swapin_error_marker() -> None:
    # shm page 0 swapped out; its swap-in read fails: shmem_set_folio_swapin_error()
    # frees the slot; the fault is VM_FAULT_SIGBUS and the process is killed.
    # XX: the exit truncates the file, and shmem_free_swap() hands the swapin-error
    # marker to swap_put_entries_direct(): get_swap_device() finds no device and
    # T14F's WARN_ON_ONCE(!si) fires (free_swap_and_cache_nr() only returned);
    # the marker then counts as a freed swap page in shmem_recalc_inode(), which
    # shmem_evict_inode()'s accounting check sees.  Open: confirm on a kernel.
    w = make_world("sync")
    w.shm_map(w.main, 2)
    w.write(w.main, 0, 2, region="shm")
    w.madvise(w.main, 0, 2, "pageout", region="shm")
    assert w.counters()["used_kb"] == 8
    inject_fault("swap_read_io")
    w.read(w.main, 0, 1, region="shm")
    assert w.main.killed_by == "SIGBUS"
    assert w.counters()["used_kb"] == 0 and w.counters()["swapcached_kb"] == 0
    assert {(f.kind, f.function) for f in findings.log.findings} <= \
        {("vm-warn", "swap_put_entries_direct"), ("vm-warn", "shmem_evict_inode")}


def test_page_alloc_failure_in_swapin_is_oom() -> None:
    # do_swap_page(): no folio, the pte unchanged -> VM_FAULT_OOM; the OOM killer
    # kills the faulting task (no finding); its swap entries are freed by exit_mm.
    for kind in ("rotational", "sync"):
        w = swapped_out_world(kind)
        inject_fault("page_alloc")
        w.read(w.main, 0, 2)
        assert w.main.killed_by == "SIGKILL"
        assert w.counters()["used_kb"] == 0
        assert findings.log.findings == []
