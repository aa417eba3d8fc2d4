"""include/linux/mmdebug.h and asm-generic/bug.h: WARN_ON and VM_WARN_ON*.

Each returns its condition, as the kernel macros do, so modeled code can
write ``if WARN_ON_ONCE(not si): return``.  When the condition holds and
checking is on, a ``vm-warn`` finding is recorded naming the modeled
function and slot.  ``VM_BUG_ON*`` oopses a CONFIG_DEBUG_VM kernel: the model
records the same finding kind (with "BUG" in the message) and raises
:class:`swaplab.sim.oops.KernelOops`, which ends the current operation as
the oops ends the task; the run goes on with the next operation.  With
checking off (the production build) the BUG is compiled out, as it is
without CONFIG_DEBUG_VM.
"""

from __future__ import annotations

import sys
from typing import Any

from swaplab.check.findings import log, report


def _once(depth: int) -> bool:
    frame = sys._getframe(depth)
    key = (frame.f_code.co_filename, frame.f_lineno)
    if key in log.warned_once:
        return False
    log.warned_once.add(key)
    return True


def _describe(what: str, obj: Any) -> str:
    if obj is None:
        return what
    return f"{what}: {obj!r}"


def WARN_ON(cond: Any, what: str = "WARN_ON") -> bool:
    if cond:
        if log.mode:
            report("vm-warn", what, depth=2)
        return True
    return False


def WARN_ON_ONCE(cond: Any, what: str = "WARN_ON_ONCE") -> bool:
    if cond:
        if log.mode and _once(2):
            report("vm-warn", what, depth=2)
        return True
    return False


def VM_WARN_ON(cond: Any, what: str = "VM_WARN_ON") -> bool:
    if cond:
        if log.mode:
            report("vm-warn", what, depth=2)
        return True
    return False


def VM_WARN_ON_ONCE(cond: Any, what: str = "VM_WARN_ON_ONCE") -> bool:
    if cond:
        if log.mode and _once(2):
            report("vm-warn", what, depth=2)
        return True
    return False


def VM_WARN_ON_FOLIO(cond: Any, folio: Any, what: str = "VM_WARN_ON_FOLIO") -> bool:
    if cond:
        if log.mode:
            report("vm-warn", _describe(what, folio), depth=2)
        return True
    return False


def VM_WARN_ON_ONCE_FOLIO(cond: Any, folio: Any, what: str = "VM_WARN_ON_ONCE_FOLIO") -> bool:
    if cond:
        if log.mode and _once(2):
            report("vm-warn", _describe(what, folio), depth=2)
        return True
    return False


def _bug(what: str) -> None:
    from swaplab.sim.oops import KernelOops
    report("vm-warn", "BUG: " + what, depth=3)
    raise KernelOops(what)


def VM_BUG_ON(cond: Any, what: str = "VM_BUG_ON") -> bool:
    if cond:
        if log.mode:
            _bug(what)
        return True
    return False


def VM_BUG_ON_FOLIO(cond: Any, folio: Any, what: str = "VM_BUG_ON_FOLIO") -> bool:
    if cond:
        if log.mode:
            _bug(_describe(what, folio))
        return True
    return False


BUG_ON = VM_BUG_ON
