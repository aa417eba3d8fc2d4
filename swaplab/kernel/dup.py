"""Harness, DUPLICATED from kernel semantics: folios, pages, lists, plists.

Like tools/testing/vma/include/dup.h: these are not what swaplab studies,
but their behaviour must match the kernel's, so keep them in sync with
include/linux/mm.h, page-flags.h, list.h and plist.h.

A folio is ``struct folio``: ``order``, the page flags the swap code tests
(``PG_locked`` is a lock of the lock API; the rest are booleans named after
their bit), ``swap`` (the first swp_entry_t, 0 when none), ``_refcount``,
per-page mapcounts (``page.mapcount``; the kernel's ``_mapcount`` + 1) and
the rmap target (``anon_vma`` for anon, ``mapping`` + ``index`` for shmem).
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Iterator, TypeVar

from swaplab.kernel.locking import _acquire, _release, lock_class_key, lock_t, spin_trylock

folio_lock_key = lock_class_key("folio_lock", sleeping=True)

T = TypeVar("T")


class page:
    """struct page: one PAGE_SIZE part of a folio.

    ``content`` is the test token of what the page holds (0 = zero-filled);
    every write gives a page a new token (swaplab.kernel.custom).
    """

    __slots__ = ("folio", "idx", "mapcount", "anon_exclusive", "hwpoison", "content")

    def __init__(self, folio: folio, idx: int) -> None:
        self.folio = folio
        self.idx = idx
        self.mapcount = 0
        self.anon_exclusive = False
        self.hwpoison = False
        self.content = 0

    def __repr__(self) -> str:
        return f"<page {self.idx} of {self.folio!r}>"


class folio:
    """struct folio."""

    __slots__ = ("id", "order", "pages", "PG_locked", "PG_swapcache", "PG_uptodate",
                 "PG_dirty", "PG_writeback", "PG_swapbacked", "PG_anon", "PG_ksm",
                 "PG_lru", "PG_active", "PG_mlocked", "PG_reclaim", "PG_dropbehind",
                 "swap", "_refcount", "total_mapcount", "anon_vma", "mapping",
                 "index", "memcg", "freed", "stable_node")

    _next_id: ClassVar[list[int]] = [0]

    def __init__(self, order: int = 0) -> None:
        folio._next_id[0] += 1
        self.id = folio._next_id[0]
        self.order = order
        self.pages = [page(self, i) for i in range(1 << order)]
        self.PG_locked = lock_t(folio_lock_key, "folio_lock")
        self.PG_swapcache = False
        self.PG_uptodate = True
        self.PG_dirty = False
        self.PG_writeback = False
        self.PG_swapbacked = True
        self.PG_anon = False
        self.PG_ksm = False
        self.PG_lru = False
        self.PG_active = False
        self.PG_mlocked = False
        self.PG_reclaim = False
        self.PG_dropbehind = False
        self.swap = 0
        self._refcount = 1
        self.total_mapcount = 0
        self.anon_vma: Any = None
        self.mapping: Any = None
        self.index = 0
        self.memcg: Any = None
        self.freed = False
        self.stable_node: Any = None

    def __repr__(self) -> str:
        return f"folio#{self.id}"


def reset_folio_ids() -> None:
    folio._next_id[0] = 0


def folio_nr_pages(folio: folio) -> int:
    return 1 << folio.order


def folio_order(folio: folio) -> int:
    return folio.order


def folio_test_large(folio: folio) -> bool:
    return folio.order > 0


def folio_page(folio: folio, n: int) -> page:
    return folio.pages[n]


def folio_page_idx(folio: folio, page: page) -> int:
    return page.idx


def page_folio(page: page) -> folio:
    return page.folio


# The folio lock.
def folio_lock(folio: folio) -> None:
    _acquire(folio.PG_locked)


def folio_trylock(folio: folio) -> bool:
    return spin_trylock(folio.PG_locked)


def folio_unlock(folio: folio) -> None:
    _release(folio.PG_locked)


def folio_test_locked(folio: folio) -> bool:
    return folio.PG_locked.owner is not None


# Page flags.
def folio_test_swapcache(folio: folio) -> bool:
    return folio.PG_swapcache


def folio_test_uptodate(folio: folio) -> bool:
    return folio.PG_uptodate


def folio_test_dirty(folio: folio) -> bool:
    return folio.PG_dirty


def folio_mark_dirty(folio: folio) -> None:
    folio.PG_dirty = True


folio_set_dirty = folio_mark_dirty


def folio_clear_dirty_for_io(folio: folio) -> bool:
    was = folio.PG_dirty
    folio.PG_dirty = False
    return was


def folio_test_writeback(folio: folio) -> bool:
    return folio.PG_writeback


def folio_test_swapbacked(folio: folio) -> bool:
    return folio.PG_swapbacked


def folio_test_anon(folio: folio) -> bool:
    return folio.PG_anon


def folio_test_ksm(folio: folio) -> bool:
    return folio.PG_ksm


def folio_test_mlocked(folio: folio) -> bool:
    return folio.PG_mlocked


def folio_test_lru(folio: folio) -> bool:
    return folio.PG_lru


# References and mappings.
def folio_get(folio: folio) -> None:
    folio._refcount += 1


def folio_ref_add(folio: folio, nr: int) -> None:
    folio._refcount += nr


def folio_ref_sub(folio: folio, nr: int) -> None:
    folio._refcount -= nr


def folio_ref_count(folio: folio) -> int:
    return folio._refcount


def folio_put(folio: folio) -> None:
    folio._refcount -= 1
    if folio._refcount == 0:
        folio.freed = True


def folio_mapped(folio: folio) -> bool:
    return folio.total_mapcount > 0


def folio_mapcount(folio: folio) -> int:
    return folio.total_mapcount


# include/linux/list.h: intrusive doubly linked lists.
class list_head(Generic[T]):
    """struct list_head: a node embedded in ``entry``, or a list head (entry None)."""

    __slots__ = ("next", "prev", "entry", "name")

    def __init__(self, entry: T | None = None, name: str = "") -> None:
        self.next: list_head[T] = self
        self.prev: list_head[T] = self
        self.entry = entry
        self.name = name

    def __repr__(self) -> str:
        return f"<list {self.name}>" if self.entry is None else f"<node {self.entry!r}>"


def INIT_LIST_HEAD(head: list_head[Any]) -> None:
    head.next = head
    head.prev = head


def list_empty(head: list_head[Any]) -> bool:
    return head.next is head


def list_add_tail(new: list_head[Any], head: list_head[Any]) -> None:
    prev = head.prev
    new.prev = prev
    new.next = head
    prev.next = new
    head.prev = new


def list_add(new: list_head[Any], head: list_head[Any]) -> None:
    nxt = head.next
    new.prev = head
    new.next = nxt
    nxt.prev = new
    head.next = new


def list_del(entry: list_head[Any]) -> None:
    entry.prev.next = entry.next
    entry.next.prev = entry.prev
    entry.next = entry
    entry.prev = entry


def list_move_tail(entry: list_head[Any], head: list_head[Any]) -> None:
    """list_del() then list_add_tail(), written out."""
    entry.prev.next = entry.next
    entry.next.prev = entry.prev
    prev = head.prev
    entry.prev = prev
    entry.next = head
    prev.next = entry
    head.prev = entry


def list_for_each_entry(head: list_head[T]) -> Iterator[T]:
    """``list_for_each_entry_safe``: yields the entries; the current one may be unlinked."""
    node = head.next
    while node is not head:
        nxt = node.next
        yield node.entry  # type: ignore[misc]
        node = nxt


def list_count(head: list_head[Any]) -> int:
    n = 0
    node = head.next
    while node is not head:
        n += 1
        node = node.next
    return n


# include/linux/plist.h: a priority-sorted list (lower prio value first).
class plist_head(Generic[T]):
    """struct plist_head: entries sorted by ``prio``; equal ones in FIFO order."""

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes: list[tuple[int, T]] = []

    def __iter__(self) -> Iterator[T]:
        return iter([n for _, n in self.nodes])

    def __len__(self) -> int:
        return len(self.nodes)


def plist_add(node: T, prio: int, head: plist_head[T]) -> None:
    i = 0
    while i < len(head.nodes) and head.nodes[i][0] <= prio:
        i += 1
    head.nodes.insert(i, (prio, node))


def plist_del(node: T, head: plist_head[T]) -> None:
    for i, (_, n) in enumerate(head.nodes):
        if n is node:
            del head.nodes[i]
            return


def plist_requeue(node: T, head: plist_head[T]) -> None:
    """Move ``node`` behind every other node of the same priority."""
    for i, (prio, n) in enumerate(head.nodes):
        if n is node:
            del head.nodes[i]
            plist_add(node, prio, head)
            return


def plist_node_in(node: T, head: plist_head[T]) -> bool:
    return any(n is node for _, n in head.nodes)


def IS_ALIGNED(x: int, a: int) -> bool:
    return (x & (a - 1)) == 0


def ALIGN(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def ALIGN_DOWN(x: int, a: int) -> int:
    return x & ~(a - 1)


def DIV_ROUND_UP(n: int, d: int) -> int:
    return (n + d - 1) // d
