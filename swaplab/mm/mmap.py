"""mm/mmap.c (with the parts of mm/vma.c it calls): anonymous private mappings.

do_mmap() of ``MAP_PRIVATE | MAP_ANONYMOUS`` memory, do_munmap() and
exit_mmap().  Addresses are handed out top-down from ``mm.mmap_base``
(first gap from the top), as with ``norandmaps``.  Unmapping zaps the
range (mm/memory.py), unlinks the VMA from its anon_vmas and frees the
pages of ptes no VMA covers any more (free_pgtables()).
"""

from __future__ import annotations

from typing import Any

from swaplab.include.linux.mm_types import (
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_NOHUGEPAGE,
    VM_READ,
    VM_WRITE,
    mm_struct,
    vm_area_struct,
)
from swaplab.include.linux.mmdebug import VM_WARN_ON
from swaplab.include.linux.pgtable import PAGE_SHIFT, PAGE_SIZE, PMD_SHIFT, pte_table_none
from swaplab.kernel.locking import lockdep_assert_held, mutex_lock, mutex_unlock

EINVAL = 22
ENOMEM = 12


def get_unmapped_area(mm: mm_struct, length: int) -> int:
    """The highest free range of ``length`` bytes below ``mm.mmap_base`` (top-down get_unmapped_area()).

    Context: mmap_lock held for write (do_mmap()).
    Return: the start address, or -ENOMEM when no gap is large enough.
    """
    top = mm.mmap_base
    for vma in sorted(mm.mmap, key=lambda v: v.vm_start, reverse=True):
        if vma.vm_end <= top - length:
            break
        top = min(top, vma.vm_start)
    if top - length < 0:
        return -ENOMEM
    return top - length


def vma_link(mm: mm_struct, vma: vm_area_struct) -> None:
    """Insert a VMA into the mm's VMA tree, in address order (mm/vma.c vma_link()).

    Context: mmap_lock held for write.
    Return: nothing (the kernel's returns 0, or -ENOMEM when the maple tree
    cannot allocate; the model's list insert cannot fail).
    """
    if __debug__:
        lockdep_assert_held(mm.mmap_lock)
    mm.mmap.append(vma)
    mm.mmap.sort(key=lambda v: v.vm_start)


def do_mmap(mm: mm_struct, length: int, vm_flags: int | None = None, file: Any = None) -> int:
    """mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS) (+ MADV_NOHUGEPAGE).

    With ``file`` (a shmem file, mm/shmem.py): ``MAP_SHARED`` of the file
    from offset 0; the VMA takes a file reference and joins ``i_mmap``.
    Context: mmap_lock held for write.
    Return: the address, or -EINVAL / -ENOMEM.
    """
    if __debug__:
        lockdep_assert_held(mm.mmap_lock)
    if length <= 0 or length % PAGE_SIZE:
        return -EINVAL
    addr = get_unmapped_area(mm, length)
    if addr < 0:
        return addr
    if vm_flags is None:
        vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_NOHUGEPAGE
    if file is not None:
        vma = vm_area_struct(mm, addr, addr + length, vm_flags, 0)
        vma.vm_file = get_file(file)
        shmem_mmap(file, vma)                  # mmap_file(): file->f_op->mmap
        vma_link(mm, vma)
        vma_interval_tree_insert(vma, file.f_mapping)    # vma_link_file()
        return addr
    # An anonymous VMA's pgoff is its address in pages (vma_set_anonymous()).
    vma = vm_area_struct(mm, addr, addr + length, vm_flags, addr >> PAGE_SHIFT)
    vma_link(mm, vma)
    return addr


def free_pgtables(mm: mm_struct, start: int, end: int) -> None:
    """Free the pages of ptes in ``[start, end)`` that no VMA covers any more.

    The kernel's free_pgtables() walks the unmapped VMAs between floor and
    ceiling; the model frees every PMD-sized table of the range that no
    remaining VMA overlaps.
    Context: mmap_lock held for write, or the mm is exiting; the range has
    been zapped already.
    Return: nothing.
    """
    first = start >> PMD_SHIFT
    last = (end - 1) >> PMD_SHIFT
    for idx in sorted(k for k in mm.pgd if first <= k <= last):
        table = mm.pgd[idx]
        lo, hi = idx << PMD_SHIFT, (idx + 1) << PMD_SHIFT
        if any(v.vm_start < hi and v.vm_end > lo for v in mm.mmap):
            continue
        VM_WARN_ON(not pte_table_none(table),
                   "free_pgtables: freeing a page of ptes that still maps something")
        del mm.pgd[idx]


def unmap_region(mm: mm_struct, vmas: list[vm_area_struct], start: int, end: int) -> None:
    """Zap ``[start, end)`` of ``vmas`` and free their page tables (mm/vma.c unmap_region()).

    Context: mmap_lock held for write; the VMAs are already off the mm's list.
    Return: nothing.
    """
    tlb = tlb_gather_mmu(mm)
    unmap_vmas(tlb, vmas, start, end)
    tlb_finish_mmu(tlb)
    free_pgtables(mm, start, end)


def do_munmap(mm: mm_struct, start: int, length: int) -> int:
    """munmap(2) of whole VMAs or pieces of them (do_munmap() -> do_vmi_munmap()).

    VMAs sticking out of the range are split first (__split_vma()).
    Context: mmap_lock held for write.
    Return: 0, or -EINVAL for an unaligned ``start`` or a ``length`` <= 0 (the
    kernel's also -ENOMEM when a split cannot allocate).
    """
    if __debug__:
        lockdep_assert_held(mm.mmap_lock)
    if start % PAGE_SIZE or length <= 0:
        return -EINVAL
    end = start + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
    victims = [v for v in mm.mmap if v.vm_start < end and v.vm_end > start]
    # Split VMAs that stick out of the range (__split_vma()).
    for vma in list(victims):
        if vma.vm_start < start:
            tail = vm_area_struct(mm, start, vma.vm_end, vma.vm_flags,
                                  vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT))
            _split_anon(vma, tail)
            vma.vm_end = start
            vma_link(mm, tail)
            victims[victims.index(vma)] = tail
    for vma in list(victims):
        if vma.vm_end > end:
            tail = vm_area_struct(mm, end, vma.vm_end, vma.vm_flags,
                                  vma.vm_pgoff + ((end - vma.vm_start) >> PAGE_SHIFT))
            _split_anon(vma, tail)
            vma.vm_end = end
            vma_link(mm, tail)
    for vma in victims:
        mm.mmap.remove(vma)
    unmap_region(mm, victims, start, end)
    for vma in victims:
        unlink_anon_vmas(vma)
        remove_vma(vma)
    return 0


def _split_anon(vma: vm_area_struct, new: vm_area_struct) -> None:
    """__split_vma(): the new piece shares the anon_vmas (anon_vma_clone()) and file of the old."""
    new.anon_vma = vma.anon_vma
    for av in vma.anon_vma_chain:
        anon_vma_chain_link(new, av)
    if vma.vm_file is not None:
        new.vm_file = get_file(vma.vm_file)
        vma_interval_tree_insert(new, vma.vm_file.f_mapping)


def remove_vma(vma: vm_area_struct) -> None:
    """Let an unmapped VMA go: off its file's i_mmap, then drop the file reference.

    A composite: unlink_file_vma() (which the kernel calls from
    free_pgtables()) and remove_vma()'s fput(); the VMA itself is left to
    the garbage collector (vm_area_free()).
    Context: mmap_lock held for write, or exit_mmap(); takes i_mmap_rwsem.
    Return: nothing.
    """
    if vma.vm_file is not None:
        unlink_file_vma(vma)
        fput(vma.vm_file)
        vma.vm_file = None


def vm_munmap(mm: mm_struct, start: int, length: int) -> int:
    """munmap(2): do_munmap() with mmap_lock taken for write.

    Context: process context, mmap_lock not held; may sleep.
    Return: what do_munmap() returns: 0 or -EINVAL (the kernel's also -EINTR
    when the wait for mmap_lock is killed).
    """
    mutex_lock(mm.mmap_lock)
    ret = do_munmap(mm, start, length)
    mutex_unlock(mm.mmap_lock)
    return ret


def exit_mmap(mm: mm_struct) -> None:
    """Release all mappings of a dying mm: zap, unlink anon_vmas and files, free page tables.

    Context: __mmput(): the last user is gone (``mm_users`` 0); takes mmap_lock
    for write.
    Return: nothing.
    """
    mutex_lock(mm.mmap_lock)
    vmas = list(mm.mmap)
    if vmas:
        tlb = tlb_gather_mmu(mm, True)
        unmap_vmas(tlb, vmas, 0, 1 << 48)
        tlb_finish_mmu(tlb)
    mm.mmap.clear()
    for vma in vmas:
        unlink_anon_vmas(vma)
        remove_vma(vma)
    free_pgtables(mm, 0, 1 << 48)
    mutex_unlock(mm.mmap_lock)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.memory import tlb_finish_mmu, tlb_gather_mmu, unmap_vmas
from swaplab.mm.rmap import anon_vma_chain_link, unlink_anon_vmas
from swaplab.mm.shmem import fput, get_file, shmem_mmap, unlink_file_vma, vma_interval_tree_insert
