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

from collections import Counter
from typing import Any, Callable, Iterable

from swaplab.check.findings import report
from swaplab.check.invariants import check_swap_invariants
from swaplab.include.linux.swap import MAX_SWAPFILES, SWAP_HAS_CACHE, SWAP_MAP_BAD, SWAPFILE_CLUSTER
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kernel.dup import folio
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


class Ledger:
    """Compares swap counts with the references the world holds."""

    def __init__(self, mms: Callable[[], Iterable[Any]],
                 extra_sources: Iterable[OwnerSource] = ()) -> None:
        self.sources: list[OwnerSource] = [lambda: _pte_owners(mms), _extent_owners]
        self.sources.extend(extra_sources)
        self.reported: dict[tuple[str, Any], Any] = {}

    def owners(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for source in self.sources:
            for entry, n in source():
                counts[entry] += n
        return counts

    def check(self, full: bool = False) -> int:
        """Compare; report what is new.  Return: the number of problems present."""
        owners = self.owners()
        problems: list[tuple[str, str, tuple[int, int] | None]] = []
        for si in swap_info:
            if si is None or si.swap_map is None or si.cluster_info is None:
                continue
            swap_map = si.swap_map
            for ci in si.cluster_info:
                if ci.count == 0 and not full:
                    continue
                start = ci.idx * SWAPFILE_CLUSTER
                table = ci.table
                for off in range(start, min(start + SWAPFILE_CLUSTER, si.max)):
                    ent = swap_map[off]
                    if ent == SWAP_MAP_BAD:
                        continue
                    entry = swp_entry(si.type, off)
                    n = owners.get(entry, 0)
                    if not ent:
                        if n:
                            problems.append(("count-mismatch",
                                             f"free slot [{si.type}, {off}] is referenced {n} times",
                                             (si.type, off)))
                        continue
                    count = swap_map_count(si, off)
                    cached = bool(ent & SWAP_HAS_CACHE)
                    if count != n:
                        if n == 0 and not cached:
                            problems.append(("swap-leak",
                                             f"slot [{si.type}, {off}] has swap count {count} "
                                             f"but nothing refers to it: it can never be freed",
                                             (si.type, off)))
                        else:
                            problems.append(("count-mismatch",
                                             f"slot [{si.type}, {off}] has swap count {count} "
                                             f"but {n} references", (si.type, off)))
                    if cached:
                        tb = table.get(off - start, 0) if table else 0
                        if type(tb) is not folio or tb.freed:
                            pass    # reported by check_swap_invariants as cache-mismatch
        problems.extend(check_swap_invariants())
        present: dict[tuple[str, Any], Any] = {}
        for kind, msg, entry in problems:
            key = (kind, entry if entry is not None else msg)
            present[key] = msg
            if self.reported.get(key) != msg:
                report(kind, msg, function="ledger", entry=entry)
        self.reported = present
        return len(problems)


__all__ = ("Ledger", "swp_offset")
