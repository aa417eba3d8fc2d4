"""mTHP (large anonymous folios) in the callers: spec §10.3 S6, S7, fallback and per-order counters.

Slot pictures: ``0x41`` = count 1, cached; ``0x01`` = count 1; ``0x40`` = cache only.
The oracle runs with every size ``never``; these tests turn 64K (order 4) on.
"""

from __future__ import annotations

from swaplab.check import findings
from swaplab.check.diff import diff_program
from swaplab.check.ledger import Ledger
from swaplab.mm import swapfile, vmstat
from swaplab.mm.swap import swap_info
from swaplab.program import load_program
from swaplab.program.interp import run_program, using_variant
from swaplab.sim.world import World

THP_64K = "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled"


def setup(kind: str, mb: int = 1024, blkdev: bool = True, pages: int = 32) -> World:
    w = World()
    path = "/dev/vda" if blkdev else "/swapfile"
    w.add_device(path, mb << 20, kind, blkdev=blkdev)
    assert w.swapon(w.main, path, None) == 0
    assert w.write_file(w.main, THP_64K, "always") == 0
    w.map(w.main, pages, nohugepage=False)
    w.write(w.main, 0, pages)
    return w


def slots(lo: int, hi: int) -> list[int]:
    return list(swap_info[0].swap_map[lo:hi])


def ledger_ok(w: World) -> None:
    led = Ledger(lambda: [p.mm for p in w.processes.values() if p.alive])
    assert led.check(full=True) == 0
    assert findings.log.findings == []


def test_thp_knob_default_never_and_nohugepage():
    w = World()
    w.map(w.main, 16, nohugepage=False)
    w.write(w.main, 0, 1)
    assert w.page_states(w.main)[0] == ["P"] + ["-"] * 15      # order 0: every size never
    w.write_file(w.main, THP_64K, "always")
    w.map(w.main, 16)                                          # MADV_NOHUGEPAGE, as the oracle
    w.write(w.main, 0, 1)
    assert w.page_states(w.main)[0] == ["P"] + ["-"] * 15


def test_anonymous_fault_maps_whole_order4_folio():
    w = setup("ssd", pages=20)
    # the region starts 20 pages below a 64K boundary: pages 4..19 are the one
    # naturally aligned 64K range inside it; pages 0..3 get order-0 folios
    assert w.page_states(w.main)[0] == ["P"] * 20
    addr = w.main.anon.addr
    folios = [w.access(w.main, addr + i * 4096, False).folio for i in range(20)]
    assert [f.order for f in folios] == [0] * 4 + [4] * 16
    f = folios[4]
    assert all(g is f for g in folios[4:]) and (addr + 4 * 4096) % (64 << 10) == 0
    assert f.total_mapcount == 16 and f._refcount == 16
    assert [p.anon_exclusive for p in f.pages] == [True] * 16


def test_s6_reclaim_then_fault_all_then_zap():
    w = setup("ssd")
    assert w.madvise(w.main, 0, 16, "pageout") == 0
    st, ents = w.page_states(w.main)
    # offset 512.....527   one aligned run in cluster 1 (cluster 0 holds the header)
    # byte   0x41 x 16     async SSD: still cached after unmap
    assert st[:16] == ["S"] * 16 and ents[:16] == [(0, 512 + i) for i in range(16)]
    assert slots(512, 528) == [0x41] * 16
    assert vmstat.mthp_stats[4]["swpout"] == 1 and vmstat.vm_event_states["pswpout"] == 16
    # fault one page: the cached folio's 16 ptes all still match -> mapped whole
    w.read(w.main, 3, 4)
    assert w.page_states(w.main)[0][:16] == ["C"] * 16
    assert slots(512, 528) == [0x40] * 16
    w.unmap(w.main)
    assert slots(512, 528) == [0] * 16 and swapfile.swap_usage_in_pages(swap_info[0]) == 0
    ledger_ok(w)


def test_s6_fault_maps_one_page_when_other_ptes_differ():
    w = World()
    w.add_device("/dev/vda", 1 << 30, "ssd")
    assert w.swapon(w.main, "/dev/vda", None) == 0
    assert w.write_file(w.main, THP_64K, "always") == 0
    w.memcg_enter(w.main)
    w.map(w.main, 16, nohugepage=False)
    w.write(w.main, 0, 16)
    w.madvise(w.main, 0, 16, "pageout")
    assert slots(512, 528) == [0x41] * 16
    # memory.reclaim finds the folio clean: dropped from the swap cache whole
    w.memory_reclaim(w.main, 64)
    assert slots(512, 528) == [0x01] * 16
    # pte 0 no longer holds its entry: MADV_DONTNEED frees slot 512
    assert w.madvise(w.main, 0, 1, "dontneed") == 0
    assert slots(512, 528) == [0x00] + [0x01] * 15
    # fault page 5 on the async device: one order-0 folio, one page mapped
    w.read(w.main, 5, 6)
    assert w.page_states(w.main)[0] == ["-"] + ["S"] * 4 + ["C"] + ["S"] * 10
    assert slots(512, 528) == [0x00] + [0x01] * 4 + [0x40] + [0x01] * 10
    # the zap frees the rest: swap ptes 1..4 and 6..15 in two batches
    w.unmap(w.main)
    assert slots(512, 528) == [0] * 16 and swapfile.swap_usage_in_pages(swap_info[0]) == 0
    ledger_ok(w)


def test_s6_large_cached_folio_partially_remapped():
    w = setup("ssd")
    w.madvise(w.main, 0, 16, "pageout")        # still cached (async), 0x41 x 16
    assert w.madvise(w.main, 0, 1, "dontneed") == 0
    assert slots(512, 513) == [0x40]
    w.read(w.main, 5, 6)                       # ptes differ: only the faulting page
    st, _ = w.page_states(w.main)
    assert st[:16] == ["-"] + ["S"] * 4 + ["C"] + ["S"] * 10
    # slot 0 zapped (cache only), 5 mapped (cache only), the rest still swap ptes
    assert slots(512, 528) == [0x40] + [0x41] * 4 + [0x40] + [0x41] * 10
    w.unmap(w.main)
    assert slots(512, 528) == [0] * 16
    ledger_ok(w)


def test_s7_swap_file_splits():
    w = setup("ssd", mb=64, blkdev=False)
    w.madvise(w.main, 0, 16, "pageout")
    assert vmstat.mthp_stats[4]["swpout_fallback"] == 1
    assert vmstat.mthp_stats[4]["swpout"] == 0
    st, ents = w.page_states(w.main)
    assert st[:16] == ["S"] * 16
    assert sorted(e[1] for e in ents[:16]) == list(range(1, 17))    # 16 order-0 slots
    assert vmstat.vm_event_states["pswpout"] == 16
    w.read(w.main, 0, 16)
    w.unmap(w.main)
    ledger_ok(w)


def test_no_contiguous_space_falls_back_and_succeeds():
    # 1M device: 255 slots in one cluster, which the header slot made an
    # order-0 cluster: no free cluster, so no aligned run of 16 for order 4
    w = setup("ssd", mb=1, pages=16)
    w.madvise(w.main, 0, 16, "pageout")
    assert vmstat.mthp_stats[4]["swpout_fallback"] == 1
    assert vmstat.mthp_stats[4]["swpout"] == 0
    st, ents = w.page_states(w.main)
    assert st == ["S"] * 16 and ents == [(0, 1 + i) for i in range(16)]
    assert slots(0, 18) == [0x3f] + [0x41] * 16 + [0]      # 0x3f: the header (SWAP_MAP_BAD)
    w.read(w.main, 0, 16)
    w.unmap(w.main)
    ledger_ok(w)


def test_sync_device_swpout_and_swpin_per_order():
    w = setup("sync")
    w.madvise(w.main, 0, 16, "pageout")
    assert slots(512, 528) == [0x01] * 16              # written, dropped at once
    assert vmstat.mthp_stats[4]["swpout"] == 1
    w.read(w.main, 7, 8)                                # whole order-4 swap-in
    assert vmstat.mthp_stats[4]["swpin"] == 1 and vmstat.vm_event_states["pswpin"] == 16
    assert w.page_states(w.main)[0][:16] == ["P"] * 16
    assert slots(512, 528) == [0] * 16                  # SYNC_IO frees at the fault
    w.read(w.main, 0, 32)
    w.unmap(w.main)
    ledger_ok(w)


def test_sync_device_ineligible_range_swaps_in_order0():
    w = setup("sync")
    w.madvise(w.main, 0, 16, "pageout")
    w.madvise(w.main, 15, 16, "dontneed")               # the range is no longer all swap
    w.read(w.main, 2, 3)
    assert vmstat.mthp_stats[4]["swpin"] == 0
    st, _ = w.page_states(w.main)
    assert st[:16] == ["S", "S", "P"] + ["S"] * 12 + ["-"]
    w.unmap(w.main)
    ledger_ok(w)


def test_example_mthp_program():
    prog = load_program("examples/mthp.swp")
    with using_variant("mainline") as name:
        result = run_program(prog, variant=name)
    assert result["unmet"] == [] and result["findings"] == []
    d = diff_program(prog, ("legacy", "mainline"))
    assert d.refused is None and d.divergences == [] and d.steps == len(prog)
