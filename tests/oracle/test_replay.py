"""Replay every recorded 7.2.13 run the model can run, and compare it value by value.

Scenarios a, b, c, d, e, f (64 MB and 1 MB), fork3, free1, prio1 and
swapoff2 use only anon memory, fork/spawn/exit, swapon/swapoff and
madvise; shm1 adds a memfd mapped MAP_SHARED (mm/shmem.py): all of them
must match exactly, on all three device kinds.

hib1 (/dev/snapshot, kernel/power/user.c) matches on virtio with the
default model (T14F).  hib1-virtio-ssd and hib1-brd need the ``linux-7.2``
variant: Linux 7.2 takes hibernation slots from this CPU's cached cluster
first ("mm, swap: speed up hibernation allocation and writeout"), T14F
from the per-device allocator, which on an SSD starts a new cluster per
slot (1, 512, 1024, ... instead of 1, 2, 3).

ksm1 (mm/ksm.py: merging by ksmd, MADV_UNMERGEABLE, KSM swap-in copies,
``run`` 2, swapoff; mm/memcontrol.py: ``memory.reclaim`` of a cgroup)
matches on all three device kinds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RESULT_FILES, SHARED  # tests/oracle/conftest.py

from swaplab.check import findings
from swaplab.errors import InvalidScenario
from swaplab.oracle.ops import parse_ops
from swaplab.oracle.replay import replay
from swaplab.oracle.results import ALL_KEYS, compare_reports, load_runs

MODELED = ("a", "b", "c", "d", "e", "f", "fork3", "free1", "prio1", "swapoff2", "shm1", "hib1",
           "ksm1")
# Result files the default model (T14F) cannot match: they need the linux-7.2 variant.
NEEDS_LINUX_7_2 = ("hib1-virtio-ssd", "hib1-brd")


def _split(path: Path) -> tuple[str, str, bool]:
    scenario, rest = path.stem.split("-", 1)
    swap1m = rest.endswith("-swap1m")
    return scenario, rest[:-len("-swap1m")] if swap1m else rest, swap1m


def _script(scenario: str):  # type: ignore[no-untyped-def]
    assert SHARED is not None
    path = SHARED / "oracle" / "scenarios" / f"{scenario}.ops"
    return parse_ops(path.read_text(), path.name)


ALL_REPLAYED = [p for p in RESULT_FILES if _split(p)[0] in MODELED]
REPLAYED = [p for p in ALL_REPLAYED if p.stem not in NEEDS_LINUX_7_2]
_COUNTS: dict[str, tuple[int, int]] = {}


@pytest.mark.parametrize("result_file", ALL_REPLAYED, ids=[p.stem for p in ALL_REPLAYED])
def test_replay_linux_7_2_matches_kernel(result_file: Path) -> None:
    """``swaplab replay``'s default variant gives what Linux 7.2.13 printed, every key, every report."""
    scenario, swapdev, swap1m = _split(result_file)
    run = replay(_script(scenario), swapdev, 1 if swap1m else None, None, variant="linux-7.2")
    expected = load_runs(result_file)[0]
    result = compare_reports(expected, run, keys=ALL_KEYS)
    print(f"{result_file.name}: {result.matched} of {result.compared} values match")
    _COUNTS[result_file.stem] = (result.matched, result.compared)
    assert result.ok, result.summary()
    assert run["ops"] == expected["ops"]
    assert run["done_errors"] == 0
    assert findings.log.findings == []


@pytest.mark.parametrize("result_file", ALL_REPLAYED, ids=[p.stem for p in ALL_REPLAYED])
def test_replay_mainline_differs_only_where_linux_7_2_explains(result_file: Path) -> None:
    """mainline (T14F) matches too, except where a linux-7.2 override explains the difference.

    The only such override that changes what the oracle reports is
    swap_alloc_hibernation_slot (per-CPU cluster first): it moves the
    hibernation slots, and the anon slots after them, on non-rotational
    devices.  Everything before the first hibernation allocation matches.
    """
    scenario, swapdev, swap1m = _split(result_file)
    run = replay(_script(scenario), swapdev, 1 if swap1m else None, None, variant="mainline")
    expected = load_runs(result_file)[0]
    result = compare_reports(expected, run, keys=ALL_KEYS)
    print(f"{result_file.name} (mainline): {result.matched} of {result.compared} values match")
    if result_file.stem not in NEEDS_LINUX_7_2:
        assert result.ok, result.summary()
        return
    assert not result.ok
    snaps = expected["snap"]
    first_alloc = next(s["after"] for s in snaps if s["op"] == "alloc")
    labels = [r["label"] for r in expected["reports"]]
    cut = labels.index(first_alloc) + 1 if first_alloc is not None else 0
    explained_labels = set(labels[cut:]) | {"snap"}
    for m in result.mismatches:
        assert m.label in explained_labels or m.label.startswith("snap"), m
    # with the override, it all matches (test_replay_linux_7_2_matches_kernel)


def test_replay_value_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the totals: how many recorded values the model reproduces."""
    total = matched = 0
    for result_file in ALL_REPLAYED:
        scenario, swapdev, swap1m = _split(result_file)
        run = replay(_script(scenario), swapdev, 1 if swap1m else None, None, variant="linux-7.2")
        r = compare_reports(load_runs(result_file)[0], run, keys=ALL_KEYS)
        total += r.compared
        matched += r.matched
    with capsys.disabled():
        print(f"\noracle: {matched} of {total} recorded values match in {len(ALL_REPLAYED)} "
              f"Linux 7.2.13 result files")
    assert matched == total


def test_every_modeled_scenario_has_results() -> None:
    found = {_split(p)[0] for p in REPLAYED}
    assert found == set(MODELED)
    assert len(REPLAYED) == 33 + 3 + 1 + 3


def test_unmodeled_ops_are_refused_clearly() -> None:
    script = parse_ops("swapon @swapdev\nwrite_file /sys/kernel/mm/ksm/use_zero_pages 1\n",
                       "unmodeled.ops")
    with pytest.raises(InvalidScenario, match="not modeled yet"):
        replay(script, "virtio")


def test_replay_is_deterministic() -> None:
    runs = [replay(_script("fork3"), "brd") for _ in range(3)]
    assert runs[0]["reports"] == runs[1]["reports"] == runs[2]["reports"]


def test_unknown_device_kind() -> None:
    with pytest.raises(InvalidScenario, match="unknown swap device kind"):
        replay(_script("a"), "nvme")
