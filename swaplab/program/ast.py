"""
Programs: the typed AST
-----------------------

A program is a list of statements, one a line (``docs/programs.md`` has the
grammar).  Every statement is a frozen dataclass; ``line`` and ``col``
(1-based, pointing at the statement's first token) are carried for error
messages and findings but take no part in equality, so that
``parse_program(format_program(p)) == p`` holds although the canonical text
has other line numbers than the file ``p`` came from.

Each statement prints its own canonical line (:meth:`Stmt.text`);
:func:`format_program` joins them.  Numbers print in decimal, a device size
in the largest unit that divides it (``64M``, ``1G``, ``300`` pages), a
range as ``lo..hi`` (``N`` for one page).
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field

from swaplab.kconfig import PAGE_SIZE

__all__ = (
    "ADVICE_OPS",
    "DEVICE_KINDS",
    "DISCARD_MODES",
    "PAGE_OPS",
    "RC_STATEMENTS",
    "SNAPSHOT_ACTIONS",
    "THP_MODES",
    "Device",
    "Exit",
    "ExpectFinding",
    "ExpectNoFindings",
    "ExpectPages",
    "ExpectRc",
    "ExpectSlot",
    "ExpectUsed",
    "ExpectVmstat",
    "Fault",
    "Fork",
    "KsmRun",
    "KsmScan",
    "Map",
    "Munmap",
    "NewProcess",
    "PageOp",
    "Program",
    "Punch",
    "Range",
    "ShmMap",
    "Shmem",
    "SignalFault",
    "Sleep",
    "SlotRef",
    "Snapshot",
    "Stmt",
    "Swapoff",
    "Swapon",
    "Thp",
    "format_errno",
    "format_program",
    "format_size",
)

DEVICE_KINDS: tuple[str, ...] = ("rotational", "ssd", "sync")
DISCARD_MODES: tuple[str, ...] = ("all", "once", "pages")
# madvise(2) advice a process can give a range (anon region or shmem mapping).
ADVICE_OPS: tuple[str, ...] = ("pageout", "cold", "dontneed", "free", "willneed",
                               "merge", "unmerge")
# Memory accesses.
ACCESS_OPS: tuple[str, ...] = ("write", "zero", "read", "touch")
PAGE_OPS: tuple[str, ...] = ACCESS_OPS + ADVICE_OPS
SNAPSHOT_ACTIONS: tuple[str, ...] = ("open", "avail", "alloc", "free", "close")
THP_MODES: tuple[str, ...] = ("always", "never")


# ---- values -------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """Pages ``lo..hi``: lo, lo+1, ..., hi-1 (half-open, ``lo < hi``)."""

    lo: int
    hi: int

    def __str__(self) -> str:
        return str(self.lo) if self.hi == self.lo + 1 else f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class SlotRef:
    """A swap slot ``DEV:OFFSET``: ``dev`` is a device name or a swap type number."""

    dev: str | int
    offset: int

    def __str__(self) -> str:
        return f"{self.dev}:{self.offset}"


def format_size(pages: int) -> str:
    """A device size in pages as the grammar writes it: ``64M``, ``1G``, ``12K``... or pages."""
    nbytes = pages * PAGE_SIZE
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift}{unit}"
    return str(pages)       # unreachable with 4 KiB pages, kept for other PAGE_SIZEs


def format_errno(err: int) -> str:
    """``0`` or the errno's name (``EINTR``) of a positive errno."""
    return "0" if err == 0 else _errno.errorcode.get(err, str(err))


# ---- statements ---------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Stmt:
    """One statement (one line, one step); ``line``/``col`` are not compared."""

    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    def text(self) -> str:          # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Device(Stmt):
    """``device NAME SIZE KIND [file] [discard]``: mkswap on a new device or file."""

    name: str
    pages: int
    kind: str
    file: bool = False
    discard: bool = False

    @property
    def path(self) -> str:
        """``/dev/NAME`` for a block device, ``/NAME`` for a swap file."""
        return f"/{self.name}" if self.file else f"/dev/{self.name}"

    def text(self) -> str:
        flags = (" file" if self.file else "") + (" discard" if self.discard else "")
        return f"device {self.name} {format_size(self.pages)} {self.kind}{flags}"


def _by(proc: str | None) -> str:
    return f"{proc} " if proc else ""


@dataclass(frozen=True, kw_only=True)
class Swapon(Stmt):
    """``[P] swapon NAME [prio=N] [discard[=once|pages]]``; ``discard`` "all" = plain ``discard``."""

    device: str
    prio: int | None = None
    discard: str | None = None
    proc: str | None = None

    def text(self) -> str:
        out = f"{_by(self.proc)}swapon {self.device}"
        if self.prio is not None:
            out += f" prio={self.prio}"
        if self.discard == "all":
            out += " discard"
        elif self.discard is not None:
            out += f" discard={self.discard}"
        return out


@dataclass(frozen=True, kw_only=True)
class Swapoff(Stmt):
    """``[P] swapoff NAME``."""

    device: str
    proc: str | None = None

    def text(self) -> str:
        return f"{_by(self.proc)}swapoff {self.device}"


@dataclass(frozen=True, kw_only=True)
class NewProcess(Stmt):
    """``process P``: a new process with an empty address space."""

    name: str

    def text(self) -> str:
        return f"process {self.name}"


@dataclass(frozen=True, kw_only=True)
class Fork(Stmt):
    """``P fork Q``."""

    proc: str
    child: str

    def text(self) -> str:
        return f"{self.proc} fork {self.child}"


@dataclass(frozen=True, kw_only=True)
class Exit(Stmt):
    """``P exit``."""

    proc: str

    def text(self) -> str:
        return f"{self.proc} exit"


@dataclass(frozen=True, kw_only=True)
class Map(Stmt):
    """``P map N``: an anonymous private region of N pages (replacing an earlier one)."""

    proc: str
    npages: int

    def text(self) -> str:
        return f"{self.proc} map {self.npages}"


@dataclass(frozen=True, kw_only=True)
class ShmMap(Stmt):
    """``P map F``: map the whole shmem file F shared."""

    proc: str
    file: str

    def text(self) -> str:
        return f"{self.proc} map {self.file}"


@dataclass(frozen=True, kw_only=True)
class Munmap(Stmt):
    """``P munmap [F]``: unmap the anon region, or the mapping of shmem file F."""

    proc: str
    file: str | None = None

    def text(self) -> str:
        return f"{self.proc} munmap" + (f" {self.file}" if self.file else "")


@dataclass(frozen=True, kw_only=True)
class PageOp(Stmt):
    """``P OP [F] [RANGE] [pattern=N]``: an access or madvise on pages.

    ``file`` None is the anon region; ``range`` None the whole region;
    ``pattern`` (``write`` only) writes one fixed pattern so pages are
    identical (for KSM).
    """

    proc: str
    op: str
    file: str | None = None
    range: Range | None = None
    pattern: int | None = None

    def text(self) -> str:
        out = f"{self.proc} {self.op}"
        if self.file:
            out += f" {self.file}"
        if self.range is not None:
            out += f" {self.range}"
        if self.pattern is not None:
            out += f" pattern={self.pattern}"
        return out


@dataclass(frozen=True, kw_only=True)
class Shmem(Stmt):
    """``shmem F N``: a shmem file (memfd) of N pages."""

    name: str
    npages: int

    def text(self) -> str:
        return f"shmem {self.name} {self.npages}"


@dataclass(frozen=True, kw_only=True)
class Punch(Stmt):
    """``punch F [RANGE]``: fallocate(PUNCH_HOLE) on the shmem file."""

    file: str
    range: Range | None = None

    def text(self) -> str:
        return f"punch {self.file}" + (f" {self.range}" if self.range is not None else "")


@dataclass(frozen=True, kw_only=True)
class KsmRun(Stmt):
    """``ksm run=N``: write N to /sys/kernel/mm/ksm/run (0 stop, 1 run, 2 unmerge)."""

    value: int

    def text(self) -> str:
        return f"ksm run={self.value}"


@dataclass(frozen=True, kw_only=True)
class KsmScan(Stmt):
    """``ksm scan N``: ksmd does N full scans."""

    scans: int

    def text(self) -> str:
        return f"ksm scan {self.scans}"


@dataclass(frozen=True, kw_only=True)
class Snapshot(Stmt):
    """``P snapshot open NAME | avail | alloc [N] | free | close``: /dev/snapshot."""

    proc: str
    action: str
    device: str | None = None       # open
    count: int | None = None        # alloc

    def text(self) -> str:
        out = f"{self.proc} snapshot {self.action}"
        if self.device is not None:
            out += f" {self.device}"
        if self.count is not None:
            out += f" {self.count}"
        return out


@dataclass(frozen=True, kw_only=True)
class Fault(Stmt):
    """``fault NAME [times=N | always | probability=P]`` (default: once)."""

    name: str
    times: int = 1                   # -1: always
    probability: float | None = None

    def text(self) -> str:
        out = f"fault {self.name}"
        if self.probability is not None:
            return out + f" probability={self.probability!r}"
        if self.times == -1:
            return out + " always"
        return out if self.times == 1 else out + f" times={self.times}"


@dataclass(frozen=True, kw_only=True)
class SignalFault(Stmt):
    """``fault signal P``: a fatal signal is pending in P (its next swapoff is interrupted)."""

    proc: str

    def text(self) -> str:
        return f"fault signal {self.proc}"


@dataclass(frozen=True, kw_only=True)
class Thp(Stmt):
    """``thp SIZE=always|never``: /sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled."""

    size_kb: int
    enabled: str

    def text(self) -> str:
        return f"thp {format_size(self.size_kb * 1024 // PAGE_SIZE)}={self.enabled}"


@dataclass(frozen=True, kw_only=True)
class Sleep(Stmt):
    """``sleep [MS]``: in-flight I/O completes, deferred work runs."""

    ms: int | None = None

    def text(self) -> str:
        return "sleep" if self.ms is None else f"sleep {self.ms}"


# ---- expectations -------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ExpectFinding(Stmt):
    """``expect finding KIND [in FUNCTION] [at DEV:OFFSET]``: reported so far."""

    kind: str
    function: str | None = None
    slot: SlotRef | None = None

    def text(self) -> str:
        out = f"expect finding {self.kind}"
        if self.function:
            out += f" in {self.function}"
        if self.slot is not None:
            out += f" at {self.slot}"
        return out


@dataclass(frozen=True, kw_only=True)
class ExpectNoFindings(Stmt):
    """``expect no findings``: none reported so far."""

    def text(self) -> str:
        return "expect no findings"


@dataclass(frozen=True, kw_only=True)
class ExpectSlot(Stmt):
    """``expect slot DEV:OFFSET count=N [cached]``: count N; cache bit set iff ``cached``."""

    slot: SlotRef
    count: int
    cached: bool = False

    def text(self) -> str:
        return f"expect slot {self.slot} count={self.count}" + (" cached" if self.cached else "")


@dataclass(frozen=True, kw_only=True)
class ExpectUsed(Stmt):
    """``expect used NAME=KB``: the device's Used in /proc/swaps."""

    device: str
    kb: int

    def text(self) -> str:
        return f"expect used {self.device}={self.kb}"


@dataclass(frozen=True, kw_only=True)
class ExpectRc(Stmt):
    """``expect rc 0|ERRNO``: the previous operation returned 0 or ``-ERRNO``."""

    err: int

    def text(self) -> str:
        return f"expect rc {format_errno(self.err)}"


@dataclass(frozen=True, kw_only=True)
class ExpectVmstat(Stmt):
    """``expect vmstat KEY=N``: a /proc/vmstat counter (``KEY.ORDER`` for mTHP stats)."""

    key: str
    value: int

    def text(self) -> str:
        return f"expect vmstat {self.key}={self.value}"


@dataclass(frozen=True, kw_only=True)
class ExpectPages(Stmt):
    """``expect pages P MAP``: the anon region's page states, run-length encoded (``S4P4``)."""

    proc: str
    map: str

    def text(self) -> str:
        return f"expect pages {self.proc} {self.map}"


RC_STATEMENTS: tuple[type[Stmt], ...] = (Swapon, Swapoff, Fork, Snapshot, Punch)
"""Statements that return a code for ``expect rc`` (and PageOp with madvise advice)."""

Expectation = ExpectFinding | ExpectNoFindings | ExpectSlot | ExpectUsed | ExpectRc \
    | ExpectVmstat | ExpectPages


@dataclass(frozen=True)
class Program:
    """A parsed program: its statements in order; ``filename`` is not compared."""

    statements: tuple[Stmt, ...]
    filename: str = field(default="<program>", compare=False)

    def __len__(self) -> int:
        return len(self.statements)


def format_program(program: Program) -> str:
    """The program's canonical text, one statement a line.

    >>> format_program(Program((NewProcess(name="p"), Map(proc="p", npages=4))))
    'process p\\np map 4\\n'
    """
    return "".join(stmt.text() + "\n" for stmt in program.statements)

