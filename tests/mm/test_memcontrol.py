"""mm/memcontrol.py: charging to the task's cgroup, memory.reclaim of one cgroup."""

from __future__ import annotations

from test_memory import ledger_problems, make_world, pte_of, states

from swaplab.check import findings
from swaplab.mm.memcontrol import get_mem_cgroup_from_mm, mem_cgroup_lookup, root_mem_cgroup
from swaplab.mm.vmstat import vm_event_states

EAGAIN = 11
ENOENT = 2


def test_pages_are_charged_to_the_cgroup_of_the_allocating_task() -> None:
    w = make_world()
    w.map(w.main, 4)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 2)
    w.memcg_leave(w.main)
    w.write(w.main, 2, 4)
    oracle = mem_cgroup_lookup("oracle")
    assert [pte_of(w, w.main, i).page.folio.memcg for i in range(4)] == \
        [oracle, oracle, root_mem_cgroup, root_mem_cgroup]


def test_a_forked_child_starts_in_its_parents_cgroup() -> None:
    w = make_world()
    w.memcg_enter(w.main)
    child = w.fork(w.main, "child")
    assert get_mem_cgroup_from_mm(child.mm) is mem_cgroup_lookup("oracle")
    w.memcg_leave(w.main)
    assert get_mem_cgroup_from_mm(w.main.mm) is root_mem_cgroup
    assert get_mem_cgroup_from_mm(child.mm) is mem_cgroup_lookup("oracle")


def test_reclaim_takes_only_the_cgroups_pages_in_two_passes() -> None:
    # page 0123   0,1 charged to "oracle"
    #      PPPP -> first pass (async device): CC under writeback... SSPP, cached
    #           -> second pass: SSPP, out of the swap cache
    w = make_world("rotational")
    w.map(w.main, 4)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 2)
    w.memcg_leave(w.main)
    w.write(w.main, 2, 4)
    assert w.memory_reclaim(w.main, 65536) == -EAGAIN
    assert states(w, w.main) == "SSPP" and w.counters()["swapcached_kb"] == 8
    assert w.memory_reclaim(w.main, 65536) == -EAGAIN
    assert w.counters()["swapcached_kb"] == 0 and w.counters()["used_kb"] == 8
    assert vm_event_states["pswpout"] == 2 and not ledger_problems(w)
    assert w.read(w.main, 0, 4) == (0, 0, 0) and findings.log.findings == []


def test_reclaim_takes_folios_mapped_more_than_once() -> None:
    # fork shares pages 0,1: MADV_PAGEOUT skips them, memory.reclaim does not
    w = make_world("sync")
    w.map(w.main, 2)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 2)
    child = w.fork(w.main, "child")
    w.madvise(w.main, 0, 2, "pageout")
    assert states(w, w.main) == "PP"
    w.memory_reclaim(w.main, 65536)
    assert states(w, w.main) == "SS" and states(w, child) == "SS"
    assert not ledger_problems(w)
    assert w.read(child, 0, 2) == (0, 0, 0)


def test_reclaim_of_enough_pages_succeeds() -> None:
    w = make_world("sync")
    w.map(w.main, 4)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 4)
    assert w.memory_reclaim(w.main, 8) == 0   # 2 pages asked, at least 32 tried
    assert states(w, w.main) == "SSSS"


def test_reclaim_of_a_missing_cgroup() -> None:
    w = make_world()
    assert w.memory_reclaim(w.main, 4, "nosuch") == -ENOENT


def test_swap_in_is_charged_to_the_slots_cgroup() -> None:
    # A SWP_SYNCHRONOUS_IO swap-in charges the memcg that owned the slot,
    # even when the faulting task has left it.
    w = make_world("sync")
    w.map(w.main, 2)
    w.memcg_enter(w.main)
    w.write(w.main, 0, 2)
    w.memcg_leave(w.main)
    w.madvise(w.main, 0, 2, "pageout")
    w.read(w.main, 0, 1)
    assert pte_of(w, w.main, 0).page.folio.memcg is mem_cgroup_lookup("oracle")


DETERMINISM_SCRIPT = """
from swaplab.sim.world import World
from swaplab.include.linux.swapops import swp_entry
from swaplab.mm.memory import lookup_swap_cgroup_id
w = World()
w.add_device("/dev/swap0", 4 << 20, "sync")
w.swapon(w.main, "/dev/swap0", None)
w.memcg_enter(w.main, "a/b")
w.map(w.main, 4)
w.write(w.main, 0, 4)
w.madvise(w.main, 0, 4, "pageout")
print([lookup_swap_cgroup_id(swp_entry(t, o)) for t, o in w.page_states(w.main)[1]])
"""


def test_swap_cgroup_id_is_the_memcg_id_under_any_hash_seed() -> None:
    # lookup_swap_cgroup_id() (swap_pte_batch() compares it) must not depend on
    # PYTHONHASHSEED: it is the memcg's id, as mem_cgroup_id() gives it.
    import os
    import subprocess
    import sys
    outs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], env=env,
                                capture_output=True, text=True, check=True).stdout)
    assert len(outs) == 1
    from swaplab.mm.memcontrol import cgroup_mkdir, mem_cgroup_id
    from swaplab.sim.world import World
    World()
    assert mem_cgroup_id(cgroup_mkdir("x")) == 2 and mem_cgroup_id(None) == 0
