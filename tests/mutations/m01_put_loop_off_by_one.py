# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: an off-by-one in a free loop: swap_entries_put_map() drops one count fewer than asked.

The loop over the slots of a put stops one short, so the last slot of every
put (the only one of an order-0 put) keeps its count.
The copy below is ``swaplab.mm.swapfile.swap_entries_put_map`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: ledger (count-mismatch, swap-leak).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['for i in range(nr):']
ADDED: list[str] = ['for i in range(nr - 1):']
CHECKER = "ledger"
KINDS: tuple[str, ...] = ('count-mismatch', 'swap-leak')


@override(MODULE, reference="planted bug (tests/mutations): an off-by-one in a free loop")
def swap_entries_put_map(si: swap_info_struct, entry: int, nr: int) -> bool:
    """Drop one count of ``nr`` slots of one cluster.

    Slots reaching count 0 are freed unless cached (they become cache-only).
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
    for i in range(nr - 1):
        if swap_entry_put_locked(si, ci, entry + i, 1) == SWAP_HAS_CACHE:
            ret = True
    swap_cluster_unlock(ci)
    return ret


class Mutant(Variant):
    name = "m01_put_loop_off_by_one"
    summary = "an off-by-one in a free loop"
