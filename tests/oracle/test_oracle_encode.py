"""Tests of swaplab.oracle.encode against every recorded result string."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from swaplab.oracle.encode import (
    anon_counts, decode_devs, decode_ksm_map, decode_map, decode_rle, decode_shm_map,
    decode_slots, encode_devs, encode_ksm_map, encode_map, encode_rle, encode_shm_map,
    encode_slots, errname, format_op_child_exit, format_op_ksm_wait, format_op_memcg,
    format_op_punch, format_op_read, format_op_reclaim, format_op_spawn, format_op_swapoff,
    format_op_swapon, format_op_sysctl, format_op_task_exit, format_op_write_file,
    format_pages_line, format_report_line, format_snap_line, ksm_mapped, parse_report_line,
    parse_snap_line, place_slots, shm_counts, swapdev_path,
)
from swaplab.oracle.results import load_runs


def _reports(path: Path) -> list[dict[str, Any]]:
    return [r for run in load_runs(path) for r in run["reports"]]


# ---- round trips over the recorded results --------------------------------------

def test_map_slots_counts_round_trip(result_path: Path) -> None:
    """decode -> encode gives every recorded map and slots string back."""
    for r in _reports(result_path):
        states = decode_map(r["map"])
        assert encode_map(states) == r["map"], r["label"]
        assert anon_counts(states) == {k: r[k] for k in ("P", "C", "S", "none")}, r["label"]
        entries = place_slots(states, decode_slots(r["slots"]))
        assert encode_slots(entries) == r["slots"], r["label"]


def test_shm_and_ksm_round_trip(result_path: Path) -> None:
    for r in _reports(result_path):
        if "shm_map" in r:
            states = decode_shm_map(r["shm_map"])
            assert encode_shm_map(states) == r["shm_map"]
            assert shm_counts(states) == {k: r[k] for k in shm_counts(states)}
        if "ksm_map" in r:
            ksm = decode_ksm_map(r["ksm_map"])
            assert encode_ksm_map(ksm) == r["ksm_map"]
            assert ksm_mapped(ksm) == r["ksm_mapped"]
            assert len(ksm) == len(decode_map(r["map"]))


def test_devs_round_trip(result_path: Path) -> None:
    for r in _reports(result_path):
        text = encode_devs(r["devs"])
        assert decode_devs(text) == r["devs"]
        assert encode_devs(decode_devs(text)) == text
        assert (text == "none") == (r["swaps"] == 0)


def test_report_line_round_trip(result_path: Path) -> None:
    """format_report_line prints what report2json turns back into the same dict."""
    for r in _reports(result_path):
        line = format_report_line(r)
        assert parse_report_line(line) == r
        assert list(parse_report_line(line)) == list(r)       # the same key order


def test_snap_lines_round_trip(result_path: Path) -> None:
    for run in load_runs(result_path):
        for record in run["snap"]:
            assert parse_snap_line(format_snap_line(record), record["after"]) == record


# ---- encoders on hand-made cases ------------------------------------------------

def test_rle() -> None:
    assert encode_rle([]) == "none"
    assert encode_map("SSSP") == "S3P1"
    assert encode_map(["-"] * 100 + ["S"] * 300 + ["P"] * 200) == "-100S300P200"
    assert encode_shm_map("PPRR--S") == "P2R2-2S1"
    assert encode_ksm_map([True] * 48 + [False] + [True] + [False] * 14) == "K48.1K1.14"
    assert decode_map("C512S512") == ["C"] * 512 + ["S"] * 512
    assert decode_rle("none") == []
    with pytest.raises(ValueError):
        encode_map("R")                 # R is a shm state
    for bad in ("", "P", "12", "P0", "PP1", "S3x", "R1"):
        with pytest.raises(ValueError):
            decode_map(bad)


# (page entries, slots); None = a page that is not S
SLOT_CASES = [
    ([], "none"),
    ([None, None], "none"),
    ([(0, 17)], "17"),
    ([(0, 5), (0, 6)], "5-6"),
    ([(0, 5), None, (0, 6)], "5,6"),                      # a non-S page ends a run
    ([(0, 5), (0, 7)], "5,7"),
    ([(0, 7), (0, 6)], "7,6"),
    ([(0, 17)] * 48, "17*48"),
    ([(0, 17), (0, 18), (0, 19), (0, 20)] + [(0, 17)] * 44, "17-20,17*44"),
    ([(0, 5), (0, 6), (0, 7), (0, 7), (0, 7)], "5-6,7*3"),  # a range stops before a repeat
    ([(0, 7), (0, 7), (0, 8), (0, 9)], "7*2,8-9"),
    ([(0, 3), (0, 3), (0, 3), (0, 3)], "3*4"),
    ([(1, 1), (1, 2), (1, 3)], "1:1-3"),
    ([(0, 255), (1, 1), (1, 2)], "255,1:1-2"),
    ([(0, 1), (1, 2)], "1,1:2"),                          # a type change ends a run
    ([(1, 4), (1, 4)], "1:4*2"),
    ([(1, 145), None, (1, 146)], "1:145,1:146"),
]


@pytest.mark.parametrize("entries, text", SLOT_CASES)
def test_slots(entries: list[tuple[int, int] | None], text: str) -> None:
    assert encode_slots(entries) == text
    states = ["P" if e is None else "S" for e in entries]
    assert place_slots(states, decode_slots(text)) == entries


def test_slots_random_round_trip() -> None:
    """Decoding is lossless given the map, on random pages (fixed seed)."""
    rng = random.Random(7)
    for _ in range(3000):
        entries: list[tuple[int, int] | None] = []
        offset = rng.randint(1, 4)
        for _ in range(rng.randint(0, 16)):
            if rng.random() < 0.2:
                entries.append(None)
                continue
            offset = rng.choice([offset, offset + 1, rng.randint(1, 9)])
            entries.append((rng.choice([0, 0, 1]), offset))
        text = encode_slots(entries)
        states = ["P" if e is None else "S" for e in entries]
        assert place_slots(states, decode_slots(text)) == entries, (entries, text)


def test_slots_errors() -> None:
    for bad in ("", "5-5", "7-3", "a", "1:", "3*", "1,,2"):
        with pytest.raises(ValueError):
            decode_slots(bad)
    with pytest.raises(ValueError):
        place_slots(["S", "P"], [(0, 1), (0, 2)])


def test_devs() -> None:
    devs = [{"name": "vda", "prio": 10, "used_kb": 1020, "size_kb": 1020},
            {"name": "vdb", "prio": 5, "used_kb": 580, "size_kb": 8188}]
    assert encode_devs(devs) == "vda:10:1020:1020,vdb:5:580:8188"
    assert encode_devs([]) == "none" and decode_devs("none") == []
    assert swapdev_path("@swapdev", "virtio") == "/dev/vda"
    assert swapdev_path("@swapdev2", "virtio-ssd") == "/dev/vdb"
    assert swapdev_path("@swapdev2", "brd") == "/dev/ram1"


def test_report_line_groups() -> None:
    base = {"label": "x", "who": "parent", "swaps": 0, "used_kb": 0, "swapcached_kb": 0,
            "swapfree_kb": 0, "pswpin": 0, "pswpout": 0, "pgmajfault": 0, "swap_ra": 0,
            "swap_ra_hit": 0, "P": 0, "C": 0, "S": 0, "none": 0, "map": "none",
            "slots": "none", "devs": []}
    assert format_report_line(base) == (
        "REPORT x who=parent swaps=0 used_kb=0 swapcached_kb=0 swapfree_kb=0 pswpin=0 "
        "pswpout=0 pgmajfault=0 swap_ra=0 swap_ra_hit=0 P=0 C=0 S=0 none=0 map=none "
        "slots=none devs=none")
    with pytest.raises(ValueError, match="lacks who"):
        format_report_line({k: v for k, v in base.items() if k != "who"})
    with pytest.raises(ValueError, match="lacks ksm_pages_shared"):
        format_report_line({**base, "ksm_map": "none"})


def test_pages_line() -> None:
    line = format_pages_line("k4", "parent", ["S", "S", "P", "C"],
                             [(0, 17), (1, 3), None, None], [False, False, True, False])
    assert line == "PAGES k4 who=parent 0:S@17 1:S@1:3 2:Pk 3:C"
    assert format_pages_line("s", "A", ["R", "-"], shm=True) == "PAGES s who=A region=shm 0:R 1:-"


def test_snap_lines() -> None:
    assert format_snap_line({"op": "alloc", "i": 2, "rc": "-ENOSPC"}) == "SNAP alloc i=2 rc=-ENOSPC"
    assert format_snap_line({"op": "close", "rc": 0}) == "SNAP close rc=0"
    assert format_snap_line({"op": "open", "dev": "/dev/vda", "devno": "254:0", "rc": 0}) == \
        "SNAP open dev=/dev/vda devno=254:0 set_swap_area rc=0"
    assert parse_snap_line("SNAP avail rc=0 bytes=8192 pages=2", "h1") == \
        {"op": "avail", "after": "h1", "rc": 0, "bytes": 8192, "pages": 2}


def test_op_lines() -> None:
    assert format_op_swapon("/dev/vda") == "swapon /dev/vda -> 0 ok"
    assert format_op_swapon("/dev/ram1", 5) == "swapon /dev/ram1 prio=5 -> 0 ok"
    assert format_op_swapon("/dev/vda", -1) == "swapon /dev/vda -> 0 ok"
    assert format_op_swapon("/dev/vda", err=16) == "swapon /dev/vda -> -1 Device or resource busy"
    assert format_op_swapoff("/dev/ram0") == "swapoff /dev/ram0 -> 0 ok"
    assert format_op_write_file("/sys/kernel/mm/ksm/run", "2") == \
        "write_file /sys/kernel/mm/ksm/run=2 -> 0"
    assert format_op_read(0, 1024) == "read 0..1024 verify ok (0 bad pages)"
    assert format_op_read(0, 64, shm=True) == "read shm 0..64 verify ok (0 bad pages)"
    assert format_op_read(0, 512, lazy=(288, 288)) == \
        "read 0..512 verify ok (0 bad pages, 288 of 288 lazy-free pages read as zero)"
    assert format_op_read(0, 4, bad=1) == "read 0..4 verify FAIL (1 bad pages)"
    assert format_op_punch(64, 128) == "punch shm 64..128 -> 0 ok"
    assert format_op_ksm_wait(2) == "ksm_wait 2 -> ok"
    assert format_op_ksm_wait(2, ok=False, done=1) == "ksm_wait 2 -> timeout after 20000 ms (1 scans)"
    assert format_op_memcg("memcg_enter") == "memcg_enter -> 0 ok"
    assert format_op_memcg("memcg_leave", -1) == "memcg_leave -> -EPERM"
    assert format_op_reclaim(65536, -11, -11) == "reclaim 65536K -> -EAGAIN,-EAGAIN"
    assert format_op_reclaim(64, 0, 0) == "reclaim 64K -> 0,0"
    assert format_op_spawn("B", "A") == "spawn B by A"
    assert format_op_task_exit("K") == "task K exited errors=0"
    assert errname(-28) == "ENOSPC" and errname(99) == "E99"


def test_op_lines_in_recordings(shared: Path) -> None:
    """Every OP line of the recordings can be printed by a format_op_* function."""
    made = {
        format_op_swapon(p, prio) for p in ("/dev/vda", "/dev/vdb", "/dev/ram0", "/dev/ram1")
        for prio in (None, 5, 10)
    } | {format_op_swapoff(p) for p in ("/dev/vda", "/dev/ram0")} | {
        format_op_sysctl("vm/page-cluster", "0"), format_op_child_exit(0),
        format_op_ksm_wait(2), format_op_memcg("memcg_enter"), format_op_memcg("memcg_leave"),
        format_op_punch(64, 128), format_op_reclaim(65536, -11, -11),
        format_op_read(0, 512, lazy=(288, 288)),
        *(format_op_read(lo, hi) for lo, hi in ((0, 1024), (0, 128), (0, 200), (0, 256),
                                                (0, 4), (0, 50), (0, 512), (0, 64),
                                                (128, 256), (48, 49))),
        *(format_op_read(lo, hi, shm=True) for lo, hi in ((0, 256), (0, 64))),
        *(format_op_spawn(a, b) for a, b in (("A", "parent"), ("B", "A"), ("C", "parent"),
                                             ("D", "C"), ("K", "parent"))),
        *(format_op_task_exit(t) for t in "ABCDK"),
        *(format_op_write_file("/sys/kernel/mm/ksm/" + k, v)
          for k, v in (("pages_to_scan", "10000"), ("run", "1"), ("run", "2"),
                       ("sleep_millisecs", "600000"))),
    }
    recorded = {line for path in sorted((shared / "oracle/linux-7.2.13").glob("*.json"))
                for run in load_runs(path) for line in run["ops"]}
    assert recorded and recorded <= made, recorded - made
