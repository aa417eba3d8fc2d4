# ruff: noqa: F821, F841 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a missed cache deletion: the swap table keeps the folio after it left the swap cache.

__swap_cache_del_folio() clears the folio's swap-cache flag and the slot's
cache bit but never resets the table words to the shadow (or NULL).
The copy below is ``swaplab.mm.swap_state.__swap_cache_del_folio`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: invariants (cache-mismatch).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swap_state"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['__swap_table_set_range(ci, ci_start, nr_pages, new_tb)']
ADDED: list[str] = []
CHECKER = "invariants"
KINDS: tuple[str, ...] = ('cache-mismatch',)


@override(MODULE, reference="planted bug (tests/mutations): a missed cache deletion")
def __swap_cache_del_folio(ci: swap_cluster_info, folio: folio, entry: int,
                           shadow: int | None) -> None:
    """Remove a folio from the swap cache, leaving ``shadow`` (or NULL) in its slots.

    Slots whose swap count is 0 are freed right here.

    Context: Caller must hold ci->lock and ensure the folio is locked, in the
    swap cache and not under writeback.
    """
    if __debug__:
        lockdep_assert_held(ci.lock)
        VM_WARN_ON_ONCE_FOLIO(folio.PG_locked.owner is None, folio, "__swap_cache_del_folio: not locked")
        VM_WARN_ON_ONCE_FOLIO(not folio.PG_swapcache, folio, "__swap_cache_del_folio: not in swap cache")
        VM_WARN_ON_ONCE_FOLIO(folio.PG_writeback, folio, "__swap_cache_del_folio: under writeback")
    si = __swap_entry_to_info(entry)
    nr_pages = 1 << folio.order
    ci_start = swp_offset(entry) % SWAPFILE_CLUSTER
    new_tb = shadow_swp_to_tb(shadow) if shadow else 0
    if __debug__:
        VM_WARN_ON_FOLIO([*map(ci.table.get,  # type: ignore[union-attr]
                               range(ci_start, ci_start + nr_pages))].count(folio) != nr_pages,
                         folio,
                         "swap table word does not point to the folio being deleted")
    if not ci.table:
        # The model's sparse table never shrinks in place: start a new one
        # once empty, so a used cluster costs a few bytes, not 512 words.
        ci.table = {}
    folio.swap = 0
    folio.PG_swapcache = False
    node_stat_mod_folio(folio, NR_FILE_PAGES, -nr_pages)
    node_stat_mod_folio(folio, NR_SWAPCACHE, -nr_pages)
    __swapcache_clear_cached(si, ci, entry, nr_pages)  # type: ignore[arg-type]


class Mutant(Variant):
    name = "m04_missed_cache_deletion"
    summary = "a missed cache deletion"
