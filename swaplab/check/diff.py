"""The differential checker: one program on two variants, compared after every step.

``swaplab diff PROGRAM --variants A,B`` checks a claim such as patch 14's
"This commit should not introduce any behavior change": it runs PROGRAM (a
``.swp`` program, or a kernel-oracle ``.ops`` file as ``swaplab replay``
takes it) on variant A, recording after every step what a user could
observe, then on variant B, comparing step by step.  The model keeps its
state in module globals (docs/design.md, "Kernel state is module state"), so
the two runs are sequential; "lock step" means the comparison is per step.

What is observed after each step (:class:`Observation`), and only this:

* every slot of every device in use: its swap count (continuation included)
  and whether its cache bit is set; ``inuse_pages`` per device; the
  /proc/swaps rows;
* every page-table entry of every live process: ``P`` present, ``C``
  present and in the swap cache, ``S`` a swap entry (with its slot), ``M`` a
  pte marker;
* /proc/vmstat (events, node counters, mTHP counters);
* the return value of the step (``rc``: the errno of an operation that
  returns one; for an ops file, the OP and SNAP records the step printed),
  whether a kernel oops ended it, and a refusal of the statement at run time.

Findings are what the checkers say about a run, not what a user observes:
they are never compared.  The teardown (every process exits, an open
/dev/snapshot is closed) is compared as step ``steps + 1``.

The first difference is a ``divergence`` finding naming the step, what
differs (``slot``, ``inuse``, ``swaps``, ``pte``, ``vmstat``, ``rc``,
``oops``, ``refused``), where (the slot ``[type, offset]``, the process and
address, the counter) and both values; the comparison stops there.

Expected differences between T13 (``legacy``) and T14F (``mainline``) are
spec §4.3's, and they are tolerated in one place only: :data:`TOLERATED`,
each entry a function whose docstring says what differs and why that is
expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import Any

from swaplab.check import findings
from swaplab.errors import InvalidScenario
from swaplab.include.linux.pgtable import (
    PAGE_SHIFT,
    PMD_SHIFT,
    PTE_MARKER,
    PTE_PRESENT,
    PTE_SWAP,
    is_zero_page,
)
from swaplab.include.linux.swap import COUNT_CONTINUED, SWAP_HAS_CACHE, SWAP_MAP_BAD
from swaplab.include.linux.swapops import swp_offset, swp_type

__all__ = (
    "TOLERATED",
    "DiffResult",
    "Difference",
    "Observation",
    "diff_file",
    "diff_ops",
    "diff_program",
    "diff_programs",
    "format_result",
    "random_program",
)

# ---- observations ------------------------------------------------------------------

_kind = attrgetter("kind")
_CONTINUED = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True)
class DeviceObs:
    """One device in use: its swap_map bytes, the counts of continued slots, inuse_pages."""

    name: str
    map: bytes
    continued: tuple[tuple[int, int], ...]       # (offset, count) of COUNT_CONTINUED slots
    inuse: int

    def slot(self, offset: int) -> tuple[int, bool]:
        """(count, cached) of one slot, as ``expect slot`` reads it."""
        if offset >= len(self.map):
            return 0, False
        ent = self.map[offset]
        if ent == SWAP_MAP_BAD:
            return 0, False
        count = dict(self.continued).get(offset) if ent & COUNT_CONTINUED else None
        return (count if count is not None else ent & 0x3f), bool(ent & SWAP_HAS_CACHE)


@dataclass
class Observation:
    """What a user could observe after one step (see the module notes)."""

    step: int
    text: str                                   # the statement or op, "teardown" for the last
    line: int | None
    entry_point: str | None
    devices: dict[int, DeviceObs]
    swaps: list[dict[str, Any]]
    ptes: dict[str, tuple[tuple[int, str, tuple[int, int] | None], ...]]
    vmstat: dict[str, Any]
    rc: Any
    oops: bool
    refused: str | None = None
    hibernation: frozenset[tuple[int, int]] = frozenset()   # context only: extents' slots
    hib_free: bool = False                      # context only: the step frees hibernation slots


def _observe_devices() -> dict[int, DeviceObs]:
    from swaplab.mm.swap import swap_info
    from swaplab.mm.swapfile import swap_map_count, swap_usage_in_pages
    out: dict[int, DeviceObs] = {}
    for si in swap_info:
        if si is None or si.swap_map is None:
            continue
        m = bytes(si.swap_map)
        cont = tuple((mm.start(), swap_map_count(si, mm.start())) for mm in _CONTINUED.finditer(m))
        out[si.type] = DeviceObs(si.swap_file.name if si.swap_file is not None else "?", m, cont,
                                 swap_usage_in_pages(si))
    return out


def _observe_ptes(world: Any) -> dict[str, tuple[tuple[int, str, tuple[int, int] | None], ...]]:
    """Every non-none pte of every live process: (address, state, slot of a swap pte)."""
    out: dict[str, tuple[tuple[int, str, tuple[int, int] | None], ...]] = {}
    for name in sorted(world.processes):
        proc = world.processes[name]
        mm = proc.task.mm if proc.alive else None
        if mm is None:
            continue
        rows: list[tuple[int, str, tuple[int, int] | None]] = []
        for idx in sorted(mm.pgd):
            base = idx << PMD_SHIFT
            ptes = mm.pgd[idx].ptes
            for i in compress(range(len(ptes)), map(_kind, ptes)):     # non-none, at C speed
                pte = ptes[i]
                kind = pte.kind
                addr = base + (i << PAGE_SHIFT)
                if kind == PTE_PRESENT:
                    p = pte.page
                    cached = p is not None and not is_zero_page(p) and p.folio.PG_swapcache
                    rows.append((addr, "C" if cached else "P", None))
                elif kind == PTE_SWAP:
                    rows.append((addr, "S", (swp_type(pte.entry), swp_offset(pte.entry))))
                elif kind == PTE_MARKER:
                    rows.append((addr, "M", None))
        out[name] = tuple(rows)
    return out


def _hibernation_slots() -> frozenset[tuple[int, int]]:
    from swaplab.kernel.power.swap import iter_swsusp_extents
    from swaplab.kernel.power.user import snapshot_state
    extents = list(iter_swsusp_extents())
    if not extents:
        return frozenset()
    t = snapshot_state.swap
    return frozenset((t, off) for start, end in extents for off in range(start, end + 1))


def observe(step: int, text: str, line: int | None, world: Any, rc: Any, oops: bool,
            refused: str | None = None, hib_free: bool = False) -> Observation:
    """Record the observation of the model as it is now."""
    from swaplab.mm import vmstat
    from swaplab.mm.swapfile import swap_show_rows
    return Observation(step, text, line, findings.log.entry_point, _observe_devices(),
                       swap_show_rows(), _observe_ptes(world), vmstat.snapshot(), rc, oops,
                       refused, _hibernation_slots(), hib_free)


# ---- differences and what is tolerated --------------------------------------------

@dataclass(frozen=True)
class Difference:
    """One observed value that differs: ``what`` (slot, inuse, ...), ``where``, A's and B's."""

    what: str
    where: Any
    a: Any
    b: Any


@dataclass
class _Ctx:
    """What a tolerance may look at: the two observations and their previous step's."""

    a: Observation
    b: Observation
    prev_a: Observation | None
    prev_b: Observation | None
    absorbed: set[tuple[int, int]] = field(default_factory=set)   # slots §4.3.3 let differ


def hibernation_free_reclaims_cached_slot(d: Difference, ctx: _Ctx) -> bool:
    """§4.3.3: T14F's hibernation free evicts a readahead-cached slot at once; T13 keeps it.

    What differs: a slot that was a hibernation slot (count 1) and also had a
    folio in the swap cache (readahead picked it up) is, after the step that
    freed the hibernation slots (SNAPSHOT_FREE_SWAP_PAGES, close of
    /dev/snapshot, an image-write error), free under T14F but cache-only
    (count 0, cached) under T13; with it ``inuse_pages``, the /proc/swaps
    Used column (4 KiB a slot) and ``nr_swapcached`` differ by the number of
    such slots, and stay so on later steps while T13's slot remains
    cache-only.  Why expected: T14F's ``swap_free_hibernation_slot()``
    calls ``__try_to_reclaim_swap(TTRS_ANYWAY)`` after dropping the count;
    T13's ``swap_free_nr()`` never reclaims, leaving the folio to reclaim or
    to the allocator.  Nothing is lost either way.
    """
    if d.what == "slot":
        states = {d.a, d.b}
        if states != {(0, True), (0, False)}:
            return False
        if d.where in ctx.absorbed:
            return True
        prev = [o for o in (ctx.prev_a, ctx.prev_b) if o is not None]
        if ctx.a.hib_free and any(d.where in o.hibernation for o in prev):
            ctx.absorbed.add(d.where)
            return True
        return False
    if not ctx.absorbed:
        return False
    # The counters that follow from the absorbed slots: one cache-only slot each on one side.
    extra_a, extra_b = _absorbed_cache_only(ctx)
    n = extra_a - extra_b
    if d.what == "inuse" and isinstance(d.a, int):
        return d.a - d.b == n
    if d.what == "swaps":
        return d.a["used_kb"] - d.b["used_kb"] == 4 * n and \
            {k: v for k, v in d.a.items() if k != "used_kb"} == \
            {k: v for k, v in d.b.items() if k != "used_kb"}
    if d.what == "vmstat" and d.where == "nr_swapcached":
        return d.a - d.b == n
    return False


def _absorbed_cache_only(ctx: _Ctx) -> tuple[int, int]:
    na = nb = 0
    for t, off in ctx.absorbed:
        da, db = ctx.a.devices.get(t), ctx.b.devices.get(t)
        if da is not None and da.slot(off) == (0, True):
            na += 1
        if db is not None and db.slot(off) == (0, True):
            nb += 1
    return na, nb


def _finding_only(d: Difference, ctx: _Ctx) -> bool:
    return False


def swap_put_entries_direct_warns_once(d: Difference, ctx: _Ctx) -> bool:
    """§4.3.1: ``swap_put_entries_direct`` warns once when the device lookup fails; T13 is silent.

    What differs: a ``vm-warn`` finding (a WARN_ON_ONCE splat in dmesg) in
    T14F where T13's ``free_swap_and_cache_nr`` returned silently.  Why
    expected: the rename added the warning for an entry whose device is
    gone, which only a corrupt pte can hold.  Findings are never compared,
    so no observed value differs: nothing to match.
    """
    return _finding_only(d, ctx)


def folio_swap_api_skips_validation(d: Difference, ctx: _Ctx) -> bool:
    """§4.3.2: ``folio_put_swap``/``folio_dup_swap`` skip ``_swap_info_get`` and warn on an unlocked
    or uncached folio.

    What differs: T13 printed "Bad/Unused swap ... entry" for a bad entry
    and did nothing; T14F has no such message and ``VM_WARN``s when the
    folio is not locked or not in the swap cache.  Why expected: the folio
    API takes its entries from a locked swap-cache folio, which a correct
    caller always has.  Messages and findings only: nothing to match.
    """
    return _finding_only(d, ctx)


def shmem_put_before_cache_delete(d: Difference, ctx: _Ctx) -> bool:
    """§4.3.4: shmem swap-in and swap-in error put the count before deleting the cache, T13 after.

    What differs: inside ``shmem_swapin_folio()`` and
    ``shmem_set_folio_swapin_error()`` the slot passes through "count 0,
    cache-only" (T14F) instead of "uncached, count 1" (T13).  Why expected:
    ``folio_put_swap`` needs the folio still in the swap cache.  Both orders
    complete inside one operation, and the observation is taken between
    operations: nothing to match.
    """
    return False


def folio_alloc_swap_alignment_warn(d: Difference, ctx: _Ctx) -> bool:
    """§4.3.5: ``folio_alloc_swap`` warns on a misaligned ``folio->swap`` (new ``VM_WARN``).

    Never fires with a correct allocator; a finding if it did: nothing to match.
    """
    return _finding_only(d, ctx)


def swap_dup_entry_direct_has_no_nr(d: Difference, ctx: _Ctx) -> bool:
    """§4.3.6: ``swap_dup_entry_direct`` has no ``nr`` argument (every T13 caller passed 1).

    An interface difference, not a behaviour one: nothing to match.
    """
    return False


Tolerance = Callable[[Difference, _Ctx], bool]

TOLERATED: tuple[Tolerance, ...] = (
    swap_put_entries_direct_warns_once,
    folio_swap_api_skips_validation,
    hibernation_free_reclaims_cached_slot,
    shmem_put_before_cache_delete,
    folio_alloc_swap_alignment_warn,
    swap_dup_entry_direct_has_no_nr,
)
"""Spec §4.3, in its order: the only differences between two variants that are not divergences."""


def tolerated_by(d: Difference, ctx: _Ctx) -> str | None:
    """The name of the entry of :data:`TOLERATED` that tolerates ``d``, or None."""
    for tol in TOLERATED:
        if tol(d, ctx):
            return tol.__name__
    return None


def differences(a: Observation, b: Observation) -> Iterable[Difference]:
    """Every value that differs between two observations of the same step, in a fixed order."""
    if a.refused != b.refused:
        yield Difference("refused", None, a.refused, b.refused)
    if a.oops != b.oops:
        yield Difference("oops", None, a.oops, b.oops)
    if a.rc != b.rc:
        yield Difference("rc", None, a.rc, b.rc)
    if a.devices != b.devices:
        for t in sorted(set(a.devices) | set(b.devices)):
            da, db = a.devices.get(t), b.devices.get(t)
            if da == db:
                continue
            if da is None or db is None:
                yield Difference("device", t, da and da.name, db and db.name)
                continue
            if da.map != db.map or da.continued != db.continued:
                n = max(len(da.map), len(db.map))
                for off in _differing_offsets(da, db, n):
                    sa, sb = da.slot(off), db.slot(off)
                    if sa != sb:
                        yield Difference("slot", (t, off), sa, sb)
            if da.inuse != db.inuse:
                yield Difference("inuse", (t, None), da.inuse, db.inuse)
    if a.swaps != b.swaps:
        for i in range(max(len(a.swaps), len(b.swaps))):
            ra = a.swaps[i] if i < len(a.swaps) else None
            rb = b.swaps[i] if i < len(b.swaps) else None
            if ra != rb:
                yield Difference("swaps", (ra or rb or {}).get("name"), ra, rb)
    if a.ptes != b.ptes:
        for name in sorted(set(a.ptes) | set(b.ptes)):
            pa = {r[0]: r[1:] for r in a.ptes.get(name, ())}
            pb = {r[0]: r[1:] for r in b.ptes.get(name, ())}
            for addr in sorted(set(pa) | set(pb)):
                va, vb = pa.get(addr, ("-", None)), pb.get(addr, ("-", None))
                if va != vb:
                    yield Difference("pte", (name, addr), va, vb)
    if a.vmstat != b.vmstat:
        for key in sorted(set(a.vmstat) | set(b.vmstat)):
            if a.vmstat.get(key) != b.vmstat.get(key):
                yield Difference("vmstat", key, a.vmstat.get(key), b.vmstat.get(key))


def _differing_offsets(da: DeviceObs, db: DeviceObs, n: int) -> Iterable[int]:
    cont = {off for off, _ in da.continued} | {off for off, _ in db.continued}
    ma, mb = da.map.ljust(n, b"\0"), db.map.ljust(n, b"\0")
    for off in range(n):
        if ma[off] != mb[off] or off in cont:
            yield off


# ---- the result ---------------------------------------------------------------------

@dataclass
class DiffResult:
    """The comparison of one program on two variants."""

    program: str
    variants: tuple[str, str]
    steps: int
    divergences: list[dict[str, Any]]
    tolerated: list[dict[str, Any]]
    refused: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"program": self.program, "variants": list(self.variants), "steps": self.steps,
                "divergences": self.divergences, "tolerated": self.tolerated,
                "refused": self.refused}


def _fmt(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_fmt(x) for x in v]
    return v


def _where_text(d: Difference) -> str:
    if d.what == "slot":
        return f"slot [{d.where[0]}, {d.where[1]}]"
    if d.what == "inuse":
        return f"inuse_pages of type {d.where[0]}"
    if d.what == "pte":
        return f"pte of {d.where[0]} at {d.where[1]:#x}"
    if d.what in ("vmstat", "swaps", "device"):
        return f"{d.what} {d.where}"
    return d.what


def _value_text(d: Difference, v: Any) -> str:
    if d.what == "slot":
        return f"count={v[0]}" + (" cached" if v[1] else "")
    return repr(v)


def divergence(d: Difference, obs: Observation, variants: tuple[str, str]) -> dict[str, Any]:
    """The ``divergence`` finding for ``d`` at the step of ``obs`` (the shape of a run's findings)."""
    a, b = variants
    msg = (f"{_where_text(d)} after '{obs.text}': {a} has {_value_text(d, d.a)}, "
           f"{b} has {_value_text(d, d.b)}")
    f = findings.Finding("divergence", msg, obs.entry_point,
                         tuple(d.where) if d.what == "slot" else None, obs.step)  # type: ignore[arg-type]
    out = f.to_json()
    out.update(line=obs.line, statement=obs.text, what=d.what, where=_fmt(d.where),
               a=_fmt(d.a), b=_fmt(d.b), variants=[a, b])
    return out


class _Comparer:
    """Receives B's observations in step order and compares each with A's."""

    def __init__(self, recorded: list[Observation], variants: tuple[str, str]) -> None:
        self.recorded = recorded
        self.variants = variants
        self.divergences: list[dict[str, Any]] = []
        self.tolerated: list[dict[str, Any]] = []
        self.absorbed: set[tuple[int, int]] = set()
        self.prev_b: Observation | None = None
        self.index = 0

    def __call__(self, b: Observation) -> bool:
        """Compare; return False to stop B's run (first divergence found)."""
        i = self.index
        self.index += 1
        a = self.recorded[i] if i < len(self.recorded) else None
        if a is None:
            self.divergences.append({"kind": "divergence", "step": b.step, "line": b.line,
                                     "message": f"{self.variants[1]} ran step {b.step}, "
                                     f"{self.variants[0]} stopped before it"})
            return False
        ctx = _Ctx(a, b, self.recorded[i - 1] if i else None, self.prev_b, self.absorbed)
        self.prev_b = b
        for d in differences(a, b):
            name = tolerated_by(d, ctx)
            if name is None:
                self.divergences.append(divergence(d, b, self.variants))
                return False
            self.tolerated.append({"step": b.step, "tolerance": name, "what": d.what,
                                   "where": _fmt(d.where), "a": _fmt(d.a), "b": _fmt(d.b)})
        return True

    def finish(self, b_steps: int) -> None:
        if not self.divergences and b_steps < len(self.recorded):
            a = self.recorded[b_steps]
            self.divergences.append({"kind": "divergence", "step": a.step, "line": a.line,
                                     "message": f"{self.variants[0]} ran step {a.step}, "
                                     f"{self.variants[1]} stopped before it"})


# ---- running a program with observations --------------------------------------------

def _run_observed(program: Any, spec: str | None, sink: Callable[[Observation], bool],
                  seed: int) -> int:
    """Run a ``.swp`` program on variant ``spec``; hand each step's observation to ``sink``.

    ``spec`` None: on the variant active now.
    Return: the number of observations made (the teardown is the last).
    """
    from swaplab.program.interp import using_variant
    if spec is None:
        return _run_observed_here(program, sink, seed)
    with using_variant(spec):
        return _run_observed_here(program, sink, seed)


def _run_observed_here(program: Any, sink: Callable[[Observation], bool], seed: int) -> int:
    from swaplab.program.ast import Snapshot
    from swaplab.program.interp import _Run, check_supported
    from swaplab.sim.world import World
    n = 0
    check_supported(program)
    run = _Run(program, World(nr_cpus=1, seed=seed, checks=findings.RECORD))
    steps = len(program.statements)
    for step, stmt in enumerate(program.statements, start=1):
        oopses = len(run.oopses)
        refused = None
        try:
            run.step(step, stmt)
        except InvalidScenario as e:
            refused = e.msg
        hib = isinstance(stmt, Snapshot) and stmt.action in ("free", "close")
        n += 1
        obs = observe(step, stmt.text(), stmt.line, run.world, run.rc,
                      len(run.oopses) > oopses, refused, hib)
        if not sink(obs) or refused is not None:
            return n
    hib = getattr(run.world, "snapshot", None) is not None
    oopses = len(run.oopses)
    run.teardown(steps + 1)
    n += 1
    sink(observe(steps + 1, "teardown", None, run.world, None, len(run.oopses) > oopses,
                 None, hib))
    return n


def _replay_observed(script: Any, spec: str, sink: Callable[[Observation], bool], swapdev: str,
                     swap_mb: int | None, swap2_mb: int | None) -> int:
    """Replay a kernel-oracle ops script on variant ``spec``, observing after every op."""
    from swaplab.oracle.replay import replay
    from swaplab.program.interp import using_variant
    seen = {"ops": 0, "snap": 0, "n": 0, "stop": False}
    world_box: list[Any] = []

    class _Stop(Exception):
        pass

    def on_step(step: int, op: Any, world: Any, run: Any) -> None:
        rc = tuple(run.ops[seen["ops"]:]) + tuple(
            tuple(sorted((k, str(v)) for k, v in s.items())) for s in run.snap[seen["snap"]:])
        seen["ops"], seen["snap"] = len(run.ops), len(run.snap)
        world_box[:] = [world]
        name = getattr(op, "name", "")
        seen["n"] += 1
        obs = observe(step, f"{name} (line {op.line})", op.line, world, rc, False, None,
                      name in ("snap_free", "snap_close"))
        if not sink(obs):
            raise _Stop
    with using_variant(spec):
        try:
            result = replay(script, swapdev, swap_mb, swap2_mb, on_step=on_step)
        except _Stop:
            return int(seen["n"])
        world = world_box[0] if world_box else None
        if world is not None:
            seen["n"] += 1
            sink(observe(int(seen["n"]), "teardown", None, world, tuple(result["ops"][seen["ops"]:]),
                         False))
    return int(seen["n"])


def _recorder(into: list[Observation]) -> Callable[[Observation], bool]:
    """A sink that keeps every observation (A's run)."""
    def record(obs: Observation) -> bool:
        into.append(obs)
        return True
    return record


def _compare(label: str, variants: tuple[str, str],
             run: Callable[[str, Callable[[Observation], bool]], int]) -> DiffResult:
    a, b = variants
    recorded: list[Observation] = []
    run(a, _recorder(recorded))
    cmp = _Comparer(recorded, variants)
    return _result(label, variants, recorded, cmp, run(b, cmp))


def _result(label: str, variants: tuple[str, str], recorded: list[Observation],
            cmp: _Comparer, n_b: int) -> DiffResult:
    cmp.finish(n_b)
    last = recorded[-1] if recorded else None
    refused = last.refused if last is not None else None
    steps = (last.step - 1 if last is not None and last.text == "teardown" else
             last.step if last is not None else 0)
    return DiffResult(label, variants, steps, cmp.divergences, cmp.tolerated, refused)


def diff_program(program: Any, variants: tuple[str, str], seed: int = 0) -> DiffResult:
    """Run a parsed program on both variants and compare after every step.

    :raises InvalidScenario: an unknown variant, or an operation the World lacks.
    """
    return _compare(program.filename, variants,
                    lambda spec, sink: _run_observed(program, spec, sink, seed))


def diff_programs(programs: list[tuple[Any, int]], variants: tuple[str, str]) -> list[DiffResult]:
    """:func:`diff_program` for many (program, seed) pairs, each variant activated once.

    The same comparisons, in less time: every program runs on A, then every
    program on B (activating a variant rebinds names in every model module).
    """
    from swaplab.program.interp import using_variant
    a, b = variants
    recorded: list[list[Observation]] = []
    with using_variant(a):
        for program, seed in programs:
            obs: list[Observation] = []
            _run_observed_here(program, _recorder(obs), seed)
            recorded.append(obs)
    out = []
    with using_variant(b):
        for (program, seed), obs in zip(programs, recorded):
            cmp = _Comparer(obs, variants)
            out.append(_result(program.filename, variants, obs, cmp,
                               _run_observed_here(program, cmp, seed)))
    return out


def diff_ops(script: Any, variants: tuple[str, str], swapdev: str = "virtio",
             swap_mb: int | None = None, swap2_mb: int | None = None) -> DiffResult:
    """Replay an ops script on both variants and compare after every op."""
    return _compare(script.filename, variants,
                    lambda spec, sink: _replay_observed(script, spec, sink, swapdev, swap_mb,
                                                        swap2_mb))


# ---- random programs ------------------------------------------------------------------

def random_program(seed: int, n_ops: int = 30) -> Any:
    """A random program of about ``n_ops`` operations from ``seed``.

    Uses the fuzzer's generator (``swaplab.fuzz.gen.generate_program``) when
    this tree has it, else :func:`_small_program`.
    """
    try:
        from swaplab.fuzz.gen import generate_program
    except ImportError:
        return _small_program(seed, n_ops)
    return generate_program(seed, n_ops=n_ops)


def _small_program(seed: int, n_ops: int) -> Any:
    """A private generator (until ``swaplab.fuzz.gen`` exists): every statement kind, valid text.

    It follows what the parser and ``check_supported`` require (names,
    live processes, region sizes, one memfd per process mapped once, one
    /dev/snapshot user at a time), so that a program runs to its end unless
    an injected fault fails a fork whose child is used later.
    """
    import random

    from swaplab.kernel.custom import FAULTS
    from swaplab.program.interp import _world_accepts
    from swaplab.program.parser import parse_program
    rng = random.Random(seed)
    lines: list[str] = []
    devices: list[str] = []
    procs: dict[str, dict[str, Any]] = {}       # alive: anon pages, shm file
    files: dict[str, int] = {}
    mapped_once: set[str] = set()
    snap: dict[str, Any] = {"owner": None, "dead": False}
    names = iter(range(10**6))
    discard_ok = _world_accepts("swapon", "flags")

    def name(prefix: str) -> str:
        return f"{prefix}{next(names)}"

    def rng_range(n: int) -> str:
        if n <= 0 or rng.random() < 0.4:
            return ""
        lo = rng.randrange(n)
        hi = rng.randint(lo + 1, n)
        return f" {lo}" if hi == lo + 1 else f" {lo}..{hi}"

    def add_device() -> None:
        d = name("d")
        kind = rng.choice(("rotational", "ssd", "sync"))
        size = rng.choice(("1M", "2M", "4M", "600"))
        flags = (" file" if rng.random() < 0.2 else "") + (" discard" if rng.random() < 0.1 else "")
        lines.append(f"device {d} {size} {kind}{flags}")
        devices.append(d)

    def new_process() -> None:
        p = name("p")
        lines.append(f"process {p}")
        procs[p] = {"anon": 0, "shm": None}

    def who() -> str:
        return rng.choice(sorted(procs))

    def op_swapon() -> None:
        opt = f" prio={rng.randint(0, 9)}" if rng.random() < 0.3 else ""
        if discard_ok and rng.random() < 0.15:
            opt += rng.choice((" discard", " discard=once", " discard=pages"))
        by = f"{who()} " if procs and rng.random() < 0.2 else ""
        lines.append(f"{by}swapon {rng.choice(devices)}{opt}")

    def op_swapoff() -> None:
        by = f"{who()} " if procs and rng.random() < 0.3 else ""
        lines.append(f"{by}swapoff {rng.choice(devices)}")

    def op_fork() -> None:
        p = who()
        c = name("p")
        lines.append(f"{p} fork {c}")
        procs[c] = dict(procs[p])

    def op_exit() -> None:
        p = who()
        if snap["owner"] == p:
            snap["owner"], snap["dead"] = None, True
        lines.append(f"{p} exit")
        del procs[p]

    def op_map() -> None:
        p = who()
        n = rng.randint(1, 24)
        lines.append(f"{p} map {n}")
        procs[p]["anon"] = n

    def op_munmap() -> None:
        p = who()
        if procs[p]["anon"]:
            lines.append(f"{p} munmap")
            procs[p]["anon"] = 0

    def op_shmem() -> None:
        f = name("f")
        files[f] = rng.randint(1, 16)
        lines.append(f"shmem {f} {files[f]}")

    def op_shm_map() -> None:
        p = who()
        free = [f for f in sorted(files) if f not in mapped_once]
        if procs[p]["shm"] is None and free:
            f = rng.choice(free)
            mapped_once.add(f)
            procs[p]["shm"] = f
            lines.append(f"{p} map {f}")

    def op_shm_munmap() -> None:
        p = who()
        if procs[p]["shm"] is not None:
            lines.append(f"{p} munmap {procs[p]['shm']}")
            procs[p]["shm"] = None

    def op_page() -> None:
        p = who()
        op = rng.choice(("write", "write", "zero", "read", "read", "touch", "pageout", "pageout",
                         "pageout", "cold", "dontneed", "free", "willneed", "merge", "unmerge"))
        f = procs[p]["shm"]
        if f is not None and (not procs[p]["anon"] or rng.random() < 0.3) \
                and op not in ("merge", "unmerge"):
            lines.append(f"{p} {op} {f}{rng_range(files[f])}")
        elif procs[p]["anon"]:
            pat = f" pattern={rng.randint(0, 2)}" if op == "write" and rng.random() < 0.3 else ""
            lines.append(f"{p} {op}{rng_range(procs[p]['anon'])}{pat}")

    def op_punch() -> None:
        live = sorted({v["shm"] for v in procs.values() if v["shm"] is not None})
        if live:
            f = rng.choice(live)
            lines.append(f"punch {f}{rng_range(files[f])}")

    def op_ksm() -> None:
        if rng.random() < 0.5:
            lines.append(f"ksm run={rng.choice((0, 1, 1, 2))}")
        else:
            lines.append(f"ksm scan {rng.randint(1, 2)}")

    def op_snapshot() -> None:
        if snap["dead"]:
            return
        if snap["owner"] is None:
            snap["owner"] = who()
            lines.append(f"{snap['owner']} snapshot open {rng.choice(devices)}")
            return
        if snap["owner"] not in procs:
            return
        action = rng.choice(("avail", "alloc", "alloc", "alloc", "free", "close"))
        count = f" {rng.randint(1, 4)}" if action == "alloc" and rng.random() < 0.6 else ""
        lines.append(f"{snap['owner']} snapshot {action}{count}")
        if action == "close":
            snap["owner"] = None

    def op_fault() -> None:
        if rng.random() < 0.2:
            lines.append(f"fault signal {who()}")
            return
        fault = rng.choice(sorted(FAULTS))
        r = rng.random()
        opt = (f" times={rng.randint(1, 3)}" if r < 0.3 else
               f" probability={rng.choice(('0.25', '0.5'))}" if r < 0.4 else
               " always" if r < 0.45 and fault not in ("page_alloc", "swapoff_signal") else "")
        lines.append(f"fault {fault}{opt}")

    def op_sleep() -> None:
        lines.append("sleep" if rng.random() < 0.5 else f"sleep {rng.randint(1, 2000)}")

    add_device()
    lines.append(f"swapon {devices[0]}")
    new_process()
    table: list[tuple[int, Callable[[], None], Callable[[], bool]]] = [
        (2, add_device, lambda: len(devices) < 3),
        (4, op_swapon, lambda: True),
        (2, op_swapoff, lambda: True),
        (2, new_process, lambda: len(procs) < 5),
        (4, op_fork, lambda: 0 < len(procs) < 5),
        (2, op_exit, lambda: len(procs) > 1),
        (5, op_map, lambda: bool(procs)),
        (1, op_munmap, lambda: bool(procs)),
        (2, op_shmem, lambda: len(files) < 3),
        (3, op_shm_map, lambda: bool(procs) and bool(files)),
        (1, op_shm_munmap, lambda: bool(procs)),
        (40, op_page, lambda: bool(procs)),
        (2, op_punch, lambda: True),
        (2, op_ksm, lambda: True),
        (4, op_snapshot, lambda: bool(procs)),
        (2, op_fault, lambda: bool(procs)),
        (2, op_sleep, lambda: True),
    ]
    while len(lines) < n_ops:
        if not procs:
            new_process()
            continue
        ok = [(w, fn) for w, fn, pre in table if pre()]
        pick = rng.uniform(0, sum(w for w, _ in ok))
        for w, fn in ok:
            pick -= w
            if pick <= 0:
                fn()
                break
    return parse_program("\n".join(lines) + "\n", f"<random {seed}>")


# ---- ``swaplab diff`` ------------------------------------------------------------------

def diff_file(path: str, variants: str, swapdev: str = "virtio", swap_mb: int | None = None,
              swap2_mb: int | None = None) -> DiffResult:
    """``swaplab diff PATH --variants A,B``: a ``.ops`` file is replayed, anything else is a program.

    :raises InvalidScenario: bad ``--variants``, a file that does not parse, an unknown variant.
    """
    pair = tuple(v.strip() for v in variants.split(","))
    if len(pair) != 2 or not all(pair):
        raise InvalidScenario(f"expected two variants A,B (such as legacy,mainline), got "
                              f"'{variants}'", "--variants")
    if path.endswith(".ops"):
        from swaplab.oracle.ops import parse_ops
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidScenario(f"cannot read the ops file: {e}", path) from e
        return diff_ops(parse_ops(text, path), pair, swapdev, swap_mb, swap2_mb)  # type: ignore[arg-type]
    from swaplab.program import load_program
    return diff_program(load_program(path), pair)  # type: ignore[arg-type]


def format_result(result: DiffResult) -> list[str]:
    """The text ``swaplab diff`` prints: one line per divergence, then a summary."""
    a, b = result.variants
    out = []
    for d in result.divergences:
        line = f":{d['line']}" if d.get("line") else ""
        out.append(f"{result.program}{line}: step {d['step']}: divergence: {d['message']}")
    for t in result.tolerated:
        out.append(f"{result.program}: step {t['step']}: tolerated ({t['tolerance']}): "
                   f"{t['what']} {t['where']}: {a} {t['a']}, {b} {t['b']}")
    if result.refused:
        out.append(f"{result.program}: both runs stopped: {result.refused}")
    out.append(f"{result.program}: {a} vs {b}, {result.steps} steps, "
               f"{len(result.divergences)} divergence{'' if len(result.divergences) == 1 else 's'}")
    return out
