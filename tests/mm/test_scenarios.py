"""Spec §10.3 differential scenarios with the mm callers, exact values (T14F / mainline).

Slot pictures: ``0x41`` = count 1, cached; ``0x01`` = count 1; ``0x40`` = cache only.
"""

from __future__ import annotations

from swaplab.check import findings
from swaplab.check.ledger import Ledger
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_info
from swaplab.sim import inspect
from swaplab.sim.world import World


def setup(kind: str, pages: int = 1) -> World:
    w = World()
    w.add_device("/dev/vda", 1 << 30, kind)
    assert w.swapon(w.main, "/dev/vda", None) == 0
    w.map(w.main, pages)
    w.write(w.main, 0, pages)
    return w


def byte(off: int) -> int:
    return swap_info[0].swap_map[off]


def ledger_ok(w: World) -> None:
    led = Ledger(lambda: [p.mm for p in w.processes.values() if p.alive])
    assert led.check(full=True) == 0
    assert findings.log.findings == []


def test_s1_reclaim_on_ssd():
    # async SSD: pageout leaves the folio in the swap cache, count 1 (0x41)
    w = setup("ssd")
    w.madvise(w.main, 0, 1, "pageout")
    assert w.page_states(w.main) == (["S"], [(0, 1)])
    assert byte(1) == 0x41
    assert inspect.percpu_next() == {0: (0, 2)}
    assert swap_info[0].cluster_info[0].count == 2
    # MADV_PAGEOUT walks ptes: the swap pte's cached folio is left for LRU reclaim
    w.madvise(w.main, 0, 1, "pageout")
    assert byte(1) == 0x41
    # fault it back (cache hit, 0x40) and page it out again: the clean folio is
    # dropped without I/O and the pte goes back to the same slot (0x01)
    w.read(w.main, 0, 1)
    assert byte(1) == 0x40
    w.madvise(w.main, 0, 1, "pageout")
    assert byte(1) == 0x01 and w.page_states(w.main) == (["S"], [(0, 1)])
    ledger_ok(w)


def test_s2_fault_back_then_munmap():
    w = setup("ssd")
    w.madvise(w.main, 0, 1, "pageout")
    w.read(w.main, 0, 1)
    assert w.page_states(w.main)[0] == ["C"]
    assert byte(1) == 0x40                   # cache only, lazily kept
    w.unmap(w.main)
    assert byte(1) == 0x00 and swapfile.swap_usage_in_pages(swap_info[0]) == 0
    ledger_ok(w)


def test_s3_sync_device_frees_at_fault():
    w = setup("sync")
    w.madvise(w.main, 0, 1, "pageout")
    assert byte(1) == 0x01                   # brd: written and dropped at once
    w.read(w.main, 0, 1)
    assert w.page_states(w.main)[0] == ["P"]
    assert byte(1) == 0x00
    ledger_ok(w)


def test_s4_fork_child_exits_parent_faults():
    w = setup("sync")
    w.madvise(w.main, 0, 1, "pageout")
    child = w.fork(w.main, "child")
    assert byte(1) == 0x02
    w.exit(child)
    assert byte(1) == 0x01
    w.read(w.main, 0, 1)
    assert byte(1) == 0x00
    ledger_ok(w)


def test_s5_seventy_forks():
    w = setup("sync")
    w.madvise(w.main, 0, 1, "pageout")
    children = [w.fork(w.main, f"c{i}") for i in range(70)]
    assert byte(1) == 0x88
    assert swapfile.swp_swapcount(swapfile.swp_entry(0, 1)) == 71
    for c in children:
        w.exit(c)
    assert byte(1) == 0x01
    ledger_ok(w)
