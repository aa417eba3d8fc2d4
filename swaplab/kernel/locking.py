"""The one lock API of the model (harness: kernel/locking, include/linux/spinlock.h).

Every lock the modeled code takes -- cluster locks, ``si->lock``,
``swap_lock``, the folio lock, page-table locks, mutexes -- is an object of
:class:`lock_t` taken and released through the functions below.  They do
three things:

* keep the owner, so ``spin_trylock`` fails on a held lock and
  ``lockdep_assert_held`` can be answered;
* call the installed validator (``swaplab.check.lockdep``), if checking is
  on, on every acquire and release: recursion, order and not-held rules are
  its business, not the modeled code's;
* give the interleaving explorer its switch points: a contended lock and
  ``cond_resched()`` call the installed scheduler hook.

Sequentially, with checking off, a lock is one attribute test and one store.

Design note: a lock taken again by its holder is a self-deadlock in the
kernel.  The model cannot spin forever, so the validator records a
``lock-recursion`` finding (the lockdep splat) and the acquisition goes on
as if it had succeeded; in strict mode the finding raises instead.
"""

from __future__ import annotations

import sys
from typing import Any, Final, Protocol


class task_struct:
    """struct task_struct, as far as locks and CPUs need it."""

    __slots__ = ("pid", "comm", "cpu", "held_locks", "pending_signal", "mm",
                 "files", "__weakref__")

    def __init__(self, pid: int, comm: str, cpu: int = 0) -> None:
        self.pid = pid
        self.comm = comm
        self.cpu = cpu
        self.held_locks: list[lock_t] = []     # lockdep's per-task held-lock stack
        self.pending_signal = False
        self.mm: Any = None
        self.files: list[Any] = []

    def __repr__(self) -> str:
        return f"{self.comm}/{self.pid}"


# Lock classes are numbered from 1 as they are registered; a chain of held
# classes is keyed by their numbers packed LOCK_CLASS_BITS apart (lockdep's
# iterate_chain_key(), exact instead of hashed).
LOCK_CLASS_BITS = 12
_nr_lock_classes = 0


class lock_class_key:
    """A lockdep class: every lock of one kind (all cluster locks) shares one."""

    __slots__ = ("name", "sleeping", "chain_id")

    def __init__(self, name: str, sleeping: bool = False) -> None:
        global _nr_lock_classes
        _nr_lock_classes += 1
        if _nr_lock_classes >= 1 << LOCK_CLASS_BITS:
            raise RuntimeError(f"swaplab: more than {(1 << LOCK_CLASS_BITS) - 1} lock classes")
        self.name = name
        self.sleeping = sleeping
        self.chain_id = _nr_lock_classes

    def __repr__(self) -> str:
        return self.name


class lock_t:
    """A lock: spinlock_t, struct mutex, a folio's PG_locked bit, a local_lock_t."""

    __slots__ = ("owner", "key", "name", "acquire_site", "chain_key", "subclass", "irq", "nest")

    def __init__(self, key: lock_class_key, name: str | None = None) -> None:
        self.owner: task_struct | None = None
        self.nest = 0           # re-acquisitions by the holder (a self-deadlock in C)
        self.key = key
        self.name = name or key.name
        self.acquire_site: Any = None      # the acquiring frame (lockdep only)
        self.chain_key = 0                 # key of the held chain up to this lock (lockdep only)
        self.subclass = 0
        self.irq = False

    def __repr__(self) -> str:
        return f"<{self.name} held by {self.owner}>" if self.owner else f"<{self.name}>"


_spinlock_keys: dict[str, lock_class_key] = {}


def _key(name: str, sleeping: bool) -> lock_class_key:
    key = _spinlock_keys.get(name)
    if key is None:
        key = _spinlock_keys[name] = lock_class_key(name, sleeping)
    return key


def spinlock_t(name: str) -> lock_t:
    """``spin_lock_init()``: the lockdep class is the name, as with the kernel's static key."""
    return lock_t(_key(name, False), name)


def mutex(name: str) -> lock_t:
    """``DEFINE_MUTEX()`` / ``mutex_init()``."""
    return lock_t(_key(name, True), name)


class LockHooks(Protocol):
    """What a lock validator implements (see swaplab.check.lockdep).

    The lock API itself keeps each task's held-lock stack and its chain keys,
    as the kernel's lock_acquire()/lock_release() do; the validator is called
    only where lockdep would do real work: a chain of held lock classes not
    seen before (``validate_chain``), a lock that is already owned, an
    unlock that is not at the top of the stack, a failed assertion.
    """

    chains: set[Any]      # the chain-key cache: chains already validated

    def validate_chain(self, held: list[lock_t], lock: lock_t, task: task_struct,
                       chain: Any) -> None: ...
    def release(self, lock: lock_t, task: task_struct) -> None: ...
    def busy(self, lock: lock_t, task: task_struct) -> None: ...
    def assert_held(self, lock: lock_t, task: task_struct) -> None: ...


class SchedHooks(Protocol):
    """What an interleaving explorer implements: the switch points."""

    def wait_for_lock(self, lock: lock_t, task: task_struct) -> bool: ...
    def cond_resched(self, task: task_struct) -> None: ...


# The running task, the installed validator and scheduler.  Set through
# set_current(), install_lock_hooks() and install_sched_hooks() only.
_current: task_struct = task_struct(1, "swaplab")
_hooks: LockHooks | None = None
# The validator's chain-key cache, bound once at install (the hot path).
_lock_chains: set[Any] = set()
_sched: SchedHooks | None = None
_getframe = sys._getframe


def get_current() -> task_struct:
    """``current``."""
    return _current


def set_current(task: task_struct) -> None:
    global _current
    _current = task


def install_lock_hooks(hooks: LockHooks | None) -> None:
    global _hooks, _lock_chains
    _hooks = hooks
    _lock_chains = hooks.chains if hooks is not None else set()


def install_sched_hooks(hooks: SchedHooks | None) -> None:
    global _sched
    _sched = hooks


def smp_processor_id() -> int:
    return _current.cpu


def _busy(lock: lock_t) -> None:
    """Slow path of an acquire: the lock has an owner.

    The holder taking it again would deadlock; the model counts the
    re-acquisition so that the matching unlock leaves the lock held.
    """
    task = _current
    if lock.owner is not task and _sched is not None:
        if _sched.wait_for_lock(lock, task):
            return
    if lock.owner is task:
        lock.nest += 1
    if _hooks is not None:
        _hooks.busy(lock, task)


def chain_key(below: lock_t | None, lock: lock_t) -> int:
    """The key of the held chain when ``lock`` is taken on top of ``below`` (None: first).

    lockdep's iterate_chain_key(): the held classes' numbers packed
    LOCK_CLASS_BITS apart.  spin_lock() writes it out (the hot path).
    """
    if below is None:
        return lock.key.chain_id
    return below.chain_key << LOCK_CLASS_BITS | lock.key.chain_id


def spin_lock(lock: lock_t) -> None:
    if lock.owner is not None:
        _busy(lock)
    task = lock.owner = _current
    if _hooks is not None:
        # lock_acquire(): push the lock and the key of the chain of held
        # classes; only a chain not seen before is validated.  The caller's
        # frame is the acquisition site a splat prints (acquire_ip).
        lock.acquire_site = _getframe(_CALLER)
        held = task.held_locks
        if held:
            chain = held[-1].chain_key << LOCK_CLASS_BITS | lock.key.chain_id
            if chain not in _lock_chains:
                _hooks.validate_chain(held, lock, task, chain)
        else:
            chain = lock.key.chain_id
        lock.chain_key = chain
        held.append(lock)


_acquire = spin_lock        # the one acquire body: mutexes, local locks, folio locks


def spin_lock_nested(lock: lock_t, subclass: int) -> None:
    """Take a second lock of a class already held (lockdep ``_nested`` annotation)."""
    lock.subclass = subclass
    spin_lock(lock)


def spin_unlock(lock: lock_t) -> None:
    if lock.nest:
        # The unlock of a re-acquisition: the first acquisition still holds it.
        lock.nest -= 1
        return
    if _hooks is not None:
        # lock_release(): the common case pops the top of the held stack.
        held = _current.held_locks
        if held and held[-1] is lock:
            held.pop()
            lock.acquire_site = None
        else:
            _hooks.release(lock, _current)
    lock.subclass = 0
    lock.owner = None


_release = spin_unlock      # the one release body


def spin_trylock(lock: lock_t) -> bool:
    """Take ``lock`` if it is free; a trylock cannot deadlock, so it adds no dependency.

    Return: True if taken.
    """
    if lock.owner is not None:
        return False
    task = lock.owner = _current
    if _hooks is not None:
        lock.acquire_site = _getframe(_CALLER)
        held = task.held_locks
        lock.chain_key = chain_key(held[-1] if held else None, lock)
        held.append(lock)
    return True


def spin_lock_irq(lock: lock_t) -> None:
    spin_lock(lock)
    lock.irq = True


def spin_unlock_irq(lock: lock_t) -> None:
    lock.irq = False
    spin_unlock(lock)


mutex_lock = _acquire
mutex_unlock = _release
mutex_trylock = spin_trylock
local_lock = _acquire
local_unlock = _release


def lockdep_assert_held(lock: lock_t) -> None:
    """Assert that the current task holds ``lock`` (a ``lock-not-held`` finding if not)."""
    if _hooks is not None and lock.owner is not _current:
        _hooks.assert_held(lock, _current)


def spin_is_locked(lock: lock_t) -> bool:
    return lock.owner is not None


def release_all_held(task: task_struct) -> list[lock_t]:
    """After an oops ended ``task``'s operation: drop every lock it still holds.

    A real oops leaves them held (and the machine soon hangs); the model
    releases them so that the run can go on to show what else is wrong.
    Return: the locks that were released.
    """
    held = list(task.held_locks)
    if _hooks is None:
        import gc
        held = [o for o in gc.get_objects() if type(o) is lock_t and o.owner is task]
    for lock in held:
        lock.nest = 0
        lock.owner = None
        lock.acquire_site = None
    task.held_locks.clear()
    return held


def cond_resched() -> None:
    """A preemption point: the explorer may switch tasks here."""
    if _sched is not None:
        _sched.cond_resched(_current)


# The frame of a lock function's caller: _getframe(1) from the lock function,
# or _getframe(0) when this module is compiled (tools/build_compiled.py
# --checks), as a native function has no frame of its own.
_CALLER: Final = 1 if hasattr(spin_lock, "__code__") else 0
