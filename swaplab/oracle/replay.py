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

Not modeled yet (a clear :class:`InvalidScenario`): shm regions, the
hibernation snapshot device, KSM and memory cgroups.
"""

from __future__ import annotations

from typing import Any

from swaplab.errors import InvalidScenario
from swaplab.mm.swapfile import swap_show_rows
from swaplab.oracle.encode import (
    anon_counts,
    encode_map,
    encode_slots,
    format_op_child_exit,
    format_op_read,
    format_op_spawn,
    format_op_swapoff,
    format_op_swapon,
    format_op_sysctl,
    format_op_task_exit,
    swapdev_path,
)
from swaplab.oracle.ops import (
    Echo,
    Fork,
    MapRegion,
    Op,
    OpsScript,
    PageOp,
    Report,
    Sleep,
    Spawn,
    Swapoff,
    Swapon,
    Sysctl,
    TaskExit,
    Unmap,
)
from swaplab.sim.world import Process, World

__all__ = ("DEVICE_KINDS", "replay")

DEVICE_KINDS = {"virtio": "rotational", "virtio-ssd": "ssd", "brd": "sync"}


def replay(script: OpsScript, swapdev: str, swap_mb: int | None = None,
           swap2_mb: int | None = None) -> dict[str, Any]:
    """Run ``script`` on a freshly booted model; return the run as the oracle records it.

    :param swapdev: the device kind, ``virtio``, ``virtio-ssd`` or ``brd``.
    :param swap_mb: first device size in MB (default: the script's ``#%`` line, else 64).
    :param swap2_mb: second device size (default: the script's, else ``swap_mb`` when
        the script names ``@swapdev2``, else no second device).
    :raises InvalidScenario: an op the model does not support yet.
    """
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

    def block(self, ops: tuple[Op, ...] | list[Op], flow: Process) -> None:
        for op in ops:
            proc = flow if op.task is None else self._task(op)
            self.op(op, proc)

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
        elif isinstance(op, MapRegion):
            self._anon_only(op, op.region)
            w.map(proc, op.npages)
        elif isinstance(op, Unmap):
            self._anon_only(op, op.region)
            w.unmap(proc)
        elif isinstance(op, Fork):
            child = w.fork(proc, "child")
            self.block(op.body, child)
            w.exit(child)
            self.ops.append(format_op_child_exit(0))
        elif isinstance(op, Spawn):
            w.fork(proc, op.child)
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
                                                  "cold", "dontneed", "free", "willneed"):
            self._anon_only(op, op.region)
            npages = proc.anon.npages if proc.anon is not None else 0
            lo, hi = op.page_range(npages)
            if name in ("write", "zero"):
                w.write(proc, lo, hi, zero=(name == "zero"))
            elif name in ("read", "touch"):
                bad, zeroed, lazy = w.read(proc, lo, hi, verify=(name == "read"))
                if name == "read":
                    self.errors += bad
                    self.ops.append(format_op_read(lo, hi, bad, lazy=(zeroed, lazy) if lazy else None))
            else:
                w.madvise(proc, lo, hi, name)
        else:
            raise InvalidScenario(f"operation {name!r} is not modeled yet", self.script.filename,
                                  op.line, op.col)

    def _anon_only(self, op: Op, region: str) -> None:
        if region != "anon":
            raise InvalidScenario(f"{op.name} {region}: shm regions are not modeled yet",
                                  self.script.filename, op.line, op.col)

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
        return rep

