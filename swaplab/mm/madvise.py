"""mm/madvise.c: MADV_PAGEOUT, MADV_COLD, MADV_DONTNEED, MADV_FREE, MADV_WILLNEED on anon memory.

* MADV_PAGEOUT / MADV_COLD (madvise_cold_or_pageout_pte_range()): swap
  ptes are left alone; a present folio mapped more than once is skipped
  (a shared folio is not this process's to reclaim); pageout isolates the
  rest and hands each page-table's batch to reclaim_pages() (mm/vmscan.py);
  cold only deactivates.
* MADV_DONTNEED: zap_page_range_single() (mm/memory.py).
* MADV_FREE (madvise_free_pte_range()): swap ptes are released with
  ``swap_put_entries_direct()`` and cleared; a present folio in the swap
  cache, or dirty, must be mapped once and lose its swap space
  (``folio_free_swap()``), else it is skipped; then it is made lazy-free
  (clean, not swap-backed), to be discarded by the next reclaim unless
  written again.
* MADV_WILLNEED: every swap pte's slot is read into the swap cache.
* MADV_MERGEABLE / MADV_UNMERGEABLE: ksm_madvise() (mm/ksm.py), then the
  range gets the new VM_MERGEABLE flag (madvise_update_vma(), splitting
  the VMA).
"""

from __future__ import annotations

from swaplab.include.linux.mm_types import MM_SWAPENTS, add_mm_counter, mm_struct, vm_area_struct
from swaplab.include.linux.pgtable import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PMD_SIZE,
    pmd_off,
    pte_clear,
    pte_dirty,
    pte_is_swap_entry,
    pte_mkclean,
    pte_mkold,
    pte_none,
    pte_offset_map_lock,
    pte_present,
    pte_to_swp_entry,
    pte_unmap_unlock,
    pte_young,
    ptep_get,
    set_pte_at,
)
from swaplab.kernel.dup import (
    folio,
    folio_put,
    folio_test_anon,
    folio_test_dirty,
    folio_test_swapbacked,
    folio_test_swapcache,
    folio_trylock,
    folio_unlock,
)
from swaplab.kernel.locking import cond_resched, lockdep_assert_held, mutex_lock, mutex_unlock

MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_COLD = 20
MADV_PAGEOUT = 21

EINVAL = 22


def _pmd_ranges(start: int, end: int) -> list[tuple[int, int]]:
    """Split ``[start, end)`` at PMD boundaries, as the page walk calls its pmd_entry."""
    out = []
    while start < end:
        nxt = min((start + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        out.append((start, nxt))
        start = nxt
    return out


def madvise_cold_or_pageout_pte_range(vma: vm_area_struct, addr: int, end: int,
                                      pageout: bool) -> None:
    """Deactivate or reclaim the folios mapped in ``[addr, end)`` (one page of ptes).

    Context: mmap_lock held for read (the page walk asserts it); takes the PTL.
    Return: nothing (the kernel's pmd_entry returns 0).
    """
    if __debug__:
        lockdep_assert_held(vma.vm_mm.mmap_lock)   # the page walk: mmap_assert_locked()
    mm = vma.vm_mm
    folio_list: list[folio] = []
    pmd = pmd_off(mm, addr)
    if pmd is None:
        return
    start_pte, ptl = pte_offset_map_lock(mm, pmd, addr)
    assert start_pte is not None
    pte = start_pte
    while addr < end:
        ptent = ptep_get(pte)
        if not pte_none(ptent) and pte_present(ptent):
            f = vm_normal_folio(vma, addr, ptent)
            # Do not interfere with other mappings of this folio.
            # A large folio is this process's alone when every page is mapped once.
            # XX: one only partly inside the range is not split (the kernel splits it).
            if f is not None and f.total_mapcount == 1 << f.order:
                if pte_young(ptent):
                    set_pte_at(mm, addr, pte, pte_mkold(ptent))
                if pageout:
                    if folio_isolate_lru(f):
                        folio_list.append(f)
                else:
                    f.PG_active = False                 # folio_deactivate()
        pte += 1
        addr += PAGE_SIZE
    pte_unmap_unlock(start_pte, ptl)
    if pageout:
        reclaim_pages(folio_list)
    cond_resched()


def madvise_free_pte_range(vma: vm_area_struct, addr: int, end: int) -> None:
    """MADV_FREE of ``[addr, end)`` (one page of ptes).

    Context: mmap_lock held for read (a kernel that runs MADV_FREE under the
    per-VMA lock holds that instead); takes the PTL.
    Return: nothing (the kernel's pmd_entry returns 0).
    """
    mm = vma.vm_mm
    nr_swap = 0
    pmd = pmd_off(mm, addr)
    if pmd is None:
        return
    start_pte, ptl = pte_offset_map_lock(mm, pmd, addr)
    assert start_pte is not None
    pte = start_pte
    while addr < end:
        nr = 1
        ptent = ptep_get(pte)
        if pte_none(ptent):
            pass
        elif not pte_present(ptent):
            # Just clear a swap pte: cheaper than a later swap-in.
            if pte_is_swap_entry(ptent):
                entry = pte_to_swp_entry(ptent)
                nr = swap_pte_batch(pte, (end - addr) // PAGE_SIZE, ptent)
                nr_swap -= nr
                swap_put_entries_direct(entry, nr)
                for i in range(nr):
                    pte_clear(mm, addr + i * PAGE_SIZE, pte + i)
            else:
                pte_clear(mm, addr, pte)
        else:
            f = vm_normal_folio(vma, addr, ptent)
            if f is not None and _free_one(f, vma, addr, pte, ptent):
                folio_mark_lazyfree(f)
        pte += nr
        addr += nr * PAGE_SIZE
    add_mm_counter(mm, MM_SWAPENTS, nr_swap)
    pte_unmap_unlock(start_pte, ptl)
    cond_resched()


def _free_one(f: folio, vma: vm_area_struct, addr: int, pte: object, ptent: object) -> bool:
    """The per-folio part of madvise_free_pte_range(): may ``f`` become lazy-free?"""
    if folio_test_swapcache(f) or folio_test_dirty(f):
        if not folio_trylock(f):
            return False
        # Mapped once, so exclusive to us.
        if f.total_mapcount != 1 << f.order:
            folio_unlock(f)
            return False
        if folio_test_swapcache(f) and not folio_free_swap(f):
            folio_unlock(f)
            return False
        f.PG_dirty = False                          # folio_clear_dirty()
        folio_unlock(f)
    if pte_young(ptent) or pte_dirty(ptent):        # type: ignore[arg-type]
        set_pte_at(vma.vm_mm, addr, pte, pte_mkold(pte_mkclean(ptent)))  # type: ignore[arg-type]
    return True


def folio_mark_lazyfree(f: folio) -> None:
    """mm/swap.c: make an anon, swap-backed folio lazy-free, to be discarded rather than swapped.

    The kernel batches the folio per CPU (lru_lazyfree) and moves it to the
    inactive file LRU clearing PG_swapbacked there; the model changes the
    flags at once.  A folio in the swap cache or mlocked is left alone.
    Context: the caller holds a reference on the folio.
    Return: nothing.
    """
    if folio_test_anon(f) and folio_test_swapbacked(f) and not folio_test_swapcache(f) \
            and not f.PG_mlocked:
        f.PG_swapbacked = False
        f.PG_active = False


def swapin_walk_pte_range(vma: vm_area_struct, addr: int, end: int) -> None:
    """MADV_WILLNEED: read every swap pte's slot in ``[addr, end)`` into the swap cache.

    The model reads each pte under the PTL and starts the read with the PTL
    dropped, as swapin_walk_pmd_entry() does.
    Context: mmap_lock held for read (the page walk asserts it); takes the PTL.
    Return: nothing (the kernel's pmd_entry returns 0).
    """
    if __debug__:
        lockdep_assert_held(vma.vm_mm.mmap_lock)   # the page walk: mmap_assert_locked()
    mm = vma.vm_mm
    while addr < end:
        pmd = pmd_off(mm, addr)
        if pmd is not None:
            pte, ptl = pte_offset_map_lock(mm, pmd, addr)
            ptent = ptep_get(pte)  # type: ignore[arg-type]
            pte_unmap_unlock(pte, ptl)
            if pte_is_swap_entry(ptent):
                f = read_swap_cache_async(pte_to_swp_entry(ptent), GFP_HIGHUSER_MOVABLE, vma, addr)
                if f is not None:
                    folio_put(f)
        addr += PAGE_SIZE


def madvise_update_vma(vma: vm_area_struct, start: int, end: int, new_flags: int) -> vm_area_struct:
    """Give ``[start, end)`` of ``vma`` the flags ``new_flags``, splitting ``vma`` where needed.

    XX: neighbours with equal flags are not merged back (vma_merge()).
    Context: mmap_lock held (write in the kernel).
    Return: the VMA that covers ``[start, end)``.
    """
    if __debug__:
        lockdep_assert_held(vma.vm_mm.mmap_lock)   # vma_start_write(): mmap_assert_write_locked()
    if new_flags == vma.vm_flags:
        return vma
    mm = vma.vm_mm
    if start > vma.vm_start:
        tail = vm_area_struct(mm, start, vma.vm_end, vma.vm_flags,
                              vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT))
        _split_anon(vma, tail)
        vma.vm_end = start
        vma_link(mm, tail)
        vma = tail
    if end < vma.vm_end:
        tail = vm_area_struct(mm, end, vma.vm_end, vma.vm_flags,
                              vma.vm_pgoff + ((end - vma.vm_start) >> PAGE_SHIFT))
        _split_anon(vma, tail)
        vma.vm_end = end
        vma_link(mm, tail)
    vma.vm_flags = new_flags
    return vma


def madvise_vma_behavior(vma: vm_area_struct, start: int, end: int, behavior: int) -> int:
    """Apply one advice to ``[start, end)`` of ``vma`` (madvise_vma_behavior()).

    Context: mmap_lock held (for write for MADV_MERGEABLE/MADV_UNMERGEABLE,
    for read otherwise, in the kernel).
    Return: 0, -EINVAL for an advice the model does not know, or the error
    of ksm_madvise() (-ENOMEM).
    """
    if behavior in (MADV_MERGEABLE, MADV_UNMERGEABLE):
        new_flags = [vma.vm_flags]
        err = ksm_madvise(vma, start, end, behavior, new_flags)
        if err:
            return err
        madvise_update_vma(vma, start, end, new_flags[0])
    elif behavior == MADV_DONTNEED:
        zap_page_range_single(vma, start, end - start)
    elif behavior in (MADV_COLD, MADV_PAGEOUT):
        for s, e in _pmd_ranges(start, end):
            madvise_cold_or_pageout_pte_range(vma, s, e, behavior == MADV_PAGEOUT)
    elif behavior == MADV_FREE:
        for s, e in _pmd_ranges(start, end):
            madvise_free_pte_range(vma, s, e)
    elif behavior == MADV_WILLNEED:
        swapin_walk_pte_range(vma, start, end)
    else:
        return -EINVAL
    return 0


def do_madvise(mm: mm_struct, start: int, len_in: int, behavior: int) -> int:
    """madvise(2) on ``[start, start + len_in)``.

    Context: process context, mmap_lock not held; takes it.
    Return: 0; -EINVAL for an advice the model does not know (``start`` is not
    checked for alignment); -ENOMEM when the range has unmapped holes (the
    advice is still applied to the mapped parts); or the error of ksm_madvise().
    """
    end = start + len_in
    ret = 0
    mutex_lock(mm.mmap_lock)
    lockdep_assert_held(mm.mmap_lock)
    covered = start
    for vma in list(mm.mmap):
        if vma.vm_end <= start or vma.vm_start >= end:
            continue
        if vma.vm_start > covered:
            ret = -12
        s, e = max(start, vma.vm_start), min(end, vma.vm_end)
        err = madvise_vma_behavior(vma, s, e, behavior)
        if err:
            ret = err
            break
        covered = e
    if covered < end and not ret:
        ret = -12
    mutex_unlock(mm.mmap_lock)
    return ret


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.ksm import ksm_madvise
from swaplab.mm.memory import GFP_HIGHUSER_MOVABLE, swap_pte_batch, vm_normal_folio, zap_page_range_single
from swaplab.mm.mmap import _split_anon, vma_link
from swaplab.mm.swap_state import read_swap_cache_async
from swaplab.mm.swapfile import folio_free_swap, swap_put_entries_direct
from swaplab.mm.vmscan import folio_isolate_lru, reclaim_pages
