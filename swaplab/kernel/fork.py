"""kernel/fork.c: duplicating an mm at fork, and dropping one.

dup_mm() -> dup_mmap(): every VMA is copied, chained to the parent's
anon_vmas (anon_vma_fork()) and its page tables copied (copy_page_range(),
mm/memory.py): private pages become shared copy-on-write, swap entries get
one more swap count.  mmput() drops a user; the last one tears the mm down
(exit_mmap()) and takes it off swapoff's ``init_mm.mmlist``.
"""

from __future__ import annotations

from swaplab.include.linux.mm_types import VM_DONTCOPY, mm_struct, mmlist_lock, vm_area_struct
from swaplab.kernel.dup import list_del, list_empty
from swaplab.kernel.locking import get_current, mutex_lock, mutex_unlock, spin_lock, spin_unlock, task_struct

ENOMEM = 12


def vm_area_dup(orig: vm_area_struct, mm: mm_struct) -> vm_area_struct:
    new = vm_area_struct(mm, orig.vm_start, orig.vm_end, orig.vm_flags, orig.vm_pgoff)
    new.vm_page_prot = orig.vm_page_prot
    return new


def dup_mmap(mm: mm_struct, oldmm: mm_struct) -> int:
    """Copy every VMA and its page tables from ``oldmm`` into the new ``mm``.

    Context: takes both mmap_locks for write.
    Return: 0 or -ENOMEM.
    """
    retval = 0
    mutex_lock(oldmm.mmap_lock)
    mutex_lock(mm.mmap_lock)                       # mmap_write_lock_nested()
    mm.mmap_base = oldmm.mmap_base
    for mpnt in list(oldmm.mmap):
        if mpnt.vm_flags & VM_DONTCOPY:
            continue
        tmp = vm_area_dup(mpnt, mm)
        anon_vma_fork(tmp, mpnt)
        mm.mmap.append(tmp)
        retval = copy_page_range(tmp, mpnt)
        if retval:
            break
    mutex_unlock(mm.mmap_lock)
    mutex_unlock(oldmm.mmap_lock)
    return retval


def dup_mm(tsk: task_struct, oldmm: mm_struct) -> mm_struct | None:
    """A copy of ``oldmm`` for the new task ``tsk``.  Return: the mm, or None (-ENOMEM)."""
    mm = mm_struct(tsk.comm)
    err = dup_mmap(mm, oldmm)
    if err:
        mm.mm_users = 1
        mmput(mm)
        return None
    return mm


def copy_mm(clone_flags: int, tsk: task_struct) -> int:
    """Give the child ``tsk`` a copy of current's mm.  Return: 0 or -ENOMEM."""
    oldmm = get_current().mm
    if oldmm is None:
        return 0
    mm = dup_mm(tsk, oldmm)
    if mm is None:
        return -ENOMEM
    tsk.mm = mm
    return 0


def mmget_not_zero(mm: mm_struct) -> bool:
    if mm.mm_users <= 0:
        return False
    mm.mm_users += 1
    return True


def __mmput(mm: mm_struct) -> None:
    exit_mmap(mm)
    if not list_empty(mm.mmlist):
        spin_lock(mmlist_lock)
        list_del(mm.mmlist)
        spin_unlock(mmlist_lock)


def mmput(mm: mm_struct | None) -> None:
    """Drop a user of ``mm``; the last one frees its mappings.  Context: may sleep."""
    if mm is None:
        return
    mm.mm_users -= 1
    if mm.mm_users == 0:
        __mmput(mm)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.memory import copy_page_range
from swaplab.mm.mmap import exit_mmap
from swaplab.mm.rmap import anon_vma_fork
