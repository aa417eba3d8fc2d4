"""Tests of swaplab.program.parser and .ast: every construct, the round trip, error messages."""

from __future__ import annotations

import pytest

from swaplab.errors import InvalidScenario
from swaplab.kernel.custom import FAULTS
from swaplab.program import format_program, parse_program
from swaplab.program.ast import (
    Device,
    Exit,
    ExpectFinding,
    ExpectNoFindings,
    ExpectPages,
    ExpectRc,
    ExpectSlot,
    ExpectUsed,
    ExpectVmstat,
    Fault,
    Fork,
    KsmRun,
    KsmScan,
    Map,
    Munmap,
    NewProcess,
    PageOp,
    Program,
    Punch,
    Range,
    Shmem,
    ShmMap,
    SignalFault,
    Sleep,
    SlotRef,
    Snapshot,
    Swapoff,
    Swapon,
)

HEAD = "device vda 64M ssd\nprocess p\np map 8\nshmem f 4\n"

# Every construct, in canonical form, and the statement it parses to.
CONSTRUCTS = [
    ("device vdb 64M ssd", Device(name="vdb", pages=16384, kind="ssd")),
    ("device sw 1G rotational file discard",
     Device(name="sw", pages=262144, kind="rotational", file=True, discard=True)),
    ("device r 12K sync", Device(name="r", pages=3, kind="sync")),
    ("swapon vda", Swapon(device="vda")),
    ("swapon vda prio=5 discard", Swapon(device="vda", prio=5, discard="all")),
    ("swapon vda discard=once", Swapon(device="vda", discard="once")),
    ("swapon vda discard=pages", Swapon(device="vda", discard="pages")),
    ("p swapon vda prio=0", Swapon(device="vda", prio=0, proc="p")),
    ("swapoff vda", Swapoff(device="vda")),
    ("p swapoff vda", Swapoff(device="vda", proc="p")),
    ("process q", NewProcess(name="q")),
    ("p fork c", Fork(proc="p", child="c")),
    ("p exit", Exit(proc="p")),
    ("p map 16", Map(proc="p", npages=16)),
    ("p map f", ShmMap(proc="p", file="f")),
    ("p munmap", Munmap(proc="p")),
    *[(f"p {op}", PageOp(proc="p", op=op)) for op in
      ("write", "zero", "read", "touch", "pageout", "cold", "dontneed", "free", "willneed",
       "merge", "unmerge")],
    ("p write 0..4", PageOp(proc="p", op="write", range=Range(0, 4))),
    ("p read 7", PageOp(proc="p", op="read", range=Range(7, 8))),
    ("p write 2..4 pattern=3", PageOp(proc="p", op="write", range=Range(2, 4), pattern=3)),
    ("shmem g 3", Shmem(name="g", npages=3)),
    ("punch f", Punch(file="f")),
    ("punch f 1..3", Punch(file="f", range=Range(1, 3))),
    ("ksm run=1", KsmRun(value=1)),
    ("ksm scan 2", KsmScan(scans=2)),
    ("p snapshot open vda", Snapshot(proc="p", action="open", device="vda")),
    ("fault page_alloc", Fault(name="page_alloc")),
    ("fault cont_alloc times=3", Fault(name="cont_alloc", times=3)),
    ("fault device_full always", Fault(name="device_full", times=-1)),
    ("fault swap_read_io probability=0.25",
     Fault(name="swap_read_io", times=0, probability=0.25)),
    ("fault signal p", SignalFault(proc="p")),
    ("sleep", Sleep()),
    ("sleep 20", Sleep(ms=20)),
    ("expect finding count-underflow", ExpectFinding(kind="count-underflow")),
    ("expect finding vm-warn in folio_put_swap at vda:17",
     ExpectFinding(kind="vm-warn", function="folio_put_swap", slot=SlotRef("vda", 17))),
    ("expect finding swap-leak at 0:3", ExpectFinding(kind="swap-leak", slot=SlotRef(0, 3))),
    ("expect no findings", ExpectNoFindings()),
    ("expect slot vda:1 count=2", ExpectSlot(slot=SlotRef("vda", 1), count=2)),
    ("expect slot 1:5 count=0 cached", ExpectSlot(slot=SlotRef(1, 5), count=0, cached=True)),
    ("expect used vda=16", ExpectUsed(device="vda", kb=16)),
    ("expect vmstat pswpout=4", ExpectVmstat(key="pswpout", value=4)),
    ("expect vmstat swpout.2=1", ExpectVmstat(key="swpout.2", value=1)),
    ("expect pages p S4P4", ExpectPages(proc="p", map="S4P4")),
]


def last(text: str) -> object:
    return parse_program(HEAD + text + "\n", "t.swp").statements[-1]


@pytest.mark.parametrize("text,stmt", CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_construct(text: str, stmt: object) -> None:
    """Each construct parses to its statement and prints back to the same text."""
    got = last(text)
    assert got == stmt
    assert got.text() == text  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["p map f\np write f 1..3", "p map f\np pageout f",
                                  "p map f\np munmap f"])
def test_shmem_page_ops(text: str) -> None:
    prog = parse_program(HEAD + text + "\n", "t.swp")
    assert prog.statements[-1].text() == text.split("\n")[-1]


def test_snapshot_actions() -> None:
    prog = parse_program(HEAD + "p snapshot open vda\np snapshot avail\np snapshot alloc 3\n"
                         "p snapshot alloc\np snapshot free\np snapshot close\n", "t.swp")
    assert [s.text() for s in prog.statements[4:]] == [
        "p snapshot open vda", "p snapshot avail", "p snapshot alloc 3", "p snapshot alloc",
        "p snapshot free", "p snapshot close"]


def test_expect_rc_forms() -> None:
    prog = parse_program(HEAD + "swapon vda\nexpect rc 0\nexpect used vda=0\nexpect rc -EBUSY\n"
                         "p pageout\nexpect rc EINVAL\np fork c\nexpect rc ENOMEM\n", "t.swp")
    assert [s for s in prog.statements if isinstance(s, ExpectRc)] == [
        ExpectRc(err=0), ExpectRc(err=16), ExpectRc(err=22), ExpectRc(err=12)]


def test_every_fault_name_parses() -> None:
    text = HEAD + "".join(f"fault {name}\n" for name in FAULTS)
    assert [s.name for s in parse_program(text).statements[4:]] == list(FAULTS)  # type: ignore[attr-defined]


def test_positions_and_comments() -> None:
    prog = parse_program("# header\n\n  device vda 1M sync   # the device\n\tswapon vda\n", "t")
    assert [(s.line, s.col) for s in prog.statements] == [(3, 3), (4, 2)]


def test_round_trip_of_every_construct() -> None:
    text = HEAD + "\n".join(c[0] for c in CONSTRUCTS[1:] if not c[0].startswith(
        ("process q", "p exit", "p munmap", "p snapshot"))) + "\np munmap\np exit\n"
    prog = parse_program(text, "t.swp")
    again = parse_program(format_program(prog), "u.swp")
    assert again == prog
    assert format_program(again) == format_program(prog)


def test_round_trip_ignores_positions() -> None:
    a = parse_program("device vda 1M sync\n\n\nswapon vda\n")
    b = parse_program(format_program(a))
    assert a == b and a.statements[1].line == 4 and b.statements[1].line == 2


def test_program_built_in_python_round_trips() -> None:
    prog = Program((Device(name="d", pages=256, kind="sync"), Swapon(device="d", prio=3),
                    NewProcess(name="p"), Map(proc="p", npages=3),
                    PageOp(proc="p", op="pageout", range=Range(1, 3)),
                    ExpectFinding(kind="hang", function="try_to_unuse", slot=SlotRef("d", 2))))
    assert format_program(prog) == ("device d 1M sync\nswapon d prio=3\nprocess p\np map 3\n"
                                    "p pageout 1..3\nexpect finding hang in try_to_unuse at d:2\n")
    assert parse_program(format_program(prog)) == prog


# ---- errors: the exact file:line:col text ------------------------------------

ERRORS = [
    ("devic vda 1M ssd",
     "t.swp:5:1: unknown statement or process 'devic'; expected one of device, swapon, "
     "swapoff, process, shmem, punch, ksm, thp, fault, sleep, expect, or a process declared by "
     "'process' or 'fork'"),
    ("device w 1M nvme", "t.swp:5:13: expected a device kind (rotational, ssd, sync), got 'nvme'"),
    ("device w 1X ssd",
     "t.swp:5:10: expected a size (pages, or a number with K, M or G), got '1X'"),
    ("device w", "t.swp:5:10: expected a size (pages, or a number with K, M or G) after 'w'"),
    ("device vda 1M ssd", "t.swp:5:8: the name 'vda' is already taken by a device"),
    ("process expect", "t.swp:5:9: 'expect' is a reserved word and cannot name a process"),
    ("swapon vdb", "t.swp:5:8: expected a device declared by 'device', got 'vdb' "
     "(devices: vda)"),
    ("swapon vda prio=x", "t.swp:5:17: expected a priority, got 'x'"),
    ("swapon vda discard=all", "t.swp:5:20: expected discard=once or discard=pages, "
     "got 'discard=all'"),
    ("p write 6..9", "t.swp:5:9: range 6..9 goes past the end of the anon region of p "
     "(8 pages: 0..8)"),
    ("p write 4..4", "t.swp:5:9: empty range 4..4: LO..HI covers pages LO to HI-1, so HI "
     "must be greater than LO"),
    ("p write 1-3", "t.swp:5:9: expected a page range 'N' or 'LO..HI', got '1-3'"),
    ("p write 1 pattern=16", "t.swp:5:19: a pattern number must be 0..15, got 16"),
    ("p read 1 pattern=1", "t.swp:5:10: unexpected 'pattern=1': expected the end of the line "
     "after p read 1"),
    ("p jump", "t.swp:5:3: unknown operation 'jump' of process p; expected one of fork, exit, "
     "map, munmap, snapshot, swapon, swapoff, write, zero, read, touch, pageout, cold, "
     "dontneed, free, willneed, merge, unmerge"),
    ("p", "t.swp:5:3: expected an operation of process p (fork, exit, map, munmap, snapshot, "
     "swapon, swapoff, write, zero, read, touch, pageout, cold, dontneed, free, willneed, "
     "merge, unmerge) after 'p'"),
    ("p write g", "t.swp:5:9: expected a shmem file declared by 'shmem', got 'g' (files: f)"),
    ("p write f", "t.swp:5:9: process p has no mapping of f (expected 'p map f' before)"),
    ("p exit\np read", "t.swp:6:1: process 'p' has exited"),
    ("p munmap\np read", "t.swp:6:3: process p has no anon region (expected 'p map N' "
     "before 'read')"),
    ("p snapshot alloc", "t.swp:5:12: process p has no /dev/snapshot open "
     "(expected 'p snapshot open DEVICE' before)"),
    ("fault oom", "t.swp:5:7: expected a fault name (signal, page_alloc, page_alloc_atomic, "
     "cont_alloc, swap_table_alloc, swap_read_io, swap_write_io, memcg_swap_charge, "
     "swapoff_signal, device_full), got 'oom'"),
    ("fault page_alloc probability=2", "t.swp:5:30: expected a probability in (0, 1] such "
     "as 0.5, got '2'"),
    ("ksm run=3", "t.swp:5:9: a ksm run mode (0 stop, 1 run, 2 unmerge) must be 0..2, got 3"),
    ("expect finding bug", "t.swp:5:16: expected a finding kind (lock-recursion, lock-order, "
     "lock-not-held, vm-warn, count-mismatch, count-underflow, swap-leak, cache-mismatch, "
     "cluster-accounting, data-corruption, hang, crash, divergence), got 'bug'"),
    ("expect slot vda:x count=1", "t.swp:5:17: expected a slot offset, got 'x'"),
    ("expect slot vda:1 cnt=1", "t.swp:5:19: expected count=N, got 'cnt=1'"),
    ("expect rc 0", "t.swp:5:1: 'expect rc' needs an operation that returns a code (swapon, "
     "swapoff, fork, madvise advice, snapshot, punch) before it; before it is line 4 "
     "('shmem f 4')"),
    ("swapon vda\nexpect rc EWHAT", "t.swp:6:11: expected 0 or an errno name such as EINTR, "
     "got 'EWHAT'"),
    ("expect vmstat pswp=1", "t.swp:5:15: expected KEY=N with a vmstat key"),
    ("expect pages p X4", "t.swp:5:16: expected a page map such as S4P4"),
    ("expect used vda", "t.swp:5:13: expected DEVICE=KB, got 'vda'"),
    ("expect maybe", "t.swp:5:8: expected one of finding, no, slot, used, rc, vmstat or pages "
     "after 'expect', got 'maybe'"),
    ("sleep 20 ms", "t.swp:5:10: unexpected 'ms': expected the end of the line after sleep 20"),
]


@pytest.mark.parametrize("text,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_message(text: str, message: str) -> None:
    """Every error names file:line:col and what was expected there."""
    with pytest.raises(InvalidScenario) as info:
        parse_program(HEAD + text + "\n", "t.swp")
    assert str(info.value).startswith(message), str(info.value)


def test_error_has_fields() -> None:
    with pytest.raises(InvalidScenario) as info:
        parse_program("device vda 1M ssd\nswapon vdb\n", "x.swp")
    assert (info.value.file, info.value.line, info.value.col) == ("x.swp", 2, 8)


def test_no_evaluation() -> None:
    """Nothing in a program is ever evaluated: a Python expression is a parse error."""
    with pytest.raises(InvalidScenario, match="t.swp:5:7: expected a page count or a shmem file"):
        parse_program(HEAD + "p map __import__('os').getpid()\n", "t.swp")
