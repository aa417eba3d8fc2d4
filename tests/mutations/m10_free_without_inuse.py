# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: swap_entries_free not updating inuse: freed slots stay counted in inuse_pages.

swap_range_free(), the side effects of swap_entries_free(), skips
swap_usage_sub().
The copy below is ``swaplab.mm.swapfile.swap_range_free`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: invariants (cluster-accounting).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['swap_usage_sub(si, nr_entries)']
ADDED: list[str] = []
CHECKER = "invariants"
KINDS: tuple[str, ...] = ('cluster-accounting',)


@override(MODULE, reference="planted bug (tests/mutations): swap_entries_free not updating inuse")
def swap_range_free(si: swap_info_struct, offset: int, nr_entries: int) -> None:
    """Side effects of freeing slots: zeromap, zswap, arch, driver notify, shadows, counters."""
    bitmap_clear(si.zeromap, offset, nr_entries)  # type: ignore[arg-type]
    # zswap_invalidate(), arch_swap_invalidate_page() and the driver's
    # swap_slot_free_notify() are empty on the modeled configuration
    # (zswap off, x86_64, brd/virtio-blk): see swaplab/kernel/stubs.py.
    swap_data = si.swap_data
    if swap_data:
        for i in range(offset, offset + nr_entries):
            swap_data.pop(i, None)
    __swap_cache_clear_shadow(swp_entry(si.type, offset), nr_entries)
    nr_swap_pages.counter += nr_entries


class Mutant(Variant):
    name = "m10_free_without_inuse"
    summary = "swap_entries_free not updating inuse"
