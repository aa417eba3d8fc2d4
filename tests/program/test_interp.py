"""Tests of swaplab.program.interp: steps, expectations, findings, oopses, unsupported ops."""

from __future__ import annotations

import pytest

from swaplab.check import findings
from swaplab.errors import InvalidScenario
from swaplab.program import exit_status, parse_program, run_program, using_variant
from swaplab.sim.world import World

BASE = """\
device ram0 1M sync
swapon ram0
process p
p map 4
p write
p pageout 0..2
"""


def run(text: str, **kw):  # type: ignore[no-untyped-def]
    return run_program(parse_program(BASE + text, "t.swp"), **kw)


def test_result_shape() -> None:
    r = run("expect pages p S2P2\n")
    assert r["variant"] == "mainline" and r["steps"] == 7 and r["program"] == "t.swp"
    assert r["findings"] == [] and r["unmet"] == [] and len(r["expects"]) == 1
    assert r["swaps"] == [{"name": "/dev/ram0", "type": "partition", "size_kb": 1020,
                           "used_kb": 8, "priority": -1}]
    v = r["vmstat"]
    assert v["pswpout"] == 2 and v["pswpin"] == 0 and v["ksm_swpin_copy"] == 0
    assert set(v["swpout"]) == set(v["swpout_fallback"]) and "1" in v["swpout"]
    assert exit_status(r) == 0


@pytest.mark.parametrize("expect,met,detail", [
    ("expect slot ram0:1 count=1", True, "count=1"),
    ("expect slot ram0:1 count=1 cached", False, "count=1"),
    ("expect slot 0:3 count=0", True, "count=0"),
    ("expect slot ram0:999 count=0", False, "offset 999 is past the end (256 slots)"),
    ("expect used ram0=8", True, "used 8 kB"),
    ("expect used ram0=4", False, "used 8 kB"),
    ("expect vmstat pswpout=2", True, "pswpout is 2"),
    ("expect vmstat swpout.2=0", True, "swpout.2 is 0"),
    ("expect pages p S2P2", True, "pages S2P2"),
    ("expect pages p P4", False, "pages S2P2"),
    ("expect no findings", True, "0 findings: "),
    ("expect finding crash", False, "no such finding; findings: none"),
    ("expect rc 0", True, "rc 0"),
    ("expect rc EINVAL", False, "rc 0"),
])
def test_expectations(expect: str, met: bool, detail: str) -> None:
    r = run(expect + "\n")
    e = r["expects"][0]
    assert (e["met"], e["detail"], e["line"], e["step"]) == (met, detail, 7, 7)
    assert exit_status(r) == (0 if met else 1)
    assert r["unmet"] == ([] if met else [e])


def test_rc_of_swapoff_and_signal() -> None:
    r = run("p fork c\nfault signal c\nc swapoff ram0\nexpect rc EINTR\nswapoff ram0\n"
            "expect rc 0\nswapoff ram0\nexpect rc EINVAL\nexpect pages c P4\n")
    assert r["unmet"] == []


def test_failed_fork_is_an_rc() -> None:
    """A fork that fails (no continuation page) is the statement's rc; the child never exists."""
    forks = "".join(f"p{i} fork p{i + 1}\n" for i in range(61))
    r = run_program(parse_program(
        "device ram0 1M sync\nswapon ram0\nprocess p0\np0 map 1\np0 write\np0 pageout\n"
        + forks + "fault cont_alloc times=2\np61 fork x\nexpect rc ENOMEM\n"
        "expect slot ram0:1 count=62\n", "t.swp"))
    assert r["unmet"] == [] and r["findings"] == []
    with pytest.raises(InvalidScenario, match=r"t.swp:71:1: 'x exit': process x does not "
                       r"exist: its fork failed \(line 69\)"):
        run_program(parse_program(
            "device ram0 1M sync\nswapon ram0\nprocess p0\np0 map 1\np0 write\np0 pageout\n"
            + forks + "fault cont_alloc times=2\np61 fork x\nexpect rc ENOMEM\nx exit\n", "t.swp"))


def test_steps_and_lines_of_findings() -> None:
    """A finding names its step and line: here a data-corruption the World reports."""
    r = run("p read\n")
    assert r["findings"] == []
    assert findings.log.step == 8          # 7 statements, then the teardown step


def test_invariant_problems_are_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.check import ledger
    problem = ("cluster-accounting", "made up", (0, 1))
    monkeypatch.setattr(ledger, "check_swap_invariants", lambda: [problem])
    r = run("sleep\nexpect finding cluster-accounting in ledger at ram0:1\n")
    assert [(f["kind"], f["step"], f["line"], f["entry"]) for f in r["findings"]] == [
        ("cluster-accounting", 1, 1, [0, 1])]
    assert r["unmet"] == [] and exit_status(r) == 1


def test_kernel_oops_ends_the_step_and_the_run_goes_on(oops_variant: str) -> None:
    with using_variant(oops_variant) as name:
        r = run("expect finding vm-warn in folio_alloc_swap\np read\nexpect pages p P4\n",
                variant=name)
    assert name == "oops"
    assert [(o["step"], o["line"]) for o in r["oopses"]] == [(6, 6)]
    assert [(f["kind"], f["function"], f["step"], f["line"]) for f in r["findings"]] == [
        ("vm-warn", "folio_alloc_swap", 6, 6)]
    assert r["unmet"] == [] and r["steps"] == 9 and exit_status(r) == 1


def test_unknown_variant_is_bad_input() -> None:
    with pytest.raises(InvalidScenario, match="^--variant: unknown variant 'nope'"):
        with using_variant("nope"):
            pass


def test_unsupported_operation_refused_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(World, "snap_open")
    prog = parse_program(BASE + "p snapshot open ram0\n", "t.swp")
    with pytest.raises(InvalidScenario, match=r"^t.swp:7:1: 'p snapshot open ram0': the "
                       r"hibernation snapshot device is not modeled yet"):
        run_program(prog)


def test_shmem_file_shared_by_unrelated_processes_and_several_per_process() -> None:
    # f: written by p, read and swapped out by q (unrelated); g: a second file of p;
    # punch f with nobody mapping it; teardown unlinks both: nothing left in use.
    r = run("shmem f 2\nshmem g 2\nprocess q\np map f\np map g\np write f\np write g\n"
            "p munmap f\nq map f\nq read f\nq pageout f\nexpect used ram0=16\nq read f\n"
            "expect used ram0=8\np pageout g\nexpect used ram0=16\nq munmap f\npunch f\n"
            "expect rc 0\np read g\nexpect used ram0=8\nexpect no findings\n")
    assert r["unmet"] == [] and r["findings"] == [] and exit_status(r) == 0


def test_fork_failure_is_the_rc() -> None:
    # 62 processes share the slot; the next fork needs a continuation page it cannot get.
    forks = "".join(f"p fork c{i}\n" for i in range(61))
    r = run("p pageout\n" + forks + "fault cont_alloc always\np fork z\nexpect rc ENOMEM\n")
    assert r["unmet"] == [] and r["findings"] == []


def test_deterministic() -> None:
    results = [run("p fork c\nc read\np exit\n") for _ in range(3)]
    assert results[0] == results[1] == results[2]


def test_a_process_whose_fork_oopsed_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.sim.oops import KernelOops

    def fork_oopses(self, parent, name):  # type: ignore[no-untyped-def]
        raise KernelOops("fork: test BUG")
    monkeypatch.setattr(World, "fork", fork_oopses)
    prog = parse_program("device ram0 1M sync\nprocess p\np map 4\n", "t.swp")
    with pytest.raises(InvalidScenario, match=r"^t.swp:3:1: 'p map 4': process p does not "
                       r"exist: its fork failed \(line 2\)"):
        run_program(prog)
