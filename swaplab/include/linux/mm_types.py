"""include/linux/mm_types.h: mm_struct, vm_area_struct, anon_vma and the fault state.

Only what the anonymous-memory swap paths touch is modeled:

* :class:`mm_struct`: the page tables (``pgd``: one page of 512 ptes per
  2 MiB of address space, keyed by ``addr >> PMD_SHIFT``), the VMAs in
  address order, the rss counters ``MM_ANONPAGES``/``MM_SWAPENTS``/
  ``MM_SHMEMPAGES``, ``mmap_lock`` and the ``mmlist`` node that puts the mm
  on ``init_mm.mmlist`` once it holds a swap entry (swapoff walks that list);
* :class:`vm_area_struct`: ``vm_start``/``vm_end``/``vm_flags``/``vm_pgoff``
  and ``anon_vma`` plus the anon_vmas it is chained to (``anon_vma_chain``);
* :class:`anon_vma`: the reverse-map root shared across fork; ``vmas`` is its
  interval tree of chained VMAs, in chaining order;
* :class:`vm_fault`: ``struct vm_fault`` (include/linux/mm.h), the state a
  fault handler passes along.

Locking: ``mmap_lock`` protects the VMA list; each page of ptes has its own
page-table lock (``ptdesc.ptl``, lockdep class "ptlock"); ``mmlist_lock``
protects every mm's ``mmlist`` node.
"""

from __future__ import annotations

from typing import Any

from swaplab.kernel.dup import list_head
from swaplab.kernel.locking import lock_t, mutex, spinlock_t

# enum { MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES }
MM_FILEPAGES = 0
MM_ANONPAGES = 1
MM_SWAPENTS = 2
MM_SHMEMPAGES = 3
NR_MM_COUNTERS = 4

# vm_flags
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_LOCKED = 0x2000
VM_DONTCOPY = 0x20000
VM_HUGETLB = 0x400000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000        # KSM may merge identical pages

# enum fault_flag
FAULT_FLAG_WRITE = 1 << 0
FAULT_FLAG_MKWRITE = 1 << 1
FAULT_FLAG_ALLOW_RETRY = 1 << 2
FAULT_FLAG_KILLABLE = 1 << 4
FAULT_FLAG_USER = 1 << 6
FAULT_FLAG_REMOTE = 1 << 7
FAULT_FLAG_UNSHARE = 1 << 10

# vm_fault_t
VM_FAULT_OOM = 0x000001
VM_FAULT_SIGBUS = 0x000002
VM_FAULT_MAJOR = 0x000004
VM_FAULT_HWPOISON = 0x000010
VM_FAULT_SIGSEGV = 0x000040
VM_FAULT_NOPAGE = 0x000100
VM_FAULT_LOCKED = 0x000200
VM_FAULT_RETRY = 0x000400
VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON


class anon_vma:
    """struct anon_vma: the reverse map of anonymous folios.

    ``root`` is the anon_vma of the oldest ancestor (fork chains children to
    it); ``vmas`` stands for the interval tree ``rb_root`` of
    ``anon_vma_chain`` nodes: every VMA that may map a folio of this
    anon_vma.  Protected by ``root.rwsem``.
    """

    __slots__ = ("id", "root", "rwsem", "vmas")

    _next_id = [0]

    def __init__(self, root: anon_vma | None = None) -> None:
        anon_vma._next_id[0] += 1
        self.id = anon_vma._next_id[0]
        self.root: anon_vma = root if root is not None else self
        self.vmas: list[vm_area_struct] = []
        self.rwsem = mutex("&anon_vma->rwsem")

    def __repr__(self) -> str:
        return f"<anon_vma {self.id} root {self.root.id}>"


class vm_area_struct:
    """struct vm_area_struct: one mapping ``[vm_start, vm_end)`` of an mm.

    ``anon_vma`` is where folios first faulted in this VMA are filed;
    ``anon_vma_chain`` lists every anon_vma this VMA is linked into (its own
    and its ancestors', see anon_vma_fork()).  Protected by ``mmap_lock``.
    """

    __slots__ = (
        "anon_vma",
        "anon_vma_chain",
        "vm_end",
        "vm_file",
        "vm_flags",
        "vm_mm",
        "vm_page_prot",
        "vm_pgoff",
        "vm_start",
    )

    def __init__(self, mm: mm_struct, start: int, end: int, flags: int, pgoff: int) -> None:
        self.vm_mm = mm
        self.vm_start = start
        self.vm_end = end
        self.vm_flags = flags
        self.vm_pgoff = pgoff
        self.anon_vma: anon_vma | None = None
        self.anon_vma_chain: list[anon_vma] = []
        self.vm_page_prot = 0
        # struct file * of a file mapping (a shmem file: mm/shmem.py); None for anon.
        self.vm_file: Any = None

    def __repr__(self) -> str:
        return f"<vma {self.vm_start:#x}-{self.vm_end:#x} of {self.vm_mm!r}>"


class mm_struct:
    """struct mm_struct: an address space.

    ``pgd`` maps ``addr >> PMD_SHIFT`` to the page of ptes covering it
    (``ptdesc``), created on first use and freed by free_pgtables().
    ``rss_stat`` holds the MM_* counters.  ``mm_users`` counts tasks (and
    swapoff's temporary hold, mmget_not_zero()); ``mmlist`` is the node on
    ``init_mm.mmlist``, protected by ``mmlist_lock``.
    """

    __slots__ = (
        "id",
        "mm_users",
        "mmap",
        "mmap_base",
        "mmap_lock",
        "mmlist",
        "owner",
        "pgd",
        "rss_stat",
    )

    _next_id = [0]

    def __init__(self, owner: str = "") -> None:
        mm_struct._next_id[0] += 1
        self.id = mm_struct._next_id[0]
        self.pgd: dict[int, Any] = {}
        self.mmap: list[vm_area_struct] = []          # sorted by vm_start
        self.rss_stat = [0] * NR_MM_COUNTERS
        self.mm_users = 1
        self.mmlist: list_head[mm_struct] = list_head(self, name="mmlist")
        self.mmap_lock: lock_t = mutex("&mm->mmap_lock")
        self.mmap_base = 0x7f0000000000
        self.owner = owner

    def __repr__(self) -> str:
        return f"<mm {self.id} {self.owner}>"


# init_mm: its mmlist is the head of the list swapoff walks.
init_mm = mm_struct("init_mm")
mmlist_lock = spinlock_t("mmlist_lock")


def reset_mm_types() -> None:
    """Boot state: an empty ``init_mm.mmlist``, fresh ids."""
    from swaplab.kernel.dup import INIT_LIST_HEAD
    INIT_LIST_HEAD(init_mm.mmlist)
    mmlist_lock.owner = None
    anon_vma._next_id[0] = 0
    mm_struct._next_id[0] = 1


class vm_fault:
    """struct vm_fault (include/linux/mm.h): the state of one page fault.

    ``pmd`` is the page of ptes the address lives in (None until allocated),
    ``pte`` the pte pointer while mapped (see include/linux/pgtable.py),
    ``ptl`` the page-table lock when held, ``orig_pte`` the pte value the
    fault started from, ``page`` the page found by the handler.
    """

    __slots__ = (
        "address",
        "flags",
        "orig_pte",
        "page",
        "pgoff",
        "pmd",
        "pte",
        "ptl",
        "real_address",
        "vma",
    )

    def __init__(self, vma: vm_area_struct, address: int, flags: int) -> None:
        self.vma = vma
        self.address = address
        self.real_address = address
        self.pgoff = linear_page_index(vma, address)
        self.flags = flags
        self.pmd: Any = None
        self.pte: Any = None
        self.ptl: lock_t | None = None
        self.orig_pte: Any = None
        self.page: Any = None


def linear_page_index(vma: vm_area_struct, address: int) -> int:
    """include/linux/pagemap.h: the page offset of ``address`` in the VMA's object."""
    return ((address - vma.vm_start) >> 12) + vma.vm_pgoff


def vma_address(vma: vm_area_struct, pgoff: int, nr_pages: int) -> int:
    """mm/internal.h: the address of page ``pgoff`` in ``vma``, or -EFAULT (-14) if outside."""
    address = vma.vm_start + ((pgoff - vma.vm_pgoff) << 12)
    if pgoff < vma.vm_pgoff or address >= vma.vm_end:
        return -14
    return address


def add_mm_counter(mm: mm_struct, member: int, value: int) -> None:
    mm.rss_stat[member] += value


def inc_mm_counter(mm: mm_struct, member: int) -> None:
    mm.rss_stat[member] += 1


def dec_mm_counter(mm: mm_struct, member: int) -> None:
    mm.rss_stat[member] -= 1


def get_mm_counter(mm: mm_struct, member: int) -> int:
    return mm.rss_stat[member]


def vma_lookup(mm: mm_struct, addr: int) -> vm_area_struct | None:
    """The VMA containing ``addr``, or None.  Context: mmap_lock held."""
    for vma in mm.mmap:
        if vma.vm_start <= addr < vma.vm_end:
            return vma
    return None


def for_each_vma(mm: mm_struct) -> list[vm_area_struct]:
    """The VMAs of ``mm`` in address order (a copy: callers may unmap while walking)."""
    return list(mm.mmap)
