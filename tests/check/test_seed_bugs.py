"""Spec §6: the three bugs of the review thread, one example program per bug and device layout.

Each example runs on ``v5`` (patch 14 as posted) and gives exactly the findings
the spec predicts -- kind, function, slot -- and on ``mainline`` (T14F) and
``legacy`` (T13) none.  Slot pictures (H header, 1 count 1, . free):

    6.1 ssd         H1.. 512:1 1024:1   three one-slot extents: all leak
    6.1 rotational  H1..                one extent [1, 1]: leaks
    6.2 rotational  H111                extent [1, 3]: slot 1 freed, recursion, 2 and 3 leak
    6.2 ssd         H1.. 512:1          two one-slot extents: no free call, both leak
    6.3             a KSM slot, swapoff maps a copy: the put misses the slot, swapoff hangs
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.check.diff import diff_program
from swaplab.program import load_program, run_program, using_variant

BUGS = Path(__file__).resolve().parents[2] / "examples" / "bugs"

# (kind, function, slot) of every finding v5 gives, in report order.
V5_FINDINGS: dict[str, list[tuple[str, str, tuple[int, int] | None]]] = {
    "hib_leak_ssd": [("swap-leak", "snapshot_release", (0, 1)),
                     ("swap-leak", "snapshot_release", (0, 512)),
                     ("swap-leak", "snapshot_release", (0, 1024))],
    "hib_leak_rotational": [("swap-leak", "snapshot_release", (0, 1))],
    "hib_recursion_rotational": [("lock-recursion", "swap_entry_swapped", (0, 1)),
                                 ("swap-leak", "snapshot_release", (0, 2)),
                                 ("swap-leak", "snapshot_release", (0, 3))],
    "hib_recursion_ssd": [("swap-leak", "snapshot_ioctl", (0, 1)),
                          ("swap-leak", "snapshot_ioctl", (0, 512))],
    "ksm_swapoff_ssd": [("vm-warn", "folio_put_swap", (0, 1)),
                        ("hang", "try_to_unuse", (0, 1)),
                        ("count-mismatch", "sys_swapoff", (0, 1))],
    "ksm_swapoff_rotational": [("vm-warn", "folio_put_swap", (0, 1)),
                               ("vm-warn", "folio_put_swap", (0, 1)),
                               ("hang", "try_to_unuse", (0, 1)),
                               ("count-mismatch", "sys_swapoff", (0, 1))],
}
HIBERNATION = [name for name in V5_FINDINGS if name.startswith("hib_")]


def run(name: str, variant: str) -> dict:
    program = load_program(str(BUGS / f"{name}.swp"))
    with using_variant(variant) as ran:
        result = run_program(program, variant=ran)
    assert result["unmet"] == [], result["unmet"]
    return result


def test_one_example_per_bug_and_layout() -> None:
    assert sorted(p.stem for p in BUGS.glob("*.swp")) == sorted(V5_FINDINGS)


@pytest.mark.parametrize("name", sorted(V5_FINDINGS))
def test_v5_gives_the_findings_the_spec_predicts(name: str) -> None:
    result = run(name, "v5")
    got = [(f["kind"], f["function"], tuple(f["entry"]) if f["entry"] else None)
           for f in result["findings"]]
    assert got == V5_FINDINGS[name]


@pytest.mark.parametrize("variant", ["mainline", "legacy"])
@pytest.mark.parametrize("name", sorted(V5_FINDINGS))
def test_fixed_and_old_api_give_no_finding(name: str, variant: str) -> None:
    result = run(name, variant)
    assert result["findings"] == [] and result["oopses"] == []
    assert all(row["used_kb"] == 0 for row in result["swaps"]) or name.startswith("ksm")


def test_v5_rotational_recursion_frees_slot_1_only() -> None:
    # §6.2: the slot being freed when the task deadlocks is already free; 2, 3 stay count 1.
    result = run("hib_recursion_rotational", "v5")
    assert [row["used_kb"] for row in result["swaps"]] == [8]
    [oops] = result["oopses"]
    assert "deadlocked" in oops["message"]
    [rec] = [f for f in result["findings"] if f["kind"] == "lock-recursion"]
    assert rec["backtrace"][:4] == ["swap_entry_swapped", "swap_free_hibernation_slot",
                                    "free_all_swap_pages", "snapshot_release"]


@pytest.mark.parametrize("name", ["ksm_swapoff_ssd", "ksm_swapoff_rotational"])
def test_v5_ksm_swapoff_fails_with_eintr(name: str) -> None:
    # §6.3: the slot is never decremented; swapoff loops until a signal -> EINTR, device stays.
    v5 = run(name, "v5")
    assert [row["used_kb"] for row in v5["swaps"]] == [4]
    mainline = run(name, "mainline")
    assert mainline["swaps"] == []
    out = diff_program(load_program(str(BUGS / f"{name}.swp")), ("v5", "mainline"))
    [d] = out.divergences
    assert (d["statement"], d["what"], d["a"], d["b"]) == ("swapoff vda", "rc", -4, 0)


@pytest.mark.parametrize("name", HIBERNATION)
def test_v5_diverges_from_mainline_on_the_hibernation_programs(name: str) -> None:
    out = diff_program(load_program(str(BUGS / f"{name}.swp")), ("v5", "mainline"))
    [d] = out.divergences
    assert d["kind"] == "divergence" and d["what"] in ("slot", "oops")
    assert d["statement"].startswith("s snapshot")
