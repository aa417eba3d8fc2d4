"""kernel/power/user.c: /dev/snapshot, as far as hibernation swap slots go.

State of the file modeled: the T14F tree (spec kernel-swap-semantics.md
§5.10; docs/kernel-notes.md §10).  User space hibernation (uswsusp) opens
/dev/snapshot, selects the swap area for the image, asks how much room it
has and allocates image slots one by one; closing the device gives back
every slot still held.

What is modeled, and where ``system_transition_mutex`` is held:

* ``snapshot_open()``: under ``lock_system_sleep()`` (taken and dropped).
  Only one opener at a time (``hibernate_acquire()``: ``-EBUSY``); O_RDWR is
  ``-ENOSYS``.  Read-only (hibernating): ``data->swap =
  swap_type_of(swsusp_resume_device, 0)``, which is **-1 unless a resume
  device was configured** (``resume=``; here ``swsusp_resume_device``), so
  user space must use SNAPSHOT_SET_SWAP_AREA.  Write-only (resuming):
  ``data->swap = -1``.
* ``snapshot_ioctl()``: every command runs with ``system_transition_mutex``
  try-locked (``-EBUSY`` if anyone holds it, current included).
  SNAPSHOT_SET_SWAP_AREA selects the type (``-EPERM`` while hibernation
  slots are held, ``-ENODEV`` for a device that is no enabled swap area,
  ``-EINVAL`` for no device); SNAPSHOT_AVAIL_SWAP_SIZE is
  ``count_swap_pages(data->swap, 1) << PAGE_SHIFT``;
  SNAPSHOT_ALLOC_SWAP_PAGE is ``alloc_swapdev_block(data->swap) <<
  PAGE_SHIFT`` or ``-ENOSPC``; SNAPSHOT_FREE_SWAP_PAGES is
  ``free_all_swap_pages(data->swap)``; both ``-ENODEV`` without a type.
* ``snapshot_release()``: under ``lock_system_sleep()`` for its whole body,
  so ``free_all_swap_pages()`` (and every ``swap_free_hibernation_slot()``
  and cluster lock below it) runs with ``system_transition_mutex`` held; this
  is the "#0: system_transition_mutex" of the syzkaller splat (§6.2).

Not modeled (no swap slot depends on them): the image itself (read/write,
SNAPSHOT_CREATE_IMAGE/ATOMIC_RESTORE/FREE...: those commands raise
:class:`~swaplab.errors.InvalidScenario`), the freezer, PM notifiers,
memory bitmaps, ``capable(CAP_SYS_ADMIN)`` (model tasks are root),
``lock_device_hotplug()``, ``hibernation_available()`` (always true) and the
swap device pinning of later kernels (``put_swap_device_by_type()`` /
``SWP_HIBERNATION``, not in T14F).

The Python API: ``snapshot_open(task, mode) -> snapshot_data | -errno``;
``snapshot_ioctl(data, cmd, arg) -> int`` for commands that return only a
status, ``-> (int, value | None)`` for those that put a value to user space
(SNAPSHOT_AVAIL_SWAP_SIZE, SNAPSHOT_ALLOC_SWAP_PAGE; the value is None when
the status is an error); ``snapshot_release(data) -> 0``.  Device numbers
are device names, as everywhere in the model (``swap_type_of(name)``).
"""

from __future__ import annotations

from swaplab.errors import InvalidScenario
from swaplab.include.linux.errno import EBUSY, EINVAL, ENODEV, ENOSPC, EPERM
from swaplab.include.linux.mmdebug import VM_WARN_ON
from swaplab.include.linux.swap import MAX_SWAPFILES
from swaplab.kconfig import PAGE_SHIFT
from swaplab.kernel.locking import get_current, lockdep_assert_held, mutex_unlock, spin_trylock, task_struct

# Not (yet) in swaplab/include/linux/errno.py.
ENOTTY = 25
ENOSYS = 38

# The lock API has no mutex_trylock(); a try-lock is the same owner test
# for every kind of lock_t.
mutex_trylock = spin_trylock

# include/uapi/asm-generic/fcntl.h
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_ACCMODE = 0o3

# include/uapi/asm-generic/ioctl.h
_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2


def _IOC(dir: int, type: int, nr: int, size: int) -> int:
    """include/uapi/asm-generic/ioctl.h ``_IOC()``: encode an ioctl number."""
    return ((dir << _IOC_DIRSHIFT) | (type << _IOC_TYPESHIFT)
            | (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT))


def _IO(type: int, nr: int) -> int:
    """``_IO()``: an ioctl number without argument."""
    return _IOC(_IOC_NONE, type, nr, 0)


def _IOR(type: int, nr: int, size: int) -> int:
    """``_IOR()``: an ioctl number that reads ``size`` bytes to user space."""
    return _IOC(_IOC_READ, type, nr, size)


def _IOW(type: int, nr: int, size: int) -> int:
    """``_IOW()``: an ioctl number that writes ``size`` bytes from user space."""
    return _IOC(_IOC_WRITE, type, nr, size)


def _IOC_TYPE(cmd: int) -> int:
    """``_IOC_TYPE()``: the type (magic) field of an ioctl number."""
    return (cmd >> _IOC_TYPESHIFT) & ((1 << _IOC_TYPEBITS) - 1)


def _IOC_NR(cmd: int) -> int:
    """``_IOC_NR()``: the number field of an ioctl number."""
    return (cmd >> _IOC_NRSHIFT) & ((1 << _IOC_NRBITS) - 1)


# include/uapi/linux/suspend_ioctls.h (sizes: loff_t 8, int 4,
# struct resume_swap_area 12 (packed {loff_t offset; u32 dev;}))
SNAPSHOT_IOC_MAGIC = ord("3")
SNAPSHOT_FREEZE = _IO(SNAPSHOT_IOC_MAGIC, 1)
SNAPSHOT_UNFREEZE = _IO(SNAPSHOT_IOC_MAGIC, 2)
SNAPSHOT_ATOMIC_RESTORE = _IO(SNAPSHOT_IOC_MAGIC, 4)
SNAPSHOT_FREE = _IO(SNAPSHOT_IOC_MAGIC, 5)
SNAPSHOT_FREE_SWAP_PAGES = _IO(SNAPSHOT_IOC_MAGIC, 9)
SNAPSHOT_S2RAM = _IO(SNAPSHOT_IOC_MAGIC, 11)
SNAPSHOT_SET_SWAP_AREA = _IOW(SNAPSHOT_IOC_MAGIC, 13, 12)
SNAPSHOT_GET_IMAGE_SIZE = _IOR(SNAPSHOT_IOC_MAGIC, 14, 8)
SNAPSHOT_PLATFORM_SUPPORT = _IO(SNAPSHOT_IOC_MAGIC, 15)
SNAPSHOT_POWER_OFF = _IO(SNAPSHOT_IOC_MAGIC, 16)
SNAPSHOT_CREATE_IMAGE = _IOW(SNAPSHOT_IOC_MAGIC, 17, 4)
SNAPSHOT_PREF_IMAGE_SIZE = _IO(SNAPSHOT_IOC_MAGIC, 18)
SNAPSHOT_AVAIL_SWAP_SIZE = _IOR(SNAPSHOT_IOC_MAGIC, 19, 8)
SNAPSHOT_ALLOC_SWAP_PAGE = _IOR(SNAPSHOT_IOC_MAGIC, 20, 8)
SNAPSHOT_IOC_MAXNR = 20

# Commands that put a value to user space: snapshot_ioctl() returns (status, value).
_VALUE_IOCTLS = (SNAPSHOT_AVAIL_SWAP_SIZE, SNAPSHOT_ALLOC_SWAP_PAGE)
# Valid commands whose effects are not modeled.
_UNMODELED_IOCTLS = {
    SNAPSHOT_FREEZE: "SNAPSHOT_FREEZE", SNAPSHOT_UNFREEZE: "SNAPSHOT_UNFREEZE",
    SNAPSHOT_ATOMIC_RESTORE: "SNAPSHOT_ATOMIC_RESTORE", SNAPSHOT_FREE: "SNAPSHOT_FREE",
    SNAPSHOT_S2RAM: "SNAPSHOT_S2RAM", SNAPSHOT_GET_IMAGE_SIZE: "SNAPSHOT_GET_IMAGE_SIZE",
    SNAPSHOT_PLATFORM_SUPPORT: "SNAPSHOT_PLATFORM_SUPPORT",
    SNAPSHOT_POWER_OFF: "SNAPSHOT_POWER_OFF", SNAPSHOT_CREATE_IMAGE: "SNAPSHOT_CREATE_IMAGE",
    SNAPSHOT_PREF_IMAGE_SIZE: "SNAPSHOT_PREF_IMAGE_SIZE",
}


class snapshot_data:
    """struct snapshot_data: the state of the open /dev/snapshot.

    There is one (``snapshot_state``), as in the kernel; hibernate_acquire()
    keeps it to one opener.  Fields are protected by system_transition_mutex.
    ``handle`` (the image cursor) is not modeled.  Test fields: ``opened``
    (the file is open) and ``task`` (who opened it).
    """

    __slots__ = ("swap", "mode", "frozen", "ready", "platform_support",
                 "free_bitmaps", "dev", "opened", "task")

    def __init__(self) -> None:
        self.swap = -1                  # guarded by system_transition_mutex
        self.mode = O_RDONLY            # guarded by system_transition_mutex
        self.frozen = False
        self.ready = False
        self.platform_support = False
        self.free_bitmaps = False
        self.dev: str | None = None     # dev_t: the selected device's name; None is 0
        self.opened = False             # test field
        self.task: task_struct | None = None    # test field

    def __repr__(self) -> str:
        return f"<snapshot_data swap={self.swap} mode={self.mode} dev={self.dev}>"


snapshot_state = snapshot_data()

# kernel/power/hibernate.c: 1 while nobody hibernates (atomic_t).
hibernate_atomic = 1
# kernel/power/hibernate.c: the resume= device (a dev_t; here a name, None is 0).
swsusp_resume_device: str | None = None


def hibernate_acquire() -> bool:
    """kernel/power/hibernate.c: ``atomic_add_unless(&hibernate_atomic, -1, 0)``.

    Context: any (atomic).
    Return: True if this caller may hibernate, False if a hibernation is running.
    """
    global hibernate_atomic
    if hibernate_atomic == 0:
        return False
    hibernate_atomic -= 1
    return True


def hibernate_release() -> None:
    """kernel/power/hibernate.c: ``atomic_inc(&hibernate_atomic)``.

    Context: paired with a successful hibernate_acquire().
    Return: nothing.
    """
    global hibernate_atomic
    hibernate_atomic += 1


def _check_open(data: snapshot_data, fn: str) -> None:
    """Harness: an operation on /dev/snapshot that is not open is a bad scenario."""
    if not data.opened:
        raise InvalidScenario(f"{fn}: /dev/snapshot is not open")


def snapshot_open(task: task_struct, mode: int = O_RDONLY) -> snapshot_data | int:
    """Open /dev/snapshot (``open("/dev/snapshot", mode)`` by ``task``).

    Read-only opens hibernate: the swap type is that of the resume device,
    ``-1`` unless ``swsusp_resume_device`` names an enabled swap area
    (``swap_type_of(0, 0)`` is -1).  Write-only opens resume: ``-1``.

    Context: process context of ``task`` (current), may sleep; takes and
    drops system_transition_mutex.
    Return: the snapshot data, or -EBUSY (already open, or hibernation
    running), -ENOSYS (O_RDWR).
    """
    VM_WARN_ON(task is not get_current(), "snapshot_open: task is not current")
    might_sleep()
    sleep_flags = lock_system_sleep()
    error = 0
    data = snapshot_state
    if not hibernate_acquire():
        error = -EBUSY
    elif (mode & O_ACCMODE) == O_RDWR:
        hibernate_release()
        error = -ENOSYS
    else:
        if (mode & O_ACCMODE) == O_RDONLY:
            # Hibernating.  The image device should be accessible.
            data.swap = swap_type_of(swsusp_resume_device) if swsusp_resume_device else -1
            data.mode = O_RDONLY
            data.free_bitmaps = False
        else:
            # Resuming.  We may need to wait for the image device to appear.
            data.swap = -1
            data.mode = O_WRONLY
        data.frozen = False
        data.ready = False
        data.platform_support = False
        data.dev = None
        data.opened = True
        data.task = task
        task.files.append(data)
    unlock_system_sleep(sleep_flags)
    return error if error else data


def snapshot_set_swap_area(data: snapshot_data, dev: str | None) -> int:
    """Select the swap area for the image: the enabled swap device ``dev``.

    ``dev`` stands for ``struct resume_swap_area {offset 0, dev}``: a whole
    device, named as the model names devices; None is device number 0.

    Context: system_transition_mutex held.
    Return: 0, -EPERM (hibernation slots are held), -ENODEV (``dev`` is not
    an enabled swap area), -EINVAL (no device given).
    """
    lockdep_assert_held(system_transition_mutex)
    if swsusp_swap_in_use():
        return -EPERM
    swdev = dev
    # swap_type_of(0, offset) is -1: no device.
    data.swap = swap_type_of(swdev) if swdev else -1
    if data.swap < 0:
        return -ENODEV if swdev else -EINVAL
    data.dev = swdev
    return 0


def snapshot_ioctl(data: snapshot_data, cmd: int,
                   arg: str | None = None) -> int | tuple[int, int | None]:
    """ioctl(2) on /dev/snapshot: the swap-area and swap-slot commands.

    ``arg`` is the device name for SNAPSHOT_SET_SWAP_AREA and unused
    otherwise.  SNAPSHOT_AVAIL_SWAP_SIZE and SNAPSHOT_ALLOC_SWAP_PAGE return
    ``(status, value)`` (the bytes put to user space; None on error), every
    other command returns the status alone.

    Context: process context, may sleep; try-locks system_transition_mutex
    for the whole command (so the caller must not hold it: -EBUSY).
    Return: see above; -ENOTTY (not a snapshot command), -EBUSY,
    -ENODEV (no swap type selected), -ENOSPC (no slot), or the
    snapshot_set_swap_area() status.
    """
    _check_open(data, "snapshot_ioctl")
    might_sleep()
    value: int | None = None
    if _IOC_TYPE(cmd) != SNAPSHOT_IOC_MAGIC or _IOC_NR(cmd) > SNAPSHOT_IOC_MAXNR:
        error = -ENOTTY
    elif not mutex_trylock(system_transition_mutex):
        error = -EBUSY
    else:
        error = 0
        if cmd == SNAPSHOT_AVAIL_SWAP_SIZE:
            size = count_swap_pages(data.swap, True)
            size <<= PAGE_SHIFT
            value = size
        elif cmd == SNAPSHOT_ALLOC_SWAP_PAGE:
            if data.swap < 0 or data.swap >= MAX_SWAPFILES:
                error = -ENODEV
            else:
                offset = alloc_swapdev_block(data.swap)
                if offset:
                    offset <<= PAGE_SHIFT
                    value = offset
                else:
                    error = -ENOSPC
        elif cmd == SNAPSHOT_FREE_SWAP_PAGES:
            if data.swap < 0 or data.swap >= MAX_SWAPFILES:
                error = -ENODEV
            else:
                free_all_swap_pages(data.swap)
        elif cmd == SNAPSHOT_SET_SWAP_AREA:
            error = snapshot_set_swap_area(data, arg)
        elif cmd in _UNMODELED_IOCTLS:
            mutex_unlock(system_transition_mutex)
            raise InvalidScenario(f"snapshot_ioctl: {_UNMODELED_IOCTLS[cmd]} is not modeled")
        else:
            error = -ENOTTY
        mutex_unlock(system_transition_mutex)
    if cmd in _VALUE_IOCTLS:
        return (error, value if not error else None)
    return error


def snapshot_release(data: snapshot_data) -> int:
    """Close /dev/snapshot (the last fput()): give back every hibernation slot.

    Context: process context, may sleep; takes system_transition_mutex
    (lock_system_sleep()) for the whole release, free_all_swap_pages()
    included.
    Return: 0.
    """
    _check_open(data, "snapshot_release")
    might_sleep()
    sleep_flags = lock_system_sleep()
    # swsusp_free(): no image pages are modeled.
    data.dev = None
    free_all_swap_pages(data.swap)
    # Thawing, bitmaps and the PM_POST_* notifiers are not modeled.
    hibernate_release()
    data.opened = False
    if data.task is not None and data in data.task.files:
        data.task.files.remove(data)
    data.task = None
    unlock_system_sleep(sleep_flags)
    return 0


# ---------------------------------------------------------------------------
# Harness: boot state (no kernel counterpart).

def reset_snapshot() -> None:
    """Boot state: /dev/snapshot closed, nobody hibernating, no resume= device."""
    global hibernate_atomic, swsusp_resume_device, snapshot_state
    snapshot_state = snapshot_data()
    hibernate_atomic = 1
    swsusp_resume_device = None


# Linked at the end of the module (see mm/swap_state.py).  Called by bare name only.
from swaplab.kernel.power.swap import (  # noqa: E402
    alloc_swapdev_block,
    free_all_swap_pages,
    lock_system_sleep,
    might_sleep,
    swsusp_swap_in_use,
    system_transition_mutex,
    unlock_system_sleep,
)
from swaplab.mm.swapfile import count_swap_pages, swap_type_of  # noqa: E402
