"""linux-7.2: hibernation slots come from this CPU's cluster first (oracle hib1 on Linux 7.2.13)."""

from __future__ import annotations

import pytest

from swaplab.check import findings
from swaplab.kernel.locking import get_current, set_current
from swaplab.kernel.power.user import (
    SNAPSHOT_ALLOC_SWAP_PAGE,
    SNAPSHOT_FREE_SWAP_PAGES,
    SNAPSHOT_SET_SWAP_AREA,
    snapshot_data,
    snapshot_ioctl,
    snapshot_open,
    snapshot_release,
)
from swaplab.mm import swapfile
from swaplab.sim.world import World
from swaplab.variants import using

MB = 1 << 20


def hib1(kind: str) -> list[list[int]]:
    """The slot offsets of hib1's snap_alloc steps, and Used (kB) after each report."""
    w = World()
    w.add_device("/dev/vda", 64 * MB, kind)
    p = w.main
    assert w.swapon(p, "/dev/vda", None) == 0
    set_current(p.task)
    data = snapshot_open(get_current())
    assert isinstance(data, snapshot_data)
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == 0

    def alloc(n: int) -> list[int]:
        set_current(p.task)
        got = [snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE) for _ in range(n)]
        assert all(rc == 0 for rc, _ in got)  # type: ignore[misc]
        return [v // 4096 for _, v in got]  # type: ignore[misc]

    used = []
    h1 = alloc(3)
    used.append(w.counters()["used_kb"])
    set_current(p.task)
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == 0
    used.append(w.counters()["used_kb"])
    w.map(p, 100)
    w.write(p, 0, 100)
    w.madvise(p, 0, 100, "pageout")
    anon = sorted(e[1] for e in w.page_states(p)[1] if e is not None)
    h4 = alloc(3)
    used.append(w.counters()["used_kb"])
    w.unmap(p)
    used.append(w.counters()["used_kb"])
    h6 = alloc(2)
    used.append(w.counters()["used_kb"])
    set_current(p.task)
    snapshot_release(data)
    used.append(w.counters()["used_kb"])
    assert findings.log.findings == []
    return [h1, anon[:1] + anon[-1:], h4, h6, used]


@pytest.mark.parametrize("kind", ["rotational", "ssd", "sync"])
def test_hib1_offsets_as_linux_7_2(kind):
    with using("linux-7.2"):
        h1, anon, h4, h6, used = hib1(kind)
    assert h1 == [1, 2, 3]
    assert anon == [4, 103]
    assert h4 == [104, 105, 106]
    assert used == [12, 0, 412, 12, 20, 0]          # the oracle's used_kb at h1 h2 h4 h5 h6 h7
    assert len(h6) == 2


def test_hib1_ssd_on_mainline_rotates_clusters():
    # T14F: every hibernation allocation isolates a new cluster while free ones remain.
    h1, _anon, _h4, _h6, used = hib1("ssd")
    assert h1 == [1, 512, 1024]
    assert used[0] == 12 and used[-1] == 0


def test_linux_7_2_alloc_skips_a_cache_for_another_device(kernel):
    from helpers import add_device

    from swaplab.include.linux.swapops import swp_offset
    a = add_device("/dev/vda", kind="ssd")
    b = add_device("/dev/vdb", kind="ssd")
    with using("linux-7.2"):
        alloc = swapfile.swap_alloc_hibernation_slot
        assert swp_offset(alloc(a.type)) == 1       # this CPU's cache now points at a
        assert swp_offset(alloc(b.type)) == 1       # not b's: the per-device path
        assert swp_offset(alloc(b.type)) == 2       # b's cache from here on
        assert swp_offset(alloc(a.type)) == 512     # a's cache was replaced: a new cluster
    assert swapfile.swap_usage_in_pages(a) == 2 and swapfile.swap_usage_in_pages(b) == 2
    assert kernel.findings == []
