"""mm/rmap.c: the reverse map of anonymous folios, and try_to_unmap().

An anonymous folio records the anon_vma of the VMA it was first mapped in
(``folio.anon_vma``) and its linear page index (``folio.index``); every VMA
chained to that anon_vma may map it, at ``vma_address(vma, folio.index)``.
fork chains the child's VMA to the parent's anon_vmas (anon_vma_fork()), so
an rmap walk of a folio shared across fork visits every process.

Per-page state: ``page.mapcount`` (the kernel's ``_mapcount + 1``) and
``page.anon_exclusive`` (PageAnonExclusive); per folio ``total_mapcount``.

try_to_unmap_one() for an anon, swap-backed folio is where a swap entry
takes a page's place (spec §5.2): clear the pte, ``folio_dup_swap(folio,
subpage)``, put the mm on ``init_mm.mmlist``, MM_ANONPAGES -1 / MM_SWAPENTS
+1, install the swap pte with the exclusive bit of the page.  A lazy-free
(``!swapbacked``) folio is discarded instead, unless it was redirtied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from swaplab.include.linux.mm_types import (
    MM_ANONPAGES,
    MM_SWAPENTS,
    VM_LOCKED,
    anon_vma,
    dec_mm_counter,
    inc_mm_counter,
    init_mm,
    linear_page_index,
    mm_struct,
    mmlist_lock,
    vm_area_struct,
    vma_address,
)
from swaplab.include.linux.mmdebug import VM_BUG_ON_FOLIO, VM_WARN_ON_FOLIO, WARN_ON_ONCE
from swaplab.include.linux.pgtable import (
    PAGE_SIZE,
    PMD_SIZE,
    pmd_off,
    pte_dirty,
    pte_offset_map_lock,
    pte_present,
    pte_ptr,
    pte_soft_dirty,
    pte_swp_mkexclusive,
    pte_swp_mksoft_dirty,
    pte_swp_mkuffd_wp,
    pte_uffd_wp,
    pte_unmap_unlock,
    ptep_clear_flush,
    ptep_get,
    set_pte_at,
    swp_entry_to_pte,
)
from swaplab.kernel.dup import (
    folio,
    folio_mark_dirty,
    folio_put,
    folio_ref_count,
    folio_test_anon,
    folio_test_dirty,
    folio_test_ksm,
    folio_test_locked,
    folio_test_swapbacked,
    folio_test_swapcache,
    list_add,
    list_empty,
    page,
)
from swaplab.kernel.locking import lock_t, mutex_lock, mutex_unlock, spin_lock, spin_unlock
from swaplab.kernel.stubs import arch_unmap_one

# rmap_t flags
RMAP_NONE = 0
RMAP_EXCLUSIVE = 1

# enum ttu_flags
TTU_SPLIT_HUGE_PMD = 0x4
TTU_IGNORE_MLOCK = 0x8
TTU_SYNC = 0x10
TTU_HWPOISON = 0x20
TTU_BATCH_FLUSH = 0x40
TTU_RMAP_LOCKED = 0x80


# ---------------------------------------------------------------------------
# anon_vma lifetime (the VMA side).

def anon_vma_prepare(vma: vm_area_struct) -> int:
    """Give ``vma`` an anon_vma before its first anonymous folio.

    A reduction of __anon_vma_prepare(): a new anon_vma every time (the
    kernel's first looks for a neighbour's to reuse, find_mergeable_anon_vma()).
    Context: mmap_lock held (read is enough in the kernel); may sleep.
    Return: 0, or -ENOMEM (never in the model).
    """
    if vma.anon_vma is not None:
        return 0
    av = anon_vma()
    vma.anon_vma = av
    anon_vma_chain_link(vma, av)
    return 0


def anon_vma_chain_link(vma: vm_area_struct, av: anon_vma) -> None:
    """Chain ``vma`` to ``av``: folios of ``av`` may be mapped by ``vma``.

    The kernel's links a preallocated anon_vma_chain into both lists.
    Context: the kernel's callers hold ``av``'s root rwsem for write (or
    link a VMA nobody can see yet); mmap_lock held for write, or for read
    from anon_vma_prepare().
    Return: nothing.
    """
    vma.anon_vma_chain.append(av)
    av.vmas.append(vma)


def anon_vma_fork(vma: vm_area_struct, pvma: vm_area_struct) -> int:
    """Chain the child's ``vma`` to every anon_vma of ``pvma`` and give it its own.

    The kernel's anon_vma_clone() may reuse an anon_vma that has no VMA and
    one child instead of allocating one; the model always allocates.
    Context: both mms' mmap_lock held for write (dup_mmap()); may sleep.
    Return: 0 (the kernel's -ENOMEM when an allocation fails).
    """
    if pvma.anon_vma is None:
        return 0
    vma.anon_vma = None
    for av in pvma.anon_vma_chain:          # anon_vma_clone()
        anon_vma_chain_link(vma, av)
    av = anon_vma(pvma.anon_vma.root)
    vma.anon_vma = av
    anon_vma_chain_link(vma, av)
    return 0


def unlink_anon_vmas(vma: vm_area_struct) -> None:
    """Remove ``vma`` from every anon_vma it is chained to (munmap, exit).

    The kernel's also frees the anon_vmas left without a VMA; the model's
    are garbage-collected.
    Context: mmap_lock held for write, or the mm is exiting (exit_mmap());
    the VMA's ptes are zapped already; takes each root rwsem in the kernel.
    Return: nothing.
    """
    for av in vma.anon_vma_chain:
        av.vmas.remove(vma)
    vma.anon_vma_chain = []


# ---------------------------------------------------------------------------
# Adding and removing mappings.

def folio_anon_vma(folio: folio) -> anon_vma | None:
    """mm/util.c: the anon_vma an anonymous folio is filed under.

    Context: any; the answer is stable only while the folio is locked or
    mapped (the anon_vma outlives its mapped folios).
    Return: the anon_vma, or None for a folio that is not anonymous.
    """
    return folio.anon_vma if folio.PG_anon else None


def __folio_set_anon(folio: folio, vma: vm_area_struct, address: int, exclusive: bool) -> None:
    """File a new anonymous folio under the VMA's anon_vma (its root if maybe shared) at its index.

    Context: the folio is new: no pte maps it yet (folio_add_new_anon_rmap());
    the VMA has an anon_vma (the kernel BUG()s otherwise).
    Return: nothing.
    """
    av = vma.anon_vma
    VM_BUG_ON_FOLIO(av is None, folio, "__folio_set_anon: VMA without anon_vma")
    # An exclusive folio can be filed under the VMA's own anon_vma; a
    # possibly shared one needs the root, which every sharer is chained to.
    if not exclusive:
        av = av.root  # type: ignore[union-attr]
    folio.anon_vma = av
    folio.PG_anon = True
    folio.index = linear_page_index(vma, address)


def folio_add_new_anon_rmap(folio: folio, vma: vm_area_struct, address: int, flags: int) -> None:
    """Map a folio that no pte maps yet (a fresh anonymous or swapped-in folio).

    Context: the page-table lock of the pte is held; a folio that is not
    mapped exclusive (no RMAP_EXCLUSIVE: the swap cache may see it) must
    be locked.
    Return: nothing.
    """
    exclusive = bool(flags & RMAP_EXCLUSIVE)
    if __debug__:
        VM_WARN_ON_FOLIO(not exclusive and not folio_test_locked(folio), folio,
                         "folio_add_new_anon_rmap: shared folio not locked")
    VM_WARN_ON_FOLIO(folio.total_mapcount != 0, folio, "folio_add_new_anon_rmap: folio already mapped")
    folio.PG_swapbacked = True
    __folio_set_anon(folio, vma, address, exclusive)
    # Every page of a new folio is mapped once (a large one by nr ptes).
    for p in folio.pages:
        p.mapcount = 1
        if exclusive:
            p.anon_exclusive = True
    folio.total_mapcount = len(folio.pages)


def folio_add_anon_rmap_ptes(folio: folio, p: page, nr_pages: int, vma: vm_area_struct,
                             address: int, flags: int) -> None:
    """Add ``nr_pages`` pte mappings of pages of an anonymous folio, from ``p`` on.

    Context: the page-table lock is held and the folio is locked, so an anon
    folio is not upgraded racily to KSM; a KSM folio (never downgraded) may
    be mapped unlocked (KSM's replace_page()).
    Return: nothing.
    """
    VM_WARN_ON_FOLIO(not folio_test_locked(folio) and not folio_test_ksm(folio), folio,
                     "folio_add_anon_rmap_ptes: folio not locked")
    for i in range(p.idx, p.idx + nr_pages):
        sub = folio.pages[i]
        sub.mapcount += 1
        if flags & RMAP_EXCLUSIVE:
            sub.anon_exclusive = True
    folio.total_mapcount += nr_pages


def folio_add_anon_rmap_pte(folio: folio, p: page, vma: vm_area_struct, address: int,
                            flags: int) -> None:
    """Add one pte mapping of page ``p`` of an anonymous folio: folio_add_anon_rmap_ptes() of 1.

    Context: as folio_add_anon_rmap_ptes(): the page-table lock is held and
    the folio locked (unless it is a KSM folio).
    Return: nothing.
    """
    folio_add_anon_rmap_ptes(folio, p, 1, vma, address, flags)


def folio_remove_rmap_ptes(folio: folio, p: page, nr_pages: int, vma: vm_area_struct) -> None:
    """Drop ``nr_pages`` pte mappings of pages of ``folio``, from ``p`` on.

    A page left without a mapping stops being exclusive.  The kernel's also
    queues a partially mapped large anon folio for deferred split and
    munlocks; the model computes partial mapping when asked
    (folio_test_partially_mapped()).
    Context: the page-table lock is held (the ptes are cleared already).
    Return: nothing.
    """
    for i in range(p.idx, p.idx + nr_pages):
        sub = folio.pages[i]
        sub.mapcount -= 1
        VM_BUG_ON_FOLIO(sub.mapcount < 0, folio, "folio_remove_rmap_ptes: mapcount underflow")
        if sub.mapcount == 0:
            sub.anon_exclusive = False
    folio.total_mapcount -= nr_pages


def folio_remove_rmap_pte(folio: folio, p: page, vma: vm_area_struct) -> None:
    """Drop one pte mapping of page ``p``: folio_remove_rmap_ptes() of 1.

    Context: the page-table lock is held (the pte is cleared already).
    Return: nothing.
    """
    folio_remove_rmap_ptes(folio, p, 1, vma)


def folio_try_dup_anon_rmap_pte(folio: folio, p: page, dst_vma: vm_area_struct,
                                src_vma: vm_area_struct) -> int:
    """fork: one more pte maps ``p``; an exclusive page becomes shared.

    include/linux/rmap.h.  The caller has taken the folio reference the new
    pte holds, and makes the pte read-only in parent and child on success.
    Context: both page-table locks are held, and the parent mm's
    ``write_protect_seq`` (copy_page_range()).
    Return: 0, or -EBUSY if the page may be pinned (never in the model:
    no GUP pins).
    """
    p.anon_exclusive = False
    p.mapcount += 1
    folio.total_mapcount += 1
    return 0


def folio_try_share_anon_rmap_pte(folio: folio, p: page) -> int:
    """Mark an exclusive anonymous page maybe-shared, before unmapping it or KSM merging it.

    include/linux/rmap.h.
    Context: the page-table lock is held and the pte has been cleared (and
    flushed) already, so GUP-fast cannot pin the page meanwhile; the page
    is exclusive.
    Return: 0, or -EBUSY if the page may be pinned (never in the model:
    no GUP pins).
    """
    p.anon_exclusive = False
    return 0


def folio_move_anon_rmap(folio: folio, vma: vm_area_struct) -> None:
    """The only mapper reuses the folio: file it under its own anon_vma.

    Called when a write fault finds the folio exclusive to this VMA, so
    later rmap walks need not search the parent's or siblings' VMAs.
    Context: the folio is locked (the fault also holds the page-table lock).
    Return: nothing.
    """
    VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "folio_move_anon_rmap: not locked")
    folio.anon_vma = vma.anon_vma


def PageAnonExclusive(p: page) -> bool:
    """include/linux/page-flags.h: is the anonymous page exclusive to one mapping?

    Context: any; stable under the page-table lock of a pte mapping the page.
    Return: True if it is.
    """
    return p.anon_exclusive


def SetPageAnonExclusive(p: page) -> None:
    """include/linux/page-flags.h: mark the anonymous page exclusive.

    Context: the page-table lock of the pte that maps it exclusively is
    held (do_wp_page() reusing the page).
    Return: nothing.
    """
    p.anon_exclusive = True


# ---------------------------------------------------------------------------
# The rmap walk.

def folio_not_mapped(folio: folio) -> bool:
    """The rmap walk's ``done`` callback of try_to_unmap(): is no pte left mapping the folio?

    Context: any (the rmap walk calls it with the folio locked).
    Return: True if the folio is not mapped.
    """
    return folio.total_mapcount == 0


def folio_test_partially_mapped(folio: folio) -> bool:
    """Is a large folio mapped, but some of its pages by no pte?

    The kernel sets PG_partially_mapped when a pte unmap leaves such a folio
    (deferred_split_folio()); the model computes it from the mapcounts.
    Context: any; racy unless the folio is locked and cannot gain mappings.
    Return: True if partially mapped; False for an order-0 folio.
    """
    return folio.order > 0 and folio.total_mapcount > 0 and any(p.mapcount == 0 for p in folio.pages)


def page_vma_mapped_walk(folio: folio, vma: vm_area_struct,
                         address: int) -> Iterator[tuple[pte_ptr, lock_t, int]]:
    """The ptes of ``vma`` from ``address`` on that map pages of ``folio``: (pte, ptl, address).

    ``while (page_vma_mapped_walk(&pvmw))``: the page-table lock is taken
    before the first pte is yielded and held across the walk; it is
    released when the walk ends.  A caller that leaves the walk early
    unlocks it itself (page_vma_mapped_walk_done()).
    Context: an rmap walk: the folio is locked (or otherwise kept mapped
    where it is) and its anon_vma or i_mmap lock is held; no page-table
    lock held on entry.
    Return: a generator of (pte, ptl, address) with the ptl held, for each
    pte mapping a page of the folio (the kernel's returns true per mapping
    found, false when there is none left and the ptl is dropped).
    """
    mm = vma.vm_mm
    pte, ptl = pte_offset_map_lock(mm, pmd_off(mm, address), address)
    if pte is None or ptl is None:
        return
    end = min(vma.vm_end, address + (PAGE_SIZE << folio.order),
              (address & ~(PMD_SIZE - 1)) + PMD_SIZE)
    while address < end:
        pteval = ptep_get(pte)
        if pte_present(pteval) and pteval.page is not None and pteval.page.folio is folio:
            yield pte, ptl, address
        pte += 1
        address += PAGE_SIZE
    pte_unmap_unlock(pte, ptl)


def rmap_walk_anon(folio: folio, rmap_one: Callable[[folio, vm_area_struct, int, Any], bool],
                   done: Callable[[folio], bool] | None, arg: Any, locked: bool) -> None:
    """Call ``rmap_one(folio, vma, address, arg)`` for every VMA that may map ``folio``.

    Stops when ``rmap_one`` returns False or ``done(folio)`` is true.
    Context: the folio's anon_vma is kept alive (the folio locked or
    mapped); with ``locked`` the caller holds the anon_vma root's rwsem
    (rmap_walk_locked()), else it is taken here (read in the kernel).
    Return: nothing.
    """
    av = folio_anon_vma(folio)
    if av is None:
        return
    if not locked:
        mutex_lock(av.root.rwsem)
    for vma in list(av.vmas):
        address = vma_address(vma, folio.index, 1 << folio.order)
        if address < 0:
            continue
        if not rmap_one(folio, vma, address, arg):
            break
        if done is not None and done(folio):
            break
    if not locked:
        mutex_unlock(av.root.rwsem)


def try_to_unmap(folio: folio, flags: int) -> None:
    """Try to remove every pte mapping of ``folio``.

    It is the caller's job to check whether the folio is still mapped.
    Context: Caller must hold the folio lock and a reference on the folio.
    Return: nothing.
    """
    VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "try_to_unmap: folio not locked")
    rmap_walk(folio, try_to_unmap_one, folio_not_mapped, flags, bool(flags & TTU_RMAP_LOCKED))


def rmap_walk(folio: folio, rmap_one: Callable[[folio, vm_area_struct, int, Any], bool],
              done: Callable[[folio], bool] | None, arg: Any, locked: bool) -> None:
    """Walk every mapping of an anon folio: a KSM folio through its stable node.

    The kernel's rmap_walk() and rmap_walk_locked() in one: ``locked`` says
    the caller holds the rmap lock (TTU_RMAP_LOCKED).  File folios have
    their own walk (rmap_walk_file() in mm/shmem.py).
    Context: the folio is locked (the kernel's folio_referenced() may walk
    an unlocked anon folio; the model has no such caller).
    Return: nothing.
    """
    if folio_test_ksm(folio):
        rmap_walk_ksm(folio, rmap_one, done, arg, locked)
    else:
        rmap_walk_anon(folio, rmap_one, done, arg, locked)


def try_to_unmap_one(folio: folio, vma: vm_area_struct, address: int, arg: Any) -> bool:
    """Unmap ``folio`` from ``vma`` at ``address``; an anon page becomes a swap pte.

    Every pte of ``vma`` mapping a page of the folio is visited
    (page_vma_mapped_walk()): a large folio's pages each get their own swap
    pte, ``folio.swap + page index``, and their own ``folio_dup_swap()``.
    Context: the folio is locked and the caller holds a reference (reclaim:
    the isolation one); the walk holds the anon_vma lock; takes the
    page-table lock.
    Return: True to go on with the walk; False to stop it (a pte could not
    be converted: the folio stays mapped).
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
            if folio_dup_swap(folio, subpage) < 0:
                set_pte_at(mm, address, pte, pteval)
                pte_unmap_unlock(pte, ptl)
                return False
            if arch_unmap_one(mm, vma, address, pteval) < 0:
                folio_put_swap(folio, subpage)
                set_pte_at(mm, address, pte, pteval)
                pte_unmap_unlock(pte, ptl)
                return False
            # See folio_try_share_anon_rmap(): clear the pte first.
            if anon_exclusive and folio_try_share_anon_rmap_pte(folio, subpage):
                folio_put_swap(folio, subpage)
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


def _discard(folio: folio, subpage: page, vma: vm_area_struct) -> None:
    """The ``discard:`` tail of try_to_unmap_one()'s loop: drop the rmap and the pte's reference.

    Context: the page-table lock is held (the walk releases it).
    """
    folio_remove_rmap_pte(folio, subpage, vma)
    if vma.vm_flags & VM_LOCKED:
        pass                                    # mlock_drain_local()
    folio_put(folio)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.ksm import rmap_walk_ksm
from swaplab.mm.swapfile import folio_dup_swap, folio_put_swap
