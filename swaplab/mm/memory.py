"""mm/memory.c: page faults, fork's page-table copy and zap, for private anonymous memory.

* Faults: handle_mm_fault() -> handle_pte_fault() -> do_anonymous_page()
  (a read of a never-touched page maps the shared zero page; a write gets a
  new zeroed folio), do_wp_page() (reuse of an exclusive page, else COW
  copy; a copy of a KSM page counts ``cow_ksm``; FAULT_FLAG_UNSHARE, from
  KSM's break_ksm(), copies a shared page into a read-only pte), do_swap_page()
  (spec §5.4, kernel-notes §2.2): a swap-cache hit, or
  the SWP_SYNCHRONOUS_IO path (swapin_folio()), or readahead (page-cluster
  0); an exclusive swap pte maps the page writable even on a read fault and
  then clears FAULT_FLAG_WRITE; the swap count is dropped with one of three
  ``folio_put_swap()`` calls; after mapping, should_try_to_free_swap()
  decides whether ``folio_free_swap()`` is attempted.  ksm_might_need_to_copy()
  lives in mm/ksm.py.  New folios are charged to the mm owner's memcg
  (mm/memcontrol.py); a SWP_SYNCHRONOUS_IO swap-in to the slot's.
* fork: copy_page_range() -> copy_pte_range() -> copy_present_pte() /
  copy_nonpresent_pte(); a swap pte is duplicated with
  ``swap_dup_entry_direct()`` and, when that needs a continuation page it
  cannot get atomically, -EIO makes copy_pte_range() drop its locks, call
  ``add_swap_count_continuation(entry, GFP_KERNEL)`` and retry.
* zap (munmap, exit, MADV_DONTNEED): zap_pte_range(); swap ptes are batched
  by swap_pte_batch() and released with ``swap_put_entries_direct()``;
  unmapped swap-cache folios get free_swap_cache() when the TLB batch ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from swaplab.include.linux.mm_types import (
    FAULT_FLAG_UNSHARE,
    FAULT_FLAG_WRITE,
    MM_ANONPAGES,
    MM_SWAPENTS,
    NR_MM_COUNTERS,
    VM_FAULT_ERROR,
    VM_FAULT_HWPOISON,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_LOCKED,
    VM_MAYWRITE,
    VM_SHARED,
    VM_WRITE,
    add_mm_counter,
    inc_mm_counter,
    mm_struct,
    mmlist_lock,
    vm_area_struct,
    vm_fault,
)
from swaplab.include.linux.mmdebug import (
    VM_BUG_ON,
    VM_BUG_ON_FOLIO,
    VM_WARN_ON,
    VM_WARN_ON_ONCE,
    VM_WARN_ON_ONCE_FOLIO,
    WARN_ON_ONCE,
)
from swaplab.include.linux.pgtable import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PMD_SIZE,
    PTE_MARKER_HWPOISON,
    ZERO_PAGE,
    is_pte_marker,
    is_zero_page,
    mk_pte,
    pmd_off,
    pte_alloc,
    pte_clear,
    pte_clear_uffd_wp,
    pte_dirty,
    pte_index,
    pte_is_swap_entry,
    pte_mkdirty,
    pte_mkold,
    pte_mksoft_dirty,
    pte_mkuffd_wp,
    pte_mkwrite,
    pte_mkyoung,
    pte_next_swp_offset,
    pte_none,
    pte_offset_map,
    pte_offset_map_lock,
    pte_present,
    pte_ptr,
    pte_same,
    pte_soft_dirty,
    pte_swp_clear_exclusive,
    pte_swp_clear_uffd_wp,
    pte_swp_exclusive,
    pte_swp_soft_dirty,
    pte_swp_uffd_wp,
    pte_t,
    pte_to_swp_entry,
    pte_uffd_wp,
    pte_unmap_unlock,
    pte_write,
    pte_wrprotect,
    ptep_clear_flush,
    ptep_get,
    ptep_get_and_clear,
    ptep_set_wrprotect,
    set_pte_at,
    set_ptes,
)
from swaplab.include.linux.swap import SWP_STABLE_WRITES, SWP_SYNCHRONOUS_IO
from swaplab.include.linux.swapops import swp_offset
from swaplab.kconfig import PMD_ORDER
from swaplab.kernel.custom import GFP_KERNEL, folio_alloc
from swaplab.kernel.dup import (
    folio,
    folio_get,
    folio_lock,
    folio_mapped,
    folio_mark_dirty,
    folio_nr_pages,
    folio_put,
    folio_ref_add,
    folio_ref_count,
    folio_set_dirty,
    folio_test_anon,
    folio_test_dirty,
    folio_test_ksm,
    folio_test_large,
    folio_test_locked,
    folio_test_mlocked,
    folio_test_swapcache,
    folio_test_uptodate,
    folio_test_writeback,
    folio_trylock,
    folio_unlock,
    list_add,
    list_empty,
    page,
)
from swaplab.kernel.locking import (
    cond_resched,
    lockdep_assert_held,
    mutex_lock,
    mutex_unlock,
    spin_lock,
    spin_lock_nested,
    spin_unlock,
)
from swaplab.kernel.stubs import arch_swap_restore, mem_cgroup_swap_full
from swaplab.mm.huge_memory import (
    highest_order,
    next_order,
    thp_vma_allowable_orders,
    thp_vma_suitable_orders,
)
from swaplab.mm.vmstat import (
    COW_KSM,
    MTHP_STAT_SWPIN_FALLBACK,
    MTHP_STAT_SWPIN_FALLBACK_CHARGE,
    PGMAJFAULT,
    count_mthp_stat,
    count_vm_event,
)

GFP_HIGHUSER_MOVABLE = GFP_KERNEL
PMD_MASK = ~(PMD_SIZE - 1)

# ksm_might_need_to_copy() returns this for a hardware-poisoned page (ERR_PTR(-EHWPOISON)).
EHWPOISON_FOLIO: Any = "ERR_PTR(-EHWPOISON)"


# ---------------------------------------------------------------------------
# Small helpers.

def vm_normal_page(vma: vm_area_struct, addr: int, pte: pte_t) -> page | None:
    """The page a present pte maps, or None for a special mapping (the zero page).

    Context: ``pte`` was read under the page-table lock, or the caller
    otherwise keeps the mapping from changing (the page stays referenced).
    Return: the page, or None for a special pte or the shared zero page.
    """
    if pte.special or is_zero_page(pte.page):
        return None
    return pte.page


def vm_normal_folio(vma: vm_area_struct, addr: int, pte: pte_t) -> folio | None:
    """The folio of the page a present pte maps: vm_normal_page()'s folio.

    Context: as vm_normal_page().
    Return: the folio, or None for a special mapping (the zero page).
    """
    p = vm_normal_page(vma, addr, pte)
    return p.folio if p is not None else None


def is_cow_mapping(flags: int) -> bool:
    """Private and possibly writable: writes copy (COW) rather than share."""
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE


def maybe_mkwrite(pte: pte_t, vma: vm_area_struct) -> pte_t:
    """The pte made writable if the VMA allows writing (VM_WRITE), else unchanged."""
    if vma.vm_flags & VM_WRITE:
        pte = pte_mkwrite(pte)
    return pte


def vma_alloc_folio(gfp: int, order: int, vma: vm_area_struct, addr: int) -> folio | None:
    """A new folio of ``order`` for ``addr`` in ``vma`` (no NUMA policy: folio_alloc()).

    Its pages hold content token 0 (zero-filled) as folio_alloc() makes them.
    Context: process context; may sleep with GFP_HIGHUSER_MOVABLE (no
    spinlock held).
    Return: the folio with one reference, or None when the allocation
    fails (the injected fault ``page_alloc``, or ``page_alloc_limit``).
    """
    return folio_alloc(gfp, order)


def vma_alloc_zeroed_movable_folio(vma: vm_area_struct, addr: int) -> folio | None:
    """include/linux/highmem.h: a new zeroed order-0 folio for ``addr`` (__GFP_ZERO).

    Context: process context; may sleep (no spinlock held).
    Return: the folio with one reference, or None when the allocation fails.
    """
    f = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, 0, vma, addr)
    if f is not None:
        for p in f.pages:
            p.content = 0
    return f


def copy_user_highpage(to: page, frm: page) -> None:
    """include/linux/highmem.h: copy the content of user page ``frm`` to ``to``.

    Context: the caller holds references on both pages; ``to`` is not
    mapped yet (COW: the source is read with no page-table lock held).
    Return: nothing.
    """
    to.content = frm.content


def folio_file_page(folio: folio, index: int) -> page:
    """include/linux/pagemap.h: the page of ``folio`` for file (or swap) index ``index``."""
    return folio.pages[index & ((1 << folio.order) - 1)]


def vmf_anon_prepare(vmf: vm_fault) -> int:
    """Make sure the faulting VMA has an anon_vma before an anonymous folio is mapped.

    The kernel's __vmf_anon_prepare() returns VM_FAULT_RETRY when only the
    per-VMA lock is held and mmap_lock cannot be taken; the model's faults
    always hold mmap_lock.
    Context: mmap_lock held (read); no page-table lock; may sleep.
    Return: 0, or VM_FAULT_OOM when anon_vma_prepare() fails.
    """
    if anon_vma_prepare(vmf.vma):
        return VM_FAULT_OOM
    return 0


# ---------------------------------------------------------------------------
# Faults.

def handle_mm_fault(vma: vm_area_struct, address: int, flags: int) -> int:
    """Handle a user page fault at ``address``.

    A reduction of handle_mm_fault() -> __handle_mm_fault(): no huge
    pud/pmd mappings, no fault accounting; straight to handle_pte_fault().
    Context: mmap_lock held (read) by the faulting task (the kernel's may
    also run under the per-VMA lock only, FAULT_FLAG_VMA_LOCK; the model
    always takes mmap_lock).
    Return: a vm_fault_t: 0, VM_FAULT_MAJOR (the page was read from swap),
    or an error bit (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_HWPOISON).
    """
    lockdep_assert_held(vma.vm_mm.mmap_lock)
    vmf = vm_fault(vma, address & ~(PAGE_SIZE - 1), flags)
    vmf.pmd = pmd_off(vma.vm_mm, address)
    return handle_pte_fault(vmf)


def handle_pte_fault(vmf: vm_fault) -> int:
    """Dispatch on the pte: missing, swap, or present (write protection, young/dirty).

    Context: mmap_lock held (read); no page-table lock (the pte is read
    without it and re-checked under it).
    Return: the vm_fault_t of the handler (do_pte_missing(),
    do_swap_page(), do_wp_page()), or 0 when the pte changed meanwhile or
    only its young/dirty bits needed setting.
    """
    if vmf.pmd is None:
        vmf.pte = None
    else:
        vmf.pte = pte_offset_map(vmf.pmd, vmf.address)
        vmf.orig_pte = ptep_get(vmf.pte)
        if pte_none(vmf.orig_pte):
            vmf.pte = None
    if vmf.pte is None:
        return do_pte_missing(vmf)
    if not pte_present(vmf.orig_pte):
        return do_swap_page(vmf)
    spin_lock(vmf.pmd.ptl)
    vmf.ptl = vmf.pmd.ptl
    entry = vmf.orig_pte
    if not pte_same(ptep_get(vmf.pte), entry):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return 0
    if vmf.flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE):
        if not pte_write(entry):
            return do_wp_page(vmf)
        entry = pte_mkdirty(entry)
    entry = pte_mkyoung(entry)
    set_pte_at(vmf.vma.vm_mm, vmf.address, vmf.pte, entry)
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    return 0


def do_anonymous_page(vmf: vm_fault) -> int:
    """Map the zero page (read) or a new zeroed folio (write) at a never-touched address.

    Context: mmap_lock held (read); no page-table lock (taken here).
    Return: 0 (also when the pte was populated meanwhile), VM_FAULT_OOM,
    or VM_FAULT_SIGBUS for a shared VMA (a file mapping without vm_ops).
    """
    vma = vmf.vma
    mm = vma.vm_mm
    if vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS
    vmf.pmd = pte_alloc(mm, vmf.address)
    # Use the zero page for reads.
    if not vmf.flags & FAULT_FLAG_WRITE:
        entry = mk_pte(ZERO_PAGE)
        vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, vmf.address)
        if not pte_none(ptep_get(vmf.pte)):         # vmf_pte_changed()
            pte_unmap_unlock(vmf.pte, vmf.ptl)
            return 0
        set_pte_at(mm, vmf.address, vmf.pte, entry)
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return 0
    # Allocate our own private page.
    ret = vmf_anon_prepare(vmf)
    if ret:
        return ret
    new = alloc_anon_folio(vmf)
    if new is None:
        return VM_FAULT_OOM
    nr_pages = folio_nr_pages(new)
    addr = vmf.address & ~((nr_pages << PAGE_SHIFT) - 1)
    new.PG_uptodate = True
    entry = pte_mkyoung(mk_pte(new.pages[0]))
    if vma.vm_flags & VM_WRITE:
        entry = pte_mkwrite(pte_mkdirty(entry))
    vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, addr)
    if nr_pages == 1 and not pte_none(ptep_get(vmf.pte)):      # vmf_pte_changed()
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        folio_put(new)
        return 0
    if nr_pages > 1 and not pte_range_none(vmf.pte, nr_pages):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        folio_put(new)
        return 0
    folio_ref_add(new, nr_pages - 1)
    add_mm_counter(mm, MM_ANONPAGES, nr_pages)
    folio_add_new_anon_rmap(new, vma, addr, RMAP_EXCLUSIVE)
    folio_add_lru_vma(new, vma)
    set_ptes(mm, addr, vmf.pte, entry, nr_pages)
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    return 0


def pte_range_none(pte: pte_ptr, nr_pages: int) -> bool:
    """Are the ``nr_pages`` ptes from ``pte`` all none?

    Context: the page-table lock held, or not: the kernel's reads the ptes
    locklessly (ptep_get_lockless()) and the answer is then only a hint,
    re-checked under the lock.
    Return: True if every one of them is none.
    """
    return all(pte_none(ptep_get(pte + i)) for i in range(nr_pages))


def alloc_anon_folio(vmf: vm_fault) -> folio | None:
    """The folio an anonymous write fault maps: the highest enabled mTHP order whose
    naturally aligned range lies in the VMA (and its page of ptes) with every pte
    none, else order 0.  Zero-filled and charged to the mm owner's memcg.

    Context: mmap_lock held (read); no page-table lock held (the model
    takes it to look at the ptes; the kernel's reads them locklessly);
    may sleep.
    Return: the folio (one reference), or None (VM_FAULT_OOM).  The
    kernel's also returns ERR_PTR(-EAGAIN) when the page of ptes went away,
    to retry the fault.
    """
    vma = vmf.vma
    orders = thp_vma_allowable_orders(vma, vma.vm_flags, (1 << PMD_ORDER) - 1)
    orders = thp_vma_suitable_orders(vma, vmf.address, orders)
    if orders:
        pte, ptl = pte_offset_map_lock(vma.vm_mm, vmf.pmd, vmf.address & PMD_MASK)
        # Find the highest order where the aligned range is completely pte_none().
        order = highest_order(orders)
        while orders:
            addr = vmf.address & ~((PAGE_SIZE << order) - 1)
            assert pte is not None
            if pte_range_none(pte + (pte_index(addr) - pte.idx), 1 << order):
                break
            orders, order = next_order(orders, order)
        pte_unmap_unlock(pte, ptl)
        # Try allocating the highest of the remaining orders.
        while orders:
            addr = vmf.address & ~((PAGE_SIZE << order) - 1)
            f = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, order, vma, addr)
            if f is not None:
                if not mem_cgroup_charge(f, vma.vm_mm, GFP_KERNEL):
                    for p in f.pages:
                        p.content = 0                   # folio_zero_user()
                    return f
                folio_put(f)
            orders, order = next_order(orders, order)
    # fallback: order 0
    f = vma_alloc_zeroed_movable_folio(vma, vmf.address)
    if f is None:
        return None
    if mem_cgroup_charge(f, vma.vm_mm, GFP_KERNEL):
        folio_put(f)
        return None
    return f


def vma_is_anonymous(vma: vm_area_struct) -> bool:
    """Is ``vma`` anonymous (no file; the kernel's tests for no vm_ops)?"""
    return vma.vm_file is None


def do_pte_missing(vmf: vm_fault) -> int:
    """A fault on a none pte: anonymous memory, or a page of the mapped file.

    Context: mmap_lock held (read); no page-table lock.
    Return: the vm_fault_t of do_anonymous_page() or do_fault().
    """
    if vma_is_anonymous(vmf.vma):
        return do_anonymous_page(vmf)
    return do_fault(vmf)


def __do_fault(vmf: vm_fault) -> int:
    """vma->vm_ops->fault(): the only file the model maps is a shmem file.

    The kernel's locks the folio itself when ->fault() returned it unlocked;
    shmem_fault() always returns it locked (VM_FAULT_LOCKED).
    Context: mmap_lock held (read); no page-table lock; may sleep (the
    kernel's ->fault() may drop mmap_lock and return VM_FAULT_RETRY;
    shmem_fault() in the model never does).
    Return: the vm_fault_t of shmem_fault(); on success ``vmf.page`` is set
    and its folio locked and referenced.
    """
    ret = shmem_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    VM_BUG_ON(not ret & VM_FAULT_LOCKED, "__do_fault: the page is not locked")
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(vmf.page.folio), vmf.page.folio,
                        "__do_fault: VM_FAULT_LOCKED but the folio is not locked")
    return ret


def set_pte_range(vmf: vm_fault, folio: folio, p: page, nr: int, addr: int) -> None:
    """Map ``nr`` pages of a page-cache folio, from ``p`` at ``addr`` on.

    The model's maps file folios only (no COW of a private file mapping)
    and adds the rss counter itself (the kernel's caller finish_fault()
    does).
    Context: the page-table lock of ``vmf.pte`` is held and the ptes are
    none; the folio is locked and holds a reference per pte to map.
    Return: nothing.
    """
    vma = vmf.vma
    write = bool(vmf.flags & FAULT_FLAG_WRITE)
    entry = pte_mkyoung(mk_pte(p))
    # A shared writable mapping without write notification maps writable.
    if write or (vma.vm_flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE):
        entry = maybe_mkwrite(entry, vma)
    if write:
        entry = pte_mkdirty(entry)
    add_mm_counter(vma.vm_mm, mm_counter_file(folio), nr)
    folio_add_file_rmap_ptes(folio, p, nr, vma)
    set_ptes(vma.vm_mm, addr, vmf.pte, entry, nr)


def finish_fault(vmf: vm_fault) -> int:
    """Install the pte for the page __do_fault() found.

    On success the fault's folio reference becomes the pte's.
    Context: mmap_lock held (read); the folio of ``vmf.page`` is locked
    and referenced; no page-table lock (taken here).
    Return: 0, or VM_FAULT_NOPAGE when the pte was populated meanwhile
    (the reference is then still the caller's).
    """
    vma = vmf.vma
    p = vmf.page
    f = p.folio
    vmf.pmd = pte_alloc(vma.vm_mm, vmf.address)
    vmf.pte, vmf.ptl = pte_offset_map_lock(vma.vm_mm, vmf.pmd, vmf.address)
    # Re-check under ptl: somebody else may have mapped it.
    if not pte_none(ptep_get(vmf.pte)):
        pte_unmap_unlock(vmf.pte, vmf.ptl)
        return VM_FAULT_NOPAGE
    # The fault's folio reference becomes the pte's.
    set_pte_range(vmf, f, p, 1, vmf.address)
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    return 0


def _fault_done(vmf: vm_fault, ret: int, shared_write: bool) -> int:
    """Unlock the faulted folio; drop its reference if it was not mapped."""
    f = vmf.page.folio
    fin = finish_fault(vmf)
    if shared_write and not fin:
        folio_mark_dirty(f)                     # fault_dirty_shared_page()
    folio_unlock(f)
    if fin:
        folio_put(f)
    return (ret | fin) & ~VM_FAULT_LOCKED


def do_read_fault(vmf: vm_fault) -> int:
    """A read fault on a none pte of a file VMA: look the page up and map it read-only.

    No fault-around (shmem has no map_pages in the model).
    Context: mmap_lock held (read); no page-table lock.
    Return: __do_fault()'s error bits, or its vm_fault_t without
    VM_FAULT_LOCKED (the kernel's leaves that bit set), with
    VM_FAULT_NOPAGE when the pte was populated meanwhile.
    """
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    return _fault_done(vmf, ret, False)


def do_shared_fault(vmf: vm_fault) -> int:
    """A write fault on a none pte of a shared file VMA: map the page writable and dirty it.

    No ->page_mkwrite (shmem has none); the folio is dirtied as
    fault_dirty_shared_page() does.
    Context: mmap_lock held (read); no page-table lock.
    Return: as do_read_fault().
    """
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    return _fault_done(vmf, ret, True)


def do_fault(vmf: vm_fault) -> int:
    """A fault on a none pte of a file VMA (shared mappings only in the model).

    Context: mmap_lock held (read); no page-table lock.
    Return: a vm_fault_t: 0 or VM_FAULT_MAJOR (after a swap-in read), maybe
    with VM_FAULT_NOPAGE; VM_FAULT_SIGBUS for a write to a private file
    mapping (do_cow_fault() is not modeled); or __do_fault()'s error bits.
    """
    vma = vmf.vma
    if not vmf.flags & FAULT_FLAG_WRITE:
        return do_read_fault(vmf)
    if not vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS                 # do_cow_fault(): private file mappings not modeled
    return do_shared_fault(vmf)


def wp_can_reuse_anon_folio(folio: folio, vma: vm_area_struct) -> bool:
    """May a write fault reuse this anon folio in place?  (Only we hold it.)

    Frees the folio's swap space on the way if nothing else uses it.  The
    kernel's decides for a large folio by comparing its mapcount with its
    refcount (__wp_can_reuse_large_anon_folio()); the model's applies the
    small-folio test to it (only a single reference allows reuse).
    Context: the page-table lock is held (do_wp_page()); the folio is not
    locked (trylocked here).
    Return: True if reusable: the folio is then filed under the VMA's
    anon_vma (folio_move_anon_rmap()) and unlocked again; False otherwise.
    """
    if folio_test_ksm(folio) or folio_ref_count(folio) > 3:
        return False
    if folio_ref_count(folio) > 1 + folio_test_swapcache(folio):
        return False
    if not folio_trylock(folio):
        return False
    if folio_test_swapcache(folio):
        folio_free_swap(folio)
    if folio_test_ksm(folio) or folio_ref_count(folio) != 1:
        folio_unlock(folio)
        return False
    folio_move_anon_rmap(folio, vma)
    folio_unlock(folio)
    return True


def wp_page_reuse(vmf: vm_fault, folio: folio | None) -> None:
    """Make the pte writable and dirty in place (the page is ours alone).

    Context: the page-table lock is held and released here; a write fault
    (FAULT_FLAG_WRITE); an anon folio's page is PageAnonExclusive.
    Return: nothing.
    """
    VM_BUG_ON(not vmf.flags & FAULT_FLAG_WRITE, "wp_page_reuse without FAULT_FLAG_WRITE")
    if folio is not None:
        VM_BUG_ON(folio_test_anon(folio) and not vmf.page.anon_exclusive,
                  "wp_page_reuse of a non-exclusive anon page")
    entry = pte_mkyoung(vmf.orig_pte)
    entry = maybe_mkwrite(pte_mkdirty(entry), vmf.vma)
    set_pte_at(vmf.vma.vm_mm, vmf.address, vmf.pte, entry)
    pte_unmap_unlock(vmf.pte, vmf.ptl)


def wp_page_copy(vmf: vm_fault) -> int:
    """Break COW: map a private copy (or a zeroed page instead of the zero page).

    Context: mmap_lock held (read); the caller dropped the PTL; the old
    folio (if any) carries a reference taken by do_wp_page(), dropped here.
    Return: 0 (also when the pte changed meanwhile: the fault is simply
    retried), or VM_FAULT_OOM.
    """
    vma = vmf.vma
    mm = vma.vm_mm
    old_folio = vmf.page.folio if vmf.page is not None else None
    page_copied = False
    ret = vmf_anon_prepare(vmf)
    if ret:
        if old_folio is not None:
            folio_put(old_folio)
        return ret
    if is_zero_page(vmf.orig_pte.page):
        new_folio = vma_alloc_zeroed_movable_folio(vma, vmf.address)
    else:
        new_folio = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, 0, vma, vmf.address)
        if new_folio is not None:
            copy_user_highpage(new_folio.pages[0], vmf.page)
    if new_folio is not None and mem_cgroup_charge(new_folio, mm, GFP_KERNEL):
        folio_put(new_folio)
        new_folio = None
    if new_folio is None:
        if old_folio is not None:
            folio_put(old_folio)
        return VM_FAULT_OOM
    new_folio.PG_uptodate = True
    vmf.pte, vmf.ptl = pte_offset_map_lock(mm, vmf.pmd, vmf.address)
    put_folio: folio | None = new_folio
    if vmf.pte is not None and pte_same(ptep_get(vmf.pte), vmf.orig_pte):
        if old_folio is None:
            inc_mm_counter(mm, MM_ANONPAGES)
        entry = pte_mkyoung(mk_pte(new_folio.pages[0]))
        if vmf.flags & FAULT_FLAG_UNSHARE:
            # Unsharing keeps the pte read-only (and its soft-dirty/uffd-wp bits).
            if pte_soft_dirty(vmf.orig_pte):
                entry = pte_mksoft_dirty(entry)
            if pte_uffd_wp(vmf.orig_pte):
                entry = pte_mkuffd_wp(entry)
        else:
            entry = maybe_mkwrite(pte_mkdirty(entry), vma)
        ptep_clear_flush(mm, vmf.address, vmf.pte)
        folio_add_new_anon_rmap(new_folio, vma, vmf.address, RMAP_EXCLUSIVE)
        folio_add_lru_vma(new_folio, vma)
        set_pte_at(mm, vmf.address, vmf.pte, entry)
        if old_folio is not None:
            folio_remove_rmap_pte(old_folio, vmf.page, vma)
        # Free the old page: the mapping's reference goes below.
        put_folio = old_folio
        page_copied = True
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    if put_folio is not None:
        folio_put(put_folio)
    if old_folio is not None:
        if page_copied:
            free_swap_cache(old_folio)
        folio_put(old_folio)
    return 0


def do_wp_page(vmf: vm_fault) -> int:
    """A write to a present, write-protected pte: reuse the page or copy it.

    With FAULT_FLAG_UNSHARE (KSM's break_ksm(), MADV_UNMERGEABLE) the page
    only has to become exclusive: an exclusive page stays as it is, a shared
    one is copied and mapped read-only.  A copy of a KSM page counts
    ``cow_ksm``.
    Context: mmap_lock held (read); the page-table lock is held (vmf.ptl)
    and released here.
    Return: 0 or VM_FAULT_OOM.
    """
    lockdep_assert_held(vmf.ptl)  # type: ignore[arg-type]
    unshare = bool(vmf.flags & FAULT_FLAG_UNSHARE)
    vma = vmf.vma
    vmf.page = vm_normal_page(vma, vmf.address, vmf.orig_pte)
    folio = vmf.page.folio if vmf.page is not None else None
    # Private mapping: reuse an exclusive page, or one only we hold.
    if folio is not None and folio_test_anon(folio) and \
            (vmf.page.anon_exclusive or wp_can_reuse_anon_folio(folio, vma)):
        if not vmf.page.anon_exclusive:
            vmf.page.anon_exclusive = True
        if unshare:
            pte_unmap_unlock(vmf.pte, vmf.ptl)
            return 0
        wp_page_reuse(vmf, folio)
        return 0
    # Ok, we need to copy.  Oh, well..
    if folio is not None:
        folio_get(folio)
    pte_unmap_unlock(vmf.pte, vmf.ptl)
    if folio is not None and folio_test_ksm(folio):
        count_vm_event(COW_KSM)
    return wp_page_copy(vmf)


def should_try_to_free_swap(si: Any, folio: folio, vma: vm_area_struct, extra_refs: int,
                            fault_flags: int) -> bool:
    """After a swap-in mapped ``folio``: is freeing its swap space worth a try?

    ``extra_refs`` is the number of references the new ptes hold.
    Context: the folio is locked; the page-table lock is held (do_swap_page()).
    Return: True for a SWP_SYNCHRONOUS_IO device, when swap is full or the
    folio is mlocked, or for a write fault whose mapping is the folio's only
    user; False if the folio is not in the swap cache.
    """
    if not folio_test_swapcache(folio):
        return False
    # Always try for SWP_SYNCHRONOUS_IO devices: the cache saves no I/O there.
    if si.flags & SWP_SYNCHRONOUS_IO:
        return True
    if mem_cgroup_swap_full(folio) or (vma.vm_flags & VM_LOCKED) or folio_test_mlocked(folio):
        return True
    # The swap count is worth keeping unless a write will dirty the page
    # and we are its only user (references: ours plus the swap cache's).
    return bool(fault_flags & FAULT_FLAG_WRITE) and not folio_test_ksm(folio) and \
        folio_ref_count(folio) == extra_refs + folio_nr_pages(folio)


def can_swapin_thp(vmf: vm_fault, ptep: pte_ptr, nr_pages: int) -> bool:
    """May the ``nr_pages`` ptes from ``ptep`` (the aligned range around the fault)
    be swapped in as one large folio?

    They must hold consecutive entries of one device with the same pte bits
    (exclusivity included) as the faulting pte, none of the slots may be in
    the swap cache, and the zeromap must be uniform over them (spec §5.4
    step 3; zswap is off).
    Context: the PTL of the ptes is held; the swap device is pinned
    (get_swap_device()).
    Return: True if they may.
    """
    addr = vmf.address & ~((nr_pages << PAGE_SHIFT) - 1)
    idx = (vmf.address - addr) >> PAGE_SHIFT
    pte = ptep_get(ptep)
    if not pte_same(pte, pte_move_swp_offset(vmf.orig_pte, -idx)):
        return False
    entry = pte_to_swp_entry(pte)
    if swap_pte_batch(ptep, nr_pages, pte) != nr_pages:
        return False
    # swap_read_folio() can't handle a large folio read from mixed backends.
    if swap_zeromap_batch(entry, nr_pages) != nr_pages:
        return False
    return non_swapcache_batch(entry, nr_pages) == nr_pages


def swap_zeromap_batch(entry: int, max_nr: int) -> int:
    """mm/swap.h: how many slots from ``entry`` share its zeromap bit.

    Context: the swap device is pinned (get_swap_device()); lockless read
    of the zeromap (the ptes' PTL keeps the slots in use).
    Return: the batch length, 1 .. ``max_nr`` (the kernel's also reports
    the bit through ``is_zeromap``).
    """
    si = swap_entry_to_info(entry)
    zeromap: Any = si.zeromap  # type: ignore[union-attr]
    start = swp_offset(entry)

    def bit(i: int) -> bool:
        return bool(zeromap[i >> 3] & (1 << (i & 7)))
    first = bit(start)
    nr = 1
    while nr < max_nr and bit(start + nr) == first:
        nr += 1
    return nr


def non_swapcache_batch(entry: int, max_nr: int) -> int:
    """mm/swap.h: how many slots from ``entry`` are not in the swap cache.

    Context: the swap device is pinned (get_swap_device()); a lockless
    snapshot (the caller re-checks when it adds a folio to the cache).
    Return: the number of leading slots without a cached folio, 0 .. ``max_nr``.
    """
    nr = 0
    while nr < max_nr and not swap_cache_has_folio(entry + nr):
        nr += 1
    return nr


def thp_swap_suitable_orders(offset: int, addr: int, orders: int) -> int:
    """Keep the orders for which the slot offset and the address have the same alignment.

    The kernel's stops at the highest order that matches and keeps every
    lower one (they all match then); the model tests each, the same set.
    Context: any.
    Return: the suitable subset of ``orders`` (a bitmask, 0 for none).
    """
    out = 0
    for order in range(orders.bit_length()):
        nr = 1 << order
        if orders & nr and (offset % nr) == ((addr >> PAGE_SHIFT) % nr):
            out |= nr
    return out


def alloc_swap_folio(vmf: vm_fault) -> folio | None:
    """The folio a SWP_SYNCHRONOUS_IO swap-in reads into: the highest enabled mTHP
    order whose aligned range can be swapped in whole (can_swapin_thp()), else order 0.

    A large allocation or charge that fails counts ``swpin_fallback`` (and
    ``swpin_fallback_charge``) for its order and the next order is tried.
    The folio is charged to the memcg the slot was charged to (else the VMA's mm's).
    Context: mmap_lock held (read); no page-table lock (taken here to look
    at the ptes); the swap device is pinned (get_swap_device()); may sleep.
    Return: the folio (one reference, charged, not locked), or None when
    no order-0 folio could be allocated or charged.
    """
    vma = vmf.vma
    entry = pte_to_swp_entry(vmf.orig_pte)
    orders = thp_vma_allowable_orders(vma, vma.vm_flags, (1 << PMD_ORDER) - 1)
    orders = thp_vma_suitable_orders(vma, vmf.address, orders)
    orders = thp_swap_suitable_orders(swp_offset(entry), vmf.address, orders)
    if orders:
        pte, ptl = pte_offset_map_lock(vma.vm_mm, vmf.pmd, vmf.address & PMD_MASK)
        # Find the highest order where the aligned range is completely swap
        # entries with contiguous swap offsets.
        order = highest_order(orders)
        while orders:
            addr = vmf.address & ~((PAGE_SIZE << order) - 1)
            assert pte is not None
            if can_swapin_thp(vmf, pte + (pte_index(addr) - pte.idx), 1 << order):
                break
            orders, order = next_order(orders, order)
        pte_unmap_unlock(pte, ptl)
        # Try allocating the highest of the remaining orders.
        while orders:
            addr = vmf.address & ~((PAGE_SIZE << order) - 1)
            f = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, order, vma, addr)
            if f is not None:
                if not mem_cgroup_swapin_charge_folio(f, vma.vm_mm, GFP_KERNEL, entry):
                    return f
                count_mthp_stat(order, MTHP_STAT_SWPIN_FALLBACK_CHARGE)
                folio_put(f)
            count_mthp_stat(order, MTHP_STAT_SWPIN_FALLBACK)
            orders, order = next_order(orders, order)
    f = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, 0, vmf.vma, vmf.address)
    if f is not None and mem_cgroup_swapin_charge_folio(f, vmf.vma.vm_mm, GFP_KERNEL,
                                                        pte_to_swp_entry(vmf.orig_pte)):
        folio_put(f)
        return None
    return f


def do_swap_page(vmf: vm_fault) -> int:
    """Fault in the page a swap pte refers to.

    Context: mmap_lock held (read); no page-table lock, no folio lock;
    ``vmf.orig_pte`` was read without the page-table lock (re-checked
    under it before mapping).
    Return: 0 (also when the pte changed meanwhile or the device went
    away), VM_FAULT_MAJOR (the page was read from the device), or an
    error bit (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_HWPOISON); a write
    fault adds do_wp_page()'s result.
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
        folio_put_swap(swapcache, None)
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


def swap_pte_range_to_map(vmf: vm_fault, folio: folio, entry: int,
                          p: page) -> tuple[int, int, pte_ptr, int, page]:
    """do_swap_page(): how many ptes to map (inline in the kernel, after the PTL re-check).

    A large swap-cache folio whose aligned range lies in the VMA and the
    page of ptes, and whose ptes all still hold its consecutive swap
    entries, is mapped whole from its first page; otherwise only the
    faulting page.  A large folio that is not anon yet (a fresh swap-in)
    and cannot be mapped whole is removed from the swap cache: 0 is
    returned and the fault backs out (``out_nomap``) to be retried.
    Context: the PTL is held; the folio is locked.
    Return: (nr_pages, address, ptep, entry, page) to map.
    """
    nr_pages = 1
    address = vmf.address
    ptep = vmf.pte
    assert ptep is not None
    if folio_test_large(folio) and folio_test_swapcache(folio):
        nr = folio_nr_pages(folio)
        idx = p.idx
        folio_start = address - idx * PAGE_SIZE
        folio_end = folio_start + nr * PAGE_SIZE
        vma = vmf.vma
        if folio_start >= max(address & PMD_MASK, vma.vm_start) and \
                folio_end <= min((address & PMD_MASK) + PMD_SIZE, vma.vm_end):
            folio_ptep = ptep + (-idx)
            folio_pte = ptep_get(folio_ptep)
            if pte_same(folio_pte, pte_move_swp_offset(vmf.orig_pte, -idx)) and \
                    swap_pte_batch(folio_ptep, nr, folio_pte) == nr:
                return nr, folio_start, folio_ptep, folio.swap, folio.pages[0]
    # A large folio already anon may be mapped partially; a fresh one must be
    # mapped whole (its pages may belong to other owners by now): drop it.
    if not folio_test_anon(folio) and folio_test_large(folio) and nr_pages != folio_nr_pages(folio):
        if not WARN_ON_ONCE(folio_test_dirty(folio), "do_swap_page: dirty fresh large folio"):
            swap_cache_del_folio(folio)
        return 0, address, ptep, entry, p
    return nr_pages, address, ptep, entry, p


def _out_page(folio: folio, swapcache: folio, si: Any, ret: int) -> int:
    """do_swap_page()'s ``out_page:``/``out_release:`` exits (PTL already dropped)."""
    if folio_test_swapcache(folio):
        folio_free_swap(folio)
    folio_unlock(folio)
    folio_put(folio)
    if folio is not swapcache:
        folio_unlock(swapcache)
        folio_put(swapcache)
    put_swap_device(si)
    return ret


def check_swap_exclusive(folio: folio, entry: int, nr_pages: int) -> None:
    """Debug check: an exclusive swap pte's slots have swap count exactly 1."""
    si = swap_entry_to_info(entry)
    if si is None or si.swap_map is None:
        return
    for i in range(nr_pages):
        count = swap_map_count(si, swp_offset(entry) + i)
        VM_WARN_ON(count != 1, f"exclusive swap pte but slot count {count}")


# ---------------------------------------------------------------------------
# fork: copy_page_range().

def copy_nonpresent_pte(dst_mm: mm_struct, src_mm: mm_struct, dst_pte: pte_ptr, src_pte: pte_ptr,
                        dst_vma: vm_area_struct, src_vma: vm_area_struct, addr: int,
                        rss: list[int]) -> int:
    """Copy a swap (or marker) pte to the child.

    Context: both page-table locks held (the source's nested), both mms'
    mmap_lock held for write; no sleeping.
    Return: 0, or -EIO when the swap count needs a continuation page that
    could not be allocated atomically (the caller retries with GFP_KERNEL).
    """
    orig_pte = ptep_get(src_pte)
    pte = orig_pte
    if pte_is_swap_entry(orig_pte):
        entry = pte_to_swp_entry(orig_pte)
        if swap_dup_entry_direct(entry) < 0:
            return -5
        # Make sure dst_mm is on swapoff's mmlist.
        if list_empty(dst_mm.mmlist):
            spin_lock(mmlist_lock)
            if list_empty(dst_mm.mmlist):
                list_add(dst_mm.mmlist, src_mm.mmlist)
            spin_unlock(mmlist_lock)
        # Mark the swap entry as shared.
        if pte_swp_exclusive(orig_pte):
            pte = pte_swp_clear_exclusive(orig_pte)
            set_pte_at(src_mm, addr, src_pte, pte)
        rss[MM_SWAPENTS] += 1
    pte = pte_swp_clear_uffd_wp(pte)
    set_pte_at(dst_mm, addr, dst_pte, pte)
    return 0


def copy_present_pte(dst_vma: vm_area_struct, src_vma: vm_area_struct, dst_pte: pte_ptr,
                     src_pte: pte_ptr, addr: int, rss: list[int]) -> int:
    """Share a present page with the child, write-protected in both (COW).

    One pte at a time (the kernel's copy_present_ptes() batches a large
    folio's ptes and returns how many it copied).
    Context: both page-table locks held, both mms' mmap_lock held for
    write; no sleeping.
    Return: 0, or -EAGAIN when the page may be pinned and must be copied
    for the child (never in the model: no GUP pins).
    """
    pte = ptep_get(src_pte)
    p = vm_normal_page(src_vma, addr, pte)
    if p is not None:
        f = p.folio
        folio_get(f)
        if folio_try_dup_anon_rmap_pte(f, p, dst_vma, src_vma):
            folio_put(f)
            return -11
        rss[MM_ANONPAGES] += 1
    # A COW mapping: write protect it in both processes.
    if is_cow_mapping(src_vma.vm_flags) and pte_write(pte):
        ptep_set_wrprotect(src_vma.vm_mm, addr, src_pte)
        pte = pte_wrprotect(pte)
    pte = pte_mkold(pte)
    pte = pte_clear_uffd_wp(pte)
    set_pte_at(dst_vma.vm_mm, addr, dst_pte, pte)
    return 0


def copy_pte_range(dst_vma: vm_area_struct, src_vma: vm_area_struct, addr: int, end: int) -> int:
    """Copy the ptes of ``[addr, end)`` (inside one page of ptes) to the child.

    Context: both mms' mmap_lock held for write; no page-table lock (both
    are taken here); may sleep between batches.
    Return: 0, or -ENOMEM when a swap count continuation cannot be
    allocated.
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
        spin_lock_nested(src_ptl, 1)
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


def copy_page_range(dst_vma: vm_area_struct, src_vma: vm_area_struct) -> int:
    """Copy the page tables of ``src_vma`` to the child's ``dst_vma``.

    Context: both mms' mmap_lock held for write (dup_mmap()); may sleep.
    Return: 0, or -ENOMEM.
    """
    if src_vma.anon_vma is None:
        return 0                                   # vma_needs_copy(): nothing to copy
    if __debug__:
        is_cow = is_cow_mapping(src_vma.vm_flags)
        if is_cow:
            lockdep_assert_held(src_vma.vm_mm.mmap_lock)   # vma_assert_write_locked(src_vma)
    addr = src_vma.vm_start
    end = src_vma.vm_end
    while addr < end:
        nxt = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        if pmd_off(src_vma.vm_mm, addr) is not None:
            ret = copy_pte_range(dst_vma, src_vma, addr, nxt)
            if ret:
                return ret
        addr = nxt
    return 0


# ---------------------------------------------------------------------------
# Zap.

class mmu_gather:
    """struct mmu_gather (include/asm-generic/tlb.h): folios whose last pte went away.

    Their references are dropped, after free_swap_cache(), when the batch is
    flushed (tlb_finish_mmu()), outside the page-table lock.
    """

    __slots__ = ("folios", "fullmm", "mm")

    def __init__(self, mm: mm_struct, fullmm: bool = False) -> None:
        self.mm = mm
        self.fullmm = fullmm
        self.folios: list[folio] = []


def tlb_gather_mmu(mm: mm_struct, fullmm: bool = False) -> mmu_gather:
    """mm/mmu_gather.c: start a TLB batch for zapping ``mm`` (tlb_gather_mmu_fullmm() with ``fullmm``).

    Context: mmap_lock held, or the mm is exiting (``fullmm``); no
    page-table lock.
    Return: the new, empty batch.
    """
    return mmu_gather(mm, fullmm)


def tlb_finish_mmu(tlb: mmu_gather) -> None:
    """Flush the TLB batch: free_pages_and_swap_cache().

    Context: as tlb_gather_mmu(); no page-table lock held (the folios'
    last references may be dropped here).
    Return: nothing.
    """
    folios = tlb.folios
    tlb.folios = []
    free_pages_and_swap_cache(folios)


def swap_pte_batch(start_ptep: pte_ptr, max_nr: int, pte: pte_t) -> int:
    """mm/internal.h: how many consecutive ptes hold consecutive entries of one device.

    The entries must also be charged to the same memcg (swap cgroup id) and
    carry the same pte bits as ``pte``.
    Context: the page-table lock of the ptes is held; ``pte`` is the swap
    pte at ``start_ptep``.
    Return: the batch length, 1 .. ``max_nr``.
    """
    expected_pte = pte_next_swp_offset(pte)
    entry = pte_to_swp_entry(pte)
    VM_WARN_ON(max_nr < 1, "swap_pte_batch: max_nr < 1")
    VM_WARN_ON(not pte_is_swap_entry(pte), "swap_pte_batch: not a swap pte")
    cgroup_id = lookup_swap_cgroup_id(entry)
    nr = 1
    while nr < max_nr:
        cur = ptep_get(start_ptep + nr)
        if not pte_same(cur, expected_pte):
            break
        if lookup_swap_cgroup_id(pte_to_swp_entry(cur)) != cgroup_id:
            break
        expected_pte = pte_next_swp_offset(expected_pte)
        nr += 1
    return nr


def pte_move_swp_offset(pte: pte_t, delta: int) -> pte_t:
    """mm/internal.h: the swap pte ``delta`` slots away, with the same bits."""
    return replace(pte, entry=pte.entry + delta)


def lookup_swap_cgroup_id(entry: int) -> int:
    """mm/swap_cgroup.c: the memcg id a slot is charged to (0: none).

    Context: any; the slot is in use (a swap pte refers to it, under its
    page-table lock), so its record is stable.
    Return: the memcg id, or 0 when the slot is not charged (or its device
    is gone).
    """
    si = swap_entry_to_info(entry)
    if si is None:
        return 0
    memcg = si.swap_cgroup.get(swp_offset(entry))
    return 0 if memcg is None else mem_cgroup_id(memcg)


def zap_present_ptes(tlb: mmu_gather, vma: vm_area_struct, pte: pte_ptr, ptent: pte_t,
                     addr: int, rss: list[int]) -> int:
    """Clear a present pte; its folio's reference goes to the TLB batch.

    One pte at a time (the kernel's batches the ptes of a large folio).
    Context: the page-table lock is held.
    Return: 1, the number of ptes processed.
    """
    mm = vma.vm_mm
    p = vm_normal_page(vma, addr, ptent)
    ptep_get_and_clear(mm, addr, pte)
    if p is None:
        return 1                               # the zero page
    f = p.folio
    if not folio_test_anon(f) and pte_dirty(ptent):
        folio_set_dirty(f)
    rss[mm_counter(f)] -= 1
    folio_remove_rmap_pte(f, p, vma)
    tlb.folios.append(f)
    return 1


def mm_counter(folio: folio) -> int:
    """include/linux/mm.h: the rss counter a folio's ptes count in."""
    if folio_test_anon(folio):
        return MM_ANONPAGES
    return mm_counter_file(folio)


def zap_nonpresent_ptes(tlb: mmu_gather, vma: vm_area_struct, pte: pte_ptr, ptent: pte_t,
                        max_nr: int, addr: int, rss: list[int]) -> int:
    """Clear swap ptes (batched) and drop their swap references.

    Other non-present ptes (markers) are just cleared.
    Context: the page-table lock is held.
    Return: the number of ptes cleared, 1 .. ``max_nr``.
    """
    nr = 1
    if pte_is_swap_entry(ptent):
        entry = pte_to_swp_entry(ptent)
        # Genuine swap entries, hence private anon pages.
        nr = swap_pte_batch(pte, max_nr, ptent)
        rss[MM_SWAPENTS] -= nr
        swap_put_entries_direct(entry, nr)
    for i in range(nr):
        pte_clear(vma.vm_mm, addr + i * PAGE_SIZE, pte + i)
    return nr


def zap_pte_range(tlb: mmu_gather, vma: vm_area_struct, addr: int, end: int) -> None:
    """Zap the ptes of ``[addr, end)`` (inside one page of ptes).

    Context: mmap_lock held, or the mm is exiting; or the file's
    i_mmap_rwsem (unmap_mapping_range()); no page-table lock (taken here).
    Return: nothing (the kernel's returns the address it stopped at, to go
    on after a resched).
    """
    mm = vma.vm_mm
    rss = [0] * NR_MM_COUNTERS
    pmd = pmd_off(mm, addr)
    if pmd is None:
        return
    start_pte, ptl = pte_offset_map_lock(mm, pmd, addr)
    assert start_pte is not None
    pte = start_pte
    while addr != end:
        ptent = ptep_get(pte)
        nr = 1
        if not pte_none(ptent):
            if pte_present(ptent):
                nr = zap_present_ptes(tlb, vma, pte, ptent, addr, rss)
            else:
                nr = zap_nonpresent_ptes(tlb, vma, pte, ptent, (end - addr) // PAGE_SIZE, addr, rss)
        pte += nr
        addr += nr * PAGE_SIZE
    for member in range(NR_MM_COUNTERS):
        add_mm_counter(mm, member, rss[member])
    pte_unmap_unlock(start_pte, ptl)


def unmap_page_range(tlb: mmu_gather, vma: vm_area_struct, addr: int, end: int) -> None:
    """Zap ``[addr, end)`` of ``vma``, one page of ptes at a time.

    Context: as zap_pte_range(); may sleep between pages of ptes.
    Return: nothing.
    """
    while addr < end:
        nxt = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        zap_pte_range(tlb, vma, addr, nxt)
        cond_resched()
        addr = nxt


def unmap_vmas(tlb: mmu_gather, vmas: list[vm_area_struct], start: int, end: int) -> None:
    """Zap every VMA of ``vmas`` over ``[start, end)``.

    Context: mmap_lock held for write (munmap), or the mm is exiting
    (exit_mmap()); no page-table lock; may sleep.
    Return: nothing.
    """
    for vma in vmas:
        s = max(start, vma.vm_start)
        e = min(end, vma.vm_end)
        if s < e:
            unmap_page_range(tlb, vma, s, e)


def zap_page_range_single(vma: vm_area_struct, address: int, size: int) -> None:
    """Zap ``[address, address + size)`` of one VMA (MADV_DONTNEED).

    Context: mmap_lock held (read for MADV_DONTNEED), or the file's
    i_mmap_rwsem (unmap_mapping_range()); no page-table lock; may sleep.
    Return: nothing.
    """
    tlb = tlb_gather_mmu(vma.vm_mm)
    unmap_page_range(tlb, vma, address, address + size)
    tlb_finish_mmu(tlb)


def unmap_mapping_range(mapping: Any, holebegin: int, holelen: int, even_cows: bool) -> None:
    """Zap the ptes of every VMA mapping bytes ``[holebegin, holebegin + holelen)`` of a file.

    ``holelen`` 0 means to the end of the file.
    Context: process context; takes i_mmap_rwsem and each VMA's page-table
    locks (not mmap_lock: the VMAs are found through the file).
    Return: nothing.
    """
    first_index = holebegin >> PAGE_SHIFT
    last_index = -1 if not holelen else first_index + ((holelen + PAGE_SIZE - 1) >> PAGE_SHIFT) - 1
    mutex_lock(mapping.i_mmap_rwsem)
    for vma in list(mapping.i_mmap):
        vba = vma.vm_pgoff
        vea = vba + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) - 1
        zba = max(first_index, vba)
        zea = vea if last_index == -1 else min(last_index, vea)
        if zba > zea:
            continue
        zap_page_range_single(vma, vma.vm_start + ((zba - vba) << PAGE_SHIFT),
                              (zea - zba + 1) << PAGE_SHIFT)
    mutex_unlock(mapping.i_mmap_rwsem)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.ksm import ksm_might_need_to_copy
from swaplab.mm.memcontrol import mem_cgroup_charge, mem_cgroup_id, mem_cgroup_swapin_charge_folio
from swaplab.mm.rmap import (
    RMAP_EXCLUSIVE,
    RMAP_NONE,
    anon_vma_prepare,
    folio_add_anon_rmap_ptes,
    folio_add_new_anon_rmap,
    folio_move_anon_rmap,
    folio_remove_rmap_pte,
    folio_try_dup_anon_rmap_pte,
)
from swaplab.mm.shmem import folio_add_file_rmap_ptes, mm_counter_file, shmem_fault
from swaplab.mm.swap import folio_matches_swap_entry
from swaplab.mm.swap_state import (
    free_pages_and_swap_cache,
    free_swap_cache,
    swap_cache_del_folio,
    swap_cache_get_folio,
    swap_cache_has_folio,
    swapin_folio,
    swapin_readahead,
)
from swaplab.mm.swapfile import (
    add_swap_count_continuation,
    folio_free_swap,
    folio_put_swap,
    get_swap_device,
    put_swap_device,
    swap_dup_entry_direct,
    swap_entry_to_info,
    swap_map_count,
    swap_put_entries_direct,
)
from swaplab.mm.vmscan import folio_add_lru_vma

