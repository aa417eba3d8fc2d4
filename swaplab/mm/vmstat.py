"""mm/vmstat.c and mm/huge_memory.c counters the swap paths move.

/proc/vmstat events, node statistics (NR_SWAPCACHE is /proc/meminfo
SwapCached) and the per-order mTHP statistics under
/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/stats/.
"""

from __future__ import annotations

from typing import Any, Final

from swaplab.include.linux.swap import SWAP_NR_ORDERS

# vm_event_item
PSWPIN: Final = "pswpin"
PSWPOUT: Final = "pswpout"
PGMAJFAULT: Final = "pgmajfault"
SWAP_RA: Final = "swap_ra"
SWAP_RA_HIT: Final = "swap_ra_hit"
SWPIN_ZERO: Final = "swpin_zero"
SWPOUT_ZERO: Final = "swpout_zero"
KSM_SWPIN_COPY: Final = "ksm_swpin_copy"
COW_KSM: Final = "cow_ksm"
THP_SWPOUT: Final = "thp_swpout"
THP_SWPOUT_FALLBACK: Final = "thp_swpout_fallback"
ZSWPIN: Final = "zswpin"
ZSWPOUT: Final = "zswpout"
VM_EVENTS: Final = (PSWPIN, PSWPOUT, PGMAJFAULT, SWAP_RA, SWAP_RA_HIT, SWPIN_ZERO,
             SWPOUT_ZERO, KSM_SWPIN_COPY, COW_KSM, THP_SWPOUT,
             THP_SWPOUT_FALLBACK, ZSWPIN, ZSWPOUT)

# node_stat_item
NR_SWAPCACHE: Final = "nr_swapcached"
NR_FILE_PAGES: Final = "nr_file_pages"
NR_SHMEM: Final = "nr_shmem"
NR_ANON_MAPPED: Final = "nr_anon_pages"

# mthp_stat_item
MTHP_STAT_SWPOUT: Final = "swpout"
MTHP_STAT_SWPOUT_FALLBACK: Final = "swpout_fallback"
MTHP_STAT_ZSWPOUT: Final = "zswpout"
MTHP_STAT_SWPIN: Final = "swpin"
MTHP_STAT_SWPIN_FALLBACK: Final = "swpin_fallback"
MTHP_STAT_SWPIN_FALLBACK_CHARGE: Final = "swpin_fallback_charge"
MTHP_STATS: Final = (MTHP_STAT_SWPOUT, MTHP_STAT_SWPOUT_FALLBACK, MTHP_STAT_ZSWPOUT,
              MTHP_STAT_SWPIN, MTHP_STAT_SWPIN_FALLBACK, MTHP_STAT_SWPIN_FALLBACK_CHARGE)

vm_event_states: dict[str, int] = dict.fromkeys(VM_EVENTS, 0)
node_stat: Final[dict[str, int]] = dict.fromkeys((NR_SWAPCACHE, NR_FILE_PAGES, NR_SHMEM, NR_ANON_MAPPED), 0)
mthp_stats: list[dict[str, int]] = [dict.fromkeys(MTHP_STATS, 0) for _ in range(SWAP_NR_ORDERS)]


def count_vm_event(item: str) -> None:
    """Count one /proc/vmstat event.

    Context: any.
    Return: nothing.
    """
    vm_event_states[item] += 1


def count_vm_events(item: str, delta: int) -> None:
    """Count ``delta`` /proc/vmstat events.

    Context: any.
    Return: nothing.
    """
    vm_event_states[item] += delta


def count_mthp_stat(order: int, item: str) -> None:
    """Count one per-order mTHP event (mm/huge_memory.c); order 0 is not counted.

    Context: any.
    Return: nothing.
    """
    if order > 0:
        mthp_stats[order][item] += 1


def node_stat_mod_folio(folio: Any, item: str, nr: int) -> None:
    """Add ``nr`` to a node statistic for ``folio`` (``lruvec``/node counters folded into one).

    Context: any; the swap cache calls it under the cluster lock or with the
    folio locked.
    Return: nothing.
    """
    node_stat[item] += nr


def global_node_page_state(item: str) -> int:
    """Read a node statistic summed over all nodes.

    Context: any.
    Return: the counter's value.
    """
    return node_stat[item]


def reset() -> None:
    """Boot state: every counter 0 (harness)."""
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
