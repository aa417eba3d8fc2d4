# ruff: noqa: F821, F841 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a zap that forgets the put: munmap/exit clear swap ptes without dropping their counts.

zap_nonpresent_ptes() clears the ptes but never calls swap_put_entries_direct().
The copy below is ``swaplab.mm.memory.zap_nonpresent_ptes`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: ledger (swap-leak, count-mismatch).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.memory"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['swap_put_entries_direct(entry, nr)']
ADDED: list[str] = []
CHECKER = "ledger"
KINDS: tuple[str, ...] = ('swap-leak', 'count-mismatch')


@override(MODULE, reference="planted bug (tests/mutations): a zap that forgets the put")
def zap_nonpresent_ptes(tlb: mmu_gather, vma: vm_area_struct, pte: pte_ptr, ptent: pte_t,
                        max_nr: int, addr: int, rss: list[int]) -> int:
    """Clear swap ptes (batched) and drop their swap references.  Return: ptes cleared."""
    nr = 1
    if pte_is_swap_entry(ptent):
        entry = pte_to_swp_entry(ptent)
        # Genuine swap entries, hence private anon pages.
        nr = swap_pte_batch(pte, max_nr, ptent)
        rss[MM_SWAPENTS] -= nr
    for i in range(nr):
        pte_clear(vma.vm_mm, addr + i * PAGE_SIZE, pte + i)
    return nr


class Mutant(Variant):
    name = "m11_zap_without_put"
    summary = "a zap that forgets the put"
