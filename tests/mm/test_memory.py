"""mm/memory.py: faults (anonymous, COW, swap-in), fork's copy, zap -- on the world of sim/world.py.

Slot pictures: S = swap pte, C = present + swap cache, P = present, - = none.
"""

from __future__ import annotations

import pytest

from swaplab.check import findings
from swaplab.include.linux.pgtable import PAGE_SIZE, is_zero_page, pmd_off, pte_offset_map, ptep_get
from swaplab.include.linux.swapops import swp_entry, swp_offset
from swaplab.kernel.custom import inject_fault
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_info
from swaplab.mm.vmstat import vm_event_states
from swaplab.sim.world import Process, World

KINDS = {"virtio": "rotational", "ssd": "ssd", "brd": "sync"}


def make_world(kind: str = "rotational", mb: int = 4) -> World:
    w = World()
    w.add_device("/dev/swap0", mb << 20, kind)
    assert w.swapon(w.main, "/dev/swap0", None) == 0
    return w


def pte_of(w: World, proc: Process, i: int):  # type: ignore[no-untyped-def]
    assert proc.anon is not None
    addr = proc.anon.addr + i * PAGE_SIZE
    return ptep_get(pte_offset_map(pmd_off(proc.mm, addr), addr))  # type: ignore[arg-type]


def ledger_problems(w: World) -> list[str]:
    """Invariant I1: every slot's swap count equals the swap ptes that hold it."""
    refs: dict[int, int] = {}
    for proc in w.processes.values():
        for table in proc.mm.pgd.values():
            for pte in table.ptes:
                if pte.kind == 2:
                    refs[pte.entry] = refs.get(pte.entry, 0) + 1
    problems = []
    for si in swap_info:
        if si is None or si.swap_map is None:
            continue
        for off in range(1, si.max):
            if si.swap_map[off] == 0x3f:
                continue
            count = swapfile.swap_map_count(si, off)
            want = refs.pop(swp_entry(si.type, off), 0)
            if count != want:
                problems.append(f"[{si.type}, {off}]: count {count}, {want} ptes")
    problems += [f"pte holds free slot {e:#x}" for e in refs]
    return problems


def states(w: World, proc: Process) -> str:
    return "".join(w.page_states(proc)[0])


@pytest.fixture
def world() -> World:
    return make_world()


def test_read_of_untouched_page_maps_the_zero_page(world: World) -> None:
    w = world
    w.map(w.main, 4)
    assert w.read(w.main, 0, 4) == (0, 0, 0)
    assert is_zero_page(pte_of(w, w.main, 0).page)
    assert states(w, w.main) == "PPPP"
    w.write(w.main, 1, 2)                     # COW from the zero page
    assert not is_zero_page(pte_of(w, w.main, 1).page)
    assert w.read(w.main, 0, 4) == (0, 0, 0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_read_fault_after_pageout(kind: str) -> None:
    # page  0123    after pageout: SSSS (count 1 each)
    # read  ----    async: CCCC (slots kept)   brd: PPPP (slots freed)
    w = make_world(KINDS[kind])
    w.map(w.main, 4)
    w.write(w.main, 0, 4)
    w.madvise(w.main, 0, 4, "pageout")
    assert states(w, w.main) == "SSSS"
    assert w.read(w.main, 0, 4) == (0, 0, 0)
    if kind == "brd":
        assert states(w, w.main) == "PPPP"
        assert w.counters()["used_kb"] == 0
    else:
        assert states(w, w.main) == "CCCC"
        assert w.counters()["used_kb"] == 16
    assert not ledger_problems(w)
    assert findings.log.findings == []


def test_exclusive_read_fault_maps_writable(world: World) -> None:
    w = world
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    w.madvise(w.main, 0, 1, "pageout")
    assert pte_of(w, w.main, 0).exclusive
    w.read(w.main, 0, 1)
    pte = pte_of(w, w.main, 0)
    assert pte.write and not pte.dirty        # writable even on a read fault
    faults = vm_event_states["pgmajfault"]
    w.write(w.main, 0, 1)                     # no fault: the MMU sets the dirty bit
    assert pte_of(w, w.main, 0).dirty
    assert vm_event_states["pgmajfault"] == faults


def test_write_fault_on_async_device_keeps_the_slot(world: World) -> None:
    # e5: FAULT_FLAG_WRITE is cleared once the exclusive page is mapped
    # writable, so should_try_to_free_swap() says no.
    w = world
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")
    w.read(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")        # clean: dropped from the cache, no I/O
    assert vm_event_states["pswpout"] == 2
    w.write(w.main, 0, 2)
    assert states(w, w.main) == "CC"
    assert vm_event_states["pswpin"] == 2
    assert w.counters()["used_kb"] == 8


def test_fork_shares_swap_entries(world: World) -> None:
    # parent SS (exclusive)  -> fork -> parent SS, child SS, counts 2, not exclusive
    w = world
    w.map(w.main, 2)
    w.write(w.main, 0, 2)
    w.madvise(w.main, 0, 2, "pageout")
    child = w.fork(w.main, "child")
    e = pte_of(w, w.main, 0).entry
    assert swapfile.swp_swapcount(e) == 2
    assert not pte_of(w, w.main, 0).exclusive and not pte_of(w, child, 0).exclusive
    assert not ledger_problems(w)
    w.write(child, 0, 1)                      # COW in the child; the parent keeps its data
    assert w.read(w.main, 0, 2) == (0, 0, 0)
    assert w.read(child, 0, 2) == (0, 0, 0)
    w.exit(child)
    assert not ledger_problems(w)
    w.unmap(w.main)
    assert w.counters()["used_kb"] == 0


def test_fork_retries_with_a_continuation_page(world: World) -> None:
    # A slot at count 62 needs a continuation page for the child's copy; the
    # atomic allocation fails, copy_pte_range() retries with GFP_KERNEL.
    w = world
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    w.madvise(w.main, 0, 1, "pageout")
    e = pte_of(w, w.main, 0).entry
    for _ in range(61):
        assert swapfile.swap_dup_entry_direct(e) == 0
    assert swapfile.swp_swapcount(e) == 62
    inject_fault("page_alloc_atomic", times=1)
    child = w.fork(w.main, "child")
    assert swapfile.swp_swapcount(e) == 63
    assert pte_of(w, child, 0).entry == e
    for _ in range(61):
        swapfile.swap_put_entries_direct(e, 1)
    assert not ledger_problems(w)
    w.exit(child)
    w.unmap(w.main)
    assert w.counters()["used_kb"] == 0
    assert findings.log.findings == []


def test_zap_frees_swap_entries_and_cache(world: World) -> None:
    w = world
    w.map(w.main, 8)
    w.write(w.main, 0, 8)
    w.madvise(w.main, 0, 8, "pageout")
    w.read(w.main, 0, 4)                      # CCCCSSSS
    w.madvise(w.main, 2, 6, "dontneed")       # CC----SS
    assert states(w, w.main) == "CC----SS"
    assert w.counters()["used_kb"] == 16
    w.unmap(w.main)
    assert w.counters()["used_kb"] == 0 and w.counters()["swapcached_kb"] == 0


def test_swap_in_detects_lost_data(world: World) -> None:
    w = world
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    w.madvise(w.main, 0, 1, "pageout")
    w.read(w.main, 0, 1)
    w.madvise(w.main, 0, 1, "pageout")        # dropped from the cache: the next read hits the device
    e = pte_of(w, w.main, 0).entry
    swap_info[0].swap_data[swp_offset(e)] += 1   # the device returns other data
    bad, _, _ = w.read(w.main, 0, 1)
    assert bad == 1
    assert [f.kind for f in findings.log.findings] == ["data-corruption"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_swapoff_brings_back_shared_pages(kind: str) -> None:
    # swapoff2 in small: both processes end up mapping one folio per slot.
    w = make_world(KINDS[kind])
    w.map(w.main, 4)
    w.write(w.main, 0, 4)
    w.madvise(w.main, 0, 4, "pageout")
    child = w.fork(w.main, "K")
    w.read(child, 0, 2)
    assert w.swapoff(w.main, "/dev/swap0") == 0
    assert states(w, w.main) == "PPPP" and states(w, child) == "PPPP"
    assert pte_of(w, w.main, 3).page is pte_of(w, child, 3).page
    assert w.read(w.main, 0, 4) == (0, 0, 0) and w.read(child, 0, 4) == (0, 0, 0)
    assert findings.log.findings == []
