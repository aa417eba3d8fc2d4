"""The patch's claim "This commit should not introduce any behavior change": legacy (T13)
and mainline (T14F) run the same scenario in lock step and agree on every slot after every step.
"""

from __future__ import annotations

from typing import Any

import pytest

from swaplab.check import findings
from swaplab.kernel.dup import folio_lock, folio_unlock
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_info
from swaplab.mm.swap_state import swap_cache_get_folio
from swaplab.sim.world import World
from swaplab.variants import using

MB = 1 << 20
NPAGES = 16


def observe(w: World) -> dict[str, Any]:
    """Everything the two variants must agree on (spec §4.3: all of it, in these scenarios)."""
    devs = []
    for si in swap_info:
        if si is None or si.swap_map is None:
            continue
        devs.append({"map": bytes(si.swap_map),
                     "cont": {k: [bytes(level) for level in v] for k, v in si.swap_map_cont.items()},
                     "inuse": swapfile.swap_usage_in_pages(si),
                     "clusters": [(ci.count, ci.flags) for ci in si.cluster_info]})
    return {"devs": devs, "swaps": swapfile.swap_show_rows(), "counters": w.counters(),
            "pages": {name: w.page_states(p) for name, p in sorted(w.processes.items())},
            "nr_swap_pages": swapfile.get_nr_swap_pages()}


def scenario(kind: str) -> list[tuple[str, dict[str, Any]]]:
    w = World()
    w.add_device("/dev/vda", 16 * MB, kind)
    parent = w.main
    steps: list[tuple[str, Any]] = [
        ("swapon", lambda: w.swapon(parent, "/dev/vda", None)),
        ("map", lambda: w.map(parent, NPAGES)),
        ("write", lambda: w.write(parent, 0, NPAGES)),
        ("pageout", lambda: w.madvise(parent, 0, NPAGES, "pageout")),
        ("fork", lambda: w.fork(parent, "child")),
        ("child read", lambda: w.read(w.processes["child"], 0, NPAGES // 2)),
        ("child pageout", lambda: w.madvise(w.processes["child"], 0, NPAGES, "pageout")),
        ("parent write", lambda: w.write(parent, NPAGES // 4, NPAGES // 2)),
        ("child exit", lambda: w.exit(w.processes["child"])),
        ("parent read", lambda: w.read(parent, 0, NPAGES)),
        ("parent pageout", lambda: w.madvise(parent, 0, NPAGES, "pageout")),
        ("dontneed", lambda: w.madvise(parent, 0, 2, "dontneed")),
        ("free", lambda: w.madvise(parent, 2, 4, "free")),
        ("swapoff", lambda: w.swapoff(parent, "/dev/vda")),
    ]
    out = []
    for label, step in steps:
        ret = step()
        out.append((label, {"ret": ret if isinstance(ret, (int, tuple)) else None, **observe(w)}))
    assert findings.log.findings == [], findings.log.findings
    return out


@pytest.mark.parametrize("kind", ["rotational", "ssd", "sync"])
def test_legacy_and_mainline_agree_after_every_step(kind):
    mainline = scenario(kind)
    with using("legacy"):
        legacy = scenario(kind)
    for (label, m), (_, lg) in zip(mainline, legacy):
        assert lg == m, f"{kind}: legacy and mainline differ after {label!r}"
    # The scenario did swap: something was paged out and the device is gone at the end.
    assert mainline[3][1]["counters"]["pswpout"] == NPAGES
    assert mainline[-1][1]["ret"] == 0 and mainline[-1][1]["devs"] == []


def ksm_swapoff() -> tuple[int, list[str]]:
    """Spec §10.3 S9: a KSM page (stable node gone) in the swap cache, then swapoff."""
    w = World()
    w.add_device("/dev/vda", 16 * MB, "ssd")
    p = w.main
    assert w.swapon(p, "/dev/vda", None) == 0
    w.map(p, 1)
    w.write(p, 0, 1)
    w.madvise(p, 0, 1, "pageout")
    [entry] = [e for e in w.page_states(p)[1] if e is not None]
    f = swap_cache_get_folio(swapfile.swp_entry(*entry))
    assert f is not None
    folio_lock(f)
    f.PG_ksm = True                 # KSM page whose stable node is gone (ksm run=2)
    folio_unlock(f)
    ret = w.swapoff(p, "/dev/vda")
    return ret, sorted({fd.kind for fd in findings.log.findings})


@pytest.mark.parametrize("variant", ["mainline", "legacy"])
def test_s9_ksm_copy_swapoff_succeeds(variant):
    with using(variant):
        assert ksm_swapoff() == (0, [])


def test_s9_v5_ksm_copy_swapoff_leaks_and_fails():
    with using("v5"):
        ret, kinds = ksm_swapoff()
    assert ret == -4                                    # EINTR: try_to_unuse never gets there
    assert "vm-warn" in kinds and "hang" in kinds       # folio_put_swap on the copy; no progress
