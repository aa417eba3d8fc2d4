"""mm/swap.h: the swap subsystem's private structures and helpers.

The protocol, written once (patch "mm, swap: cleanup swap entry management
workflow"; the ledger in swaplab/check enforces each paragraph):

* **alloc pins with the swap cache at count 0.**  ``folio_alloc_swap()`` is the
  only allocation entry point (besides hibernation).  It allocates one
  naturally aligned run of ``folio_nr_pages()`` slots inside one cluster and
  adds the folio to the swap cache; the slots start with swap count 0,
  pinned only by the cache (``SWAP_HAS_CACHE``).
* **dup when a pte takes the page's place.**  ``folio_dup_swap()`` raises the
  count of the folio's slots (or one subpage's slot) as swap entries are
  installed.  Context: folio locked and in the swap cache; the caller also
  holds the lock of the new entry's owner (PTL).  A slot at count 0 is only
  raised by this helper.
* **put undoes dup.**  ``folio_put_swap()`` lowers it again when entries go
  away (swap-in maps the folio back).  It never frees a slot: the cache pin
  keeps it until ``folio_free_swap()`` or reclaim drops the folio.
* **the cache pin is not a count.**  Entries without a folio at hand are
  put/dup'ed with ``swap_put_entries_direct()`` / ``swap_dup_entry_direct()``
  under the lock of whatever holds them (PTL, shmem's cmpxchg).
* **hibernation is apart.**  ``swap_alloc_hibernation_slot()`` gives a slot
  count 1 and no cache; only ``swap_free_hibernation_slot()`` frees it.
"""

from __future__ import annotations

from typing import Any, Final

from swaplab.check.findings import __always_inline
from swaplab.include.linux.mmdebug import VM_WARN_ON_ONCE, VM_WARN_ON_ONCE_FOLIO
from swaplab.include.linux.swap import SWAPFILE_CLUSTER, swap_info_struct
from swaplab.include.linux.swapops import SWP_OFFSET_MASK, SWP_TYPE_SHIFT, swp_offset
from swaplab.kernel.dup import list_head
from swaplab.kernel.locking import spin_lock, spin_lock_irq, spin_unlock, spin_unlock_irq, spinlock_t

# enum swap_cluster_flags
CLUSTER_FLAG_NONE: Final = 0       # no list
CLUSTER_FLAG_FREE: Final = 1       # in free_clusters
CLUSTER_FLAG_NONFULL: Final = 2    # in nonfull_clusters[order]
CLUSTER_FLAG_FRAG: Final = 3       # in frag_clusters[order]
CLUSTER_FLAG_USABLE: Final = CLUSTER_FLAG_FRAG   # clusters below this can be allocated from
CLUSTER_FLAG_FULL: Final = 4       # in full_clusters
CLUSTER_FLAG_DISCARD: Final = 5    # in discard_clusters
CLUSTER_FLAG_MAX: Final = 6

CLUSTER_FLAG_NAMES: Final = ("NONE", "FREE", "NONFULL", "FRAG", "FULL", "DISCARD")


class swap_cluster_info:
    """struct swap_cluster_info: one cluster of SWAPFILE_CLUSTER slots.

    ``lock`` protects ``count``, ``flags``, ``order``, ``table`` and the
    cluster's slice of ``si->swap_map``; ``list`` (membership of one of the
    device's cluster lists) is protected by ``si->lock``.  ``idx`` is a test
    field: the kernel computes it as ``ci - si->cluster_info``.
    """

    __slots__ = ("lock", "count", "flags", "order", "table", "list", "idx")

    def __init__(self, idx: int) -> None:
        self.lock = spinlock_t("&cluster_info[i].lock")
        self.count = 0                  # guarded by lock
        self.flags = CLUSTER_FLAG_NONE  # guarded by lock
        self.order = 0                  # guarded by lock
        self.table: dict[int, Any] | None = None   # guarded by lock (read lockless)
        self.list: list_head[swap_cluster_info] = list_head(self)  # guarded by si->lock
        self.idx = idx

    def __repr__(self) -> str:
        return (f"<cluster {self.idx} count={self.count} "
                f"{CLUSTER_FLAG_NAMES[self.flags]} order={self.order}>")


# The array of devices, indexed by type (mm/swapfile.c: swap_info[]).
swap_info: Final[list[swap_info_struct | None]] = []


# Callers of all helpers below must ensure the entry, type or offset is
# valid, and protect the swap device with a reference count or locks.
#
# They are the hottest code of the model: each is written out flat (one
# Python call where the kernel has an inline chain), with the debug checks
# under ``if __debug__`` so that a production build (``python -O``, the
# model's CONFIG_DEBUG_VM=n) drops them as the kernel's compiler does.
@__always_inline
def __swap_type_to_info(type: int) -> swap_info_struct | None:
    """The device of swap type ``type``, unchecked.

    Unlike the kernel's, this lookup does not warn when ``si->users`` is
    already zero (race with swapoff): swap_type_to_info() goes through it for
    types that may be dead.

    Context: Caller must ensure ``type`` is valid and pin the device (see the
    comment above).
    Return: the swap_info_struct, or None if ``type`` is past the end of
    swap_info[].
    """
    try:
        return swap_info[type]
    except IndexError:
        return None


@__always_inline
def __swap_entry_to_info(entry: int) -> swap_info_struct | None:
    """The device of ``entry``, unchecked: __swap_type_to_info(swp_type(entry)).

    Context: Caller must ensure the entry is valid and pin its device.
    Return: the swap_info_struct, or None if the type is past swap_info[].
    """
    try:
        return swap_info[entry >> SWP_TYPE_SHIFT]
    except IndexError:
        return None


@__always_inline
def __swap_offset_to_cluster(si: swap_info_struct, offset: int) -> swap_cluster_info:
    """The cluster holding slot ``offset`` of ``si``.

    Context: Caller must ensure ``offset`` is valid and pin the device; warns
    once if the device's reference count is already zero (race with swapoff).
    Return: the cluster (not locked).  An offset beyond ``si->max``, or a device
    without clusters, is the kernel's out-of-bounds access: a ``crash`` finding
    and KernelOops.
    """
    if __debug__:
        users = si.users
        if not users.live:
            VM_WARN_ON_ONCE(users.count == 0, "percpu_ref_is_zero(&si->users): race with swapoff")
    if offset < si.max:
        try:
            return si.cluster_info[offset // SWAPFILE_CLUSTER]  # type: ignore[index]
        except TypeError:
            pass
    return _cluster_oops(si, offset)


def _cluster_oops(si: swap_info_struct | None, offset: int) -> swap_cluster_info:
    """``&si->cluster_info[offset / SWAPFILE_CLUSTER]`` with no cluster there: the oops."""
    from swaplab.check.findings import report
    from swaplab.sim.oops import KernelOops
    if si is None:
        what = "NULL pointer dereference: no swap device for this type"
    elif si.cluster_info is None:
        what = f"NULL pointer dereference: si->cluster_info of type {si.type} (device swapped off)"
    else:
        what = f"offset {offset} beyond si->max {si.max} of type {si.type}"
    report("crash", what, depth=2)
    raise KernelOops(what)


@__always_inline
def __swap_entry_to_cluster(entry: int) -> swap_cluster_info:
    """The cluster holding ``entry``'s slot.

    Context: Caller must ensure the entry is valid and pin its device.
    Return: the cluster (not locked); no device for the type is the kernel's
    NULL dereference (``crash`` finding, KernelOops).
    """
    si = __swap_entry_to_info(entry)
    if si is None:
        return _cluster_oops(None, entry & SWP_OFFSET_MASK)
    return __swap_offset_to_cluster(si, entry & SWP_OFFSET_MASK)


@__always_inline
def __swap_cluster_lock(si: swap_info_struct, offset: int, irq: bool = False) -> swap_cluster_info:
    """Look up and lock the cluster of ``offset``, with IRQs off if ``irq``.

    The worker behind swap_cluster_lock{,_irq}() and
    swap_cluster_get_and_lock{,_irq}().

    Context: Caller must pin the device (get_swap_device(), a locked swap-cache
    folio, or the PTL of a pte holding an entry of it) and not hold the
    cluster lock; warns once if ``si->users`` is already zero (race with
    swapoff).
    Return: the locked cluster (KernelOops for an offset without one).
    """
    if __debug__ and si is not None:
        users = si.users
        if not users.live:
            VM_WARN_ON_ONCE(users.count == 0, "percpu_ref_is_zero(&si->users): race with swapoff")
    ci = None
    if si is not None and offset < si.max:
        try:
            ci = si.cluster_info[offset // SWAPFILE_CLUSTER]  # type: ignore[index]
        except TypeError:
            pass
    if ci is None:
        ci = _cluster_oops(si, offset)
    if irq:
        spin_lock_irq(ci.lock)
    else:
        spin_lock(ci.lock)
    return ci


# swap_cluster_lock(si, offset) is __swap_cluster_lock(si, offset, false): the
# name is bound to the worker itself, the inlining C gets and Python cannot.
# Context: the caller pins the device (get_swap_device(), a locked swap-cache
# folio, or the PTL of a pte holding an entry of it).  Return: the locked cluster.
swap_cluster_lock = __swap_cluster_lock


@__always_inline
def swap_cluster_lock_irq(si: swap_info_struct, offset: int) -> swap_cluster_info:
    """Lock the cluster of ``offset`` with IRQs off.

    Context: as swap_cluster_lock(): the caller pins the device.
    Return: the locked cluster.
    """
    return __swap_cluster_lock(si, offset, True)


@__always_inline
def __swap_cluster_get_and_lock(folio: Any, irq: bool) -> swap_cluster_info:
    """Lock the cluster of a swap-cache folio: the worker of both variants below.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: the locked cluster.
    """
    if __debug__:
        VM_WARN_ON_ONCE_FOLIO(folio.PG_locked.owner is None, folio)
        VM_WARN_ON_ONCE_FOLIO(not folio.PG_swapcache, folio)
    entry = folio.swap
    return __swap_cluster_lock(__swap_entry_to_info(entry), swp_offset(entry), irq)  # type: ignore[arg-type]


@__always_inline
def swap_cluster_get_and_lock(folio: Any) -> swap_cluster_info:
    """Lock the cluster of a swap-cache folio.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: the locked cluster.
    """
    return __swap_cluster_get_and_lock(folio, False)


@__always_inline
def swap_cluster_get_and_lock_irq(folio: Any) -> swap_cluster_info:
    """Lock the cluster of a swap-cache folio, IRQs off (``__remove_mapping``).

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: the locked cluster.
    """
    return __swap_cluster_get_and_lock(folio, True)


@__always_inline
def swap_cluster_unlock(ci: swap_cluster_info) -> None:
    """Unlock a cluster locked by swap_cluster_lock() or swap_cluster_get_and_lock().

    Context: ``ci->lock`` held by current.
    Return: nothing.
    """
    spin_unlock(ci.lock)


@__always_inline
def swap_cluster_unlock_irq(ci: swap_cluster_info) -> None:
    """Unlock a cluster locked with IRQs off, re-enabling IRQs.

    Context: ``ci->lock`` held by current, taken by an ``_irq`` variant.
    Return: nothing.
    """
    spin_unlock_irq(ci.lock)


def swp_cluster_offset(entry: int) -> int:
    """Index of the entry's slot inside its cluster.

    Context: any.
    Return: ``swp_offset(entry) % SWAPFILE_CLUSTER``.
    """
    return swp_offset(entry) % SWAPFILE_CLUSTER


def folio_matches_swap_entry(folio: Any, entry: int) -> bool:
    """Is the folio still in the swap cache, covering ``entry``?

    Callers look a folio up locklessly, lock it and then re-check with this
    that it was not removed (or moved) meanwhile.

    Context: Caller should hold the folio lock for the answer to stay true.
    Return: True if the folio is in the swap cache and its (naturally aligned)
    range of entries contains ``entry``.
    """
    if not folio.PG_swapcache:
        return False
    nr = 1 << folio.order
    return folio.swap == (entry & ~(nr - 1))
