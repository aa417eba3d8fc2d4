"""mm/swap_state.c: the swap cache.

The swap cache *is* the swap table (mm/swap_table.py): a folio is in the
swap cache iff ``folio.PG_swapcache``, ``folio.swap`` is its first entry, and
every table word of its slots points to it.  Since phase II patch 12
(T14F) the ``SWAP_HAS_CACHE`` bit of each slot is set and cleared in the
same cluster-lock critical section as the table word (invariant I2).
"""

from __future__ import annotations

from typing import Any

from swaplab.include.linux.errno import EEXIST, ENOENT
from swaplab.include.linux.mmdebug import (VM_WARN_ON_FOLIO, VM_WARN_ON_ONCE,
                                           VM_WARN_ON_ONCE_FOLIO)
from swaplab.include.linux.swap import SWAPFILE_CLUSTER, swap_count
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kernel.dup import (ALIGN_DOWN, folio, folio_get, folio_lock, folio_mapped, folio_put,
                                folio_ref_add, folio_ref_sub, folio_trylock, folio_unlock)
from swaplab.kernel.locking import lockdep_assert_held
from swaplab.mm.swap import (__swap_entry_to_cluster, __swap_entry_to_info,
                             swap_cluster_info, swap_cluster_lock,
                             swap_cluster_unlock)
from swaplab.mm.swap_table import (__swap_table_get, __swap_table_set_range,
                                   folio_to_swp_tb, shadow_swp_to_tb,
                                   swap_table_get, swp_tb_is_folio,
                                   swp_tb_is_shadow,
                                   swp_tb_to_shadow)
from swaplab.mm.vmstat import NR_FILE_PAGES, NR_SWAPCACHE, node_stat_mod_folio


def swap_cache_get_folio(entry: int) -> folio | None:
    """Look up the swap cache; take a reference on the folio found.

    Context: the caller pins the device.  The folio is returned unlocked:
    the caller locks it and re-checks folio_matches_swap_entry().
    Return: the folio or None.
    """
    ci = __swap_entry_to_cluster(entry)
    swp_tb = swap_table_get(ci, swp_offset(entry) % SWAPFILE_CLUSTER)
    if type(swp_tb) is not folio:
        return None
    f: folio = swp_tb  # type: ignore[assignment]
    folio_get(f)
    return f


def swap_cache_has_folio(entry: int) -> bool:
    """Does the swap cache hold a folio for ``entry``?

    Context: Caller pins the device; lockless, so the answer may be stale
    unless the caller also holds something that keeps the slot cached.
    Return: True if the slot's table word is a folio.
    """
    ci = __swap_entry_to_cluster(entry)
    return swp_tb_is_folio(swap_table_get(ci, swp_offset(entry) % SWAPFILE_CLUSTER))


def swap_cache_get_shadow(entry: int) -> int | None:
    """The workingset shadow of an uncached slot, if its folio left one.

    Context: Caller pins the device; lockless read.
    Return: the shadow (an odd int), or None if the word is NULL or a folio.
    """
    ci = __swap_entry_to_cluster(entry)
    return swp_tb_to_shadow(swap_table_get(ci, swp_offset(entry) % SWAPFILE_CLUSTER))


def swap_cache_add_folio(folio: folio, entry: int, shadowp: list[Any] | None,
                         alloc: bool) -> int:
    """Add a folio to the swap cache at ``entry``.

    ``alloc`` is True when called from folio_alloc_swap(): the allocator
    already set SWAP_HAS_CACHE; otherwise (swap-in) the slots must have a
    swap count and get their cache bit here.

    Context: Caller must ensure the folio is locked, swap-backed and not in
    the swap cache, and pin the device; ``entry`` is aligned to the folio.
    Return: 0, -EEXIST (another folio caches a slot), -ENOENT (no table, or
    a slot without swap count).
    """
    if __debug__:
        VM_WARN_ON_ONCE_FOLIO(folio.PG_locked.owner is None, folio, "swap_cache_add_folio: not locked")
        VM_WARN_ON_ONCE_FOLIO(folio.PG_swapcache, folio, "swap_cache_add_folio: already in swap cache")
        VM_WARN_ON_ONCE_FOLIO(not folio.PG_swapbacked, folio, "swap_cache_add_folio: not swap-backed")
    nr_pages = 1 << folio.order
    si = __swap_entry_to_info(entry)
    offset = swp_offset(entry)
    ci_start = offset % SWAPFILE_CLUSTER
    ci_end = ci_start + nr_pages
    swap_map = si.swap_map  # type: ignore[union-attr]
    shadow = None
    ci = swap_cluster_lock(si, offset)  # type: ignore[arg-type]
    if ci.table is None:
        swap_cluster_unlock(ci)
        return -ENOENT
    # A range of fresh slots has no table words at all: nothing to check there.
    table = ci.table
    if not alloc or (table and not table.keys().isdisjoint(range(ci_start, ci_end))):
        for ci_off in range(ci_start, ci_end):
            swp_tb = __swap_table_get(ci, ci_off)
            if type(swp_tb) is folio:
                swap_cluster_unlock(ci)
                return -EEXIST
            if not alloc and not swap_count(swap_map[offset + ci_off - ci_start]):  # type: ignore[index]
                swap_cluster_unlock(ci)
                return -ENOENT
            if swp_tb_is_shadow(swp_tb):
                shadow = swp_tb
    if not alloc:
        for ci_off in range(ci_start, ci_end):
            __swapcache_set_cached(si, ci, entry + ci_off - ci_start)  # type: ignore[arg-type]
    __swap_table_set_range(ci, ci_start, nr_pages, folio_to_swp_tb(folio))
    swap_cluster_unlock(ci)
    folio_ref_add(folio, nr_pages)
    folio.PG_swapcache = True
    folio.swap = entry
    node_stat_mod_folio(folio, NR_FILE_PAGES, nr_pages)
    node_stat_mod_folio(folio, NR_SWAPCACHE, nr_pages)
    if shadowp is not None:
        shadowp[0] = shadow
    return 0


def __swap_cache_del_folio(ci: swap_cluster_info, folio: folio, entry: int,
                           shadow: int | None) -> None:
    """Remove a folio from the swap cache, leaving ``shadow`` (or NULL) in its slots.

    Slots whose swap count is 0 are freed right here.  The caller drops the
    cache's folio references afterwards.

    Context: Caller must hold ci->lock and ensure the folio is locked, in the
    swap cache and not under writeback.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
        VM_WARN_ON_ONCE_FOLIO(folio.PG_locked.owner is None, folio, "__swap_cache_del_folio: not locked")
        VM_WARN_ON_ONCE_FOLIO(not folio.PG_swapcache, folio, "__swap_cache_del_folio: not in swap cache")
        VM_WARN_ON_ONCE_FOLIO(folio.PG_writeback, folio, "__swap_cache_del_folio: under writeback")
    si = __swap_entry_to_info(entry)
    nr_pages = 1 << folio.order
    ci_start = swp_offset(entry) % SWAPFILE_CLUSTER
    new_tb = shadow_swp_to_tb(shadow) if shadow else 0
    if __debug__:
        VM_WARN_ON_FOLIO([*map(ci.table.get,  # type: ignore[union-attr]
                               range(ci_start, ci_start + nr_pages))].count(folio) != nr_pages,
                         folio,
                         "swap table word does not point to the folio being deleted")
    __swap_table_set_range(ci, ci_start, nr_pages, new_tb)
    if not ci.table:
        # The model's sparse table never shrinks in place: start a new one
        # once empty, so a used cluster costs a few bytes, not 512 words.
        ci.table = {}
    folio.swap = 0
    folio.PG_swapcache = False
    node_stat_mod_folio(folio, NR_FILE_PAGES, -nr_pages)
    node_stat_mod_folio(folio, NR_SWAPCACHE, -nr_pages)
    __swapcache_clear_cached(si, ci, entry, nr_pages)  # type: ignore[arg-type]


def swap_cache_del_folio(folio: folio) -> None:
    """Remove a folio from the swap cache and drop the cache's references.

    Context: Caller must ensure the folio is locked, in the swap cache and
    not under writeback; takes the cluster lock.
    Return: nothing.
    """
    entry = folio.swap
    ci = swap_cluster_lock(__swap_entry_to_info(entry), swp_offset(entry))  # type: ignore[arg-type]
    __swap_cache_del_folio(ci, folio, entry, None)
    swap_cluster_unlock(ci)
    folio_ref_sub(folio, 1 << folio.order)


def __swap_cache_clear_shadow(entry: int, nr_ents: int) -> None:
    """Clear the shadows of slots being freed.

    Context: Caller must hold the lock of the slots' cluster (the kernel's
    __swap_table_xchg() asserts it); none of the slots is cached.
    Return: nothing.
    """
    ci = __swap_entry_to_cluster(entry)
    if __debug__:
        lockdep_assert_held(ci.lock)
    table = ci.table
    if not table:
        return
    ci_off = swp_offset(entry) % SWAPFILE_CLUSTER
    for off in range(ci_off, ci_off + nr_ents):
        swp_tb = table.get(off, 0)
        if swp_tb:
            if __debug__:
                VM_WARN_ON_ONCE(type(swp_tb) is folio, "freeing a slot still in the swap cache")
            del table[off]



# ---------------------------------------------------------------------------
# Swap-in: folios for slots, and readahead.
#
# vm.page-cluster: readahead reads 2^page_cluster slots around the fault.
# The oracle sets 0 (no readahead), the only value modeled: swapin_readahead()
# reads exactly the faulting slot, and swap_ra/swap_ra_hit stay 0.
page_cluster = [0]


def reset_swap_state() -> None:
    """Boot state: vm.page-cluster as the oracle sets it (0)."""
    page_cluster[0] = 0


def __swap_cache_prepare_and_add(entry: int, folio: folio, gfp: int, charged: bool,
                                 skip_if_exists: bool) -> folio | None:
    """Lock a new folio and add it to the swap cache at ``entry``.

    Context: the caller pins the device; nobody else can see ``folio``.
    Return: ``folio`` (locked, in the swap cache); the folio that another
    task cached for the entry first (a reference taken: the caller drops its
    own ``folio``); or None when the slot has no swap count any more.
    """
    folio_lock(folio)                 # __folio_set_locked()
    folio.PG_swapbacked = True        # __folio_set_swapbacked()
    folio.PG_uptodate = False         # a new folio: uptodate once the read succeeds
    # mem_cgroup_swapin_charge_folio(): memcg charging is not modeled.
    while True:
        shadowp: list[Any] = [None]
        ret = swap_cache_add_folio(folio, entry, shadowp, False)
        if not ret:
            break
        if ret != -EEXIST or skip_if_exists:
            folio_unlock(folio)
            return None
        # Another folio caches the slot: use it.
        swapcache = swap_cache_get_folio(entry)
        if swapcache is not None:
            folio_unlock(folio)
            return swapcache
    # workingset_refault(folio, shadow): not modeled.
    folio_add_lru(folio)
    return folio


def swap_cache_alloc_folio(entry: int, gfp: int, new_page_allocated: list[bool]) -> folio | None:
    """Find or create the swap-cache folio of a slot that has a swap count.

    Context: the caller pins the device (get_swap_device()).
    Return: a folio with a reference: the cached one, or a new locked one
    (``new_page_allocated[0]`` set; the caller starts the read); None if the
    slot is not swapped (free, cache-only or BAD) or allocation failed.
    """
    si = __swap_entry_to_info(entry)
    new_page_allocated[0] = False
    f = swap_cache_get_folio(entry)
    if f is not None:
        return f
    # Just skip a read for a slot with no swap count: it is free or only
    # pinned by a folio that is on its way out of the swap cache.
    if not swap_entry_swapped(si, entry):  # type: ignore[arg-type]
        return None
    new_folio = folio_alloc(gfp, 0)
    if new_folio is None:
        return None
    result = __swap_cache_prepare_and_add(entry, new_folio, gfp, False, False)
    if result is new_folio:
        new_page_allocated[0] = True
        return new_folio
    folio_put(new_folio)
    return result


def read_swap_cache_async(entry: int, gfp: int, vma: Any = None, addr: int = 0,
                          plug: Any = None) -> folio | None:
    """Get the swap-cache folio of ``entry``, reading it from the device if needed.

    Context: process context; may sleep.
    Return: the folio with a reference (unlocked once its read completed), or None.
    """
    si = get_swap_device(entry)
    if si is None:
        return None
    allocated = [False]
    f = swap_cache_alloc_folio(entry, gfp, allocated)
    if allocated[0]:
        swap_read_folio(f, plug)  # type: ignore[arg-type]
    put_swap_device(si)
    return f


def swapin_readahead(entry: int, gfp: int, vmf: Any) -> folio | None:
    """Swap in ``entry`` and, with page-cluster > 0, its neighbours.

    Both swap_cluster_readahead() (rotational devices) and
    swap_vma_readahead() read only the faulting slot when page_cluster is 0.
    Context: the faulting task; may sleep.
    Return: the folio of ``entry`` with a reference, or None.
    """
    if page_cluster[0] != 0:
        from swaplab.errors import InvalidScenario
        raise InvalidScenario(f"vm.page-cluster {page_cluster[0]}: swap readahead is not modeled yet "
                              "(only page-cluster 0)")
    return read_swap_cache_async(entry, gfp, vmf.vma if vmf is not None else None,
                                 vmf.address if vmf is not None else 0)


def swapin_folio(entry: int, folio: folio) -> folio | None:
    """Swap in an allocated (and charged) folio, SWP_SYNCHRONOUS_IO path.

    Context: the caller pins the device.
    Return: ``folio`` after a synchronous read; the folio another task
    cached first (the caller drops ``folio``); or None.
    """
    nr_pages = 1 << folio.order
    entry = swp_entry(swp_type(entry), ALIGN_DOWN(swp_offset(entry), nr_pages))
    swapcache = __swap_cache_prepare_and_add(entry, folio, 0, True, False)
    if swapcache is folio:
        swap_read_folio(folio, None)
    return swapcache


def free_swap_cache(folio: folio) -> None:
    """Free the swap space of an unmapped swap-cache folio if nothing else uses it.

    Context: any; only try-locks the folio.
    Return: nothing.
    """
    if folio.PG_swapcache and not folio_mapped(folio) and folio_trylock(folio):
        folio_free_swap(folio)
        folio_unlock(folio)


def free_pages_and_swap_cache(folios: list[folio]) -> None:
    """Drop the references a TLB batch held, freeing unmapped folios' swap first.

    Context: after the TLB flush of an unmap; no page-table lock needed.
    Return: nothing.
    """
    for f in folios:
        free_swap_cache(f)
    for f in folios:
        folio_put(f)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.kernel.custom import folio_alloc  # noqa: E402
from swaplab.mm.page_io import swap_read_folio  # noqa: E402
from swaplab.mm.swapfile import (__swapcache_clear_cached, __swapcache_set_cached,  # noqa: E402
                                 folio_free_swap, get_swap_device, put_swap_device,
                                 swap_entry_swapped)
from swaplab.mm.vmscan import folio_add_lru  # noqa: E402
