"""mm/swap_table.h: the swap table, one word per slot of a cluster.

A swap table entry (``swp_tb``) is the state of one slot as the swap cache
sees it::

    NULL    |------------- 0 -------------|   no folio, no shadow
    Folio   |------ struct folio * -----|00|   the slot is in the swap cache
    Shadow  |------ workingset value ---|-1|   swapped out, eviction info kept

A free slot's word is always NULL, but NULL does not mean free: a used,
uncached slot whose folio left the cache without a shadow is NULL too.

Representation: ``ci.table`` is ``None`` for a cluster without a table
(every FREE cluster) or a dict ``{ci_off: swp_tb}`` holding the non-NULL
words; a missing key is NULL.  The kernel's table is 512 words per used
cluster; the sparse dict is the model's choice to keep a 1 TiB device small.
Shadows are odd ints (``xa_mk_value``); folios are ``struct folio`` objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

from swaplab.kernel.dup import folio
from swaplab.kernel.locking import lockdep_assert_held

if TYPE_CHECKING:
    from swaplab.mm.swap import swap_cluster_info

SwpTb = Union[int, folio]


# Helpers for swap table entry construction.
def null_to_swp_tb() -> SwpTb:
    return 0


def folio_to_swp_tb(folio: folio) -> SwpTb:
    return folio


def shadow_swp_to_tb(shadow: int) -> SwpTb:
    """``shadow`` is an XArray value: an odd integer."""
    return shadow


def xa_mk_value(v: int) -> int:
    return (v << 1) | 1


# Helpers for swap table entry type checking.
def swp_tb_is_null(swp_tb: SwpTb) -> bool:
    return not swp_tb


def swp_tb_is_folio(swp_tb: SwpTb) -> bool:
    return type(swp_tb) is folio


def swp_tb_is_shadow(swp_tb: SwpTb) -> bool:
    return type(swp_tb) is int and bool(swp_tb & 1)


# Helpers for swap table entry value extraction.
def swp_tb_to_folio(swp_tb: SwpTb) -> folio | None:
    return swp_tb if type(swp_tb) is folio else None  # type: ignore[return-value]


def swp_tb_to_shadow(swp_tb: SwpTb) -> int | None:
    return swp_tb if (type(swp_tb) is int and swp_tb & 1) else None  # type: ignore[return-value]


# Helpers for accessing a swap table: the __ ones need ci->lock held.
def __swap_table_set(ci: swap_cluster_info, off: int, swp_tb: SwpTb) -> None:
    if __debug__:
        lockdep_assert_held(ci.lock)
    if not swp_tb:
        ci.table.pop(off, None)  # type: ignore[union-attr]
    else:
        ci.table[off] = swp_tb  # type: ignore[index]


def __swap_table_set_range(ci: swap_cluster_info, off: int, nr: int, swp_tb: SwpTb) -> None:
    """__swap_table_set() on the ``nr`` words of a folio's slots (the kernel loops)."""
    if __debug__:
        lockdep_assert_held(ci.lock)
    table = ci.table
    if swp_tb:
        table.update(dict.fromkeys(range(off, off + nr), swp_tb))  # type: ignore[union-attr]
    else:
        for i in range(off, off + nr):
            table.pop(i, None)  # type: ignore[union-attr]


def __swap_table_xchg(ci: swap_cluster_info, off: int, swp_tb: SwpTb) -> SwpTb:
    if __debug__:
        lockdep_assert_held(ci.lock)
    old: SwpTb = ci.table.get(off, 0)  # type: ignore[union-attr]
    __swap_table_set(ci, off, swp_tb)
    return old


def __swap_table_get(ci: swap_cluster_info, off: int) -> SwpTb:
    if __debug__:
        lockdep_assert_held(ci.lock)
    table = ci.table
    return table.get(off, 0) if table is not None else 0


def swap_table_get(ci: swap_cluster_info, off: int) -> SwpTb:
    """Lockless read (the kernel reads under rcu_read_lock)."""
    table = ci.table
    return table.get(off, 0) if table is not None else 0


def swap_table_alloc() -> dict[int, Any]:
    return {}


# Exported for the model's own use (not kernel names).
set_ = __swap_table_set
get_ = __swap_table_get
xchg_ = __swap_table_xchg
