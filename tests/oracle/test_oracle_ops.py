"""Tests of swaplab.oracle.ops: the ops scenario language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swaplab.errors import InvalidScenario
from swaplab.oracle.ops import (
    OPERATIONS, Bare, Echo, Fork, KsmWait, MapRegion, Op, PageOp, Range, Reclaim, Report,
    SnapAlloc, SnapOpen, Sleep, Spawn, Swapoff, Swapon, Sysctl, TaskExit, Unmap, WriteFile,
    WriteSame, parse_ops,
)


def parse(text: str) -> list[Op]:
    return parse_ops(text, "t.ops").ops


def one(line: str) -> Op:
    ops = parse(line)
    assert len(ops) == 1
    return ops[0]


# ---- the shared scenarios ----------------------------------------------------

def _op_lines(text: str) -> list[tuple[int, str]]:
    """(line number, op text) of every line swaptest keeps."""
    out = []
    for n, raw in enumerate(text.split("\n"), start=1):
        op = raw.split("#", 1)[0].strip(" \t\r")
        if op:
            out.append((n, op))
    return out


def test_parse_scenario(ops_path: Path) -> None:
    """Every shared scenario parses; every op line becomes one op (or a fork's exit)."""
    text = ops_path.read_text()
    script = parse_ops(text, ops_path.name)
    ops = list(script.walk())
    lines = _op_lines(text)
    exits = [n for n, op in lines if op == "exit"]
    forks = [op for op in ops if isinstance(op, Fork)]
    assert len(exits) == len(forks)
    assert sorted(op.line for op in ops) == sorted(n for n, op in lines if op != "exit")
    raw = text.split("\n")
    for op in ops:
        assert raw[op.line - 1][op.col - 1:].startswith(op.name), op


def test_shared_scenarios_present(shared: Path) -> None:
    names = {p.name for p in (shared / "oracle/scenarios").glob("*.ops")}
    assert {"a.ops", "b.ops", "fork3.ops", "hib1.ops", "ksm1.ops", "prio1.ops",
            "shm1.ops", "swapoff2.ops"} <= names
    assert len(list((shared / "tools/kernel-oracle/scenarios").glob("*.ops"))) >= 6


def _scenario(shared: Path, name: str):
    path = shared / "oracle/scenarios" / name
    return parse_ops(path.read_text(), name)


def test_prio1_sizes_and_priorities(shared: Path) -> None:
    script = _scenario(shared, "prio1.ops")
    assert script.sizes == {"SWAP_MB": 1, "SWAP2_MB": 8}
    assert script.swap_mb() == 1 and script.swap2_mb() == 8
    assert script.swap_mb(env=64) == 64
    swapons = [op for op in script.ops if isinstance(op, Swapon)]
    assert [(op.device, op.prio, op.prefer) for op in swapons] == [
        ("@swapdev", 10, True), ("@swapdev2", 5, True), ("@swapdev", 10, True)]
    assert script.uses_swapdev2 and not script.uses_ksm


def test_a_defaults(shared: Path) -> None:
    script = _scenario(shared, "a.ops")
    assert script.sizes == {} and script.swap_mb() == 64 and script.swap2_mb() is None
    assert script.ops[0] == Swapon(name="swapon", line=2, col=1, device="@swapdev")
    assert script.ops[1] == Sysctl(name="sysctl", line=3, col=1, path="vm/page-cluster",
                                   value="0")


def test_b_fork_body(shared: Path) -> None:
    script = _scenario(shared, "b.ops")
    (fork,) = [op for op in script.ops if isinstance(op, Fork)]
    assert fork.line == 9
    assert [(op.name, op.line, op.col) for op in fork.body] == [
        ("report", 10, 3), ("read", 11, 3), ("report", 12, 3)]
    assert fork.body[1] == PageOp(name="read", line=11, col=3, range=Range(0, 512))
    assert script.ops[script.ops.index(fork) + 1].line == 14


def test_fork3_tasks(shared: Path) -> None:
    script = _scenario(shared, "fork3.ops")
    who = [(op.task, op.name) for op in script.ops if op.task or isinstance(op, Spawn)]
    assert who[:4] == [(None, "spawn"), ("A", "spawn"), ("B", "report"), ("A", "read")]
    spawns = [(op.task, op.child) for op in script.ops if isinstance(op, Spawn)]
    assert spawns == [(None, "A"), ("A", "B"), (None, "C"), ("C", "D")]
    exits = [op.task for op in script.ops if isinstance(op, TaskExit)]
    assert exits == ["A", "B", "D", "C"]


def test_ksm1(shared: Path) -> None:
    script = _scenario(shared, "ksm1.ops")
    assert script.uses_ksm
    same = [op for op in script.ops if isinstance(op, WriteSame)]
    assert [(op.range, op.pattern) for op in same] == [
        (Range(0, 48), 0), (Range(48, 50), 1), (Range(50, 52), 2)]
    assert any(isinstance(op, KsmWait) and op.scans == 2 and op.timeout_ms == 20000
               for op in script.ops)
    assert any(isinstance(op, Reclaim) and op.kb == 65536 for op in script.ops)
    assert WriteFile(name="write_file", line=12, col=1, path="/sys/kernel/mm/ksm/pages_to_scan",
                     value="10000") in script.ops


def test_shm1_and_hib1(shared: Path) -> None:
    shm = _scenario(shared, "shm1.ops")
    assert shm.ops[2] == MapRegion(name="shm_map", line=7, col=1, region="shm", npages=512)
    assert PageOp(name="punch", line=19, col=1, region="shm", range=Range(64, 128)) in shm.ops
    assert Unmap(name="unmap", line=29, col=1, region="shm") in shm.ops
    hib = _scenario(shared, "hib1.ops")
    assert hib.ops[2] == SnapOpen(name="snap_open", line=5, col=1, device="@swapdev")
    assert [op.count for op in hib.ops if isinstance(op, SnapAlloc)] == [3, 3, 2]


# ---- every operation ------------------------------------------------------------

EVERY_OP = """\
#% SWAP_MB=1 SWAP2_MB=4
swapon @swapdev
swapon @swapdev2 -1
swapoff @swapdev2
sysctl vm/page-cluster 0
write_file /sys/kernel/mm/ksm/run 1
map 16
shm_map 8
write
zero 0 4
read shm
touch shm 0 2
pageout 2 4
cold anon 1 2
willneed
dontneed shm 3 5
free 0 8
punch shm 1 2
mlock 0 16
munlock anon
write_same shm 0 2 7
merge
unmerge 0 4
ksm_wait 1 500
memcg_enter
memcg_leave
reclaim 1024
snap_open @swapdev2
snap_avail
snap_alloc
snap_free
snap_close
fork
  read 0 1
  fork
    report inner
  exit
exit
spawn T
@T spawn U
@T read 0 2
@parent report p
@U exit
@T exit
report
pages label
sleep 20
sync
echo hello   world  # a comment
unmap shm
unmap
"""


def test_every_operation_parses() -> None:
    script = parse_ops(EVERY_OP, "every.ops")
    assert {op.name for op in script.walk()} == set(OPERATIONS)
    assert script.sizes == {"SWAP_MB": 1, "SWAP2_MB": 4}
    assert script.uses_ksm


@pytest.mark.parametrize("line, expected", [
    ("swapon @swapdev2 -1", Swapon(name="swapon", line=1, col=1, device="@swapdev2", prio=-1)),
    ("swapoff @swapdev", Swapoff(name="swapoff", line=1, col=1, device="@swapdev")),
    ("  write\t0 10", PageOp(name="write", line=1, col=3, range=Range(0, 10))),
    ("read shm", PageOp(name="read", line=1, col=1, region="shm")),
    ("pageout shm 4 8", PageOp(name="pageout", line=1, col=1, region="shm", range=Range(4, 8))),
    ("free anon 3 3", PageOp(name="free", line=1, col=1, range=Range(3, 3))),
    ("write_same", WriteSame(name="write_same", line=1, col=1)),
    ("write_same 0 4", WriteSame(name="write_same", line=1, col=1, range=Range(0, 4))),
    ("write_same shm 0 4 15", WriteSame(name="write_same", line=1, col=1, region="shm",
                                        range=Range(0, 4), pattern=15)),
    ("merge 0 48", PageOp(name="merge", line=1, col=1, range=Range(0, 48))),
    ("map 1024", MapRegion(name="map", line=1, col=1, region="anon", npages=1024)),
    ("unmap", Unmap(name="unmap", line=1, col=1)),
    ("snap_open", SnapOpen(name="snap_open", line=1, col=1)),
    ("snap_alloc", SnapAlloc(name="snap_alloc", line=1, col=1, count=1)),
    ("snap_alloc 0", SnapAlloc(name="snap_alloc", line=1, col=1, count=0)),
    ("snap_free", Bare(name="snap_free", line=1, col=1)),
    ("ksm_wait 0", KsmWait(name="ksm_wait", line=1, col=1, scans=0)),
    ("report", Report(name="report", line=1, col=1, label="-")),
    ("pages k4", Report(name="pages", line=1, col=1, label="k4")),
    ("sleep 20 # wait", Sleep(name="sleep", line=1, col=1, ms=20)),
    ("echo  a  b\t c ", Echo(name="echo", line=1, col=1, text="a  b\t c")),
    ("echo", Echo(name="echo", line=1, col=1, text="")),
    ("@parent echo x  y", Echo(name="echo", line=1, col=9, task="parent", text="x  y")),
    ("@parent spawn K", Spawn(name="spawn", line=1, col=9, task="parent", child="K")),
])
def test_parse_line(line: str, expected: Op) -> None:
    assert one(line) == expected


def test_page_range_defaults_and_clamping() -> None:
    whole, part, beyond = parse("read\nread 10 100\nread 50 60\n")
    assert isinstance(whole, PageOp) and whole.page_range(32) == (0, 32)
    assert isinstance(part, PageOp) and part.page_range(32) == (10, 32)
    assert isinstance(beyond, PageOp) and beyond.page_range(32) == (50, 32)


def test_fork_nesting_and_task_field() -> None:
    ops = parse("fork\nfork\nread\nexit\nwrite\nexit\nsync\n")
    assert [op.name for op in ops] == ["fork", "sync"]
    outer = ops[0]
    assert isinstance(outer, Fork)
    assert [op.name for op in outer.body] == ["fork", "write"]
    inner = outer.body[0]
    assert isinstance(inner, Fork) and inner.body == (PageOp(name="read", line=3, col=1),)
    assert all(op.task is None for op in parse_ops("fork\nread\nexit\n", "x").walk())


def test_tasks_can_be_respawned_after_exit() -> None:
    ops = parse("spawn A\n@A exit\nspawn A\n@A read\n")
    assert ops[3] == PageOp(name="read", line=4, col=4, task="A")


def test_swapdev2_default_size() -> None:
    script = parse_ops("#% SWAP_MB=2\nswapon @swapdev2\n", "x.ops")
    assert script.swap2_mb() == 2 and script.swap2_mb(swap_mb=16) == 16
    assert parse_ops("swapon @swapdev\n", "x").swap2_mb() is None


def test_uses_ksm_rule() -> None:
    assert parse_ops("@parent merge\n", "x").uses_ksm
    assert parse_ops("echo /sys/kernel/mm/ksm/\n", "x").uses_ksm
    assert parse_ops("ksm_wait 1\n", "x").uses_ksm
    assert not parse_ops("write_same 0 4\nread\n", "x").uses_ksm


def test_crlf_and_comments() -> None:
    ops = parse("map 4\r\n# only a comment\r\n   \t\r\nread 0 2 # why\r\n")
    assert [op.name for op in ops] == ["map", "read"]
    assert ops[1] == PageOp(name="read", line=4, col=1, range=Range(0, 2))


# ---- errors ---------------------------------------------------------------------

UNKNOWN = "; expected one of " + ", ".join(sorted(OPERATIONS))


@pytest.mark.parametrize("text, line, col, msg", [
    ("map", 1, 4, "expected a page count after 'map'"),
    ("map x", 1, 5, "expected a page count after 'map', got 'x'"),
    ("map 0", 1, 5, "a page count must be at least 1, got 0"),
    ("shm_map -3", 1, 9, "expected a page count after 'shm_map', got '-3'"),
    ("map 4 5", 1, 7, "unexpected '5': too many arguments for 'map'"),
    ("foo 1", 1, 1, "unknown operation 'foo'" + UNKNOWN),
    ("map 4\n  pagout", 2, 3, "unknown operation 'pagout' (did you mean 'pageout'?)" + UNKNOWN),
    ("@swapdev", 1, 1, "unknown operation '@swapdev'" + UNKNOWN),
    ("exit", 1, 1, "'exit' without matching 'fork'"),
    ("read\n\n  fork\nread\n", 3, 3, "'fork' without matching 'exit'"),
    ("fork\nfork\nexit\n", 1, 1, "'fork' without matching 'exit'"),
    ("fork now", 1, 6, "'fork' takes no arguments"),
    ("fork\nexit 1\n", 2, 6, "'exit' takes no arguments"),
    ("spawn A\n@A fork", 2, 4, "'fork' inside a task is not supported (use spawn / @NAME exit)"),
    ("@parent exit", 1, 9, "'exit' inside a task is not supported (use spawn / @NAME exit)"),
    ("fork\n@parent read\nexit", 2, 1,
     "'@NAME' operations are not allowed inside a fork child (between 'fork' and 'exit')"),
    ("fork\n  spawn A\nexit", 2, 3,
     "'spawn' is not allowed inside a fork child (between 'fork' and 'exit')"),
    ("@B read", 1, 1, "no task 'B' is alive here (spawn it first; alive: none)"),
    ("spawn A\n@A exit\n@A read", 3, 1, "no task 'B' is alive here (spawn it first; alive: none)"
     .replace("'B'", "'A'")),
    ("spawn A\nspawn A", 2, 7, "a task 'A' is already alive"),
    ("spawn child", 1, 7, "the task name 'child' is reserved"),
    ("spawn 9x", 1, 7, "bad task name '9x': expected a letter or '_', then letters, digits, "
     "'_' or '-' (at most 31 characters)"),
    ("spawn", 1, 6, "expected a task name after 'spawn'"),
    ("spawn A\n@A", 2, 3, "expected an operation after '@A'"),
    ("@ read", 1, 1, "expected a task name after '@'"),
    ("read foo", 1, 6, "unknown region 'foo'; expected 'anon' or 'shm'"),
    ("read shm foo 3", 1, 10, "expected the first page of a range after 'read', got 'foo'"),
    ("read 5", 1, 7, "expected the end of the page range after '5'"),
    ("read shm 5 x", 1, 12, "expected the end of the page range after 'read', got 'x'"),
    ("pageout 10 5", 1, 9, "range start 10 is greater than range end 5"),
    ("write 0 4 shm", 1, 11, "unexpected 'shm': too many arguments for 'write'"),
    ("free shm 0 4", 1, 6, "'free' works on the anon region only"),
    ("merge shm", 1, 7, "'merge' works on the anon region only"),
    ("punch 0 4", 1, 7, "expected 'shm' after 'punch', got '0'"),
    ("punch", 1, 6, "expected 'shm' after 'punch'"),
    ("unmap 0 4", 1, 7, "'unmap' takes no page range: it unmaps the whole region"),
    ("write_same 0 4 16", 1, 16, "pattern id must be 0..15, got 16"),
    ("write_same 0 4 x", 1, 16, "expected a pattern id (0..15) after 'write_same', got 'x'"),
    ("swapon", 1, 7, "expected a device '@swapdev' or '@swapdev2' after 'swapon'"),
    ("swapon /dev/vda", 1, 8,
     "expected a device '@swapdev' or '@swapdev2' after 'swapon', got '/dev/vda'"),
    ("swapon @swapdev high", 1, 17, "expected a priority after 'swapon', got 'high'"),
    ("swapoff @swapdev3", 1, 9,
     "expected a device '@swapdev' or '@swapdev2' after 'swapoff', got '@swapdev3'"),
    ("sysctl vm/page-cluster", 1, 23, "expected a value after 'vm/page-cluster'"),
    ("write_file", 1, 11, "expected a file path after 'write_file'"),
    ("ksm_wait", 1, 9, "expected a number of full scans after 'ksm_wait'"),
    ("ksm_wait 1 soon", 1, 12, "expected a timeout in ms after 'ksm_wait', got 'soon'"),
    ("reclaim 64M", 1, 9, "expected an amount in kB after 'reclaim', got '64M'"),
    ("sleep", 1, 6, "expected a time in ms after 'sleep'"),
    ("sync now", 1, 6, "unexpected 'now': too many arguments for 'sync'"),
    ("report a b", 1, 10, "unexpected 'b': too many arguments for 'report'"),
    ("snap_open /dev/vda", 1, 11,
     "expected a device '@swapdev' or '@swapdev2' after 'snap_open', got '/dev/vda'"),
    ("#% SWAP_MB=0", 1, 12, "expected a size in MB (a positive number) for SWAP_MB, got '0'"),
    ("#% SWAP3_MB=1", 1, 4, "unknown setting 'SWAP3_MB'; expected SWAP_MB or SWAP2_MB"),
    ("#%  SWAP_MB", 1, 5, "expected KEY=VALUE in a '#%' line, got 'SWAP_MB'"),
    ("read\n" + "x" * 512, 2, 512, "line too long: 512 characters, at most 511"),
])
def test_errors(text: str, line: int, col: int, msg: str) -> None:
    with pytest.raises(InvalidScenario) as info:
        parse_ops(text, "t.ops")
    err = info.value
    assert (err.file, err.line, err.col, err.msg) == ("t.ops", line, col, msg)
    assert str(err) == f"t.ops:{line}:{col}: {msg}"


def test_too_many_tasks_and_ops() -> None:
    spawns = "".join(f"spawn T{i}\n@T{i} exit\n" for i in range(8))
    with pytest.raises(InvalidScenario, match=re.escape(
            "t.ops:15:7: too many tasks: at most 7 'spawn's per scenario")):
        parse_ops(spawns, "t.ops")
    with pytest.raises(InvalidScenario, match=r"t.ops:4097:1: too many operations"):
        parse_ops("sync\n" * 4097, "t.ops")
    assert len(parse_ops("sync\n" * 4096, "t.ops").ops) == 4096
