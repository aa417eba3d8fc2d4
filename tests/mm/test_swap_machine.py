"""Hypothesis state machine over the swap API.

Random sequences of the calls the mm callers make -- allocate for a folio,
dup/put per page, free the swap cache, drop a folio from the cache with
its count kept (reclaim), swap a slot back in, direct dup/put (fork/zap),
hibernation slots -- with the test holding the references.  After every
step: each slot's count equals the references the test holds, the cache bit
matches the folios the test knows are cached, and the cluster counts, lists
and inuse_pages agree (check_swap_invariants); no finding was raised.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from swaplab.check import findings
from swaplab.check.invariants import check_swap_invariants
from swaplab.include.linux.swap import SWAP_HAS_CACHE
from swaplab.include.linux.swapops import swp_entry, swp_offset, swp_type
from swaplab.kernel.custom import inject_fault, register_backing, swap_backing
from swaplab.kernel.dup import folio, folio_lock, folio_unlock
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_info
from swaplab.mm.swap_state import swap_cache_add_folio, swap_cache_del_folio
from swaplab.sim.system import boot


class SwapAPIMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        boot(checks=findings.RECORD)
        register_backing(swap_backing("/dev/ssd", 2 << 20, "ssd"))        # 511 slots
        register_backing(swap_backing("/dev/hdd", 2 << 20, "rotational"))
        assert swapfile.sys_swapon("/dev/ssd", 0) == 0
        assert swapfile.sys_swapon("/dev/hdd", 0) == 0
        self.refs: dict[int, int] = {}          # entry -> references the test holds
        self.cached: dict[int, folio] = {}      # first entry -> folio in the swap cache
        self.hib: list[int] = []                # hibernation slots
        self.atomic_armed = False

    # --- helpers -------------------------------------------------------------
    def entries_of(self, f: folio) -> list[int]:
        """The entries a cached folio covers (recorded: folio.swap is 0 once it leaves)."""
        first = next(k for k, g in self.cached.items() if g is f)
        return [first + i for i in range(1 << f.order)]

    def referenced(self) -> list[int]:
        return sorted(e for e, n in self.refs.items() if n > 0)

    def uncached_referenced(self) -> list[int]:
        covered = {e for f in self.cached.values() for e in self.entries_of(f)}
        return [e for e in self.referenced() if e not in covered and e not in self.hib]

    # --- rules ---------------------------------------------------------------
    @rule(order=st.sampled_from([0, 0, 0, 1, 2, 4]))
    def alloc(self, order: int) -> None:
        f = folio(order)
        folio_lock(f)
        rc = swapfile.folio_alloc_swap(f)
        folio_unlock(f)
        if rc == 0:
            assert swp_offset(f.swap) % (1 << order) == 0
            self.cached[f.swap] = f
            for e in self.entries_of(f):
                assert self.refs.get(e, 0) == 0
                self.refs[e] = 0
        else:
            assert rc == -12 and not f.PG_swapcache

    @precondition(lambda self: self.cached)
    @rule(data=st.data(), times=st.integers(1, 3))
    def dup_page(self, data: st.DataObject, times: int) -> None:
        f = self.cached[data.draw(st.sampled_from(sorted(self.cached)))]
        i = data.draw(st.integers(0, (1 << f.order) - 1))
        folio_lock(f)
        for _ in range(times):
            if self.dup_failed(swapfile.folio_dup_swap(f, f.pages[i])):
                break
            self.refs[f.swap + i] += 1
        folio_unlock(f)

    @precondition(lambda self: self.cached)
    @rule(data=st.data())
    def dup_folio(self, data: st.DataObject) -> None:
        f = self.cached[data.draw(st.sampled_from(sorted(self.cached)))]
        if any(self.refs[e] for e in self.entries_of(f)):
            return                               # shmem dups a fresh folio once only
        folio_lock(f)
        assert swapfile.folio_dup_swap(f, None) == 0
        folio_unlock(f)
        for e in self.entries_of(f):
            self.refs[e] += 1

    @precondition(lambda self: any(self.refs.get(e) for f in self.cached.values()
                                   for e in self.entries_of(f)))
    @rule(data=st.data())
    def put_page(self, data: st.DataObject) -> None:
        choices = sorted((k, i) for k, f in self.cached.items()
                         for i, e in enumerate(self.entries_of(f)) if self.refs.get(e))
        k, i = data.draw(st.sampled_from(choices))
        f = self.cached[k]
        folio_lock(f)
        swapfile.folio_put_swap(f, f.pages[i])
        folio_unlock(f)
        self.refs[f.swap + i] -= 1

    @precondition(lambda self: self.cached)
    @rule(data=st.data())
    def free_swap(self, data: st.DataObject) -> None:
        k = data.draw(st.sampled_from(sorted(self.cached)))
        f = self.cached[k]
        entries = self.entries_of(f)
        expect = not any(self.refs[e] for e in entries)
        folio_lock(f)
        assert swapfile.folio_free_swap(f) == expect
        folio_unlock(f)
        if expect:
            del self.cached[k]
            for e in entries:
                del self.refs[e]

    @precondition(lambda self: self.cached)
    @rule(data=st.data())
    def reclaim(self, data: st.DataObject) -> None:
        """__remove_mapping: the folio leaves the cache, counts stay."""
        k = data.draw(st.sampled_from(sorted(self.cached)))
        entries = self.entries_of(self.cached[k])
        f = self.cached.pop(k)
        folio_lock(f)
        swap_cache_del_folio(f)
        folio_unlock(f)
        for e in entries:
            if not self.refs[e]:
                del self.refs[e]

    @precondition(lambda self: self.uncached_referenced())
    @rule(data=st.data())
    def swapin(self, data: st.DataObject) -> None:
        e = data.draw(st.sampled_from(self.uncached_referenced()))
        f = folio(0)
        folio_lock(f)
        assert swap_cache_add_folio(f, e, None, False) == 0
        folio_unlock(f)
        self.cached[e] = f

    @precondition(lambda self: [e for e in self.referenced() if e not in self.hib])
    @rule(data=st.data(), times=st.integers(1, 70))
    def direct_dup(self, data: st.DataObject, times: int) -> None:
        e = data.draw(st.sampled_from([e for e in self.referenced() if e not in self.hib]))
        for _ in range(times):
            if self.dup_failed(swapfile.swap_dup_entry_direct(e)):
                break
            self.refs[e] += 1

    @precondition(lambda self: [e for e in self.referenced() if e not in self.hib])
    @rule(data=st.data())
    def direct_put(self, data: st.DataObject) -> None:
        e = data.draw(st.sampled_from([e for e in self.referenced() if e not in self.hib]))
        swapfile.swap_put_entries_direct(e, 1)
        self.refs[e] -= 1
        self._reclaim_unmapped(e)

    def _reclaim_unmapped(self, e: int) -> None:
        """The direct put reclaims an unmapped, unlocked cache folio whose slots are all unused."""
        for k, f in list(self.cached.items()):
            if k <= e < k + (1 << f.order):
                entries = self.entries_of(f)
                if not any(self.refs[x] for x in entries):
                    assert not f.PG_swapcache
                    del self.cached[k]
                    for x in entries:
                        del self.refs[x]
                return
        if not self.refs[e]:
            del self.refs[e]

    @rule(type=st.sampled_from([0, 1]))
    def hib_alloc(self, type: int) -> None:
        e = swapfile.swap_alloc_hibernation_slot(type)
        if e:
            assert swp_type(e) == type and self.refs.get(e, 0) == 0
            self.refs[e] = 1
            self.hib.append(e)

    @precondition(lambda self: self.hib)
    @rule(data=st.data())
    def hib_free(self, data: st.DataObject) -> None:
        e = data.draw(st.sampled_from(self.hib))
        self.hib.remove(e)
        swapfile.swap_free_hibernation_slot(e)
        del self.refs[e]

    @rule()
    def atomic_alloc_fails_once(self) -> None:
        inject_fault("page_alloc_atomic", times=1)
        self.atomic_armed = True

    def dup_failed(self, rc: int) -> bool:
        """A dup may fail only with -ENOMEM, and only when a continuation page was refused."""
        if rc == 0:
            return False
        assert rc == -12 and self.atomic_armed, rc
        self.atomic_armed = False
        return True

    # --- invariants ----------------------------------------------------------
    @invariant()
    def counts_match_references(self) -> None:
        for si in swap_info:
            if si is None or si.swap_map is None:
                continue
            for off in range(1, si.max):
                e = swp_entry(si.type, off)
                ent = si.swap_map[off]
                count = swapfile.swap_map_count(si, off)
                assert count == self.refs.get(e, 0), (e, count, self.refs.get(e))
                cached = any(k <= e < k + (1 << f.order) for k, f in self.cached.items())
                assert bool(ent & SWAP_HAS_CACHE) == cached, (off, ent)
                if e not in self.refs:
                    assert ent == 0

    @invariant()
    def structures_agree(self) -> None:
        assert check_swap_invariants() == []

    @invariant()
    def no_findings(self) -> None:
        assert findings.log.findings == [], findings.log.findings

    def teardown(self) -> None:
        # Drop everything: every device must end up empty.
        for k, f in list(self.cached.items()):
            folio_lock(f)
            for i, e in enumerate(self.entries_of(f)):  # noqa: B007
                while self.refs.get(e):
                    swapfile.folio_put_swap(f, f.pages[i])
                    self.refs[e] -= 1
            assert swapfile.folio_free_swap(f)
            folio_unlock(f)
        for e in list(self.hib):
            swapfile.swap_free_hibernation_slot(e)
            self.refs.pop(e)
        for e, n in list(self.refs.items()):
            for _ in range(n):
                swapfile.swap_put_entries_direct(e, 1)
        for si in swap_info:
            if si is not None and si.swap_map is not None:
                assert swapfile.swap_usage_in_pages(si) == 0
        assert check_swap_invariants() == []
        assert findings.log.findings == []


TestSwapAPI = SwapAPIMachine.TestCase
TestSwapAPI.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
