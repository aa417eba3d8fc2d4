"""legacy: T13, the swap entry API before "[PATCH v5 14/19] mm, swap: cleanup swap entry management workflow".

Every caller that patch 14 moved to the new API (spec
kernel-swap-semantics.md §4.2) calls the old function at the same place:

* try_to_unmap_one(): ``swap_duplicate(entry)``, and ``swap_free(entry)`` on
  the two rollback paths (T14F: folio_dup_swap() / folio_put_swap());
* copy_nonpresent_pte(): ``swap_duplicate(entry)`` (T14F: swap_dup_entry_direct());
* zap_nonpresent_ptes(), madvise_free_pte_range():
  ``free_swap_and_cache_nr(entry, nr)`` (T14F: swap_put_entries_direct());
* do_swap_page(): ``swap_free_nr(entry, nr_pages)`` after mapping, no
  folio_put_swap();
* unuse_pte(): ``swap_free(entry)``;
* alloc_swapdev_block(): get_swap_page_of_type() / swap_free();
* free_all_swap_pages(): ``swap_free_nr(swp_entry(swap, start), end - start + 1)``;
* shmem_free_swap(): ``free_swap_and_cache_nr(entry, 1 << order)``;
* shmem_writeout(): ``swap_duplicate_nr(folio->swap, nr_pages)``, and
  ``swap_free_nr()`` when the folio goes back to the page cache;
* shmem_swapin_folio(), shmem_set_folio_swapin_error():
  swap_cache_del_folio() first, then ``swap_free_nr(swap, nr_pages)``.

The legacy functions themselves live in swaplab/mm/swapfile.py (spec §4.1).
The claim under test is the patch's "This commit should not introduce any
behavior change": legacy and mainline must agree on every slot after every
step, but for the deltas of spec §4.3.

The s390 callers (ptep_zap_softleaf_entry) are not modeled.
"""

from __future__ import annotations

from typing import Any

from swaplab.include.linux.errno import EEXIST, EINVAL, EIO, ENOMEM
from swaplab.include.linux.mm_types import (
    FAULT_FLAG_WRITE,
    MM_ANONPAGES,
    MM_SWAPENTS,
    VM_FAULT_ERROR,
    VM_FAULT_HWPOISON,
    VM_FAULT_MAJOR,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
    VM_WRITE,
    add_mm_counter,
    dec_mm_counter,
    inc_mm_counter,
    init_mm,
    mm_struct,
    mmlist_lock,
    vm_area_struct,
    vm_fault,
)
from swaplab.include.linux.mmdebug import (
    VM_BUG_ON,
    VM_BUG_ON_FOLIO,
    VM_WARN_ON_FOLIO,
    VM_WARN_ON_ONCE,
    VM_WARN_ON_ONCE_FOLIO,
    WARN_ON_ONCE,
)
from swaplab.include.linux.pgtable import (
    PAGE_SIZE,
    PTE_MARKER_HWPOISON,
    PTE_MARKER_POISONED,
    is_pte_marker,
    make_pte_marker,
    mk_pte,
    pmd_off,
    pte_clear,
    pte_dirty,
    pte_is_swap_entry,
    pte_mkdirty,
    pte_mkold,
    pte_mksoft_dirty,
    pte_mkuffd_wp,
    pte_mkwrite,
    pte_none,
    pte_offset_map_lock,
    pte_present,
    pte_ptr,
    pte_same,
    pte_soft_dirty,
    pte_swp_clear_exclusive,
    pte_swp_clear_flags,
    pte_swp_clear_uffd_wp,
    pte_swp_exclusive,
    pte_swp_mkexclusive,
    pte_swp_mksoft_dirty,
    pte_swp_mkuffd_wp,
    pte_swp_soft_dirty,
    pte_swp_uffd_wp,
    pte_t,
    pte_to_swp_entry,
    pte_uffd_wp,
    pte_unmap_unlock,
    pte_write,
    ptep_clear_flush,
    ptep_get,
    set_pte_at,
    set_ptes,
    swp_entry_to_pte,
)
from swaplab.include.linux.swap import SWP_STABLE_WRITES, SWP_SYNCHRONOUS_IO
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kernel.dup import (
    folio,
    folio_get,
    folio_lock,
    folio_mapped,
    folio_mark_dirty,
    folio_nr_pages,
    folio_put,
    folio_ref_add,
    folio_ref_count,
    folio_test_anon,
    folio_test_dirty,
    folio_test_ksm,
    folio_test_large,
    folio_test_locked,
    folio_test_swapbacked,
    folio_test_swapcache,
    folio_test_uptodate,
    folio_test_writeback,
    folio_unlock,
    list_add,
    list_empty,
)
from swaplab.kernel.locking import cond_resched, lockdep_assert_held, spin_lock, spin_unlock
from swaplab.kernel.power.swap import (
    might_sleep,
    rb_erase,
    swapdev_block,
    swsusp_extent,
    swsusp_extents,
    swsusp_extents_insert,
    system_transition_mutex,
)
from swaplab.kernel.stubs import arch_swap_restore, arch_unmap_one
from swaplab.mm.ksm import ksm_might_need_to_copy
from swaplab.mm.madvise import _free_one, folio_mark_lazyfree
from swaplab.mm.memory import (
    EHWPOISON_FOLIO,
    GFP_HIGHUSER_MOVABLE,
    _out_page,
    alloc_swap_folio,
    check_swap_exclusive,
    do_wp_page,
    folio_file_page,
    mmu_gather,
    should_try_to_free_swap,
    swap_pte_batch,
    swap_pte_range_to_map,
    vm_normal_folio,
)
from swaplab.mm.page_io import folio_wait_writeback_io as folio_wait_writeback
from swaplab.mm.page_io import swap_writeout
from swaplab.mm.rmap import (
    RMAP_EXCLUSIVE,
    RMAP_NONE,
    _discard,
    folio_add_anon_rmap_pte,
    folio_add_anon_rmap_ptes,
    folio_add_new_anon_rmap,
    folio_try_share_anon_rmap_pte,
    page_vma_mapped_walk,
)
from swaplab.mm.shmem import (
    AOP_WRITEPAGE_ACTIVATE,
    GFP_KERNEL,
    SHMEM_I,
    VM_LOCKED,
    _redirty,
    _swapin_failed,
    _swapin_unlock,
    _total_swap_pages,
    _xa_same,
    address_space,
    inode,
    is_poisoned_swp_entry,
    make_poisoned_swp_entry,
    radix_to_swp_entry,
    shmem_add_to_page_cache,
    shmem_confirm_swap,
    shmem_delete_from_page_cache,
    shmem_mapping,
    shmem_recalc_inode,
    shmem_swap_alloc_folio,
    shmem_swapin_cluster,
    shmem_swaplist,
    shmem_swaplist_lock,
    swp_to_radix_entry,
    xa_cmpxchg_irq,
    xa_get_order,
    xa_is_value,
)
from swaplab.mm.swap import folio_matches_swap_entry
from swaplab.mm.swap_state import swap_cache_del_folio, swap_cache_get_folio, swapin_folio, swapin_readahead
from swaplab.mm.swapfile import (
    folio_alloc_swap,
    folio_free_swap,
    free_swap_and_cache_nr,
    get_swap_device,
    get_swap_page_of_type,
    put_swap_device,
    swap_duplicate,
    swap_duplicate_nr,
    swap_free,
    swap_free_nr,
)
from swaplab.mm.vmscan import folio_add_lru_vma
from swaplab.mm.vmstat import PGMAJFAULT, count_vm_event
from swaplab.variants import Variant, override

# Every legacy override models the same tree: mm-unstable just before patch 14.
T13 = ("T13: mm-unstable before [PATCH v5 14/19] mm, swap: cleanup swap entry "
       "management workflow (Kairui Song, 2025-12-20); call sites per spec §4.2")


@override("swaplab.mm.rmap", reference=T13)
def try_to_unmap_one(folio: folio, vma: vm_area_struct, address: int, arg: Any) -> bool:
    """Unmap ``folio`` from ``vma`` at ``address``; an anon page becomes a swap pte (T13).

    Before patch 14 the pte's swap count is taken with ``swap_duplicate(entry)``
    and given back on the two rollback paths with ``swap_free(entry)``
    (T14F: folio_dup_swap() / folio_put_swap() on the subpage).
    Context: the folio is locked; takes the page-table lock.
    Return: False to stop the rmap walk (a pte could not be converted).
    """
    VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "try_to_unmap_one: folio not locked")
    mm: mm_struct = vma.vm_mm
    ret = True
    for pte, ptl, pvmw_address in page_vma_mapped_walk(folio, vma, address):
        address = pvmw_address
        subpage = ptep_get(pte).page
        assert subpage is not None
        anon_exclusive = folio_test_anon(folio) and subpage.anon_exclusive
        pteval = ptep_clear_flush(mm, address, pte)
        # Set the dirty flag on the folio now the pte is gone.
        if pte_dirty(pteval):
            folio_mark_dirty(folio)
        if folio_test_anon(folio):
            entry = folio.swap + subpage.idx
            if WARN_ON_ONCE(folio_test_swapbacked(folio) != folio_test_swapcache(folio),
                            "try_to_unmap_one: swap-backed folio not in the swap cache"):
                set_pte_at(mm, address, pte, pteval)
                pte_unmap_unlock(pte, ptl)
                return False
            if not folio_test_swapbacked(folio):
                # MADV_FREE page: the only refs must be the isolation one plus the rmaps.
                ref_count = folio_ref_count(folio)
                map_count = folio.total_mapcount
                if ref_count == 1 + map_count and not folio_test_dirty(folio):
                    dec_mm_counter(mm, MM_ANONPAGES)
                    _discard(folio, subpage, vma)
                    continue
                # Redirtied: it cannot be discarded.  Remap it; swap-backed again.
                set_pte_at(mm, address, pte, pteval)
                folio.PG_swapbacked = True
                pte_unmap_unlock(pte, ptl)
                return False
            if swap_duplicate(entry) < 0:
                set_pte_at(mm, address, pte, pteval)
                pte_unmap_unlock(pte, ptl)
                return False
            if arch_unmap_one(mm, vma, address, pteval) < 0:
                swap_free(entry)
                set_pte_at(mm, address, pte, pteval)
                pte_unmap_unlock(pte, ptl)
                return False
            # See folio_try_share_anon_rmap(): clear the pte first.
            if anon_exclusive and folio_try_share_anon_rmap_pte(folio, subpage):
                swap_free(entry)
                set_pte_at(mm, address, pte, pteval)
                pte_unmap_unlock(pte, ptl)
                return False
            if list_empty(mm.mmlist):
                spin_lock(mmlist_lock)
                if list_empty(mm.mmlist):
                    list_add(mm.mmlist, init_mm.mmlist)
                spin_unlock(mmlist_lock)
            dec_mm_counter(mm, MM_ANONPAGES)
            inc_mm_counter(mm, MM_SWAPENTS)
            swp_pte = swp_entry_to_pte(entry)
            if anon_exclusive:
                swp_pte = pte_swp_mkexclusive(swp_pte)
            if pte_soft_dirty(pteval):
                swp_pte = pte_swp_mksoft_dirty(swp_pte)
            if pte_uffd_wp(pteval):
                swp_pte = pte_swp_mkuffd_wp(swp_pte)
            set_pte_at(mm, address, pte, swp_pte)
        _discard(folio, subpage, vma)
    return ret


@override("swaplab.mm.memory", reference=T13)
def copy_nonpresent_pte(dst_mm: mm_struct, src_mm: mm_struct, dst_pte: pte_ptr, src_pte: pte_ptr,
                        dst_vma: vm_area_struct, src_vma: vm_area_struct, addr: int,
                        rss: list[int]) -> int:
    """Copy a swap (or marker) pte to the child (T13: ``swap_duplicate(entry)``).

    Context: both page-table locks held.
    Return: 0, or -EIO when the swap count needs a continuation page that
    could not be allocated atomically (the caller retries with GFP_KERNEL).
    """
    orig_pte = ptep_get(src_pte)
    pte = orig_pte
    if pte_is_swap_entry(orig_pte):
        entry = pte_to_swp_entry(orig_pte)
        if swap_duplicate(entry) < 0:
            return -5
        # Make sure dst_mm is on swapoff's mmlist.
        if list_empty(dst_mm.mmlist):
            spin_lock(mmlist_lock)
            if list_empty(dst_mm.mmlist):
                list_add(dst_mm.mmlist, src_mm.mmlist)
            spin_unlock(mmlist_lock)
        # Mark the swap entry as shared.
        if pte_swp_exclusive(orig_pte):
            pte = pte_swp_clear_exclusive(orig_pte)
            set_pte_at(src_mm, addr, src_pte, pte)
        rss[MM_SWAPENTS] += 1
    pte = pte_swp_clear_uffd_wp(pte)
    set_pte_at(dst_mm, addr, dst_pte, pte)
    return 0


@override("swaplab.mm.memory", reference=T13)
def zap_nonpresent_ptes(tlb: mmu_gather, vma: vm_area_struct, pte: pte_ptr, ptent: pte_t,
                        max_nr: int, addr: int, rss: list[int]) -> int:
    """Clear swap ptes (batched) and drop their swap references (T13: free_swap_and_cache_nr()).

    Context: the page-table lock is held.
    Return: the number of ptes cleared.
    """
    nr = 1
    if pte_is_swap_entry(ptent):
        entry = pte_to_swp_entry(ptent)
        # Genuine swap entries, hence private anon pages.
        nr = swap_pte_batch(pte, max_nr, ptent)
        rss[MM_SWAPENTS] -= nr
        free_swap_and_cache_nr(entry, nr)
    for i in range(nr):
        pte_clear(vma.vm_mm, addr + i * PAGE_SIZE, pte + i)
    return nr


@override("swaplab.mm.madvise", reference=T13)
def madvise_free_pte_range(vma: vm_area_struct, addr: int, end: int) -> None:
    """MADV_FREE of ``[addr, end)`` (one page of ptes); swap ptes go with free_swap_and_cache_nr() (T13).

    Context: mmap_lock held (read); takes the page-table lock.
    Return: nothing.
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
                free_swap_and_cache_nr(entry, nr)
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


@override("swaplab.mm.memory", reference=T13)
def do_swap_page(vmf: vm_fault) -> int:
    """Fault in the page a swap pte refers to (T13: ``swap_free_nr(entry, nr_pages)`` after mapping).

    Before patch 14 the fault drops the swap counts of the mapped range with
    ``swap_free_nr()`` once the ptes are set, whichever folio was mapped
    (T14F: folio_put_swap() in each of the three mapping branches).
    Context: mmap_lock held (read); no page-table lock, no folio lock.
    Return: 0, VM_FAULT_MAJOR (the page was read from the device), or an
    error bit (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_HWPOISON).
    """
    vma = vmf.vma
    mm = vma.vm_mm
    ret = 0
    if not pte_is_swap_entry(vmf.orig_pte):
        if is_pte_marker(vmf.orig_pte):
            return VM_FAULT_HWPOISON if vmf.orig_pte.entry == PTE_MARKER_HWPOISON else VM_FAULT_SIGBUS
        return VM_FAULT_SIGBUS
    entry = pte_to_swp_entry(vmf.orig_pte)
    si = get_swap_device(entry)
    if si is None:
        return 0
    folio = swap_cache_get_folio(entry)
    swapcache = folio
    if folio is None:
        if si.flags & SWP_SYNCHRONOUS_IO:
            folio = alloc_swap_folio(vmf)
            if folio is not None:
                # The folio is charged, so swap-in can only fail due to
                # a raced swap-in, returning the folio cached first.
                swapcache = swapin_folio(entry, folio)
                if swapcache is not folio:
                    folio_put(folio)
                folio = swapcache
        else:
            folio = swapin_readahead(entry, GFP_HIGHUSER_MOVABLE, vmf)
            swapcache = folio
        if folio is None:
            # Back out if somebody else faulted in this pte meanwhile.
            vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, vmf.address)
            if vmf.pte is not None and pte_same(ptep_get(vmf.pte), vmf.orig_pte):
                ret = VM_FAULT_OOM
            pte_unmap_unlock(vmf.pte, vmf.ptl)
            put_swap_device(si)
            return ret
        # Had to read the page from the swap area: major fault.
        ret = VM_FAULT_MAJOR
        count_vm_event(PGMAJFAULT)
    assert swapcache is not None
    folio_lock(folio)
    p = folio_file_page(folio, swp_offset(entry))
    # folio_free_swap() or swapoff may have released the swap cache under us.
    if not folio_matches_swap_entry(folio, entry):
        return _out_page(folio, swapcache, si, ret)
    if p.hwpoison:
        return _out_page(folio, swapcache, si, VM_FAULT_HWPOISON)
    # KSM sometimes has to copy on read faults.
    copy = ksm_might_need_to_copy(folio, vma, vmf.address)
    if copy is None:
        return _out_page(swapcache, swapcache, si, VM_FAULT_OOM)
    if copy is EHWPOISON_FOLIO:
        return _out_page(swapcache, swapcache, si, VM_FAULT_HWPOISON)
    folio = copy
    if folio is not swapcache:
        p = folio.pages[0]
    if (vmf.flags & FAULT_FLAG_WRITE) and folio is swapcache and not folio_test_ksm(folio) \
            and not folio.PG_lru:
        pass                                            # lru_add_drain()
    # Back out if somebody else already faulted in this pte.
    vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, vmf.address)
    if vmf.pte is None or not pte_same(ptep_get(vmf.pte), vmf.orig_pte):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return _out_page(folio, swapcache, si, ret)
    if not folio_test_uptodate(folio):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return _out_page(folio, swapcache, si, VM_FAULT_SIGBUS)
    nr_pages, address, ptep, entry, p = swap_pte_range_to_map(vmf, folio, entry, p)
    if not nr_pages:
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return _out_page(folio, swapcache, si, ret)
    VM_BUG_ON_FOLIO(folio_test_anon(folio) and p.anon_exclusive, folio,
                    "do_swap_page: a swap pte points at a PageAnonExclusive page")
    exclusive = False
    rmap_flags = RMAP_NONE
    # Under the PTL (fork cannot share the entry now): certainly exclusive?
    if not folio_test_ksm(folio):
        exclusive = pte_swp_exclusive(vmf.orig_pte)
        if exclusive:
            check_swap_exclusive(folio, entry, nr_pages)
        if folio is not swapcache:
            # A fresh copy nobody else can see: certainly exclusive.
            exclusive = True
        elif exclusive and folio_test_writeback(folio) and si.flags & SWP_STABLE_WRITES:
            exclusive = False
    # Arch metadata is indexed by the swap entry: restore before the put.
    arch_swap_restore(entry, folio)
    add_mm_counter(mm, MM_ANONPAGES, nr_pages)
    add_mm_counter(mm, MM_SWAPENTS, -nr_pages)
    pte = mk_pte(p)
    if pte_swp_soft_dirty(vmf.orig_pte):
        pte = pte_mksoft_dirty(pte)
    if pte_swp_uffd_wp(vmf.orig_pte):
        pte = pte_mkuffd_wp(pte)
    # Same logic as in do_wp_page(), for pages that are certainly not shared.
    if not folio_test_ksm(folio) and (exclusive or folio_ref_count(folio) == 1):
        if vma.vm_flags & VM_WRITE and not pte_swp_uffd_wp(vmf.orig_pte):
            pte = pte_mkwrite(pte)
            if vmf.flags & FAULT_FLAG_WRITE:
                pte = pte_mkdirty(pte)
                vmf.flags &= ~FAULT_FLAG_WRITE
        rmap_flags |= RMAP_EXCLUSIVE
    folio_ref_add(folio, nr_pages - 1)
    vmf.orig_pte = pte
    if folio is not swapcache:
        # KSM created a completely new copy.
        folio_add_new_anon_rmap(folio, vma, address, RMAP_EXCLUSIVE)
        folio_add_lru_vma(folio, vma)
    elif not folio_test_anon(folio):
        VM_WARN_ON_ONCE_FOLIO(folio_nr_pages(folio) != nr_pages, folio, "!anon folio not mapped whole")
        VM_WARN_ON_ONCE_FOLIO(folio_mapped(folio), folio, "!anon folio already mapped")
        folio_add_new_anon_rmap(folio, vma, address, rmap_flags)
    else:
        folio_add_anon_rmap_ptes(folio, p, nr_pages, vma, address, rmap_flags)
    VM_BUG_ON(not folio_test_anon(folio) or (pte_write(pte) and not p.anon_exclusive),
              "do_swap_page: writable pte on a non-exclusive page")
    set_ptes(mm, address, ptep, pte, nr_pages)
    # Free the swap cache after mapping, so racing faults find the folio
    # in the cache and wait on its lock.
    swap_free_nr(entry, nr_pages)
    if should_try_to_free_swap(si, folio, vma, nr_pages, vmf.flags):
        folio_free_swap(folio)
    folio_unlock(folio)
    if folio is not swapcache:
        folio_unlock(swapcache)
        folio_put(swapcache)
    if vmf.flags & FAULT_FLAG_WRITE:
        ret |= do_wp_page(vmf)
        if ret & VM_FAULT_ERROR:
            ret &= VM_FAULT_ERROR
        put_swap_device(si)
        return ret
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    put_swap_device(si)
    return ret


@override("swaplab.mm.swapfile", reference=T13)
def unuse_pte(vma: Any, pmd: Any, addr: int, entry: int, folio: folio) -> int:
    """Replace the swap pte of ``entry`` at ``addr`` by a mapping of ``folio`` (T13: ``swap_free(entry)``).

    The swap count is dropped by entry, so a KSM copy mapped instead of the
    swap-cache folio does not matter (T14 got this wrong, §6.3).
    Context: Caller must ensure the folio is locked and not under writeback;
    takes the page-table lock.
    Return: 1 if mapped, 0 if skipped (the pte or the folio changed, or the
    page is poisoned), -ENOMEM if a needed copy could not be allocated.
    """
    VM_WARN_ON_FOLIO(not folio_test_locked(folio), folio, "unuse_pte: folio not locked")
    ret = 1
    hwpoisoned = False
    mm = vma.vm_mm
    # Removed from the swap cache by others: try_to_unuse() will try again.
    if not folio_matches_swap_entry(folio, entry):
        return 0
    swapcache = folio
    copy = ksm_might_need_to_copy(folio, vma, addr)
    if copy is None:
        return -ENOMEM
    if copy is EHWPOISON_FOLIO:
        hwpoisoned = True
        copy = swapcache
    folio = copy
    page = folio.pages[swp_offset(entry) & ((1 << folio.order) - 1)]
    if page.hwpoison:
        hwpoisoned = True
    pte, ptl = pte_offset_map_lock(mm, pmd, addr)
    if pte is None or pte_swp_clear_flags(ptep_get(pte)) != swp_entry_to_pte(entry):
        pte_unmap_unlock(pte, ptl)
        if folio is not swapcache:
            folio_unlock(folio)
            folio_put(folio)
        return 0
    old_pte = ptep_get(pte)
    if hwpoisoned or not folio_test_uptodate(folio):
        dec_mm_counter(mm, MM_SWAPENTS)
        new_pte = make_pte_marker(PTE_MARKER_HWPOISON if hwpoisoned else PTE_MARKER_POISONED)
        ret = 0
    else:
        # Arch metadata is indexed by the swap entry: restore before the put.
        arch_swap_restore(entry, folio)
        dec_mm_counter(mm, MM_SWAPENTS)
        inc_mm_counter(mm, MM_ANONPAGES)
        folio_get(folio)
        if folio is swapcache:
            rmap_flags = RMAP_NONE
            VM_BUG_ON_FOLIO(folio.PG_writeback, folio, "unuse_pte: folio under writeback")
            if pte_swp_exclusive(old_pte):
                rmap_flags |= RMAP_EXCLUSIVE
            if not folio.PG_anon:
                VM_WARN_ON_ONCE(folio.order > 0, "unuse_pte: large !anon folio")
                folio_add_new_anon_rmap(folio, vma, addr, rmap_flags)
            else:
                folio_add_anon_rmap_pte(folio, page, vma, addr, rmap_flags)
        else:
            # KSM created a completely new copy.
            folio_add_new_anon_rmap(folio, vma, addr, RMAP_EXCLUSIVE)
            folio_add_lru_vma(folio, vma)
        new_pte = pte_mkold(mk_pte(page))
        if pte_swp_soft_dirty(old_pte):
            new_pte = pte_mksoft_dirty(new_pte)
        if pte_swp_uffd_wp(old_pte):
            new_pte = pte_mkuffd_wp(new_pte)
    set_pte_at(mm, addr, pte, new_pte)
    swap_free(entry)
    pte_unmap_unlock(pte, ptl)
    if folio is not swapcache:
        folio_unlock(folio)
        folio_put(folio)
    return ret


@override("swaplab.kernel.power.swap", reference=T13)
def alloc_swapdev_block(swap: int) -> int:
    """Allocate one hibernation slot on device ``swap`` and record it (T13 API).

    T13: get_swap_page_of_type() allocates, swap_free() gives back a slot
    whose offset cannot be recorded.
    Context: system_transition_mutex held; process context, may sleep.
    Return: the slot's disk block (the offset, see swapdev_block()), or 0
    if no slot could be allocated or recorded.
    """
    lockdep_assert_held(system_transition_mutex)
    might_sleep()
    # Allocate a swap page and register that it has been allocated, so that
    # it can be freed in case of an error.
    offset = swp_offset(get_swap_page_of_type(swap))
    if offset:
        if swsusp_extents_insert(offset):
            swap_free(swp_entry(swap, offset))
        else:
            return swapdev_block(swap, offset)
    return 0


@override("swaplab.kernel.power.swap", reference=T13)
def free_all_swap_pages(swap: int) -> None:
    """Free every hibernation slot recorded in the tree, and the tree (T13: one swap_free_nr() per extent).

    T13 frees ``end - start + 1`` slots from ``start``: the inclusive extent.
    Context: system_transition_mutex held; process context, may sleep.
    Return: nothing.
    """
    lockdep_assert_held(system_transition_mutex)
    might_sleep()
    # Free swap pages allocated for saving image data.  It also frees the
    # extents used to register which swap entries had been allocated.
    while (node := swsusp_extents.rb_node) is not None:
        ext: swsusp_extent = node  # type: ignore[assignment]    # rb_entry()
        rb_erase(node, swsusp_extents)
        swap_free_nr(swp_entry(swap, ext.start), ext.end - ext.start + 1)
        # kfree(ext)


@override("swaplab.mm.shmem", reference=T13)
def shmem_free_swap(mapping: address_space, index: int, radswap: int) -> int:
    """Drop the swap entry at ``index`` if it is still ``radswap`` (T13: free_swap_and_cache_nr()).

    Context: no locks held (the cmpxchg takes xa_lock).
    Return: the number of pages freed (1 << order), or 0 if the entry changed.
    """
    order = xa_get_order(mapping.i_pages, index)
    old = xa_cmpxchg_irq(mapping.i_pages, index, radswap, None)
    if not _xa_same(old, radswap):
        return 0
    free_swap_and_cache_nr(radix_to_swp_entry(radswap), 1 << order)
    return 1 << order


@override("swaplab.mm.shmem", reference=T13)
def shmem_writeout(folio: folio, plug: Any = None, folio_list: Any = None) -> int:
    """Move a dirty page-cache folio to swap (T13: swap_duplicate_nr() / swap_free_nr()).

    Before patch 14 the mapping's reference is taken with
    ``swap_duplicate_nr(folio->swap, nr_pages)`` and given back on the
    AOP_WRITEPAGE_ACTIVATE path with ``swap_free_nr()`` (T14F:
    folio_dup_swap() / folio_put_swap() with no subpage).
    Context: Caller must ensure the folio is locked, unmapped, uptodate and
    its dirty bit cleared for I/O (reclaim's pageout()).
    Return: 0 (the write was started, the folio is unlocked), or
    AOP_WRITEPAGE_ACTIVATE with the folio redirtied and still locked.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "shmem_writeout: folio not locked")
        VM_BUG_ON_FOLIO(not shmem_mapping(folio.mapping), folio, "shmem_writeout: not a shmem folio")
    mapping: address_space = folio.mapping
    ino = mapping.host
    info = SHMEM_I(ino)
    if info.flags & VM_LOCKED:
        return _redirty(folio)
    if not _total_swap_pages():
        return _redirty(folio)
    if folio_test_large(folio):
        # THP_SWAP is off in the oracle configuration: the kernel splits here.
        VM_WARN_ON_ONCE_FOLIO(True, folio, "shmem_writeout: large shmem folios are not modeled")
        return _redirty(folio)
    index = folio.index
    nr_pages = folio_nr_pages(folio)
    if not folio_test_uptodate(folio):
        # A fallocated folio arriving here: initialize it and write it.
        for p in folio.pages:
            p.content = 0
        folio.PG_uptodate = True
    if not folio_alloc_swap(folio):
        first_swapped = shmem_recalc_inode(ino, 0, nr_pages)
        # Add inode to shmem_unuse()'s list of swapped-out inodes, if it's
        # not already there.  Do it now before the folio is removed from page
        # cache, when its pagelock no longer protects the inode from eviction.
        if first_swapped:
            spin_lock(shmem_swaplist_lock)
            if list_empty(info.swaplist):
                list_add(info.swaplist, shmem_swaplist)
            spin_unlock(shmem_swaplist_lock)
        swap_duplicate_nr(folio.swap, nr_pages)
        shmem_delete_from_page_cache(folio, swp_to_radix_entry(folio.swap))
        VM_BUG_ON(folio_mapped(folio), "shmem_writeout: folio still mapped")
        error = swap_writeout(folio, plug)
        if error != AOP_WRITEPAGE_ACTIVATE:
            # The folio has been unlocked.
            return error
        # Writeout could not keep it (zswap rejected it, no writeback):
        # avoid holding on to the swap.
        error = shmem_add_to_page_cache(folio, mapping, index, swp_to_radix_entry(folio.swap),
                                        GFP_KERNEL)
        # Swap entry might be erased by racing shmem_free_swap().
        if not error:
            shmem_recalc_inode(ino, 0, -nr_pages)
            swap_free_nr(folio.swap, nr_pages)
        # The swap_cache_del_folio() below could be left for
        # shrink_folio_list()'s folio_free_swap() to dispose of; but avoid
        # letting this folio out in a hybrid half-tmpfs-half-swap state.
        swap_cache_del_folio(folio)
    return _redirty(folio)


@override("swaplab.mm.shmem", reference=T13)
def shmem_swapin_folio(ino: inode, index: int, foliop: list[Any], sgp: int, gfp: int,
                       vma: vm_area_struct | None, fault_type: list[int] | None) -> int:
    """Swap in the entry at ``index`` and put the folio there (T13: swap_free_nr() after the cache).

    Before patch 14 the folio leaves the swap cache first (count 1,
    uncached) and ``swap_free_nr(swap, nr_pages)`` then frees the slots
    (T14F: folio_put_swap() first, count 0 cache-only, then the deletion
    frees them; same end state, spec §4.3 item 4).
    Context: process context, may sleep; no locks held.
    Return: 0, -EEXIST (the entry changed: retry the lookup), -EIO, -ENOMEM,
    -EINVAL (the device is gone).
    """
    mapping = ino.i_mapping
    info = SHMEM_I(ino)
    if __debug__:
        VM_BUG_ON(not xa_is_value(foliop[0]), "shmem_swapin_folio: not a value entry")
    index_entry = radix_to_swp_entry(foliop[0])
    swap = index_entry
    foliop[0] = None
    if is_poisoned_swp_entry(index_entry):
        return -EIO
    si = get_swap_device(index_entry)
    order = shmem_confirm_swap(mapping, index, index_entry)
    if si is None:
        return -EEXIST if order < 0 else -EINVAL
    if order < 0:
        put_swap_device(si)
        return -EEXIST
    # index may point to the middle of a large entry, get the sub entry.
    if order:
        offset = index - (index & ~((1 << order) - 1))
        swap = swp_entry(swp_type(swap), swp_offset(swap) + offset)
    # Look it up and read it in..
    f = swap_cache_get_folio(swap)
    if f is None:
        if si.flags & SWP_SYNCHRONOUS_IO:
            # Direct swapin skipping swap cache & readahead.
            got = shmem_swap_alloc_folio(ino, vma, index, index_entry, order, gfp)
            if type(got) is int:
                return _swapin_failed(ino, index, None, swap, si, got)
            f = got
        else:
            # Cached swapin only supports order 0 folio.
            f = shmem_swapin_cluster(swap, gfp, info, index)
            if f is None:
                return _swapin_failed(ino, index, None, swap, si, -ENOMEM)
        # Here we actually start the io.
        if fault_type is not None:
            fault_type[0] |= VM_FAULT_MAJOR
            count_vm_event(PGMAJFAULT)
    if order > f.order:
        VM_WARN_ON_ONCE_FOLIO(True, f, "shmem_swapin_folio: splitting a large entry is not modeled")
        return _swapin_unlock(f, si, -EINVAL, locked=False)
    if order < f.order:
        swap = swap & ~((1 << f.order) - 1)
        index = index & ~((1 << f.order) - 1)
    # We have to do this with the folio locked to prevent races.
    folio_lock(f)
    if not folio_matches_swap_entry(f, swap) or shmem_confirm_swap(mapping, index, swap) < 0:
        return _swapin_unlock(f, si, -EEXIST, locked=True)
    if not folio_test_uptodate(f):
        return _swapin_failed(ino, index, f, swap, si, -EIO)
    folio_wait_writeback(f)
    nr_pages = folio_nr_pages(f)
    # Some architectures may have to restore extra metadata to the folio
    # after reading from swap.
    arch_swap_restore(swap, f)
    error = shmem_add_to_page_cache(f, mapping, index, swp_to_radix_entry(swap), gfp)
    if error:
        return _swapin_failed(ino, index, f, swap, si, error)
    shmem_recalc_inode(ino, 0, -nr_pages)
    swap_cache_del_folio(f)
    folio_mark_dirty(f)
    swap_free_nr(swap, nr_pages)
    put_swap_device(si)
    foliop[0] = f
    return 0


@override("swaplab.mm.shmem", reference=T13)
def shmem_set_folio_swapin_error(ino: inode, index: int, folio: folio, swap: int) -> None:
    """A swap-in read failed: leave the swapin-error marker (T13: swap_free_nr() after the cache).

    Before patch 14: swap_cache_del_folio(), then ``swap_free_nr(swap,
    nr_pages)`` at the end (T14F: folio_put_swap() before the deletion;
    same end state, spec §4.3 item 4).
    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
    """
    mapping = ino.i_mapping
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "shmem_set_folio_swapin_error: not locked")
    swapin_error = make_poisoned_swp_entry()
    old = xa_cmpxchg_irq(mapping.i_pages, index, swp_to_radix_entry(swap),
                         swp_to_radix_entry(swapin_error))
    if not _xa_same(old, swp_to_radix_entry(swap)):
        return
    nr_pages = folio_nr_pages(folio)
    folio_wait_writeback(folio)
    swap_cache_del_folio(folio)
    # Don't treat swapin error folio as alloced. Otherwise inode->i_blocks
    # won't be 0 when inode is released and thus trigger WARN_ON(i_blocks)
    # in shmem_evict_inode().
    shmem_recalc_inode(ino, -nr_pages, -nr_pages)
    swap_free_nr(swap, nr_pages)


class Legacy(Variant):
    """T13: the callers of the old swap entry API, before patch 14."""

    name = "legacy"
    summary = "T13: before patch 14 (swap_duplicate, swap_free_nr, free_swap_and_cache_nr)"
