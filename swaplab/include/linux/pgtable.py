"""include/linux/pgtable.h (and the x86 pte bits it wraps): pte values and page tables.

A pte is a small immutable value, :class:`pte_t`, in one of four shapes::

    none     nothing mapped                         pte_none()
    present  page, write, dirty, young, special,    pte_present()
             soft_dirty, uffd_wp
    swap     entry (swp_entry_t) + exclusive,       is_swap_pte(), pte_to_swp_entry()
             soft_dirty, uffd_wp bits kept beside it
    marker   a non-swap software entry (a poisoned  is_pte_marker()
             or hwpoison marker), value in ``entry``

Helpers are the kernel's, each returning a new value: ``pte_mkwrite``,
``pte_mkdirty``, ``pte_swp_mkexclusive``, ...

A page of 512 ptes is a :class:`ptdesc` with its split page-table lock
``ptl`` (lockdep class ``ptlock``).  ``pte_offset_map_lock`` returns a
pointer (:class:`pte_ptr`) into it and takes the lock; the model has no PMD
level of its own: ``mm.pgd[addr >> PMD_SHIFT]`` is the "pmd" (the page of
ptes it points to).

The shared zero page (``ZERO_PAGE``) is a special pte: no folio reference,
no rmap; vm_normal_page() returns None for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from swaplab.include.linux.swapops import MAX_SWAPFILES_SHIFT, SWP_TYPE_SHIFT
from swaplab.kernel.dup import folio, page
from swaplab.kernel.locking import lock_t, spin_lock, spin_unlock, spinlock_t

if TYPE_CHECKING:
    from swaplab.include.linux.mm_types import mm_struct

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTRS_PER_PTE = 512
PMD_SHIFT = PAGE_SHIFT + 9
PMD_SIZE = 1 << PMD_SHIFT

PTE_NONE, PTE_PRESENT, PTE_SWAP, PTE_MARKER = 0, 1, 2, 3

# Non-swap software entries live in the types above MAX_SWAPFILES.
PTE_MARKER_POISONED = 1
PTE_MARKER_HWPOISON = 2


@dataclass(frozen=True, slots=True)
class pte_t:
    """pte_t: one page-table entry (see the module docstring for its shapes)."""

    kind: int = PTE_NONE
    page: page | None = None
    entry: int = 0
    write: bool = False
    dirty: bool = False
    young: bool = False
    special: bool = False
    soft_dirty: bool = False
    uffd_wp: bool = False
    exclusive: bool = False

    def __repr__(self) -> str:
        if self.kind == PTE_NONE:
            return "pte(none)"
        if self.kind == PTE_PRESENT:
            bits = "".join(
                c
                for c, b in (
                    ("w", self.write),
                    ("d", self.dirty),
                    ("y", self.young),
                    ("z", self.special),
                )
                if b
            )
            return f"pte({self.page!r} {bits})"
        if self.kind == PTE_SWAP:
            return (
                f"pte(swap [{self.entry >> SWP_TYPE_SHIFT}, "
                f"{self.entry & ((1 << SWP_TYPE_SHIFT) - 1)}]{' excl' if self.exclusive else ''})"
            )
        return f"pte(marker {self.entry})"


_pte_none = pte_t()


def __pte(kind: int = PTE_NONE) -> pte_t:
    return _pte_none


# The shared zero page.
_zero_folio = folio(0)
_zero_folio.PG_swapbacked = False
ZERO_PAGE: page = _zero_folio.pages[0]


def is_zero_page(p: page | None) -> bool:
    return p is ZERO_PAGE


# Type tests.
def pte_none(pte: pte_t) -> bool:
    return pte.kind == PTE_NONE


def pte_present(pte: pte_t) -> bool:
    return pte.kind == PTE_PRESENT


def is_swap_pte(pte: pte_t) -> bool:
    """include/linux/swapops.h: a non-present, non-none pte."""
    return pte.kind == PTE_SWAP or pte.kind == PTE_MARKER


def pte_is_swap_entry(pte: pte_t) -> bool:
    """A pte holding a real swap entry (``softleaf_is_swap``)."""
    return pte.kind == PTE_SWAP


def is_pte_marker(pte: pte_t) -> bool:
    return pte.kind == PTE_MARKER


# Present ptes.
def mk_pte(p: page, prot: int = 0) -> pte_t:
    """A present, read-only, clean, old pte mapping ``p``."""
    return pte_t(PTE_PRESENT, p, special=is_zero_page(p))


def pte_page(pte: pte_t) -> page | None:
    return pte.page


def pte_write(pte: pte_t) -> bool:
    return pte.write


def pte_dirty(pte: pte_t) -> bool:
    return pte.dirty


def pte_young(pte: pte_t) -> bool:
    return pte.young


def pte_special(pte: pte_t) -> bool:
    return pte.special


def pte_soft_dirty(pte: pte_t) -> bool:
    return pte.soft_dirty


def pte_uffd_wp(pte: pte_t) -> bool:
    return pte.uffd_wp


def _pte_with(pte: pte_t, *, entry: int | None = None, write: bool | None = None,
              dirty: bool | None = None, young: bool | None = None,
              soft_dirty: bool | None = None, uffd_wp: bool | None = None,
              exclusive: bool | None = None) -> pte_t:
    """A copy of ``pte`` with the given bits changed (the pte_mk*() helpers' one body).

    Built field by field: ``dataclasses.replace`` was the hottest call of a
    fuzz program.
    """
    return pte_t(pte.kind, pte.page,
                 pte.entry if entry is None else entry,
                 pte.write if write is None else write,
                 pte.dirty if dirty is None else dirty,
                 pte.young if young is None else young,
                 pte.special,
                 pte.soft_dirty if soft_dirty is None else soft_dirty,
                 pte.uffd_wp if uffd_wp is None else uffd_wp,
                 pte.exclusive if exclusive is None else exclusive)


def pte_mkwrite(pte: pte_t) -> pte_t:
    return _pte_with(pte, write=True)


def pte_wrprotect(pte: pte_t) -> pte_t:
    return _pte_with(pte, write=False)


def pte_mkdirty(pte: pte_t) -> pte_t:
    return _pte_with(pte, dirty=True, soft_dirty=True)


def pte_mkclean(pte: pte_t) -> pte_t:
    return _pte_with(pte, dirty=False)


def pte_mkyoung(pte: pte_t) -> pte_t:
    return _pte_with(pte, young=True)


def pte_mkold(pte: pte_t) -> pte_t:
    return _pte_with(pte, young=False)


def pte_mksoft_dirty(pte: pte_t) -> pte_t:
    return _pte_with(pte, soft_dirty=True)


def pte_mkuffd_wp(pte: pte_t) -> pte_t:
    return _pte_with(pte, uffd_wp=True)


def pte_clear_uffd_wp(pte: pte_t) -> pte_t:
    return _pte_with(pte, uffd_wp=False)


# Swap ptes.
def swp_entry_to_pte(entry: int) -> pte_t:
    return pte_t(PTE_SWAP, entry=entry)


def pte_to_swp_entry(pte: pte_t) -> int:
    return pte.entry


def pte_swp_exclusive(pte: pte_t) -> bool:
    return pte.exclusive


def pte_swp_mkexclusive(pte: pte_t) -> pte_t:
    return _pte_with(pte, exclusive=True)


def pte_swp_clear_exclusive(pte: pte_t) -> pte_t:
    return _pte_with(pte, exclusive=False)


def pte_swp_soft_dirty(pte: pte_t) -> bool:
    return pte.soft_dirty


def pte_swp_mksoft_dirty(pte: pte_t) -> pte_t:
    return _pte_with(pte, soft_dirty=True)


def pte_swp_uffd_wp(pte: pte_t) -> bool:
    return pte.uffd_wp


def pte_swp_mkuffd_wp(pte: pte_t) -> pte_t:
    return _pte_with(pte, uffd_wp=True)


def pte_swp_clear_uffd_wp(pte: pte_t) -> pte_t:
    return _pte_with(pte, uffd_wp=False)


def pte_swp_clear_flags(pte: pte_t) -> pte_t:
    """The swap pte without its exclusive/soft-dirty/uffd-wp bits (pte_same_as_swp())."""
    return _pte_with(pte, soft_dirty=False, uffd_wp=False, exclusive=False)


def pte_next_swp_offset(pte: pte_t) -> pte_t:
    return _pte_with(pte, entry=pte.entry + 1)


def make_pte_marker(marker: int) -> pte_t:
    return pte_t(PTE_MARKER, entry=marker)


def pte_same(a: pte_t, b: pte_t) -> bool:
    return a == b


MAX_SWAPFILES_SHIFT_ = MAX_SWAPFILES_SHIFT  # re-exported for readers of the entry layout


# Pages of ptes and the split page-table lock.
class ptdesc:
    """struct ptdesc: one page of PTRS_PER_PTE ptes and its lock ``ptl``.

    ``ptes`` are guarded by ``ptl``.  ``swap_ptes`` is the checkers' index
    of the swap ptes among them (pte index -> swap entry), which the
    kernel's struct has not: every pte store goes through the setters
    below (set_pte_at(), set_ptes(), ptep_get_and_clear(), pte_clear(),
    ptep_set_wrprotect()), which keep it, so the reference ledger
    (swaplab/check/ledger.py) reads a table's swap entries without walking
    its 512 ptes.
    """

    __slots__ = ("index", "ptes", "ptl", "swap_ptes")

    def __init__(self, index: int) -> None:
        self.ptes: list[pte_t] = [_pte_none] * PTRS_PER_PTE
        self.ptl: lock_t = spinlock_t("ptlock")
        self.index = index
        self.swap_ptes: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"<ptdesc {self.index:#x}>"


class pte_ptr:
    """A ``pte_t *``: the page of ptes and the index in it."""

    __slots__ = ("idx", "table")

    def __init__(self, table: ptdesc, idx: int) -> None:
        self.table = table
        self.idx = idx

    def __add__(self, n: int) -> pte_ptr:
        return pte_ptr(self.table, self.idx + n)


def pte_index(addr: int) -> int:
    return (addr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)


def pmd_off(mm: mm_struct, addr: int) -> ptdesc | None:
    """The "pmd" of ``addr``: the page of ptes it points to, or None (pmd_none)."""
    table: ptdesc | None = mm.pgd.get(addr >> PMD_SHIFT)
    return table


def pte_alloc(mm: mm_struct, addr: int) -> ptdesc:
    """__pte_alloc(): make sure a page of ptes covers ``addr``.  Return: it."""
    table = mm.pgd.get(addr >> PMD_SHIFT)
    if table is None:
        table = mm.pgd[addr >> PMD_SHIFT] = ptdesc(addr >> PMD_SHIFT)
    return table


def pte_offset_map(pmd: ptdesc | None, addr: int) -> pte_ptr | None:
    if pmd is None:
        return None
    return pte_ptr(pmd, pte_index(addr))


def pte_lockptr(pmd: ptdesc) -> lock_t:
    return pmd.ptl


def pte_offset_map_lock(
    mm: mm_struct, pmd: ptdesc | None, addr: int
) -> tuple[pte_ptr | None, lock_t | None]:
    """Map the pte of ``addr`` and take its page-table lock.  Return: (pte, ptl) or (None, None)."""
    if pmd is None:
        return None, None
    spin_lock(pmd.ptl)
    return pte_ptr(pmd, pte_index(addr)), pmd.ptl


def pte_unmap_unlock(pte: pte_ptr | None, ptl: lock_t | None) -> None:
    if ptl is not None:
        spin_unlock(ptl)


def ptep_get(ptep: pte_ptr) -> pte_t:
    return ptep.table.ptes[ptep.idx]


ptep_get_lockless = ptep_get


def _set_pte(table: ptdesc, idx: int, pte: pte_t) -> None:
    """Store ``pte`` at ``idx`` of ``table`` (the one store of every setter below).

    Keeps ``table.swap_ptes``, the index of the table's swap ptes.
    """
    table.ptes[idx] = pte
    if pte.kind == PTE_SWAP:
        table.swap_ptes[idx] = pte.entry
    elif table.swap_ptes:
        table.swap_ptes.pop(idx, None)


def set_pte_at(mm: mm_struct, addr: int, ptep: pte_ptr, pte: pte_t) -> None:
    _set_pte(ptep.table, ptep.idx, pte)


def set_ptes(mm: mm_struct, addr: int, ptep: pte_ptr, pte: pte_t, nr: int) -> None:
    """Set ``nr`` consecutive ptes starting at ``ptep``: a present pte maps the
    following pages of its folio (the pfn advances), as in the kernel."""
    table = ptep.table
    _set_pte(table, ptep.idx, pte)
    if nr > 1 and pte.kind == PTE_PRESENT and pte.page is not None:
        pages = pte.page.folio.pages
        first = pte.page.idx
        for i in range(1, nr):
            _set_pte(table, ptep.idx + i, replace(pte, page=pages[first + i]))
    else:
        for i in range(1, nr):
            _set_pte(table, ptep.idx + i, pte)


def ptep_get_and_clear(mm: mm_struct, addr: int, ptep: pte_ptr) -> pte_t:
    old = ptep.table.ptes[ptep.idx]
    _set_pte(ptep.table, ptep.idx, _pte_none)
    return old


ptep_clear_flush = ptep_get_and_clear


def pte_clear(mm: mm_struct, addr: int, ptep: pte_ptr) -> None:
    _set_pte(ptep.table, ptep.idx, _pte_none)


def ptep_set_wrprotect(mm: mm_struct, addr: int, ptep: pte_ptr) -> None:
    _set_pte(ptep.table, ptep.idx, pte_wrprotect(ptep.table.ptes[ptep.idx]))


def pte_table_none(table: ptdesc) -> bool:
    """Every pte of ``table`` is none (pte_none()).

    A table cleared by the setters holds the one none pte, ``__pte(0)``, in
    every entry: counting it is a C-speed scan; only a table holding another
    pte is looked at pte by pte.
    """
    ptes = table.ptes
    return ptes.count(_pte_none) == PTRS_PER_PTE or all(map(pte_none, ptes))
