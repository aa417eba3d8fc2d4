"""Harness, STUBBED: kernel hooks on the swap path that have no effect in the model.

As in tools/testing/vma/include/stubs.h: rendered no-ops, kept so that the
modeled code calls them where the kernel does.
"""

from __future__ import annotations

from typing import Any


def zswap_invalidate(entry: int) -> None:
    """zswap is off (the oracle boots with zswap.enabled=0)."""


def arch_swap_invalidate_page(type: int, offset: int) -> None:
    """No arch metadata (x86_64)."""


def arch_swap_restore(entry: int, folio: Any) -> None:
    """No arch metadata (x86_64)."""


def arch_unmap_one(mm: Any, vma: Any, address: int, pteval: Any) -> int:
    """x86_64 never fails here."""
    return 0


def swap_slot_free_notify(bdev: Any, offset: int) -> None:
    """zram's hook; brd has none."""


def pm_suspended_storage() -> bool:
    """Storage is never suspended: the model does not write a hibernation image."""
    return False


def mem_cgroup_swap_full(folio: Any) -> bool:
    """Only the global ``vm_swap_full()`` is modeled (see mm/swapfile.py)."""
    from swaplab.mm.swapfile import vm_swap_full
    return vm_swap_full()
