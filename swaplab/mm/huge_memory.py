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
    """Write ``hugepages-<size>kB/enabled``.  Return: 0 or -EINVAL."""
    value = buf.strip()
    if value == "always":
        huge_anon_orders_always[0] |= 1 << order
    elif value == "never":
        huge_anon_orders_always[0] &= ~(1 << order)
    else:
        return -EINVAL
    return 0


def thpsize_enabled_show(order: int) -> str:
    """Read ``hugepages-<size>kB/enabled``, the kernel's way: the active mode in brackets."""
    if huge_anon_orders_always[0] & (1 << order):
        return "[always] inherit madvise never"
    return "always inherit madvise [never]"


def highest_order(orders: int) -> int:
    return orders.bit_length() - 1


def next_order(orders: int, prev: int) -> tuple[int, int]:
    """Drop ``prev`` from ``orders``.  Return: (the remaining orders, the highest of them)."""
    orders &= ~(1 << prev)
    return orders, highest_order(orders)


def thp_vma_allowable_orders(vma: vm_area_struct, vm_flags: int, orders: int) -> int:
    """The orders of ``orders`` an anonymous fault in ``vma`` may allocate (sysfs + VMA flags)."""
    if vm_flags & VM_NOHUGEPAGE:
        return 0
    return orders & huge_anon_orders_always[0] & THP_ORDERS_ALL_ANON


def thp_vma_suitable_order(vma: vm_area_struct, addr: int, order: int) -> bool:
    """Does the naturally aligned range of ``2^order`` pages around ``addr`` lie inside ``vma``
    (with the same alignment in the VMA's page offset)?"""
    nr = 1 << order
    haddr = addr & ~((PAGE_SIZE << order) - 1)
    if (vma.vm_pgoff - (vma.vm_start >> PAGE_SHIFT)) & (nr - 1):
        return False
    return vma.vm_start <= haddr and haddr + (PAGE_SIZE << order) <= vma.vm_end


def thp_vma_suitable_orders(vma: vm_area_struct, addr: int, orders: int) -> int:
    out = 0
    for order in range(orders.bit_length()):
        if orders & (1 << order) and thp_vma_suitable_order(vma, addr, order):
            out |= 1 << order
    return out


# ---------------------------------------------------------------------------
# Splitting.

def can_split_folio(folio: folio, caller_pins: int) -> bool:
    """Only the mappings, the swap cache and the caller's ``caller_pins`` hold the folio."""
    extra_pins = (1 << folio.order) if folio_test_swapcache(folio) else 0
    return folio.total_mapcount == folio._refcount - extra_pins - caller_pins


def split_page_memcg(head: folio, tails: list[folio]) -> None:
    """mm/memcontrol.c: the tails are charged to the head's memcg (and join its LRU)."""
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

    Context: Caller must ensure the folio is locked and hold one reference.
    Return: 0; -EBUSY for a swap-cache folio (not modeled); -EAGAIN when
    something else pins the folio.
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
