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


REPLAYED = [p for p in RESULT_FILES if _split(p)[0] in MODELED and p.stem not in NEEDS_LINUX_7_2]


@pytest.mark.parametrize("result_file", REPLAYED, ids=[p.stem for p in REPLAYED])
def test_replay_matches_kernel(result_file: Path) -> None:
    scenario, swapdev, swap1m = _split(result_file)
    run = replay(_script(scenario), swapdev, 1 if swap1m else None, None)
    expected = load_runs(result_file)[0]
    result = compare_reports(expected, run, keys=ALL_KEYS)
    print(f"{result_file.name}: {result.matched} of {result.compared} values match")
    assert result.ok, result.summary()
    assert run["ops"] == expected["ops"]
    assert run["done_errors"] == 0
    assert findings.log.findings == []


LINUX_7_2 = [p for p in RESULT_FILES if p.stem in NEEDS_LINUX_7_2]


@pytest.mark.parametrize("result_file", LINUX_7_2, ids=[p.stem for p in LINUX_7_2])
def test_replay_with_linux_7_2_matches_kernel(result_file: Path) -> None:
    scenario, swapdev, swap1m = _split(result_file)
    run = replay(_script(scenario), swapdev, 1 if swap1m else None, None, variant="linux-7.2")
    expected = load_runs(result_file)[0]
    result = compare_reports(expected, run, keys=ALL_KEYS)
    assert result.ok, result.summary()
    assert run["ops"] == expected["ops"]
    assert findings.log.findings == []


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
