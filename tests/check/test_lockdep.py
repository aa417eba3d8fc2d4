"""The lockdep-like validator: recursion, order inversion across tasks, not-held, nesting."""

from __future__ import annotations

import pytest

from swaplab.check import findings
from swaplab.sim.oops import KernelOops
from swaplab.kernel.locking import (lockdep_assert_held, mutex, set_current, spin_lock,
                                    spin_lock_nested, spin_unlock, spinlock_t, task_struct)


def test_order_inversion_across_tasks_and_time(kernel):
    a, b = spinlock_t("lock_A"), spinlock_t("lock_B")
    t1, t2 = task_struct(10, "t1"), task_struct(11, "t2")
    set_current(t1)
    spin_lock(a)
    spin_lock(b)
    spin_unlock(b)
    spin_unlock(a)
    assert kernel.findings == []
    set_current(t2)                      # later, another task, the other order
    spin_lock(b)
    spin_lock(a)
    spin_unlock(a)
    spin_unlock(b)
    [f] = kernel.findings
    assert f.kind == "lock-order" and "lock_A" in f.message and "lock_B" in f.message


def test_same_class_nested_is_not_an_inversion(kernel):
    a1, a2 = spinlock_t("&cluster_info[i].lock"), spinlock_t("&cluster_info[i].lock")
    spin_lock(a1)
    spin_lock_nested(a2, 1)
    spin_unlock(a2)
    spin_unlock(a1)
    assert kernel.findings == []


def test_recursion_reports_both_sites(kernel):
    m = mutex("system_transition_mutex")
    def outer():
        spin_lock(m)
        inner()
        spin_unlock(m)
    def inner():
        spin_lock(m)
        spin_unlock(m)
    with pytest.raises(KernelOops):
        outer()
    [f] = kernel.findings
    assert f.kind == "lock-recursion"
    assert "at inner" in f.message and "at outer" in f.message


def test_assert_held(kernel):
    lock = spinlock_t("some_lock")
    lockdep_assert_held(lock)
    spin_lock(lock)
    lockdep_assert_held(lock)
    spin_unlock(lock)
    assert [f.kind for f in kernel.findings] == ["lock-not-held"]


def test_held_by_other_task_is_a_hang(kernel):
    lock = spinlock_t("x")
    set_current(task_struct(20, "holder"))
    spin_lock(lock)
    set_current(task_struct(21, "waiter"))
    with pytest.raises(KernelOops):
        spin_lock(lock)
    assert [f.kind for f in findings.log.findings] == ["hang"]


def test_out_of_order_unlock_rebuilds_the_chain_above(kernel):
    # Take A, B, C; drop B first.  C's chain key is then A -> C's, so a lock
    # taken on top is validated as the chain A, C, D -- the chain lockdep
    # would look up -- and not as A, B, C, D.
    from swaplab.kernel import locking
    from swaplab.kernel.locking import chain_key, get_current
    a, b, c, d = (spinlock_t(f"lock_{n}") for n in "ABCD")
    for lock in (a, b, c):
        spin_lock(lock)
    spin_unlock(b)
    assert get_current().held_locks == [a, c]
    assert c.chain_key == chain_key(a, c) != chain_key(b, c)
    spin_lock(d)
    assert d.chain_key == chain_key(c, d)
    assert chain_key(c, d) in locking._lock_chains
    assert chain_key(a, d) not in locking._lock_chains
    for lock in (d, c, a):
        spin_unlock(lock)
    assert get_current().held_locks == [] and kernel.findings == []
