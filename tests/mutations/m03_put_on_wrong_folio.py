# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a put on the wrong folio: do_swap_page() puts the count on KSM's copy, not the swap-cache folio.

When ksm_might_need_to_copy() gave a private copy, the count is put on the
copy (not in the swap cache, folio->swap 0), as v5's unuse_pte() did (spec 6.3).
The copy below is ``swaplab.mm.memory.do_swap_page`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: VM_WARN (vm-warn, count-mismatch).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.memory"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['folio_put_swap(swapcache, None)']
ADDED: list[str] = ['folio_put_swap(folio, None)']
CHECKER = "VM_WARN"
KINDS: tuple[str, ...] = ('vm-warn', 'count-mismatch')


@override(MODULE, reference="planted bug (tests/mutations): a put on the wrong folio")
def do_swap_page(vmf: vm_fault) -> int:
    """Fault in the page a swap pte refers to.

    Context: mmap_lock held (read); no page-table lock, no folio lock.
    Return: 0, VM_FAULT_MAJOR (the page was read from the device), or an
    error bit (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_HWPOISON).
    """
    vma = vmf.vma
    mm = vma.vm_mm
    ret = 0
    if not pte_is_swap_entry(vmf.orig_pte):
        if is_pte_marker(vmf.orig_pte):
            return VM_FAULT_HWPOISON if vmf.orig_pte.entry == PTE_MARKER_HWPOISON else VM_FAULT_SIGBUS
        return VM_FAULT_SIGBUS
    entry = pte_to_swp_entry(vmf.orig_pte)
    si = get_swap_device(entry)
    if si is None:
        return 0
    folio = swap_cache_get_folio(entry)
    swapcache = folio
    if folio is None:
        if si.flags & SWP_SYNCHRONOUS_IO:
            folio = alloc_swap_folio(vmf)
            if folio is not None:
                # The folio is charged, so swap-in can only fail due to
                # a raced swap-in, returning the folio cached first.
                swapcache = swapin_folio(entry, folio)
                if swapcache is not folio:
                    folio_put(folio)
                folio = swapcache
        else:
            folio = swapin_readahead(entry, GFP_HIGHUSER_MOVABLE, vmf)
            swapcache = folio
        if folio is None:
            # Back out if somebody else faulted in this pte meanwhile.
            vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, vmf.address)
            if vmf.pte is not None and pte_same(ptep_get(vmf.pte), vmf.orig_pte):
                ret = VM_FAULT_OOM
            pte_unmap_unlock(vmf.pte, vmf.ptl)
            put_swap_device(si)
            return ret
        # Had to read the page from the swap area: major fault.
        ret = VM_FAULT_MAJOR
        count_vm_event(PGMAJFAULT)
    assert swapcache is not None
    folio_lock(folio)
    p = folio_file_page(folio, swp_offset(entry))
    # folio_free_swap() or swapoff may have released the swap cache under us.
    if not folio_matches_swap_entry(folio, entry):
        return _out_page(folio, swapcache, si, ret)
    if p.hwpoison:
        return _out_page(folio, swapcache, si, VM_FAULT_HWPOISON)
    # KSM sometimes has to copy on read faults.
    copy = ksm_might_need_to_copy(folio, vma, vmf.address)
    if copy is None:
        return _out_page(swapcache, swapcache, si, VM_FAULT_OOM)
    if copy is EHWPOISON_FOLIO:
        return _out_page(swapcache, swapcache, si, VM_FAULT_HWPOISON)
    folio = copy
    if folio is not swapcache:
        p = folio.pages[0]
    if (vmf.flags & FAULT_FLAG_WRITE) and folio is swapcache and not folio_test_ksm(folio) \
            and not folio.PG_lru:
        pass                                            # lru_add_drain()
    # Back out if somebody else already faulted in this pte.
    vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, vmf.address)
    if vmf.pte is None or not pte_same(ptep_get(vmf.pte), vmf.orig_pte):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return _out_page(folio, swapcache, si, ret)
    if not folio_test_uptodate(folio):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return _out_page(folio, swapcache, si, VM_FAULT_SIGBUS)
    nr_pages, address, ptep, entry, p = swap_pte_range_to_map(vmf, folio, entry, p)
    if not nr_pages:
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return _out_page(folio, swapcache, si, ret)
    VM_BUG_ON_FOLIO(folio_test_anon(folio) and p.anon_exclusive, folio,
                    "do_swap_page: a swap pte points at a PageAnonExclusive page")
    exclusive = False
    rmap_flags = RMAP_NONE
    # Under the PTL (fork cannot share the entry now): certainly exclusive?
    if not folio_test_ksm(folio):
        exclusive = pte_swp_exclusive(vmf.orig_pte)
        if exclusive:
            check_swap_exclusive(folio, entry, nr_pages)
        if folio is not swapcache:
            # A fresh copy nobody else can see: certainly exclusive.
            exclusive = True
        elif exclusive and folio_test_writeback(folio) and si.flags & SWP_STABLE_WRITES:
            exclusive = False
    # Arch metadata is indexed by the swap entry: restore before the put.
    arch_swap_restore(entry, folio)
    add_mm_counter(mm, MM_ANONPAGES, nr_pages)
    add_mm_counter(mm, MM_SWAPENTS, -nr_pages)
    pte = mk_pte(p)
    if pte_swp_soft_dirty(vmf.orig_pte):
        pte = pte_mksoft_dirty(pte)
    if pte_swp_uffd_wp(vmf.orig_pte):
        pte = pte_mkuffd_wp(pte)
    # Same logic as in do_wp_page(), for pages that are certainly not shared.
    if not folio_test_ksm(folio) and (exclusive or folio_ref_count(folio) == 1):
        if vma.vm_flags & VM_WRITE and not pte_swp_uffd_wp(vmf.orig_pte):
            pte = pte_mkwrite(pte)
            if vmf.flags & FAULT_FLAG_WRITE:
                pte = pte_mkdirty(pte)
                vmf.flags &= ~FAULT_FLAG_WRITE
        rmap_flags |= RMAP_EXCLUSIVE
    folio_ref_add(folio, nr_pages - 1)
    vmf.orig_pte = pte
    if folio is not swapcache:
        # KSM created a completely new copy.
        folio_add_new_anon_rmap(folio, vma, address, RMAP_EXCLUSIVE)
        folio_add_lru_vma(folio, vma)
        folio_put_swap(folio, None)
    elif not folio_test_anon(folio):
        VM_WARN_ON_ONCE_FOLIO(folio_nr_pages(folio) != nr_pages, folio, "!anon folio not mapped whole")
        VM_WARN_ON_ONCE_FOLIO(folio_mapped(folio), folio, "!anon folio already mapped")
        folio_add_new_anon_rmap(folio, vma, address, rmap_flags)
        folio_put_swap(folio, None)
    else:
        VM_WARN_ON_ONCE(nr_pages != 1 and nr_pages != folio_nr_pages(folio),
                        "do_swap_page: partial mapping of a large folio")
        folio_add_anon_rmap_ptes(folio, p, nr_pages, vma, address, rmap_flags)
        folio_put_swap(folio, p if nr_pages == 1 else None)
    VM_BUG_ON(not folio_test_anon(folio) or (pte_write(pte) and not p.anon_exclusive),
              "do_swap_page: writable pte on a non-exclusive page")
    set_ptes(mm, address, ptep, pte, nr_pages)
    # Free the swap cache after mapping, so racing faults find the folio
    # in the cache and wait on its lock.
    if should_try_to_free_swap(si, folio, vma, nr_pages, vmf.flags):
        folio_free_swap(folio)
    folio_unlock(folio)
    if folio is not swapcache:
        folio_unlock(swapcache)
        folio_put(swapcache)
    if vmf.flags & FAULT_FLAG_WRITE:
        ret |= do_wp_page(vmf)
        if ret & VM_FAULT_ERROR:
            ret &= VM_FAULT_ERROR
        put_swap_device(si)
        return ret
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    put_swap_device(si)
    return ret


class Mutant(Variant):
    name = "m03_put_on_wrong_folio"
    summary = "a put on the wrong folio"
