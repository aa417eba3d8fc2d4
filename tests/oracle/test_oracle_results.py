"""Tests of swaplab.oracle.results: loading recordings and comparing reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from swaplab.errors import InvalidScenario
from swaplab.oracle.results import (
    ALL_KEYS, DEFAULT_KEYS, Mismatch, compare_reports, load_runs, result_path,
)


def test_load_every_result(result_path: Path) -> None:
    runs = load_runs(result_path)
    assert len(runs) == 1
    run = runs[0]
    assert run["done_errors"] == 0 and run["reports"]
    assert result_path.name.startswith(run["scenario"] + "-")


def test_self_comparison_matches(result_path: Path) -> None:
    """A recorded run compared with itself: every value matches."""
    (run,) = load_runs(result_path)
    for keys in (DEFAULT_KEYS, ALL_KEYS):
        c = compare_reports(run, copy.deepcopy(run), keys=keys)
        assert c.ok and c.compared == c.matched > 0
        assert c.summary() == f"{c.compared}/{c.compared} values match"


def _run(shared: Path, name: str) -> dict:
    (run,) = load_runs(result_path(shared / "oracle/linux-7.2.13", *name.split(":")))
    return run


def test_result_path(shared: Path) -> None:
    results = shared / "oracle/linux-7.2.13"
    assert result_path(results, "f", "brd", swap1m=True) == results / "f-brd-swap1m.json"
    assert result_path(results, "a", "virtio").is_file()


def test_count_of_compared_values(shared: Path) -> None:
    run = _run(shared, "a:virtio")
    c = compare_reports(run, run)
    # 5 reports x (11 keys + 4 device fields); no shm keys, no snap records
    assert c.compared == 5 * (11 + 4)


def test_mutated_copy(shared: Path) -> None:
    run = _run(shared, "prio1:virtio")
    actual = copy.deepcopy(run)
    reports = actual["reports"]
    reports[2]["slots"] = "1-255,1:1-144"
    reports[3]["pswpout"] += 1
    reports[4]["devs"][1]["used_kb"] = 0
    del reports[5]["swapcached_kb"]
    reports[6]["label"] = "renamed"
    c = compare_reports(run, actual)
    assert not c.ok
    assert c.mismatches == [
        Mismatch("p2_pageout400", "slots", "1-255,1:1-145", "1-255,1:1-144"),
        Mismatch("p3_dontneed100", "pswpout", 400, 401),
        Mismatch("p4_pageout100", "devs[1].used_kb", 580, 0),
        Mismatch("p5_swapoff_prio10", "swapcached_kb", 580, None),
        Mismatch("p6_pageout100", "label", "p6_pageout100", "renamed"),
    ]
    assert c.matched == c.compared - 5
    assert c.summary().splitlines()[0] == f"{c.compared - 5}/{c.compared} values match; 5 mismatches:"
    assert "  p3_dontneed100: pswpout: expected 400, got 401" in c.summary()


def test_devs_count_and_strings(shared: Path) -> None:
    run = _run(shared, "d:brd")
    actual = copy.deepcopy(run)
    actual["reports"][2]["devs"] = "ram0:-1:0:65532"       # a string is accepted too
    actual["reports"][1]["devs"] = "ram0:-1:4096:65532"
    c = compare_reports(run, actual)
    assert c.mismatches == [Mismatch("d2_swapoff", "devs", "none", "ram0:-1:0:65532")]


def test_missing_and_extra_reports(shared: Path) -> None:
    run = _run(shared, "c:virtio")
    c = compare_reports(run, run["reports"][:-1])
    assert c.mismatches == [Mismatch("c4_munmap", "report", "c4_munmap", None)]
    extra = {"reports": run["reports"] + [dict(run["reports"][0], label="zz")]}
    c = compare_reports(run, extra)
    assert c.mismatches == [Mismatch("zz", "report", None, "zz")]


def test_shm_keys_only_when_present(shared: Path) -> None:
    run = _run(shared, "shm1:brd")
    actual = copy.deepcopy(run)
    actual["reports"][0]["shm_swap_kb"] = 4
    del actual["reports"][1]["shm_map"]
    actual["reports"][-1]["shm_map"] = "P1"               # the kernel had no shm region
    c = compare_reports(run, actual)
    assert c.mismatches == [
        Mismatch("s0_written", "shm_swap_kb", 0, 4),
        Mismatch("s1_shm_pageout", "shm_map", "S256P256", None),
        Mismatch("s10_probe3", "shm_map", None, "P1"),
    ]


def test_snap_records(shared: Path) -> None:
    run = _run(shared, "hib1:virtio")
    actual = copy.deepcopy(run)
    actual["snap"][7]["slot"] = 105
    actual["snap"][12]["after"] = "h7_snap_close"
    del actual["snap"][-1:]
    c = compare_reports(run, actual)
    assert c.mismatches == [
        Mismatch("snap[7]", "slot", 104, 105),
        Mismatch("snap[12]", "record", "snap[12]", None),
    ]
    assert compare_reports(run, actual["reports"]).ok   # a list of reports: no snap check


def test_load_runs_accepts_one_run(tmp_path: Path, shared: Path) -> None:
    run = _run(shared, "a:brd")
    single = tmp_path / "one.json"
    single.write_text(json.dumps(run))
    assert load_runs(single) == [run]
    broken = tmp_path / "broken.json"
    broken.write_text("[{\"reports\": 3}]")
    with pytest.raises(InvalidScenario, match="run 0 is not an object with a 'reports' list"):
        load_runs(broken)
    bad = tmp_path / "bad.json"
    bad.write_text("[\n{")
    with pytest.raises(InvalidScenario, match=r"bad.json:2:2: not a JSON file"):
        load_runs(bad)
