"""kernel/exit.c: a task exits and drops its mm (exit_mm() -> mmput())."""

from __future__ import annotations

from swaplab.kernel.locking import get_current


def exit_mm() -> None:
    """Detach current from its mm and drop that user (the last one tears it down).

    The kernel clears ``current->mm`` under mmap_lock (read) and task_lock()
    and hands the mm to lazy TLB; the model only clears the pointer.
    Context: process context, current is the exiting task; no locks held,
    may sleep.
    Return: nothing.
    """
    tsk = get_current()
    mm = tsk.mm
    if mm is None:
        return
    tsk.mm = None
    mmput(mm)


def do_exit(code: int) -> None:
    """The memory side of exit(2): do_exit() as far as exit_mm().

    Context: process context, current is the exiting task; no locks held.
    Return: nothing (the kernel's never returns).
    """
    exit_mm()


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.kernel.fork import mmput
