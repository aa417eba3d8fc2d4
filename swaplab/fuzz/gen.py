"""Random programs for the fuzzer: a rule machine over one stream of choices.

Design notes (after Hypothesis's ``stateful.py``):

* The generator is a rule machine.  Each statement kind is a *rule*, a
  method ``rule_<name>`` with an enabling predicate ``can_<name>``: a rule
  whose predicate is false is not selectable (never an early return inside
  it), so every statement the machine emits refers to objects that exist
  and parses -- the machine follows the program's state exactly as the
  parser (``swaplab/program/parser.py``) and ``check_supported``
  (``swaplab/program/interp.py``) follow it: devices declared, processes
  alive, region sizes, shmem files and who maps them, who has
  ``/dev/snapshot`` open, ksmd's run mode.
* Every decision (which rule, each argument) is drawn from one
  :class:`Choices` source.  :class:`RandomChoices` wraps one
  ``random.Random(seed)``: the same seed gives the same program.  The same
  machine runs on Hypothesis's choice sequence through
  :class:`HypothesisChoices` (``st.data()``), which is how
  ``docs/fuzzing.md`` compares the two engines.
* :class:`Weights` holds one integer weight per rule (0 disables it) and a
  few argument biases.  State-dependent boosts (``ksm scan`` once ksmd runs,
  ``swapoff`` once something is swapped out, ...) raise the odds of the
  multi-step stories the seed bugs need without fixing their order.

XX: swarm testing (disabling a random subset of rules per program) would
diversify long campaigns further; the defaults find the seed bugs fast
enough without it.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from swaplab.kernel.custom import FAULTS
from swaplab.program.ast import (
    DEVICE_KINDS,
    Device,
    Exit,
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
)

__all__ = (
    "STATEMENT_KINDS",
    "Choices",
    "HypothesisChoices",
    "RandomChoices",
    "Weights",
    "generate_program",
    "generate_with",
    "statement_kind",
)

MB_PAGES = 256                       # pages of 4 KiB in one MiB
MAX_DEVICES = 3
MAX_PROCESSES = 6
MAX_FILES = 2
FAULT_NAMES: tuple[str, ...] = tuple(FAULTS)


# ---- the choice source ----------------------------------------------------------------

class Choices(Protocol):
    """Where every decision of the generator comes from."""

    def below(self, n: int) -> int:
        """A number in ``0 .. n-1`` (``n >= 1``)."""
        ...


class RandomChoices:
    """Choices from one ``random.Random(seed)``."""

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random

    def below(self, n: int) -> int:
        return int(self._random() * n)


class HypothesisChoices:
    """Choices drawn from Hypothesis's choice sequence (``st.data()``)."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st
        self._data = data
        self._st = st

    def below(self, n: int) -> int:
        if n <= 1:
            return 0
        return int(self._data.draw(self._st.integers(0, n - 1)))


# ---- weights --------------------------------------------------------------------------

@dataclass
class Weights:
    """One integer weight per rule (0 disables it), and argument biases.

    The defaults are tuned so that the three seed bugs (spec §6) are found in
    seconds on variant ``v5`` (``docs/fuzzing.md`` has the numbers).
    """

    device: int = 2
    swapon: int = 8
    swapoff: int = 5
    process: int = 2
    fork: int = 4
    exit: int = 2
    map: int = 6
    munmap: int = 1
    write: int = 8
    zero: int = 2
    read: int = 5
    touch: int = 2
    pageout: int = 9
    cold: int = 2
    dontneed: int = 3
    free: int = 2
    willneed: int = 2
    merge: int = 6
    unmerge: int = 1
    shmem: int = 1
    shm_map: int = 3
    shm_munmap: int = 1
    shm_op: int = 5
    punch: int = 2
    ksm_run: int = 3
    ksm_scan: int = 4
    snapshot_open: int = 2
    snapshot_avail: int = 1
    snapshot_alloc: int = 4
    snapshot_free: int = 2
    snapshot_close: int = 2
    fault: int = 1
    signal: int = 1
    sleep: int = 1
    # Biases, in percent.
    pattern_pct: int = 50          # a write writes one fixed pattern (KSM merges such pages)
    whole_region_pct: int = 40     # a page operation covers the whole region
    single_page_pct: int = 85      # once ksmd merged: a ranged operation covers one page
    boost: int = 8                 # multiplier of a rule the state makes interesting

    @classmethod
    def rule_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if not f.name.endswith("_pct")
                     and f.name != "boost")


# ---- the program's state, as the parser and check_supported see it -------------------------

@dataclass
class _Dev:
    name: str
    kind: str
    pages: int
    on: bool = False               # a swapon was issued and no swapoff since (a guess: may fail)


@dataclass
class _Proc:
    name: str
    alive: bool = True
    anon: int | None = None        # pages of the anon region
    shm: str | None = None         # the shmem file it maps
    mergeable: set[int] = field(default_factory=set)   # pages of its region under MADV_MERGEABLE
    patterns: dict[int, int] = field(default_factory=dict)  # page -> the fixed pattern it holds

    def ksm_pairs(self) -> bool:
        """Two mergeable pages hold the same pattern: ksmd would merge them."""
        seen: set[int] = set()
        for page in self.mergeable:
            pattern = self.patterns.get(page)
            if pattern is not None:
                if pattern in seen:
                    return True
                seen.add(pattern)
        return False

    @property
    def merged(self) -> bool:
        """Its mm is on ksmd's list with a mergeable region left."""
        return bool(self.mergeable)
    snapshot: bool = False         # has /dev/snapshot open
    signalled: bool = False        # a fatal signal is pending: its next fault kills it


@dataclass
class _State:
    devices: list[_Dev] = field(default_factory=list)
    procs: list[_Proc] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)    # shmem file -> pages
    made: set[str] = field(default_factory=set)            # files mapped once (a memfd made)
    ksm_run: int = 0
    snapshot_busy: bool = False    # /dev/snapshot is open in the World (maybe by an exited process)
    snapshot_dev: str | None = None    # the device it selected
    swapped: bool = False          # a pageout was issued since the last swapoff
    scanned: bool = False          # ksmd scanned while a process had pages to merge
    # After that scan: the pages of each process that ksmd merged into one KSM page
    # (same pattern), as far as no later operation dropped or rewrote them.
    ksm_groups: list[tuple[_Proc, set[int]]] = field(default_factory=list)
    ksm_swapped: bool = False      # a pageout after that scan
    oom_possible: bool = False     # a page_alloc fault was armed: a fault may OOM-kill a process
    names: int = 0

    def live(self) -> list[_Proc]:
        """Processes that can do anything (alive, no fatal signal pending)."""
        return [p for p in self.procs if p.alive and not p.signalled]

    def alive(self) -> list[_Proc]:
        return [p for p in self.procs if p.alive]


# ---- the machine ------------------------------------------------------------------------------

ACCESS = ("write", "zero", "read", "touch")
ADVICE = ("pageout", "cold", "dontneed", "free", "willneed", "merge", "unmerge")
ANON_OPS = ACCESS + ADVICE
SHM_OPS = ("write", "zero", "read", "touch", "pageout", "cold", "dontneed", "willneed")


class _Machine:
    """Draws one program: rules, their enabling predicates, the state they follow."""

    def __init__(self, choices: Choices, weights: Weights) -> None:
        self.c = choices
        self.w = weights
        self.s = _State()
        self.out: list[Stmt] = []
        self._ready = False
        self._live: list[_Proc] = []
        self._anon: list[_Proc] = []
        self.groups = _rule_groups(weights)

    # -- drawing
    def below(self, n: int) -> int:
        return self.c.below(n)

    def pick(self, seq: Any) -> Any:
        return seq[self.c.below(len(seq))]

    def pct(self, p: int) -> bool:
        return self.c.below(100) < p

    def small(self, hi: int) -> int:
        """1..hi, small numbers likelier (the smaller of two draws)."""
        return 1 + min(self.below(hi), self.below(hi))

    def range_of(self, npages: int, single_pct: int = 0) -> Range | None:
        if self.pct(self.w.whole_region_pct):
            return None
        lo = self.below(npages)
        if self.pct(single_pct):
            return Range(lo, lo + 1)
        return Range(lo, lo + 1 + self.below(npages - lo))

    def step(self) -> Stmt | None:
        # What the predicates ask about, once a step (the state changes only in a rule).
        self._live = self.s.live()
        self._anon = [p for p in self._live if p.anon is not None]
        self._ready = any(p.ksm_pairs() for p in self._live)
        # Rules sharing a predicate (the eleven anon page operations...) ask it once;
        # one draw picks the rule: first its group, then the rule inside the group.
        enabled: list[tuple[list[int], list[Callable[[_Machine], Stmt]]]] = []
        cum: list[int] = []
        total = 0
        for can, weights, group_total, rules, boosted in self.groups:
            if can(self):
                if boosted:
                    weights = weights.copy()
                    for i, boost in boosted:
                        weights[i] *= boost(self)
                    group_total = sum(weights)
                enabled.append((weights, rules))
                total += group_total
                cum.append(total)
        if not enabled:
            return None
        r = self.below(total)
        g = bisect_right(cum, r)
        r -= cum[g - 1] if g else 0
        weights, rules = enabled[g]
        for i, w in enumerate(weights):
            if r < w:
                break
            r -= w
        stmt: Stmt = rules[i](self)
        self.out.append(stmt)
        return stmt

    def boost(self, name: str) -> int:
        """How much the state makes a rule interesting (1: not especially).

        The boosts follow the stories the mm code has: a device, swapped
        on, a process with memory; identical pages made mergeable, ksmd
        started and scanning, a mapping dropped, pages swapped out, KSM
        unmerging, swapoff.  Each boost only raises odds: any order stays
        possible.  A rule's boost is its method ``boost_<name>`` (none: 1).
        """
        fn = getattr(self, f"boost_{name}", None)
        return 1 if fn is None else int(fn())

    def boost_device(self) -> int:
        return 2 * self.w.boost if not self.s.devices else 1

    def boost_process(self) -> int:
        return 2 * self.w.boost if not self._live else 1

    def boost_swapon(self) -> int:
        for d in self.s.devices:
            if d.on:
                return 1
        return self.w.boost

    def boost_map(self) -> int:
        for p in self._live:
            if p.anon is None:
                return self.w.boost
        return 1

    def boost_merge(self) -> int:
        for p in self._live:
            if len(p.patterns) > 1 and not p.ksm_pairs():
                return self.w.boost
        return 1

    def boost_ksm_run(self) -> int:
        s = self.s
        if s.ksm_swapped and s.ksm_run != 2:
            return 2 * self.w.boost
        return 2 * self.w.boost if self._ready and s.ksm_run != 1 else 1

    def boost_ksm_scan(self) -> int:
        return 2 * self.w.boost if self._ready and not self.s.scanned else 1

    def boost_dontneed(self) -> int:
        for _, g in self.s.ksm_groups:
            if len(g) > 1:
                return 2 * self.w.boost
        return 1

    def boost_pageout(self) -> int:
        for _, g in self.s.ksm_groups:
            if len(g) == 1:
                return 2 * self.w.boost
        return 1

    def boost_swapoff(self) -> int:
        s = self.s
        b = self.w.boost
        return 4 * b if s.ksm_swapped and s.ksm_run == 2 else b if s.swapped else 1

    def new_name(self, prefix: str) -> str:
        self.s.names += 1
        return f"{prefix}{self.s.names}"

    # -- objects
    def live_proc(self) -> _Proc:
        return self.pick(self._live)

    def anon_procs(self) -> list[_Proc]:
        return self._anon

    def mappers(self, file: str) -> list[_Proc]:
        return [p for p in self.s.alive() if p.shm == file]

    # ---- devices and swap
    def can_device(self) -> bool:
        return len(self.s.devices) < MAX_DEVICES

    def rule_device(self) -> Stmt:
        dev = _Dev(self.new_name("d"), self.pick(DEVICE_KINDS), MB_PAGES * (1 + self.below(4)))
        self.s.devices.append(dev)
        return Device(name=dev.name, pages=dev.pages, kind=dev.kind,
                      file=self.pct(10), discard=self.pct(10))

    def can_swapon(self) -> bool:
        return bool(self.s.devices)

    def rule_swapon(self) -> Stmt:
        dev = self.pick(self.s.devices)
        dev.on = True
        prio = self.below(8) if self.pct(40) else None
        proc = self.live_proc().name if self._live and self.pct(15) else None
        return Swapon(device=dev.name, prio=prio, proc=proc)

    def offable(self) -> list[_Dev]:
        # Not the device an open /dev/snapshot selected: its hibernation slots keep
        # try_to_unuse() busy forever (the kernel hangs until a signal; Linux later
        # pins the device with SWP_HIBERNATION, docs/variants.md linux-7.2 row 11).
        busy = self.s.snapshot_dev if self.s.snapshot_busy else None
        return [d for d in self.s.devices if d.name != busy]

    def can_swapoff(self) -> bool:
        return bool(self.offable())

    def rule_swapoff(self) -> Stmt:
        devs = self.offable()
        on = [d for d in devs if d.on]
        dev = self.pick(on) if on and self.pct(85) else self.pick(devs)
        dev.on = False
        if not any(d.on for d in self.s.devices):
            self.s.swapped = False
        procs = self.s.alive()
        signalled = [p for p in procs if p.signalled]
        proc = None
        if signalled and self.pct(50):
            proc = self.pick(signalled).name
        elif procs and self.pct(15):
            proc = self.pick(procs).name
        return Swapoff(device=dev.name, proc=proc)

    # ---- processes
    def can_process(self) -> bool:
        return len(self.s.procs) < MAX_PROCESSES

    def rule_process(self) -> Stmt:
        proc = _Proc(self.new_name("p"))
        self.s.procs.append(proc)
        return NewProcess(name=proc.name)

    def can_fork(self) -> bool:
        return len(self.s.procs) < MAX_PROCESSES and bool(self._live)

    def rule_fork(self) -> Stmt:
        parent = self.live_proc()
        # The child is not counted as "merged" for can_ksm_scan (conservative: the
        # model's fork put the child's mm on ksmd's list only from commit ff2d265).
        child = _Proc(self.new_name("p"), anon=parent.anon, shm=parent.shm)
        self.s.procs.append(child)
        return Fork(proc=parent.name, child=child.name)

    def can_exit(self) -> bool:
        return bool(self.s.alive())

    def rule_exit(self) -> Stmt:
        proc = self.pick(self.s.alive())
        proc.alive = False
        return Exit(proc=proc.name)

    # ---- anonymous memory
    def can_map(self) -> bool:
        return bool(self._live)

    def rule_map(self) -> Stmt:
        proc = self.live_proc()
        proc.anon = self.small(12)
        proc.mergeable = set()         # the mergeable region is gone (see can_ksm_scan)
        proc.patterns = {}
        self.s.ksm_groups = [(p, g) for p, g in self.s.ksm_groups if p is not proc]
        return Map(proc=proc.name, npages=proc.anon)

    def can_munmap(self) -> bool:
        return bool(self.anon_procs())

    def rule_munmap(self) -> Stmt:
        proc = self.pick(self.anon_procs())
        proc.anon = None
        proc.mergeable = set()
        proc.patterns = {}
        self.s.ksm_groups = [(p, g) for p, g in self.s.ksm_groups if p is not proc]
        return Munmap(proc=proc.name)

    def anon_op(self, op: str) -> Stmt:
        procs = self.anon_procs()
        # Once ksmd merged: drop mappings of a KSM page one by one, page out a KSM
        # page mapped once (MADV_PAGEOUT leaves pages mapped more than once alone).
        groups = [(p, g) for p, g in self.s.ksm_groups if p in procs and
                  (len(g) > 1 if op == "dontneed" else len(g) == 1 if op == "pageout" else 0)]
        if groups and self.pct(self.w.single_page_pct):
            proc, group = self.pick(groups)
            pages_ = sorted(group)
            lo, hi = pages_[0], pages_[-1] + 1
            if op == "dontneed" and hi - lo == len(pages_) and self.pct(50):
                # all but the first or the last page of a contiguous group
                rng: Range | None = Range(lo + 1, hi) if self.pct(50) else Range(lo, hi - 1)
            else:
                page = self.pick(pages_)
                rng = Range(page, page + 1)
        else:
            proc = self.pick(procs)
            assert proc.anon is not None
            rng = self.range_of(proc.anon)
        assert proc.anon is not None
        pattern = None
        if op == "write" and self.pct(self.w.pattern_pct):
            pattern = self.below(2)
        pages = range(rng.lo, rng.hi) if rng is not None else range(proc.anon)
        if op in ("write", "zero", "dontneed", "free"):
            for page in pages:
                if pattern is None:
                    proc.patterns.pop(page, None)
                else:
                    proc.patterns[page] = pattern
            for owner, group in self.s.ksm_groups:
                if owner is proc:
                    group.difference_update(pages)
        if op == "merge":
            proc.mergeable.update(pages)
        elif op == "unmerge":
            proc.mergeable.difference_update(pages)
        if op in ("pageout", "cold"):
            self.s.swapped = True
            self.s.ksm_swapped |= any(owner is proc and len(g) == 1 and g <= set(pages)
                                      for owner, g in self.s.ksm_groups)
        return PageOp(proc=proc.name, op=op, range=rng, pattern=pattern)

    def can_write(self) -> bool:
        return bool(self.anon_procs())

    can_zero = can_read = can_touch = can_pageout = can_cold = can_write
    can_dontneed = can_free = can_willneed = can_merge = can_unmerge = can_write

    def rule_write(self) -> Stmt:
        return self.anon_op("write")

    def rule_zero(self) -> Stmt:
        return self.anon_op("zero")

    def rule_read(self) -> Stmt:
        return self.anon_op("read")

    def rule_touch(self) -> Stmt:
        return self.anon_op("touch")

    def rule_pageout(self) -> Stmt:
        return self.anon_op("pageout")

    def rule_cold(self) -> Stmt:
        return self.anon_op("cold")

    def rule_dontneed(self) -> Stmt:
        return self.anon_op("dontneed")

    def rule_free(self) -> Stmt:
        return self.anon_op("free")

    def rule_willneed(self) -> Stmt:
        return self.anon_op("willneed")

    def rule_merge(self) -> Stmt:
        return self.anon_op("merge")

    def rule_unmerge(self) -> Stmt:
        return self.anon_op("unmerge")

    # ---- shmem (the World's memfd: made by its first mapping, shared through fork)
    def can_shmem(self) -> bool:
        return len(self.s.files) < MAX_FILES

    def rule_shmem(self) -> Stmt:
        name = self.new_name("f")
        self.s.files[name] = self.small(8)
        return Shmem(name=name, npages=self.s.files[name])

    def unmade(self) -> list[str]:
        return [f for f in self.s.files if f not in self.s.made]

    def can_shm_map(self) -> bool:
        return bool(self.unmade()) and any(p.shm is None for p in self._live)

    def rule_shm_map(self) -> Stmt:
        proc = self.pick([p for p in self._live if p.shm is None])
        file = self.pick(self.unmade())
        self.s.made.add(file)
        proc.shm = file
        return ShmMap(proc=proc.name, file=file)

    def shm_procs(self) -> list[_Proc]:
        return [p for p in self._live if p.shm is not None]

    def can_shm_munmap(self) -> bool:
        return bool(self.shm_procs())

    def rule_shm_munmap(self) -> Stmt:
        proc = self.pick(self.shm_procs())
        file, proc.shm = proc.shm, None
        return Munmap(proc=proc.name, file=file)

    def can_shm_op(self) -> bool:
        return bool(self.shm_procs())

    def rule_shm_op(self) -> Stmt:
        proc = self.pick(self.shm_procs())
        assert proc.shm is not None
        op = self.pick(SHM_OPS)
        if op == "pageout":
            self.s.swapped = True
        return PageOp(proc=proc.name, op=op, file=proc.shm,
                      range=self.range_of(self.s.files[proc.shm]))

    def punchable(self) -> list[str]:
        return [f for f in self.s.files if self.mappers(f)]

    def can_punch(self) -> bool:
        return bool(self.punchable())

    def rule_punch(self) -> Stmt:
        file = self.pick(self.punchable())
        return Punch(file=file, range=self.range_of(self.s.files[file]))

    # ---- KSM
    def can_ksm_run(self) -> bool:
        return True

    def rule_ksm_run(self) -> Stmt:
        # From 0, mostly start ksmd; once it ran, mostly unmerge (run=2) or stop.
        if self.s.ksm_swapped and self.s.ksm_run != 2 and self.pct(80):
            value = 2                  # unmerge while a KSM page is swapped out
        elif self.s.ksm_run != 1:
            value = 1 if self.pct(80) else self.pick((0, 2))
        else:
            value = 2 if self.pct(70) else 0
        self.s.ksm_run = value
        return KsmRun(value=value)

    def can_ksm_scan(self) -> bool:
        # ksmd runs only in mode 1 with an mm on its list; else the scan would wait
        # forever.  XX: the model's ksmd makes no full scan when no mm on its list
        # has a mergeable region left (``map`` replaced it), where Linux still
        # counts full scans; ``merged`` is cleared then, so such a scan is not
        # generated.
        # A process that a page_alloc fault OOM-killed leaves ksmd's list too.
        return self.s.ksm_run == 1 and not self.s.oom_possible \
            and any(p.merged for p in self._live)

    def rule_ksm_scan(self) -> Stmt:
        for p in self._live:
            if p.ksm_pairs():
                self.s.scanned = True
                by_pattern: dict[int, set[int]] = {}
                for page in p.mergeable:
                    if page in p.patterns:
                        by_pattern.setdefault(p.patterns[page], set()).add(page)
                self.s.ksm_groups += [(p, g) for g in by_pattern.values() if len(g) > 1]
        return KsmScan(scans=self.small(3))

    # ---- hibernation: /dev/snapshot (one open at a time in the World)
    def snap_procs(self) -> list[_Proc]:
        return [p for p in self._live if p.snapshot]

    def can_snapshot_open(self) -> bool:
        return not self.s.snapshot_busy and bool(self.s.devices) and bool(self._live)

    def rule_snapshot_open(self) -> Stmt:
        proc = self.live_proc()
        on = [d for d in self.s.devices if d.on]
        dev = self.pick(on) if on and self.pct(90) else self.pick(self.s.devices)
        proc.snapshot = True
        self.s.snapshot_busy = True
        self.s.snapshot_dev = dev.name
        return Snapshot(proc=proc.name, action="open", device=dev.name)

    def can_snapshot_avail(self) -> bool:
        return bool(self.snap_procs())

    can_snapshot_alloc = can_snapshot_free = can_snapshot_close = can_snapshot_avail

    def rule_snapshot_avail(self) -> Stmt:
        return Snapshot(proc=self.pick(self.snap_procs()).name, action="avail")

    def rule_snapshot_alloc(self) -> Stmt:
        count = self.small(4) if self.pct(70) else None
        return Snapshot(proc=self.pick(self.snap_procs()).name, action="alloc", count=count)

    def rule_snapshot_free(self) -> Stmt:
        return Snapshot(proc=self.pick(self.snap_procs()).name, action="free")

    def rule_snapshot_close(self) -> Stmt:
        proc = self.pick(self.snap_procs())
        proc.snapshot = False
        self.s.snapshot_busy = False
        return Snapshot(proc=proc.name, action="close")

    # ---- faults and time
    def can_fault(self) -> bool:
        return True

    def rule_fault(self) -> Stmt:
        name = self.pick(FAULT_NAMES)
        self.s.oom_possible |= name.startswith("page_alloc")
        how = self.below(10)
        if how < 6:
            return Fault(name=name)
        if how < 8:
            return Fault(name=name, times=2 + self.below(3))
        if how < 9:
            return Fault(name=name, times=-1)
        return Fault(name=name, times=0, probability=self.pick((0.25, 0.5)))

    def can_signal(self) -> bool:
        return bool(self._live)

    def rule_signal(self) -> Stmt:
        # Its next fault kills it: from now on it only swaps off or exits.
        proc = self.live_proc()
        proc.signalled = True
        return SignalFault(proc=proc.name)

    def can_sleep(self) -> bool:
        return True

    def rule_sleep(self) -> Stmt:
        return Sleep(ms=self.pick((None, 10, 1000)))


_RuleGroup = tuple[Callable[[_Machine], bool], list[int], int,
                   list[Callable[[_Machine], Stmt]], list[tuple[int, Callable[[_Machine], int]]]]
_groups_of: dict[tuple[int, ...], list[_RuleGroup]] = {}


def _rule_groups(weights: Weights) -> list[_RuleGroup]:
    """The enabled rules (weight > 0) grouped by predicate, in Weights order.

    A group is (predicate, weights, their sum, rules, the boosted rules as
    (position, boost)); a group sits at the place of its first rule.  The
    functions are the _Machine methods, called with the machine.  Made
    once per distinct weights.
    """
    names = Weights.rule_names()
    key = tuple(getattr(weights, name) for name in names)
    groups = _groups_of.get(key)
    if groups is None:
        by_pred: dict[Any, list[tuple[str, int, Any]]] = {}
        for name, weight in zip(names, key):
            if weight > 0:
                by_pred.setdefault(getattr(_Machine, f"can_{name}"), []).append(
                    (name, weight, getattr(_Machine, f"rule_{name}")))
        groups = _groups_of[key] = [
            (can, [w for _, w, _ in g], sum(w for _, w, _ in g), [r for _, _, r in g],
             [(i, getattr(_Machine, f"boost_{n}")) for i, (n, _, _) in enumerate(g)
              if hasattr(_Machine, f"boost_{n}")])
            for can, g in by_pred.items()]
    return groups


def generate_with(choices: Choices, weights: Weights | None = None, n_ops: int = 30) -> Program:
    """A program of ``n_ops`` statements drawn from ``choices``."""
    machine = _Machine(choices, weights or DEFAULT_WEIGHTS)
    for _ in range(n_ops):
        if machine.step() is None:
            break
    return Program(tuple(machine.out), "<fuzz>")


def generate_program(seed: int, weights: Weights | None = None, n_ops: int = 30) -> Program:
    """The program of ``seed``: every choice from one ``random.Random(seed)``.

    >>> generate_program(1) == generate_program(1)
    True
    """
    return generate_with(RandomChoices(seed), weights, n_ops)


DEFAULT_WEIGHTS = Weights()


# ---- statement kinds, for coverage -----------------------------------------------------

def statement_kind(stmt: Stmt) -> str:
    """A statement's kind for coverage: its keyword (``write``, ``shm write``, ``snapshot alloc``)."""
    if isinstance(stmt, PageOp):
        return ("shm " if stmt.file else "") + stmt.op
    if isinstance(stmt, Snapshot):
        return f"snapshot {stmt.action}"
    if isinstance(stmt, Munmap) and stmt.file:
        return "shm munmap"
    return _KIND_OF[type(stmt)]


_KIND_OF: dict[type, str] = {
    Device: "device", Swapon: "swapon", Swapoff: "swapoff", NewProcess: "process",
    Fork: "fork", Exit: "exit", Map: "map", Munmap: "munmap", Shmem: "shmem",
    ShmMap: "shm map", Punch: "punch", KsmRun: "ksm run", KsmScan: "ksm scan",
    Fault: "fault", SignalFault: "fault signal", Sleep: "sleep",
}

STATEMENT_KINDS: tuple[str, ...] = (
    "device", "swapon", "swapoff", "process", "fork", "exit", "map", "munmap",
    *ANON_OPS, "shmem", "shm map", "shm munmap", *(f"shm {op}" for op in SHM_OPS), "punch",
    "ksm run", "ksm scan", *(f"snapshot {a}" for a in ("open", "avail", "alloc", "free", "close")),
    "fault", "fault signal", "sleep",
)
"""Every statement kind the generator can emit (the coverage denominator)."""
