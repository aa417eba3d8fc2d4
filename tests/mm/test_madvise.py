"""mm/madvise.py: MADV_PAGEOUT, MADV_FREE, MADV_DONTNEED, MADV_WILLNEED on swap state."""

from __future__ import annotations

from test_memory import ledger_problems, make_world, states

from swaplab.check import findings
from swaplab.mm.vmstat import vm_event_states


def test_pageout_skips_folios_mapped_twice() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    child = w.fork(w.main, "child")
    w.write(w.main, 1, 2)                         # page 1 private again, page 0 shared
    w.madvise(w.main, 0, 2, "pageout")
    assert states(w, w.main) == "PS" and states(w, child) == "PP"


def test_madv_free_frees_swap_entries_and_cached_slots() -> None:
    # SSSS -> read 2,3 -> SSCC -> free 1..4 -> S-PP, slots of 1..3 freed
    w = make_world()
    w.map(w.main, 4)
    w.write(w.main, 0, 4)
    w.madvise(w.main, 0, 4, "pageout")
    w.read(w.main, 2, 4)
    w.madvise(w.main, 1, 4, "free")
    assert states(w, w.main) == "S-PP"
    # page 0's folio is still in the swap cache (async device)
    assert w.counters()["used_kb"] == 4 and w.counters()["swapcached_kb"] == 4
    assert not ledger_problems(w)
    bad, zeroed, lazy = w.read(w.main, 0, 4)
    assert (bad, zeroed, lazy) == (0, 1, 3)
    assert findings.log.findings == []


def test_dontneed_zeroes_and_frees() -> None:
    w = make_world("sync")
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")
    w.madvise(w.main, 0, 2, "dontneed")
    assert states(w, w.main) == "--" and w.counters()["used_kb"] == 0
    assert w.read(w.main, 0, 2) == (0, 0, 0)


def test_willneed_reads_into_the_swap_cache() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")
    w.read(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")            # clean: out of the cache
    w.madvise(w.main, 0, 2, "willneed")
    assert vm_event_states["pswpin"] == 2 and w.counters()["swapcached_kb"] == 8
    assert states(w, w.main) == "SS"
    w.read(w.main, 0, 2)                          # cache hits: no major fault
    assert vm_event_states["pgmajfault"] == 0
    assert states(w, w.main) == "CC"
