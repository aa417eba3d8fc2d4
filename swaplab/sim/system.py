"""Boot and reset the modeled kernel: one place that puts every global back.

The model keeps kernel state in module globals, as the kernel does.  A run
starts with :func:`boot`, which resets every module to its boot state, seeds
the one random source and sets the checking mode.  Nothing else in swaplab
resets state.
"""

from __future__ import annotations

from swaplab.check import findings
from swaplab.include.linux import printk
from swaplab.kernel import custom, dup, locking
from swaplab.mm import swapfile, vmstat


def boot(nr_cpus: int = 1, checks: int = findings.RECORD, seed: int = 0) -> None:
    """Reset the model to a freshly booted kernel with ``nr_cpus`` CPUs."""
    from swaplab.include.linux.mm_types import reset_mm_types
    from swaplab.kernel.power.swap import reset_swsusp
    from swaplab.kernel.power.user import reset_snapshot
    from swaplab.mm.huge_memory import reset_huge_memory
    from swaplab.mm.ksm import reset_ksm
    from swaplab.mm.memcontrol import reset_memcontrol
    from swaplab.mm.page_io import reset_page_io
    from swaplab.mm.shmem import reset_shmem
    from swaplab.mm.swap_state import reset_swap_state
    from swaplab.mm.vmscan import reset_vmscan
    findings.log.reset(checks)
    printk.reset()
    custom.reset()
    custom.seed_prandom(seed)
    vmstat.reset()
    dup.reset_folio_ids()
    reset_mm_types()                 # init_mm, its mmlist, mm ids
    swapfile.reset_swapfile(nr_cpus)
    reset_swap_state()               # vm.page-cluster
    reset_page_io()                  # bios in flight
    reset_vmscan()                   # the workingset eviction clock
    reset_huge_memory()              # every mTHP size "never"
    reset_shmem()                    # shmem_swaplist, inode numbers
    reset_ksm()                      # ksmd, its lists, trees and knobs
    reset_memcontrol()               # only the root cgroup
    locking.set_current(locking.task_struct(1, "swaplab"))
    reset_swsusp()
    reset_snapshot()
    from swaplab.check import lockdep
    lockdep.install(checks != findings.OFF)
