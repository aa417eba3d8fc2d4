"""v5: T14, "[PATCH v5 14/19] mm, swap: cleanup swap entry management workflow" as posted.

The three bugs its review thread found (spec kernel-swap-semantics.md §6),
each the one line the thread's fixes changed, in a copy of the mainline
(T14F) function:

* swap_free_hibernation_slot(): ``WARN_ON(swap_entry_swapped(si, entry))``
  under the cluster lock, which swap_entry_swapped() takes again: a
  self-deadlock (§6.2; syzkaller, Lai Yi; removed by fix A);
* free_all_swap_pages(): ``offset < ext->end`` misses the inclusive end of
  every extent: one slot leaked per extent (§6.1; Chris Mason's AI review;
  ``<=`` in fix A);
* unuse_pte(): ``folio_put_swap(folio, page)`` on the folio just mapped,
  which is KSM's private copy when ksm_might_need_to_copy() made one: the
  put goes to type 0 offset 0 and the slot keeps its count (§6.3; Chris
  Mason's AI review; fix B puts on the swap-cache folio).
"""

from __future__ import annotations

from typing import Any

from swaplab.include.linux.errno import ENOMEM
from swaplab.include.linux.mm_types import MM_ANONPAGES, MM_SWAPENTS, dec_mm_counter, inc_mm_counter
from swaplab.include.linux.mmdebug import VM_BUG_ON_FOLIO, VM_WARN_ON_FOLIO, VM_WARN_ON_ONCE, WARN_ON
from swaplab.include.linux.pgtable import (
    PTE_MARKER_HWPOISON,
    PTE_MARKER_POISONED,
    make_pte_marker,
    mk_pte,
    pte_mkold,
    pte_mksoft_dirty,
    pte_mkuffd_wp,
    pte_offset_map_lock,
    pte_swp_clear_flags,
    pte_swp_exclusive,
    pte_swp_soft_dirty,
    pte_swp_uffd_wp,
    pte_unmap_unlock,
    ptep_get,
    set_pte_at,
    swp_entry_to_pte,
)
from swaplab.include.linux.swap import TTRS_ANYWAY
from swaplab.include.linux.swapops import swp_entry, swp_offset
from swaplab.kernel.dup import (
    folio,
    folio_get,
    folio_put,
    folio_test_locked,
    folio_test_uptodate,
    folio_unlock,
)
from swaplab.kernel.locking import lockdep_assert_held
from swaplab.kernel.power.swap import (
    might_sleep,
    rb_erase,
    swsusp_extent,
    swsusp_extents,
    system_transition_mutex,
)
from swaplab.kernel.stubs import arch_swap_restore
from swaplab.mm.ksm import ksm_might_need_to_copy
from swaplab.mm.memory import EHWPOISON_FOLIO
from swaplab.mm.rmap import RMAP_EXCLUSIVE, RMAP_NONE, folio_add_anon_rmap_pte, folio_add_new_anon_rmap
from swaplab.mm.swap import folio_matches_swap_entry, swap_cluster_lock, swap_cluster_unlock
from swaplab.mm.swapfile import (
    __try_to_reclaim_swap,
    folio_put_swap,
    get_swap_device,
    put_swap_device,
    swap_entry_put_locked,
    swap_entry_swapped,
)
from swaplab.mm.vmscan import folio_add_lru_vma
from swaplab.variants import Variant, override

V5_MAIL = ("[PATCH v5 14/19] mm, swap: cleanup swap entry management workflow "
           "(Kairui Song, 2025-12-20), as posted")


@override("swaplab.mm.swapfile",
          reference=V5_MAIL + "; the WARN_ON reported by Lai Yi (syzkaller), removed by "
          "'mm, swap: fix locking and leaking with hibernation snapshot releasing'")
def swap_free_hibernation_slot(entry: int) -> None:
    """Free a slot allocated by swap_alloc_hibernation_slot() (T14: with the recursive-lock WARN_ON).

    Models bug §6.2: the slot is freed under its cluster lock, then
    ``WARN_ON(swap_entry_swapped(si, entry))`` takes the same lock again: the
    kernel deadlocks there (lockdep: "possible recursive locking detected").
    Context: process context; takes the slot's cluster lock (twice).
    Return: nothing (in the kernel, never).
    """
    offset = swp_offset(entry)
    si = get_swap_device(entry)
    if WARN_ON(si is None, "swap_free_hibernation_slot: no device"):
        return
    ci = swap_cluster_lock(si, offset)  # type: ignore[arg-type]
    swap_entry_put_locked(si, ci, entry, 1)  # type: ignore[arg-type]
    WARN_ON(swap_entry_swapped(si, entry), "swap_free_hibernation_slot: slot still swapped")  # type: ignore[arg-type]
    swap_cluster_unlock(ci)
    # In theory readahead might add it to the swap cache by accident.
    __try_to_reclaim_swap(si, offset, TTRS_ANYWAY)  # type: ignore[arg-type]
    put_swap_device(si)  # type: ignore[arg-type]


@override("swaplab.kernel.power.swap",
          reference=V5_MAIL + "; the loop bound reported by Chris Mason (AI review), "
          "'<=' in 'mm, swap: fix locking and leaking with hibernation snapshot releasing'")
def free_all_swap_pages(swap: int) -> None:
    """Free the hibernation slots recorded in the tree (T14: ``offset < ext->end``).

    Models bug §6.1: each extent's inclusive ``end`` slot is never freed,
    so one slot leaks per extent, and a one-slot extent frees nothing.
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
        offset = ext.start
        while offset < ext.end:
            swap_free_hibernation_slot(swp_entry(swap, offset))
            offset += 1
        # kfree(ext)


@override("swaplab.mm.swapfile",
          reference=V5_MAIL + "; reported by Chris Mason (AI review), fixed by "
          "folio_put_swap(swapcache, folio_file_page(swapcache, swp_offset(entry)))")
def unuse_pte(vma: Any, pmd: Any, addr: int, entry: int, folio: folio) -> int:
    """Replace the swap pte of ``entry`` at ``addr`` by a mapping of ``folio`` (T14).

    Models bug §6.3: the swap count is put with ``folio_put_swap(folio,
    page)`` on the folio mapped, which is KSM's private copy (not in the
    swap cache, ``folio->swap`` 0) when ksm_might_need_to_copy() made one:
    the put goes to type 0 offset 0 and the slot keeps its count.
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
    folio_put_swap(folio, page)
    pte_unmap_unlock(pte, ptl)
    if folio is not swapcache:
        folio_unlock(folio)
        folio_put(folio)
    return ret



class V5(Variant):
    """T14: patch 14 as posted, with the bugs of §6.1, §6.2 and §6.3."""

    name = "v5"
    summary = "T14: patch 14 as posted (leaks hibernation slots, self-deadlocks, KSM swapoff leak)"
