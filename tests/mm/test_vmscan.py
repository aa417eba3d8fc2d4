"""mm/vmscan.py: shrink_folio_list() for anon folios, through MADV_PAGEOUT."""

from __future__ import annotations

import pytest
from test_memory import KINDS, ledger_problems, make_world, pte_of, states

from swaplab.check import findings
from swaplab.kernel.custom import inject_fault
from swaplab.mm.page_io import swap_bios_inflight
from swaplab.mm.vmstat import vm_event_states


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pageout_keeps_async_folios_in_the_swap_cache(kind: str) -> None:
    w = make_world(KINDS[kind])
    w.map(w.main, 8)
    w.write(w.main, 0, 8)
    w.madvise(w.main, 0, 8, "pageout")
    c = w.counters()
    assert states(w, w.main) == "S" * 8 and c["pswpout"] == 8 and c["used_kb"] == 32
    assert c["swapcached_kb"] == (0 if kind == "brd" else 32)
    assert not swap_bios_inflight                 # completed when the task returned
    assert not ledger_problems(w)
    assert findings.log.findings == []


def test_clean_swap_cache_folio_is_dropped_without_io() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")
    slots = [pte_of(w, w.main, i).entry for i in range(2)]
    w.read(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")
    assert vm_event_states["pswpout"] == 2
    assert [pte_of(w, w.main, i).entry for i in range(2)] == slots
    assert w.counters()["swapcached_kb"] == 0


def test_allocation_failure_keeps_the_page() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    inject_fault("device_full", times=1)
    w.madvise(w.main, 0, 2, "pageout")
    assert states(w, w.main) == "PS"
    assert w.read(w.main, 0, 2) == (0, 0, 0)


def test_lazy_free_folio_is_discarded_unless_redirtied() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "free")
    w.write(w.main, 1, 2)
    w.madvise(w.main, 0, 2, "pageout")
    assert states(w, w.main) == "-P"              # discarded / kept and swap-backed again
    assert vm_event_states["pswpout"] == 0
    w.madvise(w.main, 0, 2, "pageout")
    assert states(w, w.main) == "-S"
    assert w.read(w.main, 0, 2) == (0, 1, 1)
