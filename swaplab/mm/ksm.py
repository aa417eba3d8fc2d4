"""mm/ksm.c: kernel samepage merging, as far as swap needs it.

KSM merges anonymous pages with equal contents into one write-protected
*KSM folio* mapped by every pte that held such a page.  Swap meets it in
three places: reclaim unmaps a KSM folio through its stable node
(rmap_walk_ksm(): one slot, one swap pte per former page, the slot's count
is the number of ptes), a swap-in may have to copy (ksm_might_need_to_copy(),
spec §6.3, kernel-notes §8), and a write or MADV_UNMERGEABLE breaks a
KSM mapping with a private copy (do_wp_page(), counted as ``cow_ksm``).

The scanner (ksmd, ksm_do_scan())
---------------------------------

``ksm_scan`` is the one cursor over the mm slots of ``ksm_mm_head``;
scan_get_next_rmap_item() returns the next present anon page of a
VM_MERGEABLE VMA with its *rmap item* (one per mm and address, kept in
address order in the slot's ``rmap_list``).  cmp_and_merge_page() then:

1. a page already mapping a KSM folio whose item is in its stable node:
   nothing to do;
2. otherwise the item leaves the trees, and its page's checksum is taken:
   a checksum that differs from the one of the previous scan (the first
   scan of a page always differs) only records it -- **a page must be seen
   unchanged in two full scans before it can merge**;
3. a stable-tree node with equal contents: the page is merged into that
   KSM folio (replace_page()), its item appended to the node;
4. else an unstable-tree item with equal contents (inserted earlier in
   *this* scan: the unstable tree is emptied when a full scan starts):
   the scanned page becomes the KSM folio (try_to_merge_one_page() with
   no kpage), the tree page is merged into it, a stable node is inserted
   and both items appended (the tree item first, so it is the one counted
   in ``pages_shared``);
5. else the item is inserted into the unstable tree.

So with ``pages_to_scan`` larger than the mergeable pages: the first full
scan only records checksums, the second merges every group of identical
pages (the first page of a group waits in the unstable tree, the second
becomes the KSM folio, the rest join through the stable tree), and later
scans change nothing.  The oracle's ksm1 (``merge`` plus ``ksm_wait 2``,
three scans) is merged after the second.

``ksm_pages_shared``/``ksm_pages_sharing`` move only where the kernel moves
them: stable_tree_append() (scan), remove_rmap_item_from_tree() and
remove_node_from_stable_tree() (scan, ``run`` 2).  Swap-out, copies, frees
and MADV_UNMERGEABLE leave them alone until then (oracle ksm1 k2..k8).

A stable node does not pin its KSM folio: ksm_get_folio() checks that the
folio still names the node ("keyhole reference") and drops a stale node.
``run`` 2 (unmerge_and_remove_all_rmap_items()) breaks every mapped KSM
page, frees every rmap item and stable node; a KSM folio left in the swap
cache keeps PG_ksm without a node (so a later swap-in copies it).

ksmd itself is a harness around ksm_scan_thread() (see ``ksmd``): it runs
one batch of ``ksm_thread_pages_to_scan`` pages per wake-up -- a batch
ends early at the end of a full scan -- when the model returns to user
space, as the oracle's 1-CPU guest runs it while the scenario waits.
It is woken by __ksm_enter() of the first mm and by ``run`` 1 (while it
waits on ``ksm_thread_wait``), and by a change of ``sleep_millisecs`` or
its timeout (while it waits on ``ksm_iter_wait`` after a batch); time
passes only in ``sleep``.

Representation: the stable and unstable rbtrees are lists searched for
equal contents (content tokens); rmap items are Python objects, their
flags in the low bits of ``address`` as in the kernel.

XX: not modeled: stable node chains (``max_page_sharing`` dups are kept as
separate nodes of equal contents, the first candidate wins), the rbtrees'
search paths (a stale unstable-tree item makes the kernel give up the
search only when it lies on the path; the model skips it), NUMA trees and
migrate_nodes, ``use_zero_pages``, the scan-time advisor.  fork and the
last mmput() call ksm_fork() / ksm_exit() (kernel/fork.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swaplab.include.linux.mm_types import (
    FAULT_FLAG_REMOTE,
    FAULT_FLAG_UNSHARE,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_HUGETLB,
    VM_MAYSHARE,
    VM_MERGEABLE,
    VM_SHARED,
    anon_vma,
    for_each_vma,
    linear_page_index,
    mm_struct,
    vm_area_struct,
    vma_address,
    vma_lookup,
)
from swaplab.include.linux.mmdebug import VM_BUG_ON, VM_BUG_ON_FOLIO, VM_WARN_ON_FOLIO, WARN_ON_ONCE
from swaplab.include.linux.pgtable import (
    PAGE_SIZE,
    PMD_SIZE,
    mk_pte,
    pmd_off,
    pte_dirty,
    pte_mkclean,
    pte_offset_map_lock,
    pte_present,
    pte_same,
    pte_t,
    pte_unmap_unlock,
    pte_write,
    pte_wrprotect,
    ptep_clear_flush,
    ptep_get,
    set_pte_at,
)
from swaplab.kernel.custom import GFP_KERNEL
from swaplab.kernel.dup import (
    folio,
    folio_get,
    folio_lock,
    folio_mapcount,
    folio_mapped,
    folio_mark_dirty,
    folio_put,
    folio_ref_count,
    folio_set_dirty,
    folio_test_anon,
    folio_test_dirty,
    folio_test_ksm,
    folio_test_large,
    folio_test_locked,
    folio_test_swapcache,
    folio_test_uptodate,
    folio_trylock,
    folio_unlock,
    page,
)
from swaplab.kernel.locking import (
    cond_resched,
    get_current,
    lockdep_assert_held,
    mutex,
    mutex_lock,
    mutex_unlock,
    set_current,
    spin_lock,
    spin_unlock,
    spinlock_t,
    task_struct,
)
from swaplab.mm.vmstat import KSM_SWPIN_COPY, count_vm_event

__all__ = (
    "KSM_RUN_MERGE", "KSM_RUN_STOP", "KSM_RUN_UNMERGE", "MADV_MERGEABLE", "MADV_UNMERGEABLE",
    "break_ksm", "folio_set_stable_node", "folio_stable_node", "ksm_do_scan", "ksm_madvise",
    "ksm_might_need_to_copy", "ksm_sysfs_show", "ksm_sysfs_store", "ksmd_run_pending",
    "ksmd_timer", "rmap_walk_ksm", "unmerge_and_remove_all_rmap_items",
)

EFAULT = 14
EINVAL = 22
EBUSY = 16
ENOMEM = 12

MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13

KSM_RUN_STOP = 0
KSM_RUN_MERGE = 1
KSM_RUN_UNMERGE = 2

# Low bits of rmap_item.address.
SEQNR_MASK = 0x0ff      # low bits of unstable tree seqnr
UNSTABLE_FLAG = 0x100   # is a node of the unstable tree
STABLE_FLAG = 0x200     # is listed from the stable tree
PAGE_MASK = ~(PAGE_SIZE - 1)

DEFAULT_PAGES_TO_SCAN = 100
U8_MAX = 255

# ksm_get_folio() flags
KSM_GET_FOLIO_NOLOCK, KSM_GET_FOLIO_LOCK, KSM_GET_FOLIO_TRYLOCK = 0, 1, 2

# ERR_PTR(-EBUSY) from ksm_get_folio(TRYLOCK) and stable_tree_search().
EBUSY_FOLIO: Any = "ERR_PTR(-EBUSY)"


# ---------------------------------------------------------------------------
# Structures.

class ksm_stable_node:
    """struct ksm_stable_node: a node of the stable tree, one per KSM folio.

    ``hlist`` holds the rmap items of every address that maps the KSM
    folio, most recently added first (hlist_add_head()); ``kfolio`` stands
    for ``kpfn``.  Protected by the KSM folio's lock (and ksm_thread_mutex).
    """

    __slots__ = ("hlist", "kfolio", "rmap_hlist_len")

    def __init__(self, kfolio: folio) -> None:
        self.hlist: list[ksm_rmap_item] = []
        self.kfolio = kfolio
        self.rmap_hlist_len = 0

    def __repr__(self) -> str:
        return f"<stable_node {self.kfolio!r} x{self.rmap_hlist_len}>"


class ksm_rmap_item:
    """struct ksm_rmap_item: the reverse mapping of one (mm, address) KSM has scanned.

    ``address`` carries STABLE_FLAG / UNSTABLE_FLAG and the unstable tree's
    seqnr in its low bits.  While unstable the item remembers the page's
    ``oldchecksum``, ``age`` and ``remaining_skips``; while stable its
    ``anon_vma``, ``linear_page_index`` and ``head`` (the stable node).  The
    two groups share storage in the kernel (a union): setting or clearing
    ``linear_page_index`` wipes the unstable ones, see _set_linear_page_index().
    """

    __slots__ = ("address", "age", "anon_vma", "head", "linear_page_index", "mm",
                 "oldchecksum", "remaining_skips")

    def __init__(self, mm: mm_struct, address: int) -> None:
        self.mm = mm
        self.address = address
        self.oldchecksum: int | None = None      # kmem_cache_zalloc(): no checksum yet
        self.age = 0
        self.remaining_skips = 0
        self.anon_vma: anon_vma | None = None
        self.linear_page_index = 0
        self.head: ksm_stable_node | None = None

    def __repr__(self) -> str:
        flags = "S" if self.address & STABLE_FLAG else "U" if self.address & UNSTABLE_FLAG else "-"
        return f"<rmap_item {self.mm!r} {self.address & PAGE_MASK:#x} {flags}>"


class ksm_mm_slot:
    """struct ksm_mm_slot: an mm KSM scans, with its rmap items in address order."""

    __slots__ = ("mm", "rmap_list")

    def __init__(self, mm: mm_struct) -> None:
        self.mm = mm
        self.rmap_list: list[ksm_rmap_item] = []

    def __repr__(self) -> str:
        return f"<ksm_mm_slot {self.mm!r}>"


class ksm_scan_cursor:
    """struct ksm_scan: the scanning cursor (``mm_slot`` None is &ksm_mm_head).

    ``rmap_list`` is the index in ``mm_slot.rmap_list`` of the next item (the
    kernel's pointer to the link to follow); ``seqnr`` counts full scans.
    """

    __slots__ = ("address", "mm_slot", "rmap_list", "seqnr")

    def __init__(self) -> None:
        self.mm_slot: ksm_mm_slot | None = None
        self.address = 0
        self.rmap_list = 0
        self.seqnr = 0


# ---------------------------------------------------------------------------
# Globals (mm/ksm.c statics).  Reset by reset_ksm() at boot.

root_stable_tree: list[ksm_stable_node] = []
root_unstable_tree: list[ksm_rmap_item] = []
ksm_mm_head: list[ksm_mm_slot] = []               # ksm_mm_head.slot.mm_node, in list order
mm_slots_hash: dict[int, ksm_mm_slot] = {}         # mm.id -> slot (MMF_VM_MERGEABLE)
ksm_scan = ksm_scan_cursor()

ksm_pages_scanned = 0
ksm_pages_shared = 0          # the number of nodes in the stable tree
ksm_pages_sharing = 0         # the number of page slots additionally sharing those nodes
ksm_pages_unshared = 0        # the number of nodes in the unstable tree
ksm_rmap_items = 0
ksm_pages_skipped = 0
ksm_max_page_sharing = 256
ksm_thread_pages_to_scan = DEFAULT_PAGES_TO_SCAN
ksm_thread_sleep_millisecs = 20
ksm_use_zero_pages = False
ksm_smart_scan = True
ksm_run = KSM_RUN_STOP

ksm_thread_mutex = mutex("ksm_thread_mutex")
ksm_mmlist_lock = spinlock_t("ksm_mmlist_lock")


class ksmd_thread:
    """Harness: the ksmd kthread -- where ksm_scan_thread() waits, and its clock.

    ``waiting_on`` is ``"ksm_thread_wait"`` (nothing to do: run != 1 or no
    mm) or ``"ksm_iter_wait"`` (between batches, for ``sleep_ms``);
    ``woken`` is a wake-up whose condition held; ``slept_ms`` is the time
    spent in the current ksm_iter_wait.
    """

    __slots__ = ("sleep_ms", "slept_ms", "task", "waiting_on", "woken")

    def __init__(self) -> None:
        self.task = task_struct(2, "ksmd")
        self.waiting_on = "ksm_thread_wait"
        self.woken = False
        self.sleep_ms = 0
        self.slept_ms = 0


ksmd = ksmd_thread()


def reset_ksm() -> None:
    """Boot state: KSM stopped, no mm slots, empty trees, default knobs, ksmd idle."""
    global ksm_pages_scanned, ksm_pages_shared, ksm_pages_sharing, ksm_pages_unshared
    global ksm_rmap_items, ksm_pages_skipped, ksm_thread_pages_to_scan
    global ksm_thread_sleep_millisecs, ksm_run
    root_stable_tree.clear()
    root_unstable_tree.clear()
    ksm_mm_head.clear()
    mm_slots_hash.clear()
    ksm_scan.__init__()  # type: ignore[misc]
    ksm_pages_scanned = ksm_pages_shared = ksm_pages_sharing = ksm_pages_unshared = 0
    ksm_rmap_items = ksm_pages_skipped = 0
    ksm_thread_pages_to_scan = DEFAULT_PAGES_TO_SCAN
    ksm_thread_sleep_millisecs = 20
    ksm_run = KSM_RUN_STOP
    ksm_thread_mutex.owner = None
    ksm_mmlist_lock.owner = None
    ksmd.__init__()  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Small helpers.

def ksm_test_exit(mm: mm_struct) -> bool:
    """The mm is exiting (no users left): ksmd must not touch its page tables.

    Context: any.
    Return: True if ``mm_users`` is 0.
    """
    return mm.mm_users == 0


def folio_stable_node(folio: folio) -> ksm_stable_node | None:
    """The stable node of a KSM folio (None: not KSM, or KSM without a node).

    Context: any (the node is stable while the folio is locked).
    Return: the stable node, or None.
    """
    return folio.stable_node if folio_test_ksm(folio) else None


def folio_set_stable_node(folio: folio, stable_node: ksm_stable_node | None) -> None:
    """Make ``folio`` a KSM folio of ``stable_node`` (``folio->mapping`` = node | KSM).

    The anon_vma the mapping held is gone: rmap goes through the stable node.
    ``stable_node`` None makes a KSM folio without a node (before
    stable_tree_insert(), or after remove_stable_node()).
    Context: the folio is locked.
    Return: nothing.
    """
    if __debug__:
        VM_WARN_ON_FOLIO(folio_test_anon(folio) and folio.pages[0].anon_exclusive, folio,
                         "folio_set_stable_node: PageAnonExclusive page")
    folio.PG_anon = True
    folio.PG_ksm = True
    folio.anon_vma = None
    folio.stable_node = stable_node


def _set_linear_page_index(rmap_item: ksm_rmap_item, index: int) -> None:
    """Write the stable half of the union: the unstable half (checksum, age) is lost."""
    rmap_item.linear_page_index = index
    rmap_item.oldchecksum = None
    rmap_item.age = 0
    rmap_item.remaining_skips = 0


def calc_checksum(p: page) -> int:
    """The checksum of the page (xxhash in the kernel; the content token here).

    Context: any (the caller holds a reference on the page's folio).
    Return: the checksum.
    """
    return p.content


def memcmp_pages(p1: page, p2: page) -> int:
    """Compare two pages' contents (content tokens stand for the bytes).

    Context: any (the caller holds references on both folios).
    Return: <0, 0 or >0, as memcmp().
    """
    return (p1.content > p2.content) - (p1.content < p2.content)


def pages_identical(p1: page, p2: page) -> bool:
    """Do ``p1`` and ``p2`` hold the same bytes?

    Context: any (the caller holds references on both folios).
    Return: True if they do.
    """
    return memcmp_pages(p1, p2) == 0


def vma_ksm_compatible(vma: vm_area_struct) -> bool:
    """Can KSM merge in ``vma``: private, non-hugetlb anonymous memory only?

    The model's VMAs carry none of the other flags the kernel's rejects
    (VM_PFNMAP, VM_IO, VM_MIXEDMAP, VM_DONTEXPAND, ...).
    Context: mmap_lock held.
    Return: True if it can.
    """
    return not vma.vm_flags & (VM_SHARED | VM_MAYSHARE | VM_HUGETLB)


def find_mergeable_vma(mm: mm_struct, addr: int) -> vm_area_struct | None:
    """The VM_MERGEABLE VMA with an anon_vma at ``addr``.

    Context: mmap_lock held.
    Return: the VMA, or None (the mm is exiting, or no such VMA).
    """
    if ksm_test_exit(mm):
        return None
    vma = vma_lookup(mm, addr)
    if vma is None or not vma.vm_flags & VM_MERGEABLE or vma.anon_vma is None:
        return None
    return vma


def page_address_in_vma(folio: folio, p: page, vma: vm_area_struct) -> int:
    """mm/rmap.c: the user address of page ``p`` of ``folio`` in ``vma``.

    Context: the caller holds a reference on the folio and a lock that keeps
    the VMA from changing (mmap_lock, or i_mmap_rwsem / the anon_vma lock).
    Return: the address, or -EFAULT when the folio's anon_vma is not the
    VMA's (a KSM folio has none) or the page lies outside the VMA.
    """
    if folio_test_anon(folio):
        av = folio_anon_vma(folio)
        if vma.anon_vma is None or av is None or vma.anon_vma.root is not av.root:
            return -EFAULT
    return vma_address(vma, folio.index + p.idx, 1)


# ---------------------------------------------------------------------------
# The keyhole reference and tree maintenance.

def ksm_get_folio(stable_node: ksm_stable_node, flags: int) -> Any:
    """The KSM folio of ``stable_node``, with a reference, if it still is that node's.

    A folio that was freed, or no longer names the node, makes the node
    stale: it is removed from the stable tree (and its items' counts).
    Context: ksmd or the ``run`` writer (ksm_thread_mutex held); may sleep
    for KSM_GET_FOLIO_LOCK.
    Return: the folio (locked for LOCK/TRYLOCK), None (stale), or
    EBUSY_FOLIO when TRYLOCK could not lock it.
    """
    f = stable_node.kfolio
    if f.freed or folio_stable_node(f) is not stable_node:
        remove_node_from_stable_tree(stable_node)
        return None
    folio_get(f)
    if flags == KSM_GET_FOLIO_TRYLOCK:
        if not folio_trylock(f):
            folio_put(f)
            return EBUSY_FOLIO
    elif flags == KSM_GET_FOLIO_LOCK:
        folio_lock(f)
    return f


def remove_node_from_stable_tree(stable_node: ksm_stable_node) -> None:
    """Drop a stable node and unlink every rmap item from it (counts follow).

    Context: ksm_thread_mutex held (ksmd or ``run`` 2).
    Return: nothing.
    """
    global ksm_pages_sharing, ksm_pages_shared
    items = stable_node.hlist
    for i, rmap_item in enumerate(items):
        if i < len(items) - 1:              # rmap_item->hlist.next
            ksm_pages_sharing -= 1
        else:
            ksm_pages_shared -= 1
        if __debug__:
            VM_BUG_ON(stable_node.rmap_hlist_len <= 0, "remove_node_from_stable_tree: rmap_hlist_len")
        stable_node.rmap_hlist_len -= 1
        rmap_item.anon_vma = None           # put_anon_vma()
        _set_linear_page_index(rmap_item, 0)
        rmap_item.address &= PAGE_MASK
        cond_resched()
    stable_node.hlist = []
    if stable_node in root_stable_tree:
        root_stable_tree.remove(stable_node)


def remove_rmap_item_from_tree(rmap_item: ksm_rmap_item) -> None:
    """Take an rmap item out of the stable or unstable tree it is in.

    Context: ksm_thread_mutex held (ksmd or ``run`` 2); may sleep (locks the
    KSM folio of a stable item).
    Return: nothing.
    """
    global ksm_pages_sharing, ksm_pages_shared, ksm_pages_unshared
    if rmap_item.address & STABLE_FLAG:
        stable_node = rmap_item.head
        assert stable_node is not None
        f = ksm_get_folio(stable_node, KSM_GET_FOLIO_LOCK)
        if f is not None:
            stable_node.hlist.remove(rmap_item)
            folio_unlock(f)
            folio_put(f)
            if stable_node.hlist:
                ksm_pages_sharing -= 1
            else:
                ksm_pages_shared -= 1
            if __debug__:
                VM_BUG_ON(stable_node.rmap_hlist_len <= 0, "remove_rmap_item_from_tree: rmap_hlist_len")
            stable_node.rmap_hlist_len -= 1
            rmap_item.anon_vma = None       # put_anon_vma()
            _set_linear_page_index(rmap_item, 0)
            rmap_item.head = None
            rmap_item.address &= PAGE_MASK
    elif rmap_item.address & UNSTABLE_FLAG:
        # Usually the unstable tree was reset already; erase only what
        # this scan inserted.
        age = (ksm_scan.seqnr - rmap_item.address) & 0xff
        VM_BUG_ON(age > 1, "remove_rmap_item_from_tree: unstable item older than one scan")  # BUG_ON
        if not age:
            root_unstable_tree.remove(rmap_item)
        ksm_pages_unshared -= 1
        rmap_item.address &= PAGE_MASK
    cond_resched()


def free_rmap_item(rmap_item: ksm_rmap_item) -> None:
    """Free an rmap item (the model only counts it in ``ksm_rmap_items``).

    Context: ksm_thread_mutex held; the item is in no tree any more.
    Return: nothing.
    """
    global ksm_rmap_items
    ksm_rmap_items -= 1


def remove_trailing_rmap_items(mm_slot: ksm_mm_slot, idx: int) -> None:
    """Free every rmap item of ``mm_slot`` from index ``idx`` on.

    Context: ksm_thread_mutex held, and the slot's mm's mmap_lock.
    Return: nothing.
    """
    while len(mm_slot.rmap_list) > idx:
        rmap_item = mm_slot.rmap_list.pop(idx)
        remove_rmap_item_from_tree(rmap_item)
        free_rmap_item(rmap_item)


def advance_scan_mm_slot(mm_slot: ksm_mm_slot | None) -> ksm_mm_slot | None:
    """Move the cursor to the slot after ``mm_slot`` (None: the first slot).

    The kernel does this inline (``list_entry(mm_slot->slot.mm_node.next)``).
    Context: ksm_mmlist_lock held.
    Return: the new cursor slot, or None back at the head of the list.
    """
    if mm_slot is None:
        nxt = ksm_mm_head[0] if ksm_mm_head else None
    else:
        i = ksm_mm_head.index(mm_slot)
        nxt = ksm_mm_head[i + 1] if i + 1 < len(ksm_mm_head) else None
    ksm_scan.mm_slot = nxt
    return nxt


def _mm_slot_remove(mm_slot: ksm_mm_slot) -> None:
    """mm_slot_remove() + hash removal: the mm is no longer MMF_VM_MERGEABLE."""
    ksm_mm_head.remove(mm_slot)
    mm_slots_hash.pop(mm_slot.mm.id, None)


# ---------------------------------------------------------------------------
# Breaking KSM mappings.

def _break_ksm_walk(vma: vm_area_struct, addr: int, end: int) -> int | None:
    """break_ksm_pmd_entry(): the first address in [addr, end) whose pte maps a KSM folio."""
    mm = vma.vm_mm
    if ksm_test_exit(mm):
        return None
    while addr < end:
        nxt = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        pmd = pmd_off(mm, addr)
        if pmd is not None:
            start_pte, ptl = pte_offset_map_lock(mm, pmd, addr)
            assert start_pte is not None
            ptep = start_pte
            while addr < nxt:
                pte = ptep_get(ptep)
                if pte_present(pte):
                    f = vm_normal_folio(vma, addr, pte)
                    if f is not None and folio_test_ksm(f):
                        pte_unmap_unlock(start_pte, ptl)
                        return addr
                ptep += 1
                addr += PAGE_SIZE
            pte_unmap_unlock(start_pte, ptl)
        addr = nxt
    return None


def break_ksm(vma: vm_area_struct, addr: int, end: int, lock_vma: bool) -> int:
    """Replace every KSM mapping in ``[addr, end)`` by a private copy (an unsharing fault).

    Only a KSM folio in a VM_MERGEABLE VMA is touched; ``lock_vma`` is the
    kernel's choice of walk (it write-locks the VMA, for ksm_madvise()).
    Context: mmap_lock held (for write with ``lock_vma``); may sleep.
    Return: 0, or -ENOMEM when a copy could not be made (VM_FAULT_OOM).
    """
    if __debug__:
        lockdep_assert_held(vma.vm_mm.mmap_lock)   # the page walk: mmap_assert_locked()
    ret = 0
    while True:
        cond_resched()
        found = _break_ksm_walk(vma, addr, end)
        if found is None:
            return 0
        addr = found
        ret = handle_mm_fault(vma, addr, FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE)
        if ret & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_OOM):
            break
    return -ENOMEM if ret & VM_FAULT_OOM else 0


def break_cow(rmap_item: ksm_rmap_item) -> None:
    """Undo a merge whose rmap item never reached the stable tree.

    Context: ksmd (ksm_thread_mutex held); takes the item's mm's mmap_lock.
    Return: nothing.
    """
    mm = rmap_item.mm
    addr = rmap_item.address & PAGE_MASK
    rmap_item.anon_vma = None                   # put_anon_vma()
    _set_linear_page_index(rmap_item, 0)
    mutex_lock(mm.mmap_lock)
    vma = find_mergeable_vma(mm, addr)
    if vma is not None:
        break_ksm(vma, addr, addr + PAGE_SIZE, False)
    mutex_unlock(mm.mmap_lock)


def get_mergeable_page(rmap_item: ksm_rmap_item) -> page | None:
    """The anon page mapped at the item's address now, with a folio reference.

    Context: ksmd (ksm_thread_mutex held); takes the item's mm's mmap_lock
    and the PTL.
    Return: the page, or None (no mergeable VMA, no present anon page).
    """
    mm = rmap_item.mm
    addr = rmap_item.address & PAGE_MASK
    p = None
    mutex_lock(mm.mmap_lock)
    vma = find_mergeable_vma(mm, addr)
    if vma is not None:
        pmd = pmd_off(mm, addr)
        if pmd is not None:
            ptep, ptl = pte_offset_map_lock(mm, pmd, addr)
            pte = ptep_get(ptep)  # type: ignore[arg-type]
            if pte_present(pte):
                f = vm_normal_folio(vma, addr, pte)
                if f is not None and folio_test_anon(f):
                    folio_get(f)
                    p = pte.page
            pte_unmap_unlock(ptep, ptl)
    mutex_unlock(mm.mmap_lock)
    return p


# ---------------------------------------------------------------------------
# Merging.

def write_protect_page(vma: vm_area_struct, folio: folio, orig_pte: list[pte_t]) -> int:
    """Make the one pte mapping ``folio`` in ``vma`` read-only and clean.

    Fails when somebody else holds a reference (GUP, I/O): the refcount must
    be the mapcount plus our reference plus the swap cache's.
    Context: the folio is locked.
    Return: 0 (``orig_pte[0]`` is the pte now), or -EFAULT.
    """
    mm = vma.vm_mm
    if WARN_ON_ONCE(folio_test_large(folio), "write_protect_page: large folio"):
        return -EFAULT
    address = page_address_in_vma(folio, folio.pages[0], vma)
    if address < 0:
        return -EFAULT
    pmd = pmd_off(mm, address)
    if pmd is None:
        return -EFAULT
    ptep, ptl = pte_offset_map_lock(mm, pmd, address)
    assert ptep is not None
    entry = ptep_get(ptep)
    # page_vma_mapped_walk(): this pte must map the folio.
    if not pte_present(entry) or entry.page is None or entry.page.folio is not folio:
        pte_unmap_unlock(ptep, ptl)
        return -EFAULT
    anon_exclusive = folio.pages[0].anon_exclusive
    if pte_write(entry) or pte_dirty(entry) or anon_exclusive:
        swapped = folio_test_swapcache(folio)
        entry = ptep_clear_flush(mm, address, ptep)
        # Check that no O_DIRECT or similar I/O is in progress on the page.
        if folio_mapcount(folio) + 1 + swapped != folio_ref_count(folio):
            set_pte_at(mm, address, ptep, entry)
            pte_unmap_unlock(ptep, ptl)
            return -EFAULT
        # See folio_try_share_anon_rmap_pte(): clear the pte first.
        if anon_exclusive and folio_try_share_anon_rmap_pte(folio, folio.pages[0]):
            set_pte_at(mm, address, ptep, entry)
            pte_unmap_unlock(ptep, ptl)
            return -EFAULT
        if pte_dirty(entry):
            folio_mark_dirty(folio)
        entry = pte_wrprotect(pte_mkclean(entry))
        set_pte_at(mm, address, ptep, entry)
    orig_pte.append(entry)
    pte_unmap_unlock(ptep, ptl)
    return 0


def replace_page(vma: vm_area_struct, p: page, kpage: page, orig_pte: pte_t) -> int:
    """Map the KSM page ``kpage`` where ``p`` was mapped; drop ``p``.

    Context: ``p``'s folio is locked.
    Return: 0, or -EFAULT when the pte changed meanwhile.
    """
    kfolio = kpage.folio
    mm = vma.vm_mm
    f = p.folio
    addr = page_address_in_vma(f, p, vma)
    if addr < 0:
        return -EFAULT
    pmd = pmd_off(mm, addr)
    if pmd is None:
        return -EFAULT
    ptep, ptl = pte_offset_map_lock(mm, pmd, addr)
    assert ptep is not None
    if not pte_same(ptep_get(ptep), orig_pte):
        pte_unmap_unlock(ptep, ptl)
        return -EFAULT
    if __debug__:
        VM_BUG_ON(p.anon_exclusive, "replace_page: PageAnonExclusive page")
        VM_BUG_ON_FOLIO(folio_test_anon(kfolio) and kpage.anon_exclusive, kfolio,
                        "replace_page: PageAnonExclusive KSM page")
    folio_get(kfolio)
    folio_add_anon_rmap_pte(kfolio, kpage, vma, addr, RMAP_NONE)
    newpte = mk_pte(kpage)
    ptep_clear_flush(mm, addr, ptep)
    set_pte_at(mm, addr, ptep, newpte)
    folio_remove_rmap_pte(f, p, vma)
    if not folio_mapped(f):
        folio_free_swap(f)
    folio_put(f)
    pte_unmap_unlock(ptep, ptl)
    return 0


def try_to_merge_one_page(vma: vm_area_struct, p: page, kpage: page | None) -> int:
    """Merge ``p`` into the KSM page ``kpage``, or (``kpage`` None) make ``p`` a KSM page.

    Context: ksmd; mmap_lock of ``vma``'s mm held; ``p``'s folio is not locked
    (it is trylocked here).
    Return: 0 if merged, -EFAULT otherwise.
    """
    f = p.folio
    err = -EFAULT
    if p is kpage:                              # ksm page forked
        return 0
    if not folio_test_anon(f):
        return err
    # We need the folio lock to read a stable swapcache flag; trylock:
    # rather continue scanning and come back to this page later.
    if not folio_trylock(f):
        return err
    if __debug__:
        VM_WARN_ON_FOLIO(folio_test_large(f), f, "try_to_merge_one_page: large folios are not modeled")
    orig_pte: list[pte_t] = []
    if write_protect_page(vma, f, orig_pte) == 0:
        if kpage is None:
            # Upgrade the folio to a KSM folio without a node yet:
            # stable_tree_insert() will set it.
            folio_set_stable_node(f, None)
            # Page reclaim just frees a clean folio with no dirty ptes:
            # make sure that the ksm page would be swapped.
            if not folio_test_dirty(f):
                folio_mark_dirty(f)
            err = 0
        elif pages_identical(p, kpage):
            err = replace_page(vma, p, kpage, orig_pte[0])
    folio_unlock(f)
    return err


def try_to_merge_with_zero_page(rmap_item: ksm_rmap_item, p: page) -> int:
    """Merge with the zero page: ``use_zero_pages`` is off (the default), so never.

    Context: ksmd.
    Return: -EFAULT.
    """
    return -EFAULT


def try_to_merge_with_ksm_page(rmap_item: ksm_rmap_item, p: page, kpage: page | None) -> int:
    """Merge the page of ``rmap_item`` into ``kpage`` (or make it one); record its rmap.

    Context: ksmd (ksm_thread_mutex held); takes the item's mm's mmap_lock.
    Return: 0 if merged, -EFAULT otherwise.
    """
    mm = rmap_item.mm
    addr = rmap_item.address & PAGE_MASK
    err = -EFAULT
    mutex_lock(mm.mmap_lock)
    vma = find_mergeable_vma(mm, addr)
    if vma is not None:
        err = try_to_merge_one_page(vma, p, kpage)
        if not err:
            # Unstable nid is in union with stable anon_vma: remove first.
            remove_rmap_item_from_tree(rmap_item)
            rmap_item.anon_vma = vma.anon_vma   # get_anon_vma()
            _set_linear_page_index(rmap_item, linear_page_index(vma, addr))
    mutex_unlock(mm.mmap_lock)
    return err


def try_to_merge_two_pages(rmap_item: ksm_rmap_item, p: page, tree_rmap_item: ksm_rmap_item,
                           tree_page: page) -> folio | None:
    """Make ``p`` a KSM page and merge ``tree_page`` into it.

    If the second merge fails, the first is undone (break_cow()).
    Context: ksmd (ksm_thread_mutex held); no mmap_lock held.
    Return: the KSM folio (``p``'s), or None.
    """
    err = try_to_merge_with_ksm_page(rmap_item, p, None)
    if not err:
        err = try_to_merge_with_ksm_page(tree_rmap_item, tree_page, p)
        # If that fails, we have a ksm page with only one pte pointing to it.
        if err:
            break_cow(rmap_item)
    return None if err else p.folio


def is_page_sharing_candidate(stable_node: ksm_stable_node) -> bool:
    """Can ``stable_node``'s KSM folio take one more mapping (mapped, below ``max_page_sharing``)?

    Context: ksm_thread_mutex held.
    Return: True if it can.
    """
    return bool(stable_node.rmap_hlist_len) and stable_node.rmap_hlist_len < ksm_max_page_sharing


def stable_tree_search(p: page) -> Any:
    """A KSM folio with the contents of ``p`` that can take one more mapping.

    Context: ksmd (ksm_thread_mutex held); a reference on ``p``'s folio; no
    folio locked (a tree folio is trylocked here).
    Return: the folio (with a reference), None, or EBUSY_FOLIO.
    """
    f = p.folio
    page_node = folio_stable_node(f)
    if page_node is not None:                   # ksm page forked
        folio_get(f)
        return f
    for stable_node in list(root_stable_tree):  # noqa: PERF101 -- stale nodes leave it
        cond_resched()
        if stable_node not in root_stable_tree:
            continue                            # removed while we looked at another
        tree_folio = ksm_get_folio(stable_node, KSM_GET_FOLIO_NOLOCK)
        if tree_folio is None:
            continue                            # stale node dropped: search on
        ret = memcmp_pages(p, tree_folio.pages[0])
        folio_put(tree_folio)
        if ret:
            continue
        if not is_page_sharing_candidate(stable_node):
            continue                            # a full dup: look for another
        tree_folio = ksm_get_folio(stable_node, KSM_GET_FOLIO_TRYLOCK)
        if tree_folio is EBUSY_FOLIO:
            return EBUSY_FOLIO
        if tree_folio is None:
            continue
        folio_unlock(tree_folio)
        return tree_folio
    return None


def stable_tree_insert(kfolio: folio) -> ksm_stable_node:
    """Insert a node for the new KSM folio ``kfolio``.

    Context: ksm_thread_mutex held; ``kfolio`` is locked.
    Return: the new node (the kernel's returns NULL when it cannot allocate).
    """
    stable_node_dup = ksm_stable_node(kfolio)
    root_stable_tree.append(stable_node_dup)
    folio_set_stable_node(kfolio, stable_node_dup)
    return stable_node_dup


def unstable_tree_search_insert(rmap_item: ksm_rmap_item, p: page,
                                tree_pagep: list[page]) -> ksm_rmap_item | None:
    """An unstable-tree item whose page equals ``p``, else insert ``rmap_item``.

    Context: ksmd (ksm_thread_mutex held); takes each tree item's mm's mmap_lock.
    Return: the tree item (its page, with a reference, in ``tree_pagep``), or None.
    """
    global ksm_pages_unshared
    for tree_rmap_item in list(root_unstable_tree):  # noqa: PERF101
        cond_resched()
        tree_page = get_mergeable_page(tree_rmap_item)
        if tree_page is None:
            continue
        # Don't substitute a ksm page for a forked page.
        if tree_page is p:
            folio_put(tree_page.folio)
            return None
        if memcmp_pages(p, tree_page):
            folio_put(tree_page.folio)
            continue
        tree_pagep.append(tree_page)
        return tree_rmap_item
    rmap_item.address |= UNSTABLE_FLAG
    rmap_item.address |= ksm_scan.seqnr & SEQNR_MASK
    root_unstable_tree.append(rmap_item)
    ksm_pages_unshared += 1
    return None


def stable_tree_append(rmap_item: ksm_rmap_item, stable_node: ksm_stable_node,
                       max_page_sharing_bypass: bool) -> None:
    """Add ``rmap_item`` to the mappings of ``stable_node``'s KSM folio.

    The first item of a node counts in ``ksm_pages_shared``, every further
    one in ``ksm_pages_sharing``.
    Context: ksm_thread_mutex held; the KSM folio is locked.
    Return: nothing.
    """
    global ksm_pages_sharing, ksm_pages_shared
    VM_BUG_ON(stable_node.rmap_hlist_len < 0, "stable_tree_append: rmap_hlist_len")  # BUG_ON
    stable_node.rmap_hlist_len += 1
    if not max_page_sharing_bypass:
        WARN_ON_ONCE(stable_node.rmap_hlist_len > ksm_max_page_sharing,
                     "stable_tree_append: over max_page_sharing")
    rmap_item.head = stable_node
    rmap_item.address |= STABLE_FLAG
    shared = bool(stable_node.hlist)
    stable_node.hlist.insert(0, rmap_item)      # hlist_add_head()
    if shared:
        ksm_pages_sharing += 1
    else:
        ksm_pages_shared += 1


def cmp_and_merge_page(p: page, rmap_item: ksm_rmap_item) -> None:
    """Merge ``p`` into the stable tree, or find it a twin in the unstable tree.

    See the module notes for the order of the steps.
    Context: ksmd (ksm_thread_mutex held); a reference on ``p``'s folio; no
    other locks held.
    Return: nothing.
    """
    f = p.folio
    max_page_sharing_bypass = False
    stable_node = folio_stable_node(f)
    if stable_node is not None:
        if rmap_item.head is stable_node:
            return
        # A KSM fork may go over the sharing limit without warnings.
        if not is_page_sharing_candidate(stable_node):
            max_page_sharing_bypass = True
    else:
        remove_rmap_item_from_tree(rmap_item)
        # A page whose checksum changed since the last scan is changing
        # frequently: keep it out of the unstable tree.
        checksum = calc_checksum(p)
        if rmap_item.oldchecksum != checksum:
            rmap_item.oldchecksum = checksum
            return
        if not try_to_merge_with_zero_page(rmap_item, p):
            return
    # Start by searching for the folio in the stable tree.
    kfolio = stable_tree_search(p)
    if kfolio is f and rmap_item.head is stable_node:
        folio_put(kfolio)
        return
    remove_rmap_item_from_tree(rmap_item)
    if kfolio is not None:
        if kfolio is EBUSY_FOLIO:
            return
        err = try_to_merge_with_ksm_page(rmap_item, p, kfolio.pages[0])
        if not err:
            # Merged: add its rmap_item to the stable tree.
            folio_lock(kfolio)
            node = folio_stable_node(kfolio)
            assert node is not None
            stable_tree_append(rmap_item, node, max_page_sharing_bypass)
            folio_unlock(kfolio)
        folio_put(kfolio)
        return
    tree_pagep: list[page] = []
    tree_rmap_item = unstable_tree_search_insert(rmap_item, p, tree_pagep)
    if tree_rmap_item is not None:
        tree_page = tree_pagep[0]
        kfolio = try_to_merge_two_pages(rmap_item, p, tree_rmap_item, tree_page)
        folio_put(tree_page.folio)
        if kfolio is not None:
            # Merged: insert a new node in the stable tree, add both items.
            folio_lock(kfolio)
            node = stable_tree_insert(kfolio)
            stable_tree_append(tree_rmap_item, node, False)
            stable_tree_append(rmap_item, node, False)
            folio_unlock(kfolio)


# ---------------------------------------------------------------------------
# The scan.

def get_next_rmap_item(mm_slot: ksm_mm_slot, addr: int) -> ksm_rmap_item:
    """The item for ``addr`` at the cursor, freeing items of addresses passed by.

    ``ksm_scan.rmap_list`` indexes ``mm_slot.rmap_list``.
    Context: ksmd (ksm_thread_mutex held); the slot's mm's mmap_lock held.
    Return: the item found, or a new one inserted at the cursor.
    """
    global ksm_rmap_items
    rmap_list = mm_slot.rmap_list
    idx = ksm_scan.rmap_list
    while idx < len(rmap_list):
        rmap_item = rmap_list[idx]
        if rmap_item.address & PAGE_MASK == addr:
            return rmap_item
        if rmap_item.address > addr:
            break
        rmap_list.pop(idx)
        remove_rmap_item_from_tree(rmap_item)
        free_rmap_item(rmap_item)
    rmap_item = ksm_rmap_item(mm_slot.mm, addr)
    ksm_rmap_items += 1
    rmap_list.insert(idx, rmap_item)
    return rmap_item


def skip_age(age: int) -> int:
    """How many scans to skip a page that has not merged for ``age`` scans.

    Context: any.
    Return: 1, 2, 4 or 8.
    """
    if age <= 3:
        return 1
    if age <= 5:
        return 2
    if age <= 8:
        return 4
    return 8


def should_skip_rmap_item(f: folio, rmap_item: ksm_rmap_item) -> bool:
    """Smart scan: skip pages that repeatedly failed to merge (after 3 scans).

    A skipped item leaves the tree it was in.
    Context: ksmd (ksm_thread_mutex held); the item's mm's mmap_lock held.
    Return: True if the page is skipped this scan.
    """
    global ksm_pages_skipped
    if not ksm_smart_scan:
        return False
    if folio_test_ksm(f):
        return False
    if rmap_item.address & STABLE_FLAG:
        return False
    age = rmap_item.age
    if age != U8_MAX:
        rmap_item.age += 1
    if age < 3:
        return False
    if not rmap_item.remaining_skips:
        rmap_item.remaining_skips = skip_age(age)
        return False
    ksm_pages_skipped += 1
    rmap_item.remaining_skips -= 1
    remove_rmap_item_from_tree(rmap_item)
    return True


def ksm_next_page(vma: vm_area_struct, addr: int, end: int) -> tuple[folio, page, int] | None:
    """The next present anon page in ``[addr, end)``: the page walk with ksm_next_page_pmd_entry().

    Context: mmap_lock held (the page walk asserts it); takes the PTL.
    Return: (folio, page, address) with a folio reference, or None.
    """
    if __debug__:
        lockdep_assert_held(vma.vm_mm.mmap_lock)   # the page walk: mmap_assert_locked()
    mm = vma.vm_mm
    if ksm_test_exit(mm):
        return None
    while addr < end:
        nxt = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        pmd = pmd_off(mm, addr)
        if pmd is not None:
            start_pte, ptl = pte_offset_map_lock(mm, pmd, addr)
            assert start_pte is not None
            ptep = start_pte
            while addr < nxt:
                pte = ptep_get(ptep)
                if pte_present(pte):
                    f = vm_normal_folio(vma, addr, pte)
                    if f is not None and folio_test_anon(f):
                        folio_get(f)
                        pte_unmap_unlock(start_pte, ptl)
                        assert pte.page is not None
                        return f, pte.page, addr
                ptep += 1
                addr += PAGE_SIZE
            pte_unmap_unlock(start_pte, ptl)
        addr = nxt
    return None


def scan_get_next_rmap_item() -> tuple[ksm_rmap_item | None, page | None]:
    """Advance the cursor to the next present anon page of a mergeable VMA.

    The start of a full scan empties the unstable tree; the end of one
    (back at the head) bumps ``seqnr`` (``full_scans``) and returns None.
    Context: ksmd (ksm_thread_mutex held), no other locks held; takes each
    mm's mmap_lock and ksm_mmlist_lock.
    Return: (rmap item, page with a folio reference) or (None, None).
    """
    if not ksm_mm_head:
        return None, None
    mm_slot = ksm_scan.mm_slot
    new_mm = False
    if mm_slot is None:
        root_unstable_tree.clear()              # root_unstable_tree = RB_ROOT
        spin_lock(ksm_mmlist_lock)
        mm_slot = advance_scan_mm_slot(None)
        spin_unlock(ksm_mmlist_lock)
        if mm_slot is None:
            return None, None
        new_mm = True
    while True:
        assert mm_slot is not None
        if new_mm:
            ksm_scan.address = 0
            ksm_scan.rmap_list = 0
        mm = mm_slot.mm
        mutex_lock(mm.mmap_lock)
        exiting = ksm_test_exit(mm)
        if not exiting:
            start = ksm_scan.address
            for vma in for_each_vma(mm):
                if vma.vm_end <= start or not vma.vm_flags & VM_MERGEABLE:
                    continue
                ksm_scan.address = max(ksm_scan.address, vma.vm_start)
                if vma.anon_vma is None:
                    ksm_scan.address = vma.vm_end
                while ksm_scan.address < vma.vm_end:
                    if ksm_test_exit(mm):
                        exiting = True
                        break
                    found = ksm_next_page(vma, ksm_scan.address, vma.vm_end)
                    if found is not None:
                        f, tmp_page, ksm_scan.address = found
                        rmap_item = get_next_rmap_item(mm_slot, ksm_scan.address)
                        ksm_scan.rmap_list = mm_slot.rmap_list.index(rmap_item) + 1
                        if not should_skip_rmap_item(f, rmap_item):
                            ksm_scan.address += PAGE_SIZE
                            mutex_unlock(mm.mmap_lock)
                            return rmap_item, tmp_page
                        folio_put(f)
                    else:
                        ksm_scan.address = vma.vm_end - PAGE_SIZE
                    # next_page:
                    ksm_scan.address += PAGE_SIZE
                    cond_resched()
                if exiting:
                    break
        if exiting:
            # no_vmas:
            ksm_scan.address = 0
            ksm_scan.rmap_list = 0
        # Nuke the rmap items above the cursor: no mergeable page there.
        remove_trailing_rmap_items(mm_slot, ksm_scan.rmap_list)
        spin_lock(ksm_mmlist_lock)
        advance_scan_mm_slot(mm_slot)
        if ksm_scan.address == 0:
            # A full scan of this mm found no VM_MERGEABLE VMA: forget it.
            _mm_slot_remove(mm_slot)
            spin_unlock(ksm_mmlist_lock)
            mutex_unlock(mm.mmap_lock)
        else:
            mutex_unlock(mm.mmap_lock)
            spin_unlock(ksm_mmlist_lock)
        # Repeat until we've completed scanning the whole list.
        mm_slot = ksm_scan.mm_slot
        if mm_slot is not None:
            new_mm = True
            continue
        ksm_scan.seqnr += 1
        return None, None


def ksm_do_scan(scan_npages: int) -> None:
    """The ksm scanner's main worker: look at up to ``scan_npages`` pages.

    Context: ksmd, ksm_thread_mutex held.
    Return: nothing.
    """
    global ksm_pages_scanned
    while scan_npages:
        scan_npages -= 1
        cond_resched()
        rmap_item, p = scan_get_next_rmap_item()
        if rmap_item is None or p is None:
            return
        cmp_and_merge_page(p, rmap_item)
        folio_put(p.folio)
        ksm_pages_scanned += 1


def ksmd_should_run() -> bool:
    """Is there merging work for ksmd (``run`` 1 and an mm registered)?

    Context: any.
    Return: True if there is.
    """
    return bool(ksm_run & KSM_RUN_MERGE) and bool(ksm_mm_head)


def ksm_scan_thread() -> None:
    """One turn of ksmd's loop (ksm_scan_thread()): a batch if there is work, then wait for a wake-up.

    Context: runs as the ksmd task (see ksmd_run_pending()), no locks held;
    takes ksm_thread_mutex.
    Return: nothing.
    """
    mutex_lock(ksm_thread_mutex)
    if ksmd_should_run():
        ksm_do_scan(ksm_thread_pages_to_scan)
    mutex_unlock(ksm_thread_mutex)
    if ksmd_should_run():
        ksmd.waiting_on = "ksm_iter_wait"
        ksmd.sleep_ms = ksm_thread_sleep_millisecs
        ksmd.slept_ms = 0
    else:
        ksmd.waiting_on = "ksm_thread_wait"


def wake_up_ksm_thread_wait() -> None:
    """wake_up_interruptible(&ksm_thread_wait): ksmd waits there only when idle.

    Context: any.
    Return: nothing.
    """
    if ksmd.waiting_on == "ksm_thread_wait" and ksmd_should_run():
        ksmd.woken = True


def wake_up_ksm_iter_wait() -> None:
    """wake_up_interruptible(&ksm_iter_wait): ends a sleep only if ``sleep_millisecs`` changed.

    Context: any.
    Return: nothing.
    """
    if ksmd.waiting_on == "ksm_iter_wait" and ksmd.sleep_ms != ksm_thread_sleep_millisecs:
        ksmd.woken = True


def ksmd_run_pending(max_batches: int = 1000) -> int:
    """Harness: ksmd runs what its wake-ups asked for, one batch per wake-up.

    Called when the model returns to user space (the 1-CPU guest runs ksmd
    while the scenario process waits).
    Context: harness, between operations; no locks held.
    Return: the batches run.
    """
    n = 0
    while ksmd.woken and n < max_batches:
        ksmd.woken = False
        prev = get_current()
        set_current(ksmd.task)
        try:
            ksm_scan_thread()
        finally:
            set_current(prev)
        n += 1
    return n


def ksmd_timer(ms: int, max_batches: int = 100) -> int:
    """Harness: ``ms`` milliseconds pass; ksmd's sleeps between batches time out.

    Context: harness, between operations; no locks held.
    Return: the batches run (at most ``max_batches``).
    """
    n = 0
    while ksmd.waiting_on == "ksm_iter_wait" and n < max_batches:
        left = ksmd.sleep_ms - ksmd.slept_ms
        if ms < left:
            ksmd.slept_ms += ms
            break
        ms -= left
        ksmd.woken = True
        n += ksmd_run_pending(1)
    return n


# ---------------------------------------------------------------------------
# madvise, mm enter/exit.

def __ksm_enter(mm: mm_struct) -> int:
    """Register ``mm`` with KSM (its first VM_MERGEABLE area, or a fork of a KSM mm).

    Context: the mm's mmap_lock held (madvise, or fork's dup_mmap()); takes
    ksm_mmlist_lock.
    Return: 0 (the kernel's -ENOMEM when the mm slot cannot be allocated).
    """
    mm_slot = ksm_mm_slot(mm)
    spin_lock(ksm_mmlist_lock)
    needs_wakeup = not ksm_mm_head
    mm_slots_hash[mm.id] = mm_slot
    # KSM_RUN_MERGE: insert just behind the cursor, to let the area
    # settle down a little; KSM_RUN_UNMERGE: at the end of the list.
    if ksm_run & KSM_RUN_UNMERGE or ksm_scan.mm_slot is None:
        ksm_mm_head.append(mm_slot)
    else:
        ksm_mm_head.insert(ksm_mm_head.index(ksm_scan.mm_slot), mm_slot)
    spin_unlock(ksm_mmlist_lock)
    if needs_wakeup:
        wake_up_ksm_thread_wait()
    return 0


def mm_flags_test_vm_mergeable(mm: mm_struct) -> bool:
    """test_bit(MMF_VM_MERGEABLE, &mm->flags): ``mm`` is registered with KSM.

    Context: any.
    Return: True if it is.
    """
    return mm.id in mm_slots_hash


def __ksm_exit(mm: mm_struct) -> None:
    """The process is exiting: free its slot at once if that is easy, else leave it to ksmd.

    When ksmd may be using the mm, the mmap_lock is taken and released to
    wait for it.
    Context: __mmput() (``mm_users`` 0); takes ksm_mmlist_lock, may sleep.
    Return: nothing.
    """
    spin_lock(ksm_mmlist_lock)
    mm_slot = mm_slots_hash.get(mm.id)
    easy_to_free = False
    if mm_slot is not None and ksm_scan.mm_slot is not mm_slot:
        if not mm_slot.rmap_list:
            _mm_slot_remove(mm_slot)
            easy_to_free = True
        elif ksm_scan.mm_slot is not None:
            # list_move() just behind the cursor.
            ksm_mm_head.remove(mm_slot)
            ksm_mm_head.insert(ksm_mm_head.index(ksm_scan.mm_slot), mm_slot)
        else:
            ksm_mm_head.remove(mm_slot)
            ksm_mm_head.append(mm_slot)
    spin_unlock(ksm_mmlist_lock)
    if not easy_to_free and mm_slot is not None:
        mutex_lock(mm.mmap_lock)
        mutex_unlock(mm.mmap_lock)


def ksm_madvise(vma: vm_area_struct, start: int, end: int, advice: int,
                vm_flags: list[int]) -> int:
    """MADV_MERGEABLE / MADV_UNMERGEABLE on ``[start, end)`` of ``vma``.

    MADV_UNMERGEABLE breaks every KSM mapping in the range with a private
    copy (``cow_ksm``); KSM's rmap items stay until the next scan.
    ``vm_flags[0]`` is the VMA's new flags (the kernel's ``*vm_flags``).
    Context: mmap_lock held (write in the kernel).
    Return: 0 or -ENOMEM.
    """
    mm = vma.vm_mm
    if advice == MADV_MERGEABLE:
        if vma.vm_flags & VM_MERGEABLE:
            return 0
        if not vma_ksm_compatible(vma):
            return 0
        if mm.id not in mm_slots_hash:          # !MMF_VM_MERGEABLE
            err = __ksm_enter(mm)
            if err:
                return err
        vm_flags[0] |= VM_MERGEABLE
    elif advice == MADV_UNMERGEABLE:
        if not vm_flags[0] & VM_MERGEABLE:
            return 0                            # just ignore the advice
        if vma.anon_vma is not None:
            err = break_ksm(vma, start, end, True)
            if err:
                return err
        vm_flags[0] &= ~VM_MERGEABLE
    return 0


# ---------------------------------------------------------------------------
# run = 2.

def remove_stable_node(stable_node: ksm_stable_node) -> int:
    """Drop a node whose KSM folio is not mapped (the folio stays KSM, without a node).

    Context: ksm_thread_mutex held (``run`` 2); may sleep (locks the folio).
    Return: 0, or -EBUSY while the folio is still mapped.
    """
    f = ksm_get_folio(stable_node, KSM_GET_FOLIO_LOCK)
    if f is None:
        return 0                                # ksm_get_folio() removed it
    err = -EBUSY
    if not folio_mapped(f):
        folio_set_stable_node(f, None)
        remove_node_from_stable_tree(stable_node)
        err = 0
    folio_unlock(f)
    folio_put(f)
    return err


def remove_all_stable_nodes() -> int:
    """Drop every stable node whose KSM folio is no longer mapped.

    Context: ksm_thread_mutex held (``run`` 2); may sleep.
    Return: 0, or -EBUSY when some node's folio is still mapped.
    """
    err = 0
    for stable_node in list(root_stable_tree):  # noqa: PERF101 -- stale nodes leave it
        if stable_node in root_stable_tree and remove_stable_node(stable_node):
            err = -EBUSY
        cond_resched()
    return err


def unmerge_and_remove_all_rmap_items() -> int:
    """``run`` = 2: break every mapped KSM page; forget every rmap item and stable node.

    Context: ksm_thread_mutex held; process context (the sysfs writer).
    Return: 0 or -ENOMEM.
    """
    spin_lock(ksm_mmlist_lock)
    advance_scan_mm_slot(None)
    spin_unlock(ksm_mmlist_lock)
    mm_slot = ksm_scan.mm_slot
    while mm_slot is not None:
        mm = mm_slot.mm
        mutex_lock(mm.mmap_lock)
        if not ksm_test_exit(mm):
            for vma in for_each_vma(mm):
                if not vma.vm_flags & VM_MERGEABLE or vma.anon_vma is None:
                    continue
                err = break_ksm(vma, vma.vm_start, vma.vm_end, False)
                if err:
                    mutex_unlock(mm.mmap_lock)
                    spin_lock(ksm_mmlist_lock)
                    ksm_scan.mm_slot = None
                    spin_unlock(ksm_mmlist_lock)
                    return err
        remove_trailing_rmap_items(mm_slot, 0)
        mutex_unlock(mm.mmap_lock)
        spin_lock(ksm_mmlist_lock)
        advance_scan_mm_slot(mm_slot)
        if ksm_test_exit(mm):
            _mm_slot_remove(mm_slot)
        spin_unlock(ksm_mmlist_lock)
        mm_slot = ksm_scan.mm_slot
    # Clean up stable nodes, but don't worry if some are still busy.
    remove_all_stable_nodes()
    ksm_scan.seqnr = 0
    return 0


# ---------------------------------------------------------------------------
# /sys/kernel/mm/ksm/.

def _kstrtouint(buf: str) -> int | None:
    """kstrtouint(): ``buf`` as an unsigned int, or None (the kernel's -EINVAL / -ERANGE)."""
    s = buf.strip()
    if not s.isdigit():
        return None
    v = int(s)
    return v if v < 1 << 32 else None


def run_store(buf: str) -> int:
    """A write to ``run``: 0 stop, 1 merge (wakes ksmd), 2 unmerge everything.

    Context: process context (the sysfs writer), no locks held; takes
    ksm_thread_mutex.
    Return: 0 (the kernel's write returns the byte count), -EINVAL for a bad
    value, or the error of unmerge_and_remove_all_rmap_items() (-ENOMEM).
    """
    global ksm_run
    flags = _kstrtouint(buf)
    if flags is None or flags > KSM_RUN_UNMERGE:
        return -EINVAL
    err = 0
    mutex_lock(ksm_thread_mutex)
    if ksm_run != flags:
        ksm_run = flags
        if flags & KSM_RUN_UNMERGE:
            err = unmerge_and_remove_all_rmap_items()
            if err:
                ksm_run = KSM_RUN_STOP
    mutex_unlock(ksm_thread_mutex)
    if flags & KSM_RUN_MERGE:
        wake_up_ksm_thread_wait()
    return err


def pages_to_scan_store(buf: str) -> int:
    """A write to ``pages_to_scan``: the batch ksmd scans per wake-up.

    Context: process context (the sysfs writer).
    Return: 0 (the kernel's write returns the byte count), or -EINVAL for a
    value that is not an unsigned int.
    """
    global ksm_thread_pages_to_scan
    nr_pages = _kstrtouint(buf)
    if nr_pages is None:
        return -EINVAL
    ksm_thread_pages_to_scan = nr_pages
    return 0


def sleep_millisecs_store(buf: str) -> int:
    """A write to ``sleep_millisecs``: a new value wakes ksmd from its sleep between batches.

    Context: process context (the sysfs writer).
    Return: 0 (the kernel's write returns the byte count), or -EINVAL for a
    value that is not an unsigned int.
    """
    global ksm_thread_sleep_millisecs
    msecs = _kstrtouint(buf)
    if msecs is None:
        return -EINVAL
    ksm_thread_sleep_millisecs = msecs
    wake_up_ksm_iter_wait()
    return 0


def ksm_sysfs_store(name: str, buf: str) -> int | None:
    """Harness: a write to ``/sys/kernel/mm/ksm/<name>``, dispatched to its ``*_store()``.

    Context: process context (the sysfs writer).
    Return: 0, -errno, or None for a file the model does not have.
    """
    if name == "run":
        return run_store(buf)
    if name == "pages_to_scan":
        return pages_to_scan_store(buf)
    if name == "sleep_millisecs":
        return sleep_millisecs_store(buf)
    return None


def ksm_sysfs_show(name: str) -> int | None:
    """Harness: a read of ``/sys/kernel/mm/ksm/<name>``, as its ``*_show()`` prints it.

    Context: process context (the sysfs reader).
    Return: the value, or None for a file the model does not have.
    """
    values = {"run": ksm_run, "pages_to_scan": ksm_thread_pages_to_scan,
              "sleep_millisecs": ksm_thread_sleep_millisecs, "pages_shared": ksm_pages_shared,
              "pages_sharing": ksm_pages_sharing, "pages_unshared": ksm_pages_unshared,
              "pages_scanned": ksm_pages_scanned, "pages_skipped": ksm_pages_skipped,
              "full_scans": ksm_scan.seqnr, "max_page_sharing": ksm_max_page_sharing,
              "pages_volatile": max(ksm_rmap_items - ksm_pages_shared - ksm_pages_sharing
                                    - ksm_pages_unshared, 0)}
    return values.get(name)


# ---------------------------------------------------------------------------
# Swap-in and rmap.

def ksm_might_need_to_copy(folio: folio, vma: vm_area_struct, addr: int) -> Any:
    """Return the folio to map at (vma, addr): ``folio`` itself, or a fresh private copy.

    A copy is needed for a KSM folio without its stable node, or any KSM
    folio while KSM unmerges (``run`` 2), and for a plain anon folio first
    mapped at another address or by an unrelated process (its index or
    anon_vma root do not match).  Large folios are never copied.
    Context: ``folio`` is locked.
    Return: ``folio``, a locked new folio charged to the VMA's memcg
    (``ksm_swpin_copy`` +1), None when the allocation failed, or
    EHWPOISON_FOLIO.
    """
    p = folio.pages[0]
    av = folio_anon_vma(folio)
    if folio_test_large(folio):
        return folio
    if folio_test_ksm(folio):
        if folio_stable_node(folio) is not None and not ksm_run & KSM_RUN_UNMERGE:
            return folio                        # no need to copy it
    elif av is None:
        return folio                            # no need to copy it
    elif folio.index == linear_page_index(vma, addr) and \
            vma.anon_vma is not None and av.root is vma.anon_vma.root:
        return folio                            # still no need to copy it
    if p.hwpoison:
        return EHWPOISON_FOLIO
    if not folio_test_uptodate(folio):
        return folio                            # let do_swap_page report the error
    new_folio = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, 0, vma, addr)
    if new_folio is not None and mem_cgroup_charge(new_folio, vma.vm_mm, GFP_KERNEL):
        folio_put(new_folio)
        new_folio = None
    if new_folio is not None:
        copy_user_highpage(new_folio.pages[0], p)
        folio_set_dirty(new_folio)
        new_folio.PG_uptodate = True
        folio_lock(new_folio)                   # __folio_set_locked()
        count_vm_event(KSM_SWPIN_COPY)
    return new_folio


def rmap_walk_ksm(folio: folio, rmap_one: Callable[[folio, vm_area_struct, int, Any], bool],
                  done: Callable[[folio], bool] | None, arg: Any, locked: bool) -> None:
    """Call ``rmap_one(folio, vma, address, arg)`` for every mapping of a KSM folio.

    The stable node's rmap items name (anon_vma, address, linear index):
    first the VMA of the item's own mm, then (second round) VMAs of mms
    forked from it since ksmd passed.  Stops when ``rmap_one`` returns
    False or ``done(folio)`` is true.
    Context: the folio is locked.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_ksm(folio), folio, "rmap_walk_ksm: not a KSM folio")
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "rmap_walk_ksm: folio not locked")
    stable_node = folio_stable_node(folio)
    if stable_node is None:
        return
    for search_new_forks in (False, True):
        for rmap_item in list(stable_node.hlist):
            addr = rmap_item.address & PAGE_MASK
            index = rmap_item.linear_page_index
            av = rmap_item.anon_vma
            if av is None:
                continue
            cond_resched()
            mutex_lock(av.root.rwsem)           # anon_vma_lock_read()
            for vma in list(av.vmas):           # anon_rmap_tree_foreach(vmac, av, index, index)
                if vma_address(vma, index, 1) < 0:
                    continue
                if addr < vma.vm_start or addr >= vma.vm_end:
                    continue
                if (rmap_item.mm is vma.vm_mm) == search_new_forks:
                    continue
                if not rmap_one(folio, vma, addr, arg) or (done is not None and done(folio)):
                    mutex_unlock(av.root.rwsem)
                    return
            mutex_unlock(av.root.rwsem)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.memcontrol import mem_cgroup_charge
from swaplab.mm.memory import (
    EHWPOISON_FOLIO,
    GFP_HIGHUSER_MOVABLE,
    copy_user_highpage,
    handle_mm_fault,
    vm_normal_folio,
    vma_alloc_folio,
)
from swaplab.mm.rmap import (
    RMAP_NONE,
    folio_add_anon_rmap_pte,
    folio_anon_vma,
    folio_remove_rmap_pte,
    folio_try_share_anon_rmap_pte,
)
from swaplab.mm.swapfile import folio_free_swap
