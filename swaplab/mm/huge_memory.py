"""mm/huge_memory.c: the per-size anonymous mTHP knobs and splitting a large folio.

* sysfs ``/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled``
  (``thpsize_enabled_store()``): each anonymous mTHP size (order 2 up to
  PMD order, 16 kB .. 2048 kB with 4 KiB pages) is ``always`` or ``never``;
  the bitmap ``huge_anon_orders_always`` says which.  Boot state: every
  size ``never``, as the oracle runs (``transparent_hugepage=never``).
  ``inherit`` and ``madvise`` are not modeled.
* thp_vma_allowable_orders() / thp_vma_suitable_order(): the orders a fault
  in a VMA may allocate.  A VMA with VM_NOHUGEPAGE (MADV_NOHUGEPAGE, as the
  oracle's regions have) allows none.
* split_folio_to_list(): split a large anonymous folio that is not in the
  swap cache into order-0 folios (reclaim's fallback when no contiguous
  swap space exists, spec §5.1).  The head keeps the folio object; every
  tail becomes a new order-0 folio holding the same ``page`` object, so
  ptes, mapcounts, exclusive bits and content tokens carry over unchanged.

XX: the kernel unmaps the folio (migration entries) around the split and
remaps it; the model moves the pages without touching the ptes, which is
what the remap leaves behind.  Splitting a swap-cache folio is not
modeled (-EBUSY).
"""

from __future__ import annotations

import builtins
from typing import Any

from swaplab.include.linux.mm_types import VM_NOHUGEPAGE, vm_area_struct
from swaplab.include.linux.mmdebug import VM_BUG_ON_FOLIO
from swaplab.include.linux.pgtable import PAGE_SHIFT, PAGE_SIZE
from swaplab.kconfig import PMD_ORDER
from swaplab.kernel.dup import folio, folio_test_locked, folio_test_swapcache

EINVAL = 22
EBUSY = 16
EAGAIN = 11

# THP_ORDERS_ALL_ANON: anonymous memory supports every order from 2 to PMD_ORDER.
THP_ORDERS_ALL_ANON = ((1 << (PMD_ORDER + 1)) - 1) & ~((1 << 0) | (1 << 1))

# Orders whose hugepages-<size>kB/enabled is "always" (huge_anon_orders_always).
huge_anon_orders_always = [0]


def reset_huge_memory() -> None:
    """Boot state: every size ``never``."""
    huge_anon_orders_always[0] = 0


def thp_size_to_order(size_kb: int) -> int:
    """The order of a ``hugepages-<size>kB`` directory, or -EINVAL if there is none."""
    nr = size_kb * 1024 // PAGE_SIZE
    if size_kb * 1024 % PAGE_SIZE or nr & (nr - 1) or nr < 1:
        return -EINVAL
    order = nr.bit_length() - 1
    return order if THP_ORDERS_ALL_ANON & (1 << order) else -EINVAL


def thpsize_enabled_store(order: int, buf: str) -> int:
    """Write ``hugepages-<size>kB/enabled``: ``always`` or ``never`` for the size's order.

    ``inherit`` and ``madvise`` are refused (not modeled).
    Context: process context (a sysfs write); the kernel's updates the
    bitmaps under ``huge_anon_orders_lock``, which the model does not need.
    Return: 0 (the kernel's returns ``count``, the bytes consumed), or
    -EINVAL for any other value.
    """
    value = buf.strip()
    if value == "always":
        huge_anon_orders_always[0] |= 1 << order
    elif value == "never":
        huge_anon_orders_always[0] &= ~(1 << order)
    else:
        return -EINVAL
    return 0


def thpsize_enabled_show(order: int) -> str:
    """Read ``hugepages-<size>kB/enabled``, the kernel's way: the active mode in brackets.

    Context: process context (a sysfs read); lockless read of the bitmap.
    Return: the line without its newline (the kernel's sysfs_emit() returns
    the number of bytes written to the buffer).
    """
    if huge_anon_orders_always[0] & (1 << order):
        return "[always] inherit madvise never"
    return "always inherit madvise [never]"


def highest_order(orders: int) -> int:
    """include/linux/huge_mm.h: the highest order set in ``orders`` (-1 if none)."""
    return orders.bit_length() - 1


def next_order(orders: int, prev: int) -> tuple[int, int]:
    """Drop ``prev`` from ``orders``.  Return: (the remaining orders, the highest of them)."""
    orders &= ~(1 << prev)
    return orders, highest_order(orders)


def thp_vma_allowable_orders(vma: vm_area_struct, vm_flags: int, orders: int) -> int:
    """The orders of ``orders`` an anonymous fault in ``vma`` may allocate (sysfs + VMA flags).

    A reduction of include/linux/huge_mm.h's thp_vma_allowable_orders() for
    the page-fault type (TVA_PAGEFAULT) of an anonymous VMA: VM_NOHUGEPAGE
    allows nothing, otherwise the sizes whose ``enabled`` is ``always``.
    Context: the VMA is stable (the fault holds mmap_lock or the VMA lock).
    Return: the allowed subset of ``orders`` (a bitmask, 0 for none).
    """
    if vm_flags & VM_NOHUGEPAGE:
        return 0
    return orders & huge_anon_orders_always[0] & THP_ORDERS_ALL_ANON


def thp_vma_suitable_order(vma: vm_area_struct, addr: int, order: int) -> bool:
    """Does the naturally aligned range of ``2^order`` pages around ``addr`` lie inside ``vma``
    (with the same alignment in the VMA's page offset)?

    The kernel's skips the page-offset test for an anonymous VMA; the
    model's anonymous VMAs have ``vm_pgoff = vm_start >> PAGE_SHIFT``
    (mm/mmap.py), so the test always passes for them.
    Context: the VMA is stable (mmap_lock or the VMA lock held).
    Return: True if a folio of that order fits there.
    """
    nr = 1 << order
    haddr = addr & ~((PAGE_SIZE << order) - 1)
    if (vma.vm_pgoff - (vma.vm_start >> PAGE_SHIFT)) & (nr - 1):
        return False
    return vma.vm_start <= haddr and haddr + (PAGE_SIZE << order) <= vma.vm_end


def thp_vma_suitable_orders(vma: vm_area_struct, addr: int, orders: int) -> int:
    """Keep the orders of ``orders`` for which thp_vma_suitable_order() holds at ``addr``.

    The kernel's walks from the highest order down and stops at the first
    that fits (every lower order fits too); the model tests each order,
    which gives the same set.
    Context: the VMA is stable (mmap_lock or the VMA lock held).
    Return: the suitable subset of ``orders`` (a bitmask, 0 for none).
    """
    out = 0
    for order in range(orders.bit_length()):
        if orders & (1 << order) and thp_vma_suitable_order(vma, addr, order):
            out |= 1 << order
    return out


# ---------------------------------------------------------------------------
# Splitting.

def can_split_folio(folio: folio, caller_pins: int) -> bool:
    """Racy check whether a large anon folio can be split: only its mappings, the
    swap cache and the caller's ``caller_pins`` references hold it.

    The kernel's counts a page-cache (non-anon) folio's page-cache pins
    too and reports the extra pins through ``pextra_pins``; the model's
    callers pass anon folios only.
    Context: any; the caller holds ``caller_pins`` references (the answer
    is racy unless the folio is locked and cannot gain mappings).
    Return: True if the reference count is the mapcount plus those pins.
    """
    extra_pins = (1 << folio.order) if folio_test_swapcache(folio) else 0
    return folio.total_mapcount == folio._refcount - extra_pins - caller_pins


def split_page_memcg(head: folio, tails: list[folio]) -> None:
    """mm/memcontrol.c: the tails are charged to the head's memcg (and join its LRU).

    A reduction of split_page_memcg() (folio_split_memcg_refs() in newer
    kernels): the tails take the head's memcg, with no css reference
    counting; the model's per-memcg LRU list gets the tails.
    Context: during a split: the folio is locked (the kernel's caller has
    also frozen its reference count).
    Return: nothing.
    """
    memcg: Any = head.memcg
    for t in tails:
        t.memcg = memcg
        if memcg is not None:
            memcg.lru.append(t)


def split_folio_to_list(folio: folio, list: list[folio] | None) -> int:
    """Split a large anonymous folio into order-0 folios; the tails go on ``list``.

    The head stays ``folio`` (now order 0).  Each new folio inherits the
    flags, ``anon_vma`` / ``mapping``, memcg and ``index + i``; its
    references are one per pte mapping its page plus, for the head, the
    caller's and, for each tail put on ``list``, one for the list
    (isolated, as reclaim's folios are).  Tails not put on a list keep a
    reference only per mapping (an unmapped one is freed).

    A reduction of split_huge_page_to_list_to_order() to order 0.
    Context: Caller must ensure the folio is locked and hold one reference.
    Return: 0 when split, or when the folio is order 0 already (the
    kernel's expects a large folio and fails an order-0 one with -EINVAL);
    -EBUSY for a swap-cache folio (splitting one is not modeled; the
    kernel's splits it); -EAGAIN when something else pins the folio.
    """
    VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "split_folio_to_list: folio not locked")
    if not folio.order:
        return 0
    if folio_test_swapcache(folio):
        return -EBUSY
    if not can_split_folio(folio, 1):
        return -EAGAIN
    pages = folio.pages
    tails: builtins.list[Any] = []
    for i in range(1, len(pages)):
        p = pages[i]
        new = type(folio)(0)
        for flag in ("PG_uptodate", "PG_dirty", "PG_swapbacked", "PG_anon", "PG_lru",
                     "PG_active", "PG_mlocked", "PG_reclaim", "PG_dropbehind"):
            setattr(new, flag, getattr(folio, flag))
        new.anon_vma = folio.anon_vma
        new.mapping = folio.mapping
        new.index = folio.index + i
        p.folio = new
        p.idx = 0
        new.pages = [p]
        new.total_mapcount = p.mapcount
        new._refcount = p.mapcount + (1 if list is not None else 0)
        if new._refcount == 0:
            new.freed = True
        tails.append(new)
    head = pages[0]
    folio.order = 0
    folio.pages = [head]
    folio.total_mapcount = head.mapcount
    folio._refcount = head.mapcount + 1
    split_page_memcg(folio, tails)
    if list is not None:
        list.extend(tails)
    return 0
