"""mm/vmstat.c and mm/huge_memory.c counters the swap paths move.

/proc/vmstat events, node statistics (NR_SWAPCACHE is /proc/meminfo
SwapCached) and the per-order mTHP statistics under
/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/stats/.
"""

from __future__ import annotations

from typing import Any

from swaplab.include.linux.swap import SWAP_NR_ORDERS

# vm_event_item
PSWPIN = "pswpin"
PSWPOUT = "pswpout"
PGMAJFAULT = "pgmajfault"
SWAP_RA = "swap_ra"
SWAP_RA_HIT = "swap_ra_hit"
SWPIN_ZERO = "swpin_zero"
SWPOUT_ZERO = "swpout_zero"
KSM_SWPIN_COPY = "ksm_swpin_copy"
COW_KSM = "cow_ksm"
THP_SWPOUT = "thp_swpout"
THP_SWPOUT_FALLBACK = "thp_swpout_fallback"
ZSWPIN = "zswpin"
ZSWPOUT = "zswpout"
VM_EVENTS = (PSWPIN, PSWPOUT, PGMAJFAULT, SWAP_RA, SWAP_RA_HIT, SWPIN_ZERO,
             SWPOUT_ZERO, KSM_SWPIN_COPY, COW_KSM, THP_SWPOUT,
             THP_SWPOUT_FALLBACK, ZSWPIN, ZSWPOUT)

# node_stat_item
NR_SWAPCACHE = "nr_swapcached"
NR_FILE_PAGES = "nr_file_pages"
NR_SHMEM = "nr_shmem"
NR_ANON_MAPPED = "nr_anon_pages"

# mthp_stat_item
MTHP_STAT_SWPOUT = "swpout"
MTHP_STAT_SWPOUT_FALLBACK = "swpout_fallback"
MTHP_STAT_ZSWPOUT = "zswpout"
MTHP_STAT_SWPIN = "swpin"
MTHP_STAT_SWPIN_FALLBACK = "swpin_fallback"
MTHP_STAT_SWPIN_FALLBACK_CHARGE = "swpin_fallback_charge"
MTHP_STATS = (MTHP_STAT_SWPOUT, MTHP_STAT_SWPOUT_FALLBACK, MTHP_STAT_ZSWPOUT,
              MTHP_STAT_SWPIN, MTHP_STAT_SWPIN_FALLBACK, MTHP_STAT_SWPIN_FALLBACK_CHARGE)

vm_event_states: dict[str, int] = dict.fromkeys(VM_EVENTS, 0)
node_stat: dict[str, int] = dict.fromkeys((NR_SWAPCACHE, NR_FILE_PAGES, NR_SHMEM, NR_ANON_MAPPED), 0)
mthp_stats: list[dict[str, int]] = [dict.fromkeys(MTHP_STATS, 0) for _ in range(SWAP_NR_ORDERS)]


def count_vm_event(item: str) -> None:
    vm_event_states[item] += 1


def count_vm_events(item: str, delta: int) -> None:
    vm_event_states[item] += delta


def count_mthp_stat(order: int, item: str) -> None:
    if order > 0:
        mthp_stats[order][item] += 1


def node_stat_mod_folio(folio: Any, item: str, nr: int) -> None:
    node_stat[item] += nr


def global_node_page_state(item: str) -> int:
    return node_stat[item]


def reset() -> None:
    for k in vm_event_states:
        vm_event_states[k] = 0
    for k in node_stat:
        node_stat[k] = 0
    for d in mthp_stats:
        for k in d:
            d[k] = 0


def snapshot() -> dict[str, Any]:
    """What ``swaplab run --json`` prints as ``vmstat``."""
    out: dict[str, Any] = dict(vm_event_states)
    out.update(node_stat)
    out["mthp"] = {str(order): dict(d) for order, d in enumerate(mthp_stats)
                   if order > 0 and any(d.values())}
    for item in (MTHP_STAT_SWPOUT, MTHP_STAT_SWPOUT_FALLBACK):
        out[item] = {str(o): mthp_stats[o][item] for o in range(1, SWAP_NR_ORDERS)}
    return out
