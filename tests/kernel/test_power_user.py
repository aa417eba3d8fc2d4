"""Tests of swaplab/kernel/power/user.py: /dev/snapshot and its swap ioctls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from swaplab.check.findings import FindingLog, log
from swaplab.errors import InvalidScenario
from swaplab.include.linux.errno import EBUSY, EINVAL, ENODEV, ENOSPC, EPERM
from swaplab.include.linux.swapops import swp_offset, swp_type
from swaplab.kernel.custom import register_backing, swap_backing
from swaplab.kernel.locking import get_current, task_struct
from swaplab.kernel.power import swap as power_swap
from swaplab.kernel.power import user
from swaplab.kernel.power.swap import (
    iter_swsusp_extents,
    lock_system_sleep,
    reset_swsusp,
    system_transition_mutex,
    unlock_system_sleep,
)
from swaplab.kernel.power.user import (
    ENOSYS,
    ENOTTY,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    SNAPSHOT_ALLOC_SWAP_PAGE,
    SNAPSHOT_AVAIL_SWAP_SIZE,
    SNAPSHOT_FREE,
    SNAPSHOT_FREE_SWAP_PAGES,
    SNAPSHOT_SET_SWAP_AREA,
    reset_snapshot,
    snapshot_data,
    snapshot_ioctl,
    snapshot_open,
    snapshot_release,
)
from swaplab.mm import swapfile
from swaplab.sim.system import boot

MB = 1 << 20
PAGE = 4096
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


def open_snapshot(mode: int = O_RDONLY) -> snapshot_data:
    data = snapshot_open(get_current(), mode)
    assert isinstance(data, snapshot_data)
    return data


def open_with_area(kind: str, size: int = 64 * MB) -> tuple[snapshot_data, int]:
    """What the oracle's ``snap_open`` does: open read-only, then SET_SWAP_AREA."""
    t = add_device(kind, size)
    data = open_snapshot()
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == 0
    return data, t


def alloc(data: snapshot_data, n: int) -> list[tuple[int, int | None]]:
    return [snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE) for _ in range(n)]  # type: ignore[misc]


# --- ioctl numbers --------------------------------------------------------------

def test_ioctl_numbers():
    """include/uapi/linux/suspend_ioctls.h on x86_64."""
    assert SNAPSHOT_FREE_SWAP_PAGES == 0x3309
    assert SNAPSHOT_SET_SWAP_AREA == 0x400C330D
    assert SNAPSHOT_AVAIL_SWAP_SIZE == 0x80083313
    assert SNAPSHOT_ALLOC_SWAP_PAGE == 0x80083314


# --- snapshot_open ----------------------------------------------------------------

def test_snapshot_open_read_only(kernel):
    add_device("ssd")
    task = get_current()
    data = open_snapshot()
    assert data.swap == -1                    # no resume= device: swap_type_of(0, 0)
    assert data.mode == O_RDONLY and data.dev is None
    assert data in task.files and data.task is task
    assert system_transition_mutex.owner is None      # taken and dropped
    assert user.hibernate_atomic == 0
    assert kernel.findings == []


def test_snapshot_open_with_resume_device(kernel):
    t = add_device("rotational")
    user.swsusp_resume_device = "/dev/vda"
    data = open_snapshot()
    assert data.swap == t
    assert alloc(data, 1) == [(0, 1 * PAGE)]
    assert snapshot_release(data) == 0
    user.swsusp_resume_device = "/dev/nothere"
    data = open_snapshot()
    assert data.swap == -ENODEV
    assert snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE) == (-ENODEV, None)
    assert kernel.findings == []


def test_snapshot_open_write_only(kernel):
    add_device("ssd")
    user.swsusp_resume_device = "/dev/vda"
    data = open_snapshot(O_WRONLY)
    assert data.swap == -1 and data.mode == O_WRONLY


def test_snapshot_open_is_exclusive(kernel):
    data = open_snapshot()
    assert snapshot_open(get_current()) == -EBUSY
    assert system_transition_mutex.owner is None
    assert snapshot_release(data) == 0
    assert user.hibernate_atomic == 1
    assert data not in get_current().files
    data = open_snapshot()
    assert data.opened
    assert kernel.findings == []


def test_snapshot_open_read_write(kernel):
    assert snapshot_open(get_current(), O_RDWR) == -ENOSYS
    assert user.hibernate_atomic == 1
    assert system_transition_mutex.owner is None
    assert get_current().files == []


def test_snapshot_open_context_task_is_current(kernel):
    other = task_struct(2, "uswsusp")
    data = snapshot_open(other)
    assert isinstance(data, snapshot_data) and data in other.files
    assert [(f.kind, f.function) for f in kernel.findings] == [("vm-warn", "snapshot_open")]


# --- SNAPSHOT_SET_SWAP_AREA ---------------------------------------------------------

def test_set_swap_area(kernel):
    t = add_device("ssd")
    data = open_snapshot()
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/nothere") == -ENODEV
    assert data.swap < 0
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, None) == -EINVAL
    assert data.swap == -1
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == 0
    assert data.swap == t and data.dev == "/dev/vda"
    # Not while hibernation slots are held.
    assert alloc(data, 1) == [(0, 1 * PAGE)]
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == -EPERM
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == 0
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == 0
    assert kernel.findings == []


def test_set_swap_area_swapped_off_device(kernel):
    add_device("ssd")
    assert swapfile.sys_swapoff("/dev/vda") == 0
    data = open_snapshot()
    assert snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, "/dev/vda") == -ENODEV


# --- No swap type selected ----------------------------------------------------------

def test_ioctls_without_swap_area(kernel):
    t = add_device("ssd")
    data = open_snapshot()
    assert snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE) == (-ENODEV, None)
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == -ENODEV
    assert inuse(t) == 0
    assert kernel.findings == []


def test_avail_swap_size_without_swap_area(kernel):
    add_device("ssd")
    data = open_snapshot()
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (0, 0)


# --- SNAPSHOT_AVAIL_SWAP_SIZE -------------------------------------------------------

def test_avail_swap_size(kernel):
    data, _ = open_with_area("rotational")
    # 64 MiB = 16384 pages, one of them the header.
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (0, 16383 * PAGE)
    alloc(data, 3)
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (0, 16380 * PAGE)
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == 0
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (0, 16383 * PAGE)
    assert kernel.findings == []


# --- SNAPSHOT_ALLOC_SWAP_PAGE / FREE / close: spec §10.3 S10 ---------------------------

@pytest.mark.parametrize("kind, slots, ext", [
    ("rotational", [1, 2, 3], [(1, 3)]),
    ("ssd", [1, 512, 1024], [(1, 1), (512, 512), (1024, 1024)]),
    ("sync", [1, 512, 1024], [(1, 1), (512, 512), (1024, 1024)]),
])
def test_s10_alloc_then_close(kernel, kind, slots, ext):
    data, t = open_with_area(kind)
    free_before = swapfile.get_nr_swap_pages()
    assert alloc(data, 3) == [(0, s * PAGE) for s in slots]
    assert list(iter_swsusp_extents()) == ext
    assert [byte(t, s) for s in slots] == [1, 1, 1]
    assert inuse(t) == 3
    assert snapshot_release(data) == 0
    assert [byte(t, s) for s in slots] == [0, 0, 0]
    assert inuse(t) == 0
    assert swapfile.get_nr_swap_pages() == free_before
    assert list(iter_swsusp_extents()) == []
    assert system_transition_mutex.owner is None
    assert kernel.findings == []


def test_free_swap_pages_then_alloc(kernel):
    """Freed slots are not handed out again at once (HDD: the global cluster moved on)."""
    data, t = open_with_area("rotational")
    assert alloc(data, 3) == [(0, 1 * PAGE), (0, 2 * PAGE), (0, 3 * PAGE)]
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == 0
    assert [byte(t, s) for s in (1, 2, 3)] == [0, 0, 0] and inuse(t) == 0
    assert alloc(data, 3) == [(0, 4 * PAGE), (0, 5 * PAGE), (0, 6 * PAGE)]
    assert list(iter_swsusp_extents()) == [(4, 6)]
    assert snapshot_release(data) == 0
    assert inuse(t) == 0
    assert kernel.findings == []


def test_alloc_enospc_when_full(kernel):
    data, t = open_with_area("ssd", size=8 * PAGE)    # 7 usable slots
    assert alloc(data, 8) == [(0, s * PAGE) for s in range(1, 8)] + [(-ENOSPC, None)]
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (0, 0)
    assert swapfile.get_nr_swap_pages() == 0
    assert snapshot_release(data) == 0
    assert inuse(t) == 0 and swapfile.get_nr_swap_pages() == 7
    assert kernel.findings == []


def test_release_frees_under_system_transition_mutex(kernel, monkeypatch):
    """snapshot_release -> free_all_swap_pages -> swap_free_hibernation_slot, mutex held."""
    data, t = open_with_area("rotational")
    alloc(data, 3)
    seen: list[tuple[int, int, object, list[str]]] = []
    real = swapfile.swap_free_hibernation_slot

    def swap_free_hibernation_slot(entry: int) -> None:
        seen.append((swp_type(entry), swp_offset(entry), system_transition_mutex.owner,
                     [lock.name for lock in get_current().held_locks]))
        real(entry)

    monkeypatch.setattr(power_swap, "swap_free_hibernation_slot", swap_free_hibernation_slot)
    assert system_transition_mutex.owner is None
    assert snapshot_release(data) == 0
    me = get_current()
    assert seen == [(t, off, me, ["system_transition_mutex"]) for off in (1, 2, 3)]
    assert system_transition_mutex.owner is None
    assert [byte(t, s) for s in (1, 2, 3)] == [0, 0, 0]
    assert kernel.findings == []


# --- Errors of the ioctl entry ---------------------------------------------------------

def test_ioctl_busy_while_system_transition_mutex_held(kernel):
    data, t = open_with_area("ssd")
    lock_system_sleep()
    assert snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE) == (-EBUSY, None)
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (-EBUSY, None)
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == -EBUSY
    assert system_transition_mutex.owner is get_current()
    unlock_system_sleep(0)
    assert inuse(t) == 0
    assert kernel.findings == []


def test_ioctl_enotty(kernel):
    data = open_snapshot()
    assert snapshot_ioctl(data, 0x5401) == -ENOTTY                 # TCGETS: not ours
    assert snapshot_ioctl(data, (ord("3") << 8) | 21) == -ENOTTY     # nr > SNAPSHOT_IOC_MAXNR
    assert snapshot_ioctl(data, (ord("3") << 8) | 3) == -ENOTTY      # no such command
    assert system_transition_mutex.owner is None


def test_ioctl_not_modeled(kernel):
    data = open_snapshot()
    with pytest.raises(InvalidScenario, match="SNAPSHOT_FREE is not modeled"):
        snapshot_ioctl(data, SNAPSHOT_FREE)
    assert system_transition_mutex.owner is None


def test_closed_file(kernel):
    data = open_snapshot()
    assert snapshot_release(data) == 0
    with pytest.raises(InvalidScenario, match="not open"):
        snapshot_ioctl(data, SNAPSHOT_ALLOC_SWAP_PAGE)
    with pytest.raises(InvalidScenario, match="not open"):
        snapshot_release(data)
    assert user.hibernate_atomic == 1


# --- Checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_snapshot_paths_no_findings(kernel, kind):
    """The whole /dev/snapshot flow, checks on: no finding."""
    data, t = open_with_area(kind)
    assert snapshot_ioctl(data, SNAPSHOT_AVAIL_SWAP_SIZE) == (0, 16383 * PAGE)
    assert [rc for rc, _ in alloc(data, 600)] == [0] * 600
    assert snapshot_ioctl(data, SNAPSHOT_FREE_SWAP_PAGES) == 0
    assert [rc for rc, _ in alloc(data, 5)] == [0] * 5
    assert snapshot_release(data) == 0
    assert inuse(t) == 0
    assert log.findings == []
