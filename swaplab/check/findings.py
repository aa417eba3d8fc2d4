"""Findings: what the checkers report when the modeled kernel breaks a rule.

A finding carries a stable ``kind`` word, a message, the modeled function
it was raised in, the slot ``[type, offset]`` involved (if any), the step of
the run, the task and a short backtrace of modeled functions.

Checking has three modes:

* ``OFF``: nothing is checked or recorded (``VM_WARN_ON`` still returns its
  condition, as the kernel's does);
* ``RECORD``: findings are collected and the run goes on;
* ``STRICT``: the first finding raises :class:`swaplab.errors.ModelBug`.

The function and slot are found by walking the Python stack from the point
of the report up to the first *modeled* frame: frames of the harness (the
lock API, the WARN helpers, the checkers) and of ``__always_inline``
helpers are skipped, as a kernel splat names the non-inlined function.  The
slot is read from that frame's ``entry`` (or ``si`` + ``offset``, or
``folio.swap``) -- the same variables a kernel developer would look at in a
crash dump.  This costs nothing until a finding fires.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any, Callable, Final, TypeVar

from swaplab.errors import ModelBug

KINDS = ("lock-recursion", "lock-order", "lock-not-held", "vm-warn",
         "count-mismatch", "count-underflow", "swap-leak", "cache-mismatch",
         "cluster-accounting", "data-corruption", "hang", "crash", "divergence")

OFF, RECORD, STRICT = 0, 1, 2
MODE_NAMES = {"off": OFF, "record": RECORD, "strict": STRICT}


@dataclass
class Finding:
    kind: str
    message: str
    function: str | None = None
    entry: tuple[int, int] | None = None
    step: int = 0
    task: str | None = None
    backtrace: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "step": self.step,
                "function": self.function,
                "entry": list(self.entry) if self.entry is not None else None,
                "task": self.task, "backtrace": self.backtrace}

    def __str__(self) -> str:
        where = f" in {self.function}" if self.function else ""
        slot = f" slot [{self.entry[0]}, {self.entry[1]}]" if self.entry else ""
        return f"step {self.step}: {self.kind}{where}{slot}: {self.message}"


class FindingLog:
    """The findings of one run, and how to check."""

    def __init__(self) -> None:
        self.mode = RECORD
        self.step = 0
        self.entry_point: str | None = None     # kernel entry of the running step
        self.findings: list[Finding] = []
        self.warned_once: set[tuple[str, int]] = set()
        self.listeners: list[Callable[[Finding], None]] = []

    def reset(self, mode: int = RECORD) -> None:
        self.mode = mode
        self.step = 0
        self.entry_point = None
        self.findings.clear()
        self.warned_once.clear()


log: Final = FindingLog()

# Code objects that a finding never names: the harness and inline helpers.
_skip_code: set[CodeType] = set()
_skip_modules = ("swaplab.kernel.locking", "swaplab.include.linux.mmdebug",
                 "swaplab.check.", "swaplab.kernel.dup", "swaplab.kernel.stubs",
                 "swaplab.kernel.custom", "swaplab.include.linux.printk",
                 "swaplab.mm.swap_table")

F = TypeVar("F", bound=Callable[..., Any])


def __always_inline(fn: F) -> F:
    """Mark a helper that the kernel inlines: findings name its caller instead."""
    code = getattr(fn, "__code__", None)    # None if compiled (mypyc): no frames to skip
    if code is not None:
        _skip_code.add(code)
    return fn


always_inline = __always_inline


def _is_model_frame(frame: FrameType) -> bool:
    if frame.f_code in _skip_code:
        return False
    mod = frame.f_globals.get("__name__", "")
    if not mod.startswith("swaplab."):
        # A user's variant file models kernel code too; tests and tools do not.
        return bool(frame.f_globals.get("__swaplab_variant__", False))
    if mod.startswith(_skip_modules):
        return False
    return mod.startswith(("swaplab.mm.", "swaplab.kernel.power.", "swaplab.variants"))


def _entry_of(frame: FrameType) -> tuple[int, int] | None:
    from swaplab.include.linux.swapops import swp_offset, swp_type
    loc = frame.f_locals
    entry = loc.get("entry")
    if isinstance(entry, int) and not isinstance(entry, bool) and entry:
        return (swp_type(entry), swp_offset(entry))
    si = loc.get("si")
    offset = loc.get("offset")
    if si is not None and isinstance(offset, int) and hasattr(si, "type"):
        return (si.type, offset)
    folio = loc.get("folio")
    swap = getattr(folio, "swap", 0)
    if isinstance(swap, int) and swap:
        return (swp_type(swap), swp_offset(swap))
    return None


def locate(depth: int = 2) -> tuple[str | None, tuple[int, int] | None, list[str]]:
    """Find the modeled function, its slot and the modeled backtrace."""
    frame: FrameType | None = sys._getframe(depth)
    function = None
    entry = None
    backtrace: list[str] = []
    while frame is not None:
        if _is_model_frame(frame):
            name = frame.f_code.co_name
            backtrace.append(name)
            if function is None:
                function = name
            if entry is None:
                entry = _entry_of(frame)
        frame = frame.f_back
    return function, entry, backtrace[:12]


def report(kind: str, message: str, function: str | None = None,
           entry: tuple[int, int] | None = None, depth: int = 2) -> Finding | None:
    """Record a finding (RECORD), raise it (STRICT) or drop it (OFF)."""
    if kind not in KINDS:
        from swaplab.errors import SwaplabInternalError
        raise SwaplabInternalError(f"unknown finding kind {kind!r}")
    if log.mode == OFF:
        return None
    fn, ent, bt = locate(depth + 1)
    from swaplab.kernel.locking import get_current
    finding = Finding(kind, message, function or fn, entry or ent, log.step,
                      repr(get_current()), bt)
    log.findings.append(finding)
    for listener in log.listeners:
        listener(finding)
    if log.mode == STRICT:
        raise ModelBug(finding)
    return finding


def checking() -> bool:
    return log.mode != OFF
