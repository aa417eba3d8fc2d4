"""swaplab/sim/world.py: the World's syscalls -- fork's errno, swapon flags, devices, shmem files."""

from __future__ import annotations

from swaplab.check import findings
from swaplab.include.linux.errno import ENOMEM
from swaplab.include.linux.swap import (
    SWAP_FLAG_DISCARD,
    SWAP_FLAG_DISCARD_ONCE,
    SWP_AREA_DISCARD,
    SWP_BLKDEV,
    SWP_DISCARDABLE,
    SWP_PAGE_DISCARD,
)
from swaplab.kernel.custom import inject_fault
from swaplab.mm.swap import swap_info
from swaplab.mm.swapfile import swap_show_rows
from swaplab.sim.world import World


def test_fork_returns_copy_mm_errno() -> None:
    # 62 sharers of one slot: the 63rd needs a continuation page; it cannot be had.
    w = World()
    w.add_device("/dev/ram0", 1 << 20, "sync")
    assert w.swapon(w.main, "/dev/ram0", None) == 0
    w.map(w.main, 1)
    w.write(w.main, 0, 1)
    w.madvise(w.main, 0, 1, "pageout")
    for i in range(61):
        assert not isinstance(w.fork(w.main, f"c{i}"), int)
    inject_fault("cont_alloc", -1)
    assert w.fork(w.main, "z") == -ENOMEM
    assert "z" not in w.processes and findings.log.findings == []


def test_swap_file_and_discard_flags() -> None:
    w = World()
    w.add_device("/swapfile", 4 << 20, "ssd", blkdev=False)
    w.add_device("/dev/vdb", 4 << 20, "ssd", discard=True)
    w.add_device("/dev/vdc", 4 << 20, "ssd")
    assert w.swapon(w.main, "/swapfile", None) == 0
    assert w.swapon(w.main, "/dev/vdb", 5, SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE) == 0
    assert w.swapon(w.main, "/dev/vdc", None, SWAP_FLAG_DISCARD) == 0
    si_file, si_disc, si_plain = swap_info[0], swap_info[1], swap_info[2]
    assert not si_file.flags & SWP_BLKDEV and si_file.bdev is None
    assert si_disc.flags & (SWP_DISCARDABLE | SWP_AREA_DISCARD) == SWP_DISCARDABLE | SWP_AREA_DISCARD
    assert not si_disc.flags & SWP_PAGE_DISCARD and si_disc.prio == 5
    assert not si_plain.flags & SWP_DISCARDABLE          # the device cannot discard
    assert [r["type"] for r in swap_show_rows()] == ["file", "partition", "partition"]


def test_named_shmem_file_mapped_by_unrelated_processes() -> None:
    # f: 2 pages; p writes, q (not p's child) maps and reads the same data;
    # p maps a second file g; after both exit f still holds its pages until unlinked.
    w = World()
    w.add_device("/dev/ram0", 1 << 20, "sync")
    assert w.swapon(w.main, "/dev/ram0", None) == 0
    p = w.fork(w.main, "p")
    q = w.fork(w.main, "q")
    assert not isinstance(p, int) and not isinstance(q, int)
    assert w.shm_create(w.main, "f", 2) == 0
    w.shm_map(p, 2, name="f")
    w.shm_map(p, 4, name="g")                 # made on first map
    assert set(p.files) == {"f", "g"}
    w.write(p, 0, 2, region="shm", file="f")
    w.write(p, 0, 4, region="shm", file="g")
    w.shm_map(q, 2, name="f")
    assert w.read(q, 0, 2, region="shm", file="f") == (0, 0, 0)
    w.exit(p)
    w.madvise(q, 0, 2, "pageout", region="shm", file="f")
    assert w.counters()["used_kb"] == 8
    w.exit(q)
    assert w.counters()["used_kb"] == 8        # the file keeps its swapped pages
    assert w.punch(w.main, 0, 1, file="f") == 0
    assert w.counters()["used_kb"] == 4
    assert w.shm_unlink(w.main, "f") == 0 and w.shm_unlink(w.main, "g") == 0
    assert w.counters()["used_kb"] == 0
    assert findings.log.findings == []


def test_fork_copies_file_vmas_in_dup_mmap() -> None:
    # dup_mmap(): the child's VMA takes a file reference and joins i_mmap right after its parent's.
    w = World()
    w.shm_map(w.main, 2)
    assert w.main.shm is not None
    f = w.main.shm.file
    count = f.f_count
    child = w.fork(w.main, "c")
    assert not isinstance(child, int)
    pvma, cvma = w.main.mm.mmap[-1], child.mm.mmap[-1]
    assert cvma.vm_file is f and f.f_count == count + 2      # the VMA's and the fd's
    i_mmap = f.f_mapping.i_mmap
    assert i_mmap.index(cvma) == i_mmap.index(pvma) + 1
    w.exit(child)
    assert f.f_count == count and cvma not in i_mmap
