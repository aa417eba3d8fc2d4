"""Tests of swaplab/kernel/power/swap.py: the swsusp extent tree and hibernation slots."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from swaplab.check.findings import FindingLog, log
from swaplab.include.linux.errno import EINVAL, ENOMEM
from swaplab.include.linux.swapops import swp_offset, swp_type
from swaplab.kernel.custom import faults, inject_fault, register_backing, swap_backing
from swaplab.kernel.locking import get_current, spin_lock, spin_unlock
from swaplab.kernel.power import swap as power_swap
from swaplab.kernel.power.swap import (
    RB_BLACK,
    RB_RED,
    alloc_swapdev_block,
    free_all_swap_pages,
    iter_swsusp_extents,
    lock_system_sleep,
    rb_erase,
    rb_node,
    reset_swsusp,
    swapdev_block,
    swsusp_extent,
    swsusp_extents,
    swsusp_extents_insert,
    swsusp_swap_in_use,
    system_transition_mutex,
    unlock_system_sleep,
)
from swaplab.kernel.power.user import reset_snapshot
from swaplab.mm import swapfile
from swaplab.sim.system import boot

MB = 1 << 20
KINDS = ("rotational", "ssd", "sync")


@pytest.fixture
def kernel() -> Iterator[FindingLog]:
    """A freshly booted kernel (checks on: RECORD) with hibernation state reset."""
    boot()
    reset_swsusp()          # XX: boot() does not reset kernel/power yet
    reset_snapshot()
    yield log
    reset_swsusp()
    reset_snapshot()


@pytest.fixture
def transition(kernel: FindingLog) -> Iterator[FindingLog]:
    """``kernel``, with current holding system_transition_mutex as hibernate() does."""
    lock_system_sleep()
    yield kernel
    if system_transition_mutex.owner is get_current():
        unlock_system_sleep(0)


def add_device(kind: str, size: int = 64 * MB, name: str = "/dev/vda") -> int:
    register_backing(swap_backing(name, size, kind))
    assert swapfile.sys_swapon(name, 0) == 0
    return swapfile.swap_type_of(name)


def byte(type: int, offset: int) -> int:
    si = swapfile.swap_info[type]
    assert si is not None and si.swap_map is not None
    return si.swap_map[offset]


def inuse(type: int) -> int:
    si = swapfile.swap_info[type]
    assert si is not None
    return swapfile.swap_usage_in_pages(si)


def extents() -> list[tuple[int, int]]:
    return list(iter_swsusp_extents())


def root() -> tuple[int, int] | None:
    node = swsusp_extents.rb_node
    if node is None:
        return None
    assert isinstance(node, swsusp_extent)
    return (node.start, node.end)


def rb_check(node: rb_node | None, parent: rb_node | None = None) -> int:
    """Assert the red-black rules below ``node``; return its black height."""
    if node is None:
        return 1
    assert node.rb_parent is parent
    assert node.rb_color in (RB_RED, RB_BLACK)
    if node.rb_color == RB_RED:
        assert parent is not None, "red root"
        assert parent.rb_color == RB_BLACK, "red node with a red parent"
    left = rb_check(node.rb_left, node)
    right = rb_check(node.rb_right, node)
    assert left == right, "black heights differ"
    return left + (node.rb_color == RB_BLACK)


def spy_frees(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, bool]]:
    """Record each swap_free_hibernation_slot() call of kernel/power/swap.py.

    Each record is ``(type, offset, system_transition_mutex held by current)``.
    The module calls the mm function by bare name, so rebinding the module
    global is how a variant overrides it too.
    """
    calls: list[tuple[int, int, bool]] = []
    real = swapfile.swap_free_hibernation_slot

    def swap_free_hibernation_slot(entry: int) -> None:
        calls.append((swp_type(entry), swp_offset(entry),
                      system_transition_mutex.owner is get_current()))
        real(entry)

    monkeypatch.setattr(power_swap, "swap_free_hibernation_slot", swap_free_hibernation_slot)
    return calls


# --- swsusp_extents_insert ----------------------------------------------------

def test_swsusp_extents_insert_merges_at_both_ends(transition):
    """An offset next to the first node the descent meets grows it; nodes never merge."""
    assert swsusp_extents_insert(10) == 0
    assert extents() == [(10, 10)]
    assert swsusp_extents_insert(11) == 0            # end + 1
    assert swsusp_extents_insert(9) == 0             # start - 1
    assert extents() == [(9, 11)]
    assert swsusp_extents_insert(20) == 0            # new node, right of the root
    assert swsusp_extents_insert(13) == 0            # new node: rotations make it the root
    assert extents() == [(9, 11), (13, 13), (20, 20)]
    assert root() == (13, 13)
    # 12 touches [9, 11] (end + 1) and [13, 13] (start - 1): the root is met first.
    #   offset 9 10 11 12 13 ... 20
    #   before  [9    11]  [13]   [20]
    #   after   [9    11][12 13]  [20]     two touching nodes, not merged
    assert swsusp_extents_insert(12) == 0
    assert extents() == [(9, 11), (12, 13), (20, 20)]
    assert root() == (12, 13)
    assert transition.findings == []


def test_swsusp_extents_insert_inside_is_einval(transition):
    for off in (5, 6, 7, 8, 20):
        assert swsusp_extents_insert(off) == 0
    assert extents() == [(5, 8), (20, 20)]
    for off in (5, 6, 7, 8, 20):
        assert swsusp_extents_insert(off) == -EINVAL
    assert extents() == [(5, 8), (20, 20)]


def test_swsusp_extents_insert_enomem(transition):
    """Only a new node allocates: merges succeed while "page_alloc" is armed."""
    assert swsusp_extents_insert(100) == 0
    inject_fault("page_alloc", times=1)
    assert swsusp_extents_insert(101) == 0
    assert swsusp_extents_insert(99) == 0
    assert faults["page_alloc"].hits == 0
    assert swsusp_extents_insert(200) == -ENOMEM
    assert faults["page_alloc"].hits == 1
    assert extents() == [(99, 101)]
    assert swsusp_extents_insert(200) == 0
    assert extents() == [(99, 101), (200, 200)]


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
def test_swsusp_extents_stay_a_red_black_tree(transition, order):
    """Insert 64 separate offsets, then take the root off until empty (as free_all does)."""
    offsets = [2 * i for i in range(64)]
    if order == "descending":
        offsets.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(offsets)
    for off in offsets:
        assert swsusp_extents_insert(off) == 0
        rb_check(swsusp_extents.rb_node)
    assert extents() == [(o, o) for o in range(0, 128, 2)]
    left = sorted(offsets)
    while (node := swsusp_extents.rb_node) is not None:
        assert isinstance(node, swsusp_extent)
        rb_erase(node, swsusp_extents)
        left.remove(node.start)
        rb_check(swsusp_extents.rb_node)
        assert extents() == [(o, o) for o in left]
    assert left == []


def test_swsusp_swap_in_use(transition):
    assert swsusp_swap_in_use() is False
    assert swsusp_extents_insert(3) == 0
    assert swsusp_swap_in_use() is True


# --- alloc_swapdev_block / free_all_swap_pages: spec §10.3 S10 ------------------

def test_s10_rotational_one_extent(transition, monkeypatch):
    # offset 01234      H = header, 1 = count 1 (hibernation), . = free
    # byte   H111.      after 3 x alloc_swapdev_block: one extent [1, 3]
    #        H....      after free_all_swap_pages
    t = add_device("rotational")
    si = swapfile.swap_info[t]
    assert si is not None and si.cluster_info is not None
    free_before = swapfile.get_nr_swap_pages()
    assert [alloc_swapdev_block(t) for _ in range(3)] == [1, 2, 3]
    assert extents() == [(1, 3)]
    assert [byte(t, o) for o in range(5)] == [0x3f, 1, 1, 1, 0]
    assert inuse(t) == 3
    assert si.cluster_info[0].count == 4                  # header + 3
    assert swapfile.get_nr_swap_pages() == free_before - 3
    frees = spy_frees(monkeypatch)
    free_all_swap_pages(t)
    assert frees == [(t, 1, True), (t, 2, True), (t, 3, True)]     # start..end inclusive
    assert extents() == [] and not swsusp_swap_in_use()
    assert [byte(t, o) for o in range(5)] == [0x3f, 0, 0, 0, 0]
    assert inuse(t) == 0
    assert si.cluster_info[0].count == 1
    assert swapfile.get_nr_swap_pages() == free_before
    assert transition.findings == []


@pytest.mark.parametrize("kind", ["ssd", "sync"])
def test_s10_ssd_three_extents(transition, monkeypatch, kind):
    # Each call isolates a new cluster: offsets 1, 512, 1024, one extent each.
    t = add_device(kind)
    assert [alloc_swapdev_block(t) for _ in range(3)] == [1, 512, 1024]
    assert extents() == [(1, 1), (512, 512), (1024, 1024)]
    assert [byte(t, o) for o in (1, 2, 512, 513, 1024)] == [1, 0, 1, 0, 1]
    assert inuse(t) == 3
    frees = spy_frees(monkeypatch)
    free_all_swap_pages(t)
    # Root first: after the third insert the tree is 512 (root) / 1 and 1024.
    assert frees == [(t, 512, True), (t, 1024, True), (t, 1, True)]
    assert extents() == []
    assert [byte(t, o) for o in (1, 512, 1024)] == [0, 0, 0]
    assert inuse(t) == 0
    assert transition.findings == []


def test_alloc_swapdev_block_enomem_frees_the_slot(transition, monkeypatch):
    """The insert fails: the slot goes back through swap_free_hibernation_slot()."""
    t = add_device("rotational")
    frees = spy_frees(monkeypatch)
    inject_fault("page_alloc", times=1)
    assert alloc_swapdev_block(t) == 0
    assert frees == [(t, 1, True)]
    assert byte(t, 1) == 0 and inuse(t) == 0
    assert extents() == []
    # The HDD allocator goes on after the slot it gave out.
    assert alloc_swapdev_block(t) == 2
    assert extents() == [(2, 2)]
    assert transition.findings == []


def test_alloc_swapdev_block_einval_frees_the_slot(transition, monkeypatch):
    """An offset already recorded (a stale extent) is refused and its new slot freed."""
    t = add_device("rotational")
    assert swsusp_extents_insert(1) == 0          # recorded, but never allocated
    frees = spy_frees(monkeypatch)
    assert alloc_swapdev_block(t) == 0
    assert frees == [(t, 1, True)]
    assert byte(t, 1) == 0 and inuse(t) == 0
    assert extents() == [(1, 1)]
    assert transition.findings == []


def test_alloc_swapdev_block_full_device(transition):
    t = add_device("ssd", size=8 * 4096)          # 7 usable slots
    assert [alloc_swapdev_block(t) for _ in range(8)] == [1, 2, 3, 4, 5, 6, 7, 0]
    assert extents() == [(1, 7)]
    assert inuse(t) == 7
    free_all_swap_pages(t)
    assert inuse(t) == 0 and extents() == []
    assert transition.findings == []


def test_alloc_swapdev_block_no_device(transition):
    assert alloc_swapdev_block(0) == 0
    assert alloc_swapdev_block(5) == 0
    assert extents() == []
    assert transition.findings == []


def test_free_all_swap_pages_empty_tree(transition, monkeypatch):
    t = add_device("ssd")
    frees = spy_frees(monkeypatch)
    free_all_swap_pages(t)
    assert frees == []
    assert transition.findings == []


def test_swapdev_block(kernel):
    t = add_device("ssd")
    assert [swapdev_block(t, o) for o in (1, 512, 16383)] == [1, 512, 16383]
    assert swapdev_block(t + 1, 1) == 0           # no such device
    assert swapfile.sys_swapoff("/dev/vda") == 0
    assert swapdev_block(t, 1) == 0               # not WRITEOK
    assert kernel.findings == []


@pytest.mark.parametrize("kind", KINDS)
def test_s10_no_findings(transition, kind):
    """With checks on, allocating and freeing hibernation slots breaks no rule."""
    t = add_device(kind)
    for _ in range(3):
        assert alloc_swapdev_block(t)
    free_all_swap_pages(t)
    for _ in range(700):          # spans clusters on every kind
        assert alloc_swapdev_block(t)
    free_all_swap_pages(t)
    unlock_system_sleep(0)
    assert inuse(t) == 0
    assert log.findings == []


# --- Context checks ---------------------------------------------------------------

def test_context_system_transition_mutex_not_held(kernel):
    t = add_device("rotational")
    assert alloc_swapdev_block(t) == 1
    assert [(f.kind, f.function) for f in kernel.findings] == [
        ("lock-not-held", "alloc_swapdev_block"),
        ("lock-not-held", "swsusp_extents_insert"),
    ]
    kernel.findings.clear()
    free_all_swap_pages(t)
    assert [(f.kind, f.function) for f in kernel.findings] == [
        ("lock-not-held", "free_all_swap_pages"),
    ]
    assert byte(t, 1) == 0


def test_context_might_sleep_under_spinlock(kernel):
    spin_lock(swapfile.swap_lock)
    lock_system_sleep()
    assert [(f.kind, f.function) for f in kernel.findings] == [("vm-warn", "lock_system_sleep")]
    unlock_system_sleep(0)
    spin_unlock(swapfile.swap_lock)
