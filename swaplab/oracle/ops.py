"""
Kernel-oracle ops scripts
-------------------------

A parser for the "ops" scenario language of the kernel oracle
(``shared/tools/kernel-oracle/swaptest.c``, described in
``shared/oracle/README.md``).  ``parse_ops(text, filename)`` turns a script
into an :class:`OpsScript`: a list of typed, frozen :class:`Op` records.  The
parser never evaluates anything; it only checks the shape of every line, so
that a script the oracle would run is accepted and a malformed one is
rejected with :class:`~swaplab.errors.InvalidScenario` naming the file, line,
column and what was expected.

How swaptest reads a line, and so how this parser does:

- Everything from the first ``#`` is a comment; a ``\\r`` ends the line; then
  spaces and tabs are trimmed at both ends and empty lines are skipped.
  Tokens are separated by runs of spaces and tabs.
- A line ``#% KEY=VALUE ...`` starting in column 1 sets device sizes
  (``SWAP_MB``, ``SWAP2_MB``; ``run.sh`` reads them).
- ``@NAME OP ...`` runs OP in the long-lived task NAME (made by ``spawn``),
  ``@NAME spawn NAME2`` forks a grandchild, ``@NAME exit`` ends the task.
  A line starting with ``@swapdev`` is not a task prefix.
- ``fork`` ... ``exit`` (each alone on its line) is a block: a child process
  runs the body and exits; blocks nest.  A fork child may not use ``@NAME``
  or ``spawn``; a task may not use ``fork`` or ``exit``.
- Page operations take ``[anon|shm] [lo hi]``: no region means ``anon``, no
  range means the whole region; ``hi`` is clamped to the region's size when
  the operation runs (:meth:`PageOp.page_range`).
- ``report``/``pages`` without a label use ``-``; ``snap_alloc`` without a
  count allocates 1; ``snap_open`` without a device uses ``@swapdev``;
  ``ksm_wait N`` waits at most 20000 ms.

This parser is stricter than swaptest where swaptest would silently do
something surprising: extra arguments, a lone ``lo`` without ``hi``, an
unknown region name, ``lo > hi``, a stray ``exit``, and ``@NAME`` for a task
that is not alive are errors here.  Devices are only ``@swapdev`` and
``@swapdev2`` (the model has no other block devices).

Every op records who runs it in ``task``: the ``NAME`` of an ``@NAME``
prefix, or ``None`` for the current flow (the main process, ``parent``, at
the top level; the fork child inside a :class:`Fork` body).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal, TypedDict, cast

from swaplab.errors import InvalidScenario

__all__ = (
    "DEVICES",
    "KSM_SYSFS",
    "MAX_LINE",
    "MAX_OPS",
    "MAX_TASKS",
    "OPERATIONS",
    "REGIONS",
    "Bare",
    "Device",
    "Echo",
    "Fork",
    "KsmWait",
    "MapRegion",
    "Op",
    "OpsScript",
    "PageOp",
    "Range",
    "Reclaim",
    "Region",
    "Report",
    "SnapAlloc",
    "SnapOpen",
    "Sleep",
    "Spawn",
    "Swapoff",
    "Swapon",
    "Sysctl",
    "TaskExit",
    "Unmap",
    "WriteFile",
    "WriteSame",
    "parse_ops",
)

Region = Literal["anon", "shm"]
Device = Literal["@swapdev", "@swapdev2"]

REGIONS: tuple[str, ...] = ("anon", "shm")
DEVICES: tuple[str, ...] = ("@swapdev", "@swapdev2")
KSM_SYSFS = "/sys/kernel/mm/ksm/"
MAX_LINE = 511          # swaptest reads lines with fgets(line, 512, f)
MAX_OPS = 4096          # swaptest's MAXOPS
MAX_TASKS = 7           # swaptest's MAXTASKS (8) minus the main process
DEFAULT_KSM_WAIT_MS = 20000
SETTINGS: tuple[str, ...] = ("SWAP_MB", "SWAP2_MB")


# ---- the AST ---------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """A page range ``lo hi`` as written: pages lo..hi-1 (``lo <= hi``)."""

    lo: int
    hi: int


@dataclass(frozen=True, kw_only=True)
class Op:
    """One operation: its name, where it was written and who runs it.

    ``line`` and ``col`` (1-based) point at the operation's name; ``task`` is
    the ``@NAME`` prefix (``None``: the current flow, see the module notes).
    Operations without arguments other than those of a subclass are
    :class:`Bare`.
    """

    name: str
    line: int
    col: int
    task: str | None = None


@dataclass(frozen=True, kw_only=True)
class Bare(Op):
    """An operation without arguments.

    ``snap_avail``, ``snap_free``, ``snap_close``, ``memcg_enter``,
    ``memcg_leave``, ``sync``.
    """


@dataclass(frozen=True, kw_only=True)
class PageOp(Op):
    """``NAME [anon|shm] [lo hi]``: an operation on pages of a region.

    ``write``, ``zero``, ``read``, ``touch``, ``pageout``, ``cold``,
    ``willneed``, ``dontneed``, ``mlock``, ``munlock`` (either region),
    ``free``, ``merge``, ``unmerge`` (anon only), ``punch`` (shm only).
    ``range`` is ``None`` for the whole region.
    """

    region: Region = "anon"
    range: Range | None = None

    def page_range(self, npages: int) -> tuple[int, int]:
        """The pages swaptest covers in a region of ``npages`` pages.

        ``(0, npages)`` without a range, else ``(lo, min(hi, npages))``.
        The result may be empty (``hi <= lo``) when ``lo`` lies beyond the
        region; swaptest then does nothing (and ``read`` reports ``lo..hi``).
        """
        if self.range is None:
            return 0, npages
        return self.range.lo, min(self.range.hi, npages)


@dataclass(frozen=True, kw_only=True)
class WriteSame(PageOp):
    """``write_same [R] [lo hi [ID]]``: one fixed pattern ``ID`` (0..15)."""

    pattern: int = 0


@dataclass(frozen=True, kw_only=True)
class MapRegion(Op):
    """``map N`` (region ``anon``) / ``shm_map N`` (region ``shm``)."""

    region: Region
    npages: int


@dataclass(frozen=True, kw_only=True)
class Unmap(Op):
    """``unmap [R]``: munmap the region (shm: and close the memfd)."""

    region: Region = "anon"


@dataclass(frozen=True, kw_only=True)
class Swapon(Op):
    """``swapon DEV [PRIO]``; ``prio`` ``None`` when omitted.

    A negative PRIO, like none, means the kernel default priority.
    """

    device: Device
    prio: int | None = None

    @property
    def prefer(self) -> bool:
        """True when SWAP_FLAG_PREFER is set (PRIO given and >= 0)."""
        return self.prio is not None and self.prio >= 0


@dataclass(frozen=True, kw_only=True)
class Swapoff(Op):
    """``swapoff DEV``."""

    device: Device


@dataclass(frozen=True, kw_only=True)
class Sysctl(Op):
    """``sysctl PATH VALUE``: write VALUE to /proc/sys/PATH."""

    path: str
    value: str

    @property
    def file(self) -> str:
        """The file written: ``/proc/sys/PATH``."""
        return "/proc/sys/" + self.path


@dataclass(frozen=True, kw_only=True)
class WriteFile(Op):
    """``write_file PATH VALUE``."""

    path: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Fork(Op):
    """``fork`` ... ``exit``: a child runs ``body`` and exits."""

    body: tuple[Op, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Spawn(Op):
    """``spawn NAME`` / ``@TASK spawn NAME``: fork the long-lived task ``child``."""

    child: str


@dataclass(frozen=True, kw_only=True)
class TaskExit(Op):
    """``@NAME exit``: task ``task`` exits (its mm is gone when this returns)."""


@dataclass(frozen=True, kw_only=True)
class SnapOpen(Op):
    """``snap_open [DEV]``: open /dev/snapshot for DEV (default ``@swapdev``)."""

    device: Device = "@swapdev"


@dataclass(frozen=True, kw_only=True)
class SnapAlloc(Op):
    """``snap_alloc [N]``: N (default 1) hibernation slots."""

    count: int = 1


@dataclass(frozen=True, kw_only=True)
class KsmWait(Op):
    """``ksm_wait N [MS]``: N more full scans of ksmd, timeout MS."""

    scans: int
    timeout_ms: int = DEFAULT_KSM_WAIT_MS


@dataclass(frozen=True, kw_only=True)
class Reclaim(Op):
    """``reclaim KB``: memory.reclaim of ``KBK`` on the cgroup, twice."""

    kb: int


@dataclass(frozen=True, kw_only=True)
class Report(Op):
    """``report [LABEL]`` / ``pages [LABEL]`` (label ``-`` when omitted)."""

    label: str = "-"


@dataclass(frozen=True, kw_only=True)
class Sleep(Op):
    """``sleep MS``."""

    ms: int


@dataclass(frozen=True, kw_only=True)
class Echo(Op):
    """``echo TEXT``: the rest of the line, inner spacing kept."""

    text: str = ""


@dataclass(frozen=True)
class OpsScript:
    """A parsed ops file.

    ``sizes`` holds the ``#%`` settings (``SWAP_MB``, ``SWAP2_MB``; MB);
    ``ops`` the top-level operations in order (fork bodies inside
    :class:`Fork`); ``uses_ksm`` is swaptest's rule for adding the ``ksm_*``
    keys to every REPORT (a ``merge``, ``unmerge`` or ``ksm_wait`` op, or
    ``/sys/kernel/mm/ksm/`` anywhere in an op line).
    """

    filename: str
    sizes: dict[str, int] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    uses_ksm: bool = False

    def walk(self) -> Iterator[Op]:
        """Every op in source order, fork bodies included (after their Fork)."""
        yield from _walk(self.ops)

    @property
    def uses_swapdev2(self) -> bool:
        """True when some op names the second device ``@swapdev2``."""
        return any(getattr(op, "device", None) == "@swapdev2" for op in self.walk())

    def swap_mb(self, env: int | None = None) -> int:
        """Size of the first device in MB: ``env``, else ``#% SWAP_MB``, else 64."""
        if env is not None:
            return env
        return self.sizes.get("SWAP_MB", 64)

    def swap2_mb(self, env: int | None = None, swap_mb: int | None = None) -> int | None:
        """Size of the second device in MB, or ``None`` when there is none.

        As run.sh decides it: ``env``, else ``#% SWAP2_MB``, else the first
        device's size when the script uses ``@swapdev2``.
        """
        if env is not None:
            return env
        if "SWAP2_MB" in self.sizes:
            return self.sizes["SWAP2_MB"]
        return self.swap_mb(swap_mb) if self.uses_swapdev2 else None


def _walk(ops: list[Op] | tuple[Op, ...]) -> Iterator[Op]:
    for op in ops:
        yield op
        if isinstance(op, Fork):
            yield from _walk(op.body)


# ---- lines and tokens ------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    text: str
    col: int            # 1-based column of the first character

    @property
    def end(self) -> int:
        """Column just after the token."""
        return self.col + len(self.text)


@dataclass(frozen=True)
class _Line:
    number: int
    text: str           # the op text: comment removed, trimmed
    offset: int         # column of text[0] minus 1
    toks: tuple[_Tok, ...]


_TOKEN = re.compile(r"[^ \t]+")


def _tokens(text: str, offset: int) -> tuple[_Tok, ...]:
    return tuple(_Tok(m.group(), m.start() + offset + 1) for m in _TOKEN.finditer(text))


def _op_line(number: int, raw: str) -> _Line | None:
    """The op part of one raw line (no newline), as swaptest's main() cuts it."""
    text = raw.split("#", 1)[0].split("\r", 1)[0]
    stripped = text.lstrip(" \t")
    offset = len(text) - len(stripped)
    stripped = stripped.rstrip(" \t")
    if not stripped:
        return None
    return _Line(number, stripped, offset, _tokens(stripped, offset))


def _settings(number: int, raw: str, filename: str, sizes: dict[str, int]) -> None:
    """Read a ``#% KEY=VALUE ...`` line into ``sizes``."""
    for tok in _tokens(raw[2:].split("\r", 1)[0], 2):
        if tok.text.startswith("#"):
            return
        key, eq, value = tok.text.partition("=")
        if not eq:
            raise InvalidScenario(f"expected KEY=VALUE in a '#%' line, got '{tok.text}'",
                                  filename, number, tok.col)
        if key not in SETTINGS:
            raise InvalidScenario(f"unknown setting '{key}'; expected SWAP_MB or SWAP2_MB",
                                  filename, number, tok.col)
        if not value.isdigit() or int(value) < 1:
            raise InvalidScenario(f"expected a size in MB (a positive number) for {key}, "
                                  f"got '{value}'", filename, number, tok.col + len(key) + 1)
        sizes[key] = int(value)


# ---- the parser ------------------------------------------------------------

_Handler = Callable[["_Parser", "_Args"], Op]


class _OpFields(TypedDict):
    name: str
    line: int
    col: int
    task: str | None


class _Args:
    """The arguments of one op line, consumed left to right."""

    def __init__(self, parser: _Parser, line: _Line, toks: tuple[_Tok, ...],
                 task: str | None) -> None:
        self.parser = parser
        self.line = line
        self.op = toks[0]
        self.rest = list(toks[1:])
        self.task = task
        self.last = toks[0]             # the last token consumed

    def error(self, msg: str, tok: _Tok | None = None) -> InvalidScenario:
        """An error at ``tok``, or just after the last token consumed."""
        col = tok.col if tok else self.last.end
        return InvalidScenario(msg, self.parser.filename, self.line.number, col)

    def peek(self) -> _Tok | None:
        return self.rest[0] if self.rest else None

    def take(self) -> _Tok:
        self.last = self.rest.pop(0)
        return self.last

    def take_word(self, what: str) -> str:
        """A required token of any text."""
        if not self.rest:
            raise self.error(f"expected {what} after '{self.last.text}'")
        return self.take().text

    def take_number(self, what: str, *, signed: bool = False, minimum: int = 0) -> int:
        """A required decimal number >= ``minimum``."""
        if not self.rest:
            raise self.error(f"expected {what} after '{self.last.text}'")
        return self._number(self.take(), what, signed, minimum)

    def take_optional_number(self, what: str, *, signed: bool = False) -> int | None:
        """A number if one is left, else None."""
        if not self.rest:
            return None
        return self._number(self.take(), what, signed, None)

    def _number(self, tok: _Tok, what: str, signed: bool, minimum: int | None) -> int:
        pattern = r"[+-]?[0-9]+" if signed else r"[0-9]+"
        if not re.fullmatch(pattern, tok.text):
            raise self.error(f"expected {what} after '{self.op.text}', got '{tok.text}'", tok)
        value = int(tok.text)
        if minimum is not None and value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {value}", tok)
        return value

    def take_device(self) -> Device:
        """A required ``@swapdev``/``@swapdev2``."""
        expected = "a device '@swapdev' or '@swapdev2'"
        if not self.rest:
            raise self.error(f"expected {expected} after '{self.op.text}'")
        tok = self.take()
        if tok.text not in DEVICES:
            raise self.error(f"expected {expected} after '{self.op.text}', got '{tok.text}'", tok)
        return cast(Device, tok.text)

    def done(self) -> None:
        """Fail if arguments are left over."""
        if self.rest:
            tok = self.rest[0]
            raise self.error(f"unexpected '{tok.text}': too many arguments for '{self.op.text}'",
                             tok)

    def fields(self) -> _OpFields:
        """The fields every Op has."""
        return {"name": self.op.text, "line": self.line.number, "col": self.op.col,
                "task": self.task}


class _Parser:
    """Builds the op list of one file; tracks fork nesting and live tasks."""

    def __init__(self, filename: str, lines: list[_Line]) -> None:
        self.filename = filename
        self.lines = lines
        self.pos = 0
        self.tasks: set[str] = set()    # tasks alive at this point of the script
        self.spawned = 0

    def error(self, msg: str, line: _Line, tok: _Tok) -> InvalidScenario:
        return InvalidScenario(msg, self.filename, line.number, tok.col)

    def block(self, fork: tuple[_Line, _Tok] | None) -> list[Op]:
        """Ops up to the end of the file, or up to the ``exit`` closing ``fork``."""
        ops: list[Op] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            first = line.toks[0]
            if line.text == "exit":
                if fork is None:
                    raise self.error("'exit' without matching 'fork'", line, first)
                return ops
            if line.text == "fork":
                ops.append(Fork(name="fork", line=line.number, col=first.col,
                                body=tuple(self.block((line, first)))))
            elif first.text.startswith("@") and not first.text.startswith("@swapdev"):
                if fork is not None:
                    raise self.error("'@NAME' operations are not allowed inside a fork "
                                     "child (between 'fork' and 'exit')", line, first)
                ops.append(self.task_op(line))
            else:
                ops.append(self.op(line, line.toks, None, in_fork=fork is not None))
        if fork is not None:
            line, tok = fork
            raise self.error("'fork' without matching 'exit'", line, tok)
        return ops

    def task_op(self, line: _Line) -> Op:
        """``@NAME OP ...``."""
        first = line.toks[0]
        name = first.text[1:]
        if not name:
            raise self.error("expected a task name after '@'", line, first)
        if len(line.toks) < 2:
            raise InvalidScenario(f"expected an operation after '{first.text}'",
                                  self.filename, line.number, first.end)
        if name != "parent" and name not in self.tasks:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise self.error(f"no task '{name}' is alive here (spawn it first; "
                             f"alive: {known})", line, first)
        op_tok = line.toks[1]
        if op_tok.text == "fork" or (op_tok.text == "exit" and name == "parent"):
            raise self.error(f"'{op_tok.text}' inside a task is not supported "
                             "(use spawn / @NAME exit)", line, op_tok)
        if op_tok.text == "exit":
            args = _Args(self, line, line.toks[1:], name)
            args.done()
            self.tasks.discard(name)
            return TaskExit(**args.fields())
        return self.op(line, line.toks[1:], name, in_fork=False)

    def op(self, line: _Line, toks: tuple[_Tok, ...], task: str | None, *, in_fork: bool) -> Op:
        """One operation (without its ``@NAME`` prefix)."""
        name = toks[0].text
        if name in ("fork", "exit"):
            # "fork x" / "exit x": swaptest only knows the bare words
            raise InvalidScenario(f"'{name}' takes no arguments", self.filename,
                                  line.number, toks[1].col)
        handler = _HANDLERS.get(name)
        if handler is None:
            raise self.error(_unknown_op(name), line, toks[0])
        if name == "spawn" and in_fork:
            raise self.error("'spawn' is not allowed inside a fork child "
                             "(between 'fork' and 'exit')", line, toks[0])
        return handler(self, _Args(self, line, toks, task))

    def spawn(self, args: _Args) -> Op:
        """``spawn NAME``: a new live task (checked here, where tasks are tracked)."""
        child = args.take_word("a task name")
        tok = args.last
        args.done()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,30}", child):
            raise args.error(f"bad task name '{child}': expected a letter or '_', then "
                             "letters, digits, '_' or '-' (at most 31 characters)", tok)
        if child in ("parent", "child") or child.startswith("swapdev"):
            raise args.error(f"the task name '{child}' is reserved", tok)
        if child in self.tasks:
            raise args.error(f"a task '{child}' is already alive", tok)
        if self.spawned >= MAX_TASKS:
            raise args.error(f"too many tasks: at most {MAX_TASKS} 'spawn's per scenario", tok)
        self.spawned += 1
        self.tasks.add(child)
        return Spawn(**args.fields(), child=child)


def _unknown_op(name: str) -> str:
    msg = f"unknown operation '{name}'"
    close = difflib.get_close_matches(name, OPERATIONS, n=1)
    if close:
        msg += f" (did you mean '{close[0]}'?)"
    return msg + "; expected one of " + ", ".join(sorted(OPERATIONS))


# ---- one function per argument shape -----------------------------------------

def _region(args: _Args, allowed: tuple[str, ...] = REGIONS) -> Region:
    """The optional region selector: ``anon``, ``shm`` or nothing (anon)."""
    tok = args.peek()
    if tok is None or _NUMBERISH.match(tok.text):
        return "anon"
    if tok.text not in REGIONS:
        raise args.error(f"unknown region '{tok.text}'; expected 'anon' or 'shm'", tok)
    if tok.text not in allowed:
        raise args.error(f"'{args.op.text}' works on the {allowed[0]} region only", tok)
    return cast(Region, args.take().text)


_NUMBERISH = re.compile(r"[+-]?[0-9]")


def _range(args: _Args) -> Range | None:
    """The optional ``lo hi``."""
    tok = args.peek()
    if tok is None:
        return None
    lo = args.take_number("the first page of a range")
    hi = args.take_number("the end of the page range")
    if lo > hi:
        raise args.error(f"range start {lo} is greater than range end {hi}", tok)
    return Range(lo, hi)


def _page_op(parser: _Parser, args: _Args) -> Op:
    allowed = {"free": ("anon",), "merge": ("anon",), "unmerge": ("anon",),
               "punch": ("shm",)}.get(args.op.text, REGIONS)
    tok = args.peek()
    if allowed == ("shm",) and (tok is None or tok.text != "shm"):
        got = f", got '{tok.text}'" if tok else ""
        raise args.error(f"expected 'shm' after '{args.op.text}'{got}", tok)
    region = _region(args, allowed)
    rng = _range(args)
    args.done()
    return PageOp(**args.fields(), region=region, range=rng)


def _write_same(parser: _Parser, args: _Args) -> Op:
    region = _region(args)
    rng = _range(args)
    pattern = 0
    if rng is not None and args.rest:
        pattern = args.take_number("a pattern id (0..15)")
        if pattern > 15:
            raise args.error(f"pattern id must be 0..15, got {pattern}", args.last)
    args.done()
    return WriteSame(**args.fields(), region=region, range=rng,
                     pattern=pattern)


def _map(parser: _Parser, args: _Args) -> Op:
    npages = args.take_number("a page count", minimum=1)
    args.done()
    region: Region = "shm" if args.op.text == "shm_map" else "anon"
    return MapRegion(**args.fields(), region=region, npages=npages)


def _unmap(parser: _Parser, args: _Args) -> Op:
    region = _region(args)
    if args.rest and _NUMBERISH.match(args.rest[0].text):
        raise args.error("'unmap' takes no page range: it unmaps the whole region",
                         args.rest[0])
    args.done()
    return Unmap(**args.fields(), region=region)


def _swapon(parser: _Parser, args: _Args) -> Op:
    device = args.take_device()
    prio = args.take_optional_number("a priority", signed=True)
    args.done()
    return Swapon(**args.fields(), device=device, prio=prio)


def _swapoff(parser: _Parser, args: _Args) -> Op:
    device = args.take_device()
    args.done()
    return Swapoff(**args.fields(), device=device)


def _sysctl(parser: _Parser, args: _Args) -> Op:
    path = args.take_word("a path under /proc/sys (e.g. vm/page-cluster)")
    value = args.take_word("a value")
    args.done()
    return Sysctl(**args.fields(), path=path, value=value)


def _write_file(parser: _Parser, args: _Args) -> Op:
    path = args.take_word("a file path")
    value = args.take_word("a value")
    args.done()
    return WriteFile(**args.fields(), path=path, value=value)


def _bare(parser: _Parser, args: _Args) -> Op:
    args.done()
    return Bare(**args.fields())


def _snap_open(parser: _Parser, args: _Args) -> Op:
    device = args.take_device() if args.rest else "@swapdev"
    args.done()
    return SnapOpen(**args.fields(), device=device)


def _snap_alloc(parser: _Parser, args: _Args) -> Op:
    count = args.take_optional_number("a slot count")
    args.done()
    return SnapAlloc(**args.fields(), count=1 if count is None else count)


def _ksm_wait(parser: _Parser, args: _Args) -> Op:
    scans = args.take_number("a number of full scans")
    ms = args.take_optional_number("a timeout in ms")
    args.done()
    return KsmWait(**args.fields(), scans=scans,
                   timeout_ms=DEFAULT_KSM_WAIT_MS if ms is None else ms)


def _reclaim(parser: _Parser, args: _Args) -> Op:
    kb = args.take_number("an amount in kB")
    args.done()
    return Reclaim(**args.fields(), kb=kb)


def _report(parser: _Parser, args: _Args) -> Op:
    label = args.take().text if args.rest else "-"
    args.done()
    return Report(**args.fields(), label=label)


def _sleep(parser: _Parser, args: _Args) -> Op:
    ms = args.take_number("a time in ms")
    args.done()
    return Sleep(**args.fields(), ms=ms)


def _echo(parser: _Parser, args: _Args) -> Op:
    # swaptest prints the op text after "echo" and the blanks that follow it
    start = args.op.end - 1 - args.line.offset
    text = args.line.text[start:].lstrip(" \t")
    return Echo(**args.fields(), text=text)


_HANDLERS: dict[str, _Handler] = {
    "swapon": _swapon,
    "swapoff": _swapoff,
    "sysctl": _sysctl,
    "write_file": _write_file,
    "map": _map,
    "shm_map": _map,
    **{name: _page_op for name in ("write", "zero", "read", "touch", "pageout", "cold",
                                   "willneed", "dontneed", "free", "punch", "mlock",
                                   "munlock", "merge", "unmerge")},
    "write_same": _write_same,
    "unmap": _unmap,
    "spawn": _Parser.spawn,
    "snap_open": _snap_open,
    "snap_alloc": _snap_alloc,
    **{name: _bare for name in ("snap_avail", "snap_free", "snap_close", "memcg_enter",
                                "memcg_leave", "sync")},
    "ksm_wait": _ksm_wait,
    "reclaim": _reclaim,
    "report": _report,
    "pages": _report,
    "sleep": _sleep,
    "echo": _echo,
}

OPERATIONS: tuple[str, ...] = tuple(sorted([*_HANDLERS, "fork", "exit"]))


# ---- entry point -------------------------------------------------------------

def _uses_ksm(line: _Line) -> bool:
    """swaptest's test for the ksm_* REPORT keys, on one op line."""
    toks = line.toks[1:] if line.toks[0].text.startswith("@") else line.toks
    op = toks[0].text if toks else ""
    return KSM_SYSFS in line.text or op in ("merge", "unmerge", "ksm_wait")


def parse_ops(text: str, filename: str) -> OpsScript:
    """Parse an ops script.

    >>> parse_ops("map 4\\npageout 0 2\\n", "x.ops").ops[1]
    PageOp(name='pageout', line=2, col=1, task=None, region='anon', range=Range(lo=0, hi=2))

    :param text: the file's contents.
    :param filename: the name used in error messages.
    :return: the :class:`OpsScript`.
    :raises InvalidScenario: on the first malformed line.
    """
    sizes: dict[str, int] = {}
    lines: list[_Line] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if len(raw.rstrip("\r")) > MAX_LINE:
            raise InvalidScenario(f"line too long: {len(raw.rstrip(chr(13)))} characters, "
                                  f"at most {MAX_LINE}", filename, number, MAX_LINE + 1)
        if raw.startswith("#%"):
            _settings(number, raw, filename, sizes)
            continue
        line = _op_line(number, raw)
        if line is None:
            continue
        if len(lines) == MAX_OPS:
            raise InvalidScenario(f"too many operations: at most {MAX_OPS}", filename, number,
                                  line.toks[0].col)
        lines.append(line)
    ops = _Parser(filename, lines).block(None)
    return OpsScript(filename=filename, sizes=sizes, ops=ops,
                     uses_ksm=any(_uses_ksm(line) for line in lines))
