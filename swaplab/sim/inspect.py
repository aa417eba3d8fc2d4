"""Read-only views of the model's state, for reports, tests and the demo.

Nothing here changes state or takes locks: it reads what a debugger
(drgn on a live kernel) would read.
"""

from __future__ import annotations

from typing import Any, Iterator

from swaplab.include.linux.swap import (COUNT_CONTINUED, SWAP_HAS_CACHE, SWAP_MAP_BAD,
                                        SWAP_NR_ORDERS, SWAPFILE_CLUSTER,
                                        swap_info_struct)
from swaplab.kernel.dup import folio, list_for_each_entry
from swaplab.mm.swap import CLUSTER_FLAG_FREE, CLUSTER_FLAG_NAMES, swap_info
from swaplab.mm.swapfile import (percpu_swap_cluster, swap_map_count,
                                 swap_usage_in_pages)


def for_each_swap_info() -> Iterator[swap_info_struct]:
    """Every device that is in use (swapon done, swapoff not finished)."""
    for si in swap_info:
        if si is not None and si.swap_map is not None:
            yield si


def slot_state(si: swap_info_struct, offset: int) -> dict[str, Any]:
    """One slot: its swap_map byte, count (continuation included), cache bit, table word."""
    ent = si.swap_map[offset]  # type: ignore[index]
    ci = si.cluster_info[offset // SWAPFILE_CLUSTER]  # type: ignore[index]
    tb = ci.table.get(offset % SWAPFILE_CLUSTER, 0) if ci.table else 0
    if type(tb) is folio:
        word = repr(tb)
    elif tb:
        word = f"shadow:{tb:#x}"
    else:
        word = "NULL"
    return {"offset": offset, "byte": ent, "count": swap_map_count(si, offset),
            "cached": bool(ent & SWAP_HAS_CACHE) and ent != SWAP_MAP_BAD,
            "continued": bool(ent & COUNT_CONTINUED), "bad": ent == SWAP_MAP_BAD,
            "table": word}


def used_offsets(si: swap_info_struct) -> Iterator[int]:
    """Offsets of every slot in use (byte neither 0 nor BAD), skipping free clusters."""
    swap_map = si.swap_map
    for ci in si.cluster_info or ():
        if ci.flags == CLUSTER_FLAG_FREE:
            continue
        start = ci.idx * SWAPFILE_CLUSTER
        for off in range(start, min(start + SWAPFILE_CLUSTER, si.max)):
            ent = swap_map[off]  # type: ignore[index]
            if ent and ent != SWAP_MAP_BAD:
                yield off


def cluster_lists(si: swap_info_struct) -> dict[str, list[int]]:
    """The device's cluster lists, by name, as cluster indexes in list order."""
    out: dict[str, list[int]] = {}
    heads = [("free", si.free_clusters), ("full", si.full_clusters),
             ("discard", si.discard_clusters)]
    for o in range(SWAP_NR_ORDERS):
        heads.append((f"nonfull[{o}]", si.nonfull_clusters[o]))
        heads.append((f"frag[{o}]", si.frag_clusters[o]))
    for name, head in heads:
        out[name] = [ci.idx for ci in list_for_each_entry(head)]
    return out


def cluster_summary(si: swap_info_struct, limit: int = 8) -> list[str]:
    """The non-free clusters, as ``idx:count:FLAG:order``."""
    rows = []
    for ci in si.cluster_info or ():
        if ci.flags != CLUSTER_FLAG_FREE:
            rows.append(f"{ci.idx}:{ci.count}:{CLUSTER_FLAG_NAMES[ci.flags]}:o{ci.order}")
            if len(rows) >= limit:
                break
    return rows


def percpu_next(cpu: int = 0) -> dict[int, tuple[int, int]]:
    """This CPU's cached (type, next offset) per order, where set."""
    pcp = percpu_swap_cluster[cpu]
    return {o: (si.type, pcp.offset[o]) for o, si in enumerate(pcp.si) if si is not None}


def inuse(si: swap_info_struct) -> int:
    return swap_usage_in_pages(si)
