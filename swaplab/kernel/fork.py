"""kernel/fork.c: duplicating an mm at fork, and dropping one.

dup_mm() -> dup_mmap(): an mm with KSM-mergeable areas puts the child on
ksmd's list (ksm_fork()); every VMA is copied, chained to the parent's
anon_vmas (anon_vma_fork()), a file VMA takes a reference on its file and
joins the file's i_mmap just after the parent's VMA, and its page tables
are copied (copy_page_range(), mm/memory.py): private pages become shared
copy-on-write, swap entries get one more swap count.  mmput() drops a
user; the last one leaves KSM (ksm_exit()), tears the mm down (exit_mmap())
and takes it off swapoff's ``init_mm.mmlist``.
"""

from __future__ import annotations

from swaplab.include.linux.mm_types import VM_DONTCOPY, mm_struct, mmlist_lock, vm_area_struct
from swaplab.include.linux.mmdebug import VM_BUG_ON
from swaplab.kernel.dup import list_del, list_empty
from swaplab.kernel.locking import get_current, mutex_lock, mutex_unlock, spin_lock, spin_unlock, task_struct

ENOMEM = 12


def vm_area_dup(orig: vm_area_struct, mm: mm_struct) -> vm_area_struct:
    """A copy of ``orig`` for ``mm``: flags, offset, protection and file pointer.

    vm_area_dup() copies the whole struct and dup_mmap() then points the copy
    at the new mm; the model does both here.  The caller takes the file
    reference (get_file()).
    Context: any (dup_mmap() holds both mmap_locks).
    Return: the new VMA (the kernel's returns NULL when the allocation fails;
    the model's cannot fail).
    """
    new = vm_area_struct(mm, orig.vm_start, orig.vm_end, orig.vm_flags, orig.vm_pgoff)
    new.vm_page_prot = orig.vm_page_prot
    new.vm_file = orig.vm_file
    return new


def ksm_fork(mm: mm_struct, oldmm: mm_struct) -> int:
    """include/linux/ksm.h: a child of an MMF_VM_MERGEABLE mm is scanned by ksmd too.

    Adding mm to ksm is best effort on fork.
    Context: fork, both mmap_locks held.
    Return: 0.
    """
    if mm_flags_test_vm_mergeable(oldmm):
        __ksm_enter(mm)
    return 0


def ksm_exit(mm: mm_struct) -> None:
    """include/linux/ksm.h: the last user of an MMF_VM_MERGEABLE mm is gone.

    Context: __mmput(): ``mm_users`` is 0; may sleep (__ksm_exit() may take
    mmap_lock).
    Return: nothing.
    """
    if mm_flags_test_vm_mergeable(mm):
        __ksm_exit(mm)


def dup_mmap(mm: mm_struct, oldmm: mm_struct) -> int:
    """Copy every VMA and its page tables from ``oldmm`` into the new ``mm``.

    VM_DONTCOPY areas are skipped; a failing copy_page_range() stops the copy.
    Context: process context (fork), no locks held; takes both mmap_locks for
    write, ``oldmm``'s first (the new mm's nested).
    Return: 0, or -ENOMEM (the kernel's also -EINTR when the wait for
    ``oldmm``'s mmap_lock is killed; the model's wait cannot be).
    """
    retval = 0
    mutex_lock(oldmm.mmap_lock)
    mutex_lock(mm.mmap_lock)                       # mmap_write_lock_nested()
    mm.mmap_base = oldmm.mmap_base
    retval = ksm_fork(mm, oldmm)
    if retval:
        mutex_unlock(mm.mmap_lock)
        mutex_unlock(oldmm.mmap_lock)
        return retval
    for mpnt in list(oldmm.mmap):
        if mpnt.vm_flags & VM_DONTCOPY:
            continue
        tmp = vm_area_dup(mpnt, mm)
        anon_vma_fork(tmp, mpnt)
        file = tmp.vm_file
        if file is not None:
            mapping = file.f_mapping
            get_file(file)
            mutex_lock(mapping.i_mmap_rwsem)      # i_mmap_lock_write()
            # insert tmp into the share list, just after mpnt
            vma_interval_tree_insert_after(tmp, mpnt, mapping)
            mutex_unlock(mapping.i_mmap_rwsem)
        mm.mmap.append(tmp)
        retval = copy_page_range(tmp, mpnt)
        if retval:
            break
    mutex_unlock(mm.mmap_lock)
    mutex_unlock(oldmm.mmap_lock)
    return retval


def dup_mm(tsk: task_struct, oldmm: mm_struct) -> mm_struct | None:
    """Duplicate ``oldmm`` into a new mm for the new task ``tsk`` (dup_mm()).

    A new mm_struct, then dup_mmap(); on failure the half-built mm is
    dropped with mmput().  The mm's owner (mm_init_owner()) is set by the
    caller in the model, by mm_init() in the kernel.
    Context: process context (fork), no locks held; may sleep.
    Return: the new mm, or None (the kernel's NULL) when dup_mmap() failed.
    """
    mm = mm_struct(tsk.comm)
    err = dup_mmap(mm, oldmm)
    if err:
        mm.mm_users = 1
        mmput(mm)
        return None
    return mm


def copy_mm(clone_flags: int, tsk: task_struct) -> int:
    """Give the child ``tsk`` a copy of current's mm (copy_mm() without CLONE_VM).

    A task without an mm gives its child none.  ``clone_flags`` is not read:
    CLONE_VM (sharing the mm) is not modeled.
    Context: process context (fork), no locks held; may sleep.
    Return: 0, or -ENOMEM when dup_mm() failed.
    """
    oldmm = get_current().mm
    if oldmm is None:
        return 0
    mm = dup_mm(tsk, oldmm)
    if mm is None:
        return -ENOMEM
    tsk.mm = mm
    return 0


def mmget_not_zero(mm: mm_struct) -> bool:
    """include/linux/sched/mm.h: take a user of ``mm`` unless it has none left.

    Context: any.
    Return: True if a user was taken, False if ``mm_users`` was already 0.
    """
    if mm.mm_users <= 0:
        return False
    mm.mm_users += 1
    return True


def __mmput(mm: mm_struct) -> None:
    """Tear down an mm whose last user is gone: leave KSM, exit_mmap(), leave ``mmlist``.

    Context: process context, may sleep; ``mm_users`` is 0; takes mmlist_lock.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON(mm.mm_users, "__mmput: the mm still has users")
    ksm_exit(mm)
    exit_mmap(mm)
    if not list_empty(mm.mmlist):
        spin_lock(mmlist_lock)
        list_del(mm.mmlist)
        spin_unlock(mmlist_lock)


def mmput(mm: mm_struct | None) -> None:
    """Drop a user of ``mm``; the last one frees its mappings (__mmput()).

    The model's accepts None and does nothing (the kernel's callers never
    pass NULL).
    Context: process context, may sleep; no mmap_lock held.
    Return: nothing.
    """
    if mm is None:
        return
    mm.mm_users -= 1
    if mm.mm_users == 0:
        __mmput(mm)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.ksm import __ksm_enter, __ksm_exit, mm_flags_test_vm_mergeable
from swaplab.mm.memory import copy_page_range
from swaplab.mm.mmap import exit_mmap
from swaplab.mm.rmap import anon_vma_fork
from swaplab.mm.shmem import get_file, vma_interval_tree_insert_after
