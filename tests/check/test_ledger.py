"""The reference ledger catches counts that disagree with the references."""

from __future__ import annotations

from swaplab.check import findings
from swaplab.check.ledger import Ledger
from swaplab.include.linux.swapops import swp_entry
from swaplab.mm import swapfile
from swaplab.sim.world import World


def world_with_swapped_pages(kind: str = "ssd") -> tuple[World, Ledger]:
    w = World()
    w.add_device("/dev/vda", 4 << 20, kind)
    assert w.swapon(w.main, "/dev/vda", None) == 0
    w.map(w.main, 8)
    w.write(w.main, 0, 8)
    w.madvise(w.main, 0, 8, "pageout")
    ledger = Ledger(lambda: [p.mm for p in w.processes.values() if p.alive])
    return w, ledger


def test_consistent_world_has_no_problem():
    w, ledger = world_with_swapped_pages()
    assert ledger.check(full=True) == 0
    child = w.fork(w.main, "child")
    assert ledger.check() == 0
    w.read(child, 0, 4)
    w.exit(child)
    w.unmap(w.main)
    assert ledger.check(full=True) == 0
    assert findings.log.findings == []


def test_extra_count_is_a_mismatch_then_a_leak():
    w, ledger = world_with_swapped_pages("sync")
    e = swp_entry(0, 3)
    swapfile.swap_dup_entry_direct(e)            # a reference nobody holds
    assert ledger.check() == 1
    [f] = findings.log.findings
    assert (f.kind, f.entry) == ("count-mismatch", (0, 3))
    assert ledger.check() == 1                   # still there: not reported again
    assert len(findings.log.findings) == 1
    w.unmap(w.main)                              # the real owner goes; the slot leaks
    ledger.check()
    assert [(f.kind, f.entry) for f in findings.log.findings[1:]] == [("swap-leak", (0, 3))]


def test_lost_count_is_a_mismatch():
    w, ledger = world_with_swapped_pages("sync")
    swapfile.swap_put_entries_direct(swp_entry(0, 5), 1)   # the pte still holds it
    ledger.check()
    assert [(f.kind, f.entry) for f in findings.log.findings] == [("count-mismatch", (0, 5))]
