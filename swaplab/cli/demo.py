"""``swaplab demo``: a guided run of the swap entry lifecycle, shown step by step.

The steps call the model's API the way the mm callers do (the caller each
step stands for is named), and after each one print every used slot, its
swap_map byte, count, cache state and swap table word, the clusters, and
/proc/swaps.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from swaplab.kernel.custom import register_backing, swap_backing
from swaplab.kernel.dup import folio, folio_lock, folio_unlock
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_cluster_lock, swap_cluster_unlock, swap_info
from swaplab.mm.swap_state import __swap_cache_del_folio, swap_cache_add_folio
from swaplab.mm.swap_table import xa_mk_value
from swaplab.sim import inspect
from swaplab.sim.system import boot


def show(console: Console, title: str, note: str) -> None:
    console.rule(f"[bold]{title}")
    console.print(note)
    for si in inspect.for_each_swap_info():
        table = Table(title=f"type {si.type}: inuse_pages={inspect.inuse(si)} "
                      f"clusters {' '.join(inspect.cluster_summary(si))}")
        for col in ("offset", "swap_map", "count", "cache", "swap table"):
            table.add_column(col)
        for off in inspect.used_offsets(si):
            st = inspect.slot_state(si, off)
            table.add_row(str(off), f"{st['byte']:#04x}", str(st["count"]),
                          "cached" if st["cached"] else "", st["table"])
        console.print(table)
    console.print(swapfile.proc_swaps(), highlight=False, soft_wrap=True)


def demo(console: Console | None = None) -> int:
    console = console or Console()
    boot()
    register_backing(swap_backing("/dev/vda", 1 << 30, "ssd"))
    rc = swapfile.sys_swapon("/dev/vda", 0)
    show(console, "swapon /dev/vda", f"sys_swapon() = {rc}: a 1 GiB solid-state device, "
         "priority -1; cluster 0 holds the header slot, so it starts on nonfull[0].")

    folios = [folio(0) for _ in range(4)]
    for f in folios:
        folio_lock(f)
        swapfile.folio_alloc_swap(f)
    show(console, "shrink_folio_list: folio_alloc_swap() x4",
         "Each folio gets a slot at count 0, pinned by the swap cache (0x40).")

    for f in folios:
        swapfile.folio_dup_swap(f, f.pages[0])
    show(console, "try_to_unmap_one: folio_dup_swap()",
         "A swap pte replaces each mapping: count 1, still cached (0x41).")

    for f in folios:
        ci = swap_cluster_lock(swap_info[0], f.swap & ((1 << 58) - 1))
        __swap_cache_del_folio(ci, f, f.swap, xa_mk_value(f.id))
        swap_cluster_unlock(ci)
        f._refcount -= 1
        folio_unlock(f)
    entries = [swapfile.swp_entry(0, off) for off in inspect.used_offsets(swap_info[0])]
    show(console, "__remove_mapping: written back, folios freed",
         "The cache pin is gone, a workingset shadow stays in the table: 0x01.")

    for e in entries:
        swapfile.swap_dup_entry_direct(e)
    show(console, "fork: copy_nonpresent_pte -> swap_dup_entry_direct()",
         "Parent and child share every entry: count 2.")

    f = folio(0)
    folio_lock(f)
    swap_cache_add_folio(f, entries[0], None, False)
    f.pages[0].mapcount = f.total_mapcount = 1      # folio_add_anon_rmap_pte()
    swapfile.folio_put_swap(f, f.pages[0])
    show(console, "child faults page 0: do_swap_page",
         "Read into a folio added to the swap cache (cache bit set), then mapped: "
         "folio_put_swap() drops the child's count. The parent still refers to it.")
    folio_unlock(f)

    for e in entries:
        swapfile.swap_put_entries_direct(e, 1)
    show(console, "parent exits: zap_nonpresent_ptes -> swap_put_entries_direct()",
         "Slots 2-4 drop to count 1 (the child's). Slot 1 drops to 0 but its folio "
         "is mapped by the child: it stays cache-only (0x40), freed lazily.")

    for e in entries[1:]:
        swapfile.swap_put_entries_direct(e, 1)
    f.pages[0].mapcount = f.total_mapcount = 0      # zap_present_ptes: rmap removed
    folio_lock(f)
    swapfile.folio_free_swap(f)                     # free_swap_cache()
    folio_unlock(f)
    show(console, "child exits: zap, then free_swap_cache() -> folio_free_swap()",
         "The child's entries go; its page was the last user of slot 1. Every slot is free.")
    rc = swapfile.sys_swapoff("/dev/vda")
    show(console, "swapoff /dev/vda", f"sys_swapoff() = {rc}: nothing left to bring back.")
    from swaplab.check.findings import log
    console.print(f"findings: {len(log.findings)}")
    for finding in log.findings:
        console.print(str(finding))
    return 1 if log.findings else 0
