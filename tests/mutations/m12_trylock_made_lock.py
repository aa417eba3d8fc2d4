# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a trylock made a lock: isolate_lock_cluster() takes a cluster lock under si->lock.

The kernel only try-locks a cluster under si->lock, because move_cluster()
takes si->lock under the cluster lock: with spin_lock() the two orders form a cycle.
The copy below is ``swaplab.mm.swapfile.isolate_lock_cluster`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: lockdep (lock-order).
"""

from __future__ import annotations

import importlib
from typing import Any

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['if not spin_trylock(ci.lock):', 'continue']
ADDED: list[str] = ['spin_lock(ci.lock)']
CHECKER = "lockdep"
KINDS: tuple[str, ...] = ('lock-order',)


@override(MODULE, reference="planted bug (tests/mutations): a trylock made a lock")
def isolate_lock_cluster(si: swap_info_struct, list: list_head[Any]) -> swap_cluster_info | None:
    """Take the first cluster of ``list`` whose lock can be try-locked off the list.

    Context: allocator context (per-CPU local lock).  Return: the cluster,
    locked, flags NONE, with a swap table; or None.
    """
    found = None
    flags = CLUSTER_FLAG_NONE
    spin_lock(si.lock)
    for ci in list_for_each_entry(list):
        spin_lock(ci.lock)
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


class Mutant(Variant):
    name = "m12_trylock_made_lock"
    summary = "a trylock made a lock"
