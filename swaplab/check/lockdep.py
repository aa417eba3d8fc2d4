"""A lockdep-like validator, subscribed to the lock API's hooks.

Per task it keeps the stack of held locks (``task.held_locks``) and reports:

* ``lock-recursion``: the holder takes a lock again (both acquisition sites,
  as the kernel's "possible recursive locking detected" splat prints them);
* ``lock-not-held``: ``lockdep_assert_held()`` on a lock the task does not hold;
* ``hang``: a lock held by another task that nobody can release in a
  sequential run (the kernel would spin or sleep forever).

Lock-order checking (the class dependency graph) lives in ``LockOrder`` below.
"""

from __future__ import annotations

import sys
from typing import Any

from swaplab.check.findings import _skip_code, report
from swaplab.kernel import locking
from swaplab.kernel.locking import chain_key, lock_t, task_struct


class Lockdep:
    """The validator installed while checking is on."""

    def __init__(self) -> None:
        self.order = LockOrder()
        # Lock chains already validated, as lockdep's chain-key cache: the
        # classes of the held locks plus the new one.  A chain seen before
        # adds no new dependency, so it is not walked again.
        self.chains: set[int] = set()

    def validate_chain(self, held: list[lock_t], lock: lock_t, task: task_struct,
                       chain: Any) -> None:
        """A chain of held classes not seen before (lockdep's validate_chain()).

        Called by the lock API's acquire with ``held`` non-empty; the chain
        is cached, so the dependency graph is walked once per chain.
        """
        self.chains.add(chain)
        self.order.check(held, lock, task)

    def release(self, lock: lock_t, task: task_struct) -> None:
        """The slow path of an unlock: not the top of the held stack.

        A lock further down the stack is removed and the chain keys above it
        rebuilt; a lock the task does not hold is a ``lock-not-held`` finding.
        """
        held = task.held_locks
        lock.acquire_site = None
        for i in range(len(held) - 1, -1, -1):
            if held[i] is lock:
                del held[i]
                # Rebuild the chain keys above the removed lock.
                for j in range(i, len(held)):
                    held[j].chain_key = chain_key(held[j - 1] if j else None, held[j])
                return
        if lock.owner is None:
            report("lock-not-held", f"unlock of {lock.name}, which is not locked", depth=1)
        elif lock.owner is not task:
            report("lock-not-held", f"unlock of {lock.name} held by {lock.owner}", depth=1)

    def busy(self, lock: lock_t, task: task_struct) -> None:
        site = _site_of(_getframe(1))
        if lock.owner is task:
            report("lock-recursion",
                   f"possible recursive locking detected: {task} is trying to acquire "
                   f"lock {lock.name} at {site} but task is already holding lock "
                   f"{lock.name} at {site_name(lock)} (self-deadlock)", depth=1)
        else:
            report("hang", f"{task} waits forever for {lock.name} held by {lock.owner} "
                   f"(taken at {site_name(lock)})", depth=1)
        # The task never returns from a self-deadlock or an endless wait:
        # end its operation, as the oops ends a task (the run goes on).
        from swaplab.sim.oops import KernelOops
        raise KernelOops(f"{task} deadlocked on {lock.name}")

    def assert_held(self, lock: lock_t, task: task_struct) -> None:
        report("lock-not-held", f"lockdep_assert_held({lock.name}) failed: "
               + (f"held by {lock.owner}" if lock.owner else "not locked"), depth=1)


_getframe = sys._getframe


def _site_of(frame: Any) -> str:
    """The function a lock was taken in, as a splat names it.

    Walks out past the lock API and this validator (their frames exist only
    when swaplab/kernel/locking.py runs uncompiled) and past
    ``__always_inline`` helpers, as the kernel's acquire_ip is the caller
    the inline chain was inlined into.
    """
    while frame is not None and (frame.f_code in _skip_code
                                 or frame.f_globals.get("__name__") in _LOCK_MODULES):
        frame = frame.f_back
    return frame.f_code.co_name if frame is not None else "?"


_LOCK_MODULES = frozenset({"swaplab.kernel.locking", __name__})


def site_name(lock: lock_t) -> str:
    """The function that took ``lock`` (its acquisition frame, kept by acquire())."""
    return _site_of(lock.acquire_site)


class LockOrder:
    """Class dependency graph: an edge A -> B when B is taken while A is held."""

    def __init__(self) -> None:
        self.edges: dict[str, set[str]] = {}

    def check(self, held: list[lock_t], lock: lock_t, task: task_struct) -> None:
        new = lock.key.name
        for h in held:
            a = h.key.name
            if a == new:
                continue          # same class: recursion or _nested, handled elsewhere
            succ = self.edges.setdefault(a, set())
            if new in succ:
                continue
            if self._reaches(new, a):
                report("lock-order", f"possible circular locking dependency: {task} "
                       f"takes {new} while holding {a}, but {a} was taken while "
                       f"holding {new} before", depth=1)
            succ.add(new)

    def _reaches(self, src: str, dst: str) -> bool:
        seen = {src}
        stack = [src]
        while stack:
            n = stack.pop()
            if n == dst:
                return True
            for m in sorted(self.edges.get(n, ())):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return False


def install(on: bool) -> None:
    locking.install_lock_hooks(Lockdep() if on else None)
