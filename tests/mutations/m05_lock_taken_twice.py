# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a lock taken twice: folio_free_swap() locks the folio its caller already locked.

The Context says the caller holds the folio lock; the mutant takes it again.
The copy below is ``swaplab.mm.swapfile.folio_free_swap`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: lockdep (lock-recursion).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})
from swaplab.kernel.dup import folio_lock  # not a global of mm/swapfile.py

REMOVED: list[str] = []
ADDED: list[str] = ['folio_lock(folio)']
CHECKER = "lockdep"
KINDS: tuple[str, ...] = ('lock-recursion',)


@override(MODULE, reference="planted bug (tests/mutations): a lock taken twice")
def folio_free_swap(folio: folio) -> bool:
    """Free the swap space of a swap-cache folio if nothing refers to it.

    Context: Caller must ensure the folio is locked.
    Return: True if the folio left the swap cache and its slots were freed.
    """
    folio_lock(folio)
    if not folio_swapcache_freeable(folio):
        return False
    if folio_swapped(folio):
        return False
    swap_cache_del_folio(folio)
    folio_set_dirty(folio)
    return True


class Mutant(Variant):
    name = "m05_lock_taken_twice"
    summary = "a lock taken twice"
