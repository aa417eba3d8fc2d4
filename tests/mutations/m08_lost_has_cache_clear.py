# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a lost SWAP_HAS_CACHE clear: a slot with a count keeps its cache bit after the folio left.

When a folio leaves the swap cache and its slots still have a count, the
cache bit is never cleared (the table word is).
The copy below is ``swaplab.mm.swapfile.__swapcache_clear_cached`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: invariants (cache-mismatch).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['for i in range(nr):', 'swap_entry_put_locked(si, ci, entry + i, SWAP_HAS_CACHE)']
ADDED: list[str] = ['pass']
CHECKER = "invariants"
KINDS: tuple[str, ...] = ('cache-mismatch',)


@override(MODULE, reference="planted bug (tests/mutations): a lost SWAP_HAS_CACHE clear")
def __swapcache_clear_cached(si: swap_info_struct, ci: swap_cluster_info, entry: int,
                             nr: int) -> None:
    """Clear SWAP_HAS_CACHE as a folio leaves the swap cache; count-0 slots are freed.

    Context: ci->lock held.
    """
    offset = swp_offset(entry)
    if swap_only_has_cache(si, offset, nr):
        swap_entries_free(si, ci, entry, nr)
    else:
        pass


class Mutant(Variant):
    name = "m08_lost_has_cache_clear"
    summary = "a lost SWAP_HAS_CACHE clear"
