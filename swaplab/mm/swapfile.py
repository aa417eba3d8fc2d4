"""mm/swapfile.c: swap devices, clusters, slot allocation and swap counts.

State of the file modeled: T14F, i.e. mm-unstable at "[PATCH v5 14/19] mm,
swap: cleanup swap entry management workflow" with the two fixes of its
review thread (spec kernel-swap-semantics.md; docs/kernel-notes.md for what
was read in which tree).  The legacy API of T13 (``swap_duplicate_nr``,
``swap_free_nr``, ``free_swap_and_cache_nr``, ``get_swap_page_of_type``) is
kept beside the new one so that the ``legacy`` variant can call it.

Module state mirrors the kernel's globals: ``swap_info[]`` (in mm/swap.py),
``swap_avail_head``, ``swap_active_head``, ``nr_swap_pages``,
``total_swap_pages`` and the per-CPU cluster cache.  ``reset_swapfile()``
puts them back to boot state.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from swaplab.check.findings import __always_inline, report
from swaplab.include.linux.errno import (EAGAIN, EBUSY, EEXIST, EINTR, EINVAL, ENODEV, ENOENT,
                                         ENOMEM, EPERM)
from swaplab.include.linux.mmdebug import (VM_BUG_ON, VM_BUG_ON_FOLIO, VM_WARN_ON,
                                           VM_WARN_ON_FOLIO, VM_WARN_ON_ONCE,
                                           VM_WARN_ON_ONCE_FOLIO, WARN_ON,
                                           WARN_ON_ONCE)
from swaplab.include.linux.printk import pr_err, pr_info, pr_warn
from swaplab.include.linux.swap import (COUNT_CONTINUED, DEF_SWAP_PRIO,
                                        MAX_SWAP_BADPAGES, MAX_SWAPFILES,
                                        SWAP_CONT_MAX, SWAP_ENTRY_INVALID,
                                        SWAP_FLAG_DISCARD, SWAP_FLAG_DISCARD_ONCE,
                                        SWAP_FLAG_DISCARD_PAGES, SWAP_FLAG_PREFER,
                                        SWAP_FLAG_PRIO_MASK, SWAP_FLAGS_VALID,
                                        SWAP_HAS_CACHE, SWAP_MAP_BAD, SWAP_MAP_MAX,
                                        SWAP_NR_ORDERS, SWAP_USAGE_COUNTER_MASK,
                                        SWAP_USAGE_OFFLIST_BIT, SWAPFILE_CLUSTER,
                                        SWP_AREA_DISCARD, SWP_BLKDEV, SWP_CONTINUED,
                                        SWP_DISCARDABLE, SWP_PAGE_DISCARD,
                                        SWP_SOLIDSTATE, SWP_STABLE_WRITES,
                                        SWP_SYNCHRONOUS_IO, SWP_USED, SWP_WRITEOK,
                                        TTRS_ANYWAY, TTRS_FULL, TTRS_UNMAPPED,
                                        percpu_ref, swap_count, swap_info_struct)
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kconfig import CONFIG_THP_SWAP, PAGE_SIZE, PMD_ORDER
from swaplab.kernel import custom
from swaplab.kernel.custom import (GFP_ATOMIC, alloc_page, mem_cgroup,
                                   schedule_work, should_fail)
from swaplab.kernel.dup import (ALIGN, ALIGN_DOWN, DIV_ROUND_UP, IS_ALIGNED, folio, folio_mapped,
                                folio_nr_pages, folio_put, folio_set_dirty, folio_test_locked, folio_test_uptodate, folio_trylock, folio_unlock, list_add_tail,
                                list_del, list_empty, list_for_each_entry,
                                list_head, list_move_tail, plist_add, plist_del,
                                plist_head, plist_node_in, plist_requeue)
from swaplab.kernel.locking import (cond_resched, get_current, local_lock,
                                    local_unlock, lockdep_assert_held,
                                    mutex, mutex_lock, mutex_unlock,
                                    smp_processor_id, spin_lock, spin_trylock,
                                    spin_unlock, spinlock_t)
from swaplab.kernel.stubs import (mem_cgroup_swap_full,
                                  pm_suspended_storage)
from swaplab.mm.swap import (CLUSTER_FLAG_DISCARD, CLUSTER_FLAG_FRAG,
                             CLUSTER_FLAG_FREE, CLUSTER_FLAG_FULL,
                             CLUSTER_FLAG_NONE, CLUSTER_FLAG_NONFULL,
                             CLUSTER_FLAG_USABLE, __swap_entry_to_info,
                             __swap_type_to_info,
                             folio_matches_swap_entry, swap_cluster_info,
                             swap_cluster_lock, swap_cluster_unlock, swap_info)

# ---------------------------------------------------------------------------
# Globals (mm/swapfile.c)

swap_lock = spinlock_t("swap_lock")
swap_avail_lock = spinlock_t("swap_avail_lock")
swapon_mutex = mutex("swapon_mutex")

# Both plists are ordered by -prio (plist is ascending): highest priority first.
swap_active_head: plist_head[swap_info_struct] = plist_head()   # protected by swap_lock
swap_avail_head: plist_head[swap_info_struct] = plist_head()    # protected by swap_avail_lock


class atomic_long_t:
    __slots__ = ("counter",)

    def __init__(self, v: int = 0) -> None:
        self.counter = v


nr_swap_pages: Final = atomic_long_t(0)
total_swap_pages = 0        # protected by swap_lock
nr_swapfiles = 0            # protected by swap_lock
nr_rotate_swap = 0

# memset() sources: a run of each byte value, sliced to length.
_USAGE_RUN: Final = {1: b"\x01" * SWAPFILE_CLUSTER, SWAP_HAS_CACHE: b"\x40" * SWAPFILE_CLUSTER}
_ZEROES: Final = bytes(SWAPFILE_CLUSTER)
# Bytes a plain increment by 1 handles (in use, digit < SWAP_MAP_MAX, no
# continuation), and the increment itself, for bytes.translate().
_DUP_PLAIN: Final = bytes(b for b in range(256)
                   if not b & COUNT_CONTINUED and b & 0x3f < SWAP_MAP_MAX and b != 0)
_DUP_INC: Final = bytes(b + 1 if b in _DUP_PLAIN else b for b in range(256))


def bitmap_clear(map: bytearray, start: int, nr: int) -> None:
    """lib/bitmap.c ``bitmap_clear()``: clear bits ``[start, start + nr)`` of a bitmap.

    Context: the caller serialises the bitmap (for the zeromap: the slots'
    cluster lock).
    Return: nothing.
    """
    end = start + nr
    while start < end and start & 7:
        map[start >> 3] &= ~(1 << (start & 7)) & 0xff
        start += 1
    full = (end - start) >> 3
    if full:
        map[start >> 3:(start >> 3) + full] = bytes(full)
        start += full << 3
    while start < end:
        map[start >> 3] &= ~(1 << (start & 7)) & 0xff
        start += 1


class percpu_swap_cluster_t:
    """struct percpu_swap_cluster: this CPU's "next order-k slot is here" cache."""

    __slots__ = ("si", "offset", "lock")

    def __init__(self) -> None:
        self.si: list[swap_info_struct | None] = [None] * SWAP_NR_ORDERS
        self.offset: list[int] = [SWAP_ENTRY_INVALID] * SWAP_NR_ORDERS
        self.lock = spinlock_t("percpu_swap_cluster.lock")


percpu_swap_cluster: Final[list[percpu_swap_cluster_t]] = [percpu_swap_cluster_t()]


def reset_swapfile(nr_cpus: int = 1) -> None:
    """Boot state: no devices, empty lists, ``nr_cpus`` per-CPU cluster caches."""
    global total_swap_pages, nr_swapfiles, nr_rotate_swap
    swap_info.clear()
    swap_active_head.nodes.clear()
    swap_avail_head.nodes.clear()
    nr_swap_pages.counter = 0
    total_swap_pages = 0
    nr_swapfiles = 0
    nr_rotate_swap = 0
    percpu_swap_cluster[:] = [percpu_swap_cluster_t() for _ in range(nr_cpus)]
    for lock in (swap_lock, swap_avail_lock, swapon_mutex):
        lock.owner = None


def get_nr_swap_pages() -> int:
    """include/linux/swap.h: free swap slots on all enabled devices.

    Context: any (lockless read of nr_swap_pages).
    Return: the number of free slots.
    """
    return nr_swap_pages.counter


def vm_swap_full() -> bool:
    """Is swap more than half used (``nr_swap_pages * 2 < total_swap_pages``)?

    Context: any (lockless read).
    Return: True if more than half of the swap slots are in use.
    """
    return nr_swap_pages.counter * 2 < total_swap_pages


@__always_inline
def swap_type_to_info(type: int) -> swap_info_struct | None:
    """The device of a swap type, or None for a type out of range.

    The kernel also returns NULL for a negative type; the model does not
    check it (``swap_info[-1]`` is the last device), and relies on callers
    never passing one.

    Context: any; the device stays valid only while pinned (get_swap_device()
    or another guard against swapoff).
    Return: the swap_info_struct, or None (type >= MAX_SWAPFILES or never used).
    """
    if type >= MAX_SWAPFILES:
        return None
    return __swap_type_to_info(type)


@__always_inline
def swap_entry_to_info(entry: int) -> swap_info_struct | None:
    """The device of an entry's type, or None for a type out of range.

    Context: any; the device stays valid only while pinned.
    Return: the swap_info_struct, or None.
    """
    return swap_type_to_info(swp_type(entry))


def swap_usage_in_pages(si: swap_info_struct) -> int:
    """Slots in use on the device: ``si->inuse_pages`` without the off-list bit.

    Context: any (lockless read).
    Return: the number of used slots.
    """
    return si.inuse_pages & SWAP_USAGE_COUNTER_MASK


# ---------------------------------------------------------------------------
# Device reference (si->users): the guard against swapoff.

@__always_inline
def get_swap_device_info(si: swap_info_struct) -> bool:
    """``percpu_ref_tryget_live(&si->users)``: pin a device unless swapoff killed its reference.

    Context: any.
    Return: True with a reference taken (drop it with put_swap_device()),
    False if the device is not live.
    """
    users = si.users
    if not users.live:
        return False
    users.count += 1
    return True


def get_swap_device(entry: int) -> swap_info_struct | None:
    """Check an entry and pin its device against swapoff.

    Context: any; the caller must later call put_swap_device().
    Return: the device, or None for entry 0, a bad type, a device being
    swapped off, or an offset beyond the device ("Bad swap ... entry" logged).
    """
    if not entry:
        return None
    si = swap_entry_to_info(entry)
    if si is None:
        pr_err(f"get_swap_device: Bad swap file entry {entry:08x}")
        return None
    if not get_swap_device_info(si):
        return None
    offset = swp_offset(entry)
    if offset >= si.max:
        pr_err(f"get_swap_device: Bad swap offset entry {entry:08x}")
        si.users.count -= 1
        return None
    return si


def put_swap_device(si: swap_info_struct) -> None:
    """``percpu_ref_put(&si->users)``: drop a reference taken by get_swap_device().

    An underflow (a put without a get) is a ``vm-warn`` finding.

    Context: paired with get_swap_device() or get_swap_device_info().
    Return: nothing.
    """
    users = si.users
    users.count -= 1
    if users.count < 0:
        report("vm-warn", f"put_swap_device: reference count of type {si.type} underflows")
        users.count = 0


def percpu_ref_is_zero(ref: percpu_ref) -> bool:
    """include/linux/percpu-refcount.h: is the reference killed and dropped to zero?

    Context: any.
    Return: True if the ref is no longer live and holds no reference.
    """
    return not ref.live and ref.count == 0


# ---------------------------------------------------------------------------
# Cluster helpers.

@__always_inline
def cluster_offset(si: swap_info_struct, ci: swap_cluster_info) -> int:
    """Offset of the first slot of ``ci`` (tiny helper)."""
    return ci.idx * SWAPFILE_CLUSTER


@__always_inline
def cluster_is_empty(ci: swap_cluster_info) -> bool:
    """Does the cluster hold no used slot (tiny predicate)?"""
    return ci.count == 0


@__always_inline
def cluster_is_discard(ci: swap_cluster_info) -> bool:
    """Is the cluster waiting for discard (tiny predicate)?"""
    return ci.flags == CLUSTER_FLAG_DISCARD


@__always_inline
def cluster_table_is_alloced(ci: swap_cluster_info) -> bool:
    """Does the cluster have a swap table (tiny predicate)?"""
    return ci.table is not None


@__always_inline
def cluster_is_usable(ci: swap_cluster_info, order: int) -> bool:
    """Can an order-``order`` allocation be served from this cluster?

    Context: ``ci->lock`` held (flags, table, count and order are read).
    Return: True if the cluster is on an allocatable list (or isolated), has
    a table, and is empty or already serving ``order`` (any cluster serves
    order 0).
    """
    if ci.flags > CLUSTER_FLAG_USABLE:
        return False
    if ci.table is None:
        return False
    if not order:
        return True
    return ci.count == 0 or order == ci.order


def swap_cluster_alloc_table(si: swap_info_struct, ci: swap_cluster_info) -> swap_cluster_info | None:
    """Give a cluster just isolated from the free list its swap table.

    The atomic allocation may fail; the kernel then drops every allocator
    lock, retries with GFP_KERNEL and takes them again (the model keeps them
    held and treats an armed fault as failing both tries).  When the retry
    fails too, the cluster goes back to the free list.

    Context: ``ci->lock`` held (cluster isolated, flags NONE); the allocator's
    per-CPU cluster local lock held; for HDDs also ``si->global_cluster_lock``.
    Return: ``ci``, still locked, with a table; or None, the cluster unlocked
    and back on the free list.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
        lockdep_assert_held(percpu_swap_cluster[smp_processor_id()].lock)
    if not should_fail("swap_table_alloc"):
        ci.table = {}
        return ci
    # GFP_KERNEL retry: the model treats an armed fault as failing both tries.
    if not should_fail("swap_table_alloc"):
        ci.table = {}
        return ci
    spin_lock(si.lock)
    list_add_tail(ci.list, si.free_clusters)
    ci.flags = CLUSTER_FLAG_FREE
    spin_unlock(si.lock)
    spin_unlock(ci.lock)
    return None


def swap_cluster_free_table(ci: swap_cluster_info) -> None:
    """Free the swap table of a cluster that is going to the free list.

    Context: ``ci->lock`` held; the table holds no word any more.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
        VM_WARN_ON_ONCE(bool(ci.table), "freeing a swap table that still has entries")
    ci.table = None


def move_cluster(si: swap_info_struct, ci: swap_cluster_info, list: list_head[Any],
                 new_flags: int) -> None:
    """Move a cluster to the tail of ``list`` and set its flags.

    Context: ``ci->lock`` held, ``si->lock`` not held (taken here for the list);
    ``new_flags`` differs from the current flags.
    Return: nothing.
    """
    if __debug__:
        VM_WARN_ON(ci.flags == new_flags, "move_cluster to the list it is on")
        lockdep_assert_held(ci.lock)
    spin_lock(si.lock)
    if ci.flags == CLUSTER_FLAG_NONE:
        list_add_tail(ci.list, list)
    else:
        list_move_tail(ci.list, list)
    spin_unlock(si.lock)
    ci.flags = new_flags


def swap_cluster_schedule_discard(si: swap_info_struct, ci: swap_cluster_info) -> None:
    """Add a cluster to the discard list and schedule the discard work.

    Context: ``ci->lock`` held; the cluster is empty and not on the free list.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON(ci.flags == CLUSTER_FLAG_FREE)
    move_cluster(si, ci, si.discard_clusters, CLUSTER_FLAG_DISCARD)
    if not si.discard_work_pending:
        si.discard_work_pending = True
        schedule_work(swap_discard_work, si)


def __free_cluster(si: swap_info_struct, ci: swap_cluster_info) -> None:
    """Free an empty cluster's table and put it on the free list (order reset to 0).

    Context: ``ci->lock`` held; the cluster is empty.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    swap_cluster_free_table(ci)
    move_cluster(si, ci, si.free_clusters, CLUSTER_FLAG_FREE)
    ci.order = 0


def free_cluster(si: swap_info_struct, ci: swap_cluster_info) -> None:
    """An emptied cluster goes to the discard list (discarding devices) or the free list.

    Called after a free left ``ci->count`` at 0.

    Context: ``ci->lock`` held; the cluster is empty and not already free.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON(ci.count != 0, "free_cluster: count != 0")
        VM_BUG_ON(ci.flags == CLUSTER_FLAG_FREE, "free_cluster: already free")
        lockdep_assert_held(ci.lock)
    if (si.flags & (SWP_WRITEOK | SWP_PAGE_DISCARD)) == (SWP_WRITEOK | SWP_PAGE_DISCARD):
        swap_cluster_schedule_discard(si, ci)
        return
    __free_cluster(si, ci)


def partial_free_cluster(si: swap_info_struct, ci: swap_cluster_info) -> None:
    """A free made room in a cluster: it joins nonfull[order].

    Called after a free left ``ci->count`` neither 0 nor full.

    Context: ``ci->lock`` held; ``0 < ci->count < SWAPFILE_CLUSTER``.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON(not ci.count or ci.count == SWAPFILE_CLUSTER, "partial_free_cluster: bad count")
        lockdep_assert_held(ci.lock)
    if ci.flags != CLUSTER_FLAG_NONFULL:
        move_cluster(si, ci, si.nonfull_clusters[ci.order], CLUSTER_FLAG_NONFULL)


def relocate_cluster(si: swap_info_struct, ci: swap_cluster_info) -> None:
    """After an allocation: put the cluster on the list its count says (free, frag or full).

    The allocator does not take ``si->lock`` and may have dropped ``ci->lock``
    for reclaim, so the cluster may be on any list or off-list; a cluster
    waiting for discard is left alone.

    Context: ``ci->lock`` held.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    if ci.flags == CLUSTER_FLAG_DISCARD:
        return
    count = ci.count
    if not count:
        if ci.flags != CLUSTER_FLAG_FREE:
            free_cluster(si, ci)
    elif count != SWAPFILE_CLUSTER:
        if ci.flags != CLUSTER_FLAG_FRAG:
            move_cluster(si, ci, si.frag_clusters[ci.order], CLUSTER_FLAG_FRAG)
    else:
        if ci.flags != CLUSTER_FLAG_FULL:
            move_cluster(si, ci, si.full_clusters, CLUSTER_FLAG_FULL)


def isolate_lock_cluster(si: swap_info_struct, list: list_head[Any]) -> swap_cluster_info | None:
    """Take the first cluster of ``list`` whose lock can be try-locked off the list.

    Its flags are cleared while it is off-list, so the flags always tell its
    list.  A cluster taken from the free list gets its swap table here.  All
    clusters of a non-empty list may be contended: then nothing is found.

    Context: allocator context: the per-CPU cluster local lock held (for a
    table allocation), the device pinned; ``si->lock`` and the clusters' locks
    not held.
    Return: the cluster, locked, flags NONE, with a swap table; or None (empty
    list, every cluster contended, or the table allocation failed).
    """
    found = None
    flags = CLUSTER_FLAG_NONE
    spin_lock(si.lock)
    for ci in list_for_each_entry(list):
        if not spin_trylock(ci.lock):
            continue
        if __debug__:
            VM_BUG_ON(not ci.flags, "isolating an off-list cluster")
            VM_BUG_ON(ci.flags > CLUSTER_FLAG_USABLE and ci.flags != CLUSTER_FLAG_FULL,
                      "isolating a discard cluster")
        list_del(ci.list)
        flags = ci.flags
        ci.flags = CLUSTER_FLAG_NONE
        found = ci
        break
    spin_unlock(si.lock)
    if found is not None and found.table is None:
        if __debug__:
            VM_WARN_ON_ONCE(flags != CLUSTER_FLAG_FREE, "a cluster without a table that was not free")
        return swap_cluster_alloc_table(si, found)
    return found


def swap_do_scheduled_discard(si: swap_info_struct) -> bool:
    """Discard every cluster on the discard list, then free it.

    Context: process context (the discard work, or swap_sync_discard()); the
    device pinned; ``si->lock`` and cluster locks not held.
    Return: True if any cluster was discarded.
    """
    ret = False
    spin_lock(si.lock)
    while not list_empty(si.discard_clusters):
        ci: swap_cluster_info = si.discard_clusters.next.entry  # type: ignore[assignment]
        list_del(ci.list)           # keeps CLUSTER_FLAG_DISCARD while off-list
        spin_unlock(si.lock)
        bdev = si.bdev or si.swap_file
        if bdev is not None:
            bdev.discards += 1      # discard_swap_cluster()
        spin_lock(ci.lock)
        ci.flags = CLUSTER_FLAG_NONE
        __free_cluster(si, ci)
        spin_unlock(ci.lock)
        ret = True
        spin_lock(si.lock)
    spin_unlock(si.lock)
    return ret


def swap_discard_work(si: swap_info_struct) -> None:
    """The discard work item (``si->discard_work``): run the scheduled discards.

    Context: workqueue (process context), no locks held.
    Return: nothing.
    """
    si.discard_work_pending = False
    if si.flags & SWP_USED:
        swap_do_scheduled_discard(si)


def swap_sync_discard() -> bool:
    """Discard synchronously on the first discarding device that has clusters waiting.

    Called by folio_alloc_swap() when an order-0 allocation found nothing.

    Context: process context; no swap locks held (the per-CPU local lock was
    dropped); takes swap_lock.
    Return: True if any cluster was discarded (the caller retries).
    """
    ret = False
    spin_lock(swap_lock)
    for si in list(swap_active_head):
        if not get_swap_device_info(si):
            continue
        spin_unlock(swap_lock)
        if si.flags & SWP_PAGE_DISCARD:
            ret = swap_do_scheduled_discard(si)
        put_swap_device(si)
        if ret:
            return True
        spin_lock(swap_lock)
    spin_unlock(swap_lock)
    return ret


# ---------------------------------------------------------------------------
# Usage accounting and the allocation (avail) list.

def del_from_avail_list(si: swap_info_struct, swapoff: bool) -> None:
    """Take a device off swap_avail_head (the only place SWAP_USAGE_OFFLIST_BIT is set).

    For swapoff, unconditionally, clearing SWP_WRITEOK; otherwise only if the
    device is exactly full and still on the list.

    Context: ``swapoff``: ``si->lock`` held (and swap_lock); otherwise any
    (swap_usage_add() under a cluster lock).  Takes swap_avail_lock.
    Return: nothing.
    """
    spin_lock(swap_avail_lock)
    if swapoff:
        if __debug__:
            lockdep_assert_held(si.lock)
        si.flags &= ~SWP_WRITEOK
        si.inuse_pages |= SWAP_USAGE_OFFLIST_BIT
    else:
        # Only a device that is exactly full (and still on the list) leaves it.
        if si.inuse_pages != si.pages:
            spin_unlock(swap_avail_lock)
            return
        si.inuse_pages = si.pages | SWAP_USAGE_OFFLIST_BIT
    plist_del(si, swap_avail_head)
    spin_unlock(swap_avail_lock)


def add_to_avail_list(si: swap_info_struct, swapon: bool) -> None:
    """Put a device back on swap_avail_head (the only place SWAP_USAGE_OFFLIST_BIT is cleared).

    For swapon, setting SWP_WRITEOK; otherwise only if the device is still
    SWP_WRITEOK, off the list and no longer full.

    Context: ``swapon``: ``si->lock`` held (and swap_lock); otherwise any
    (swap_usage_sub() under a cluster lock).  Takes swap_avail_lock.
    Return: nothing.
    """
    spin_lock(swap_avail_lock)
    if swapon:
        if __debug__:
            lockdep_assert_held(si.lock)
        si.flags |= SWP_WRITEOK
    elif not si.flags & SWP_WRITEOK:
        spin_unlock(swap_avail_lock)
        return
    if not si.inuse_pages & SWAP_USAGE_OFFLIST_BIT:
        spin_unlock(swap_avail_lock)
        return
    val = si.inuse_pages
    si.inuse_pages = val & ~SWAP_USAGE_OFFLIST_BIT
    if (val & ~SWAP_USAGE_OFFLIST_BIT) == si.pages:
        # Still full: put the bit back and stay off the list.
        si.inuse_pages = si.pages | SWAP_USAGE_OFFLIST_BIT
        spin_unlock(swap_avail_lock)
        return
    plist_add(si, -si.prio, swap_avail_head)
    spin_unlock(swap_avail_lock)


@__always_inline
def swap_usage_add(si: swap_info_struct, nr_entries: int) -> bool:
    """``inuse_pages += nr``; a device that becomes exactly full leaves the avail list.

    Context: the lock of the cluster whose slots were allocated.
    Return: True if the device became full (and left the list).
    """
    si.inuse_pages += nr_entries
    if si.inuse_pages == si.pages:
        del_from_avail_list(si, False)
        return True
    return False


@__always_inline
def swap_usage_sub(si: swap_info_struct, nr_entries: int) -> None:
    """``inuse_pages -= nr``; an off-list device with room rejoins the avail list.

    Context: the lock of the cluster whose slots were freed.
    Return: nothing.
    """
    si.inuse_pages -= nr_entries
    if si.inuse_pages & SWAP_USAGE_OFFLIST_BIT:
        add_to_avail_list(si, False)


def swap_range_alloc(si: swap_info_struct, nr_entries: int) -> None:
    """Account ``nr_entries`` newly allocated slots; a device that became full schedules reclaim.

    Context: the lock of the cluster the slots belong to.
    Return: nothing.
    """
    if swap_usage_add(si, nr_entries):
        if vm_swap_full() and not si.reclaim_work_pending:
            si.reclaim_work_pending = True
            schedule_work(swap_reclaim_work, si)
    nr_swap_pages.counter -= nr_entries


def swap_range_free(si: swap_info_struct, offset: int, nr_entries: int) -> None:
    """Side effects of freeing slots: zeromap, zswap, arch, driver notify, shadows, counters.

    Context: the lock of the cluster the slots belong to.
    Return: nothing.
    """
    bitmap_clear(si.zeromap, offset, nr_entries)  # type: ignore[arg-type]
    # zswap_invalidate(), arch_swap_invalidate_page() and the driver's
    # swap_slot_free_notify() are empty on the modeled configuration
    # (zswap off, x86_64, brd/virtio-blk): see swaplab/kernel/stubs.py.
    swap_data = si.swap_data
    if swap_data:
        for i in range(offset, offset + nr_entries):
            swap_data.pop(i, None)
    __swap_cache_clear_shadow(swp_entry(si.type, offset), nr_entries)
    nr_swap_pages.counter += nr_entries
    swap_usage_sub(si, nr_entries)


def swap_entries_free(si: swap_info_struct, ci: swap_cluster_info, entry: int,
                      nr_pages: int) -> None:
    """The only place a slot becomes free.

    Context: ci->lock held; all slots in ``ci``; each byte a last reference
    (``1`` or ``SWAP_HAS_CACHE``).
    Return: nothing.
    """
    offset = swp_offset(entry)
    swap_map = si.swap_map
    if __debug__:
        VM_BUG_ON(ci.idx != (offset + nr_pages - 1) // SWAPFILE_CLUSTER,
                  "swap_entries_free across clusters")
        VM_BUG_ON(ci.count == 0, "swap_entries_free on an empty cluster")
        VM_BUG_ON(ci.count < nr_pages, "swap_entries_free: cluster count too small")
    ci.count -= nr_pages
    if __debug__:
        seg = swap_map[offset:offset + nr_pages]  # type: ignore[index]
        if seg.count(1) + seg.count(SWAP_HAS_CACHE) != nr_pages:
            VM_BUG_ON(True, "swap_entries_free: a slot does not hold its last reference")
    swap_map[offset:offset + nr_pages] = _ZEROES[:nr_pages]  # type: ignore[index]
    mem_cgroup_uncharge_swap(si, offset, nr_pages)
    swap_range_free(si, offset, nr_pages)
    if not ci.count:
        free_cluster(si, ci)
    else:
        partial_free_cluster(si, ci)


# ---------------------------------------------------------------------------
# Allocation.

def cluster_scan_range(si: swap_info_struct, ci: swap_cluster_info, offset: int,
                       nr_pages: int, need_reclaim: list[bool]) -> bool:
    """Can ``[offset, offset + nr)`` be allocated?  Cache-only slots only if swap is full.

    Context: ``ci->lock`` held.
    Return: True if every slot is free, or cache-only while swap is full (then
    ``need_reclaim[0]`` is set: the caller must reclaim them first).
    """
    if ci.count == 0:
        return True
    swap_map = si.swap_map
    for i in range(offset, offset + nr_pages):
        ent = swap_map[i]  # type: ignore[index]
        if ent == 0:
            continue
        if ent == SWAP_HAS_CACHE:
            if not vm_swap_full():
                return False
            need_reclaim[0] = True
            continue
        return False
    return True


def cluster_reclaim_range(si: swap_info_struct, ci: swap_cluster_info, start: int,
                          end: int) -> bool:
    """Evict the cache-only folios of ``[start, end)``; is the range free now?

    ``ci->lock`` is dropped while reclaiming, so the cluster may have changed
    meanwhile (the caller re-checks cluster_is_usable()).

    Context: ``ci->lock`` held on entry and on return (dropped in between);
    the device pinned.
    Return: True if every slot of the range is free after the reclaim.
    """
    swap_map = si.swap_map
    offset = start
    spin_unlock(ci.lock)
    while offset < end:
        ent = swap_map[offset]  # type: ignore[index]
        if ent == 0:
            offset += 1
        elif ent == SWAP_HAS_CACHE:
            nr_reclaim = __try_to_reclaim_swap(si, offset, TTRS_ANYWAY)
            if nr_reclaim > 0:
                offset += nr_reclaim
            else:
                break
        else:
            break
    spin_lock(ci.lock)
    for i in range(start, end):
        if swap_map[i]:  # type: ignore[index]
            return False
    return True


def cluster_alloc_range(si: swap_info_struct, ci: swap_cluster_info, start: int,
                        usage: int, order: int) -> bool:
    """Hand out ``[start, start + 2^order)`` with ``usage`` in every byte.

    The first allocation in an empty cluster makes it serve ``order``.

    Context: ``ci->lock`` held; the slots were found free by cluster_scan_range().
    Return: True if allocated, False if the device is no longer SWP_WRITEOK
    (swapoff started).
    """
    nr_pages = 1 << order
    if __debug__:
        lockdep_assert_held(ci.lock)
    if not si.flags & SWP_WRITEOK:
        return False
    if ci.count == 0:
        ci.order = order
    si.swap_map[start:start + nr_pages] = _USAGE_RUN[usage][:nr_pages]  # type: ignore[index]
    if __debug__:
        table = ci.table
        if table:
            base = start - ci.idx * SWAPFILE_CLUSTER
            VM_WARN_ON(any(type(table.get(base + i)) is folio for i in range(nr_pages)),
                       "allocating a slot whose swap table word is a folio")
    swap_range_alloc(si, nr_pages)
    ci.count += nr_pages
    return True


def alloc_swap_scan_cluster(si: swap_info_struct, ci: swap_cluster_info, offset: int,
                            order: int, usage: int) -> int:
    """Allocate from one locked cluster, scanning forward from ``offset``.

    The cluster is relocated and the next offset remembered (per-CPU for SSDs,
    global_cluster for HDDs), found or not.

    Context: ``ci->lock`` held, released on return; the per-CPU cluster local
    lock held (and ``si->global_cluster_lock`` for HDDs); the device pinned.
    Return: the offset allocated, or 0 (SWAP_ENTRY_INVALID).
    """
    next = SWAP_ENTRY_INVALID
    found = SWAP_ENTRY_INVALID
    start = ALIGN_DOWN(offset, SWAPFILE_CLUSTER)
    end = min(start + SWAPFILE_CLUSTER, si.max)
    nr_pages = 1 << order
    if __debug__:
        lockdep_assert_held(ci.lock)
    if end < nr_pages or ci.count + nr_pages > SWAPFILE_CLUSTER:
        pass
    else:
        end -= nr_pages
        need_reclaim = [False]
        while offset <= end:
            need_reclaim[0] = False
            if not cluster_scan_range(si, ci, offset, nr_pages, need_reclaim):
                offset += nr_pages
                continue
            if need_reclaim[0]:
                ret = cluster_reclaim_range(si, ci, offset, offset + nr_pages)
                # The cluster lock was dropped: the cluster may serve another order now.
                if not cluster_is_usable(ci, order):
                    break
                if ci.count == 0:
                    offset = start
                if not ret:
                    offset += nr_pages
                    continue
            if not cluster_alloc_range(si, ci, offset, usage, order):
                break
            found = offset
            offset += nr_pages
            if ci.count < SWAPFILE_CLUSTER and offset <= end:
                next = offset
            break
    relocate_cluster(si, ci)
    swap_cluster_unlock(ci)
    if si.flags & SWP_SOLIDSTATE:
        pcp = percpu_swap_cluster[smp_processor_id()]
        pcp.offset[order] = next
        pcp.si[order] = si
    else:
        si.global_cluster[order] = next  # type: ignore[index]
    return found


def swap_reclaim_full_clusters(si: swap_info_struct, force: bool) -> None:
    """Evict cache-only folios from full clusters (one cluster, or all when ``force``).

    Context: the device pinned; no cluster lock held.  ``force`` (the reclaim
    work) runs in process context; without it the allocator calls this with
    its locks held, so only try-locks are taken on folios.
    Return: nothing.
    """
    to_scan = 1
    if force:
        to_scan = swap_usage_in_pages(si) // SWAPFILE_CLUSTER
    swap_map = si.swap_map
    while True:
        ci = isolate_lock_cluster(si, si.full_clusters)
        if ci is None:
            break
        offset = cluster_offset(si, ci)
        end = min(si.max, offset + SWAPFILE_CLUSTER)
        while offset < end:
            if swap_map[offset] == SWAP_HAS_CACHE:  # type: ignore[index]
                spin_unlock(ci.lock)
                nr_reclaim = __try_to_reclaim_swap(si, offset, TTRS_ANYWAY)
                spin_lock(ci.lock)
                if nr_reclaim:
                    offset += abs(nr_reclaim)
                    continue
            offset += 1
        # In case no entry was freed: put the cluster back where it belongs.
        if ci.flags == CLUSTER_FLAG_NONE:
            relocate_cluster(si, ci)
        swap_cluster_unlock(ci)
        to_scan -= 1
        if to_scan <= 0:
            break


def swap_reclaim_work(si: swap_info_struct) -> None:
    """The reclaim work item (``si->reclaim_work``): reclaim every full cluster.

    Context: workqueue (process context), no locks held.
    Return: nothing.
    """
    si.reclaim_work_pending = False
    if si.flags & SWP_USED and si.users.live:
        swap_reclaim_full_clusters(si, True)


def _scan_list(si: swap_info_struct, list: list_head[Any], order: int, usage: int,
               scan_all: bool) -> int:
    """Isolate clusters from ``list`` and scan each from its start: the kernel's alloc_swap_scan_list()."""
    while True:
        ci = isolate_lock_cluster(si, list)
        if ci is None:
            return 0
        found = alloc_swap_scan_cluster(si, ci, cluster_offset(si, ci), order, usage)
        if found or not scan_all:
            return found


def cluster_alloc_swap_entry(si: swap_info_struct, order: int, usage: int) -> int:
    """The per-device allocator: cached next (HDD), then new clusters list by list.

    Context: per-CPU cluster local lock held, device reference held; takes
    ``si->global_cluster_lock`` on HDDs.
    Return: the offset allocated, or 0 (a file for a large order, or no room).
    """
    found = SWAP_ENTRY_INVALID
    # A swap file (not a block device) cannot hold large folios.
    if order and not si.flags & SWP_BLKDEV:
        return 0
    hdd = not si.flags & SWP_SOLIDSTATE
    if hdd:
        # Serialize HDD allocation per device; keep it sequential.
        spin_lock(si.global_cluster_lock)
        offset = si.global_cluster[order]  # type: ignore[index]
        if offset != SWAP_ENTRY_INVALID:
            ci = swap_cluster_lock(si, offset)
            if cluster_is_usable(ci, order):
                if ci.count == 0:
                    offset = cluster_offset(si, ci)
                found = alloc_swap_scan_cluster(si, ci, offset, order, usage)
            else:
                swap_cluster_unlock(ci)
    if not found:
        found = _cluster_alloc_new(si, order, usage)
    if hdd:
        spin_unlock(si.global_cluster_lock)
    return found


def _cluster_alloc_new(si: swap_info_struct, order: int, usage: int) -> int:
    """The ``new_cluster:`` part of cluster_alloc_swap_entry()."""
    # Discarding devices prefer a new cluster, to spread the writes.
    if si.flags & SWP_PAGE_DISCARD:
        found = _scan_list(si, si.free_clusters, order, usage, False)
        if found:
            return found
    if order < PMD_ORDER:
        found = _scan_list(si, si.nonfull_clusters[order], order, usage, True)
        if found:
            return found
    if not si.flags & SWP_PAGE_DISCARD:
        found = _scan_list(si, si.free_clusters, order, usage, False)
        if found:
            return found
    # Free and nonfull lists are drained: try to reclaim full clusters.
    if vm_swap_full():
        swap_reclaim_full_clusters(si, False)
    if order < PMD_ORDER:
        found = _scan_list(si, si.frag_clusters[order], order, usage, False)
        if found:
            return found
    if order:
        return 0
    # Order 0 steals from clusters of higher orders.
    for o in range(1, SWAP_NR_ORDERS):
        found = _scan_list(si, si.frag_clusters[o], 0, usage, True)
        if found:
            return found
        found = _scan_list(si, si.nonfull_clusters[o], 0, usage, True)
        if found:
            return found
    return 0


def swap_alloc_fast(order: int) -> int:
    """Allocate from this CPU's cached cluster.

    Context: the per-CPU cluster local lock held.
    Return: the entry, or 0 (no cached cluster, device gone, or no room in it).
    """
    pcp = percpu_swap_cluster[smp_processor_id()]
    si = pcp.si[order]
    offset = pcp.offset[order]
    if si is None or not offset or not get_swap_device_info(si):
        return 0
    found = 0
    ci = swap_cluster_lock(si, offset)
    if cluster_is_usable(ci, order):
        if ci.count == 0:
            offset = cluster_offset(si, ci)
        found = alloc_swap_scan_cluster(si, ci, offset, order, SWAP_HAS_CACHE)
    else:
        swap_cluster_unlock(ci)
    put_swap_device(si)
    return swp_entry(si.type, found) if found else 0


def swap_alloc_slow(order: int) -> int:
    """Walk the available devices by priority, rotating equals, until one has room.

    Context: the per-CPU cluster local lock held; takes swap_avail_lock.
    Return: the entry, or 0 (no device had room; a large order gives up after
    the first device tried).
    """
    spin_lock(swap_avail_lock)
    while True:
        restart = False
        nodes = list(swap_avail_head)
        for i, si in enumerate(nodes):
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            # Rotate the device and switch to a new cluster.
            plist_requeue(si, swap_avail_head)
            spin_unlock(swap_avail_lock)
            if get_swap_device_info(si):
                offset = cluster_alloc_swap_entry(si, order, SWAP_HAS_CACHE)
                put_swap_device(si)
                if offset:
                    return swp_entry(si.type, offset)
                if order:
                    return 0
            spin_lock(swap_avail_lock)
            # The list may have changed while unlocked: go on with next if it
            # is still there, else start over.
            if nxt is not None and not plist_node_in(nxt, swap_avail_head):
                restart = True
                break
        if not restart:
            break
    spin_unlock(swap_avail_lock)
    return 0


def folio_alloc_swap(folio: folio) -> int:
    """Allocate swap slots for a folio and add it to the swap cache.

    The only allocation entry point besides hibernation: one naturally
    aligned run of folio_nr_pages() slots in one cluster, swap count 0,
    pinned by the swap cache.

    Context: Caller must ensure the folio is locked and uptodate, not yet in
    the swap cache.
    Return: 0 on success; -EAGAIN for a large folio without THP_SWAP;
    -EINVAL for a folio larger than a cluster; -ENOMEM when no device has
    room or the memcg swap charge fails.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(folio.PG_locked.owner is None, folio, "folio_alloc_swap: folio not locked")
        VM_BUG_ON_FOLIO(not folio.PG_uptodate, folio, "folio_alloc_swap: folio not uptodate")
    order = folio.order
    size = 1 << order
    if order:
        # Reject large allocation when THP_SWAP is disabled; the caller splits.
        if not CONFIG_THP_SWAP:
            return -EAGAIN
        if size > SWAPFILE_CLUSTER:
            if __debug__:
                VM_WARN_ON_ONCE(True, "folio_alloc_swap: folio larger than a cluster")
            return -EINVAL
    while True:
        pcp = percpu_swap_cluster[smp_processor_id()]
        local_lock(pcp.lock)
        entry = 0
        if not should_fail("device_full"):
            entry = swap_alloc_fast(order)
            if not entry:
                entry = swap_alloc_slow(order)
        local_unlock(pcp.lock)
        if not order and not entry:
            if swap_sync_discard():
                continue
        break
    # Need to call this even if allocation failed, for MEMCG_SWAP_FAIL.
    if mem_cgroup_try_charge_swap(folio, entry):
        put_swap_folio(folio, entry)
        return -ENOMEM
    if not entry:
        return -ENOMEM
    WARN_ON_ONCE(swap_cache_add_folio(folio, entry, None, True),
                 "swap_cache_add_folio failed on freshly allocated slots")
    # Allocator should always allocate aligned entries so folio based
    # operations never cross more than one cluster.
    if __debug__:
        VM_WARN_ON_ONCE_FOLIO(not IS_ALIGNED(folio.swap, size), folio,
                              "folio->swap not aligned to the folio size")
    return 0


# ---------------------------------------------------------------------------
# memcg swap accounting (mm/memcontrol.c, reduced).

def mem_cgroup_try_charge_swap(folio: folio, entry: int) -> int:
    """mm/memcontrol.c ``__mem_cgroup_try_charge_swap()`` (reduced): charge the folio's slots to its memcg.

    Called even when the allocation failed (``entry`` 0) to count the
    MEMCG_SWAP_FAIL event.

    Context: Caller must ensure the folio is locked and the slots were just
    allocated for it.
    Return: 0, or -ENOMEM (swap.max would be exceeded, or the injected fault).
    """
    memcg: mem_cgroup | None = folio.memcg
    if not entry:
        if memcg is not None:
            memcg.swap_fail_events += 1
        return 0
    nr = folio_nr_pages(folio)
    if should_fail("memcg_swap_charge") or (
            memcg is not None and memcg.swap_max is not None
            and memcg.swap_usage + nr > memcg.swap_max):
        if memcg is not None:
            memcg.swap_fail_events += 1
        return -ENOMEM
    if memcg is not None:
        memcg.swap_usage += nr
        si = __swap_entry_to_info(entry)
        off = swp_offset(entry)
        for i in range(nr):
            si.swap_cgroup[off + i] = memcg  # type: ignore[union-attr]
    return 0


def mem_cgroup_uncharge_swap(si: swap_info_struct, offset: int, nr_pages: int) -> None:
    """mm/memcontrol.c ``mem_cgroup_uncharge_swap()`` (reduced): uncharge freed slots from their memcg.

    The model takes the device and offset where the kernel takes the entry.

    Context: the lock of the cluster whose slots are being freed.
    Return: nothing.
    """
    cg = si.swap_cgroup
    if not cg:
        return
    for i in range(offset, offset + nr_pages):
        memcg = cg.pop(i, None)
        if memcg is not None:
            memcg.swap_usage -= 1


# ---------------------------------------------------------------------------
# Swap counts: dup and put, with count continuation.

def swap_count_continued(si: swap_info_struct, offset: int, count: int) -> bool:
    """Carry into / borrow from the continuation pages of ``offset``'s swap_map page.

    ``count`` is the slot's byte without SWAP_HAS_CACHE: ``SWAP_MAP_MAX``
    (first carry), ``SWAP_MAP_MAX | COUNT_CONTINUED`` (increment) or
    ``COUNT_CONTINUED`` (decrement).

    Context: the slot's cluster lock held; takes ``si->cont_lock``.
    Return: incrementing, True if the carry was stored (False: a new level
    is needed); decrementing, True if higher levels still hold a count.
    """
    levels = si.swap_map_cont.get(offset // PAGE_SIZE)
    if levels is None:
        if __debug__:
            VM_BUG_ON(bool(count & COUNT_CONTINUED), "COUNT_CONTINUED without continuation pages")
        return False                      # need to add count continuation
    spin_lock(si.cont_lock)
    off = offset % PAGE_SIZE
    lvl = 0
    ret: bool
    if count == SWAP_MAP_MAX:
        # Initial increment from swap_map: the first level starts from 0.
        levels[0][off] = 1
        ret = True
    elif count == (SWAP_MAP_MAX | COUNT_CONTINUED):
        # Think of how you add 1 to 999.
        while levels[lvl][off] == (SWAP_CONT_MAX | COUNT_CONTINUED):
            lvl += 1
            if __debug__:
                VM_BUG_ON(lvl == len(levels), "continuation chain ends while flagged")
        if levels[lvl][off] == SWAP_CONT_MAX:
            lvl += 1
            if lvl == len(levels):
                spin_unlock(si.cont_lock)
                return False              # add count continuation
            levels[lvl][off] = 0          # we didn't zero the page
        levels[lvl][off] += 1
        while lvl > 0:
            lvl -= 1
            levels[lvl][off] = COUNT_CONTINUED
        ret = True
    else:
        # Think of how you subtract 1 from 1000.
        if __debug__:
            VM_BUG_ON(count != COUNT_CONTINUED, "decrementing a non-continued count")
        while levels[lvl][off] == COUNT_CONTINUED:
            lvl += 1
            if __debug__:
                VM_BUG_ON(lvl == len(levels), "continuation chain ends while flagged")
        if __debug__:
            VM_BUG_ON(levels[lvl][off] == 0, "continuation digit already 0")
        levels[lvl][off] -= 1
        c = 0 if levels[lvl][off] == 0 else COUNT_CONTINUED
        while lvl > 0:
            lvl -= 1
            levels[lvl][off] = SWAP_CONT_MAX | c
            c = COUNT_CONTINUED
        ret = c == COUNT_CONTINUED
    spin_unlock(si.cont_lock)
    return ret


def add_swap_count_continuation(entry: int, gfp_mask: int) -> int:
    """Add a continuation page to the swap_map page holding ``entry``, if it needs one.

    Context: may be called under the PTL with GFP_ATOMIC; fork retries with
    GFP_KERNEL after dropping its locks.
    Return: 0 (added, or not needed, or the device went away) or -ENOMEM.
    """
    page = alloc_page(gfp_mask)
    if page is not None and should_fail("cont_alloc"):
        page = None
    si = get_swap_device(entry)
    if si is None:
        # An acceptable race: the swap device may have been swapped off.
        return 0
    ret = 0
    offset = swp_offset(entry)
    ci = swap_cluster_lock(si, offset)
    count = swap_count(si.swap_map[offset])  # type: ignore[index]
    if (count & ~COUNT_CONTINUED) != SWAP_MAP_MAX:
        # Someone else added continuation meanwhile: nothing to do.
        pass
    elif page is None:
        ret = -ENOMEM
    else:
        spin_lock(si.cont_lock)
        key = offset // PAGE_SIZE
        off = offset % PAGE_SIZE
        levels = si.swap_map_cont.get(key)
        if levels is None:
            if __debug__:
                VM_BUG_ON(bool(count & COUNT_CONTINUED), "continued count without pages")
            levels = si.swap_map_cont[key] = []
            si.flags |= SWP_CONTINUED
        attach = True
        for level in levels:
            # Previous level said "no continuation", or this one has room: reuse it.
            if not count & COUNT_CONTINUED:
                attach = False
                break
            count = level[off]
            if (count & ~COUNT_CONTINUED) != SWAP_CONT_MAX:
                attach = False
                break
        if attach:
            levels.append(page)
        spin_unlock(si.cont_lock)
    swap_cluster_unlock(ci)
    put_swap_device(si)
    return ret


def __swap_duplicate(entry: int, usage: int, nr: int) -> int:
    """Add ``usage`` (1, or SWAP_HAS_CACHE) to ``nr`` slots of one cluster.

    Context: the caller pins the device (PTL, folio lock...).  All slots are
    checked before any is changed; an increment needing a continuation page
    returns -ENOMEM at once, without rolling back slots already raised.
    Return: 0, -ENOENT (free or BAD slot), -EEXIST (already cached),
    -EINVAL (no device, or corrupt count) or -ENOMEM.
    """
    si = swap_entry_to_info(entry)
    if WARN_ON_ONCE(si is None, "__swap_duplicate: no device for the entry"):
        return -EINVAL
    offset = swp_offset(entry)
    if WARN_ON_ONCE(offset + nr > si.max, "__swap_duplicate: range beyond si->max"):  # type: ignore[union-attr]
        return -EINVAL
    if __debug__:
        VM_WARN_ON(nr > SWAPFILE_CLUSTER - offset % SWAPFILE_CLUSTER,
                   "__swap_duplicate across clusters")
    ci = swap_cluster_lock(si, offset)  # type: ignore[arg-type]
    err = swap_dup_entries(si, ci, offset, usage, nr)  # type: ignore[arg-type]
    swap_cluster_unlock(ci)
    return err


def swap_dup_entries(si: swap_info_struct, ci: swap_cluster_info, offset: int,
                     usage: int, nr: int) -> int:
    """The locked body of __swap_duplicate(): add ``usage`` to ``nr`` slots.

    Context: ci->lock held; all slots in ``ci``.
    Return: 0, -ENOENT (a free or BAD slot), -EEXIST (SWAP_HAS_CACHE already
    set), -EINVAL (corrupt count) or -ENOMEM (a continuation page is needed;
    slots already raised are not rolled back).
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    swap_map = si.swap_map
    if usage == 1 and nr > 1:
        # The two loops below, at C speed, for the common case (shmem dups a
        # whole folio): every slot in use, its digit below SWAP_MAP_MAX.
        seg = swap_map[offset:offset + nr]  # type: ignore[index]
        if not seg.translate(None, _DUP_PLAIN):
            swap_map[offset:offset + nr] = seg.translate(_DUP_INC)  # type: ignore[index]
            return 0
    for i in range(offset, offset + nr):
        count = swap_map[i]  # type: ignore[index]
        # The allocator never hands out BAD slots; readahead checks swap_entry_swapped().
        if WARN_ON(swap_count(count) == SWAP_MAP_BAD, "dup of a BAD slot"):
            return -ENOENT
        has_cache = count & SWAP_HAS_CACHE
        count &= ~SWAP_HAS_CACHE
        if not count and not has_cache:
            return -ENOENT
        if usage == SWAP_HAS_CACHE:
            if has_cache:
                return -EEXIST
        elif (count & ~COUNT_CONTINUED) > SWAP_MAP_MAX:
            return -EINVAL
    for i in range(offset, offset + nr):
        count = swap_map[i]  # type: ignore[index]
        has_cache = count & SWAP_HAS_CACHE
        count &= ~SWAP_HAS_CACHE
        if usage == SWAP_HAS_CACHE:
            has_cache = SWAP_HAS_CACHE
        elif (count & ~COUNT_CONTINUED) < SWAP_MAP_MAX:
            count += usage
        elif swap_count_continued(si, i, count):
            count = COUNT_CONTINUED
        else:
            # Don't need to roll back changes, see __swap_duplicate().
            return -ENOMEM
        swap_map[i] = count | has_cache  # type: ignore[index]
    return 0


def swap_entry_put_locked(si: swap_info_struct, ci: swap_cluster_info, entry: int,
                          usage: int) -> int:
    """Drop one count (``usage`` 1) or the cache pin (SWAP_HAS_CACHE) of a slot.

    Context: ci->lock held.  A slot reaching 0 is freed here.
    Return: the slot's new byte.
    """
    offset = swp_offset(entry)
    count = si.swap_map[offset]  # type: ignore[index]
    has_cache = count & SWAP_HAS_CACHE
    count &= ~SWAP_HAS_CACHE
    if usage == SWAP_HAS_CACHE:
        if __debug__:
            VM_BUG_ON(not has_cache, "clearing SWAP_HAS_CACHE that is not set")
        has_cache = 0
    elif (count & ~COUNT_CONTINUED) <= SWAP_MAP_MAX:
        if count == COUNT_CONTINUED:
            if swap_count_continued(si, offset, count):
                count = SWAP_MAP_MAX | COUNT_CONTINUED
            else:
                count = SWAP_MAP_MAX
        elif count == 0:
            # The kernel has no check here: the byte wraps to 0xff.
            report("count-underflow",
                   f"swap count of slot [{si.type}, {offset}] dropped below 0", depth=1)
            count = 0xff & ~SWAP_HAS_CACHE
        else:
            count -= 1
    usage = count | has_cache
    if usage:
        si.swap_map[offset] = usage  # type: ignore[index]
    else:
        swap_entries_free(si, ci, entry, 1)
    return usage


def swap_is_last_map(si: swap_info_struct, offset: int, nr_pages: int,
                     has_cache: list[bool]) -> bool:
    """Are all ``nr_pages`` bytes equal, each holding a swap count of exactly 1?

    Context: the slots' cluster lock held.
    Return: True if so (``has_cache[0]`` then says whether they are cached).
    """
    swap_map = si.swap_map
    count = swap_map[offset]  # type: ignore[index]
    if swap_count(count) != 1:
        return False
    if swap_map[offset:offset + nr_pages].count(count) != nr_pages:  # type: ignore[index]
        return False
    has_cache[0] = bool(count & SWAP_HAS_CACHE)
    return True


def swap_entries_put_map(si: swap_info_struct, entry: int, nr: int) -> bool:
    """Drop one count of ``nr`` slots of one cluster.

    Slots reaching count 0 are freed unless cached (they become cache-only).

    Context: the device pinned; takes the cluster lock.
    Return: True if any slot is now cache-only.
    """
    offset = swp_offset(entry)
    has_cache = [False]
    if nr > 1 and swap_count(si.swap_map[offset]) == 1:  # type: ignore[index]
        ci = swap_cluster_lock(si, offset)
        if swap_is_last_map(si, offset, nr, has_cache):
            if not has_cache[0]:
                swap_entries_free(si, ci, entry, nr)
            else:
                si.swap_map[offset:offset + nr] = _USAGE_RUN[SWAP_HAS_CACHE][:nr]  # type: ignore[index]
            swap_cluster_unlock(ci)
            return has_cache[0]
    else:
        ci = swap_cluster_lock(si, offset)
    ret = False
    for i in range(nr):
        if swap_entry_put_locked(si, ci, entry + i, 1) == SWAP_HAS_CACHE:
            ret = True
    swap_cluster_unlock(ci)
    return ret


def swap_entries_put_map_nr(si: swap_info_struct, entry: int, nr: int) -> bool:
    """swap_entries_put_map() over a range that may span clusters.

    Context: the device pinned.
    Return: True if any slot is now cache-only.
    """
    offset = swp_offset(entry)
    cluster_rest = SWAPFILE_CLUSTER - offset % SWAPFILE_CLUSTER
    has_cache = False
    while nr:
        cluster_nr = min(nr, cluster_rest)
        has_cache |= swap_entries_put_map(si, entry, cluster_nr)
        cluster_rest = SWAPFILE_CLUSTER
        nr -= cluster_nr
        entry += cluster_nr
    return has_cache


def swap_only_has_cache(si: swap_info_struct, offset: int, nr_pages: int) -> bool:
    """Is every slot of the range exactly cache-only (count 0, SWAP_HAS_CACHE)?

    Context: the slots' cluster lock held; the slots belong to a cached folio
    (a byte without SWAP_HAS_CACHE is a BUG).
    Return: True if every byte is SWAP_HAS_CACHE.
    """
    seg = si.swap_map[offset:offset + nr_pages]  # type: ignore[index]
    if seg.count(SWAP_HAS_CACHE) == nr_pages:
        return True
    if __debug__:
        VM_BUG_ON(any(not ent & SWAP_HAS_CACHE for ent in seg),
                  "slot of a cached folio without SWAP_HAS_CACHE")
    return False


def __swapcache_set_cached(si: swap_info_struct, ci: swap_cluster_info, entry: int) -> None:
    """Set SWAP_HAS_CACHE on one slot as a folio joins the swap cache.

    Context: ci->lock held; the slot has a swap count and is not cached.
    Return: nothing (a refused dup is a WARN).
    """
    WARN_ON(swap_dup_entries(si, ci, swp_offset(entry), SWAP_HAS_CACHE, 1),
            "__swapcache_set_cached: slot cannot be cached")


def __swapcache_clear_cached(si: swap_info_struct, ci: swap_cluster_info, entry: int,
                             nr: int) -> None:
    """Clear SWAP_HAS_CACHE as a folio leaves the swap cache; count-0 slots are freed.

    Context: ci->lock held; all ``nr`` slots in ``ci`` and cached.
    Return: nothing.
    """
    offset = swp_offset(entry)
    if swap_only_has_cache(si, offset, nr):
        swap_entries_free(si, ci, entry, nr)
    else:
        for i in range(nr):
            swap_entry_put_locked(si, ci, entry + i, SWAP_HAS_CACHE)


def put_swap_folio(folio: folio, entry: int) -> None:
    """Release the cache pins of slots allocated for ``folio`` that never joined the cache.

    Only caller at T14F: folio_alloc_swap()'s memcg-charge failure path.

    Context: Caller must ensure the folio is locked; the device is pinned
    (the slots are still allocated); takes the cluster lock.
    Return: nothing.
    """
    offset = swp_offset(entry)
    size = 1 << folio.order
    si = _swap_info_get(entry)
    if si is None:
        return
    ci = swap_cluster_lock(si, offset)
    if swap_only_has_cache(si, offset, size):
        swap_entries_free(si, ci, entry, size)
    else:
        for i in range(size):
            swap_entry_put_locked(si, ci, entry + i, SWAP_HAS_CACHE)
    swap_cluster_unlock(ci)


def folio_dup_swap(folio: folio, subpage: Any = None) -> int:
    """Increase the swap count of a folio's swap entries.

    Typically called when the folio is unmapped and a swap entry takes its
    place.  ``subpage`` given: only that page's slot.  None: every slot
    (only shmem, which dups each entry once).

    Context: Caller must ensure the folio is locked and in the swap cache,
    and hold the lock of the new entry's owner (e.g. the PTL).
    Return: 0 on success (also when the dup was refused as -ENOENT/-EINVAL),
    -ENOMEM if a continuation page could not be allocated atomically.
    """
    if __debug__:
        VM_WARN_ON_FOLIO(folio.PG_locked.owner is None, folio, "folio_dup_swap: folio not locked")
        VM_WARN_ON_FOLIO(not folio.PG_swapcache, folio, "folio_dup_swap: folio not in swap cache")
    entry = folio.swap
    nr_pages = 1 << folio.order
    if subpage is not None:
        entry += subpage.idx
        nr_pages = 1
    err = 0
    while not err and __swap_duplicate(entry, 1, nr_pages) == -ENOMEM:
        err = add_swap_count_continuation(entry, GFP_ATOMIC)
    return err


def folio_put_swap(folio: folio, subpage: Any = None) -> None:
    """Decrease the swap count of a folio's swap entries.

    Never frees a slot: they stay pinned by the swap cache (lazy freeing);
    folio_free_swap() frees them eagerly.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
    """
    if __debug__:
        VM_WARN_ON_FOLIO(folio.PG_locked.owner is None, folio, "folio_put_swap: folio not locked")
        VM_WARN_ON_FOLIO(not folio.PG_swapcache, folio, "folio_put_swap: folio not in swap cache")
    entry = folio.swap
    nr_pages = 1 << folio.order
    if subpage is not None:
        entry += subpage.idx
        nr_pages = 1
    swap_entries_put_map(__swap_entry_to_info(entry), entry, nr_pages)  # type: ignore[arg-type]


def swap_dup_entry_direct(entry: int) -> int:
    """Increase the reference count of a swap entry by one.

    Context: Caller must ensure there is no race condition on the reference
    owner, e.g. by holding the PTL of a pte containing the entry.
    Return: 0, or -ENOMEM when an atomic continuation page was needed and
    could not be allocated.  -ENOENT/-EINVAL are swallowed (a corrupt pte).
    """
    err = 0
    while not err and __swap_duplicate(entry, 1, 1) == -ENOMEM:
        err = add_swap_count_continuation(entry, GFP_ATOMIC)
    return err


def swap_put_entries_direct(entry: int, nr: int) -> None:
    """Release a reference on a range of entries and reclaim their cache if unused.

    Context: Caller must ensure there is no race condition on the reference
    owner, e.g. by holding the PTL of the ptes being cleared.
    Return: nothing (an invalid entry or range is a WARN).
    """
    start_offset = swp_offset(entry)
    end_offset = start_offset + nr
    si = get_swap_device(entry)
    if WARN_ON_ONCE(si is None, "swap_put_entries_direct: no swap device for the entry"):
        return
    if WARN_ON_ONCE(end_offset > si.max, "swap_put_entries_direct: range beyond si->max"):  # type: ignore[union-attr]
        put_swap_device(si)  # type: ignore[arg-type]
        return
    _put_entries_and_reclaim(si, entry, nr)  # type: ignore[arg-type]
    put_swap_device(si)  # type: ignore[arg-type]


def _put_entries_and_reclaim(si: swap_info_struct, entry: int, nr: int) -> None:
    """Body shared by swap_put_entries_direct() and free_swap_and_cache_nr()."""
    start_offset = swp_offset(entry)
    end_offset = start_offset + nr
    # First free all entries in the range.
    if not swap_entries_put_map_nr(si, entry, nr):
        return
    # Now go back over the range trying to reclaim the swap cache.
    offset = start_offset
    while offset < end_offset:
        step = 1
        if si.swap_map[offset] == SWAP_HAS_CACHE:  # type: ignore[index]
            # Folios are naturally aligned in swap: skip to the next boundary.
            step = __try_to_reclaim_swap(si, offset, TTRS_UNMAPPED | TTRS_FULL)
            if step == 0:
                step = 1
            elif step < 0:
                step = -step
            step = ALIGN(offset + 1, step) - offset
        offset += step


# ---------------------------------------------------------------------------
# Queries.

def __swap_count(entry: int) -> int:
    """The swap count byte of a slot, without SWAP_HAS_CACHE (continuation not decoded).

    Context: the caller pins the device; lockless read.
    Return: ``swap_count()`` of the slot's byte (0 if free or cache-only;
    SWAP_MAP_BAD, or COUNT_CONTINUED set, as stored).
    """
    si = __swap_entry_to_info(entry)
    return swap_count(si.swap_map[swp_offset(entry)])  # type: ignore[union-attr,index]


def swap_entry_swapped(si: swap_info_struct, entry: int) -> bool:
    """Does the slot have a swap count (cache pin aside; BAD is not swapped)?

    Context: the caller pins the device; takes the entry's cluster lock, so
    the caller must not hold it.
    Return: True if the slot's count is non-zero and not SWAP_MAP_BAD.
    """
    offset = swp_offset(entry)
    ci = swap_cluster_lock(si, offset)
    count = swap_count(si.swap_map[offset])  # type: ignore[index]
    swap_cluster_unlock(ci)
    return bool(count) and count != SWAP_MAP_BAD


def swap_page_trans_huge_swapped(si: swap_info_struct, entry: int, order: int) -> bool:
    """Does any slot of the naturally aligned order-``order`` range have a swap count?

    Context: the caller pins the device; takes the cluster lock.
    Return: True if any slot's count is non-zero.
    """
    nr_pages = 1 << order
    offset = ALIGN_DOWN(swp_offset(entry), nr_pages)
    ci = swap_cluster_lock(si, offset)
    ret = False
    for i in range(offset, offset + nr_pages):
        if swap_count(si.swap_map[i]):  # type: ignore[index]
            ret = True
            break
    swap_cluster_unlock(ci)
    return ret


def folio_swapped(folio: folio) -> bool:
    """Does any slot of the folio still have a swap count?

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: True if any of its slots is referenced by a swap entry.
    """
    entry = folio.swap
    if __debug__:
        VM_WARN_ON_ONCE_FOLIO(folio.PG_locked.owner is None, folio, "folio_swapped: not locked")
        VM_WARN_ON_ONCE_FOLIO(not folio.PG_swapcache, folio, "folio_swapped: not in swap cache")
    si = __swap_entry_to_info(entry)
    if not folio.order:
        return swap_entry_swapped(si, entry)  # type: ignore[arg-type]
    return swap_page_trans_huge_swapped(si, entry, folio.order)  # type: ignore[arg-type]


def swp_swapcount(entry: int) -> int:
    """The exact swap count of a slot, continuation included.

    Context: any; pins the device and takes the cluster lock itself.
    Return: the count, 0 for a free/cache-only slot or an invalid entry.
    """
    si = get_swap_device(entry)
    if si is None:
        return 0
    offset = swp_offset(entry)
    ci = swap_cluster_lock(si, offset)
    count = swap_count(si.swap_map[offset])  # type: ignore[index]
    if count & COUNT_CONTINUED:
        count = swap_map_count(si, offset)
    swap_cluster_unlock(ci)
    put_swap_device(si)
    return count


def swap_map_count(si: swap_info_struct, offset: int) -> int:
    """Decode a slot's count from its byte and continuation digits (model helper).

    Context: the slot's cluster lock held, or the device quiescent (harness).
    Return: the count (SWAP_HAS_CACHE not counted; BAD is 0).
    """
    ent = si.swap_map[offset]  # type: ignore[index]
    count = ent & ~(SWAP_HAS_CACHE | COUNT_CONTINUED)
    if count == SWAP_MAP_BAD:
        return 0
    if not ent & COUNT_CONTINUED:
        return count
    levels = si.swap_map_cont.get(offset // PAGE_SIZE, [])
    n = 63
    off = offset % PAGE_SIZE
    for level in levels:
        digit = level[off]
        count += (digit & ~COUNT_CONTINUED) * n
        if not digit & COUNT_CONTINUED:
            break
        n *= SWAP_CONT_MAX + 1
    return count


# ---------------------------------------------------------------------------
# Freeing swap cache.

def folio_swapcache_freeable(folio: folio) -> bool:
    """May the folio's swap space be freed (in the swap cache, not under writeback)?

    Context: Caller must hold the folio lock (VM_BUG_ON otherwise).
    Return: False if not in the swap cache, under writeback, or while
    hibernation has suspended storage; True otherwise.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(folio.PG_locked.owner is None, folio, "folio_swapcache_freeable: not locked")
    if not folio.PG_swapcache:
        return False
    if folio.PG_writeback:
        return False
    # Hibernation suspends storage while writing its image.
    if pm_suspended_storage():
        return False
    return True


def folio_free_swap(folio: folio) -> bool:
    """Free the swap space of a swap-cache folio if nothing refers to it.

    Context: Caller must ensure the folio is locked.
    Return: True if the folio left the swap cache and its slots were freed.
    """
    if not folio_swapcache_freeable(folio):
        return False
    if folio_swapped(folio):
        return False
    swap_cache_del_folio(folio)
    folio_set_dirty(folio)
    return True


def __try_to_reclaim_swap(si: swap_info_struct, offset: int, flags: int) -> int:
    """Try to drop the swap-cache folio of a slot, under the ``TTRS_*`` conditions.

    Context: never sleeps on the folio lock (callers may hold another folio
    lock); the cluster lock of ``offset`` must not be held.
    Return: +nr if the folio was removed, -nr if found but kept, 0 if none.
    """
    entry = swp_entry(si.type, offset)
    while True:
        folio = swap_cache_get_folio(entry)
        if folio is None:
            return 0
        nr_pages = 1 << folio.order
        ret = -nr_pages
        if not folio_trylock(folio):
            folio_put(folio)
            return ret
        # Offset could point to the middle of a large folio, or the folio
        # may no longer point to the expected offset before it's locked.
        if not folio_matches_swap_entry(folio, entry):
            folio_unlock(folio)
            folio_put(folio)
            continue
        break
    offset = swp_offset(folio.swap)
    need_reclaim = bool((flags & TTRS_ANYWAY)
                        or ((flags & TTRS_UNMAPPED) and not folio_mapped(folio))
                        or ((flags & TTRS_FULL) and mem_cgroup_swap_full(folio)))
    if need_reclaim and folio_swapcache_freeable(folio):
        # Only if every slot is cache-only: no pte reference, no pending
        # writeback, and they can't be allocated to others.
        ci = swap_cluster_lock(si, offset)
        need_reclaim = swap_only_has_cache(si, offset, nr_pages)
        swap_cluster_unlock(ci)
        if need_reclaim:
            swap_cache_del_folio(folio)
            folio_set_dirty(folio)
            ret = nr_pages
    folio_unlock(folio)
    folio_put(folio)
    return ret


# ---------------------------------------------------------------------------
# Hibernation: slots exclusive to the snapshot.

def swap_alloc_hibernation_slot(type: int) -> int:
    """Allocate a slot for hibernation: count 1, not cached.

    At T14F this uses the per-device allocator only (not this CPU's cached
    cluster), so on an SSD each call starts a new cluster while free ones
    remain.
    Context: process context; the device is pinned with a reference here.
    Return: the entry, or 0 on failure.
    """
    si = swap_type_to_info(type)
    entry = 0
    if si is None:
        return entry
    if get_swap_device_info(si):
        if si.flags & SWP_WRITEOK:
            # Grab the local lock to be compliant with swap table allocation.
            pcp = percpu_swap_cluster[smp_processor_id()]
            local_lock(pcp.lock)
            offset = cluster_alloc_swap_entry(si, 0, 1)
            local_unlock(pcp.lock)
            if offset:
                entry = swp_entry(si.type, offset)
        put_swap_device(si)
    return entry


def swap_free_hibernation_slot(entry: int) -> None:
    """Free a slot allocated by swap_alloc_hibernation_slot() (T14F: fix A applied).

    Context: process context; the slot's owner (hibernation) serialises its
    use; pins the device and takes the slot's cluster lock.
    Return: nothing (no device is a WARN).
    """
    offset = swp_offset(entry)
    si = get_swap_device(entry)
    if WARN_ON(si is None, "swap_free_hibernation_slot: no device"):
        return
    ci = swap_cluster_lock(si, offset)  # type: ignore[arg-type]
    swap_entry_put_locked(si, ci, entry, 1)  # type: ignore[arg-type]
    swap_cluster_unlock(ci)
    # In theory readahead might add it to the swap cache by accident.
    __try_to_reclaim_swap(si, offset, TTRS_ANYWAY)  # type: ignore[arg-type]
    put_swap_device(si)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The legacy API (T13): what the callers used before the patch.

def _swap_info_get(entry: int) -> swap_info_struct | None:
    """Validate an entry without pinning its device; log and return None if bad."""
    if not entry:
        return None
    si = swap_entry_to_info(entry)
    if si is None:
        pr_err(f"_swap_info_get: Bad swap file entry {entry:08x}")
        return None
    if not si.flags & SWP_USED:
        pr_err(f"_swap_info_get: Unused swap file entry {entry:08x}")
        return None
    offset = swp_offset(entry)
    if offset >= si.max:
        pr_err(f"_swap_info_get: Bad swap offset entry {entry:08x}")
        return None
    if not si.swap_map[offset]:  # type: ignore[index]
        pr_err(f"_swap_info_get: Unused swap offset entry {entry:08x}")
        return None
    return si


def swap_duplicate_nr(entry: int, nr: int) -> int:
    """T13: increase the count of ``nr`` contiguous entries by 1.

    Context: Caller keeps the entries' device from going away (PTL of a pte
    holding them, or a locked swap-cache folio).
    Return: 0 (also on swallowed -ENOENT/-EINVAL) or -ENOMEM.
    """
    err = 0
    while not err and __swap_duplicate(entry, 1, nr) == -ENOMEM:
        err = add_swap_count_continuation(entry, GFP_ATOMIC)
    return err


def swap_duplicate(entry: int) -> int:
    """T13: increase the count of one entry by 1 (swap_duplicate_nr(entry, 1)).

    Context: as swap_duplicate_nr().
    Return: 0 or -ENOMEM.
    """
    return swap_duplicate_nr(entry, 1)


def swap_free_nr(entry: int, nr_pages: int) -> None:
    """T13: drop one count of each entry; no device ref, no cache reclaim.

    Context: the caller has made sure the device is still around.
    Return: nothing (a bad entry is logged).
    """
    offset = swp_offset(entry)
    si = _swap_info_get(entry)
    if si is None:
        return
    while nr_pages:
        nr = min(nr_pages, SWAPFILE_CLUSTER - offset % SWAPFILE_CLUSTER)
        swap_entries_put_map(si, swp_entry(si.type, offset), nr)
        offset += nr
        nr_pages -= nr


def swap_free(entry: int) -> None:
    """T13: drop one count of one entry (swap_free_nr(entry, 1)).

    Context: as swap_free_nr().
    Return: nothing.
    """
    swap_free_nr(entry, 1)


def free_swap_and_cache_nr(entry: int, nr: int) -> None:
    """T13 name of swap_put_entries_direct(): silent when the device lookup fails.

    Context: Caller holds the lock of the entries' owner (the PTL).
    Return: nothing.
    """
    start_offset = swp_offset(entry)
    si = get_swap_device(entry)
    if si is None:
        return
    if WARN_ON(start_offset + nr > si.max, "free_swap_and_cache_nr: range beyond si->max"):
        put_swap_device(si)
        return
    _put_entries_and_reclaim(si, entry, nr)
    put_swap_device(si)


def free_swap_and_cache(entry: int) -> None:
    """T13: free_swap_and_cache_nr(entry, 1).

    Context: as free_swap_and_cache_nr().
    Return: nothing.
    """
    free_swap_and_cache_nr(entry, 1)


# T13's name of swap_alloc_hibernation_slot(): the patch renamed it and left
# its body as it was, so the legacy API binds the old name to the one body.
# Context: process context; pins the device itself.  Return: the entry, or 0.
get_swap_page_of_type = swap_alloc_hibernation_slot


# ---------------------------------------------------------------------------
# swapon(2).

def alloc_swap_info() -> swap_info_struct | int:
    """Claim the lowest free type for swapon (reusing a freed swap_info_struct).

    Context: process context (swapon); takes swap_lock.
    Return: the struct (flags SWP_USED, off the avail list), or -EPERM (all
    MAX_SWAPFILES types in use).  The kernel's -ENOMEM is not modeled.
    """
    global nr_swapfiles
    spin_lock(swap_lock)
    type = 0
    while type < nr_swapfiles:
        si = swap_info[type]
        if si is None or not si.flags & SWP_USED:
            break
        type += 1
    if type >= MAX_SWAPFILES:
        spin_unlock(swap_lock)
        return -EPERM
    if type >= nr_swapfiles:
        si = swap_info_struct(type)
        swap_info.append(si)
        nr_swapfiles += 1
    else:
        si = swap_info[type]
        if si is None:
            si = swap_info[type] = swap_info_struct(type)
        else:
            si.__init__(type)  # type: ignore[misc]   # reuse: structs are never freed
    si.flags = SWP_USED
    si.inuse_pages = SWAP_USAGE_OFFLIST_BIT
    spin_unlock(swap_lock)
    return si


def read_swap_header(si: swap_info_struct, header: bytes, size_pages: int,
                     badpages: list[int]) -> int:
    """Validate a version-1 swap header and read its bad-page list into ``badpages``.

    Context: process context (swapon); the device is not visible yet.
    Return: maxpages, or 0 (swapon then fails with -EINVAL).
    """
    if len(header) < PAGE_SIZE or header[PAGE_SIZE - 10:PAGE_SIZE] != b"SWAPSPACE2":
        pr_err("Unable to find swap-space signature")
        return 0
    version, last_page, nr_badpages = struct.unpack_from("<III", header, 1024)
    # Swap header written on a machine of the other endianness?
    if version != 1 and struct.unpack_from(">I", header, 1024)[0] == 1:
        version, last_page, nr_badpages = struct.unpack_from(">III", header, 1024)
        if nr_badpages > MAX_SWAP_BADPAGES:
            return 0
        fmt = ">I"
    else:
        fmt = "<I"
    if version != 1:
        pr_warn(f"Unable to handle swap header version {version}")
        return 0
    if nr_badpages > MAX_SWAP_BADPAGES:
        return 0
    maxpages = last_page + 1
    if not last_page:
        pr_warn("Empty swap-file")
        return 0
    if maxpages > size_pages:
        pr_warn("Swap area shorter than signature indicates")
        return 0
    badpages[:] = [struct.unpack_from(fmt, header, 1536 + 4 * i)[0]
                   for i in range(nr_badpages)]
    return maxpages


def swap_cluster_setup_bad_slot(si: swap_info_struct, cluster_info: list[swap_cluster_info],
                                swap_map: bytearray, offset: int, mask: bool) -> int:
    """Mark one slot unusable at swapon (header, bad page, or past the end).

    The slot's cluster counts it as used, so it never reaches the free list.

    Context: process context (swapon), before the device is visible: no locks.
    Return: 0, or -EINVAL for a bad page listed twice.
    """
    if not mask:
        if swap_map[offset] == SWAP_MAP_BAD:
            pr_warn("Duplicated bad slot offset")
            return -EINVAL
        swap_map[offset] = SWAP_MAP_BAD
        if offset:
            si.pages -= 1
    ci = cluster_info[offset // SWAPFILE_CLUSTER]
    if ci.table is None:
        ci.table = {}
    ci.count += 1
    return 0


def setup_clusters(si: swap_info_struct, maxpages: int, badpages: list[int],
                   swap_map: bytearray) -> list[swap_cluster_info] | int:
    """Build the clusters and their lists at swapon.

    Context: process context (swapon), before the device is visible: no locks.
    Return: the cluster array, or -EINVAL (a bad page out of range or listed twice).
    """
    nr_clusters = DIV_ROUND_UP(maxpages, SWAPFILE_CLUSTER)
    cluster_info = [swap_cluster_info(i) for i in range(nr_clusters)]
    if not si.flags & SWP_SOLIDSTATE:
        si.global_cluster = [SWAP_ENTRY_INVALID] * SWAP_NR_ORDERS
    # Mark unusable pages as unavailable: the header page, bad pages, and the
    # EOF part of the last cluster.
    err = swap_cluster_setup_bad_slot(si, cluster_info, swap_map, 0, False)
    if err:
        return err
    for page_nr in badpages:
        if page_nr == 0 or page_nr > maxpages - 1:
            pr_warn("Bad slot offset is out of border")
            return -EINVAL
        err = swap_cluster_setup_bad_slot(si, cluster_info, swap_map, page_nr, False)
        if err:
            return err
    # The EOF part: the kernel calls swap_cluster_setup_bad_slot(mask=true)
    # on each slot past maxpages, which only counts it in the last cluster
    # (swap_map ends at maxpages); the model counts them in one step.
    tail = nr_clusters * SWAPFILE_CLUSTER - maxpages
    if tail:
        swap_cluster_setup_bad_slot(si, cluster_info, swap_map, maxpages, True)
        cluster_info[-1].count += tail - 1
    si.free_clusters = list_head(name="free_clusters")
    si.full_clusters = list_head(name="full_clusters")
    si.discard_clusters = list_head(name="discard_clusters")
    si.nonfull_clusters = [list_head(name=f"nonfull_clusters[{o}]") for o in range(SWAP_NR_ORDERS)]
    si.frag_clusters = [list_head(name=f"frag_clusters[{o}]") for o in range(SWAP_NR_ORDERS)]
    nonfull0 = si.nonfull_clusters[0]
    free = si.free_clusters
    for ci in cluster_info:
        if ci.count:
            ci.flags = CLUSTER_FLAG_NONFULL
            list_add_tail(ci.list, nonfull0)
        else:
            ci.flags = CLUSTER_FLAG_FREE
            list_add_tail(ci.list, free)
    return cluster_info


def _enable_swap_info(si: swap_info_struct) -> None:
    """Count the device's pages and put it on the active and avail lists.

    Context: swap_lock and ``si->lock`` held.
    Return: nothing.
    """
    global total_swap_pages
    nr_swap_pages.counter += si.pages
    total_swap_pages += si.pages
    if __debug__:
        lockdep_assert_held(swap_lock)
    plist_add(si, -si.prio, swap_active_head)
    add_to_avail_list(si, True)


def enable_swap_info(si: swap_info_struct, prio: int) -> None:
    """Make a set-up device live: resurrect ``si->users`` and expose it to the allocator.

    Context: process context (swapon, swapon_mutex held); takes swap_lock and
    ``si->lock``.
    Return: nothing.
    """
    spin_lock(swap_lock)
    spin_lock(si.lock)
    si.prio = prio
    si.users.live = True          # percpu_ref_resurrect()
    _enable_swap_info(si)
    spin_unlock(si.lock)
    spin_unlock(swap_lock)


def swap_flags_string(si: swap_info_struct) -> str:
    """The ``SS``/``D``/``s``/``c`` flags of swapon's pr_info line (model helper)."""
    out = ""
    if si.flags & SWP_SOLIDSTATE:
        out += "SS"
    if si.flags & SWP_DISCARDABLE:
        out += "D"
    if si.flags & SWP_AREA_DISCARD:
        out += "s"
    if si.flags & SWP_PAGE_DISCARD:
        out += "c"
    return out


def sys_swapon(specialfile: str, swap_flags: int) -> int:
    """swapon(2).

    Context: process context; takes swapon_mutex.
    Return: 0, or -EINVAL (bad flags or header), -EPERM (all types in use),
    -ENOENT (no such file), -EBUSY (already a swap area), -ENOMEM.
    A failed swapon leaves no trace: the type is released.
    """
    if swap_flags & ~SWAP_FLAGS_VALID:
        return -EINVAL
    si_or_err = alloc_swap_info()
    if isinstance(si_or_err, int):
        return si_or_err
    si = si_or_err
    err = _swapon_setup(si, specialfile, swap_flags)
    if err:
        # bad_swap: undo everything, free the type.
        spin_lock(swap_lock)
        bdev = si.swap_file
        if bdev is not None:
            bdev.swapfile = False
        si.__init__(si.type)  # type: ignore[misc]
        spin_unlock(swap_lock)
    return err


def _swapon_setup(si: swap_info_struct, specialfile: str, swap_flags: int) -> int:
    """The body of SYSCALL_DEFINE2(swapon) from file_open_name() to enable_swap_info()."""
    bdev = custom.backing_devices.get(specialfile)
    if bdev is None or bdev.unlinked:
        return -ENOENT
    if bdev.swapfile:
        return -EBUSY
    if bdev.zoned:
        return -EINVAL
    mutex_lock(swapon_mutex)
    try:
        size_pages = bdev.size_bytes // PAGE_SIZE
        badpages: list[int] = []
        maxpages = read_swap_header(si, bdev.header, size_pages, badpages)
        if not maxpages:
            return -EINVAL
        if should_fail("page_alloc"):
            return -ENOMEM          # swap_map = vzalloc(maxpages)
        swap_map = bytearray(maxpages)
        si.max = maxpages
        si.pages = maxpages - 1
        if badpages and not bdev.blkdev:
            pr_warn("swapon: bad pages listed on a regular file")
            return -EINVAL
        si.swap_file = bdev
        si.bdev = bdev if bdev.blkdev else None
        if bdev.blkdev:
            si.flags |= SWP_BLKDEV
        if bdev.stable_writes:
            si.flags |= SWP_STABLE_WRITES
        if bdev.synchronous:
            si.flags |= SWP_SYNCHRONOUS_IO
        if bdev.blkdev and bdev.nonrot:
            si.flags |= SWP_SOLIDSTATE
        cluster_info = setup_clusters(si, maxpages, badpages, swap_map)
        if isinstance(cluster_info, int):
            return cluster_info
        if si.pages <= 0:
            pr_warn("Empty swap-file")
            return -EINVAL
        si.swap_map = swap_map
        si.cluster_info = cluster_info
        si.zeromap = bytearray(DIV_ROUND_UP(maxpages, 8))     # bitmap_zalloc()
        si.nr_extents = 1
        if (swap_flags & SWAP_FLAG_DISCARD) and bdev.discard:
            si.flags |= SWP_DISCARDABLE | SWP_AREA_DISCARD | SWP_PAGE_DISCARD
            if swap_flags & SWAP_FLAG_DISCARD_ONCE:
                si.flags &= ~SWP_PAGE_DISCARD
            elif swap_flags & SWAP_FLAG_DISCARD_PAGES:
                si.flags &= ~SWP_AREA_DISCARD
            if si.flags & SWP_AREA_DISCARD:
                bdev.area_discards += 1
        global nr_rotate_swap
        if not si.flags & SWP_SOLIDSTATE:
            nr_rotate_swap += 1
        prio = DEF_SWAP_PRIO
        if swap_flags & SWAP_FLAG_PREFER:
            prio = swap_flags & SWAP_FLAG_PRIO_MASK
        bdev.swapfile = True
        enable_swap_info(si, prio)
        pr_info(f"Adding {si.pages * 4}k swap on {specialfile}.  Priority:{si.prio} "
                f"extents:{si.nr_extents} across:{si.pages * 4}k {swap_flags_string(si)}")
        return 0
    finally:
        mutex_unlock(swapon_mutex)


# ---------------------------------------------------------------------------
# swapoff(2).

def find_next_to_unuse(si: swap_info_struct, prev: int) -> int:
    """Next offset after ``prev`` whose byte is in use (not free, not BAD).

    No lock: a stale answer is fine, swapoff already stopped allocation.

    Context: swapoff (process context; may cond_resched()).
    Return: the offset, or 0 at the end of the device.
    """
    swap_map = si.swap_map
    for i in range(prev + 1, si.max):
        ent = swap_map[i]  # type: ignore[index]
        if ent and swap_count(ent) != SWAP_MAP_BAD:
            return i
        if i % 256 == 0:
            cond_resched()
    return 0


def try_to_unuse(type: int) -> int:
    """Bring every slot of a device being swapped off back into memory.

    Context: swapoff, device off the avail list (SWP_WRITEOK clear).
    Return: 0, -EINTR (a signal arrived while slots were still in use; a
    pass without progress is reported as a ``hang`` -- the kernel would loop
    until a signal), -ENOMEM or another error from the unuse paths.
    """
    si = swap_info[type]
    assert si is not None
    while True:
        if not swap_usage_in_pages(si):
            return 0
        before = swap_usage_in_pages(si)
        retval = unuse_all_users(type)
        if retval:
            return retval
        # Slots held only by the swap cache (and stale cache copies).
        i = 0
        while swap_usage_in_pages(si):
            i = find_next_to_unuse(si, i)
            if not i:
                break
            if get_current().pending_signal:
                break
            entry = swp_entry(type, i)
            folio = swap_cache_get_folio(entry)
            if folio is None:
                continue
            # The folio may have been freed and its slot reused meanwhile.
            from swaplab.kernel.dup import folio_lock
            folio_lock(folio)
            folio_wait_writeback(folio)
            folio_free_swap(folio)
            folio_unlock(folio)
            folio_put(folio)
        if not swap_usage_in_pages(si):
            return 0
        if get_current().pending_signal or should_fail("swapoff_signal"):
            return -EINTR
        if swap_usage_in_pages(si) >= before:
            report("hang", f"try_to_unuse of type {type} makes no progress: "
                   f"{swap_usage_in_pages(si)} slots in use and nothing refers to them "
                   f"(the kernel loops until a signal, then swapoff fails with EINTR)", depth=1)
            return -EINTR
        cond_resched()


def unuse_all_users(type: int) -> int:
    """shmem_unuse() and the walk of every mm on ``init_mm.mmlist`` (try_to_unuse()'s first half).

    Every mm that ever held a swap entry is on the list (try_to_unmap_one(),
    copy_nonpresent_pte()); each is pinned with mmget_not_zero() while
    unuse_mm() brings its entries of ``type`` back.  shmem_unuse() first
    swaps in the entries of ``type`` held by shmem files (mm/shmem.py).
    Context: swapoff, no locks held.
    Return: 0, or the error of shmem_unuse() or unuse_mm() (-ENOMEM).
    """
    si = swap_info[type]
    assert si is not None
    retval = shmem_unuse(type)
    if retval:
        return retval
    prev_mm = None
    spin_lock(mmlist_lock)
    p = init_mm.mmlist
    while swap_usage_in_pages(si) and not get_current().pending_signal:
        p = p.next
        if p is init_mm.mmlist:
            break
        mm = p.entry
        assert mm is not None       # a node of the list, not its head
        if not mmget_not_zero(mm):
            continue
        spin_unlock(mmlist_lock)
        mmput(prev_mm)
        prev_mm = mm
        retval = unuse_mm(mm, type)
        if retval:
            mmput(prev_mm)
            return retval
        # Make sure that we aren't completely killing interactive performance.
        cond_resched()
        spin_lock(mmlist_lock)
    spin_unlock(mmlist_lock)
    mmput(prev_mm)
    return 0


def unuse_mm(mm: Any, type: int) -> int:
    """Bring back every swap entry of ``type`` mapped by ``mm``.

    Context: takes mm->mmap_lock (read).
    Return: 0 or a negative errno from unuse_pte_range().
    """
    ret = 0
    mutex_lock(mm.mmap_lock)
    for vma in for_each_vma(mm):
        if vma.anon_vma is not None and not vma.vm_flags & VM_HUGETLB:
            ret = unuse_vma(vma, type)
            if ret:
                break
        cond_resched()
    mutex_unlock(mm.mmap_lock)
    return ret


def unuse_vma(vma: Any, type: int) -> int:
    """Walk the page tables of ``vma`` (the kernel's unuse_vma() and unuse_{p4d,pud,pmd}_range()).

    Context: mmap_lock held (read).
    Return: 0, or the error of unuse_pte_range().
    """
    addr = vma.vm_start
    end = vma.vm_end
    while addr < end:
        nxt = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        pmd = pmd_off(vma.vm_mm, addr)
        if pmd is not None:
            ret = unuse_pte_range(vma, pmd, addr, nxt, type)
            if ret:
                return ret
        addr = nxt
    return 0


def unuse_pte_range(vma: Any, pmd: Any, addr: int, end: int, type: int) -> int:
    """Swap in and map back every swap pte of ``type`` in ``[addr, end)``.

    Context: mmap_lock held (read); no page-table lock.
    Return: 0, -ENOMEM (a slot still in use could not be read), or the
    error of unuse_pte().
    """
    si = swap_info[type]
    assert si is not None
    while addr != end:
        ptent = ptep_get_lockless(pte_offset_map(pmd, addr))  # type: ignore[arg-type]
        if pte_is_swap_entry(ptent) and swp_type(pte_to_swp_entry(ptent)) == type:
            entry = pte_to_swp_entry(ptent)
            offset = swp_offset(entry)
            folio = swap_cache_get_folio(entry)
            if folio is None:
                vmf = vm_fault(vma, addr, 0)
                vmf.pmd = pmd
                folio = swapin_readahead(entry, GFP_KERNEL, vmf)
            if folio is None:
                swp_count = si.swap_map[offset]  # type: ignore[index]
                if swp_count == 0 or swp_count == SWAP_MAP_BAD:
                    addr += PAGE_SIZE
                    continue
                return -ENOMEM
            folio_lock(folio)
            folio_wait_writeback(folio)
            ret = unuse_pte(vma, pmd, addr, entry, folio)
            if ret < 0:
                folio_unlock(folio)
                folio_put(folio)
                return ret
            folio_free_swap(folio)
            folio_unlock(folio)
            folio_put(folio)
        addr += PAGE_SIZE
    return 0


def unuse_pte(vma: Any, pmd: Any, addr: int, entry: int, folio: folio) -> int:
    """Replace the swap pte of ``entry`` at ``addr`` by a mapping of ``folio``.

    T14F (fix B): the swap count is put on the swap-cache folio, even when
    KSM made a private copy to map.
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
    folio_put_swap(swapcache, swapcache.pages[swp_offset(entry) & ((1 << swapcache.order) - 1)])
    pte_unmap_unlock(pte, ptl)
    if folio is not swapcache:
        folio_unlock(folio)
        folio_put(folio)
    return ret


# The mm side of swapoff, linked here as at the end of the module (see there).
from swaplab.include.linux.mm_types import (MM_ANONPAGES, MM_SWAPENTS, VM_HUGETLB,  # noqa: E402
                                            dec_mm_counter, for_each_vma, inc_mm_counter,
                                            init_mm, mmlist_lock, vm_fault)
from swaplab.include.linux.pgtable import (PMD_SIZE,  # noqa: E402
                                           PTE_MARKER_HWPOISON, PTE_MARKER_POISONED,
                                           make_pte_marker, mk_pte, pmd_off,
                                           pte_is_swap_entry, pte_mkold, pte_mksoft_dirty,
                                           pte_mkuffd_wp, pte_offset_map, pte_offset_map_lock,
                                           pte_swp_clear_flags, pte_swp_exclusive,
                                           pte_swp_soft_dirty, pte_swp_uffd_wp,
                                           pte_to_swp_entry, pte_unmap_unlock, ptep_get,
                                           ptep_get_lockless, set_pte_at, swp_entry_to_pte)
from swaplab.kernel.custom import GFP_KERNEL  # noqa: E402
from swaplab.kernel.dup import folio_get, folio_lock  # noqa: E402
from swaplab.kernel.fork import mmget_not_zero, mmput  # noqa: E402
from swaplab.kernel.stubs import arch_swap_restore  # noqa: E402
from swaplab.mm.ksm import ksm_might_need_to_copy  # noqa: E402
from swaplab.mm.memory import EHWPOISON_FOLIO  # noqa: E402
from swaplab.mm.rmap import (RMAP_EXCLUSIVE, RMAP_NONE, folio_add_anon_rmap_pte,  # noqa: E402
                             folio_add_new_anon_rmap)
from swaplab.mm.shmem import shmem_unuse  # noqa: E402
from swaplab.mm.swap_state import swapin_readahead  # noqa: E402
from swaplab.mm.vmscan import folio_add_lru_vma  # noqa: E402


def folio_wait_writeback(folio: folio) -> None:
    """``folio_wait_writeback()`` (mm/page-writeback.c): the waited-for write completes.

    Context: folio locked (process context, may sleep).
    Return: nothing.
    """
    folio_wait_writeback_io(folio)


def reinsert_swap_info(si: swap_info_struct) -> None:
    """Swapoff failed: put the device back on the active and avail lists.

    Context: process context (swapoff); takes swap_lock and ``si->lock``.
    Return: nothing.
    """
    spin_lock(swap_lock)
    spin_lock(si.lock)
    _enable_swap_info(si)
    spin_unlock(si.lock)
    spin_unlock(swap_lock)


def flush_percpu_swap_cluster(si: swap_info_struct) -> None:
    """Forget ``si`` in every CPU's cluster cache.

    Context: swapoff, after ``si->users`` was killed (no new allocation can
    cache ``si``).
    Return: nothing.
    """
    for pcp in percpu_swap_cluster:
        for order in range(SWAP_NR_ORDERS):
            if pcp.si[order] is si:
                pcp.si[order] = None
                pcp.offset[order] = SWAP_ENTRY_INVALID


def sys_swapoff(specialfile: str) -> int:
    """swapoff(2).

    Context: process context.
    Return: 0, -ENOENT (no such file), -EINVAL (not an active swap area),
    -EINTR (interrupted while slots were in use; the device is re-enabled),
    -ENOMEM.
    """
    global total_swap_pages, nr_rotate_swap
    bdev = custom.backing_devices.get(specialfile)
    if bdev is None:
        return -ENOENT
    spin_lock(swap_lock)
    found = None
    for p in swap_active_head:
        if p.flags & SWP_WRITEOK and p.swap_file is bdev:
            found = p
            break
    if found is None:
        spin_unlock(swap_lock)
        return -EINVAL
    si = found
    spin_lock(si.lock)
    del_from_avail_list(si, True)
    plist_del(si, swap_active_head)
    nr_swap_pages.counter -= si.pages
    total_swap_pages -= si.pages
    spin_unlock(si.lock)
    spin_unlock(swap_lock)
    # Flush in-flight allocations: lock and unlock every cluster once.
    for ci in si.cluster_info:  # type: ignore[union-attr]
        spin_lock(ci.lock)
        spin_unlock(ci.lock)
    err = try_to_unuse(si.type)
    if err:
        # Re-insert the device as it was.
        reinsert_swap_info(si)
        return err
    # Kill the device ref: from here get_swap_device() fails.
    si.users.live = False
    if si.users.count:
        report("hang", f"swapoff of type {si.type}: {si.users.count} get_swap_device() "
               f"references never dropped; percpu_ref_kill waits forever", depth=1)
        si.users.count = 0
    custom.work_queue[:] = [(fn, args) for fn, args in custom.work_queue
                            if not (args and args[0] is si)]
    flush_percpu_swap_cluster(si)
    if not si.flags & SWP_SOLIDSTATE:
        nr_rotate_swap -= 1
    mutex_lock(swapon_mutex)
    spin_lock(swap_lock)
    spin_lock(si.lock)
    si.swap_file = None
    si.bdev = None
    si.swap_map = None
    si.zeromap = None
    si.cluster_info = None
    si.global_cluster = None
    si.swap_map_cont = {}
    si.swap_data = {}
    si.max = 0
    si.flags = 0
    spin_unlock(si.lock)
    spin_unlock(swap_lock)
    mutex_unlock(swapon_mutex)
    bdev.swapfile = False
    return 0


# ---------------------------------------------------------------------------
# /proc/swaps, /proc/meminfo, hibernation queries.

def swap_show_rows() -> list[dict[str, Any]]:
    """The rows of /proc/swaps in type order: devices in use that have a swap_map (harness)."""
    rows = []
    for si in swap_info:
        if si is None or not si.flags & SWP_USED or si.swap_map is None:
            continue
        bdev = si.swap_file
        rows.append({"name": bdev.name if bdev else "?",
                     "type": "partition" if si.flags & SWP_BLKDEV else "file",
                     "size_kb": si.pages * (PAGE_SIZE // 1024),
                     "used_kb": swap_usage_in_pages(si) * (PAGE_SIZE // 1024),
                     "priority": si.prio})
    return rows


def _escape(path: str) -> str:
    """``seq_file_path()`` escaping (space, tab, newline, backslash as octal) for proc_swaps()."""
    out = ""
    for ch in path:
        if ch in " \t\n\\":
            out += "\\%03o" % ord(ch)
        else:
            out += ch
    return out


def proc_swaps() -> str:
    """The text of /proc/swaps (harness: the kernel's swap_show() seq_file output)."""
    out = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    for row in swap_show_rows():
        name = _escape(row["name"])
        out += name + " " * max(40 - len(name), 1) + row["type"] + "\t"
        size, used = row["size_kb"], row["used_kb"]
        out += "\t" + str(size) + "\t" + ("\t" if size < 10000000 else "")
        out += str(used) + "\t" + ("\t" if used < 10000000 else "")
        out += str(row["priority"]) + "\n"
    return out


def si_swapinfo() -> tuple[int, int]:
    """SwapTotal and SwapFree, counting devices in swapoff as /proc/meminfo does.

    Context: any; takes swap_lock.
    Return: ``(total, free)`` in pages.
    """
    nr_to_be_unused = 0
    spin_lock(swap_lock)
    for si in swap_info:
        if si is not None and si.flags & SWP_USED and not si.flags & SWP_WRITEOK:
            nr_to_be_unused += swap_usage_in_pages(si)
    free = nr_swap_pages.counter + nr_to_be_unused
    total = total_swap_pages + nr_to_be_unused
    spin_unlock(swap_lock)
    return total, free


def count_swap_pages(type: int, free: bool) -> int:
    """Usable pages of a device, minus those in use if ``free`` (for hibernation).

    Context: any; takes swap_lock and ``si->lock``.
    Return: the number of pages; 0 for a type out of range or not SWP_WRITEOK.
    """
    n = 0
    spin_lock(swap_lock)
    if 0 <= type < nr_swapfiles:        # (unsigned int)type < nr_swapfiles
        si = swap_info[type]
        if si is not None:
            spin_lock(si.lock)
            if si.flags & SWP_WRITEOK:
                n = si.pages
                if free:
                    n -= swap_usage_in_pages(si)
            spin_unlock(si.lock)
    spin_unlock(swap_lock)
    return n


def swap_type_of(name: str) -> int:
    """The type of the enabled swap device ``name`` (the kernel matches a dev_t and offset).

    Context: any; takes swap_lock.
    Return: the type, or -ENODEV.
    """
    ret = -ENODEV
    spin_lock(swap_lock)
    for si in swap_info:
        if si is not None and si.flags & SWP_WRITEOK and si.swap_file is not None \
                and si.swap_file.name == name:
            ret = si.type
            break
    spin_unlock(swap_lock)
    return ret


# Linked at the end of the module, as the kernel's linker resolves calls
# across files: mm/ files call each other freely.
from swaplab.mm.page_io import folio_wait_writeback_io  # noqa: E402
from swaplab.mm.swap_state import (__swap_cache_clear_shadow,  # noqa: E402
                                   swap_cache_add_folio, swap_cache_del_folio,
                                   swap_cache_get_folio)

