"""include/linux/swap.h: swap constants, device flags and ``struct swap_info_struct``.

The layout of a swap_map byte (one per slot)::

    bit 7 COUNT_CONTINUED | bit 6 SWAP_HAS_CACHE | bits 0-5 count digit
    0x00 free   0x3f SWAP_MAP_BAD   0x40 cache only (count 0, pinned by the swap cache)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from swaplab.include.linux.swapops import MAX_SWAPFILES_SHIFT
from swaplab.kconfig import (CONFIG_DEVICE_PRIVATE, CONFIG_MEMORY_FAILURE,
                             CONFIG_MIGRATION, CONFIG_THP_SWAP, HPAGE_PMD_NR,
                             PAGE_SIZE, PMD_ORDER)
from swaplab.kernel.locking import spinlock_t

if TYPE_CHECKING:
    from swaplab.kernel.custom import swap_backing
    from swaplab.mm.swap import swap_cluster_info

SWP_DEVICE_NUM: Final = 3 if CONFIG_DEVICE_PRIVATE else 0
SWP_MIGRATION_NUM: Final = 3 if CONFIG_MIGRATION else 0
SWP_HWPOISON_NUM: Final = 1 if CONFIG_MEMORY_FAILURE else 0
SWP_PTE_MARKER_NUM: Final = 1
MAX_SWAPFILES: Final = ((1 << MAX_SWAPFILES_SHIFT) - SWP_DEVICE_NUM - SWP_MIGRATION_NUM
                 - SWP_HWPOISON_NUM - SWP_PTE_MARKER_NUM)

# swap_map byte encoding
SWAP_HAS_CACHE: Final = 0x40
COUNT_CONTINUED: Final = 0x80
SWAP_MAP_MAX: Final = 0x3e
SWAP_MAP_BAD: Final = 0x3f
SWAP_CONT_MAX: Final = 0x7f

SWAP_ENTRY_INVALID: Final = 0
SWAP_USAGE_OFFLIST_BIT: Final = 1 << 30
SWAP_USAGE_COUNTER_MASK: Final = SWAP_USAGE_OFFLIST_BIT - 1

# swapon(2) flags
SWAP_FLAG_PREFER: Final = 0x8000
SWAP_FLAG_PRIO_MASK: Final = 0x7fff
SWAP_FLAG_DISCARD: Final = 0x10000
SWAP_FLAG_DISCARD_ONCE: Final = 0x20000
SWAP_FLAG_DISCARD_PAGES: Final = 0x40000
SWAP_FLAGS_VALID: Final = (SWAP_FLAG_PRIO_MASK | SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD
                    | SWAP_FLAG_DISCARD_ONCE | SWAP_FLAG_DISCARD_PAGES)

# swap_info_struct.flags
SWP_USED: Final = 1 << 0
SWP_WRITEOK: Final = 1 << 1
SWP_DISCARDABLE: Final = 1 << 2
SWP_DISCARDING: Final = 1 << 3
SWP_SOLIDSTATE: Final = 1 << 4
SWP_CONTINUED: Final = 1 << 5
SWP_BLKDEV: Final = 1 << 6
SWP_ACTIVATED: Final = 1 << 7
SWP_FS_OPS: Final = 1 << 8
SWP_AREA_DISCARD: Final = 1 << 9
SWP_PAGE_DISCARD: Final = 1 << 10
SWP_STABLE_WRITES: Final = 1 << 11
SWP_SYNCHRONOUS_IO: Final = 1 << 12

SWP_FLAG_NAMES: Final = [(SWP_USED, "USED"), (SWP_WRITEOK, "WRITEOK"),
                  (SWP_DISCARDABLE, "DISCARDABLE"), (SWP_DISCARDING, "DISCARDING"),
                  (SWP_SOLIDSTATE, "SOLIDSTATE"), (SWP_CONTINUED, "CONTINUED"),
                  (SWP_BLKDEV, "BLKDEV"), (SWP_ACTIVATED, "ACTIVATED"),
                  (SWP_FS_OPS, "FS_OPS"), (SWP_AREA_DISCARD, "AREA_DISCARD"),
                  (SWP_PAGE_DISCARD, "PAGE_DISCARD"), (SWP_STABLE_WRITES, "STABLE_WRITES"),
                  (SWP_SYNCHRONOUS_IO, "SYNCHRONOUS_IO")]

# Reclaim conditions of __try_to_reclaim_swap()
TTRS_ANYWAY: Final = 0x1
TTRS_UNMAPPED: Final = 0x2
TTRS_FULL: Final = 0x4

SWAPFILE_CLUSTER: Final = HPAGE_PMD_NR if CONFIG_THP_SWAP else 256
SWAP_NR_ORDERS: Final = PMD_ORDER + 1 if CONFIG_THP_SWAP else 1

# The swap header (version 1, "SWAPSPACE2")
SWAP_HEADER_VERSION_OFFSET: Final = 1024
SWAP_HEADER_LAST_PAGE_OFFSET: Final = 1028
SWAP_HEADER_NR_BADPAGES_OFFSET: Final = 1032
SWAP_HEADER_BADPAGES_OFFSET: Final = 1536
SWAP_MAGIC_OFFSET: Final = PAGE_SIZE - 10
MAX_SWAP_BADPAGES: Final = (PAGE_SIZE - 10 - SWAP_HEADER_BADPAGES_OFFSET) // 4

# Per-CPU cluster and lists are per order; the model has one NUMA node.
DEF_SWAP_PRIO: Final = -1


def swap_count(ent: int) -> int:
    """The count part of a swap_map byte (everything but SWAP_HAS_CACHE)."""
    return ent & ~SWAP_HAS_CACHE


class percpu_ref:
    """struct percpu_ref, as ``si->users`` uses it: a count that can be killed.

    Born dead (``PERCPU_REF_INIT_DEAD``); ``percpu_ref_resurrect`` at swapon
    makes ``percpu_ref_tryget_live`` succeed until ``percpu_ref_kill``.
    """

    __slots__ = ("count", "live")

    def __init__(self) -> None:
        self.count = 0
        self.live = False


class swap_info_struct:
    """struct swap_info_struct: one swap device ("type").

    Locking, as the kernel documents it: ``lock`` protects the cluster lists
    and, with ``swap_lock``, ``flags``; each cluster's lock protects its slice
    of ``swap_map``, its swap table, ``count``, ``flags`` and ``order``;
    ``cont_lock`` protects the continuation pages; ``inuse_pages`` and
    ``users`` are atomics.  The struct is never freed: swapoff clears it and a
    later swapon reuses the lowest free type.
    """

    __slots__ = ("flags", "prio", "type", "max", "pages", "inuse_pages",
                 "swap_map", "zeromap", "cluster_info", "free_clusters",
                 "full_clusters", "discard_clusters", "nonfull_clusters",
                 "frag_clusters", "frag_cluster_nr", "global_cluster",
                 "global_cluster_lock", "lock", "cont_lock", "users",
                 "swap_file", "bdev", "avail_prio", "discard_work_pending",
                 "reclaim_work_pending", "swap_map_cont", "swap_cgroup",
                 "swap_data", "nr_extents")

    def __init__(self, type: int) -> None:
        from swaplab.kernel.locking import spinlock_t as _sl
        self.type = type
        self.flags = 0
        self.prio = 0
        self.max = 0
        self.pages = 0
        self.inuse_pages = SWAP_USAGE_OFFLIST_BIT     # atomic_long_t
        self.swap_map: bytearray | None = None
        self.zeromap: bytearray | None = None         # bitmap: slot's data is all zero
        self.cluster_info: list[swap_cluster_info] | None = None
        self.free_clusters: Any = None
        self.full_clusters: Any = None
        self.discard_clusters: Any = None
        self.nonfull_clusters: list[Any] = []
        self.frag_clusters: list[Any] = []
        self.frag_cluster_nr = [0] * SWAP_NR_ORDERS
        self.global_cluster: list[int] | None = None    # ->next[order], rotational only
        self.global_cluster_lock = _sl("&si->global_cluster_lock")
        self.lock = _sl("&p->lock")
        self.cont_lock = _sl("&p->cont_lock")
        self.users = percpu_ref()
        self.swap_file: swap_backing | None = None
        self.bdev: swap_backing | None = None
        self.avail_prio = 0
        self.discard_work_pending = False
        self.reclaim_work_pending = False
        # Continuation pages: the kernel chains them on the lru list of the
        # vmalloc page of swap_map that holds the slot (page_private ==
        # SWP_CONTINUED).  Here: swap_map page index -> list of levels.
        self.swap_map_cont: dict[int, list[bytearray]] = {}
        # mm/swap_cgroup.c: the memcg each used slot is charged to (sparse).
        self.swap_cgroup: dict[int, Any] = {}
        # What the block device holds: content token per written slot.
        self.swap_data: dict[int, int] = {}
        self.nr_extents = 0

    def __repr__(self) -> str:
        return f"<swap_info_struct type={self.type} flags={self.flags:#x} prio={self.prio}>"


_ = spinlock_t  # re-exported for users of this header
