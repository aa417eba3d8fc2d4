"""mm/rmap.py: the anon reverse map across fork, and try_to_unmap_one()."""

from __future__ import annotations

from test_memory import ledger_problems, make_world, pte_of, states

from swaplab.check import findings
from swaplab.include.linux.mm_types import init_mm
from swaplab.kernel.dup import folio_lock, folio_unlock, list_empty
from swaplab.mm.rmap import try_to_unmap
from swaplab.mm.swapfile import folio_alloc_swap, swp_swapcount


def test_anon_vma_is_shared_across_fork() -> None:
    w = make_world()
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    child = w.fork(w.main, "child")
    vma_p, vma_c = w.main.mm.mmap[0], child.mm.mmap[0]
    assert vma_c.anon_vma.root is vma_p.anon_vma.root
    assert vma_c in vma_p.anon_vma.vmas
    f = pte_of(w, w.main, 0).page.folio
    assert f.total_mapcount == 2 and not f.pages[0].anon_exclusive


def test_try_to_unmap_installs_swap_ptes_in_every_mm() -> None:
    w = make_world()
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    child = w.fork(w.main, "child")
    f = pte_of(w, w.main, 0).page.folio
    assert list_empty(w.main.mm.mmlist)
    folio_lock(f)
    assert folio_alloc_swap(f) == 0
    try_to_unmap(f, 0)
    folio_unlock(f)
    assert states(w, w.main) == "S" and states(w, child) == "S"
    e = pte_of(w, w.main, 0).entry
    assert swp_swapcount(e) == 2
    assert not pte_of(w, w.main, 0).exclusive      # shared page: not exclusive
    assert not list_empty(w.main.mm.mmlist) and not list_empty(child.mm.mmlist)
    assert not ledger_problems(w)
    assert findings.log.findings == []


def test_exclusive_page_gives_exclusive_swap_pte() -> None:
    w = make_world()
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    w.madvise(w.main, 0, 1, "pageout")
    assert pte_of(w, w.main, 0).exclusive
    assert init_mm.mmlist.next.entry is w.main.mm
