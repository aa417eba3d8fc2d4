"""mm/page_io.py: zero-filled folios, content tokens, synchronous and asynchronous writes."""

from __future__ import annotations

from test_memory import make_world, pte_of, states

from swaplab.check import findings
from swaplab.include.linux.swapops import swp_offset
from swaplab.mm.page_io import swap_bios_inflight, swap_complete_inflight_io
from swaplab.mm.swap import swap_info
from swaplab.mm.vmstat import vm_event_states


def test_zero_folio_goes_to_the_zeromap() -> None:
    w = make_world()
    w.map(w.main, 2)
    w.write(w.main, 0, 2, zero=True)
    w.madvise(w.main, 0, 2, "pageout")
    assert vm_event_states["swpout_zero"] == 2 and vm_event_states["pswpout"] == 0
    assert states(w, w.main) == "SS" and w.counters()["swapcached_kb"] == 0
    assert w.read(w.main, 0, 2) == (0, 0, 0)
    assert vm_event_states["swpin_zero"] == 2 and vm_event_states["pswpin"] == 0


def test_written_slot_holds_the_page_token() -> None:
    w = make_world("sync")
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    token = w.main.anon.expected[0]  # type: ignore[union-attr]
    w.madvise(w.main, 0, 1, "pageout")
    e = pte_of(w, w.main, 0).entry
    assert swap_info[0].swap_data[swp_offset(e)] == token
    w.read(w.main, 0, 1)
    assert swp_offset(e) not in swap_info[0].swap_data       # slot freed with its data
    assert findings.log.findings == []


def test_async_write_completes_when_the_block_layer_says_so() -> None:
    from swaplab.kernel.locking import set_current
    from swaplab.mm.madvise import MADV_PAGEOUT, do_madvise
    w = make_world()
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    set_current(w.main.task)
    do_madvise(w.main.mm, w.main.anon.addr, 4096, MADV_PAGEOUT)  # type: ignore[union-attr]
    assert len(swap_bios_inflight) == 1 and swap_bios_inflight[0].PG_writeback
    assert swap_complete_inflight_io() == 1
    assert not swap_bios_inflight
