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
* madvise (mm/madvise.py), swapon/swapoff (mm/swapfile.py), sleep.

Time: the model has no clock.  Asynchronous block I/O (writes to a
non-SWP_SYNCHRONOUS_IO device) completes when the task returns to user
space at the end of an operation, as real I/O completes long before the
next syscall; reclaim inside one operation still finds its own writes in
flight (so MADV_PAGEOUT leaves pages in the swap cache).  Deferred work
(discard, reclaim workers) runs at the same points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swaplab.check import findings
from swaplab.check.findings import report
from swaplab.errors import InvalidScenario
from swaplab.include.linux.mm_types import (
    FAULT_FLAG_USER,
    FAULT_FLAG_WRITE,
    VM_FAULT_ERROR,
    mm_struct,
    reset_mm_types,
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
from swaplab.include.linux.swap import SWAP_FLAG_PREFER, SWAP_FLAG_PRIO_MASK
from swaplab.include.linux.swapops import swp_offset, swp_type
from swaplab.kernel import custom
from swaplab.kernel.custom import next_content_token, register_backing, swap_backing
from swaplab.kernel.exit import do_exit
from swaplab.kernel.fork import copy_mm
from swaplab.kernel.locking import get_current, mutex_lock, mutex_unlock, set_current, task_struct
from swaplab.mm import swapfile
from swaplab.mm.madvise import MADV_COLD, MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, MADV_WILLNEED, do_madvise
from swaplab.mm.memory import handle_mm_fault
from swaplab.mm.mmap import do_mmap, vm_munmap
from swaplab.mm.page_io import reset_page_io, swap_complete_inflight_io
from swaplab.mm.swap_state import page_cluster
from swaplab.mm.vmscan import reset_vmscan
from swaplab.mm.vmstat import NR_SWAPCACHE, global_node_page_state, vm_event_states
from swaplab.sim.system import boot

ADVICE = {"pageout": MADV_PAGEOUT, "cold": MADV_COLD, "dontneed": MADV_DONTNEED,
          "free": MADV_FREE, "willneed": MADV_WILLNEED}


@dataclass
class Region:
    """An anonymous region: ``npages`` pages from ``addr``; what each page should hold."""

    addr: int
    npages: int
    expected: list[int] = field(default_factory=list)   # content token per page (0 = zeros)
    lazy: set[int] = field(default_factory=set)          # MADV_FREE'd: old data or zeros


class Process:
    """A user process: its task (and mm) and its anon region."""

    def __init__(self, name: str, task: task_struct) -> None:
        self.name = name
        self.task = task
        self.anon: Region | None = None
        self.alive = True

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
        reset_mm_types()
        reset_page_io()
        reset_vmscan()
        page_cluster[0] = 0
        self._next_pid = 100
        self.processes: dict[str, Process] = {}
        self.kernel_task = get_current()
        task = self._new_task("parent")
        task.mm = mm_struct("parent")
        self.main = self._add(Process("parent", task))

    # --- processes -----------------------------------------------------------
    def _new_task(self, name: str) -> task_struct:
        self._next_pid += 1
        return task_struct(self._next_pid, name)

    def _add(self, proc: Process) -> Process:
        self.processes[proc.name] = proc
        return proc

    def _enter(self, proc: Process) -> None:
        if not proc.alive:
            raise InvalidScenario(f"process {proc.name} has exited")
        set_current(proc.task)

    def _return_to_user(self) -> None:
        """The end of a syscall or fault: in-flight I/O completes, deferred work runs."""
        swap_complete_inflight_io()
        custom.flush_scheduled_work()
        set_current(self.kernel_task)

    def fork(self, parent: Process, name: str) -> Process:
        """fork(2): a child with a copy of ``parent``'s memory."""
        self._enter(parent)
        task = self._new_task(name)
        err = copy_mm(0, task)
        self._return_to_user()
        if err:
            raise InvalidScenario(f"fork of {parent.name} failed with {err}")
        child = Process(name, task)
        task.mm.owner = name
        if parent.anon is not None:
            r = parent.anon
            child.anon = Region(r.addr, r.npages, list(r.expected), set(r.lazy))
        return self._add(child)

    def exit(self, proc: Process) -> None:
        """exit(2): the process's memory is torn down before this returns."""
        self._enter(proc)
        do_exit(0)
        proc.alive = False
        self._return_to_user()
        del self.processes[proc.name]

    # --- regions -------------------------------------------------------------
    def map(self, proc: Process, npages: int) -> None:
        """mmap an anon private region of ``npages`` pages (replacing an earlier one)."""
        if proc.anon is not None:
            self.unmap(proc)
        self._enter(proc)
        mm = proc.mm
        mutex_lock(mm.mmap_lock)
        addr = do_mmap(mm, npages * PAGE_SIZE)
        mutex_unlock(mm.mmap_lock)
        self._return_to_user()
        if addr < 0:
            raise InvalidScenario(f"mmap of {npages} pages failed with {addr}")
        proc.anon = Region(addr, npages, [0] * npages)

    def unmap(self, proc: Process) -> None:
        if proc.anon is None:
            return
        self._enter(proc)
        vm_munmap(proc.mm, proc.anon.addr, proc.anon.npages * PAGE_SIZE)
        self._return_to_user()
        proc.anon = None

    def _region(self, proc: Process) -> Region:
        if proc.anon is None:
            raise InvalidScenario(f"process {proc.name} has no anon region")
        return proc.anon

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
                report("crash", f"{proc.name}: fault at {addr:#x} failed with vm_fault_t {ret:#x}")
                return None
        report("hang", f"{proc.name}: the fault at {addr:#x} never resolves")
        return None

    def write(self, proc: Process, lo: int, hi: int, zero: bool = False) -> None:
        """Write a new page-unique pattern (or zeros) to pages ``[lo, hi)``."""
        r = self._region(proc)
        self._enter(proc)
        for i in range(lo, min(hi, r.npages)):
            p = self.access(proc, r.addr + i * PAGE_SIZE, True)
            if p is None:
                continue
            token = 0 if zero else next_content_token()
            p.content = token
            r.expected[i] = token
            r.lazy.discard(i)
        self._return_to_user()

    def read(self, proc: Process, lo: int, hi: int, verify: bool = True) -> tuple[int, int, int]:
        """Read pages ``[lo, hi)``.  Return: (bad pages, lazy-free pages read as zero, lazy-free pages)."""
        r = self._region(proc)
        self._enter(proc)
        bad = zeroed = lazy = 0
        for i in range(lo, min(hi, r.npages)):
            p = self.access(proc, r.addr + i * PAGE_SIZE, False)
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
    def madvise(self, proc: Process, lo: int, hi: int, advice: str) -> int:
        r = self._region(proc)
        hi = min(hi, r.npages)
        if hi <= lo:
            return 0
        self._enter(proc)
        ret = do_madvise(proc.mm, r.addr + lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE, ADVICE[advice])
        self._return_to_user()
        if advice == "dontneed":
            for i in range(lo, hi):
                r.expected[i] = 0
                r.lazy.discard(i)
        elif advice == "free":
            r.lazy.update(range(lo, hi))
        return ret

    def add_device(self, path: str, size_bytes: int, kind: str) -> None:
        register_backing(swap_backing(path, size_bytes, kind))

    def swapon(self, proc: Process, path: str, prio: int | None) -> int:
        flags = 0
        if prio is not None and prio >= 0:
            flags = SWAP_FLAG_PREFER | (prio & SWAP_FLAG_PRIO_MASK)
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

    # --- observation ---------------------------------------------------------
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
