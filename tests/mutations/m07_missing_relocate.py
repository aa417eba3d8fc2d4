# ruff: noqa: F821 - the copied function uses the model module's names, put in globals() below
"""Planted bug: a missing relocate of a cluster: an allocation leaves its cluster off every list.

alloc_swap_scan_cluster() isolated the cluster and never puts it back on the
list its count says (relocate_cluster()).
The copy below is ``swaplab.mm.swapfile.alloc_swap_scan_cluster`` with that change and no other
(``tests/mutations/test_mutations.py`` checks it against the model).
Caught by: invariants (cluster-accounting).
"""

from __future__ import annotations

import importlib

from swaplab.variants import Variant, override

MODULE = "swaplab.mm.swapfile"
# The model module's names, as its copied function uses them.
globals().update({k: v for k, v in vars(importlib.import_module(MODULE)).items()
                  if not (k.startswith("__") and k.endswith("__"))})

REMOVED: list[str] = ['relocate_cluster(si, ci)']
ADDED: list[str] = []
CHECKER = "invariants"
KINDS: tuple[str, ...] = ('cluster-accounting',)


@override(MODULE, reference="planted bug (tests/mutations): a missing relocate of a cluster")
def alloc_swap_scan_cluster(si: swap_info_struct, ci: swap_cluster_info, offset: int,
                            order: int, usage: int) -> int:
    """Allocate from one locked cluster, scanning forward from ``offset``.

    Context: ci->lock held; released on return.  The cluster is relocated and
    the next offset remembered (per-CPU for SSDs, global_cluster for HDDs),
    found or not.  Return: the offset allocated, or 0.
    """
    next = SWAP_ENTRY_INVALID
    found = SWAP_ENTRY_INVALID
    start = ALIGN_DOWN(offset, SWAPFILE_CLUSTER)
    end = min(start + SWAPFILE_CLUSTER, si.max)
    nr_pages = 1 << order
    if __debug__:
        lockdep_assert_held(ci.lock)
    if end < nr_pages or ci.count + nr_pages > SWAPFILE_CLUSTER:
        pass
    else:
        end -= nr_pages
        need_reclaim = [False]
        while offset <= end:
            need_reclaim[0] = False
            if not cluster_scan_range(si, ci, offset, nr_pages, need_reclaim):
                offset += nr_pages
                continue
            if need_reclaim[0]:
                ret = cluster_reclaim_range(si, ci, offset, offset + nr_pages)
                # The cluster lock was dropped: the cluster may serve another order now.
                if not cluster_is_usable(ci, order):
                    break
                if ci.count == 0:
                    offset = start
                if not ret:
                    offset += nr_pages
                    continue
            if not cluster_alloc_range(si, ci, offset, usage, order):
                break
            found = offset
            offset += nr_pages
            if ci.count < SWAPFILE_CLUSTER and offset <= end:
                next = offset
            break
    swap_cluster_unlock(ci)
    if si.flags & SWP_SOLIDSTATE:
        pcp = percpu_swap_cluster[smp_processor_id()]
        pcp.offset[order] = next
        pcp.si[order] = si
    else:
        si.global_cluster[order] = next  # type: ignore[index]
    return found


class Mutant(Variant):
    name = "m07_missing_relocate"
    summary = "a missing relocate of a cluster"
