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
    findings.log.reset(checks)
    printk.reset()
    custom.reset()
    custom.seed_prandom(seed)
    vmstat.reset()
    dup.reset_folio_ids()
    swapfile.reset_swapfile(nr_cpus)
    locking.set_current(locking.task_struct(1, "swaplab"))
    from swaplab.kernel.power.swap import reset_swsusp
    from swaplab.kernel.power.user import reset_snapshot
    reset_swsusp()
    reset_snapshot()
    from swaplab.check import lockdep
    lockdep.install(checks != findings.OFF)
