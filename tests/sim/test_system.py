"""swaplab/sim/system.py: boot() is the one place that puts every module back to boot state."""

from __future__ import annotations

from swaplab.include.linux import mm_types
from swaplab.kernel import custom
from swaplab.mm import ksm, memcontrol, page_io, shmem, vmscan
from swaplab.mm.swap_state import page_cluster
from swaplab.sim.system import boot
from swaplab.sim.world import World


def dirty_world() -> World:
    """A World that leaves state in every module: bios in flight, KSM, memcg, shmem, shadows."""
    w = World()
    w.add_device("/dev/vda", 4 << 20, "ssd")
    assert w.swapon(w.main, "/dev/vda", None) == 0
    assert w.write_file(w.main, "/sys/kernel/mm/ksm/run", "1") == 0
    w.memcg_enter(w.main, "m")
    w.map(w.main, 4)
    w.write(w.main, 0, 4)
    w.madvise(w.main, 0, 4, "merge")
    w.shm_map(w.main, 2)
    w.write(w.main, 0, 2, region="shm")
    w.madvise(w.main, 0, 2, "pageout", region="shm")
    w.madvise(w.main, 0, 4, "pageout")
    w.memory_reclaim(w.main, 16, "m")
    custom.faults["page_alloc"].times = 3
    page_cluster[0] = 3
    return w


def boot_state() -> tuple[object, ...]:
    return (len(page_io.swap_bios_inflight), vmscan._workingset_clock[0],
            list(ksm.ksm_mm_head), ksm.ksm_run, sorted(memcontrol.mem_cgroups),
            shmem.shmem_swaplist.next is shmem.shmem_swaplist, shmem._last_ino[0],
            mm_types.init_mm.mmlist.next is mm_types.init_mm.mmlist,
            custom.faults["page_alloc"].times, page_cluster[0], dict(custom.backing_devices))


def test_boot_resets_every_module() -> None:
    boot()
    clean = boot_state()
    dirty_world()
    assert boot_state() != clean
    boot()
    assert boot_state() == clean
    # A second World after a dirty one sees the same mm ids as the first did.
    w1 = World()
    first = w1.main.mm.id
    dirty_world()
    assert World().main.mm.id == first
