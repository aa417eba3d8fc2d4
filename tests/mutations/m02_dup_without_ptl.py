# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a dup without the page-table lock: fork copies swap ptes without the source PTL.

copy_pte_range() forgets spin_lock_nested(src_ptl) but still unlocks it, so
copy_nonpresent_pte() dups the swap entry with the source ptes unlocked.
The copy below is ``swaplab.mm.memory.copy_pte_range`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: lockdep (lock-not-held).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.memory"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['spin_lock_nested(src_ptl, 1)']
ADDED: list[str] = []
CHECKER = "lockdep"
KINDS: tuple[str, ...] = ('lock-not-held',)


@override(MODULE, reference="planted bug (tests/mutations): a dup without the page-table lock")
def copy_pte_range(dst_vma: vm_area_struct, src_vma: vm_area_struct, addr: int, end: int) -> int:
    """Copy the ptes of ``[addr, end)`` (inside one page of ptes) to the child.

    Context: both mms' mmap_lock held for write.
    Return: 0 or -ENOMEM.
    """
    dst_mm = dst_vma.vm_mm
    src_mm = src_vma.vm_mm
    while True:
        entry = 0
        ret = 0
        rss = [0] * NR_MM_COUNTERS
        dst_pmd = pte_alloc(dst_mm, addr)
        dst_pte, dst_ptl = pte_offset_map_lock(dst_mm, dst_pmd, addr)
        src_pmd = pmd_off(src_mm, addr)
        src_pte = pte_offset_map(src_pmd, addr)
        assert src_pte is not None and dst_pte is not None
        src_ptl = src_pmd.ptl  # type: ignore[union-attr]
        while addr != end:
            ptent = ptep_get(src_pte)
            if not pte_none(ptent):
                if not pte_present(ptent):
                    ret = copy_nonpresent_pte(dst_mm, src_mm, dst_pte, src_pte, dst_vma,
                                              src_vma, addr, rss)
                    if ret == -5:
                        entry = pte_to_swp_entry(ptep_get(src_pte))
                        break
                else:
                    ret = copy_present_pte(dst_vma, src_vma, dst_pte, src_pte, addr, rss)
                    if ret:
                        break
            dst_pte += 1
            src_pte += 1
            addr += PAGE_SIZE
        spin_unlock(src_ptl)
        for member in range(NR_MM_COUNTERS):
            add_mm_counter(dst_mm, member, rss[member])
        pte_unmap_unlock(dst_pte, dst_ptl)
        cond_resched()
        if ret == -5:
            VM_WARN_ON_ONCE(not entry, "copy_pte_range: -EIO without an entry")
            if add_swap_count_continuation(entry, GFP_KERNEL) < 0:
                return -12
        elif ret:
            VM_WARN_ON_ONCE(True, f"copy_pte_range: unexpected error {ret}")
            return -12
        # We've captured and resolved the error.  Reset, try again.
        if addr == end:
            return 0


class Mutant(Variant):
    name = "m02_dup_without_ptl"
    summary = "a dup without the page-table lock"
