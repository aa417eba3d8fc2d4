"""The reference ledger: every slot's count against the references that exist.

After a step, the ledger recomputes who refers to each swap slot by walking
what holds swap entries -- every page table (swap ptes), every shmem
mapping (swap value entries, 2^order slots each), every hibernation extent
-- and compares with the model (spec §7.1):

* I1 ``count-mismatch``: a slot's swap count differs from its owners;
* ``swap-leak``: a slot in use with no owner at all (no pte, no shmem
  entry, no extent, no swap-cache folio) -- it can never be freed;
* I2/I3 ``cache-mismatch`` and I6-I9 ``cluster-accounting``: the structural
  invariants of swaplab/check/invariants.py.

Each problem is reported once when it appears (a persisting mismatch is not
re-reported every step; it is reported again if its values change), so a
fuzz run gets one finding per bug.

Cost: the walk is proportional to the page tables and used clusters of the
run, which for the small devices and regions of fuzz programs is a fraction
of a millisecond.  Only clusters touched since the last check (their lock
was taken) are compared slot by slot; ``full=True`` (teardown) compares all.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Iterable

from swaplab.check.findings import log as findings_log
from swaplab.check.findings import report
from swaplab.check.invariants import check_swap_invariants
from swaplab.include.linux.swap import COUNT_CONTINUED, MAX_SWAPFILES, SWAP_HAS_CACHE
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.mm.swap import swap_info
from swaplab.mm.swapfile import swap_map_count

OwnerSource = Callable[[], Iterable[tuple[int, int]]]


def _pte_owners(mms: Callable[[], Iterable[Any]]) -> Iterable[tuple[int, int]]:
    """(entry, 1) for every swap pte of every live mm."""
    from swaplab.include.linux.pgtable import PTE_SWAP
    for mm in mms():
        for table in mm.pgd.values():
            for pte in table.ptes:
                if pte.kind == PTE_SWAP:
                    entry = pte.entry
                    if swp_type(entry) < MAX_SWAPFILES:
                        yield entry, 1


def _extent_owners() -> Iterable[tuple[int, int]]:
    """(entry, 1) for every slot of every hibernation extent (inclusive end)."""
    from swaplab.kernel.power.swap import iter_swsusp_extents
    from swaplab.kernel.power.user import snapshot_state
    extents = list(iter_swsusp_extents())
    if not extents:
        return
    type = snapshot_state.swap
    for start, end in extents:
        for off in range(start, end + 1):
            yield swp_entry(type, off), 1


def _shmem_owners(mms: Callable[[], Iterable[Any]]) -> Iterable[tuple[int, int]]:
    """(entry, 1) for every slot a shmem file's page cache holds a swap entry for.

    The files are found from two sides, so that a file missing from one of
    them is still counted: ``shmem_swaplist`` (what swapoff walks) and the
    files mapped by the live mms.
    """
    from swaplab.mm.shmem import (is_poisoned_swp_entry, radix_to_swp_entry,
                                  shmem_swaplist, xa_is_value)
    from swaplab.kernel.dup import list_for_each_entry
    inodes: dict[int, Any] = {}
    for info in list_for_each_entry(shmem_swaplist):
        inodes[info.vfs_inode.i_ino] = info.vfs_inode
    for mm in mms():
        for vma in mm.mmap:
            f = getattr(vma, "vm_file", None)
            if f is not None:
                inodes[f.f_inode.i_ino] = f.f_inode
    for ino in sorted(inodes):
        xa = inodes[ino].i_mapping.i_pages
        for index, val in xa.slots.items():
            if not xa_is_value(val):
                continue
            entry = radix_to_swp_entry(val)
            if is_poisoned_swp_entry(entry):
                continue
            order = xa.orders.get(index, 0)
            yield entry + (index & ((1 << order) - 1)), 1


class Ledger:
    """Compares swap counts with the references the world holds."""

    def __init__(self, mms: Callable[[], Iterable[Any]],
                 extra_sources: Iterable[OwnerSource] = ()) -> None:
        self.sources: list[OwnerSource] = [lambda: _pte_owners(mms), _extent_owners,
                                           lambda: _shmem_owners(mms)]
        self.sources.extend(extra_sources)
        self.reported: dict[tuple[str, Any], Any] = {}

    def owners(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for source in self.sources:
            for entry, n in source():
                counts[entry] += n
        return counts

    def check(self, full: bool = False) -> int:
        """Compare; report what is new.  Return: the number of problems present.

        ``full`` is accepted for symmetry with teardown checks; the walk is
        always complete (used slots are found at C speed in ``swap_map``).
        """
        owners = self.owners()
        problems: list[tuple[str, str, tuple[int, int] | None]] = []
        for si in swap_info:
            if si is None or si.swap_map is None or si.cluster_info is None:
                continue
            swap_map = si.swap_map
            t = si.type
            base = swp_entry(t, 0)
            for m in _USED.finditer(swap_map):
                off = m.start()
                ent = swap_map[off]
                entry = base | off
                n = owners.pop(entry, 0)
                count = swap_map_count(si, off) if ent & COUNT_CONTINUED else ent & 0x3f
                if count == n:
                    continue
                if n == 0 and not ent & SWAP_HAS_CACHE:
                    problems.append(("swap-leak", f"slot [{t}, {off}] has swap count {count} "
                                     f"but nothing refers to it: it can never be freed", (t, off)))
                else:
                    problems.append(("count-mismatch", f"slot [{t}, {off}] has swap count "
                                     f"{count} but {n} references", (t, off)))
        for entry, n in sorted(owners.items()):
            if n:
                t, off = swp_type(entry), swp_offset(entry)
                problems.append(("count-mismatch", f"free slot [{t}, {off}] is referenced "
                                 f"{n} times", (t, off)))
        problems.extend(check_swap_invariants())
        present: dict[tuple[str, Any], Any] = {}
        for kind, msg, entry in problems:
            key = (kind, entry if entry is not None else msg)
            present[key] = msg
            if self.reported.get(key) != msg:
                report(kind, msg, function=self.entry_point(), entry=entry)
        self.reported = present
        return len(problems)

    def entry_point(self) -> str:
        """The kernel entry of the step that showed the problem (syscall, fault, ioctl)."""
        return findings_log.entry_point or "ledger"


_USED = re.compile(rb"[^\x00\x3f]")                  # neither free nor SWAP_MAP_BAD


__all__ = ("Ledger", "swp_offset")
