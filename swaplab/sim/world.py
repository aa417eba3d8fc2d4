"""The world around the modeled kernel: processes, their memory, and the "CPU" that touches it.

A :class:`World` boots the model and runs scenario-level operations, each
as the syscall or memory access a user process would make:

* processes (:class:`Process`): a task_struct with its mm; ``fork`` copies
  the mm (kernel/fork.py), ``exit`` drops it (kernel/exit.py);
* one anonymous private region per process (``map``/``unmap``: mm/mmap.py);
* memory access (:meth:`World.access`): the MMU walks the page table; a
  missing or write-protected pte raises a fault, handled by
  handle_mm_fault() under mmap_lock (mm/memory.py).  A write gives the page
  a new content token; a read checks the token against what this process
  last wrote there (zeros after MADV_DONTNEED; old data or zeros after
  MADV_FREE), and a mismatch is a ``data-corruption`` finding;
* madvise (mm/madvise.py), swapon/swapoff (mm/swapfile.py), sleep;
* one shm region per process (``shm_map``): a memfd (mm/shmem.py) of N
  pages, ftruncate'd and mapped MAP_SHARED.  Its content is the file's, so
  what pages should hold is kept per file and shared by every process that
  maps it; a forked process shares the mapping but gets no ptes until it
  touches the pages.  ``punch`` is fallocate(PUNCH_HOLE) on the memfd;
  ``unmap`` of the shm region also closes the memfd;
* /dev/snapshot (kernel/power/user.py): open with SET_SWAP_AREA, the swap
  size and slot ioctls, close;
* KSM (mm/ksm.py): the /sys/kernel/mm/ksm/ knobs (``write_file``), pages
  with one shared pattern (``write``'s ``pattern``), ksmd (it runs the
  batches its wake-ups asked for when a task returns to user space, and
  its sleeps time out in ``sleep``), swaptest's ``ksm_wait``;
* memory cgroups (mm/memcontrol.py): ``memcg_enter``/``memcg_leave`` move
  a process, ``memory_reclaim`` writes ``memory.reclaim``.

Time: the model has no clock.  Asynchronous block I/O (writes to a
non-SWP_SYNCHRONOUS_IO device) completes when the task returns to user
space at the end of an operation, as real I/O completes long before the
next syscall; reclaim inside one operation still finds its own writes in
flight (so MADV_PAGEOUT leaves pages in the swap cache).  Deferred work
(discard, reclaim workers) runs at the same points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from swaplab.check import findings
from swaplab.check.findings import report
from swaplab.errors import InvalidScenario
from swaplab.include.linux.mm_types import (
    FAULT_FLAG_USER,
    FAULT_FLAG_WRITE,
    VM_FAULT_ERROR,
    VM_FAULT_OOM,
    VM_FAULT_SIGSEGV,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_NOHUGEPAGE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    mm_struct,
    vma_lookup,
)
from swaplab.include.linux.pgtable import (
    PAGE_SIZE,
    is_zero_page,
    pmd_off,
    pte_is_swap_entry,
    pte_mkdirty,
    pte_mkyoung,
    pte_none,
    pte_offset_map,
    pte_present,
    pte_to_swp_entry,
    ptep_get,
    set_pte_at,
)
from swaplab.include.linux.errno import EEXIST, ENOENT
from swaplab.include.linux.swap import SWAP_FLAG_PREFER, SWAP_FLAG_PRIO_MASK
from swaplab.include.linux.swapops import swp_offset, swp_type
from swaplab.kernel import custom
from swaplab.kernel.custom import next_content_token, register_backing, swap_backing
from swaplab.kernel.exit import do_exit
from swaplab.kernel.fork import copy_mm
from swaplab.kernel.locking import get_current, mutex_lock, mutex_unlock, set_current, task_struct
from swaplab.mm import swapfile
from swaplab.mm.madvise import MADV_COLD, MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, MADV_WILLNEED, do_madvise
from swaplab.kconfig import PMD_ORDER
from swaplab.mm.huge_memory import thp_size_to_order, thpsize_enabled_store
from swaplab.mm.memory import handle_mm_fault
from swaplab.mm.mmap import do_mmap, vm_munmap
from swaplab.mm.page_io import swap_complete_inflight_io
from swaplab.mm.swap_state import page_cluster
from swaplab.mm.shmem import (
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE,
    file_inode,
    fput,
    get_file,
    is_poisoned_swp_entry,
    radix_to_swp_entry,
    shmem_fallocate,
    shmem_file_setup,
    shmem_setattr,
    shmem_swap_usage,
    xa_is_value,
    xa_load,
)
from swaplab.mm.swap_state import swap_cache_has_folio
from swaplab.kernel.power.user import (
    O_RDONLY,
    SNAPSHOT_ALLOC_SWAP_PAGE,
    SNAPSHOT_AVAIL_SWAP_SIZE,
    SNAPSHOT_FREE_SWAP_PAGES,
    SNAPSHOT_SET_SWAP_AREA,
    snapshot_ioctl,
    snapshot_open,
    snapshot_release,
)
from swaplab.mm.vmstat import NR_SWAPCACHE, global_node_page_state, vm_event_states
from swaplab.sim.system import boot
from swaplab.kernel.dup import folio_test_ksm
from swaplab.mm.ksm import (MADV_MERGEABLE, MADV_UNMERGEABLE, ksm_sysfs_show, ksm_sysfs_store,
                            ksmd_run_pending, ksmd_timer)
from swaplab.mm.memcontrol import (cgroup_attach_task, cgroup_mkdir, cgroup_post_fork,
                                   mem_cgroup_lookup, memory_reclaim, mm_init_owner,
                                   root_mem_cgroup)
from swaplab.mm.vmstat import COW_KSM, KSM_SWPIN_COPY

KSM_SYSFS = "/sys/kernel/mm/ksm/"
THP_SYSFS = "/sys/kernel/mm/transparent_hugepage/"
THP_ENABLED_RE = re.compile(r"/sys/kernel/mm/transparent_hugepage/hugepages-([0-9]+)kB/enabled")
# write_same: one fixed pattern per id, the same in every page (so KSM can merge them).
SAME_PATTERN_TOKEN = 1 << 48

ADVICE = {"pageout": MADV_PAGEOUT, "cold": MADV_COLD, "dontneed": MADV_DONTNEED,
          "free": MADV_FREE, "willneed": MADV_WILLNEED,
          "merge": MADV_MERGEABLE, "unmerge": MADV_UNMERGEABLE}


@dataclass
class Region:
    """An anonymous region: ``npages`` pages from ``addr``; what each page should hold."""

    addr: int
    npages: int
    expected: list[int] = field(default_factory=list)   # content token per page (0 = zeros)
    lazy: set[int] = field(default_factory=set)          # MADV_FREE'd: old data or zeros
    file: Any = None                                     # shm: the memfd (struct file), else None


# Signal numbers of the signals a fault can kill a process with.
SIGNO = {"SIGBUS": 7, "SIGKILL": 9, "SIGSEGV": 11}

# Linux device numbers of the block devices the oracle uses (for SNAP lines).
DEVNO = {"/dev/vda": "254:0", "/dev/vdb": "254:16", "/dev/ram0": "1:0", "/dev/ram1": "1:1"}


class Process:
    """A user process: its task (and mm), its anon region and its shm mappings.

    ``shm`` is the memfd of ``shm_map`` without a name (the oracle's one shm
    region); ``files`` maps each named shmem file it maps to its region.
    ``killed_by`` names the signal that killed it (``SIGBUS``, or ``SIGKILL``
    from the OOM killer), None while it lives or after a normal exit.
    """

    def __init__(self, name: str, task: task_struct) -> None:
        self.name = name
        self.task = task
        self.anon: Region | None = None
        self.shm: Region | None = None
        self.files: dict[str, Region] = {}
        self.alive = True
        self.killed_by: str | None = None

    @property
    def mm(self) -> mm_struct:
        mm: mm_struct = self.task.mm
        return mm

    def __repr__(self) -> str:
        return f"<process {self.name}>"


class World:
    """A booted model with processes.  Every method is one user-visible operation."""

    def __init__(self, nr_cpus: int = 1, seed: int = 0, checks: int = findings.RECORD) -> None:
        boot(nr_cpus=nr_cpus, checks=checks, seed=seed)
        self.snapshot: Any = None              # the open /dev/snapshot (snapshot_data)
        self.shm_files: dict[str, Region] = {}  # named shmem files (tmpfs), by name
        self._next_pid = 100
        self.processes: dict[str, Process] = {}
        self.kernel_task = get_current()
        task = self._new_task("parent")
        task.mm = mm_struct("parent")
        self.main = self._add(Process("parent", task))
        mm_init_owner(task.mm, task)

    # --- processes -----------------------------------------------------------
    def _new_task(self, name: str) -> task_struct:
        self._next_pid += 1
        return task_struct(self._next_pid, name)

    def _add(self, proc: Process) -> Process:
        self.processes[proc.name] = proc
        return proc

    def _enter(self, proc: Process) -> None:
        if not proc.alive:
            if proc.killed_by is not None:
                raise InvalidScenario(f"process {proc.name} was killed by {proc.killed_by}")
            raise InvalidScenario(f"process {proc.name} has exited")
        set_current(proc.task)

    def _return_to_user(self) -> None:
        """The end of a syscall or fault: in-flight I/O completes, deferred work runs."""
        swap_complete_inflight_io()
        custom.flush_scheduled_work()
        ksmd_run_pending()                     # ksmd runs while the process waits
        set_current(self.kernel_task)

    def oops_recover(self) -> list[Any]:
        """An oops ended the current operation: release its locks, finish as a return to user.

        Return: the locks the dead operation still held.
        """
        from swaplab.kernel.locking import release_all_held
        released = release_all_held(get_current())
        self._return_to_user()
        return released

    def fork(self, parent: Process, name: str) -> Process | int:
        """fork(2): a child with a copy of ``parent``'s memory.

        Return: the child, or copy_mm()'s -errno (-ENOMEM) when the fork failed.
        """
        self._enter(parent)
        task = self._new_task(name)
        err = copy_mm(0, task)
        cgroup_post_fork(task)
        if not err:
            mm_init_owner(task.mm, task)
        self._return_to_user()
        if err:
            return err
        child = Process(name, task)
        task.mm.owner = name
        if parent.anon is not None:
            r = parent.anon
            child.anon = Region(r.addr, r.npages, list(r.expected), set(r.lazy))
        # The child shares each file (and what it holds) and its open fd
        # (copy_files()); dup_mmap() gave the mappings their own file references.
        if parent.shm is not None:
            r = parent.shm
            child.shm = Region(r.addr, r.npages, r.expected, r.lazy, get_file(r.file))
        for fname, r in parent.files.items():
            child.files[fname] = Region(r.addr, r.npages, r.expected, r.lazy, get_file(r.file))
        return self._add(child)

    def exit(self, proc: Process) -> None:
        """exit(2): the process's memory is torn down before this returns."""
        self._enter(proc)
        self._do_exit(proc, 0)
        self._return_to_user()

    def _do_exit(self, proc: Process, code: int) -> None:
        """do_exit() of current (``proc``): exit_mm(), then exit_files() closes its memfds."""
        do_exit(code)
        if proc.shm is not None:
            fput(proc.shm.file)                # exit_files(): the memfd is closed
            proc.shm = None
        for r in proc.files.values():
            fput(r.file)
        proc.files = {}
        proc.alive = False
        del self.processes[proc.name]

    def _fault_failed(self, proc: Process, addr: int, ret: int) -> None:
        """The arch fault handler's error exits for a user fault that returned VM_FAULT_ERROR.

        VM_FAULT_OOM: pagefault_out_of_memory(); the OOM killer picks the
        faulting task (the model's only candidate) and SIGKILLs it.
        VM_FAULT_SIGBUS / VM_FAULT_HWPOISON: do_sigbus() -> force_sig_fault(SIGBUS),
        whose default action kills the process.  Either way the process
        dies as by a fatal signal: do_exit() tears its mm down now.
        Context: runs as ``proc``, no locks held.
        """
        sig = "SIGKILL" if ret & VM_FAULT_OOM else "SIGSEGV" if ret & VM_FAULT_SIGSEGV \
            else "SIGBUS"
        proc.killed_by = sig
        self._do_exit(proc, SIGNO[sig])

    # --- regions -------------------------------------------------------------
    def map(self, proc: Process, npages: int, nohugepage: bool = True) -> None:
        """mmap an anon private region of ``npages`` pages (replacing an earlier one).

        ``nohugepage``: the region gets MADV_NOHUGEPAGE, as the oracle's
        regions do; without it the mTHP sizes set ``always``
        (:meth:`write_file` of ``hugepages-<size>kB/enabled``) apply to it.
        """
        if proc.anon is not None:
            self.unmap(proc)
        self._enter(proc)
        mm = proc.mm
        mutex_lock(mm.mmap_lock)
        vm_flags = None if nohugepage else VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
        addr = do_mmap(mm, npages * PAGE_SIZE, vm_flags)
        mutex_unlock(mm.mmap_lock)
        self._return_to_user()
        if addr < 0:
            raise InvalidScenario(f"mmap of {npages} pages failed with {addr}")
        proc.anon = Region(addr, npages, [0] * npages)

    def unmap(self, proc: Process, region: str = "anon", file: str | None = None) -> None:
        """munmap a region; for shm also close the file (the last user frees a memfd).

        ``file``: the mapping of that named shmem file (see :meth:`shm_map`).
        """
        if file is not None:
            r: Region | None = proc.files.get(file)
        else:
            r = proc.shm if region == "shm" else proc.anon
        if r is None:
            return
        self._enter(proc)
        vm_munmap(proc.mm, r.addr, r.npages * PAGE_SIZE)
        if r.file is not None:
            fput(r.file)                       # close(fd)
        self._return_to_user()
        if file is not None:
            del proc.files[file]
        elif region == "shm":
            proc.shm = None
        else:
            proc.anon = None

    def shm_create(self, proc: Process, name: str, npages: int) -> int:
        """A named shmem file of ``npages`` pages (open(O_CREAT) on tmpfs + ftruncate + close).

        The file lives on in the file system (the World holds its reference,
        as the dentry does) until :meth:`shm_unlink`, whoever maps it.
        Return: 0, or -EEXIST if ``name`` exists.
        """
        if name in self.shm_files:
            return -EEXIST
        self._enter(proc)
        f = shmem_file_setup(name, 0)
        shmem_setattr(file_inode(f), npages * PAGE_SIZE)
        self._return_to_user()
        self.shm_files[name] = Region(0, npages, [0] * npages, set(), f)
        return 0

    def shm_unlink(self, proc: Process, name: str) -> int:
        """unlink(2) of a named shmem file: the last close of it frees it.  Return: 0 or -ENOENT."""
        r = self.shm_files.pop(name, None)
        if r is None:
            return -ENOENT
        self._enter(proc)
        fput(r.file)
        self._return_to_user()
        return 0

    def shm_map(self, proc: Process, npages: int, name: str | None = None) -> None:
        """memfd_create + ftruncate(npages pages) + mmap(MAP_SHARED), replacing an earlier one.

        With ``name``: open the named shmem file (made by :meth:`shm_create`,
        else now with ``npages`` pages) and mmap(MAP_SHARED) all of it; any
        process may map it, and all of them see the same pages.
        """
        if name is not None:
            self._shm_map_named(proc, name, npages)
            return
        if proc.shm is not None:
            self.unmap(proc, "shm")
        self._enter(proc)
        f = shmem_file_setup("swaptest", 0)
        shmem_setattr(file_inode(f), npages * PAGE_SIZE)
        mm = proc.mm
        mutex_lock(mm.mmap_lock)
        addr = do_mmap(mm, npages * PAGE_SIZE, VM_READ | VM_WRITE | VM_SHARED | VM_MAYREAD
                       | VM_MAYWRITE | VM_MAYSHARE | VM_MAYEXEC | VM_NOHUGEPAGE, f)
        mutex_unlock(mm.mmap_lock)
        self._return_to_user()
        if addr < 0:
            fput(f)
            raise InvalidScenario(f"mmap of a {npages}-page memfd failed with {addr}")
        proc.shm = Region(addr, npages, [0] * npages, set(), f)

    def _shm_map_named(self, proc: Process, name: str, npages: int) -> None:
        if name not in self.shm_files:
            self.shm_create(proc, name, npages)
        shared = self.shm_files[name]
        if name in proc.files:
            self.unmap(proc, "shm", name)
        self._enter(proc)
        f = get_file(shared.file)                  # open(name, O_RDWR)
        mm = proc.mm
        mutex_lock(mm.mmap_lock)
        addr = do_mmap(mm, shared.npages * PAGE_SIZE, VM_READ | VM_WRITE | VM_SHARED | VM_MAYREAD
                       | VM_MAYWRITE | VM_MAYSHARE | VM_MAYEXEC | VM_NOHUGEPAGE, f)
        mutex_unlock(mm.mmap_lock)
        self._return_to_user()
        if addr < 0:
            fput(f)
            raise InvalidScenario(f"mmap of shmem file {name} failed with {addr}")
        proc.files[name] = Region(addr, shared.npages, shared.expected, shared.lazy, f)

    def punch(self, proc: Process, lo: int, hi: int, file: str | None = None) -> int:
        """fallocate(PUNCH_HOLE | KEEP_SIZE) over pages ``[lo, hi)`` of the memfd
        (``file``: of that named shmem file, mapped or not).  Return: -errno."""
        r = self.shm_files[file] if file is not None else self._region(proc, "shm")
        hi = min(hi, r.npages)
        if hi <= lo:
            return 0
        self._enter(proc)
        ret = shmem_fallocate(r.file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE)
        self._return_to_user()
        if not ret:
            for i in range(lo, hi):
                r.expected[i] = 0
        return ret

    def _region(self, proc: Process, region: str = "anon", file: str | None = None) -> Region:
        if file is not None:
            r = proc.files.get(file)
            if r is None:
                raise InvalidScenario(f"process {proc.name} does not map shmem file {file}")
            return r
        r = proc.shm if region == "shm" else proc.anon
        if r is None:
            raise InvalidScenario(f"process {proc.name} has no {region} region")
        return r

    # --- the CPU -------------------------------------------------------------
    def access(self, proc: Process, addr: int, write: bool) -> Any:
        """One user access: the page it reached (faults handled on the way).

        Context: runs as ``proc``.
        """
        mm = proc.mm
        for _ in range(8):
            pmd = pmd_off(mm, addr)
            if pmd is not None:
                ptep = pte_offset_map(pmd, addr)
                pte = ptep_get(ptep)  # type: ignore[arg-type]
                if pte_present(pte) and (not write or pte.write):
                    # The MMU sets the accessed and dirty bits.
                    new = pte_mkyoung(pte)
                    if write:
                        new = pte_mkdirty(new)
                    if new != pte:
                        set_pte_at(mm, addr, ptep, new)  # type: ignore[arg-type]
                    return pte.page
            mutex_lock(mm.mmap_lock)
            vma = vma_lookup(mm, addr)
            if vma is None:
                mutex_unlock(mm.mmap_lock)
                raise InvalidScenario(f"{proc.name}: access to unmapped address {addr:#x} (SIGSEGV)")
            flags = FAULT_FLAG_USER | (FAULT_FLAG_WRITE if write else 0)
            ret = handle_mm_fault(vma, addr, flags)
            mutex_unlock(mm.mmap_lock)
            if ret & VM_FAULT_ERROR:
                self._fault_failed(proc, addr, ret)
                return None
        report("hang", f"{proc.name}: the fault at {addr:#x} never resolves")
        return None

    def write(self, proc: Process, lo: int, hi: int, zero: bool = False,
              region: str = "anon", pattern: int | None = None, file: str | None = None) -> None:
        """Write a new page-unique pattern (or zeros) to pages ``[lo, hi)``."""
        r = self._region(proc, region, file)
        self._enter(proc)
        for i in range(lo, min(hi, r.npages)):
            p = self.access(proc, r.addr + i * PAGE_SIZE, True)
            if p is None:
                if not proc.alive:
                    break                      # killed by the fault
                continue
            token = 0 if zero else next_content_token() if pattern is None \
                else SAME_PATTERN_TOKEN + pattern
            p.content = token
            r.expected[i] = token
            r.lazy.discard(i)
        self._return_to_user()

    def read(self, proc: Process, lo: int, hi: int, verify: bool = True,
             region: str = "anon", file: str | None = None) -> tuple[int, int, int]:
        """Read pages ``[lo, hi)``.  Return: (bad pages, lazy-free pages read as zero, lazy-free pages)."""
        r = self._region(proc, region, file)
        self._enter(proc)
        bad = zeroed = lazy = 0
        for i in range(lo, min(hi, r.npages)):
            p = self.access(proc, r.addr + i * PAGE_SIZE, False)
            if p is None and not proc.alive:
                break                          # killed by the fault
            if p is None or not verify:
                continue
            content = 0 if is_zero_page(p) else p.content
            if i in r.lazy:
                lazy += 1
                if content == 0:
                    zeroed += 1
                    continue
            if content != r.expected[i]:
                bad += 1
                report("data-corruption", f"{proc.name}: page {i} holds content {content}, "
                       f"expected {r.expected[i]}")
        self._return_to_user()
        return bad, zeroed, lazy

    # --- syscalls ------------------------------------------------------------
    def madvise(self, proc: Process, lo: int, hi: int, advice: str, region: str = "anon",
                file: str | None = None) -> int:
        r = self._region(proc, region, file)
        hi = min(hi, r.npages)
        if hi <= lo:
            return 0
        self._enter(proc)
        ret = do_madvise(proc.mm, r.addr + lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE, ADVICE[advice])
        self._return_to_user()
        if r.file is not None:
            return ret                         # shm: the file keeps its pages
        if advice == "dontneed":
            for i in range(lo, hi):
                r.expected[i] = 0
                r.lazy.discard(i)
        elif advice == "free":
            r.lazy.update(range(lo, hi))
        return ret

    def add_device(self, path: str, size_bytes: int, kind: str, blkdev: bool = True,
                   discard: bool = False) -> None:
        """mkswap on a new block device (``blkdev``) or regular swap file at ``path``.

        ``discard``: the device supports discard (blk_queue_discard / the
        file system's FITRIM), so ``swapon --discard`` can turn it on.
        """
        register_backing(swap_backing(path, size_bytes, kind, blkdev=blkdev, discard=discard))

    def swapon(self, proc: Process, path: str, prio: int | None, flags: int = 0) -> int:
        """swapon(2) of ``path``: ``prio`` (None or < 0: the default) and swap ``flags``
        (SWAP_FLAG_DISCARD, SWAP_FLAG_DISCARD_ONCE, SWAP_FLAG_DISCARD_PAGES).

        Return: 0 or -errno.
        """
        if prio is not None and prio >= 0:
            flags |= SWAP_FLAG_PREFER | (prio & SWAP_FLAG_PRIO_MASK)
        self._enter(proc)
        ret = swapfile.sys_swapon(path, flags)
        self._return_to_user()
        return ret

    def swapoff(self, proc: Process, path: str) -> int:
        self._enter(proc)
        ret = swapfile.sys_swapoff(path)
        self._return_to_user()
        return ret

    def sysctl(self, path: str, value: str) -> int:
        if path == "vm/page-cluster":
            if value.strip() != "0":
                raise InvalidScenario(f"sysctl {path}={value}: only page-cluster 0 is modeled")
            page_cluster[0] = 0
            return 0
        raise InvalidScenario(f"sysctl {path} is not modeled yet")

    def sleep(self, ms: int) -> None:
        self._return_to_user()
        ksmd_timer(ms)                         # ksmd's own sleeps between batches end

    # --- KSM and memory cgroups ------------------------------------------------
    def write_file(self, proc: Process, path: str, value: str) -> int:
        """Write ``value`` to a file; only /sys/kernel/mm/ksm/{run,pages_to_scan,sleep_millisecs}
        and /sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled (``always``
        or ``never``; PMD-sized THP, which needs PMD mappings, is not modeled).

        Return: 0 or -errno (the write's result).
        """
        if path.startswith(THP_SYSFS):
            return self._thp_enabled_store(proc, path, value)
        name = path[len(KSM_SYSFS):] if path.startswith(KSM_SYSFS) else None
        self._enter(proc)
        rc = ksm_sysfs_store(name, value) if name is not None else None
        self._return_to_user()
        if rc is None:
            raise InvalidScenario(f"write_file {path}: this file is not modeled yet")
        return rc

    def _thp_enabled_store(self, proc: Process, path: str, value: str) -> int:
        m = THP_ENABLED_RE.fullmatch(path)
        order = thp_size_to_order(int(m.group(1))) if m is not None else -1
        if order < 0:
            raise InvalidScenario(f"write_file {path}: this file is not modeled yet")
        if value.strip() not in ("always", "never"):
            raise InvalidScenario(f"write_file {path}={value.strip()}: only always and never "
                                  "are modeled")
        if order >= PMD_ORDER and value.strip() == "always":
            raise InvalidScenario(f"write_file {path}=always: PMD-sized THP (PMD mappings) "
                                  "is not modeled yet")
        self._enter(proc)
        rc = thpsize_enabled_store(order, value)
        self._return_to_user()
        return rc

    def ksm_wait(self, n: int, timeout_ms: int = 20000) -> tuple[bool, int]:
        """swaptest's ``ksm_wait N``: let ksmd finish its batch, then wake it for N full scans.

        Each wake-up changes ``sleep_millisecs`` by one (value xor 1) and waits
        for ``full_scans`` to grow; a wake-up that brings no full scan is
        repeated after 1 s, until ``timeout_ms``.
        Return: (all N scans done, scans done).
        """
        ksmd_run_pending()
        done = waited = 0
        while done < n:
            before = ksm_sysfs_show("full_scans")
            sleep_ms = ksm_sysfs_show("sleep_millisecs")
            assert before is not None and sleep_ms is not None
            ksm_sysfs_store("sleep_millisecs", str(sleep_ms ^ 1))
            ksmd_run_pending()
            if ksm_sysfs_show("full_scans") != before:
                done += 1
                continue
            waited += 1000
            if waited >= timeout_ms:
                return False, done
        return True, done

    def memcg_enter(self, proc: Process, name: str = "oracle") -> int:
        """Move ``proc`` into memory cgroup ``name`` (made if needed).  Return: 0."""
        return cgroup_attach_task(cgroup_mkdir(name), proc.task)

    def memcg_leave(self, proc: Process) -> int:
        """Move ``proc`` back to the root cgroup.  Return: 0."""
        return cgroup_attach_task(root_mem_cgroup, proc.task)

    def memory_reclaim(self, proc: Process, kb: int, name: str = "oracle") -> int:
        """Write ``KBK`` to ``NAME/memory.reclaim``.  Return: 0 or -errno (-EAGAIN: less reclaimed)."""
        self._enter(proc)
        rc = memory_reclaim(mem_cgroup_lookup(name), kb * 1024)
        self._return_to_user()                 # the writeback it started completes
        return rc

    # --- /dev/snapshot ---------------------------------------------------------
    def snap_open(self, proc: Process, path: str) -> int:
        """open("/dev/snapshot", O_RDONLY), then SNAPSHOT_SET_SWAP_AREA of device ``path``.

        Return: the status of open, else of SET_SWAP_AREA (0 or -errno).
        """
        self._enter(proc)
        data = snapshot_open(proc.task, O_RDONLY)
        if isinstance(data, int):
            self._return_to_user()
            return data
        self.snapshot = data
        rc = snapshot_ioctl(data, SNAPSHOT_SET_SWAP_AREA, path)
        self._return_to_user()
        assert isinstance(rc, int)
        return rc

    def snap_ioctl(self, proc: Process, cmd: str) -> tuple[int, int | None]:
        """One /dev/snapshot ioctl: ``avail``, ``alloc`` or ``free``.  Return: (status, value)."""
        if self.snapshot is None:
            raise InvalidScenario("/dev/snapshot is not open")
        self._enter(proc)
        code = {"avail": SNAPSHOT_AVAIL_SWAP_SIZE, "alloc": SNAPSHOT_ALLOC_SWAP_PAGE,
                "free": SNAPSHOT_FREE_SWAP_PAGES}[cmd]
        ret = snapshot_ioctl(self.snapshot, code)
        self._return_to_user()
        if isinstance(ret, tuple):
            return ret
        return ret, None

    def snap_close(self, proc: Process) -> int:
        """close() of /dev/snapshot: every hibernation slot still held is freed."""
        if self.snapshot is None:
            raise InvalidScenario("/dev/snapshot is not open")
        self._enter(proc)
        rc = snapshot_release(self.snapshot)
        self.snapshot = None
        self._return_to_user()
        return rc

    # --- observation ---------------------------------------------------------
    def ksm_flags(self, proc: Process) -> list[bool]:
        """Per page of the anon region: does its pte map a KSM page (KPF_KSM)?"""
        r = proc.anon
        if r is None:
            return []
        flags: list[bool] = []
        mm = proc.mm
        for i in range(r.npages):
            addr = r.addr + i * PAGE_SIZE
            pmd = pmd_off(mm, addr)
            pte = ptep_get(pte_offset_map(pmd, addr)) if pmd is not None else None  # type: ignore[arg-type]
            p = pte.page if pte is not None and pte_present(pte) else None
            flags.append(p is not None and not is_zero_page(p) and folio_test_ksm(p.folio))
        return flags

    def ksm_counters(self) -> dict[str, int]:
        """/sys/kernel/mm/ksm/pages_{shared,sharing} and the KSM /proc/vmstat events."""
        return {"ksm_pages_shared": ksm_sysfs_show("pages_shared") or 0,
                "ksm_pages_sharing": ksm_sysfs_show("pages_sharing") or 0,
                "ksm_swpin_copy": vm_event_states[KSM_SWPIN_COPY],
                "cow_ksm": vm_event_states[COW_KSM]}

    def page_states(self, proc: Process) -> tuple[list[str], list[tuple[int, int] | None]]:
        """Per page of the anon region: P C S - and the (type, offset) of S pages."""
        r = proc.anon
        if r is None:
            return [], []
        states: list[str] = []
        entries: list[tuple[int, int] | None] = []
        mm = proc.mm
        for i in range(r.npages):
            addr = r.addr + i * PAGE_SIZE
            pmd = pmd_off(mm, addr)
            pte = ptep_get(pte_offset_map(pmd, addr)) if pmd is not None else None  # type: ignore[arg-type]
            entry = None
            if pte is None or pte_none(pte):
                s = "-"
            elif pte_present(pte):
                p = pte.page
                s = "C" if (p is not None and not is_zero_page(p) and p.folio.PG_swapcache) else "P"
            elif pte_is_swap_entry(pte):
                s = "S"
                e = pte_to_swp_entry(pte)
                entry = (swp_type(e), swp_offset(e))
            else:
                s = "-"
            states.append(s)
            entries.append(entry)
        return states, entries

    def shm_page_states(self, proc: Process) -> list[str]:
        """Per page of the shm region: P C (mapped here), R (resident, not mapped
        here: page cache, or swap cache with the data in swap), S (only in swap), - (hole)."""
        r = proc.shm
        if r is None:
            return []
        mapping = r.file.f_mapping
        states: list[str] = []
        for i in range(r.npages):
            addr = r.addr + i * PAGE_SIZE
            pmd = pmd_off(proc.mm, addr)
            pte = ptep_get(pte_offset_map(pmd, addr)) if pmd is not None else None  # type: ignore[arg-type]
            if pte is not None and pte_present(pte):
                states.append("C" if pte.page.folio.PG_swapcache else "P")  # type: ignore[union-attr]
                continue
            entry = xa_load(mapping.i_pages, i)
            if entry is None:
                states.append("-")
            elif not xa_is_value(entry):
                states.append("R")
            elif is_poisoned_swp_entry(radix_to_swp_entry(entry)):
                states.append("-")
            else:
                swp = radix_to_swp_entry(entry)
                si = swapfile.swap_entry_to_info(swp)
                cached = si is not None and swap_cache_has_folio(swp)
                states.append("R" if cached else "S")
        return states

    def shm_swap_kb(self, proc: Process) -> int:
        """``Swap:`` of the shm mapping in /proc/<pid>/smaps, in kB."""
        r = proc.shm
        if r is None:
            return 0
        vma = vma_lookup(proc.mm, r.addr)
        return shmem_swap_usage(vma) // 1024 if vma is not None else 0

    def counters(self) -> dict[str, int]:
        """/proc/meminfo and /proc/vmstat swap counters, in kB or events."""
        total, free = swapfile.si_swapinfo()
        rows = swapfile.swap_show_rows()
        return {"swaps": len(rows),
                "used_kb": sum(row["used_kb"] for row in rows),
                "swapcached_kb": global_node_page_state(NR_SWAPCACHE) * (PAGE_SIZE // 1024),
                "swapfree_kb": free * (PAGE_SIZE // 1024),
                "swaptotal_kb": total * (PAGE_SIZE // 1024),
                **{k: vm_event_states[k] for k in ("pswpin", "pswpout", "pgmajfault", "swap_ra",
                                                   "swap_ra_hit", "swpin_zero", "swpout_zero")}}
