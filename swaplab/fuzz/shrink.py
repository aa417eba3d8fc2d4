"""Shrinking a failing program to a minimal one.

Design notes (after Hypothesis's shrinker essay):

* A program is a sequence of operations; "simpler" is one order,
  :func:`sort_key`: fewer operations, then fewer processes, then smaller
  arguments (the sum of each operation's own ``cost``).  A candidate is
  kept only if it is strictly simpler *and* still shows the finding (same
  kind, same function).
* Passes are named methods listed in ``PASSES``; each is deterministic in
  whether it makes progress, and loops stay valid while the program
  shrinks.  The shrinker runs the passes until a full round changes
  nothing, so the result is 1-minimal: no single operation, process or
  argument can be removed or simplified without losing the finding.
* Passes, cheapest first: ``delete_chunks`` (ddmin: halves, quarters, ...
  down to single operations), ``delete_names`` (every operation that
  mentions one process, device or file), ``delete_pairs`` (any two
  operations, on programs of at most 16: a close and a re-open that only
  go together), ``simplify_ops`` (each
  operation's simpler forms, as the op proposes them), ``renumber``
  (canonical names).
* Candidates are remembered by value: a candidate tested once is never
  run again (passes revisit the same programs often).
* A budget of test runs bounds the work; shrinking stops early, returning
  the simplest program found so far, when it is spent.

The generic :class:`Shrinker` knows nothing about programs; the program
side (:class:`ProgramOp`, :func:`shrink`) wraps each statement, proposes
its simplifications (smaller N, smaller ranges, fewer pages, lower counts,
simpler device kinds, a fork that becomes a plain process) and drops every
candidate that does not parse or that the World refuses, so a shrunk
program is always valid.

XX: passes that merge two processes into one, or move an operation
earlier, would find smaller programs for some races; not needed yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from swaplab.errors import InvalidScenario
from swaplab.program.ast import (
    DEVICE_KINDS,
    Device,
    Exit,
    ExpectFinding,
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
    Range,
    Shmem,
    ShmMap,
    SignalFault,
    Sleep,
    Snapshot,
    Stmt,
    Swapoff,
    Swapon,
    format_program,
)

__all__ = (
    "FindingKey",
    "ProgramOp",
    "Shrinker",
    "reproducer",
    "shows",
    "shrink",
    "shrink_active",
    "sort_key",
)


class ShrinkableOp(Protocol):
    def cost(self) -> int: ...
    def process(self) -> str | None: ...
    def names(self) -> frozenset[str]: ...
    def simpler(self) -> Iterable[ShrinkableOp]: ...


T = TypeVar("T", bound=ShrinkableOp)


def sort_key(ops: Sequence[ShrinkableOp]) -> tuple[int, int, int]:
    """Fewer operations, then fewer processes, then smaller arguments."""
    procs = {p for op in ops if (p := op.process()) is not None}
    return (len(ops), len(procs), sum(op.cost() for op in ops))


class Shrinker(Generic[T]):
    PASSES = ("delete_chunks", "delete_names", "delete_pairs", "simplify_ops", "renumber")
    PAIRS_UP_TO = 16                # delete_pairs is quadratic: only on short programs

    def __init__(self, ops: Sequence[T], test: Callable[[list[T]], bool],
                 normalize: Callable[[list[T]], list[T]] | None = None,
                 budget: int = 2000) -> None:
        self.best: list[T] = list(ops)
        self.test = test
        self.normalize = normalize
        self.budget = budget
        self.calls = 0
        self.seen: set[tuple[Hashable, ...]] = set()

    def _run(self, candidate: list[T]) -> bool:
        key = tuple(candidate)          # ops are frozen values
        if key in self.seen:
            return False
        self.seen.add(key)  # type: ignore[arg-type]
        self.calls += 1
        if self.test(candidate):
            self.best = candidate
            return True
        return False

    def consider(self, candidate: list[T]) -> bool:
        """Adopt ``candidate`` if it is simpler and still fails."""
        if self.calls >= self.budget:
            return False
        if sort_key(candidate) >= sort_key(self.best):
            return False
        return self._run(candidate)

    def shrink(self) -> list[T]:
        while self.calls < self.budget:
            before = sort_key(self.best)
            for name in self.PASSES:
                getattr(self, name)()
            if sort_key(self.best) >= before:
                break
        return self.best

    # --- passes --------------------------------------------------------------
    def delete_chunks(self) -> None:
        n = len(self.best)
        size = max(n // 2, 1)
        while size >= 1:
            i = 0
            while i < len(self.best):
                candidate = self.best[:i] + self.best[i + size:]
                if not self.consider(candidate):
                    i += size
            size //= 2

    def delete_names(self) -> None:
        names = sorted({n for op in self.best for n in op.names()})
        for name in names:
            self.consider([op for op in self.best if name not in op.names()])

    def delete_pairs(self) -> None:
        """Two operations at once (a close and a re-open, say), which single deletions miss."""
        if len(self.best) > self.PAIRS_UP_TO:
            return
        i = 0
        while i < len(self.best):
            j = i + 1
            while j < len(self.best):
                candidate = self.best[:i] + self.best[i + 1:j] + self.best[j + 1:]
                if not self.consider(candidate):
                    j += 1
            i += 1

    def simplify_ops(self) -> None:
        i = 0
        while i < len(self.best):
            for simpler in self.best[i].simpler():
                candidate = self.best[:i] + [simpler] + self.best[i + 1:]  # type: ignore[list-item]
                if self.consider(candidate):  # type: ignore[arg-type]
                    break
            i += 1

    def renumber(self) -> None:
        if self.normalize is None or self.calls >= self.budget:
            return
        candidate = self.normalize(list(self.best))
        if candidate != self.best:
            self._run(candidate)


# ---- programs --------------------------------------------------------------------------

FindingKey = tuple[str, str]
"""(kind, function) of a finding; function "" when the finding names none."""


def _range_cost(rng: Range | None) -> int:
    return 0 if rng is None else 1 + rng.hi


def _smaller_ranges(rng: Range | None) -> list[Range | None]:
    if rng is None:
        return []
    out: list[Range | None] = [None]
    n = rng.hi - rng.lo
    if rng.lo > 0:
        out.append(Range(0, n))
    if n > 1:
        out += [Range(rng.lo, rng.lo + 1), Range(rng.lo, rng.hi - 1)]
    return out


def _smaller_ints(n: int, floor: int = 1) -> list[int]:
    out = []
    for m in (floor, n // 2, n - 1):
        if floor <= m < n and m not in out:
            out.append(m)
    return out


@dataclasses.dataclass(frozen=True)
class ProgramOp:
    """One statement of a program, as the shrinker sees it."""

    stmt: Stmt

    def process(self) -> str | None:
        """The process this statement declares (NewProcess, Fork), or None."""
        s = self.stmt
        if isinstance(s, NewProcess):
            return s.name
        if isinstance(s, Fork):
            return s.child
        return None

    def names(self) -> frozenset[str]:
        """Every process, device and file the statement mentions."""
        s = self.stmt
        out = set()
        for attr in ("name", "proc", "child", "device", "file"):
            value = getattr(s, attr, None)
            if isinstance(value, str) and not (attr == "name" and isinstance(s, Fault)):
                out.add(value)
        return frozenset(out)

    def cost(self) -> int:
        s = self.stmt
        if isinstance(s, Device):
            return s.pages // 256 + DEVICE_KINDS.index(s.kind) + s.file + s.discard
        if isinstance(s, Swapon):
            return 1 + (0 if s.prio is None else 1 + s.prio) + (s.proc is not None) \
                + (s.discard is not None)
        if isinstance(s, Swapoff):
            return 1 + (s.proc is not None)
        if isinstance(s, Fork):
            return 3
        if isinstance(s, Map):
            return s.npages
        if isinstance(s, Shmem):
            return s.npages
        if isinstance(s, PageOp):
            return 1 + _range_cost(s.range) + (0 if s.pattern is None else 1 + s.pattern)
        if isinstance(s, Punch):
            return 1 + _range_cost(s.range)
        if isinstance(s, Snapshot):
            return 1 + (s.count or 1) - 1 + (s.count is not None)
        if isinstance(s, KsmScan):
            return s.scans
        if isinstance(s, KsmRun):
            return 1 + s.value
        if isinstance(s, Fault):
            return 1 + (10 if s.times == -1 else 5 if s.probability is not None else s.times)
        if isinstance(s, Sleep):
            return 1 + (s.ms is not None)
        return 1

    def simpler(self) -> Iterable[ProgramOp]:
        """Simpler forms of this statement, simplest first (each strictly cheaper)."""
        me = self.cost()
        for stmt in self._candidates():
            op = ProgramOp(stmt)
            if op.cost() < me:
                yield op

    def _candidates(self) -> Iterable[Stmt]:
        s = self.stmt
        r = dataclasses.replace
        if isinstance(s, Device):
            if s.file or s.discard:
                yield r(s, file=False, discard=False)
            for kind in DEVICE_KINDS[:DEVICE_KINDS.index(s.kind)]:
                yield r(s, kind=kind)
            for mb in _smaller_ints(s.pages // 256):
                yield r(s, pages=mb * 256)
        elif isinstance(s, Swapon):
            yield r(s, prio=None, proc=None, discard=None)
            if s.prio:
                yield r(s, prio=0)
            yield r(s, proc=None)
            yield r(s, prio=None)
        elif isinstance(s, Swapoff):
            yield r(s, proc=None)
        elif isinstance(s, Fork):
            yield NewProcess(name=s.child, line=s.line, col=s.col)
        elif isinstance(s, (Map, Shmem)):
            for n in _smaller_ints(s.npages):
                yield r(s, npages=n)
        elif isinstance(s, PageOp):
            if s.pattern is not None:
                yield r(s, pattern=None)
                if s.pattern:
                    yield r(s, pattern=0)
            for rng in _smaller_ranges(s.range):
                yield r(s, range=rng)
        elif isinstance(s, Punch):
            for rng in _smaller_ranges(s.range):
                yield r(s, range=rng)
        elif isinstance(s, Snapshot) and s.count is not None:
            yield r(s, count=None)
            for n in _smaller_ints(s.count, 2):
                yield r(s, count=n)
        elif isinstance(s, KsmScan):
            for n in _smaller_ints(s.scans):
                yield r(s, scans=n)
        elif isinstance(s, KsmRun):
            for v in range(s.value):
                yield r(s, value=v)
        elif isinstance(s, Fault):
            yield r(s, times=1, probability=None)
        elif isinstance(s, Sleep):
            yield r(s, ms=None)


def renumber(ops: list[ProgramOp]) -> list[ProgramOp]:
    """Canonical names: devices d1, d2, ..., files f1, ..., processes p1, ... by first use."""
    names: dict[str, str] = {}
    counters = {"d": 0, "f": 0, "p": 0}

    def canon(name: str | None, prefix: str) -> str | None:
        if name is None:
            return None
        if name not in names:
            counters[prefix] += 1
            names[name] = f"{prefix}{counters[prefix]}"
        return names[name]

    out = []
    for op in ops:
        s = op.stmt
        changes: dict[str, object] = {}
        if isinstance(s, Device):
            changes["name"] = canon(s.name, "d")
        elif isinstance(s, Shmem):
            changes["name"] = canon(s.name, "f")
        elif isinstance(s, NewProcess):
            changes["name"] = canon(s.name, "p")
        for attr, prefix in (("proc", "p"), ("child", "p"), ("device", "d"), ("file", "f")):
            value = getattr(s, attr, None)
            if isinstance(value, str):          # (Device.file is a flag)
                changes[attr] = canon(value, prefix)
        out.append(ProgramOp(dataclasses.replace(s, **changes)))  # type: ignore[arg-type]
    return out


def shows(result: dict[str, object], key: FindingKey, strict: bool = False) -> bool:
    """Whether a run's result has a finding of ``key`` (kind, function).

    ``strict``: raised by one of the program's statements, not by the run's
    teardown (so that an ``expect finding`` line at the end sees it).
    """
    kind, function = key
    steps = result["steps"]
    return any(f["kind"] == kind and (f["function"] or "") == function
               and (not strict or f["step"] <= steps)  # type: ignore[operator]
               for f in result["findings"])  # type: ignore[attr-defined]


def with_teardown(program: Program) -> Program:
    """The program with the run's teardown written out: the snapshot closed, every process exited.

    A finding that the teardown raises (a leak that shows when /dev/snapshot
    is closed) is then raised by a statement, before an ``expect`` line.
    """
    alive: list[str] = []
    holder: str | None = None
    for s in program.statements:
        if isinstance(s, NewProcess):
            alive.append(s.name)
        elif isinstance(s, Fork):
            alive.append(s.child)
        elif isinstance(s, Exit):
            alive.remove(s.proc)
        elif isinstance(s, Snapshot) and s.action in ("open", "close"):
            holder = s.proc if s.action == "open" else None
    tail: list[Stmt] = []
    if holder is not None and holder in alive:
        tail.append(Snapshot(proc=holder, action="close"))
    tail += [Exit(proc=p) for p in alive]
    return Program(program.statements + tuple(tail), program.filename)


def _test(key: FindingKey, strict: bool) -> Callable[[list[ProgramOp]], bool]:
    from swaplab.program import check_supported, parse_program, run_program

    def test(ops: list[ProgramOp]) -> bool:
        text = format_program(Program(tuple(op.stmt for op in ops)))
        try:
            program = parse_program(text)      # a candidate must stay valid
            check_supported(program)
            return shows(run_program(program), key, strict)
        except InvalidScenario:
            return False
    return test


def shrink_active(program: Program, key: FindingKey, budget: int = 2000) -> Program:
    """:func:`shrink` with the variant already active."""
    ops = [ProgramOp(s) for s in program.statements if not type(s).__name__.startswith("Expect")]
    # Prefer a reproducer whose statements raise the finding (an expect line then sees
    # it): with the teardown written out.  Else the run's own teardown raises it.
    explicit = [ProgramOp(s) for s in with_teardown(Program(tuple(op.stmt for op in ops)))
                .statements]
    # (The teardown cannot be written out when the process holding /dev/snapshot
    # exited: shrink without it first, then write out the teardown of the result.)
    strict = _test(key, True)
    if not strict(explicit):
        ops = Shrinker(ops, _test(key, False), normalize=renumber, budget=budget).shrink()
        explicit = [ProgramOp(s) for s in with_teardown(Program(tuple(op.stmt for op in ops)))
                    .statements]
        if not strict(explicit):
            return Program(tuple(op.stmt for op in ops), program.filename)
    best = Shrinker(explicit, strict, normalize=renumber, budget=budget).shrink()
    return Program(tuple(op.stmt for op in best), program.filename)


def shrink(program: Program, finding_key: FindingKey, variant: str, budget: int = 2000) -> Program:
    """Reduce ``program`` until nothing can be removed or simplified without losing the finding.

    ``finding_key`` is (kind, function) of the finding; the result still
    shows it on ``variant`` and is 1-minimal under the passes of
    :class:`Shrinker` (or the simplest found when ``budget`` test runs are spent).
    """
    from swaplab.program.interp import using_variant
    with using_variant(variant):
        return shrink_active(program, finding_key, budget)


def reproducer(program: Program, key: FindingKey, variant: str | None = None) -> str:
    """The program's text with its finding as an ``expect`` line (what ``swaplab run`` checks)."""
    kind, function = key
    head = f"# swaplab fuzz: {kind}" + (f" in {function}" if function else "") \
        + (f"; run with --variant {variant}\n" if variant else "\n")
    expect = ExpectFinding(kind=kind, function=function or None)
    return head + format_program(program) + expect.text() + "\n"


# Keep the import of the unused statement kinds explicit for readers of `names()`.
_MENTIONS = (Munmap, ShmMap, SignalFault)
