"""mm/shmem.c: tmpfs / memfd files, their page cache and their swap.

State of the file modeled: T14F (spec kernel-swap-semantics.md §5.8,
docs/kernel-notes.md §7; the swap-count calls are the hunks of patch 14,
the control flow that of mm-unstable around it).

A shmem file is an inode whose ``address_space`` holds an XArray
(``i_pages``): index -> folio (in the page cache), or a swap value entry
(``swp_to_radix_entry(entry)``, possibly of order k, covering 2^k slots),
or the swapin-error marker.  Every slot a value entry refers to has swap
count exactly 1 (the mapping's reference; spec §5.8).  The protocol:

* **writeout** (``shmem_writeout()``, from reclaim): ``folio_alloc_swap()``
  (the folio joins the swap cache at count 0), ``swapped += nr`` and the
  inode onto ``shmem_swaplist``, ``folio_dup_swap(folio, None)`` (0 -> 1),
  the folio is replaced by its swap value entry, then ``swap_writeout()``.
  If writeout asks to activate, the folio goes back in place of the entry,
  ``folio_put_swap(folio, None)`` (1 -> 0) and ``swap_cache_del_folio()``.
* **swap-in** (``shmem_swapin_folio()``): the swap cache, or a
  SWP_SYNCHRONOUS_IO read into a new folio (``swapin_folio()``), or
  readahead; the entry is replaced by the folio, ``swapped -= nr``, then
  ``folio_put_swap(folio, None)`` and ``swap_cache_del_folio()``: shmem never
  keeps a swap-cache copy.  A folio that is not uptodate (read I/O error)
  leaves the swapin-error marker instead (``shmem_set_folio_swapin_error()``).
* **truncate / hole punch** (``shmem_free_swap()``): cmpxchg the value entry
  out, then ``swap_put_entries_direct(entry, 1 << order)``.
* **swapoff** (``shmem_unuse()``): every inode on ``shmem_swaplist`` has its
  entries of the type swapped in by the path above.

Locks: ``mapping->i_pages.xa_lock`` protects the XArray and ``nrpages``;
``info->lock`` protects ``alloced``/``swapped``; ``shmem_swaplist_lock``
protects ``shmem_swaplist`` and each ``info->swaplist`` node;
``i_mmap_rwsem`` protects ``mapping->i_mmap`` (the VMAs mapping the file).

Also here, because the model needs them only for shmem files: the pieces of
fs/ (``struct file``, ``get_file()``/``fput()``), mm/filemap.c and
mm/truncate.c a shmem file uses, and the file side of mm/rmap.c
(``rmap_walk_file()``, the file-folio half of ``try_to_unmap_one()``,
``folio_add_file_rmap_ptes()``).  XX: the rmap pieces belong in
swaplab/mm/rmap.py (held by the KSM work while this was written); move them
there, with try_to_unmap() dispatching on folio_test_anon(), as rmap.c does.

Not modeled: large shmem folios (THP is off in the oracle: a large folio is
refused with a warning), fallocate preallocation (``SGP_FALLOC``, unfalloc),
partial-page truncation, quotas, mempolicies, memcg charging, xattrs.
"""

from __future__ import annotations

from typing import Any

from swaplab.include.linux.errno import EEXIST, EINVAL, EIO, ENOENT, ENOMEM
from swaplab.include.linux.mm_types import (
    MM_FILEPAGES,
    MM_SHMEMPAGES,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
    VM_LOCKED,
    dec_mm_counter,
    mm_struct,
    vm_area_struct,
    vm_fault,
    vma_address,
)
from swaplab.include.linux.mmdebug import (
    BUG_ON,
    VM_BUG_ON,
    VM_BUG_ON_FOLIO,
    VM_WARN_ON_FOLIO,
    VM_WARN_ON_ONCE_FOLIO,
    WARN_ON,
)
from swaplab.include.linux.pgtable import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PTE_MARKER_POISONED,
    pmd_off,
    pte_dirty,
    pte_offset_map_lock,
    pte_present,
    pte_unmap_unlock,
    ptep_clear_flush,
    ptep_get,
)
from swaplab.include.linux.swap import (
    MAX_SWAPFILES,
    SWP_DEVICE_NUM,
    SWP_HWPOISON_NUM,
    SWP_MIGRATION_NUM,
    SWP_SYNCHRONOUS_IO,
)
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kernel.custom import GFP_KERNEL, folio_alloc
from swaplab.kernel.dup import (
    INIT_LIST_HEAD,
    folio,
    folio_get,
    folio_lock,
    folio_mapped,
    folio_mark_dirty,
    folio_nr_pages,
    folio_put,
    folio_ref_add,
    folio_ref_sub,
    folio_test_anon,
    folio_test_large,
    folio_test_locked,
    folio_test_swapbacked,
    folio_test_uptodate,
    folio_unlock,
    list_add,
    list_del,
    list_empty,
    list_for_each_entry,
    list_head,
    page,
)
from swaplab.kernel.locking import (
    cond_resched,
    lockdep_assert_held,
    mutex,
    mutex_lock,
    mutex_unlock,
    spin_lock,
    spin_unlock,
    spinlock_t,
)
from swaplab.kernel.stubs import arch_swap_restore
from swaplab.mm.vmstat import NR_FILE_PAGES, NR_SHMEM, PGMAJFAULT, count_vm_event, node_stat_mod_folio

# enum sgp_type
SGP_READ = 0        # don't exceed i_size, don't allocate page
SGP_NOALLOC = 1     # similar, but fail on hole or use fallocated page
SGP_CACHE = 2       # don't exceed i_size, may allocate page
SGP_WRITE = 3       # may exceed i_size, may allocate !Uptodate page
SGP_FALLOC = 4      # like SGP_WRITE, but make existing page Uptodate

# include/uapi/linux/falloc.h
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

GFP_HIGHUSER_MOVABLE = GFP_KERNEL
PAGEVEC_SIZE = 31

# include/linux/swapops.h: the poisoned (swapin error) entry lives in the
# pte-marker type above every swap device's type.
SWP_PTE_MARKER = MAX_SWAPFILES + SWP_HWPOISON_NUM + SWP_MIGRATION_NUM + SWP_DEVICE_NUM


def make_poisoned_swp_entry() -> int:
    """The swap entry shmem stores where a swap-in failed with an I/O error."""
    return swp_entry(SWP_PTE_MARKER, PTE_MARKER_POISONED)


def is_poisoned_swp_entry(entry: int) -> bool:
    """Is ``entry`` the swapin-error marker (make_poisoned_swp_entry())?"""
    return entry == make_poisoned_swp_entry()


# ---------------------------------------------------------------------------
# include/linux/xarray.h: the page cache of a shmem file.

def xa_mk_value(v: int) -> int:
    """An XArray value entry: ``(v << 1) | 1`` (folios are objects, never ints)."""
    return (v << 1) | 1


def xa_to_value(entry: int) -> int:
    """The integer an XArray value entry holds."""
    return entry >> 1


def xa_is_value(entry: Any) -> bool:
    """Is ``entry`` a value entry (an odd integer) rather than a folio or NULL?"""
    return type(entry) is int and bool(entry & 1)


def swp_to_radix_entry(entry: int) -> int:
    """The page-cache value entry that stands for swap entry ``entry``."""
    return xa_mk_value(entry)


def radix_to_swp_entry(arg: int) -> int:
    """The swap entry a page-cache value entry stands for."""
    return xa_to_value(arg)


def _xa_same(a: Any, b: Any) -> bool:
    """Entry identity: the same folio object, or equal value entries."""
    return a is b or (type(a) is int and type(b) is int and a == b)


class xarray:
    """struct xarray: index -> entry, with multi-index entries of order k.

    ``slots`` holds the entry at every index it covers and ``orders`` the
    order of the entry there; a missing key is NULL.  ``xa_lock`` protects
    every store (``__xa_*`` helpers assert it).
    """

    __slots__ = ("xa_lock", "slots", "orders")

    def __init__(self) -> None:
        self.xa_lock = spinlock_t("&mapping->i_pages.xa_lock")
        self.slots: dict[int, Any] = {}       # guarded by xa_lock
        self.orders: dict[int, int] = {}      # guarded by xa_lock


def xa_load(xa: xarray, index: int) -> Any:
    """The entry at ``index``.

    Context: any (the kernel's takes the RCU read lock itself).
    Return: the entry, or None for NULL.
    """
    return xa.slots.get(index)


def xa_get_order(xa: xarray, index: int) -> int:
    """The order of the entry at ``index`` (0 for NULL or a single-index entry)."""
    return xa.orders.get(index, 0)


def __xa_store(xa: xarray, index: int, entry: Any, order: int) -> None:
    """Store ``entry`` over the 2^order indices around ``index`` (None erases).

    The kernel's __xa_store() stores one index; a multi-index store is
    xas_store() after xas_set_order(), which this models.
    Context: Caller must hold xa_lock.
    Return: nothing (the kernel's returns the old entry).
    """
    if __debug__:
        lockdep_assert_held(xa.xa_lock)
    base = index & ~((1 << order) - 1)
    for i in range(base, base + (1 << order)):
        if entry is None:
            xa.slots.pop(i, None)
            xa.orders.pop(i, None)
        else:
            xa.slots[i] = entry
            xa.orders[i] = order


def __xa_cmpxchg(xa: xarray, index: int, old: Any, entry: Any) -> Any:
    """Replace ``old`` at ``index`` by ``entry`` (same order) if ``old`` is there.

    Context: Caller must hold xa_lock.
    Return: the entry that was there.
    """
    if __debug__:
        lockdep_assert_held(xa.xa_lock)
    curr = xa_load(xa, index)
    if _xa_same(curr, old):
        __xa_store(xa, index, entry, xa_get_order(xa, index))
    return curr


def xa_cmpxchg_irq(xa: xarray, index: int, old: Any, entry: Any) -> Any:
    """__xa_cmpxchg() under xa_lock with interrupts off.

    Context: any context that may take xa_lock (it must not be held).
    Return: the entry that was at ``index``.
    """
    spin_lock(xa.xa_lock)
    curr = __xa_cmpxchg(xa, index, old, entry)
    spin_unlock(xa.xa_lock)
    return curr


# ---------------------------------------------------------------------------
# The objects: address_space, inode + shmem_inode_info, file.

class address_space:
    """struct address_space of a shmem inode.

    ``i_pages`` is the page cache (xa_lock); ``nrpages`` counts the pages of
    the folios in it (xa_lock); ``i_mmap`` lists the VMAs mapping the file
    (the interval tree, protected by ``i_mmap_rwsem``).
    """

    __slots__ = ("host", "i_pages", "nrpages", "i_mmap", "i_mmap_rwsem")

    def __init__(self, host: inode) -> None:
        self.host = host
        self.i_pages = xarray()
        self.nrpages = 0                                  # guarded by i_pages.xa_lock
        self.i_mmap: list[vm_area_struct] = []            # guarded by i_mmap_rwsem
        self.i_mmap_rwsem = mutex("&mapping->i_mmap_rwsem")

    def __repr__(self) -> str:
        return f"<mapping of {self.host!r}>"


class inode:
    """struct inode of a shmem file (the ``vfs_inode`` of its shmem_inode_info)."""

    __slots__ = ("i_ino", "i_size", "i_mapping", "i_count", "info")

    def __init__(self, ino: int) -> None:
        self.i_ino = ino
        self.i_size = 0
        self.i_count = 1
        self.i_mapping = address_space(self)
        self.info = shmem_inode_info(self)

    def __repr__(self) -> str:
        return f"<shmem inode {self.i_ino}>"


class shmem_inode_info:
    """struct shmem_inode_info.

    ``alloced`` (data pages: in the page cache or in swap) and ``swapped``
    (pages whose data is only in swap) are protected by ``lock``;
    ``swaplist`` (the node on ``shmem_swaplist``) by ``shmem_swaplist_lock``.
    """

    __slots__ = ("lock", "alloced", "swapped", "swaplist", "stop_eviction", "flags",
                 "vfs_inode")

    def __init__(self, vfs_inode: inode) -> None:
        self.lock = spinlock_t("&info->lock")
        self.alloced = 0                 # guarded by lock
        self.swapped = 0                 # guarded by lock
        self.swaplist: list_head[shmem_inode_info] = list_head(self, name="swaplist")
        self.stop_eviction = 0           # atomic_t
        self.flags = 0                   # VM_LOCKED: SHM_LOCK
        self.vfs_inode = vfs_inode


class file:
    """struct file of a memfd: its reference count and its inode."""

    __slots__ = ("f_count", "f_inode", "f_mapping", "name")

    def __init__(self, name: str, ino: inode) -> None:
        self.f_count = 1
        self.f_inode = ino
        self.f_mapping = ino.i_mapping
        self.name = name

    def __repr__(self) -> str:
        return f"<file memfd:{self.name}>"


def SHMEM_I(ino: inode) -> shmem_inode_info:
    """The shmem_inode_info around ``ino``."""
    return ino.info


def file_inode(f: file) -> inode:
    """The inode of file ``f``."""
    return f.f_inode


def shmem_mapping(mapping: Any) -> bool:
    """Is ``mapping`` the page cache of a shmem file?

    Context: any.
    Return: True if it is.
    """
    return isinstance(mapping, address_space)


def vma_is_shmem(vma: vm_area_struct) -> bool:
    """Does ``vma`` map a shmem file?

    Context: any (the caller keeps the VMA stable).
    Return: True if it does.
    """
    return vma.vm_file is not None and shmem_mapping(vma.vm_file.f_mapping)


# Globals (mm/shmem.c).
shmem_swaplist: list_head[shmem_inode_info] = list_head(name="shmem_swaplist")
shmem_swaplist_lock = spinlock_t("shmem_swaplist_lock")
_last_ino = [0]


def reset_shmem() -> None:
    """Boot state: no inode on the swaplist, inode numbers from 1."""
    INIT_LIST_HEAD(shmem_swaplist)
    shmem_swaplist_lock.owner = None
    _last_ino[0] = 0


# ---------------------------------------------------------------------------
# fs/: files, as far as a memfd goes.

def get_file(f: file) -> file:
    """fs: take a reference on ``f``.

    Context: any; the caller already holds a reference.
    Return: ``f``.
    """
    f.f_count += 1
    return f


def fput(f: file) -> None:
    """fs: drop a reference; the last one releases the inode (a memfd has no name).

    Context: process context, may sleep (the inode may be evicted).
    Return: nothing.
    """
    f.f_count -= 1
    if f.f_count == 0:
        iput(f.f_inode)


def iput(ino: inode) -> None:
    """fs: drop an inode reference; the last one evicts it (shmem_evict_inode()).

    Context: process context, may sleep.
    Return: nothing.
    """
    ino.i_count -= 1
    if ino.i_count == 0:
        shmem_evict_inode(ino)


def shmem_file_setup(name: str, size: int, flags: int = 0) -> file:
    """A new unlinked shmem file of ``size`` bytes (memfd_create(), then ftruncate()).

    Context: process context.
    Return: the file, with one reference (the kernel's may return an ERR_PTR;
    the model's cannot fail).
    """
    _last_ino[0] += 1
    ino = inode(_last_ino[0])
    ino.i_size = size
    return file(name, ino)


def shmem_setattr(ino: inode, newsize: int) -> int:
    """ftruncate(2) of a shmem file: a shrink unmaps and truncates the page cache and swap.

    Context: process context, may sleep (the kernel's caller holds the inode
    lock; not modeled).
    Return: 0.
    """
    oldsize = ino.i_size
    ino.i_size = newsize
    if newsize < oldsize:
        holebegin = (newsize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        unmap_mapping_range(ino.i_mapping, holebegin, 0, True)
        if SHMEM_I(ino).alloced:
            shmem_truncate_range(ino, newsize, -1)
    return 0


def shmem_mmap(f: file, vma: vm_area_struct) -> int:
    """file->f_op->mmap of a shmem file: nothing to set up but the VMA's file.

    Context: mmap_lock held for write (mmap_region()).
    Return: 0.
    """
    VM_BUG_ON(vma.vm_file is not f, "shmem_mmap: vma->vm_file is not the file")
    return 0


def vma_interval_tree_insert(vma: vm_area_struct, mapping: address_space) -> None:
    """Link a VMA into its file's i_mmap (vma_link_file(): i_mmap_lock_write() around vma_interval_tree_insert()).

    The kernel's vma_interval_tree_insert() wants i_mmap_rwsem held; the
    model's takes it itself.
    Context: mmap_lock held for write; i_mmap_rwsem not held (taken here).
    Return: nothing.
    """
    mutex_lock(mapping.i_mmap_rwsem)
    mapping.i_mmap.append(vma)
    mutex_unlock(mapping.i_mmap_rwsem)


def vma_interval_tree_insert_after(node: vm_area_struct, prev: vm_area_struct,
                                   mapping: address_space) -> None:
    """Link ``node`` into its file's i_mmap just after ``prev`` (fork's copy of ``prev``).

    Context: Caller must hold i_mmap_rwsem for write.
    Return: nothing.
    """
    if __debug__:
        lockdep_assert_held(mapping.i_mmap_rwsem)
    mapping.i_mmap.insert(mapping.i_mmap.index(prev) + 1, node)


def unlink_file_vma(vma: vm_area_struct) -> None:
    """mm/mmap.c: take a VMA off its file's i_mmap (munmap, exit).

    Context: mmap_lock held for write, or the mm is exiting; takes i_mmap_rwsem.
    Return: nothing.
    """
    mapping = vma.vm_file.f_mapping
    mutex_lock(mapping.i_mmap_rwsem)
    if vma in mapping.i_mmap:
        mapping.i_mmap.remove(vma)
    mutex_unlock(mapping.i_mmap_rwsem)


# ---------------------------------------------------------------------------
# Accounting.

def shmem_update_stats(folio: folio, nr_pages: int) -> None:
    """Account ``nr_pages`` (negative: removed) in NR_FILE_PAGES and NR_SHMEM.

    Context: xa_lock held, as in every caller (the stat update wants irqs off).
    Return: nothing.
    """
    node_stat_mod_folio(folio, NR_FILE_PAGES, nr_pages)
    node_stat_mod_folio(folio, NR_SHMEM, nr_pages)


def shmem_recalc_inode(ino: inode, alloced: int, swapped: int) -> bool:
    """Adjust ``alloced``/``swapped`` and give back pages freed behind our back.

    Normally ``alloced == nrpages + swapped``; what exceeds it was freed.
    Context: takes info->lock.
    Return: true if swapped was incremented from 0, for shmem_writeout().
    """
    info = SHMEM_I(ino)
    first_swapped = False
    spin_lock(info.lock)
    info.alloced += alloced
    info.swapped += swapped
    freed = info.alloced - info.swapped - ino.i_mapping.nrpages
    # Special case: whereas normally shmem_recalc_inode() is called after
    # i_mapping->nrpages has already been adjusted, when swapping out it is
    # called before: compensate here.
    if swapped > 0:
        if info.swapped == swapped:
            first_swapped = True
        freed += swapped
    if freed > 0:
        info.alloced -= freed
    spin_unlock(info.lock)
    return first_swapped


def shmem_swap_usage(vma: vm_area_struct) -> int:
    """mm/shmem.c, for smaps ``Swap:``: the swap used by a shmem VMA, in bytes.

    The whole file mapped: ``info->swapped``; else the swap entries counted
    in the mapped range (shmem_partial_swap_usage()).
    Context: mmap_lock held (smaps); lockless reads of ``info->swapped`` and
    the page cache.
    Return: the bytes of swap.
    """
    ino = file_inode(vma.vm_file)
    info = SHMEM_I(ino)
    mapping = ino.i_mapping
    swapped = info.swapped
    if not swapped:
        return 0
    npages = (vma.vm_end - vma.vm_start) >> PAGE_SHIFT
    if not vma.vm_pgoff and npages >= (ino.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
        return swapped << PAGE_SHIFT
    start, end = vma.vm_pgoff, vma.vm_pgoff + npages
    n = sum(1 for i in range(start, end) if xa_is_value(xa_load(mapping.i_pages, i))
            and not is_poisoned_swp_entry(radix_to_swp_entry(xa_load(mapping.i_pages, i))))
    return n << PAGE_SHIFT


# ---------------------------------------------------------------------------
# The page cache.

def shmem_add_to_page_cache(folio: folio, mapping: address_space, index: int,
                            expected: Any, gfp: int) -> int:
    """Put a locked folio into the page cache at ``index``, where ``expected`` is.

    ``expected`` is None for a hole, or the swap value entry being swapped in.
    Context: Caller must ensure the folio is locked and swap-backed.
    Return: 0, or -EEXIST if something else is at ``index`` now.
    """
    nr = folio_nr_pages(folio)
    if __debug__:
        VM_BUG_ON_FOLIO(index != index & ~(nr - 1), folio, "shmem_add_to_page_cache: unaligned index")
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "shmem_add_to_page_cache: not locked")
        VM_BUG_ON_FOLIO(not folio_test_swapbacked(folio), folio, "shmem_add_to_page_cache: not swap-backed")
    folio_ref_add(folio, nr)
    folio.mapping = mapping
    folio.index = index
    xa = mapping.i_pages
    spin_lock(xa.xa_lock)                       # xas_lock_irq()
    error = 0
    for i in range(index, index + nr):
        entry = xa_load(xa, i)
        if not (_xa_same(entry, expected) if expected is not None else entry is None):
            error = -EEXIST
            break
    if not error:
        __xa_store(xa, index, folio, folio.order)
        mapping.nrpages += nr
        shmem_update_stats(folio, nr)
    spin_unlock(xa.xa_lock)
    if error:
        folio.mapping = None
        folio_ref_sub(folio, nr)
    return error


def shmem_replace_entry(mapping: address_space, index: int, expected: Any, replacement: Any) -> int:
    """Replace ``expected`` at ``index`` by ``replacement`` (same order).

    Context: Caller must hold the xa_lock.
    Return: 0, or -ENOENT if ``expected`` is not there.
    """
    xa = mapping.i_pages
    if __debug__:
        lockdep_assert_held(xa.xa_lock)
    item = xa_load(xa, index)
    if not _xa_same(item, expected):
        return -ENOENT
    __xa_store(xa, index, replacement, xa_get_order(xa, index))
    return 0


def shmem_delete_from_page_cache(folio: folio, radswap: int) -> None:
    """Replace a page-cache folio by its swap value entry; drop the cache's references.

    Context: the folio is locked and in the page cache (shmem_writeout());
    xa_lock not held (taken here).
    Return: nothing.
    """
    mapping = folio.mapping
    nr = folio_nr_pages(folio)
    spin_lock(mapping.i_pages.xa_lock)
    error = shmem_replace_entry(mapping, folio.index, folio, radswap)
    folio.mapping = None
    mapping.nrpages -= nr
    shmem_update_stats(folio, -nr)
    spin_unlock(mapping.i_pages.xa_lock)
    folio_ref_sub(folio, nr)                    # folio_put_refs(): the caller holds one more
    VM_BUG_ON(error, "shmem_delete_from_page_cache: folio not in its mapping")


def filemap_remove_folio(folio: folio) -> None:
    """mm/filemap.c: take a locked folio out of its page cache and drop the cache's references.

    Context: Caller must hold the folio lock; xa_lock not held (taken here).
    Return: nothing.
    """
    BUG_ON(not folio_test_locked(folio), "filemap_remove_folio: folio not locked")
    mapping = folio.mapping
    nr = folio_nr_pages(folio)
    spin_lock(mapping.i_pages.xa_lock)
    __xa_store(mapping.i_pages, folio.index, None, folio.order)
    folio.mapping = None
    mapping.nrpages -= nr
    shmem_update_stats(folio, -nr)
    spin_unlock(mapping.i_pages.xa_lock)
    folio_ref_sub(folio, nr)


def truncate_inode_folio(mapping: address_space, folio: folio) -> None:
    """mm/truncate.c: unmap a locked page-cache folio everywhere and remove it.

    Context: Caller must hold the folio lock; the folio is in ``mapping``
    (the caller has checked: the kernel's returns -EIO otherwise).
    Return: nothing (the kernel's returns 0).
    """
    if folio_mapped(folio):
        unmap_mapping_range(mapping, folio.index << PAGE_SHIFT,
                            folio_nr_pages(folio) << PAGE_SHIFT, False)
    folio.PG_dirty = False                      # truncate_cleanup_folio()
    filemap_remove_folio(folio)


# ---------------------------------------------------------------------------
# Writeout (reclaim).

def _total_swap_pages() -> int:
    """mm/swapfile.c's ``total_swap_pages``, read at the time of use."""
    return swapfile.total_swap_pages


def shmem_writeout(folio: folio, plug: Any = None, folio_list: Any = None) -> int:
    """Move a dirty page-cache folio to swap: its slot takes its place in the mapping.

    Context: Caller must ensure the folio is locked, unmapped, uptodate and
    its dirty bit cleared for I/O (reclaim's pageout()).
    Return: 0 (the write was started, the folio is unlocked), or
    AOP_WRITEPAGE_ACTIVATE with the folio redirtied and still locked.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "shmem_writeout: folio not locked")
        VM_BUG_ON_FOLIO(not shmem_mapping(folio.mapping), folio, "shmem_writeout: not a shmem folio")
    mapping: address_space = folio.mapping
    ino = mapping.host
    info = SHMEM_I(ino)
    if info.flags & VM_LOCKED:
        return _redirty(folio)
    if not _total_swap_pages():
        return _redirty(folio)
    if folio_test_large(folio):
        # THP_SWAP is off in the oracle configuration: the kernel splits here.
        VM_WARN_ON_ONCE_FOLIO(True, folio, "shmem_writeout: large shmem folios are not modeled")
        return _redirty(folio)
    index = folio.index
    nr_pages = folio_nr_pages(folio)
    if not folio_test_uptodate(folio):
        # A fallocated folio arriving here: initialize it and write it.
        for p in folio.pages:
            p.content = 0
        folio.PG_uptodate = True
    if not folio_alloc_swap(folio):
        first_swapped = shmem_recalc_inode(ino, 0, nr_pages)
        # Add inode to shmem_unuse()'s list of swapped-out inodes, if it's
        # not already there.  Do it now before the folio is removed from page
        # cache, when its pagelock no longer protects the inode from eviction.
        if first_swapped:
            spin_lock(shmem_swaplist_lock)
            if list_empty(info.swaplist):
                list_add(info.swaplist, shmem_swaplist)
            spin_unlock(shmem_swaplist_lock)
        folio_dup_swap(folio, None)
        shmem_delete_from_page_cache(folio, swp_to_radix_entry(folio.swap))
        VM_BUG_ON(folio_mapped(folio), "shmem_writeout: folio still mapped")
        error = swap_writeout(folio, plug)
        if error != AOP_WRITEPAGE_ACTIVATE:
            # The folio has been unlocked.
            return error
        # Writeout could not keep it (zswap rejected it, no writeback):
        # avoid holding on to the swap.
        error = shmem_add_to_page_cache(folio, mapping, index, swp_to_radix_entry(folio.swap),
                                        GFP_KERNEL)
        # Swap entry might be erased by racing shmem_free_swap().
        if not error:
            shmem_recalc_inode(ino, 0, -nr_pages)
            folio_put_swap(folio, None)
        # The swap_cache_del_folio() below could be left for
        # shrink_folio_list()'s folio_free_swap() to dispose of; but avoid
        # letting this folio out in a hybrid half-tmpfs-half-swap state.
        swap_cache_del_folio(folio)
    return _redirty(folio)


def _redirty(folio: folio) -> int:
    """shmem_writeout()'s ``redirty:`` exit: keep the folio, locked."""
    folio_mark_dirty(folio)
    return AOP_WRITEPAGE_ACTIVATE


# ---------------------------------------------------------------------------
# Swap-in.

def shmem_confirm_swap(mapping: address_space, index: int, swap: int) -> int:
    """Is the swap entry ``swap`` still at ``index``?

    Context: any (a lockless page-cache lookup; the answer can change at once).
    Return: the order of the entry, or -1 if it is not there.
    """
    entry = xa_load(mapping.i_pages, index)
    if _xa_same(entry, swp_to_radix_entry(swap)):
        return xa_get_order(mapping.i_pages, index)
    return -1


def shmem_swap_alloc_folio(ino: inode, vma: vm_area_struct | None, index: int, entry: int,
                           order: int, gfp: int) -> Any:
    """SWP_SYNCHRONOUS_IO swap-in: read the entry into a new folio of its order.

    Context: the caller pins the device.
    Return: the folio (in the swap cache, read, unlocked), the folio another
    task cached first, or a negative errno (-ENOMEM, -EEXIST).
    """
    new = folio_alloc(gfp, order)                # shmem_alloc_folio()
    if new is None:
        return -ENOMEM
    # mem_cgroup_swapin_charge_folio(): memcg charging is not modeled.
    swapcache = swapin_folio(entry, new)
    if swapcache is not new:
        folio_put(new)
        if swapcache is None:
            # The new folio is charged already, swapin can only fail due
            # to another raced swapin.
            return -EEXIST
    return swapcache


def shmem_swapin_cluster(swap: int, gfp: int, info: shmem_inode_info, index: int) -> folio | None:
    """Cached swap-in (readahead of order-0 folios; page-cluster 0 reads one).

    Context: process context, may sleep; the caller pins the device
    (get_swap_device()).
    Return: the folio in the swap cache, with a reference, or None.
    """
    return read_swap_cache_async(swap, gfp, None, 0)


def shmem_swapin_folio(ino: inode, index: int, foliop: list[Any], sgp: int, gfp: int,
                       vma: vm_area_struct | None, fault_type: list[int] | None) -> int:
    """Swap in the entry at ``index`` (``foliop[0]``, a value entry) and put the folio there.

    On success the folio is in the page cache, locked, with a reference, in
    ``foliop[0]``; its slots are freed (count 1 -> 0, then out of the swap
    cache): shmem never keeps a swap-cache copy.  A read error leaves the
    swapin-error marker at ``index``.

    Context: process context, may sleep; no locks held.
    Return: 0, -EEXIST (the entry changed: retry the lookup), -EIO, -ENOMEM,
    -EINVAL (the device is gone).
    """
    mapping = ino.i_mapping
    info = SHMEM_I(ino)
    if __debug__:
        VM_BUG_ON(not xa_is_value(foliop[0]), "shmem_swapin_folio: not a value entry")
    index_entry = radix_to_swp_entry(foliop[0])
    swap = index_entry
    foliop[0] = None
    if is_poisoned_swp_entry(index_entry):
        return -EIO
    si = get_swap_device(index_entry)
    order = shmem_confirm_swap(mapping, index, index_entry)
    if si is None:
        return -EEXIST if order < 0 else -EINVAL
    if order < 0:
        put_swap_device(si)
        return -EEXIST
    # index may point to the middle of a large entry, get the sub entry.
    if order:
        offset = index - (index & ~((1 << order) - 1))
        swap = swp_entry(swp_type(swap), swp_offset(swap) + offset)
    # Look it up and read it in..
    f = swap_cache_get_folio(swap)
    if f is None:
        if si.flags & SWP_SYNCHRONOUS_IO:
            # Direct swapin skipping swap cache & readahead.
            got = shmem_swap_alloc_folio(ino, vma, index, index_entry, order, gfp)
            if type(got) is int:
                return _swapin_failed(ino, index, None, swap, si, got)
            f = got
        else:
            # Cached swapin only supports order 0 folio.
            f = shmem_swapin_cluster(swap, gfp, info, index)
            if f is None:
                return _swapin_failed(ino, index, None, swap, si, -ENOMEM)
        # Here we actually start the io.
        if fault_type is not None:
            fault_type[0] |= VM_FAULT_MAJOR
            count_vm_event(PGMAJFAULT)
    if order > f.order:
        VM_WARN_ON_ONCE_FOLIO(True, f, "shmem_swapin_folio: splitting a large entry is not modeled")
        return _swapin_unlock(f, si, -EINVAL, locked=False)
    if order < f.order:
        swap = swap & ~((1 << f.order) - 1)
        index = index & ~((1 << f.order) - 1)
    # We have to do this with the folio locked to prevent races.
    folio_lock(f)
    if not folio_matches_swap_entry(f, swap) or shmem_confirm_swap(mapping, index, swap) < 0:
        return _swapin_unlock(f, si, -EEXIST, locked=True)
    if not folio_test_uptodate(f):
        return _swapin_failed(ino, index, f, swap, si, -EIO)
    folio_wait_writeback(f)
    nr_pages = folio_nr_pages(f)
    # Some architectures may have to restore extra metadata to the folio
    # after reading from swap.
    arch_swap_restore(swap, f)
    error = shmem_add_to_page_cache(f, mapping, index, swp_to_radix_entry(swap), gfp)
    if error:
        return _swapin_failed(ino, index, f, swap, si, error)
    shmem_recalc_inode(ino, 0, -nr_pages)
    folio_put_swap(f, None)
    swap_cache_del_folio(f)
    folio_mark_dirty(f)
    put_swap_device(si)
    foliop[0] = f
    return 0


def _swapin_failed(ino: inode, index: int, f: folio | None, swap: int, si: Any, error: int) -> int:
    """shmem_swapin_folio()'s ``failed:`` exit."""
    if shmem_confirm_swap(ino.i_mapping, index, swap) < 0:
        error = -EEXIST
    if error == -EIO:
        shmem_set_folio_swapin_error(ino, index, f, swap)  # type: ignore[arg-type]
    if f is None:
        put_swap_device(si)
        return error
    return _swapin_unlock(f, si, error, locked=True)


def _swapin_unlock(f: folio, si: Any, error: int, locked: bool) -> int:
    """shmem_swapin_folio()'s ``unlock:`` / ``failed_nolock:`` exits."""
    if locked:
        folio_unlock(f)
    folio_put(f)
    put_swap_device(si)
    return error


def shmem_set_folio_swapin_error(ino: inode, index: int, folio: folio, swap: int) -> None:
    """A swap-in read failed: leave the swapin-error marker where the entry was.

    The slots are released (count 1 -> 0, then out of the swap cache); the
    page counts as neither alloced nor swapped any more.
    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
    """
    mapping = ino.i_mapping
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "shmem_set_folio_swapin_error: not locked")
    swapin_error = make_poisoned_swp_entry()
    old = xa_cmpxchg_irq(mapping.i_pages, index, swp_to_radix_entry(swap),
                         swp_to_radix_entry(swapin_error))
    if not _xa_same(old, swp_to_radix_entry(swap)):
        return
    nr_pages = folio_nr_pages(folio)
    folio_wait_writeback(folio)
    folio_put_swap(folio, None)
    swap_cache_del_folio(folio)
    # Don't treat swapin error folio as alloced. Otherwise inode->i_blocks
    # won't be 0 when inode is released and thus trigger WARN_ON(i_blocks)
    # in shmem_evict_inode().
    shmem_recalc_inode(ino, -nr_pages, -nr_pages)


# ---------------------------------------------------------------------------
# Lookup and fault.

def shmem_alloc_and_add_folio(vmf: vm_fault | None, gfp: int, ino: inode, index: int,
                              fault_mm: mm_struct | None) -> Any:
    """A new locked folio in the page cache at ``index`` (a hole), not yet uptodate.

    Context: process context, may sleep; no locks held.
    Return: the folio (one reference, locked), or -ENOMEM / -EEXIST.
    """
    f = folio_alloc(gfp, 0)                     # shmem_alloc_folio()
    if f is None:
        return -ENOMEM
    folio_lock(f)                               # __folio_set_locked()
    f.PG_swapbacked = True                      # __folio_set_swapbacked()
    f.PG_uptodate = False
    error = shmem_add_to_page_cache(f, ino.i_mapping, index, None, gfp)
    if error:
        folio_unlock(f)
        folio_put(f)
        return error
    folio_add_lru(f)
    shmem_recalc_inode(ino, 1, 0)
    return f


def shmem_get_folio_gfp(ino: inode, index: int, write_end: int, foliop: list[Any], sgp: int,
                        gfp: int, vmf: vm_fault | None, fault_type: list[int] | None) -> int:
    """Find or create the folio at ``index``, swapping it in if needed.

    Context: process context, may sleep.
    Return: 0 with ``foliop[0]`` the folio, locked and referenced (None for a
    hole under SGP_READ); -EINVAL beyond EOF, -EIO (swapin error), -ENOMEM.
    """
    mapping = ino.i_mapping
    vma = vmf.vma if vmf is not None else None
    fault_mm = vma.vm_mm if vma is not None else None
    while True:                                 # repeat:
        if sgp <= SGP_CACHE and (index << PAGE_SHIFT) >= ino.i_size:
            return -EINVAL
        f = xa_load(mapping.i_pages, index)     # filemap_get_entry()
        if xa_is_value(f):
            box = [f]
            error = shmem_swapin_folio(ino, index, box, sgp, gfp, vma, fault_type)
            if error == -EEXIST:
                continue
            foliop[0] = box[0]
            return error
        if f is not None:
            folio_get(f)
            folio_lock(f)
            # Has the folio been truncated or swapped out?
            if f.mapping is not mapping:
                folio_unlock(f)
                folio_put(f)
                continue
            if folio_test_uptodate(f):
                foliop[0] = f
                return 0
            # fallocated folio: zero it below.
        elif sgp == SGP_READ or sgp == SGP_NOALLOC:
            foliop[0] = None
            return 0
        else:
            got = shmem_alloc_and_add_folio(vmf, gfp, ino, index, fault_mm)
            if got == -EEXIST:
                continue
            if type(got) is int:
                return got
            f = got
        # Let SGP_WRITE caller clear ends if write does not fill folio; but
        # SGP_FALLOC on a folio fallocated earlier must initialize it now.
        if sgp != SGP_WRITE and not folio_test_uptodate(f):
            for p in f.pages:
                p.content = 0
            f.PG_uptodate = True
        foliop[0] = f
        return 0


def vmf_error(err: int) -> int:
    """include/linux/mm.h: the fault code for errno ``err``.

    Context: any.
    Return: VM_FAULT_OOM for -ENOMEM, else VM_FAULT_SIGBUS.
    """
    return VM_FAULT_OOM if err == -ENOMEM else VM_FAULT_SIGBUS


def shmem_fault(vmf: vm_fault) -> int:
    """vm_ops->fault of a shmem mapping: the page at ``vmf.pgoff``, locked, in ``vmf.page``.

    Context: mmap_lock held; no page-table lock.
    Return: VM_FAULT_LOCKED (| VM_FAULT_MAJOR after a device read), or an
    error bit (VM_FAULT_SIGBUS beyond EOF or for a swapin error, VM_FAULT_OOM).
    """
    ino = file_inode(vmf.vma.vm_file)
    foliop: list[Any] = [None]
    fault_type = [0]
    err = shmem_get_folio_gfp(ino, vmf.pgoff, 0, foliop, SGP_CACHE, GFP_HIGHUSER_MOVABLE, vmf,
                              fault_type)
    if err:
        return vmf_error(err)
    f: folio = foliop[0]
    vmf.page = f.pages[vmf.pgoff & ((1 << f.order) - 1)]
    return fault_type[0] | VM_FAULT_LOCKED


# ---------------------------------------------------------------------------
# Truncate and hole punch.

def shmem_free_swap(mapping: address_space, index: int, radswap: int) -> int:
    """Drop the swap entry at ``index`` if it is still ``radswap``.

    Context: no locks held (the cmpxchg takes xa_lock).
    Return: the number of pages freed (1 << order), or 0 if the entry changed.
    """
    order = xa_get_order(mapping.i_pages, index)
    old = xa_cmpxchg_irq(mapping.i_pages, index, radswap, None)
    if not _xa_same(old, radswap):
        return 0
    swap_put_entries_direct(radix_to_swp_entry(radswap), 1 << order)
    return 1 << order


def shmem_undo_range(ino: inode, lstart: int, lend: int, unfalloc: bool) -> None:
    """Remove the whole pages of ``[lstart, lend]`` (bytes; ``lend`` -1: to the end).

    Page-cache folios are unmapped and removed, swap entries released
    (shmem_free_swap()).  Partial pages are not zeroed (not modeled).
    Context: process context, may sleep; no locks held.
    Return: nothing.
    """
    mapping = ino.i_mapping
    start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT
    end = -1 if lend == -1 else (lend + 1) >> PAGE_SHIFT
    nr_swaps_freed = 0
    index = start
    while True:
        indices = sorted(i for i in mapping.i_pages.slots
                         if i >= index and (end == -1 or i < end))
        if not indices:
            break
        i = indices[0]
        entry = xa_load(mapping.i_pages, i)
        order = xa_get_order(mapping.i_pages, i)
        index = (i & ~((1 << order) - 1)) + (1 << order)
        if xa_is_value(entry):
            if unfalloc:
                continue
            freed = shmem_free_swap(mapping, i, entry)
            if not freed:
                # Swap was replaced by page: retry.
                index = i
                continue
            nr_swaps_freed += freed
            continue
        f: folio = entry
        folio_get(f)
        folio_lock(f)
        if f.mapping is not mapping:
            # Page was replaced by swap: retry.
            folio_unlock(f)
            folio_put(f)
            index = i
            continue
        VM_BUG_ON_FOLIO(f.PG_writeback, f, "shmem_undo_range: page-cache folio under writeback")
        truncate_inode_folio(mapping, f)
        folio_unlock(f)
        folio_put(f)
        cond_resched()
    shmem_recalc_inode(ino, 0, -nr_swaps_freed)


def shmem_truncate_range(ino: inode, lstart: int, lend: int) -> None:
    """Truncate the whole pages of ``[lstart, lend]``: shmem_undo_range() without unfalloc.

    Context: process context, may sleep (the kernel's caller holds the inode
    lock; not modeled).
    Return: nothing.
    """
    shmem_undo_range(ino, lstart, lend, False)


def shmem_fallocate(f: file, mode: int, offset: int, length: int) -> int:
    """fallocate(2) on a shmem file: only FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE.

    Context: process context, may sleep.
    Return: 0, or -EOPNOTSUPP (-95) for other modes.
    """
    ino = file_inode(f)
    if mode != FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
        return -95
    mapping = f.f_mapping
    unmap_start = (offset + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    unmap_end = ((offset + length) & ~(PAGE_SIZE - 1)) - 1
    if unmap_end > unmap_start:
        unmap_mapping_range(mapping, unmap_start, 1 + unmap_end - unmap_start, False)
    shmem_truncate_range(ino, offset, offset + length - 1)
    return 0


def shmem_evict_inode(ino: inode) -> None:
    """The last reference to the inode is gone: free its pages and swap, leave the swaplist.

    Waits while shmem_unuse() is scanning the inode (``stop_eviction``).
    Context: process context, may sleep; no locks held.
    Return: nothing.
    """
    info = SHMEM_I(ino)
    ino.i_size = 0
    shmem_truncate_range(ino, 0, -1)
    while not list_empty(info.swaplist):
        # Wait while shmem_unuse() is scanning this inode...
        spin_lock(shmem_swaplist_lock)
        # ...but beware of the race if we peeked too early.
        if not info.stop_eviction:
            list_del(info.swaplist)
        spin_unlock(shmem_swaplist_lock)
    WARN_ON(info.alloced or info.swapped,
            f"shmem_evict_inode: inode {ino.i_ino} still has {info.alloced} pages "
            f"({info.swapped} swapped)")


# ---------------------------------------------------------------------------
# Swapoff.

def shmem_find_swap_entries(mapping: address_space, start: int, type: int) -> list[tuple[int, int]]:
    """Up to PAGEVEC_SIZE (index, value entry) pairs of device ``type`` from ``start``.

    Swapin error entries are ignored: everything that can be done was done.
    Context: swapoff, no locks held (the kernel's walks under the RCU read lock).
    Return: the pairs, in index order (empty: none left).
    """
    out: list[tuple[int, int]] = []
    for index in sorted(mapping.i_pages.slots):
        if index < start:
            continue
        entry = xa_load(mapping.i_pages, index)
        if not xa_is_value(entry):
            continue
        if index & ((1 << xa_get_order(mapping.i_pages, index)) - 1):
            continue                            # a multi-index entry is found once
        if swp_type(radix_to_swp_entry(entry)) != type:
            continue
        out.append((index, entry))
        if len(out) == PAGEVEC_SIZE:
            break
    return out


def shmem_unuse_swap_entries(ino: inode, batch: list[tuple[int, int]]) -> int:
    """Swap in every entry of ``batch`` (shmem_swapin_folio()).

    Context: swapoff, no locks held; may sleep.
    Return: how many were swapped in, or -ENOMEM.
    """
    ret = 0
    error = 0
    for index, entry in batch:
        foliop: list[Any] = [entry]
        error = shmem_swapin_folio(ino, index, foliop, SGP_CACHE, GFP_KERNEL, None, None)
        if error == 0:
            folio_unlock(foliop[0])
            folio_put(foliop[0])
            ret += 1
        if error == -ENOMEM:
            break
        error = 0
    return error if error else ret


def shmem_unuse_inode(ino: inode, type: int) -> int:
    """Bring every swap entry of device ``type`` of one inode back into its page cache.

    Context: swapoff, no locks held; may sleep.
    Return: 0, or -ENOMEM.
    """
    mapping = ino.i_mapping
    start = 0
    while True:
        batch = shmem_find_swap_entries(mapping, start, type)
        if not batch:
            return 0
        ret = shmem_unuse_swap_entries(ino, batch)
        if ret < 0:
            return ret
        start = batch[-1][0]


def shmem_unuse(type: int) -> int:
    """Read all the shmem data on swap device ``type`` back into memory.

    Context: swapoff (try_to_unuse()), no locks held.
    Return: 0, or -ENOMEM.
    """
    error = 0
    if list_empty(shmem_swaplist):
        return 0
    spin_lock(shmem_swaplist_lock)
    for info in list_for_each_entry(shmem_swaplist):
        if not info.swapped:
            list_del(info.swaplist)
            continue
        # Drop the swaplist lock while searching the inode for swap; but
        # before doing so, make sure shmem_evict_inode() will not remove the
        # inode from the swaplist, nor let it be freed.
        info.stop_eviction += 1
        spin_unlock(shmem_swaplist_lock)
        error = shmem_unuse_inode(info.vfs_inode, type)
        cond_resched()
        spin_lock(shmem_swaplist_lock)
        info.stop_eviction -= 1
        if error:
            break
        if not info.swapped:
            list_del(info.swaplist)
    spin_unlock(shmem_swaplist_lock)
    return error


# ---------------------------------------------------------------------------
# mm/rmap.c, the file side (see the module notes: to move to mm/rmap.py).

def mm_counter_file(folio: folio) -> int:
    """include/linux/mm.h: the rss counter of a file folio.

    Context: any.
    Return: MM_SHMEMPAGES for a swap-backed (shmem) folio, else MM_FILEPAGES.
    """
    return MM_SHMEMPAGES if folio_test_swapbacked(folio) else MM_FILEPAGES


def folio_add_file_rmap_ptes(folio: folio, p: page, nr_pages: int, vma: vm_area_struct) -> None:
    """Add ``nr_pages`` pte mappings of a page-cache folio, from page ``p`` on.

    Context: Caller must hold the page table lock; the folio is locked (the
    fault path).
    Return: nothing.
    """
    if __debug__:
        VM_WARN_ON_FOLIO(folio_test_anon(folio), folio, "folio_add_file_rmap_ptes: anon folio")
    for i in range(p.idx, p.idx + nr_pages):
        folio.pages[i].mapcount += 1
    folio.total_mapcount += nr_pages


def rmap_walk_file(folio: folio, rmap_one: Any, done: Any, arg: Any, locked: bool) -> None:
    """Call ``rmap_one(folio, vma, address, arg)`` for every VMA of the file mapping ``folio``.

    Stops when ``rmap_one`` returns False or ``done(folio)`` is true.
    Context: Caller must hold the folio lock; takes i_mmap_rwsem unless
    ``locked``.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "rmap_walk_file: folio not locked")
    mapping = folio.mapping
    if mapping is None:
        return
    if not locked:
        mutex_lock(mapping.i_mmap_rwsem)
    for vma in list(mapping.i_mmap):
        address = vma_address(vma, folio.index, folio_nr_pages(folio))
        if address < 0:
            continue
        if not rmap_one(folio, vma, address, arg):
            break
        if done is not None and done(folio):
            break
    if not locked:
        mutex_unlock(mapping.i_mmap_rwsem)


def try_to_unmap_file_one(folio: folio, vma: vm_area_struct, address: int, arg: Any) -> bool:
    """The file-folio part of try_to_unmap_one(): clear the pte, keep its dirty bit.

    Context: the folio is locked; takes the page-table lock.
    Return: True (a file pte can always be cleared).
    """
    mm = vma.vm_mm
    pmd = pmd_off(mm, address)
    pte, ptl = pte_offset_map_lock(mm, pmd, address)
    if pte is None:
        return True
    pteval = ptep_get(pte)
    if not pte_present(pteval) or pteval.page is None or pteval.page.folio is not folio:
        pte_unmap_unlock(pte, ptl)
        return True
    subpage = pteval.page
    pteval = ptep_clear_flush(mm, address, pte)
    # Set the dirty flag on the folio now the pte is gone.
    if pte_dirty(pteval):
        folio_mark_dirty(folio)
    dec_mm_counter(mm, mm_counter_file(folio))
    subpage.mapcount -= 1
    folio.total_mapcount -= 1                   # folio_remove_rmap_pte()
    pte_unmap_unlock(pte, ptl)
    folio_put(folio)
    return True


def try_to_unmap_file(folio: folio, flags: int) -> None:
    """try_to_unmap() of a page-cache folio: rmap_walk_file() with try_to_unmap_file_one().

    Context: Caller must hold the folio lock.
    Return: nothing (the caller tests folio_mapped()).
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_locked(folio), folio, "try_to_unmap_file: folio not locked")
    rmap_walk_file(folio, try_to_unmap_file_one, lambda f: not folio_mapped(f), flags, False)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm import swapfile  # noqa: E402  (for the total_swap_pages global only)
from swaplab.mm.memory import unmap_mapping_range  # noqa: E402
from swaplab.mm.page_io import AOP_WRITEPAGE_ACTIVATE, swap_writeout  # noqa: E402
from swaplab.mm.page_io import folio_wait_writeback_io as folio_wait_writeback  # noqa: E402
from swaplab.mm.swap import folio_matches_swap_entry  # noqa: E402
from swaplab.mm.swap_state import (read_swap_cache_async, swap_cache_del_folio,  # noqa: E402
                                   swap_cache_get_folio, swapin_folio)
from swaplab.mm.swapfile import (folio_alloc_swap, folio_dup_swap, folio_put_swap,  # noqa: E402
                                 get_swap_device, put_swap_device,
                                 swap_put_entries_direct)
from swaplab.mm.vmscan import folio_add_lru  # noqa: E402
