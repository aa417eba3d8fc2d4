"""
Programs: the parser
--------------------

``parse_program(text, filename)`` reads a program (``docs/programs.md``)
into a :class:`~swaplab.program.ast.Program`.  The tokenizer is written by
hand: ``#`` starts a comment, tokens are runs of characters other than
spaces and tabs, and a token ``KEY=VALUE`` is split by the parser.  Nothing
is ever evaluated.

The parser also follows the program's state as far as the text decides it
(which names are devices, shmem files and processes, which processes are
alive, how many pages each region has, who has /dev/snapshot open), so that
a program that could only fail at run time for a reason visible in its
text -- a process used after its exit, a range past the end of its region,
``expect rc`` after a statement that returns nothing -- is rejected before
anything runs.  Every error is an :class:`~swaplab.errors.InvalidScenario`
naming the file, line and column and what was expected there.
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

from swaplab.check.findings import KINDS
from swaplab.errors import InvalidScenario
from swaplab.include.linux.swap import SWAP_NR_ORDERS
from swaplab.kconfig import PAGE_SIZE
from swaplab.kernel.custom import FAULTS
from swaplab.mm.vmstat import MTHP_STATS, VM_EVENTS, node_stat
from swaplab.program.ast import (
    ACCESS_OPS,
    ADVICE_OPS,
    DEVICE_KINDS,
    PAGE_OPS,
    RC_STATEMENTS,
    SNAPSHOT_ACTIONS,
    THP_MODES,
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
    Range,
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
)

__all__ = ("KEYWORDS", "VMSTAT_KEYS", "load_program", "parse_program")

KEYWORDS: tuple[str, ...] = ("device", "swapon", "swapoff", "process", "shmem", "punch",
                             "ksm", "thp", "fault", "sleep", "expect")
"""Words that start a statement of their own; no name may be one of them."""

PROC_OPS: tuple[str, ...] = ("fork", "exit", "map", "munmap", "snapshot", "swapon",
                             "swapoff", *PAGE_OPS)

VMSTAT_KEYS: tuple[str, ...] = (
    *VM_EVENTS, *node_stat,
    *(f"{item}.{order}" for item in MTHP_STATS for order in range(1, SWAP_NR_ORDERS)),
)
"""Keys of ``expect vmstat``: /proc/vmstat events, node stats, ``MTHP_STAT.ORDER``."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_INT = re.compile(r"[0-9]+")
_SIZE = re.compile(r"([0-9]+)([KMG]?)")
_RANGE = re.compile(r"([0-9]+)(?:\.\.([0-9]+))?")
_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROB = re.compile(r"(0|1)?\.[0-9]+|0|1")


# ---- tokens --------------------------------------------------------------------

@dataclass(frozen=True)
class Tok:
    """A token: its text and 1-based column."""

    text: str
    col: int

    @property
    def end(self) -> int:
        """The column just after the token."""
        return self.col + len(self.text)


_TOKEN = re.compile(r"[^ \t\r\n]+")


def tokenize(raw: str) -> list[Tok]:
    """The tokens of one line: everything from ``#`` on is a comment."""
    text = raw.split("#", 1)[0]
    return [Tok(m.group(), m.start() + 1) for m in _TOKEN.finditer(text)]


# ---- what the text decides ---------------------------------------------------------

@dataclass
class _Proc:
    alive: bool = True
    anon: int | None = None                         # pages of the anon region
    shm: set[str] = field(default_factory=set)      # shmem files mapped
    snapshot: bool = False                          # /dev/snapshot open


class _Line:
    """The tokens of one statement, consumed left to right."""

    def __init__(self, parser: _Parser, number: int, toks: list[Tok]) -> None:
        self.parser = parser
        self.number = number
        self.toks = toks
        self.pos = 0

    # -- errors
    def error_at(self, tok: Tok, msg: str, col_offset: int = 0) -> InvalidScenario:
        return InvalidScenario(msg, self.parser.filename, self.number, tok.col + col_offset)

    def error_after(self, msg: str) -> InvalidScenario:
        """An error at the end of the last token consumed (something is missing)."""
        last = self.toks[self.pos - 1]
        return InvalidScenario(msg, self.parser.filename, self.number, last.end + 1)

    # -- consuming
    @property
    def first(self) -> Tok:
        return self.toks[0]

    def peek(self) -> Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, what: str) -> Tok:
        tok = self.peek()
        if tok is None:
            raise self.error_after(f"expected {what} after '{self.toks[self.pos - 1].text}'")
        self.pos += 1
        return tok

    def done(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise self.error_at(tok, f"unexpected '{tok.text}': expected the end of the line "
                                "after " + " ".join(t.text for t in self.toks[:self.pos]))

    def int_(self, what: str, minimum: int = 0, maximum: int | None = None,
             tok: Tok | None = None, text: str | None = None, col_offset: int = 0) -> int:
        """A decimal number (``tok``'s text, or ``text`` inside it at ``col_offset``)."""
        if tok is None:
            tok = self.take(what)
        s = tok.text if text is None else text
        if not _INT.fullmatch(s):
            raise self.error_at(tok, f"expected {what}, got '{s}'", col_offset)
        value = int(s)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
            raise self.error_at(tok, f"{what} must be {bound}, got {value}", col_offset)
        return value

    def keyvalue(self, tok: Tok, key: str, what: str) -> tuple[str, int]:
        """``KEY=VALUE`` with the given key: the value text and its column offset."""
        k, eq, v = tok.text.partition("=")
        if k != key or not eq:
            raise self.error_at(tok, f"expected {key}={what}, got '{tok.text}'")
        return v, len(k) + 1


Handler = Callable[["_Parser", _Line], Stmt]


class _Parser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.devices: dict[str, Device] = {}
        self.files: dict[str, int] = {}
        self.procs: dict[str, _Proc] = {}
        self.last_op: Stmt | None = None            # the last statement that is no expect

    # ---- names
    def new_name(self, ln: _Line, what: str) -> str:
        tok = ln.take(f"a name for the {what}")
        name = tok.text
        if not _NAME.fullmatch(name):
            raise ln.error_at(tok, f"expected a name for the {what} (a letter or '_', then "
                              f"letters, digits, '_', '.' or '-'; at most 32), got '{name}'")
        if name in KEYWORDS:
            raise ln.error_at(tok, f"'{name}' is a reserved word and cannot name a {what}")
        kind = self.kind_of(name)
        if kind is not None:
            raise ln.error_at(tok, f"the name '{name}' is already taken by a {kind}")
        return name

    def kind_of(self, name: str) -> str | None:
        if name in self.devices:
            return "device"
        if name in self.files:
            return "shmem file"
        if name in self.procs:
            return "process"
        return None

    def device(self, ln: _Line) -> str:
        tok = ln.take("a device name")
        if tok.text not in self.devices:
            known = ", ".join(self.devices) or "none declared"
            raise ln.error_at(tok, f"expected a device declared by 'device', got '{tok.text}' "
                              f"(devices: {known})")
        return tok.text

    def file(self, ln: _Line, tok: Tok | None = None) -> str:
        tok = tok or ln.take("a shmem file name")
        if tok.text not in self.files:
            known = ", ".join(self.files) or "none declared"
            raise ln.error_at(tok, f"expected a shmem file declared by 'shmem', got '{tok.text}' "
                              f"(files: {known})")
        return tok.text

    def live_proc(self, ln: _Line, tok: Tok) -> _Proc:
        proc = self.procs.get(tok.text)
        if proc is None:
            if tok.text in self.devices or tok.text in self.files:
                raise ln.error_at(tok, f"'{tok.text}' is a {self.kind_of(tok.text)}; expected a "
                                  "statement keyword or a process name")
            raise ln.error_at(tok, f"unknown statement or process '{tok.text}'; expected one of "
                              + ", ".join(KEYWORDS) + ", or a process declared by 'process' "
                              "or 'fork'")
        if not proc.alive:
            raise ln.error_at(tok, f"process '{tok.text}' has exited")
        return proc

    # ---- ranges
    def range_(self, ln: _Line, tok: Tok, npages: int, region: str) -> Range:
        m = _RANGE.fullmatch(tok.text)
        if m is None:
            raise ln.error_at(tok, f"expected a page range 'N' or 'LO..HI', got '{tok.text}'")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo + 1
        if hi <= lo:
            raise ln.error_at(tok, f"empty range {tok.text}: LO..HI covers pages LO to HI-1, "
                              "so HI must be greater than LO")
        if hi > npages:
            raise ln.error_at(tok, f"range {tok.text} goes past the end of {region} "
                              f"({npages} pages: 0..{npages})")
        return Range(lo, hi)

    def slot(self, ln: _Line, what: str) -> SlotRef:
        tok = ln.take(what)
        dev, colon, off = tok.text.rpartition(":")
        if not colon or not dev:
            raise ln.error_at(tok, f"expected {what}, got '{tok.text}'")
        ref: str | int
        if _INT.fullmatch(dev):
            ref = int(dev)
        elif dev in self.devices:
            ref = dev
        else:
            raise ln.error_at(tok, f"expected a device name or swap type before ':', got '{dev}'")
        return SlotRef(ref, ln.int_("a slot offset", tok=tok, text=off, col_offset=len(dev) + 1))

    # ---- the program
    def statement(self, ln: _Line) -> Stmt:
        first = ln.take("a statement")
        handler = _STATEMENTS.get(first.text)
        if handler is not None:
            stmt = handler(self, ln)
        else:
            stmt = self.proc_statement(ln, first)
        ln.done()
        if not isinstance(stmt, _EXPECTS):
            self.last_op = stmt
        return stmt

    def proc_statement(self, ln: _Line, who: Tok) -> Stmt:
        proc = self.live_proc(ln, who)
        op = ln.take(f"an operation of process {who.text} (" + ", ".join(PROC_OPS) + ")")
        at: _At = {"line": ln.number, "col": who.col}
        name = who.text
        if op.text == "fork":
            child = self.new_name(ln, "process")
            self.procs[child] = _Proc(anon=proc.anon, shm=set(proc.shm))
            return Fork(**at, proc=name, child=child)
        if op.text == "exit":
            proc.alive = False
            return Exit(**at, proc=name)
        if op.text == "map":
            arg = ln.take("a page count or a shmem file")
            if arg.text[:1].isdigit():
                proc.anon = ln.int_("a page count", minimum=1, tok=arg)
                return Map(**at, proc=name, npages=proc.anon)
            if arg.text not in self.files:
                raise ln.error_at(arg, "expected a page count or a shmem file declared by "
                                  f"'shmem', got '{arg.text}'")
            file = arg.text
            if file in proc.shm:
                raise ln.error_at(arg, f"process {name} has {file} mapped already")
            proc.shm.add(file)
            return ShmMap(**at, proc=name, file=file)
        if op.text == "munmap":
            if ln.peek() is None:
                if proc.anon is None:
                    raise ln.error_at(op, f"process {name} has no anon region to unmap")
                proc.anon = None
                return Munmap(**at, proc=name)
            tok = ln.take("a shmem file")
            file = self.file(ln, tok)
            if file not in proc.shm:
                raise ln.error_at(tok, f"process {name} has no mapping of {file}")
            proc.shm.discard(file)
            return Munmap(**at, proc=name, file=file)
        if op.text == "snapshot":
            return self.snapshot(ln, proc, name, at)
        if op.text in ("swapon", "swapoff"):
            return (_swapon if op.text == "swapon" else _swapoff)(self, ln, name, who.col)
        if op.text in PAGE_OPS:
            return self.page_op(ln, proc, name, op, at)
        raise ln.error_at(op, f"unknown operation '{op.text}' of process {name}; expected one of "
                          + ", ".join(PROC_OPS))

    def page_op(self, ln: _Line, proc: _Proc, name: str, op: Tok, at: _At) -> Stmt:
        file: str | None = None
        tok = ln.peek()
        if tok is not None and not tok.text[:1].isdigit() and "=" not in tok.text:
            ln.take("a shmem file")
            file = self.file(ln, tok)
            if file not in proc.shm:
                raise ln.error_at(tok, f"process {name} has no mapping of {file} "
                                  f"(expected '{name} map {file}' before)")
            npages, region = self.files[file], f"shmem file {file}"
        else:
            if proc.anon is None:
                raise ln.error_at(op, f"process {name} has no anon region (expected "
                                  f"'{name} map N' before '{op.text}')")
            npages, region = proc.anon, f"the anon region of {name}"
        rng = None
        tok = ln.peek()
        if tok is not None and tok.text[:1].isdigit():
            rng = self.range_(ln, ln.take("a range"), npages, region)
        pattern = None
        tok = ln.peek()
        if tok is not None and op.text == "write":
            ln.take("pattern=N")
            value, off = ln.keyvalue(tok, "pattern", "N (0..15)")
            pattern = ln.int_("a pattern number", maximum=15, tok=tok, text=value,
                              col_offset=off)
        return PageOp(**at, proc=name, op=op.text, file=file, range=rng, pattern=pattern)

    def snapshot(self, ln: _Line, proc: _Proc, name: str, at: _At) -> Stmt:
        tok = ln.take("a snapshot action (" + ", ".join(SNAPSHOT_ACTIONS) + ")")
        action = tok.text
        if action not in SNAPSHOT_ACTIONS:
            raise ln.error_at(tok, "expected a snapshot action (" + ", ".join(SNAPSHOT_ACTIONS)
                              + f"), got '{action}'")
        if action == "open":
            if proc.snapshot:
                raise ln.error_at(tok, f"process {name} has /dev/snapshot open already")
            proc.snapshot = True
            return Snapshot(**at, proc=name, action=action, device=self.device(ln))
        if not proc.snapshot:
            raise ln.error_at(tok, f"process {name} has no /dev/snapshot open "
                              f"(expected '{name} snapshot open DEVICE' before)")
        count = None
        if action == "alloc" and ln.peek() is not None:
            count = ln.int_("a number of slots", minimum=1)
        if action == "close":
            proc.snapshot = False
        return Snapshot(**at, proc=name, action=action, count=count)


# ---- one function per statement keyword -------------------------------------------

class _At(TypedDict):
    line: int
    col: int


def _at(ln: _Line) -> _At:
    return {"line": ln.number, "col": ln.first.col}


def _device(p: _Parser, ln: _Line) -> Stmt:
    name = p.new_name(ln, "device")
    tok = ln.take("a size (pages, or a number with K, M or G)")
    m = _SIZE.fullmatch(tok.text)
    if m is None:
        raise ln.error_at(tok, f"expected a size (pages, or a number with K, M or G), "
                          f"got '{tok.text}'")
    shift = {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]
    nbytes = int(m.group(1)) << shift if shift else int(m.group(1)) * PAGE_SIZE
    if nbytes % PAGE_SIZE or nbytes < 2 * PAGE_SIZE:
        raise ln.error_at(tok, f"a device must be a whole number of pages, at least 2 "
                          f"(the header and one slot), got {tok.text}")
    kind = ln.take("a device kind (" + ", ".join(DEVICE_KINDS) + ")")
    if kind.text not in DEVICE_KINDS:
        raise ln.error_at(kind, "expected a device kind (" + ", ".join(DEVICE_KINDS)
                          + f"), got '{kind.text}'")
    flags = {"file": False, "discard": False}
    while (flag := ln.peek()) is not None:
        if flag.text not in flags or flags[flag.text]:
            raise ln.error_at(flag, f"expected 'file' or 'discard' (each at most once), "
                              f"got '{flag.text}'")
        ln.take("a flag")
        flags[flag.text] = True
    dev = Device(**_at(ln), name=name, pages=nbytes // PAGE_SIZE, kind=kind.text,
                 file=flags["file"], discard=flags["discard"])
    p.devices[name] = dev
    return dev


def _swapon(p: _Parser, ln: _Line, proc: str | None = None, col: int | None = None) -> Stmt:
    device = p.device(ln)
    prio = discard = None
    while (tok := ln.peek()) is not None:
        ln.take("an option")
        key, eq, value = tok.text.partition("=")
        if key == "prio" and eq and prio is None:
            prio = ln.int_("a priority", maximum=32767, tok=tok, text=value, col_offset=5)
        elif key == "discard" and discard is None:
            if not eq:
                discard = "all"
            elif value in ("once", "pages"):
                discard = value
            else:
                raise ln.error_at(tok, f"expected discard=once or discard=pages, got "
                                  f"'{tok.text}'", 8)
        else:
            raise ln.error_at(tok, f"expected prio=N or discard[=once|pages] (each at most "
                              f"once), got '{tok.text}'")
    at: _At = _at(ln) if col is None else {"line": ln.number, "col": col}
    return Swapon(**at, device=device, prio=prio, discard=discard, proc=proc)


def _swapoff(p: _Parser, ln: _Line, proc: str | None = None, col: int | None = None) -> Stmt:
    at: _At = _at(ln) if col is None else {"line": ln.number, "col": col}
    return Swapoff(**at, device=p.device(ln), proc=proc)


def _process(p: _Parser, ln: _Line) -> Stmt:
    name = p.new_name(ln, "process")
    p.procs[name] = _Proc()
    return NewProcess(**_at(ln), name=name)


def _shmem(p: _Parser, ln: _Line) -> Stmt:
    name = p.new_name(ln, "shmem file")
    npages = ln.int_("a page count", minimum=1)
    p.files[name] = npages
    return Shmem(**_at(ln), name=name, npages=npages)


def _punch(p: _Parser, ln: _Line) -> Stmt:
    file = p.file(ln)
    rng = None
    if ln.peek() is not None:
        rng = p.range_(ln, ln.take("a range"), p.files[file], f"shmem file {file}")
    return Punch(**_at(ln), file=file, range=rng)


def _ksm(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("'run=N' or 'scan N'")
    if tok.text == "scan":
        return KsmScan(**_at(ln), scans=ln.int_("a number of full scans", minimum=1))
    if tok.text.startswith("run="):
        value = ln.int_("a ksm run mode (0 stop, 1 run, 2 unmerge)", maximum=2, tok=tok,
                        text=tok.text[4:], col_offset=4)
        return KsmRun(**_at(ln), value=value)
    raise ln.error_at(tok, f"expected 'run=N' or 'scan N' after 'ksm', got '{tok.text}'")


def _thp(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("SIZE=always or SIZE=never (an mTHP size: 16K, 32K, ... 2M)")
    size, eq, mode = tok.text.partition("=")
    m = _SIZE.fullmatch(size)
    shift = {"K": 10, "M": 20, "G": 30}.get(m.group(2), 0) if m is not None else 0
    nbytes = int(m.group(1)) << shift if m is not None and shift else 0
    nr = nbytes // PAGE_SIZE
    if not eq or not nbytes or nbytes % PAGE_SIZE or nr & (nr - 1) or not 4 <= nr <= 512:
        raise ln.error_at(tok, "expected SIZE=always or SIZE=never with an mTHP size (16K, 32K, "
                          f"64K, 128K, 256K, 512K, 1M or 2M), got '{tok.text}'")
    if mode not in THP_MODES:
        raise ln.error_at(tok, f"expected always or never after '{size}=', got '{mode}'",
                          len(size) + 1)
    return Thp(**_at(ln), size_kb=nbytes >> 10, enabled=mode)


def _fault(p: _Parser, ln: _Line) -> Stmt:
    names = ", ".join(["signal", *FAULTS])
    tok = ln.take(f"a fault name ({names})")
    if tok.text == "signal":
        who = ln.take("a process")
        p.live_proc(ln, who)
        return SignalFault(**_at(ln), proc=who.text)
    if tok.text not in FAULTS:
        raise ln.error_at(tok, f"expected a fault name ({names}), got '{tok.text}'")
    opt = ln.peek()
    if opt is None:
        return Fault(**_at(ln), name=tok.text)
    ln.take("an option")
    if opt.text == "always":
        return Fault(**_at(ln), name=tok.text, times=-1)
    key, eq, value = opt.text.partition("=")
    if key == "times" and eq:
        times = ln.int_("a number of times", minimum=1, tok=opt, text=value, col_offset=6)
        return Fault(**_at(ln), name=tok.text, times=times)
    if key == "probability" and eq:
        if not _PROB.fullmatch(value) or not 0 < float(value) <= 1:
            raise ln.error_at(opt, f"expected a probability in (0, 1] such as 0.5, got '{value}'",
                              12)
        return Fault(**_at(ln), name=tok.text, times=0, probability=float(value))
    raise ln.error_at(opt, f"expected times=N, always or probability=P, got '{opt.text}'")


def _sleep(p: _Parser, ln: _Line) -> Stmt:
    ms = ln.int_("a time in ms") if ln.peek() is not None else None
    return Sleep(**_at(ln), ms=ms)


def _expect(p: _Parser, ln: _Line) -> Stmt:
    what = ("finding, no, slot, used, rc, vmstat or pages")
    tok = ln.take(f"what to expect ({what})")
    handler = _EXPECT.get(tok.text)
    if handler is None:
        raise ln.error_at(tok, f"expected one of {what} after 'expect', got '{tok.text}'")
    return handler(p, ln)


def _expect_finding(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("a finding kind")
    if tok.text not in KINDS:
        raise ln.error_at(tok, "expected a finding kind (" + ", ".join(KINDS)
                          + f"), got '{tok.text}'")
    function = slot = None
    while (opt := ln.peek()) is not None:
        ln.take("'in' or 'at'")
        if opt.text == "in" and function is None and slot is None:
            fn = ln.take("a function name")
            if not _FUNCTION.fullmatch(fn.text):
                raise ln.error_at(fn, f"expected a function name, got '{fn.text}'")
            function = fn.text
        elif opt.text == "at" and slot is None:
            slot = p.slot(ln, "a slot DEVICE:OFFSET or TYPE:OFFSET")
        else:
            raise ln.error_at(opt, f"expected 'in FUNCTION' then 'at SLOT', got '{opt.text}'")
    return ExpectFinding(**_at(ln), kind=tok.text, function=function, slot=slot)


def _expect_no(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("'findings'")
    if tok.text != "findings":
        raise ln.error_at(tok, f"expected 'findings' after 'expect no', got '{tok.text}'")
    return ExpectNoFindings(**_at(ln))


def _expect_slot(p: _Parser, ln: _Line) -> Stmt:
    slot = p.slot(ln, "a slot DEVICE:OFFSET or TYPE:OFFSET")
    tok = ln.take("count=N")
    value, off = ln.keyvalue(tok, "count", "N")
    count = ln.int_("a swap count", tok=tok, text=value, col_offset=off)
    cached = False
    if (word := ln.peek()) is not None:
        ln.take("'cached'")
        if word.text != "cached":
            raise ln.error_at(word, f"expected 'cached' or the end of the line, got '{word.text}'")
        cached = True
    return ExpectSlot(**_at(ln), slot=slot, count=count, cached=cached)


def _expect_used(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("DEVICE=KB")
    name, eq, value = tok.text.partition("=")
    if not eq:
        raise ln.error_at(tok, f"expected DEVICE=KB, got '{tok.text}'")
    if name not in p.devices:
        raise ln.error_at(tok, f"expected a device declared by 'device', got '{name}'")
    kb = ln.int_("a size in kB", tok=tok, text=value, col_offset=len(name) + 1)
    return ExpectUsed(**_at(ln), device=name, kb=kb)


def _expect_rc(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("0 or an errno name such as EINTR")
    name = tok.text[1:] if tok.text.startswith("-E") else tok.text
    if name == "0":
        err = 0
    elif re.fullmatch(r"E[A-Z0-9]+", name) and isinstance(getattr(_errno, name, None), int):
        err = getattr(_errno, name)
    else:
        raise ln.error_at(tok, f"expected 0 or an errno name such as EINTR, got '{tok.text}'")
    last = p.last_op
    returns = isinstance(last, RC_STATEMENTS) or (isinstance(last, PageOp)
                                                 and last.op in ADVICE_OPS)
    if not returns:
        what = f"line {last.line} ('{last.text()}')" if last is not None else "nothing"
        raise ln.error_at(ln.first, "'expect rc' needs an operation that returns a code "
                          "(swapon, swapoff, fork, madvise advice, snapshot, punch) before it; "
                          f"before it is {what}")
    return ExpectRc(**_at(ln), err=err)


def _expect_vmstat(p: _Parser, ln: _Line) -> Stmt:
    tok = ln.take("KEY=N")
    key, eq, value = tok.text.partition("=")
    if not eq or key not in VMSTAT_KEYS:
        raise ln.error_at(tok, f"expected KEY=N with a vmstat key ({', '.join(VM_EVENTS)}, "
                          f"{', '.join(node_stat)}, or MTHP_STAT.ORDER such as swpout.2), "
                          f"got '{tok.text}'")
    n = ln.int_("a counter value", tok=tok, text=value, col_offset=len(key) + 1)
    return ExpectVmstat(**_at(ln), key=key, value=n)


def _expect_pages(p: _Parser, ln: _Line) -> Stmt:
    from swaplab.oracle.encode import decode_map
    who = ln.take("a process")
    p.live_proc(ln, who)
    tok = ln.take("a page map such as S4P4 (P present, C swap-cached, S swapped, - none)")
    try:
        decode_map(tok.text)
    except ValueError:
        raise ln.error_at(tok, "expected a page map such as S4P4 (P present, C swap-cached, "
                          f"S swapped, - none; or 'none'), got '{tok.text}'") from None
    return ExpectPages(**_at(ln), proc=who.text, map=tok.text)


_STATEMENTS: dict[str, Handler] = {
    "device": _device, "swapon": _swapon, "swapoff": _swapoff, "process": _process,
    "shmem": _shmem, "punch": _punch, "ksm": _ksm, "thp": _thp, "fault": _fault, "sleep": _sleep,
    "expect": _expect,
}
_EXPECT: dict[str, Handler] = {
    "finding": _expect_finding, "no": _expect_no, "slot": _expect_slot,
    "used": _expect_used, "rc": _expect_rc, "vmstat": _expect_vmstat, "pages": _expect_pages,
}
_EXPECTS = (ExpectFinding, ExpectNoFindings, ExpectSlot, ExpectUsed, ExpectRc, ExpectVmstat,
            ExpectPages)
assert set(_STATEMENTS) == set(KEYWORDS)
assert set(ACCESS_OPS) | set(ADVICE_OPS) == set(PAGE_OPS)


# ---- entry points ----------------------------------------------------------------

def parse_program(text: str, filename: str = "<program>") -> Program:
    """Parse a program.

    >>> parse_program("process p\\np map 4\\n").statements[1]
    Map(line=2, col=1, proc='p', npages=4)

    :raises InvalidScenario: at the first malformed statement (file:line:col).
    """
    parser = _Parser(filename)
    stmts: list[Stmt] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        toks = tokenize(raw)
        if toks:
            stmts.append(parser.statement(_Line(parser, number, toks)))
    return Program(tuple(stmts), filename)


def load_program(path: str) -> Program:
    """Read and parse the program in file ``path``.

    :raises InvalidScenario: the file cannot be read, or does not parse.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidScenario(f"cannot read the program: {e}", path) from e
    return parse_program(text, path)
