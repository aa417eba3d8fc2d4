"""Harness, CUSTOMISED for the model: devices, faults, randomness, work, memcg.

Like tools/testing/vma/include/custom.h, these stand in for kernel pieces
in a form made for testing:

* :class:`swap_backing` is a block device or a regular file: its size, its
  kind (rotational, non-rotational, synchronous I/O such as brd/zram), the
  header page mkswap wrote, and the content token stored in each slot;
* :class:`fault_attr` is the fault-injection framework: named knobs that
  make a path fail (``fail_page_alloc``, an I/O error, ...);
* ``prandom`` is the one seeded random source of a run;
* :func:`schedule_work` queues deferred work (discard, reclaim workers)
  that the simulator runs at step boundaries;
* :class:`mem_cgroup` is just enough memcg to charge swap and hit a limit.
"""

from __future__ import annotations

import random
import struct
from typing import Any, Callable, Final

from mypy_extensions import mypyc_attr

from swaplab.errors import InvalidScenario
from swaplab.kconfig import PAGE_SIZE

SWAP_MAGIC = b"SWAPSPACE2"


def mkswap_header(nr_pages: int, badpages: list[int] | tuple[int, ...] = (),
                  version: int = 1, last_page: int | None = None,
                  magic: bytes = SWAP_MAGIC, byteswap: bool = False,
                  label: bytes = b"", uuid: bytes = bytes(16)) -> bytes:
    """The header page ``mkswap`` writes for an area of ``nr_pages`` pages.

    >>> len(mkswap_header(256))
    4096
    """
    if last_page is None:
        last_page = nr_pages - 1
    fmt = ">" if byteswap else "<"
    hdr = bytearray(PAGE_SIZE)
    struct.pack_into(fmt + "III", hdr, 1024, version, last_page, len(badpages))
    hdr[1036:1052] = uuid[:16].ljust(16, b"\0")
    hdr[1052:1068] = label[:16].ljust(16, b"\0")
    for i, bad in enumerate(badpages):
        if 1536 + 4 * i + 4 > PAGE_SIZE - 10:
            break
        struct.pack_into(fmt + "I", hdr, 1536 + 4 * i, bad)
    hdr[PAGE_SIZE - 10:] = magic[:10].ljust(10, b"\0")
    return bytes(hdr)


class swap_backing:
    """A block device or file that can hold a swap area (the model's "inode").

    ``kind`` is ``"rotational"`` (virtio-blk, HDD), ``"ssd"`` (non-rotational,
    asynchronous) or ``"sync"`` (non-rotational, SWP_SYNCHRONOUS_IO: brd,
    zram, pmem).  ``blkdev`` is False for a regular swap file.
    """

    KINDS = ("rotational", "ssd", "sync")

    def __init__(self, name: str, size_bytes: int, kind: str = "ssd",
                 blkdev: bool = True, discard: bool = False,
                 header: bytes | None = None, stable_writes: bool = False,
                 zoned: bool = False) -> None:
        if kind not in self.KINDS:
            raise InvalidScenario(f"device {name}: unknown kind {kind!r}; expected one of "
                                  + ", ".join(self.KINDS))
        if size_bytes < PAGE_SIZE:
            raise InvalidScenario(f"device {name}: size {size_bytes} is smaller than one page")
        self.name = name
        self.size_bytes = size_bytes
        self.kind = kind
        self.blkdev = blkdev
        self.discard = discard
        self.stable_writes = stable_writes
        self.zoned = zoned
        self.header = header if header is not None else mkswap_header(size_bytes // PAGE_SIZE)
        self.swapfile = False          # S_SWAPFILE on the inode: an active swap area
        self.unlinked = False
        self.discards = 0              # whole-cluster discards issued (stats)
        self.area_discards = 0

    @property
    def nonrot(self) -> bool:
        return self.kind != "rotational"

    @property
    def synchronous(self) -> bool:
        return self.kind == "sync"

    def __repr__(self) -> str:
        return f"<{'blkdev' if self.blkdev else 'file'} {self.name} {self.kind}>"


# The device namespace: path -> backing (the model's /dev and file system).
backing_devices: dict[str, swap_backing] = {}


def register_backing(dev: swap_backing) -> swap_backing:
    backing_devices[dev.name] = dev
    return dev


# Fault injection (lib/fault-inject.c), one knob per failure the model can take.
FAULTS = {
    "page_alloc": "a page or folio allocation fails (GFP_KERNEL and GFP_ATOMIC)",
    "page_alloc_atomic": "a GFP_ATOMIC page allocation fails (e.g. the continuation page under the PTL)",
    "cont_alloc": "the swap count continuation page allocation fails (any gfp)",
    "swap_table_alloc": "allocating a cluster's swap table fails",
    "swap_read_io": "a read from a swap device ends with an I/O error",
    "swap_write_io": "a write to a swap device ends with an I/O error",
    "memcg_swap_charge": "charging swap to the memory cgroup fails (swap.max reached)",
    "swapoff_signal": "a fatal signal is pending in the task running swapoff",
    "device_full": "the swap allocator finds no free slot on any device",
}


class fault_attr:
    """One injectable fault: fail the next ``times`` tries (-1 = always), or with ``probability``."""

    __slots__ = ("name", "times", "probability", "hits", "interval")

    def __init__(self, name: str) -> None:
        self.name = name
        self.times = 0
        self.probability = 0.0
        self.hits = 0
        self.interval = 0

    def should_fail(self) -> bool:
        if self.times:
            if self.times > 0:
                self.times -= 1
            self.hits += 1
            return True
        if self.probability and prandom.random() < self.probability:
            self.hits += 1
            return True
        return False


faults: Final[dict[str, fault_attr]] = {name: fault_attr(name) for name in FAULTS}


def inject_fault(name: str, times: int = 1, probability: float = 0.0) -> None:
    """Arm fault ``name``: fail the next ``times`` tries (-1: every try)."""
    if name not in faults:
        raise InvalidScenario(f"unknown fault {name!r}; expected one of " + ", ".join(sorted(faults)))
    faults[name].times = times
    faults[name].probability = probability


def should_fail(name: str) -> bool:
    f = faults[name]
    if not f.times and not f.probability:
        return False
    return f.should_fail()


# The one random source of a run.
prandom = random.Random(0)


def seed_prandom(seed: int) -> None:
    prandom.seed(seed)


# gfp_t
GFP_KERNEL: Final = 0x1
GFP_ATOMIC: Final = 0x2
GFP_NOWAIT: Final = 0x4


def alloc_page(gfp: int) -> bytearray | None:
    """``alloc_page()``: a zero-filled page, or None when a fault is injected."""
    if should_fail("page_alloc"):
        return None
    if gfp & GFP_ATOMIC and should_fail("page_alloc_atomic"):
        return None
    return bytearray(PAGE_SIZE)


# Deferred work (kernel/workqueue.c): run by the simulator at step boundaries.
work_queue: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []


def schedule_work(fn: Callable[..., Any], *args: Any) -> None:
    work_queue.append((fn, args))


def flush_scheduled_work() -> int:
    n = 0
    while work_queue:
        fn, args = work_queue.pop(0)
        fn(*args)
        n += 1
    return n


@mypyc_attr(allow_interpreted_subclasses=True)     # mm/memcontrol.py extends it
class mem_cgroup:
    """struct mem_cgroup, reduced to its swap counter and ``memory.swap.max``."""

    __slots__ = ("name", "swap_usage", "swap_max", "swap_fail_events")

    def __init__(self, name: str, swap_max: int | None = None) -> None:
        self.name = name
        self.swap_usage = 0
        self.swap_max = swap_max
        self.swap_fail_events = 0

    def __repr__(self) -> str:
        return f"<memcg {self.name}>"


def reset() -> None:
    """Boot state of this harness: devices, faults, work, randomness, content tokens, allocator.

    The mm modules' own state is reset by their reset functions, which
    swaplab.sim.system.boot() calls.
    """
    _content_counter[0] = 0
    page_alloc_limit[0] = None
    _live_folios.clear()
    backing_devices.clear()
    for f in faults.values():
        f.times = 0
        f.probability = 0.0
        f.hits = 0
    work_queue.clear()
    prandom.seed(0)


# ---------------------------------------------------------------------------
# Content tokens: what a page holds, as a number.  Every write of a page
# gives it a fresh token from one deterministic counter; 0 is a zero-filled
# page.  Swap-out stores the token in ``si.swap_data[offset]`` and every
# swap-in checks it (mm/page_io.py), so lost or stale data is a finding.
_content_counter = [0]


def next_content_token() -> int:
    """A token no page has held before in this run (never 0)."""
    _content_counter[0] += 1
    return _content_counter[0]


# The page allocator (mm/page_alloc.c), CUSTOMISED: an optional limit on the
# number of live pages, and the injected fault "page_alloc" (and
# "page_alloc_atomic" for GFP_ATOMIC).  ``page_alloc_limit`` None = no limit.
page_alloc_limit: list[int | None] = [None]
_live_folios: list[Any] = []


def folio_alloc(gfp: int, order: int = 0) -> Any:
    """``folio_alloc()``: a new folio with one reference, or None on failure.

    Fails when the fault ``page_alloc`` (or ``page_alloc_atomic`` with
    GFP_ATOMIC) is armed, or when ``page_alloc_limit`` pages are live.
    """
    from swaplab.kernel.dup import folio
    if should_fail("page_alloc"):
        return None
    if gfp & GFP_ATOMIC and should_fail("page_alloc_atomic"):
        return None
    limit = page_alloc_limit[0]
    if limit is not None:
        _live_folios[:] = [f for f in _live_folios if not f.freed]
        if sum(1 << f.order for f in _live_folios) + (1 << order) > limit:
            return None
    new = folio(order)
    if limit is not None:
        _live_folios.append(new)
    return new
