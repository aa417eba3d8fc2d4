"""mm/vmscan.c: reclaim of anonymous folios (swap-out), as MADV_PAGEOUT drives it.

shrink_folio_list() for an anon folio (spec §5.1):

1. not yet in the swap cache: ``folio_alloc_swap()`` (failure: keep it,
   activated), then mark it dirty (MADV_FREE race protection).  A large
   folio that is partially mapped is split first; one whose allocation
   fails (no aligned run of free slots, or a swap file) is split into
   order-0 folios (mm/huge_memory.py), counting ``swpout_fallback`` for
   its order (``thp_swpout_fallback`` at PMD order); the head is retried
   at once and the tails join the list;
2. mapped: try_to_unmap() turns each pte into a swap pte (mm/rmap.py); a
   pte that could not be converted keeps the folio (activated);
3. dirty: pageout() -> swap_writeout() (mm/page_io.py).  A synchronous
   device completes the write at once and the clean folio goes on to 4 in
   the same pass; an asynchronous one leaves it under writeback: kept, and
   it stays in the swap cache;
4. clean and unmapped: __remove_mapping() deletes it from the swap cache,
   leaving a workingset shadow in its slots (slots whose swap count is 0
   are freed there), and the folio is freed.

A lazy-free folio (MADV_FREE: anon, not swap-backed) is discarded by
try_to_unmap() without any swap, unless it was written again.

A shmem folio (page cache of a shmem file) is unmapped (its ptes are just
cleared) and, when dirty, written by shmem_writeout() (mm/shmem.py), which
moves it from the page cache to the swap cache; from then on it is
reclaimed like an anon folio in the swap cache.  A clean shmem folio that
is not in the swap cache is kept (page-cache removal is not modeled).

LRU: the model keeps no LRU lists, only ``PG_lru`` (on an LRU list, hence
isolatable) and ``PG_active``; isolation holds a folio reference.
"""

from __future__ import annotations

from swaplab.include.linux.mmdebug import VM_BUG_ON, VM_BUG_ON_FOLIO
from swaplab.kconfig import HPAGE_PMD_ORDER
from swaplab.kernel.dup import (
    folio,
    folio_clear_dirty_for_io,
    folio_get,
    folio_mapped,
    folio_mark_dirty,
    folio_put,
    folio_ref_count,
    folio_test_anon,
    folio_test_dirty,
    folio_test_large,
    folio_test_locked,
    folio_test_lru,
    folio_test_mlocked,
    folio_test_swapbacked,
    folio_test_swapcache,
    folio_test_writeback,
    folio_trylock,
    folio_unlock,
)
from swaplab.kernel.stubs import mem_cgroup_swap_full
from swaplab.mm.swap import (
    swap_cluster_get_and_lock_irq,
    swap_cluster_unlock_irq,
)
from swaplab.mm.swap_table import xa_mk_value
from swaplab.mm.vmstat import MTHP_STAT_SWPOUT_FALLBACK, THP_SWPOUT_FALLBACK, count_mthp_stat, count_vm_event

# pageout_t
PAGE_KEEP, PAGE_ACTIVATE, PAGE_SUCCESS, PAGE_CLEAN = 0, 1, 2, 3


class scan_control:
    """struct scan_control, reduced to what anon reclaim reads."""

    __slots__ = ("gfp_io", "may_swap", "may_unmap", "may_writepage", "nr_reclaimed")

    def __init__(self) -> None:
        self.may_writepage = True
        self.may_unmap = True
        self.may_swap = True
        self.gfp_io = True            # __GFP_IO in gfp_mask
        self.nr_reclaimed = 0


# ---------------------------------------------------------------------------
# LRU membership (mm/swap.c, mm/vmscan.c) and page references (page_ref.h).

def folio_add_lru(folio: folio) -> None:
    """mm/swap.c: put a new folio on the LRU (the model keeps only PG_lru).

    The kernel's queues it in a per-CPU batch (lru_add) that a later drain
    moves to the LRU list; the model's sets PG_lru at once.
    Context: process context; the folio is not on an LRU list (new, or
    isolated); the caller holds a reference.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(folio_test_lru(folio), folio, "folio_add_lru: folio already on the LRU")
    folio.PG_lru = True


def folio_add_lru_vma(folio: folio, vma: object) -> None:
    """mm/swap.c: put a folio just mapped into ``vma`` on the LRU.

    The kernel's puts a folio of a VM_LOCKED VMA on the unevictable list
    (mlock_new_folio()); the model has no mlock: folio_add_lru().
    Context: as folio_add_lru(): the folio is new and not on an LRU list;
    the fault holds the page-table lock.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(folio_test_lru(folio), folio, "folio_add_lru_vma: folio already on the LRU")
    folio_add_lru(folio)


def folio_isolate_lru(folio: folio) -> bool:
    """Take a folio off the LRU for reclaim, with a reference.

    Context: the caller holds a reference on the folio (unlike the LRU
    scan's isolate_lru_folios()); the lru_lock is not held and interrupts
    are enabled.
    Return: True if the folio was taken off an LRU list (PG_lru cleared,
    one more reference); False if it was not on one.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_ref_count(folio), folio, "folio_isolate_lru: zero refcount")
    if not folio.PG_lru:
        return False
    folio_get(folio)
    folio.PG_lru = False
    return True


def folio_putback_lru(folio: folio) -> None:
    """Return an isolated folio to the LRU and drop the isolation reference.

    Context: the folio is isolated (off the LRU, with the isolation
    reference); the lru_lock is not held and interrupts are enabled.
    Return: nothing.
    """
    if __debug__:
        # folio_add_lru()'s check: the kernel's puts it back through folio_add_lru().
        VM_BUG_ON_FOLIO(folio_test_lru(folio), folio, "folio_putback_lru: folio already on the LRU")
    folio.PG_lru = True
    folio_put(folio)


def folio_ref_freeze(folio: folio, count: int) -> bool:
    """include/linux/page_ref.h: refcount ``count`` -> 0 atomically, or fail.

    Context: any (an atomic compare-and-exchange); reclaim's callers hold
    the folio lock, and the lock of the cache the folio is in if it is in
    one, so that no new reference can be looked up meanwhile.
    Return: True if the count was ``count`` and is now 0; False otherwise
    (unchanged).
    """
    if folio._refcount != count:
        return False
    folio._refcount = 0
    return True


def folio_ref_unfreeze(folio: folio, count: int) -> None:
    """include/linux/page_ref.h: give a frozen folio its reference count ``count`` back.

    Context: the caller froze the count (folio_ref_freeze()); ``count`` > 0.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(folio_ref_count(folio) != 0, folio, "folio_ref_unfreeze: refcount not frozen")
        VM_BUG_ON(count == 0, "folio_ref_unfreeze: count 0")
    folio._refcount = count


# mm/workingset.c: the eviction clock behind shadow entries.
_workingset_clock = [0]


def workingset_eviction(folio: folio) -> int:
    """A shadow for an evicted folio: the model's eviction counter, as an XArray value.

    A reduction of mm/workingset.c's workingset_eviction(): the kernel's
    packs the memcg id, node and lruvec eviction age (refault detection
    is not modeled).
    Context: the folio is locked, off the LRU and its reference count
    frozen to 0 (__remove_mapping()); the swap cluster lock is held with
    interrupts off.
    Return: the shadow entry to store in place of the folio.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(folio_test_lru(folio), folio, "workingset_eviction: folio on the LRU")
        VM_BUG_ON_FOLIO(folio_ref_count(folio), folio, "workingset_eviction: refcount not frozen")
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "workingset_eviction: folio not locked")
    _workingset_clock[0] += 1
    return xa_mk_value(_workingset_clock[0])


def reset_vmscan() -> None:
    """Boot state: the eviction clock at 0 (harness)."""
    _workingset_clock[0] = 0


# ---------------------------------------------------------------------------

def is_page_cache_freeable(folio: folio) -> bool:
    """Only the isolation reference and the swap cache's remain.

    The kernel's also allows one reference for filesystem private data
    (none for swap or shmem folios).
    Context: the folio is locked and isolated (pageout()).
    Return: True if the reference count is 1 + the folio's pages.
    """
    return folio_ref_count(folio) == 1 + (1 << folio.order)


def __remove_mapping(folio: folio, reclaimed: bool) -> bool:
    """Remove a clean, unmapped folio from the swap cache (with a shadow) before freeing it.

    The kernel's handles page-cache folios too; the model's callers pass
    swap-cache folios only.
    Context: Caller must ensure the folio is locked, isolated and in the swap cache.
    Return: True if removed (the folio's references are frozen to 0);
    False if someone else holds a reference or the folio was redirtied
    (the kernel's returns 1 or 0).
    """
    VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "__remove_mapping: folio not locked")
    VM_BUG_ON_FOLIO(not folio_test_swapcache(folio), folio, "__remove_mapping: not a swap-cache folio")
    ci = swap_cluster_get_and_lock_irq(folio)
    # The isolation reference plus one per page for the swap cache.
    refcount = 1 + (1 << folio.order)
    if not folio_ref_freeze(folio, refcount):
        swap_cluster_unlock_irq(ci)
        return False
    if folio_test_dirty(folio):
        folio_ref_unfreeze(folio, refcount)
        swap_cluster_unlock_irq(ci)
        return False
    swap = folio.swap
    shadow = workingset_eviction(folio) if reclaimed else None
    __swap_cache_del_folio(ci, folio, swap, shadow)
    swap_cluster_unlock_irq(ci)
    return True


def pageout(folio: folio) -> int:
    """Write a dirty folio out: swap_writeout(), or shmem_writeout() for a shmem folio.

    Context: the folio is locked, isolated and dirty; no other lock held
    (the write may sleep).
    Return: PAGE_KEEP (pinned by someone else, still locked),
    PAGE_ACTIVATE (the write refused it, still locked and redirtied),
    PAGE_SUCCESS (the write started: the folio is unlocked) or PAGE_CLEAN
    (it was clean after all, still locked).
    """
    # Anything but the isolation reference and the swap cache pins it.
    if not is_page_cache_freeable(folio):
        return PAGE_KEEP
    if folio_clear_dirty_for_io(folio):
        folio.PG_reclaim = True
        # writeout(): a shmem folio goes to swap through shmem_writeout().
        if shmem_mapping(folio.mapping):
            res = shmem_writeout(folio, None, None)
        else:
            res = swap_writeout(folio, None)
        if res == AOP_WRITEPAGE_ACTIVATE:
            folio.PG_reclaim = False
            return PAGE_ACTIVATE
        # synchronous write?
        if not folio_test_writeback(folio):
            folio.PG_reclaim = False
        return PAGE_SUCCESS
    return PAGE_CLEAN


def shrink_folio_list(folio_list: list[folio], sc: scan_control) -> list[folio]:
    """Try to reclaim every isolated folio of ``folio_list``.

    The kernel's leaves the unreclaimed folios on ``folio_list`` and returns
    the number of pages reclaimed; the model returns them (the count is
    ``sc.nr_reclaimed``).  A split's tails are appended to ``folio_list``
    and visited in the same pass.
    Context: the folios are isolated from the LRU (one reference each); no
    locks held; may sleep.
    Return: the folios that were not reclaimed (still isolated, unlocked).
    """
    ret_folios: list[folio] = []
    for folio in folio_list:
        if not folio_trylock(folio):
            ret_folios.append(folio)
            continue
        if folio_test_writeback(folio):
            # Case 2: under writeback from an earlier pass; tag it for
            # immediate reclaim when the write ends and move on.
            folio.PG_reclaim = True
            _activate_locked(folio, ret_folios)
            continue
        if folio_test_anon(folio) and folio_test_swapbacked(folio):
            if not folio_test_swapcache(folio):
                if not sc.gfp_io:
                    _keep_locked(folio, ret_folios)
                    continue
                if folio_test_large(folio):
                    # Cannot split folio, skip it.
                    if not can_split_folio(folio, 1):
                        _activate_locked(folio, ret_folios)
                        continue
                    # Split partially mapped folios right away: the
                    # unmapped pages go without I/O.
                    if folio_test_partially_mapped(folio) and \
                            split_folio_to_list(folio, folio_list):
                        _activate_locked(folio, ret_folios)
                        continue
                if folio_alloc_swap(folio):
                    order = folio.order
                    if not folio_test_large(folio):
                        _activate_locked(folio, ret_folios)
                        continue
                    # Fallback to swap normal pages.
                    if split_folio_to_list(folio, folio_list):
                        _activate_locked(folio, ret_folios)
                        continue
                    if order == HPAGE_PMD_ORDER:
                        count_vm_event(THP_SWPOUT_FALLBACK)
                    count_mthp_stat(order, MTHP_STAT_SWPOUT_FALLBACK)
                    if folio_alloc_swap(folio):
                        _activate_locked(folio, ret_folios)
                        continue
                # Normally the folio is dirtied in unmap (its pte is dirty);
                # a MADV_FREE race may have cleaned the pte: dirty it anyway.
                folio_mark_dirty(folio)
        if folio_mapped(folio):
            if folio_test_anon(folio):
                try_to_unmap(folio, TTU_BATCH_FLUSH)
            else:
                # XX: rmap.py's try_to_unmap() has no file side yet (mm/shmem.py).
                try_to_unmap_file(folio, TTU_BATCH_FLUSH)
            if folio_mapped(folio):
                _activate_locked(folio, ret_folios)
                continue
        if folio_test_dirty(folio):
            if not sc.may_writepage:
                _keep_locked(folio, ret_folios)
                continue
            r = pageout(folio)
            if r == PAGE_KEEP:
                _keep_locked(folio, ret_folios)
                continue
            if r == PAGE_ACTIVATE:
                _activate_locked(folio, ret_folios)
                continue
            if r == PAGE_SUCCESS:
                if folio_test_writeback(folio) or folio_test_dirty(folio):
                    ret_folios.append(folio)
                    continue
                # A synchronous write - probably a ramdisk: reclaim it now.
                if not folio_trylock(folio):
                    ret_folios.append(folio)
                    continue
                if folio_test_dirty(folio) or folio_test_writeback(folio):
                    _keep_locked(folio, ret_folios)
                    continue
        if folio_test_anon(folio) and not folio_test_swapbacked(folio):
            # Lazy-free: only the isolation reference may remain.
            if not folio_ref_freeze(folio, 1):
                _keep_locked(folio, ret_folios)
                continue
            if folio_test_dirty(folio):
                folio_ref_unfreeze(folio, 1)
                _keep_locked(folio, ret_folios)
                continue
        elif not folio_test_swapcache(folio) or not __remove_mapping(folio, True):
            _keep_locked(folio, ret_folios)
            continue
        folio_unlock(folio)
        # free_it: the references were frozen to 0.
        folio.freed = True
        sc.nr_reclaimed += 1 << folio.order
    return ret_folios


def _activate_locked(folio: folio, ret_folios: list[folio]) -> None:
    """The ``activate_locked:`` exit: not a candidate for swapping, reclaim swap space."""
    if folio_test_swapcache(folio) and (mem_cgroup_swap_full(folio) or folio_test_mlocked(folio)):
        folio_free_swap(folio)
    if not folio_test_mlocked(folio):
        folio.PG_active = True
    _keep_locked(folio, ret_folios)


def _keep_locked(folio: folio, ret_folios: list[folio]) -> None:
    """The ``keep_locked:`` exit: unlock the folio and keep it (isolated) for the caller."""
    folio_unlock(folio)
    ret_folios.append(folio)


def reclaim_folio_list(folio_list: list[folio]) -> int:
    """Reclaim isolated folios as MADV_PAGEOUT asks; put back what is left.

    The kernel's scans one node's folios, with references ignored.
    Context: process context, no locks held; the folios are isolated (one
    reference each).
    Return: the number of pages reclaimed.
    """
    sc = scan_control()
    left = shrink_folio_list(folio_list, sc)
    for f in left:
        folio_putback_lru(f)
    return sc.nr_reclaimed


def reclaim_pages(folio_list: list[folio]) -> int:
    """Reclaim a list of isolated folios (one node: the model has one).

    The folios are deactivated first; the kernel's batches them per node
    and runs with PF_MEMALLOC (memalloc_noreclaim_save()).
    Context: process context (MADV_PAGEOUT), no locks held; the folios are
    isolated (one reference each) and are put back or freed here.
    Return: the number of pages reclaimed.
    """
    for f in folio_list:
        f.PG_active = False
    if not folio_list:
        return 0
    return reclaim_folio_list(folio_list)


# ---------------------------------------------------------------------------
# Memory-cgroup reclaim (memory.reclaim).

SWAP_CLUSTER_MAX = 32
MAX_RECLAIM_RETRIES = 16
MEMCG_RECLAIM_MAY_SWAP = 1 << 1
MEMCG_RECLAIM_PROACTIVE = 1 << 2


def try_to_free_mem_cgroup_pages(memcg: object, nr_pages: int, gfp_mask: int,
                                 reclaim_options: int) -> int:
    """Reclaim up to ``nr_pages`` (at least SWAP_CLUSTER_MAX) from a memcg's LRU folios.

    The cgroup's LRU folios (its own and its descendants', oldest first)
    are isolated and shrunk by shrink_folio_list() in batches of
    SWAP_CLUSTER_MAX until enough was reclaimed; folios mapped more than
    once are reclaimed too (try_to_unmap() unmaps every pte).
    XX: references are not checked (no accessed-bit aging): every folio is
    a candidate on every call.
    Context: process context, no locks held.
    Return: the number of pages reclaimed.
    """
    nr_to_reclaim = max(nr_pages, SWAP_CLUSTER_MAX)
    sc = scan_control()
    sc.may_swap = bool(reclaim_options & MEMCG_RECLAIM_MAY_SWAP)
    candidates = mem_cgroup_lru_folios(memcg)  # type: ignore[arg-type]
    while candidates and sc.nr_reclaimed < nr_to_reclaim:
        batch, candidates = candidates[:SWAP_CLUSTER_MAX], candidates[SWAP_CLUSTER_MAX:]
        folio_list = [f for f in batch if folio_isolate_lru(f)]
        for f in folio_list:
            f.PG_active = False
        if not sc.may_swap:
            # Anon folios need swap: leave them on the LRU.
            for f in [f for f in folio_list if folio_test_anon(f) and folio_test_swapbacked(f)]:
                folio_list.remove(f)
                folio_putback_lru(f)
        for f in shrink_folio_list(folio_list, sc):
            folio_putback_lru(f)
    return sc.nr_reclaimed


def user_proactive_reclaim(nbytes: int, memcg: object) -> int:
    """Proactive reclaim of ``nbytes`` from ``memcg`` (a write to ``memory.reclaim``).

    Retries while reclaim makes progress, and MAX_RECLAIM_RETRIES times more
    when it does not.  The kernel's parses ``buf`` (the size and the
    ``swappiness=`` key) itself; the model gets the byte count.
    Context: process context (the writer of memory.reclaim), no locks held;
    may sleep.
    Return: 0, -EAGAIN (less than asked could be reclaimed) or -EINTR (a
    signal is pending); the kernel's also -EINVAL for a malformed buffer.
    """
    nr_to_reclaim = nbytes // 4096
    nr_reclaimed = 0
    nr_retries = MAX_RECLAIM_RETRIES
    while nr_reclaimed < nr_to_reclaim:
        # Will converge on zero, but reclaim enforces a minimum.
        batch_size = (nr_to_reclaim - nr_reclaimed) // 4
        if get_current().pending_signal:
            return -EINTR
        reclaimed = try_to_free_mem_cgroup_pages(memcg, batch_size, 0,
                                                 MEMCG_RECLAIM_MAY_SWAP | MEMCG_RECLAIM_PROACTIVE)
        if not reclaimed:
            if not nr_retries:
                return -EAGAIN
            nr_retries -= 1
        nr_reclaimed += reclaimed
    return 0


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.include.linux.errno import EAGAIN, EINTR
from swaplab.kernel.locking import get_current
from swaplab.mm.huge_memory import can_split_folio, split_folio_to_list
from swaplab.mm.memcontrol import mem_cgroup_lru_folios
from swaplab.mm.page_io import AOP_WRITEPAGE_ACTIVATE, swap_writeout
from swaplab.mm.rmap import TTU_BATCH_FLUSH, folio_test_partially_mapped, try_to_unmap
from swaplab.mm.shmem import shmem_mapping, shmem_writeout, try_to_unmap_file
from swaplab.mm.swap_state import __swap_cache_del_folio
from swaplab.mm.swapfile import folio_alloc_swap, folio_free_swap
