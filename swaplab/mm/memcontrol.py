"""mm/memcontrol.c: memory cgroups (cgroup v2), as far as swap needs them.

* One :class:`mem_cgroup` per cgroup directory: the root, created at boot,
  and those made by cgroup_mkdir() (``mkdir /sys/fs/cgroup/NAME``).  It
  extends the harness's :class:`swaplab.kernel.custom.mem_cgroup` (swap
  usage and ``memory.swap.max``) with an id, its parent and its LRU.
* A task belongs to one cgroup (``task->cgroups``): the root, its parent's
  after fork (cgroup_post_fork()), or the one it was moved to
  (cgroup_attach_task(): a write to ``cgroup.procs``).  Moving a task does
  not move what is charged (cgroup v2 has no charge migration).
* A page is charged when it is allocated for a process: mem_cgroup_charge()
  to the memcg of the mm's owner (anonymous and COW faults, KSM swap-in
  copies), mem_cgroup_swapin_charge_folio() to the memcg the slot was
  charged to at swap-out (swap_cgroup), else the mm's.  It stays charged
  there until it is freed.
* ``memory.reclaim`` (memory_reclaim()) is proactive reclaim of one cgroup:
  user_proactive_reclaim() and try_to_free_mem_cgroup_pages() in
  mm/vmscan.py shrink the cgroup's LRU folios through shrink_folio_list(),
  whatever their mapcount -- unlike MADV_PAGEOUT, which leaves a folio
  mapped more than once alone.

The LRU of a memcg (``lru``) is the list of folios charged to it, oldest
first; a folio is on it while it is ``PG_lru`` and not freed (the model
frees a folio by dropping its last reference, without an uncharge hook, so
freed folios are skipped rather than removed).

XX: not modeled: ``memory.max``/``memory.high`` (charges never fail, no
memcg OOM), per-memcg statistics, the swap-in charge of read-ahead folios
allocated in mm/swap_state.py (charged to nobody), memcg v1.
"""

from __future__ import annotations

from collections.abc import Iterator

from swaplab.include.linux.errno import ENOENT
from swaplab.include.linux.mm_types import mm_struct
from swaplab.include.linux.mmdebug import VM_BUG_ON_FOLIO
from swaplab.include.linux.swapops import swp_offset
from swaplab.kernel import custom
from swaplab.kernel.dup import folio
from swaplab.kernel.locking import get_current, task_struct

__all__ = (
    "cgroup_attach_task",
    "cgroup_mkdir",
    "cgroup_post_fork",
    "folio_memcg",
    "get_mem_cgroup_from_mm",
    "mem_cgroup",
    "mem_cgroup_charge",
    "mem_cgroup_from_task",
    "mem_cgroup_id",
    "mem_cgroup_lookup",
    "mem_cgroup_lru_folios",
    "mem_cgroup_swapin_charge_folio",
    "memory_reclaim",
    "mm_init_owner",
    "reset_memcontrol",
    "root_mem_cgroup",
)


class mem_cgroup(custom.mem_cgroup):
    """struct mem_cgroup: one memory cgroup.

    ``lru`` lists the folios charged here, oldest first (the memcg's
    lruvec); ``parent`` is None for the root.
    """

    __slots__ = ("id", "lru", "parent")

    def __init__(self, name: str, memcg_id: int, parent: mem_cgroup | None) -> None:
        super().__init__(name)
        self.id = memcg_id
        self.parent = parent
        self.lru: list[folio] = []

    def __repr__(self) -> str:
        return f"<memcg {self.name or '/'}>"


root_mem_cgroup = mem_cgroup("", 1, None)
# The cgroup tree: path below /sys/fs/cgroup -> memcg ("" is the root).
mem_cgroups: dict[str, mem_cgroup] = {"": root_mem_cgroup}
# task->cgroups (by pid) and mm->owner (by mm id).
_task_memcg: dict[int, mem_cgroup] = {}
_mm_owner: dict[int, task_struct] = {}


def reset_memcontrol() -> None:
    """Boot state: only the root cgroup, every task in it, nothing charged."""
    mem_cgroups.clear()
    root_mem_cgroup.__init__("", 1, None)  # type: ignore[misc]
    mem_cgroups[""] = root_mem_cgroup
    _task_memcg.clear()
    _mm_owner.clear()


def mem_cgroup_id(memcg: mem_cgroup | None) -> int:
    """The memcg's id, as swap_cgroup records it (the root's is 1).

    Context: any.
    Return: the id, or 0 for no memcg (the kernel's 0 when memcg is disabled).
    """
    return memcg.id if memcg is not None else 0


# ---------------------------------------------------------------------------
# Cgroups and tasks (kernel/cgroup/cgroup.c).

def cgroup_mkdir(name: str) -> mem_cgroup:
    """``mkdir /sys/fs/cgroup/NAME`` with ``+memory`` in the root's subtree_control.

    A composite of cgroup_mkdir() and the memory controller's css_alloc; a
    name that exists already gives its memcg back.
    Context: process context (the kernel's runs under cgroup_mutex; not modeled).
    Return: the new or existing memcg (the kernel's returns 0 or -errno:
    -EEXIST for an existing name).
    """
    memcg = mem_cgroups.get(name)
    if memcg is None:
        parent_name = name.rsplit("/", 1)[0] if "/" in name else ""
        parent = mem_cgroups.get(parent_name, root_mem_cgroup)
        memcg = mem_cgroup(name, len(mem_cgroups) + 1, parent)
        mem_cgroups[name] = memcg
    return memcg


def mem_cgroup_lookup(name: str) -> mem_cgroup | None:
    """The memcg of cgroup directory ``name``, or None."""
    return mem_cgroups.get(name)


def cgroup_attach_task(memcg: mem_cgroup, p: task_struct) -> int:
    """Move ``p`` into ``memcg`` (a write of its pid to ``cgroup.procs``).

    Only the task moves: what it charged stays where it is (cgroup v2).
    Context: process context (the kernel's caller holds cgroup_mutex and
    cgroup_threadgroup_rwsem; not modeled).
    Return: 0.
    """
    _task_memcg[p.pid] = memcg
    return 0


def cgroup_post_fork(child: task_struct) -> None:
    """The child of current starts in current's cgroup (cgroup_post_fork()).

    Context: fork (copy_process()), current is the parent.
    Return: nothing.
    """
    _task_memcg[child.pid] = mem_cgroup_from_task(get_current())


def mem_cgroup_from_task(p: task_struct) -> mem_cgroup:
    """The memcg of task ``p``: the root until it is moved.

    Context: any (the kernel's caller holds rcu_read_lock()).
    Return: the memcg (the kernel's returns NULL for a NULL task; the model's
    callers never pass one).
    """
    return _task_memcg.get(p.pid, root_mem_cgroup)


def mm_init_owner(mm: mm_struct, p: task_struct) -> None:
    """kernel/fork.c: ``mm->owner = p`` (CONFIG_MEMCG).

    Context: fork or exec, before the mm is visible to anyone else.
    Return: nothing.
    """
    _mm_owner[mm.id] = p


def get_mem_cgroup_from_mm(mm: mm_struct | None) -> mem_cgroup:
    """The memcg of ``mm->owner`` (current's when ``mm`` is None or has no owner recorded).

    Context: any.
    Return: the memcg, never None (the kernel's also takes a css reference,
    which the model does not count).
    """
    owner = _mm_owner.get(mm.id) if mm is not None else None
    return mem_cgroup_from_task(owner if owner is not None else get_current())


def folio_memcg(f: folio) -> mem_cgroup | None:
    """include/linux/memcontrol.h: the memcg a folio is charged to.

    Context: something keeps the folio's memcg binding stable: the folio
    lock, LRU isolation, or an exclusive reference.
    Return: the memcg, or None when the folio is not charged.
    """
    memcg: mem_cgroup | None = f.memcg
    return memcg


# ---------------------------------------------------------------------------
# Charging.

def charge_memcg(f: folio, memcg: mem_cgroup) -> int:
    """Commit the charge of ``f`` to ``memcg``: it joins the memcg's LRU.

    charge_memcg() is try_charge(), which never fails here (no limits), then
    commit_charge(), whose check is on the first lines.
    Context: the folio is new: exclusively referenced, not charged yet.
    Return: 0.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(f.memcg is not None, f, "charge_memcg: folio already charged")  # commit_charge()
    f.memcg = memcg
    memcg.lru.append(f)
    return 0


def mem_cgroup_charge(f: folio, mm: mm_struct | None, gfp: int) -> int:
    """Charge a newly allocated folio to the memcg of ``mm``'s owner.

    Not for folios allocated for swap-in: those use
    mem_cgroup_swapin_charge_folio().
    Context: process context; the folio is new and not charged yet.
    Return: 0 (the kernel's -ENOMEM over the limit; the model has no limits).
    """
    if __debug__:
        VM_BUG_ON_FOLIO(f.memcg is not None, f, "mem_cgroup_charge: folio already charged")
    return charge_memcg(f, get_mem_cgroup_from_mm(mm))


def mem_cgroup_swapin_charge_folio(f: folio, mm: mm_struct | None, gfp: int, entry: int) -> int:
    """Charge a folio allocated for swap-in to the memcg its slot was charged to, else ``mm``'s.

    A recorded memcg that is gone (rmdir) falls back to ``mm``'s, as the
    kernel's lookup of an offline id does.
    Context: process context; the folio is new, not charged, and not yet in
    the swap cache.
    Return: 0 (the kernel's -ENOMEM over the limit; the model has no limits).
    """
    si = swap_entry_to_info(entry)
    memcg = si.swap_cgroup.get(swp_offset(entry)) if si is not None else None
    if not isinstance(memcg, mem_cgroup) or mem_cgroups.get(memcg.name) is not memcg:
        memcg = get_mem_cgroup_from_mm(mm)
    return charge_memcg(f, memcg)


def mem_cgroup_is_descendant(memcg: mem_cgroup, root: mem_cgroup) -> bool:
    """Is ``memcg`` ``root`` or below it in the hierarchy?

    Context: any.
    Return: True or False.
    """
    m: mem_cgroup | None = memcg
    while m is not None:
        if m is root:
            return True
        m = m.parent
    return False


def for_each_mem_cgroup_tree(root: mem_cgroup) -> Iterator[mem_cgroup]:
    """``root`` and its descendants, in creation order (the kernel macro walks pre-order).

    Context: any.
    Return: an iterator over the memcgs.
    """
    for memcg in list(mem_cgroups.values()):
        if mem_cgroup_is_descendant(memcg, root):
            yield memcg


def mem_cgroup_lru_folios(root: mem_cgroup) -> list[folio]:
    """The LRU folios charged to ``root`` or below it, oldest first (freed ones dropped)."""
    out: list[folio] = []
    for memcg in for_each_mem_cgroup_tree(root):
        memcg.lru[:] = [f for f in memcg.lru if not f.freed and f.memcg is memcg]
        out.extend(f for f in memcg.lru if f.PG_lru)
    return out


# ---------------------------------------------------------------------------
# Control files.

def memory_reclaim(memcg: mem_cgroup | None, nbytes: int) -> int:
    """A write of ``nbytes`` to ``memory.reclaim``: proactive reclaim of the cgroup.

    Context: process context (a write to the control file), no locks held.
    Return: 0 when that much was reclaimed (the kernel's write returns
    ``nbytes``), -EAGAIN when less could be, -EINTR on a signal, -ENOENT
    without the cgroup.
    """
    if memcg is None:
        return -ENOENT
    return user_proactive_reclaim(nbytes, memcg)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.swapfile import swap_entry_to_info
from swaplab.mm.vmscan import user_proactive_reclaim
