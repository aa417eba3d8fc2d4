"""
Replay of kernel-oracle scenarios on the model
----------------------------------------------

``replay(script, swapdev, swap_mb, swap2_mb)`` sets the model up as the
oracle's guest was (one CPU; the swap devices of the device kind with
page-cluster 0, no THP, no zswap) and runs every op of the script through
:class:`swaplab.sim.world.World`.  The result has the shape of a recorded
run (``reports``, ``ops``, ``snap``), so
:func:`swaplab.oracle.results.compare_reports` can hold it against what
Linux 7.2.13 printed.

Device kinds: ``virtio`` -> rotational, asynchronous I/O (``/dev/vda``,
``/dev/vdb``); ``virtio-ssd`` -> non-rotational, asynchronous (same names);
``brd`` -> SWP_SYNCHRONOUS_IO RAM disks (``/dev/ram0``, ``/dev/ram1``).

shm regions (mm/shmem.py) and the /dev/snapshot ops (``snap_*``, SNAP
records) are replayed; ``variant`` runs the replay with a variant active
(``linux-7.2`` for what the oracle kernel does beyond T14F, e.g. hib1's
hibernation offsets on SSDs).  KSM (``merge``, ``unmerge``, ``ksm_wait``,
``write_same``, ``write_file`` of /sys/kernel/mm/ksm/ knobs) and memory
cgroups (``memcg_enter``/``memcg_leave``, ``reclaim``: two passes of
``memory.reclaim``, the wait for writeback between them is the return to
user space) are replayed; a scenario that uses KSM gets the ``ksm_*``
REPORT keys.  Anything else is refused with a clear :class:`InvalidScenario`.
"""

from __future__ import annotations

from typing import Any, Callable

from swaplab.errors import InvalidScenario
from swaplab.include.linux.pgtable import PAGE_SIZE
from swaplab.mm.swapfile import swap_show_rows
from swaplab.oracle.encode import (
    anon_counts,
    encode_map,
    encode_shm_map,
    encode_slots,
    format_op_child_exit,
    format_op_punch,
    format_op_read,
    format_op_spawn,
    format_op_swapoff,
    format_op_swapon,
    format_op_sysctl,
    format_op_task_exit,
    shm_counts,
    swapdev_path,
    errname,
)
from swaplab.oracle.ops import (
    Bare,
    Echo,
    Fork,
    MapRegion,
    Op,
    OpsScript,
    PageOp,
    Report,
    SnapAlloc,
    SnapOpen,
    Sleep,
    Spawn,
    Swapoff,
    Swapon,
    Sysctl,
    TaskExit,
    Unmap,
)
from swaplab.oracle.encode import (encode_ksm_map, format_op_ksm_wait, format_op_memcg,
                                   format_op_reclaim, format_op_write_file, ksm_mapped)
from swaplab.oracle.ops import KsmWait, Reclaim, WriteFile, WriteSame
from swaplab.sim.world import DEVNO, Process, World

__all__ = ("DEVICE_KINDS", "replay")

OpHook = Callable[[int, Op, World, Any], None]
"""``replay(on_step=...)``: called after every op with (step, op, world, interpreter)."""

DEVICE_KINDS = {"virtio": "rotational", "virtio-ssd": "ssd", "brd": "sync"}


def replay(script: OpsScript, swapdev: str, swap_mb: int | None = None,
           swap2_mb: int | None = None, variant: str | None = None,
           on_step: OpHook | None = None) -> dict[str, Any]:
    """Run ``script`` on a freshly booted model; return the run as the oracle records it.

    :param swapdev: the device kind, ``virtio``, ``virtio-ssd`` or ``brd``.
    :param swap_mb: first device size in MB (default: the script's ``#%`` line, else 64).
    :param swap2_mb: second device size (default: the script's, else ``swap_mb`` when
        the script names ``@swapdev2``, else no second device).
    :param variant: a variant name (swaplab.variants) active for the run; None: the
        model as it is (T14F), or whatever variant the caller activated.
    :param on_step: called after every op (a ``fork`` block after its body) with
        (step, op, world, the interpreter: its ``ops``/``snap`` records so far).
    :raises InvalidScenario: an op the model does not support yet, or an unknown variant.
    """
    if variant is None:
        return _replay(script, swapdev, swap_mb, swap2_mb, on_step)
    try:
        from swaplab.variants import get_variant
    except ImportError as e:  # the variant mechanism is not in this tree
        raise InvalidScenario(f"variant {variant!r}: swaplab.variants is not available") from e
    v = get_variant(variant)
    v.activate()
    try:
        return _replay(script, swapdev, swap_mb, swap2_mb, on_step)
    finally:
        v.deactivate()


def _replay(script: OpsScript, swapdev: str, swap_mb: int | None,
            swap2_mb: int | None, on_step: OpHook | None = None) -> dict[str, Any]:
    if swapdev not in DEVICE_KINDS:
        raise InvalidScenario(f"unknown swap device kind {swapdev!r}; expected one of "
                              + ", ".join(DEVICE_KINDS))
    mb = script.swap_mb(swap_mb)
    mb2 = script.swap2_mb(swap2_mb, mb) if swap2_mb is None else swap2_mb
    if mb2 is None and script.uses_swapdev2:
        mb2 = mb
    world = World(nr_cpus=1)
    kind = DEVICE_KINDS[swapdev]
    world.add_device(swapdev_path("@swapdev", swapdev), mb << 20, kind)
    if mb2 is not None:
        world.add_device(swapdev_path("@swapdev2", swapdev), mb2 << 20, kind)
    run = _Replay(world, swapdev, script)
    run.on_step = on_step
    run.block(script.ops, world.main)
    for proc in [p for p in world.processes.values() if p is not world.main]:
        world.exit(proc)
    return {"scenario": script.filename,
            "setup": {"swapdev": swapdev, "swap_mb": mb, "swap2_mb": mb2, "smp": 1},
            "reports": run.reports, "ops": run.ops, "snap": run.snap, "done_errors": run.errors}


class _Replay:
    """The interpreter: swaptest's main loop over the ops, on the model."""

    def __init__(self, world: World, swapdev: str, script: OpsScript) -> None:
        self.world = world
        self.swapdev = swapdev
        self.script = script
        self.reports: list[dict[str, Any]] = []
        self.ops: list[str] = []
        self.snap: list[dict[str, Any]] = []
        self.errors = 0
        self.on_step: OpHook | None = None
        self.step = 0

    def block(self, ops: tuple[Op, ...] | list[Op], flow: Process) -> None:
        for op in ops:
            proc = flow if op.task is None else self._task(op)
            self.op(op, proc)
            if self.on_step is not None:
                self.step += 1
                self.on_step(self.step, op, self.world, self)

    def _task(self, op: Op) -> Process:
        proc = self.world.processes.get(op.task)  # type: ignore[arg-type]
        if proc is None:
            raise InvalidScenario(f"task {op.task} is not alive", self.script.filename, op.line)
        return proc

    def op(self, op: Op, proc: Process) -> None:
        w = self.world
        name = op.name
        if isinstance(op, Swapon):
            path = swapdev_path(op.device, self.swapdev)
            err = w.swapon(proc, path, op.prio)
            self.ops.append(format_op_swapon(path, op.prio, -err if err else 0))
        elif isinstance(op, Swapoff):
            path = swapdev_path(op.device, self.swapdev)
            err = w.swapoff(proc, path)
            self.ops.append(format_op_swapoff(path, -err if err else 0))
        elif isinstance(op, Sysctl):
            rc = w.sysctl(op.path, op.value)
            self.ops.append(format_op_sysctl(op.path, op.value, rc))
        elif isinstance(op, WriteFile):
            rc = w.write_file(proc, op.path, op.value)
            self.ops.append(format_op_write_file(op.path, op.value, rc))
        elif isinstance(op, WriteSame):
            npages = proc.anon.npages if proc.anon is not None else 0
            lo, hi = op.page_range(npages)
            w.write(proc, lo, hi, region=op.region, pattern=op.pattern)
        elif isinstance(op, PageOp) and name in ("merge", "unmerge"):
            npages = proc.anon.npages if proc.anon is not None else 0
            lo, hi = op.page_range(npages)
            w.madvise(proc, lo, hi, name)
        elif isinstance(op, KsmWait):
            ok, done = w.ksm_wait(op.scans, op.timeout_ms)
            self.errors += not ok
            self.ops.append(format_op_ksm_wait(op.scans, ok, op.timeout_ms, done))
        elif isinstance(op, Bare) and name in ("memcg_enter", "memcg_leave"):
            rc = w.memcg_enter(proc) if name == "memcg_enter" else w.memcg_leave(proc)
            self.ops.append(format_op_memcg(name, rc))
        elif isinstance(op, Reclaim):
            # swaptest writes memory.reclaim, waits for writeback to end, writes it again.
            rc1 = w.memory_reclaim(proc, op.kb)
            rc2 = w.memory_reclaim(proc, op.kb)
            self.ops.append(format_op_reclaim(op.kb, rc1, rc2))
        elif isinstance(op, MapRegion):
            if op.region == "shm":
                w.shm_map(proc, op.npages)
            else:
                w.map(proc, op.npages)
        elif isinstance(op, Unmap):
            w.unmap(proc, op.region)
        elif isinstance(op, Fork):
            child = w.fork(proc, "child")
            if isinstance(child, int):
                raise InvalidScenario(f"fork of {proc.name} failed with {child}",
                                      self.script.filename, op.line)
            self.block(op.body, child)
            w.exit(child)
            self.ops.append(format_op_child_exit(0))
        elif isinstance(op, Spawn):
            if isinstance(w.fork(proc, op.child), int):
                raise InvalidScenario(f"fork of {proc.name} failed", self.script.filename,
                                      op.line)
            self.ops.append(format_op_spawn(op.child, proc.name))
        elif isinstance(op, TaskExit):
            w.exit(proc)
            self.ops.append(format_op_task_exit(proc.name, 0))
        elif isinstance(op, Report):
            if name == "pages":
                return                      # the PAGES line is not part of a result file
            self.reports.append(self.report(op.label, proc))
        elif isinstance(op, Sleep):
            w.sleep(op.ms)
        elif isinstance(op, Echo):
            pass
        elif isinstance(op, PageOp) and name in ("write", "zero", "read", "touch", "pageout",
                                                  "cold", "dontneed", "free", "willneed",
                                                  "punch"):
            region = op.region
            r = proc.shm if region == "shm" else proc.anon
            npages = r.npages if r is not None else 0
            lo, hi = op.page_range(npages)
            shm = region == "shm"
            if name in ("write", "zero"):
                w.write(proc, lo, hi, zero=(name == "zero"), region=region)
            elif name in ("read", "touch"):
                bad, zeroed, lazy = w.read(proc, lo, hi, verify=(name == "read"), region=region)
                if name == "read":
                    self.errors += bad
                    self.ops.append(format_op_read(lo, hi, bad, shm=shm,
                                                   lazy=(zeroed, lazy) if lazy else None))
            elif name == "punch":
                err = w.punch(proc, lo, hi)
                self.ops.append(format_op_punch(lo, hi, -err if err else 0))
            else:
                w.madvise(proc, lo, hi, name, region=region)
        elif isinstance(op, SnapOpen):
            path = swapdev_path(op.device, self.swapdev)
            rc = w.snap_open(proc, path)
            self._snap({"op": "open", "dev": path, "devno": DEVNO.get(path, "0:0"),
                        "rc": _rc(rc)})
            self._snap_avail(proc)
        elif isinstance(op, SnapAlloc):
            for i in range(1, op.count + 1):
                rc, value = w.snap_ioctl(proc, "alloc")
                rec: dict[str, Any] = {"op": "alloc", "i": i, "rc": _rc(rc)}
                if not rc:
                    assert value is not None
                    rec.update(offset=value, slot=value // PAGE_SIZE)
                self._snap(rec)
        elif isinstance(op, Bare) and name == "snap_avail":
            self._snap_avail(proc)
        elif isinstance(op, Bare) and name == "snap_free":
            rc, _ = w.snap_ioctl(proc, "free")
            self._snap({"op": "free", "rc": _rc(rc)})
        elif isinstance(op, Bare) and name == "snap_close":
            rc = w.snap_close(proc)
            self._snap({"op": "close", "rc": _rc(rc)})
        else:
            raise InvalidScenario(f"operation {name!r} is not modeled yet", self.script.filename,
                                  op.line, op.col)

    def _snap(self, record: dict[str, Any]) -> None:
        """One SNAP record; ``after`` is the label of the report printed before it."""
        after = self.reports[-1]["label"] if self.reports else None
        self.snap.append({"op": record["op"], "after": after,
                          **{k: v for k, v in record.items() if k != "op"}})

    def _snap_avail(self, proc: Process) -> None:
        rc, value = self.world.snap_ioctl(proc, "avail")
        rec: dict[str, Any] = {"op": "avail", "rc": _rc(rc)}
        if not rc:
            assert value is not None
            rec.update(bytes=value, pages=value // PAGE_SIZE)
        self._snap(rec)

    def report(self, label: str, proc: Process) -> dict[str, Any]:
        """One REPORT, computed from model state as swaptest computes it from /proc."""
        w = self.world
        states, entries = w.page_states(proc)
        c = w.counters()
        devs = [{"name": row["name"].rsplit("/", 1)[-1], "prio": row["priority"],
                 "used_kb": row["used_kb"], "size_kb": row["size_kb"]}
                for row in swap_show_rows()]
        rep: dict[str, Any] = {"label": label, "who": proc.name, "swaps": c["swaps"],
                               "used_kb": c["used_kb"], "swapcached_kb": c["swapcached_kb"],
                               "swapfree_kb": c["swapfree_kb"], "pswpin": c["pswpin"],
                               "pswpout": c["pswpout"], "pgmajfault": c["pgmajfault"],
                               "swap_ra": c["swap_ra"], "swap_ra_hit": c["swap_ra_hit"]}
        rep.update(anon_counts(states))
        rep["map"] = encode_map(states)
        rep["slots"] = encode_slots(entries)
        rep["devs"] = devs
        rep["swpin_zero"] = c["swpin_zero"]
        rep["swpout_zero"] = c["swpout_zero"]
        if proc.shm is not None:
            shm_states = w.shm_page_states(proc)
            rep.update(shm_counts(shm_states))
            rep["shm_map"] = encode_shm_map(shm_states)
            rep["shm_swap_kb"] = w.shm_swap_kb(proc)
        if self.script.uses_ksm:
            rep.update(w.ksm_counters())
            ksm = w.ksm_flags(proc)
            rep["ksm_mapped"] = ksm_mapped(ksm)
            rep["ksm_map"] = encode_ksm_map(ksm)
        return rep


def _rc(err: int) -> int | str:
    """A SNAP ``rc``: 0, or ``-ENAME`` of a negative errno."""
    return 0 if not err else f"-{errname(err)}"

