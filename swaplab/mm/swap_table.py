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


# The vocabulary below (construction, type checking, value extraction), as
# in mm/swap_table.h: each helper only converts or tests one word it is
# given, so any context will do and nothing is locked; it returns the
# converted word, the answer, or None when the word is of another type.
# Only the accessors at the end touch a table; each names its lock.

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
    """Set the table word of slot ``off`` of ``ci`` (NULL drops the key).

    Context: ``ci->lock`` held; the cluster has a table.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    if not swp_tb:
        ci.table.pop(off, None)  # type: ignore[union-attr]
    else:
        ci.table[off] = swp_tb  # type: ignore[index]


def __swap_table_set_range(ci: swap_cluster_info, off: int, nr: int, swp_tb: SwpTb) -> None:
    """__swap_table_set() on the ``nr`` words of a folio's slots (the kernel loops).

    Context: ``ci->lock`` held; the cluster has a table.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    table = ci.table
    if swp_tb:
        table.update(dict.fromkeys(range(off, off + nr), swp_tb))  # type: ignore[union-attr]
    else:
        for i in range(off, off + nr):
            table.pop(i, None)  # type: ignore[union-attr]


def __swap_table_xchg(ci: swap_cluster_info, off: int, swp_tb: SwpTb) -> SwpTb:
    """Set the table word of slot ``off`` and return the previous one.

    Context: ``ci->lock`` held; the cluster has a table.
    Return: the old word (0 for NULL).
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    old: SwpTb = ci.table.get(off, 0)  # type: ignore[union-attr]
    __swap_table_set(ci, off, swp_tb)
    return old


def __swap_table_get(ci: swap_cluster_info, off: int) -> SwpTb:
    """Read the table word of slot ``off`` under the cluster lock.

    The kernel also accepts an RCU reader (``rcu_dereference_check``); the
    model asks for the lock.

    Context: ``ci->lock`` held.
    Return: the word, 0 (NULL) if the slot or the whole table is empty.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
    table = ci.table
    return table.get(off, 0) if table is not None else 0


def swap_table_get(ci: swap_cluster_info, off: int) -> SwpTb:
    """Lockless read of the table word of slot ``off`` (the kernel reads under rcu_read_lock).

    Context: any; the caller pins the device.  The word may change at once:
    a folio found must be locked and re-checked (folio_matches_swap_entry()).
    Return: the word, 0 (NULL) if the slot or the whole table is empty.
    """
    table = ci.table
    return table.get(off, 0) if table is not None else 0


def swap_table_alloc() -> dict[int, Any]:
    """Allocate an empty swap table for a cluster.

    Context: any (the model's allocation cannot sleep or fail here; the
    injected failure is in swap_cluster_alloc_table()).
    Return: an empty table.
    """
    return {}


# Exported for the model's own use (not kernel names).
set_ = __swap_table_set
get_ = __swap_table_get
xchg_ = __swap_table_xchg
