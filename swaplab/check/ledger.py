"""The reference ledger: every slot's count against the references that exist.

After a step, the ledger recomputes who refers to each swap slot from what
holds swap entries -- every page table (swap ptes), every shmem mapping
(swap value entries, 2^order slots each), every hibernation extent -- and
compares with the model (spec §7.1):

* I1 ``count-mismatch``: a slot's swap count differs from its owners;
* ``swap-leak``: a slot in use with no owner at all (no pte, no shmem
  entry, no extent, no swap-cache folio) -- it can never be freed;
* I2/I3 ``cache-mismatch`` and I6-I9 ``cluster-accounting``: the structural
  invariants of swaplab/check/invariants.py.

Each problem is reported once when it appears (a persisting mismatch is not
re-reported every step; it is reported again if its values change), so a
fuzz run gets one finding per bug.

Cost: every check is complete -- every slot of every device, every swap
pte, every shmem entry, every extent, every cluster -- and nothing is
carried over from the last check but what was reported (``full=True`` is
therefore no different).  It is cheap because nothing is walked one
element at a time in Python where a C-speed operation does: a page
table's swap ptes are read from its index (``ptdesc.swap_ptes``, kept by
the pte setters of swaplab/include/linux/pgtable.py) rather than from its
512 ptes; the used slots of a device are marked with ``bytes.translate``
and found with ``bytes.find``; the structural invariants count and scan
whole byte ranges the same way (invariants.py).  A fuzz step costs under
ten microseconds of checking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from swaplab.check.findings import log as findings_log
from swaplab.check.findings import report
from swaplab.check.invariants import check_swap_invariants
from swaplab.include.linux.swap import COUNT_CONTINUED, MAX_SWAPFILES, SWAP_HAS_CACHE, SWAP_MAP_BAD
from swaplab.include.linux.swapops import SWP_TYPE_SHIFT, swp_entry, swp_offset, swp_type
from swaplab.kernel.dup import list_for_each_entry
from swaplab.kernel.power import swap as power_swap
from swaplab.kernel.power import user as power_user
from swaplab.mm import shmem
from swaplab.mm.swap import swap_info
from swaplab.mm.swapfile import swap_map_count

OwnerSource = Callable[[], Iterable[tuple[int, int]]]

# The lowest entry of a type past the swap devices' (non-swap software entries).
_FIRST_SOFTWARE_ENTRY = MAX_SWAPFILES << SWP_TYPE_SHIFT


def _count_pte_owners(counts: dict[int, int], mms: list[Any]) -> None:
    """One reference for every swap pte of every mm (from each table's ``swap_ptes``)."""
    for mm in mms:
        for table in mm.pgd.values():
            for entry in table.swap_ptes.values():
                if entry < _FIRST_SOFTWARE_ENTRY:
                    counts[entry] = counts.get(entry, 0) + 1


def _count_extent_owners(counts: dict[int, int]) -> None:
    """One reference for every slot of every hibernation extent (inclusive end)."""
    extents = list(power_swap.iter_swsusp_extents())
    if not extents:
        return
    base = swp_entry(power_user.snapshot_state.swap, 0)
    for start, end in extents:
        for entry in range(base + start, base + end + 1):
            counts[entry] = counts.get(entry, 0) + 1


def _count_shmem_owners(counts: dict[int, int], mms: list[Any]) -> None:
    """One reference for every slot a shmem file's page cache holds a swap entry for.

    The files are found from two sides, so that a file missing from one of
    them is still counted: ``shmem_swaplist`` (what swapoff walks) and the
    files mapped by the live mms.
    """
    inodes: dict[int, Any] = {}
    for info in list_for_each_entry(shmem.shmem_swaplist):
        inodes[info.vfs_inode.i_ino] = info.vfs_inode
    for mm in mms:
        for vma in mm.mmap:
            f = vma.vm_file
            if f is not None:
                inodes[f.f_inode.i_ino] = f.f_inode
    if not inodes:
        return
    xa_is_value = shmem.xa_is_value
    radix_to_swp_entry = shmem.radix_to_swp_entry
    is_poisoned_swp_entry = shmem.is_poisoned_swp_entry
    for ino in sorted(inodes):
        xa = inodes[ino].i_mapping.i_pages
        for index, val in xa.slots.items():
            if not xa_is_value(val):
                continue
            entry = radix_to_swp_entry(val)
            if is_poisoned_swp_entry(entry):
                continue
            entry += index & ((1 << xa.orders.get(index, 0)) - 1)
            counts[entry] = counts.get(entry, 0) + 1


class Ledger:
    """Compares swap counts with the references the world holds."""

    def __init__(self, mms: Callable[[], Iterable[Any]],
                 extra_sources: Iterable[OwnerSource] = ()) -> None:
        self.mms = mms
        self.extra_sources: list[OwnerSource] = list(extra_sources)
        self.reported: dict[tuple[str, Any], Any] = {}

    def owners(self) -> dict[int, int]:
        """Every swap entry referred to, and by how many references."""
        counts: dict[int, int] = {}
        mms = list(self.mms())
        _count_pte_owners(counts, mms)
        _count_extent_owners(counts)
        _count_shmem_owners(counts, mms)
        for source in self.extra_sources:
            for entry, n in source():
                counts[entry] = counts.get(entry, 0) + n
        return counts

    def check(self, full: bool = False) -> int:
        """Compare; report what is new.  Return: the number of problems present.

        ``full`` is accepted for symmetry with teardown checks; every check
        is complete (see the module docstring).
        """
        owners = self.owners()
        problems: list[tuple[str, str, tuple[int, int] | None]] = []
        for si in swap_info:
            if si is None or si.swap_map is None or si.cluster_info is None:
                continue
            # The used slots, at C speed: 1 in ``marks`` where the byte is neither 0 nor BAD.
            marks = si.swap_map.translate(_USED_MARK)
            first = marks.find(1)
            if first < 0:
                continue
            swap_map = si.swap_map
            t = si.type
            base = swp_entry(t, 0)
            for off in _ones(marks, first):
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
        if owners:
            for entry, n in sorted(owners.items()):
                if n:
                    t, off = swp_type(entry), swp_offset(entry)
                    problems.append(("count-mismatch", f"free slot [{t}, {off}] is referenced "
                                     f"{n} times", (t, off)))
        problems.extend(check_swap_invariants())
        if not problems and not self.reported:
            return 0
        present: dict[tuple[str, Any], Any] = {}
        for kind, msg, where in problems:
            key = (kind, where if where is not None else msg)
            present[key] = msg
            if self.reported.get(key) != msg:
                report(kind, msg, function=self.entry_point(), entry=where)
        self.reported = present
        return len(problems)

    def entry_point(self) -> str:
        """The kernel entry of the step that showed the problem (syscall, fault, ioctl)."""
        return findings_log.entry_point or "ledger"


# bytes.translate() table: 1 for a slot in use (neither free nor SWAP_MAP_BAD), else 0.
_USED_MARK = bytes(0 if b in (0, SWAP_MAP_BAD) else 1 for b in range(256))


def _ones(marks: bytes | bytearray, off: int) -> Iterator[int]:
    """The offsets of the 1s in ``marks``, from ``off`` (the first) on."""
    while off >= 0:
        yield off
        off = marks.find(1, off + 1)


__all__ = ("Ledger", "swp_offset")
