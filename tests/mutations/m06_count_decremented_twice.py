# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a count decremented twice: folio_put_swap() puts its slots two times.

Every put of the folio API drops two counts.
The copy below is ``swaplab.mm.swapfile.folio_put_swap`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: ledger (count-mismatch, count-underflow, swap-leak).
"""

from __future__ import annotations

import importlib
from typing import Any

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = []
ADDED: list[str] = ['swap_entries_put_map(__swap_entry_to_info(entry), entry, nr_pages)  # type: ignore[arg-type]']
CHECKER = "ledger"
KINDS: tuple[str, ...] = ('count-mismatch', 'count-underflow', 'swap-leak')


@override(MODULE, reference="planted bug (tests/mutations): a count decremented twice")
def folio_put_swap(folio: folio, subpage: Any = None) -> None:
    """Decrease the swap count of a folio's swap entries.

    Never frees a slot: they stay pinned by the swap cache (lazy freeing);
    folio_free_swap() frees them eagerly.

    Context: Caller must ensure the folio is locked and in the swap cache.
    """
    if __debug__:
        VM_WARN_ON_FOLIO(folio.PG_locked.owner is None, folio, "folio_put_swap: folio not locked")
        VM_WARN_ON_FOLIO(not folio.PG_swapcache, folio, "folio_put_swap: folio not in swap cache")
    entry = folio.swap
    nr_pages = 1 << folio.order
    if subpage is not None:
        entry += subpage.idx
        nr_pages = 1
    swap_entries_put_map(__swap_entry_to_info(entry), entry, nr_pages)  # type: ignore[arg-type]
    swap_entries_put_map(__swap_entry_to_info(entry), entry, nr_pages)  # type: ignore[arg-type]


class Mutant(Variant):
    name = "m06_count_decremented_twice"
    summary = "a count decremented twice"
