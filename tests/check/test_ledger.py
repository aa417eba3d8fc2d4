"""The reference ledger catches counts that disagree with the references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


# ---- the page tables' swap-pte index the ledger reads (ptdesc.swap_ptes) ----

def _swap_ptes_of(table) -> dict[int, int]:
    """The swap ptes of a page table, found pte by pte."""
    from swaplab.include.linux.pgtable import PTE_SWAP
    return {i: pte.entry for i, pte in enumerate(table.ptes) if pte.kind == PTE_SWAP}


@pytest.mark.parametrize("variant", ["mainline", "v5"])
def test_swap_pte_index_matches_the_ptes_after_every_step(variant: str) -> None:
    """Every step of random programs: each table's ``swap_ptes`` is exactly its swap ptes."""
    from swaplab.errors import InvalidScenario
    from swaplab.fuzz.gen import generate_program
    from swaplab.program import run_program, using_variant

    seen = 0

    def compare(step, stmt, world, procs) -> None:
        nonlocal seen
        for p in world.processes.values():
            mm = p.task.mm
            if mm is None:
                continue
            for idx, table in mm.pgd.items():
                assert table.swap_ptes == _swap_ptes_of(table), (step, stmt.text(), idx)
                seen += len(table.swap_ptes)

    with using_variant(variant):
        for seed in range(60):
            try:
                run_program(generate_program(seed), on_step=compare)
            except InvalidScenario:
                pass
    assert seen > 0                  # the programs did swap ptes out


def test_ptes_are_stored_by_the_pgtable_setters_only() -> None:
    """The index is kept by the setters of pgtable.py: nothing else stores into ``ptes``."""
    root = Path(__file__).resolve().parents[2] / "swaplab"
    store = re.compile(r"\.ptes\s*(\[[^\]]*\])?\s*(=(?!=)|\+=|\.(append|extend|insert|pop|"
                       r"remove|clear|sort|reverse)\()|\bptes\s*\[[^\]]*\]\s*=(?!=)")
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "pgtable.py" and path.parent.name == "linux":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if store.search(line):
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert offenders == []


def test_set_pte_keeps_the_index_and_pte_table_none() -> None:
    from swaplab.include.linux.pgtable import (
        _pte_none,
        make_pte_marker,
        mk_pte,
        ptdesc,
        pte_clear,
        pte_mkyoung,
        pte_ptr,
        pte_table_none,
        ptep_get_and_clear,
        set_pte_at,
        set_ptes,
        swp_entry_to_pte,
    )
    from swaplab.kernel.dup import folio
    table = ptdesc(0)
    assert pte_table_none(table) and table.swap_ptes == {}
    e = swp_entry(0, 7)
    set_ptes(None, 0, pte_ptr(table, 3), swp_entry_to_pte(e), 2)   # type: ignore[arg-type]
    assert table.swap_ptes == {3: e, 4: e} and not pte_table_none(table)
    set_pte_at(None, 0, pte_ptr(table, 3), mk_pte(folio(0).pages[0]))  # type: ignore[arg-type]
    assert table.swap_ptes == {4: e}
    assert ptep_get_and_clear(None, 0, pte_ptr(table, 4)).entry == e  # type: ignore[arg-type]
    assert table.swap_ptes == {}
    set_pte_at(None, 0, pte_ptr(table, 5), make_pte_marker(1))   # type: ignore[arg-type]
    assert table.swap_ptes == {} and not pte_table_none(table)
    pte_clear(None, 0, pte_ptr(table, 3))                        # type: ignore[arg-type]
    pte_clear(None, 0, pte_ptr(table, 5))                        # type: ignore[arg-type]
    assert pte_table_none(table)
    # A none pte that is not the shared one (bits set on it) is still none.
    set_pte_at(None, 0, pte_ptr(table, 9), pte_mkyoung(_pte_none))  # type: ignore[arg-type]
    assert table.ptes[9] is not _pte_none and pte_table_none(table)
