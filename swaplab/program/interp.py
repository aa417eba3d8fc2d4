"""
Programs: the interpreter
-------------------------

``run_program(program)`` boots a :class:`~swaplab.sim.world.World` and runs
the program on it, one statement a step: before each,
``findings.log.step`` is set to the step number (1-based), so every finding
names the step (and, in the result, the line) that raised it.  After each
step the reference ledger (:class:`swaplab.check.ledger.Ledger`) compares
every slot's count with the ptes, shmem entries and hibernation extents
that refer to it and checks the structural invariants; a problem is
reported once, at the step where it first shows, naming the kernel entry
point of that step (``sys_swapoff``, ``snapshot_release``, ...).

When the statements are done, the run tears the world down as the end of
a test program does: every process exits, every shmem file is unlinked and
an open snapshot device is closed (step ``len(statements) + 1``); the ledger then checks once more, so
a slot that nothing refers to any more shows as a ``swap-leak``.

A :class:`~swaplab.sim.oops.KernelOops` ends the step's operation, as an
oops ends the task's system call; the run goes on with the next statement
(the ``crash`` finding was recorded before the oops was raised).

``expect`` lines are checked when they are reached; an unmet expectation is
recorded with its line and what was found instead.  The exit status of
``swaplab run`` is 1 when the run has findings or unmet expectations, else 0.

Before anything runs, every statement is checked against what the World
supports (:func:`check_supported`): an operation the model lacks is a
clear :class:`~swaplab.errors.InvalidScenario` naming its line, and nothing
has run.

Who runs what: ``process P`` forks P from the world's first process (which
never maps memory, like init); ``swapon``/``swapoff`` without a process run
in that first process too.
"""

from __future__ import annotations

import inspect as _inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from swaplab.check import findings
from swaplab.check.ledger import Ledger
from swaplab.errors import InvalidScenario
from swaplab.include.linux.swap import SWAP_FLAG_DISCARD, SWAP_FLAG_DISCARD_ONCE, SWAP_FLAG_DISCARD_PAGES
from swaplab.kconfig import PAGE_SIZE
from swaplab.kernel import custom
from swaplab.mm import vmstat
from swaplab.mm.swap import swap_info
from swaplab.mm.swapfile import swap_show_rows
from swaplab.oracle.encode import encode_map
from swaplab.program.ast import (
    ADVICE_OPS,
    Device,
    Exit,
    ExpectFinding,
    ExpectNoFindings,
    ExpectPages,
    ExpectRc,
    ExpectSlot,
    ExpectUsed,
    ExpectVmstat,
    Fault,
    Fork,
    KsmRun,
    KsmScan,
    Map,
    Munmap,
    NewProcess,
    PageOp,
    Program,
    Punch,
    Shmem,
    ShmMap,
    SignalFault,
    Sleep,
    SlotRef,
    Snapshot,
    Stmt,
    Swapoff,
    Swapon,
    Thp,
    format_errno,
)
from swaplab.sim import inspect
from swaplab.sim.oops import KernelOops
from swaplab.sim.world import ADVICE, Process, World

__all__ = ("StepHook", "check_supported", "exit_status", "run_program", "using_variant")

StepHook = Callable[[int, Stmt, World, dict[str, Process]], None]
"""Called after each step with (step, statement, world, processes by name)."""

_DISCARD_FLAGS = {"all": SWAP_FLAG_DISCARD,
                  "once": SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE,
                  "pages": SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_PAGES}


# ---- what the World supports -----------------------------------------------------

def _world_accepts(method: str, param: str) -> bool:
    fn = getattr(World, method, None)
    if fn is None:
        return False
    params = _parameters.get(fn)
    if params is None:
        params = _parameters[fn] = frozenset(_inspect.signature(fn).parameters)
    return param in params


# World method -> its parameter names (a method replaced on World is looked at anew).
_parameters: dict[Any, frozenset[str]] = {}


def _needs(stmt: Stmt) -> str | None:
    """Why the World cannot run ``stmt`` yet, or None when it can."""
    if isinstance(stmt, (ShmMap, Punch)) or (isinstance(stmt, (PageOp, Munmap))
                                             and stmt.file is not None):
        if not _world_accepts("shm_map", "npages") or not hasattr(World, "punch") \
                or not _world_accepts("write", "region"):
            return "shmem is not modeled yet (World.shm_map is missing)"
    if isinstance(stmt, PageOp):
        if stmt.op in ADVICE_OPS and stmt.op not in ADVICE:
            return f"madvise {stmt.op} is not modeled yet (not in swaplab.sim.world.ADVICE)"
        if stmt.pattern is not None and not _world_accepts("write", "pattern"):
            return "write pattern=N is not modeled yet (World.write takes no pattern)"
    if isinstance(stmt, Thp) and stmt.enabled == "always" and stmt.size_kb >= 2048:
        return "PMD-sized THP (2M, PMD mappings) is not modeled yet"
    if isinstance(stmt, KsmRun) and not hasattr(World, "write_file"):
        return "KSM is not modeled yet (World.write_file is missing)"
    if isinstance(stmt, KsmScan) and not hasattr(World, "ksm_wait"):
        return "KSM is not modeled yet (World.ksm_wait is missing)"
    if isinstance(stmt, Snapshot) and not all(hasattr(World, m) for m in _SNAPSHOT_METHODS):
        return "the hibernation snapshot device is not modeled yet (World.snap_open is missing)"
    return None


_SNAPSHOT_METHODS = ("snap_open", "snap_ioctl", "snap_close")
KSM_RUN = "/sys/kernel/mm/ksm/run"
THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/hugepages-{}kB/enabled"


def check_supported(program: Program) -> None:
    """Refuse, before anything runs, a program with an operation the World lacks.

    :raises InvalidScenario: naming the line of the first such statement.
    """
    for stmt in program.statements:
        why = _needs(stmt)
        if why is not None:
            raise InvalidScenario(f"'{stmt.text()}': {why}", program.filename, stmt.line,
                                  stmt.col)


# ---- variants ----------------------------------------------------------------------

@contextmanager
def using_variant(spec: str | None, default: str = "mainline") -> Iterator[str]:
    """Run the body with variant ``spec`` (``None``: ``default``) active; yield its name.

    Without ``swaplab.variants`` only the built-in model runs, as ``mainline``:
    asking for another variant is an error, and a default other than
    mainline falls back to it (the name yielded says which ran).

    :raises InvalidScenario: an unknown variant or a variant file that does not load.
    """
    try:
        from swaplab import variants
    except ModuleNotFoundError as e:
        if e.name not in ("swaplab.variants", "swaplab"):
            raise
        if spec not in (None, "mainline"):
            raise InvalidScenario(f"variant '{spec}': variants are not available in this "
                                  "build (swaplab.variants is missing); only 'mainline', the "
                                  "built-in model, can run", "--variant") from None
        yield "mainline"
        return
    name = spec or default
    try:
        if hasattr(variants, "using"):
            ctx = variants.using(name)
        else:
            ctx = _activate(variants.get_variant(name))
        entered = ctx.__enter__()
    except InvalidScenario as e:
        if e.file is None:
            raise InvalidScenario(e.msg, "--variant") from e
        raise
    try:
        yield str(getattr(entered, "name", None) or name)
    finally:
        ctx.__exit__(None, None, None)


@contextmanager
def _activate(variant: Any) -> Iterator[Any]:
    variant.activate()
    try:
        yield variant
    finally:
        if hasattr(variant, "deactivate"):
            variant.deactivate()


# ---- the run -----------------------------------------------------------------------

def run_program(program: Program, *, seed: int = 0, checks: int = findings.RECORD,
                on_step: StepHook | None = None, variant: str = "mainline") -> dict[str, Any]:
    """Run ``program`` on a freshly booted World; return the run as ``swaplab run --json`` prints it.

    The caller activates the variant (:func:`using_variant`); ``variant`` is
    only the name put in the result.

    :raises InvalidScenario: an operation the World does not support (nothing has run),
        or a statement the World refuses at run time (named by its line).
    """
    check_supported(program)
    run = _Run(program, World(nr_cpus=1, seed=seed, checks=checks))
    for step, stmt in enumerate(program.statements, start=1):
        run.step(step, stmt)
        if on_step is not None:
            on_step(step, stmt, run.world, run.procs)
    # What the program left is its result; the teardown only adds findings.
    result = run.result(variant)
    run.teardown(len(program.statements) + 1)
    result["findings"] = run.result(variant)["findings"]
    return result


def entry_point(stmt: Stmt) -> str | None:
    """The kernel function a statement enters the kernel through."""
    if isinstance(stmt, PageOp):
        return "handle_mm_fault" if stmt.op in ("write", "read", "zero", "touch") else "do_madvise"
    if isinstance(stmt, Snapshot):
        return {"open": "snapshot_open", "close": "snapshot_release"}.get(stmt.action,
                                                                          "snapshot_ioctl")
    return ENTRY_POINTS.get(type(stmt).__name__)


ENTRY_POINTS = {"Swapon": "sys_swapon", "Swapoff": "sys_swapoff", "NewProcess": "copy_process",
                "Fork": "copy_process", "Exit": "do_exit", "Map": "do_mmap",
                "ShmMap": "do_mmap", "Munmap": "vm_munmap", "Shmem": "shmem_file_setup",
                "Punch": "shmem_fallocate", "KsmRun": "run_store", "KsmScan": "ksm_do_scan",
                "Thp": "thpsize_enabled_store"}


def exit_status(result: dict[str, Any]) -> int:
    """0: no finding and every expectation met; 1 otherwise."""
    return 1 if result["findings"] or result["unmet"] else 0


class _Run:
    """The state of one run: the World, the program's names, the last return code."""

    def __init__(self, program: Program, world: World) -> None:
        self.program = program
        self.world = world
        self.procs: dict[str, Process] = {}
        self.devices: dict[str, Device] = {}
        self.types: dict[str, int] = {}         # device name -> its (last) swap type
        self.rc: int | None = None              # of the last statement that returns one
        self.expects: list[dict[str, Any]] = []
        self.oopses: list[dict[str, Any]] = []
        self.lines: dict[int, int] = {}          # step -> line
        self.failed_forks: dict[str, int] = {}   # child -> line of its failed fork
        self.files: dict[str, int] = {}          # shmem file -> pages
        self.ledger = Ledger(lambda: [p.mm for p in world.processes.values()
                                      if p.alive and p.task.mm is not None])

    # ---- one step
    def step(self, step: int, stmt: Stmt) -> None:
        findings.log.step = step
        findings.log.entry_point = entry_point(stmt)
        self.lines[step] = stmt.line
        try:
            self.execute(stmt)
        except KernelOops as e:
            self.rc = None
            self.world.oops_recover()
            self.oopses.append({"step": step, "line": stmt.line, "message": str(e)})
            # A fork that oopsed made no process: later statements naming it are refused.
            child = stmt.child if isinstance(stmt, Fork) else \
                stmt.name if isinstance(stmt, NewProcess) else None
            if child is not None and child not in self.procs:
                self.failed_forks[child] = stmt.line
        except InvalidScenario as e:
            if e.line is None:
                raise InvalidScenario(f"'{stmt.text()}': {e.msg}", self.program.filename,
                                      stmt.line, stmt.col) from e
            raise
        self.check_invariants()

    def check_invariants(self) -> None:
        self.ledger.check()

    def teardown(self, step: int) -> None:
        """The end of the program: processes exit, shmem files are unlinked, the snapshot device is closed."""
        findings.log.step = step
        w = self.world
        for name, proc in list(self.procs.items()):
            if proc.alive:
                findings.log.entry_point = "do_exit"
                try:
                    w.exit(proc)
                except KernelOops as e:
                    w.oops_recover()
                    self.oopses.append({"step": step, "line": None, "message": str(e)})
        for name in list(w.shm_files):
            findings.log.entry_point = "vfs_unlink"
            try:
                w.shm_unlink(w.main, name)
            except KernelOops as e:
                w.oops_recover()
                self.oopses.append({"step": step, "line": None, "message": str(e)})
        if getattr(w, "snapshot", None) is not None:
            findings.log.entry_point = "snapshot_release"
            try:
                w.snap_close(w.main)
            except KernelOops as e:
                w.oops_recover()
                self.oopses.append({"step": step, "line": None, "message": str(e)})
        self.check_invariants()

    def execute(self, stmt: Stmt) -> None:
        w = self.world
        if isinstance(stmt, Device):
            self.device(stmt)
        elif isinstance(stmt, Swapon):
            self.swapon(stmt)
        elif isinstance(stmt, Swapoff):
            self.rc = w.swapoff(self.proc(stmt.proc), self.devices[stmt.device].path)
        elif isinstance(stmt, NewProcess):
            child = w.fork(w.main, stmt.name)
            if isinstance(child, int):
                raise InvalidScenario(f"process {stmt.name}: fork of init failed with "
                                      f"{format_errno(-child)}")
            self.procs[stmt.name] = child
        elif isinstance(stmt, Fork):
            self.fork(stmt)
        elif isinstance(stmt, Exit):
            w.exit(self.proc(stmt.proc))
        elif isinstance(stmt, Map):
            # A program's regions have no MADV_NOHUGEPAGE: ``thp`` applies to them.
            w.map(self.proc(stmt.proc), stmt.npages, nohugepage=False)
        elif isinstance(stmt, Munmap) and stmt.file is None:
            w.unmap(self.proc(stmt.proc))
        elif isinstance(stmt, PageOp) and stmt.file is None:
            self.page_op(stmt)
        elif isinstance(stmt, (Shmem, ShmMap, Munmap, PageOp, Punch)):
            self.shmem(stmt)
        elif isinstance(stmt, KsmRun):
            w.write_file(w.main, KSM_RUN, str(stmt.value))
        elif isinstance(stmt, Thp):
            w.write_file(w.main, THP_ENABLED.format(stmt.size_kb), stmt.enabled)
        elif isinstance(stmt, KsmScan):
            done, scans = w.ksm_wait(stmt.scans)
            if not done:
                findings.report("hang", f"ksmd did {scans} of {stmt.scans} full scans")
        elif isinstance(stmt, Snapshot):
            self.snapshot(stmt)
        elif isinstance(stmt, Fault):
            custom.inject_fault(stmt.name, stmt.times, stmt.probability or 0.0)
        elif isinstance(stmt, SignalFault):
            self.proc(stmt.proc).task.pending_signal = True
        elif isinstance(stmt, Sleep):
            w.sleep(stmt.ms or 0)
        else:
            self.expect(stmt)

    def proc(self, name: str | None) -> Process:
        if name is None:
            return self.world.main
        proc = self.procs.get(name)
        if proc is None:
            raise InvalidScenario(f"process {name} does not exist: its fork failed "
                                  f"(line {self.failed_forks[name]})")
        return proc

    def fork(self, stmt: Fork) -> None:
        """fork(2); a failure (-ENOMEM from an injected fault) is the statement's rc."""
        parent = self.proc(stmt.proc)
        child = self.world.fork(parent, stmt.child)
        if isinstance(child, int):
            self.rc = child
            self.failed_forks[stmt.child] = stmt.line
            return
        self.procs[stmt.child] = child
        self.rc = 0

    def device(self, stmt: Device) -> None:
        self.world.add_device(stmt.path, stmt.pages * PAGE_SIZE, stmt.kind,
                              blkdev=not stmt.file, discard=stmt.discard)
        self.devices[stmt.name] = stmt

    def swapon(self, stmt: Swapon) -> None:
        w = self.world
        path = self.devices[stmt.device].path
        flags = _DISCARD_FLAGS[stmt.discard] if stmt.discard is not None else 0
        self.rc = w.swapon(self.proc(stmt.proc), path, stmt.prio, flags)
        if self.rc == 0:
            for si in swap_info:
                if si is not None and si.swap_file is not None and si.swap_file.name == path:
                    self.types[stmt.device] = si.type

    def page_op(self, stmt: PageOp) -> None:
        w = self.world
        proc = self.proc(stmt.proc)
        npages = proc.anon.npages if proc.anon is not None else 0
        lo, hi = (stmt.range.lo, stmt.range.hi) if stmt.range is not None else (0, npages)
        if stmt.op in ("write", "zero"):
            if stmt.pattern is not None:
                w.write(proc, lo, hi, pattern=stmt.pattern)
            else:
                w.write(proc, lo, hi, zero=stmt.op == "zero")
        elif stmt.op in ("read", "touch"):
            w.read(proc, lo, hi, verify=stmt.op == "read")
        else:
            self.rc = w.madvise(proc, lo, hi, stmt.op)

    def shmem(self, stmt: Stmt) -> None:
        """Shmem files: named tmpfs files the World keeps until the run's teardown.

        ``shmem F N`` creates F, any process may ``map F``; ``punch F`` works
        on the file whether or not a process maps it.
        """
        w = self.world
        if isinstance(stmt, Shmem):
            self.files[stmt.name] = stmt.npages
            w.shm_create(w.main, stmt.name, stmt.npages)
        elif isinstance(stmt, ShmMap):
            w.shm_map(self.proc(stmt.proc), self.files[stmt.file], name=stmt.file)
        elif isinstance(stmt, Munmap):
            w.unmap(self.proc(stmt.proc), "shm", file=stmt.file)
        elif isinstance(stmt, Punch):
            lo, hi = self.file_range(stmt.file, stmt.range)
            self.rc = w.punch(w.main, lo, hi, file=stmt.file)
        elif isinstance(stmt, PageOp):
            assert stmt.file is not None
            proc = self.proc(stmt.proc)
            lo, hi = self.file_range(stmt.file, stmt.range)
            if stmt.op in ("write", "zero"):
                w.write(proc, lo, hi, zero=stmt.op == "zero", region="shm", file=stmt.file)
            elif stmt.op in ("read", "touch"):
                w.read(proc, lo, hi, verify=stmt.op == "read", region="shm", file=stmt.file)
            else:
                self.rc = w.madvise(proc, lo, hi, stmt.op, region="shm", file=stmt.file)

    def file_range(self, file: str, rng: Any) -> tuple[int, int]:
        return (rng.lo, rng.hi) if rng is not None else (0, self.files[file])

    def snapshot(self, stmt: Snapshot) -> None:
        """/dev/snapshot: open + SET_SWAP_AREA, the AVAIL/ALLOC/FREE ioctls, close."""
        w = self.world
        proc = self.proc(stmt.proc)
        if stmt.action == "open":
            assert stmt.device is not None
            self.rc = w.snap_open(proc, self.devices[stmt.device].path)
        elif stmt.action == "close":
            self.rc = w.snap_close(proc)
        else:
            rc = 0
            for _ in range(stmt.count or 1):
                status, _value = w.snap_ioctl(proc, stmt.action)
                rc = rc or status
            self.rc = rc

    # ---- expectations
    def expect(self, stmt: Stmt) -> None:
        met, detail = self.evaluate(stmt)
        self.expects.append({"line": stmt.line, "col": stmt.col, "text": stmt.text(),
                             "step": findings.log.step, "met": met, "detail": detail})

    def evaluate(self, stmt: Stmt) -> tuple[bool, str]:
        log = findings.log.findings
        if isinstance(stmt, ExpectNoFindings):
            return not log, f"{len(log)} findings: " + "; ".join(str(f) for f in log[:3])
        if isinstance(stmt, ExpectFinding):
            entry = self.resolve(stmt.slot) if stmt.slot is not None else None
            for f in log:
                if f.kind == stmt.kind and stmt.function in (None, f.function) \
                        and (stmt.slot is None or f.entry == entry):
                    return True, str(f)
            return False, "no such finding; findings: " + (
                "; ".join(str(f) for f in log[:3]) or "none")
        if isinstance(stmt, ExpectSlot):
            return self.expect_slot(stmt)
        if isinstance(stmt, ExpectUsed):
            path = self.devices[stmt.device].path
            rows = [r for r in swap_show_rows() if r["name"] == path]
            if not rows:
                return False, f"{stmt.device} is not swapped on"
            return rows[0]["used_kb"] == stmt.kb, f"used {rows[0]['used_kb']} kB"
        if isinstance(stmt, ExpectRc):
            if self.rc is None:
                return False, "the operation returned nothing (it oopsed)"
            return -self.rc == stmt.err, f"rc {format_errno(-self.rc)}"
        if isinstance(stmt, ExpectVmstat):
            value = _vmstat(stmt.key)
            return value == stmt.value, f"{stmt.key} is {value}"
        if isinstance(stmt, ExpectPages):
            states, _ = self.world.page_states(self.proc(stmt.proc))
            got = encode_map(states)
            return got == stmt.map, f"pages {got}"
        raise AssertionError(stmt)

    def resolve(self, ref: SlotRef) -> tuple[int, int] | None:
        if isinstance(ref.dev, int):
            return ref.dev, ref.offset
        t = self.types.get(ref.dev)
        return None if t is None else (t, ref.offset)

    def expect_slot(self, stmt: ExpectSlot) -> tuple[bool, str]:
        entry = self.resolve(stmt.slot)
        if entry is None:
            return False, f"{stmt.slot.dev} was never swapped on"
        si = swap_info[entry[0]] if entry[0] < len(swap_info) else None
        if si is None or si.swap_map is None:
            return False, f"swap type {entry[0]} is not in use"
        if not 0 <= entry[1] < si.max:
            return False, f"offset {entry[1]} is past the end ({si.max} slots)"
        st = inspect.slot_state(si, entry[1])
        got = f"count={st['count']}" + (" cached" if st["cached"] else "")
        return st["count"] == stmt.count and st["cached"] == stmt.cached, got

    # ---- the result
    def result(self, variant: str) -> dict[str, Any]:
        out_findings = []
        for f in findings.log.findings:
            d = f.to_json()
            d["line"] = self.lines.get(f.step)
            out_findings.append(d)
        unmet = [e for e in self.expects if not e["met"]]
        return {"program": self.program.filename, "variant": variant,
                "steps": len(self.program.statements), "findings": out_findings,
                "expects": self.expects, "unmet": unmet, "oopses": self.oopses,
                "killed": [{"process": name, "signal": p.killed_by}
                           for name, p in self.procs.items() if p.killed_by is not None],
                "swaps": swap_show_rows(), "vmstat": vmstat.snapshot()}


def _vmstat(key: str) -> int:
    if key in vmstat.vm_event_states:
        return vmstat.vm_event_states[key]
    if key in vmstat.node_stat:
        return vmstat.node_stat[key]
    item, _, order = key.partition(".")
    return vmstat.mthp_stats[int(order)][item]
