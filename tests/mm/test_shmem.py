"""mm/shmem.py: writeout, swap-in, swap-in error, hole punch, close, swapoff of shmem pages.

Page pictures of a shm region (the oracle's letters): P mapped here,
R resident but not mapped here (page cache, or swap cache over a swap
entry), S only in swap, - hole.  Every swap entry a shmem file holds has
swap count exactly 1 (spec §5.8).
"""

from __future__ import annotations

import pytest
from test_memory import KINDS, make_world

from swaplab.check import findings
from swaplab.include.linux.swapops import swp_offset
from swaplab.mm import shmem
from swaplab.mm.page_io import AOP_WRITEPAGE_ACTIVATE
from swaplab.mm.shmem import (
    SGP_CACHE,
    SHMEM_I,
    file_inode,
    is_poisoned_swp_entry,
    radix_to_swp_entry,
    shmem_get_folio_gfp,
    shmem_swaplist,
    xa_is_value,
    xa_load,
)
from swaplab.mm.swap import swap_info
from swaplab.mm.swap_state import swap_cache_get_folio
from swaplab.mm.swapfile import swap_map_count
from swaplab.mm.vmstat import vm_event_states
from swaplab.sim.world import Process, World
from swaplab.kernel.dup import folio_put, list_empty


def shm_states(w: World, proc: Process) -> str:
    return "".join(w.shm_page_states(proc))


def shmem_ledger(w: World, proc: Process) -> list[str]:
    """Every swap entry of the file has count 1; with the anon ptes, every count is explained."""
    assert proc.shm is not None
    mapping = proc.shm.file.f_mapping
    problems = []
    for index, entry in mapping.i_pages.slots.items():
        if not xa_is_value(entry):
            continue
        swp = radix_to_swp_entry(entry)
        if is_poisoned_swp_entry(swp):
            continue
        si = swap_info[0]
        count = swap_map_count(si, swp_offset(swp))
        if count != 1:
            problems.append(f"index {index}: slot {swp_offset(swp)} count {count}")
    return problems


def shm_world(kind: str = "rotational", npages: int = 8) -> World:
    w = make_world(kind)
    w.shm_map(w.main, npages)
    w.write(w.main, 0, npages, region="shm")
    return w


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_shmem_writeout_replaces_the_folio_by_its_swap_entry(kind: str) -> None:
    # index  0123    after pageout: async RRRR (swap cache, writeback done)
    #                                brd   SSSS (freed at pageout)
    w = shm_world(KINDS[kind], 4)
    w.madvise(w.main, 0, 4, "pageout", region="shm")
    assert shm_states(w, w.main) == ("S" if kind == "brd" else "R") * 4
    info = SHMEM_I(file_inode(w.main.shm.file))
    assert info.swapped == 4 and info.alloced == 4
    assert not list_empty(info.swaplist)
    assert w.shm_swap_kb(w.main) == 16
    c = w.counters()
    assert c["used_kb"] == 16 and c["pswpout"] == 4
    assert c["swapcached_kb"] == (0 if kind == "brd" else 16)
    assert not shmem_ledger(w, w.main)     # ledger_problems() counts pte owners only
    assert findings.log.findings == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_shmem_swapin_frees_the_slot_even_from_the_swap_cache(kind: str) -> None:
    w = shm_world(KINDS[kind], 4)
    w.madvise(w.main, 0, 4, "pageout", region="shm")
    faults = vm_event_states["pgmajfault"]
    assert w.read(w.main, 0, 2, region="shm") == (0, 0, 0)
    assert shm_states(w, w.main) == "PP" + ("SS" if kind == "brd" else "RR")
    c = w.counters()
    assert c["used_kb"] == 8
    # A swap-cache hit is no major fault; a device read is.
    assert vm_event_states["pgmajfault"] - faults == (2 if kind == "brd" else 0)
    assert SHMEM_I(file_inode(w.main.shm.file)).swapped == 2
    assert findings.log.findings == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_punch_hole_and_close_free_the_swap(kind: str) -> None:
    # index    01234567
    # pageout  RRRRRRPP   (brd: S)   pages 0..5 to swap
    # read 0 2 PPRRRRPP
    # punch 2 4 PP--RRPP
    w = shm_world(KINDS[kind], 8)
    w.madvise(w.main, 0, 6, "pageout", region="shm")
    w.read(w.main, 0, 2, region="shm")
    assert w.punch(w.main, 2, 4) == 0
    s = "S" if kind == "brd" else "R"
    assert shm_states(w, w.main) == "PP--" + s * 2 + "PP"
    assert w.counters()["used_kb"] == 8
    assert w.read(w.main, 0, 8, region="shm") == (0, 0, 0)   # the hole reads zeros
    w.madvise(w.main, 0, 8, "pageout", region="shm")
    info = SHMEM_I(file_inode(w.main.shm.file))
    w.unmap(w.main, "shm")
    assert w.counters()["used_kb"] == 0 and w.counters()["swapcached_kb"] == 0
    assert info.alloced == 0 and info.swapped == 0 and list_empty(shmem_swaplist)
    assert findings.log.findings == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_swapoff_brings_shmem_pages_back(kind: str) -> None:
    w = shm_world(KINDS[kind], 6)
    w.madvise(w.main, 0, 6, "pageout", region="shm")
    assert w.swapoff(w.main, "/dev/swap0") == 0
    assert shm_states(w, w.main) == "R" * 6          # in the page cache, not mapped
    assert w.counters()["swaps"] == 0
    assert w.read(w.main, 0, 6, region="shm") == (0, 0, 0)
    assert list_empty(shmem_swaplist)
    assert findings.log.findings == []


def test_spawned_process_shares_the_file_but_no_ptes() -> None:
    w = shm_world("rotational", 4)
    w.madvise(w.main, 0, 2, "pageout", region="shm")
    child = w.fork(w.main, "child")
    assert shm_states(w, child) == "RRRR"             # no ptes copied
    assert w.read(child, 0, 4, region="shm") == (0, 0, 0)
    assert shm_states(w, child) == "PPPP"
    assert shm_states(w, w.main) == "RRPP"            # the parent's ptes are its own
    w.write(child, 3, 4, region="shm")
    assert w.read(w.main, 0, 4, region="shm") == (0, 0, 0)   # one file, one content
    w.exit(child)
    w.unmap(w.main, "shm")
    assert w.counters()["used_kb"] == 0
    assert findings.log.findings == []


def test_swapin_read_error_leaves_the_swapin_error_marker() -> None:
    # A read that failed leaves a !uptodate folio in the swap cache.
    w = shm_world("rotational", 2)
    w.madvise(w.main, 0, 2, "pageout", region="shm")
    ino = file_inode(w.main.shm.file)
    entry = radix_to_swp_entry(xa_load(ino.i_mapping.i_pages, 0))
    cached = swap_cache_get_folio(entry)
    assert cached is not None
    cached.PG_uptodate = False
    folio_put(cached)
    foliop: list[object] = [None]
    assert shmem_get_folio_gfp(ino, 0, 0, foliop, SGP_CACHE, 0, None, None) == -5   # -EIO
    assert is_poisoned_swp_entry(radix_to_swp_entry(xa_load(ino.i_mapping.i_pages, 0)))
    info = SHMEM_I(ino)
    assert info.swapped == 1 and info.alloced == 1
    assert w.counters()["used_kb"] == 4                # the slot was released
    assert shmem_get_folio_gfp(ino, 0, 0, foliop, SGP_CACHE, 0, None, None) == -5
    assert findings.log.findings == []


def test_writeout_activate_puts_the_folio_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # swap_writeout() asks to activate (zswap could neither store nor write
    # back): rebind the name in mm/shmem.py as a variant would.
    def swap_writeout(folio, plug=None):  # type: ignore[no-untyped-def]
        folio.PG_dirty = True
        return AOP_WRITEPAGE_ACTIVATE
    monkeypatch.setattr(shmem, "swap_writeout", swap_writeout)
    w = shm_world("rotational", 2)
    w.madvise(w.main, 0, 2, "pageout", region="shm")
    info = SHMEM_I(file_inode(w.main.shm.file))
    assert shm_states(w, w.main) == "RR"              # back in the page cache
    assert all(not xa_is_value(xa_load(w.main.shm.file.f_mapping.i_pages, i)) for i in range(2))
    assert info.swapped == 0 and w.counters()["used_kb"] == 0
    assert w.counters()["swapcached_kb"] == 0
    assert w.read(w.main, 0, 2, region="shm") == (0, 0, 0)
    assert findings.log.findings == []


def test_truncating_a_swapin_error_entry_warns_at_T14F() -> None:
    # T14F text: shmem_free_swap() hands the poisoned entry to
    # swap_put_entries_direct(), whose get_swap_device() fails: WARN_ON_ONCE
    # (T13's free_swap_and_cache_nr() returned silently).  And the
    # swapin-error path already dropped alloced/swapped, which truncation
    # drops again (Kemeng Shi's 2025 fix "correctly pass alloced parameter
    # to shmem_recalc_inode()" is not in T14F): shmem_evict_inode() warns.
    w = shm_world("rotational", 2)
    w.madvise(w.main, 0, 2, "pageout", region="shm")
    ino = file_inode(w.main.shm.file)
    cached = swap_cache_get_folio(radix_to_swp_entry(xa_load(ino.i_mapping.i_pages, 0)))
    assert cached is not None
    cached.PG_uptodate = False
    folio_put(cached)
    assert shmem_get_folio_gfp(ino, 0, 0, [None], SGP_CACHE, 0, None, None) == -5
    w.unmap(w.main, "shm")
    assert w.counters()["used_kb"] == 0
    where = sorted(f.function for f in findings.log.findings)
    assert where == ["shmem_evict_inode", "swap_put_entries_direct"]
