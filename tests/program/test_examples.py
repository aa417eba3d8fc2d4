"""Every example program runs on mainline with no finding and every expectation met."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.errors import InvalidScenario
from swaplab.kernel.custom import FAULTS
from swaplab.program import check_supported, format_program, load_program, parse_program, run_program

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CALLERS = ("demo", "reclaim", "swapin", "fork", "zap", "madv_free", "madv_pageout", "swapoff",
           "shmem", "ksm", "hibernation", "faults", "mthp")
# Examples using operations the World does not model yet.  When it does, the
# test below fails: check the example's expectations and remove it from here.
NOT_MODELED_YET: set[str] = set()


def test_one_example_per_caller() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.swp")) == sorted(CALLERS)


@pytest.mark.parametrize("name", CALLERS)
def test_example(name: str) -> None:
    program = load_program(str(EXAMPLES / f"{name}.swp"))
    assert parse_program(format_program(program)) == program
    if name in NOT_MODELED_YET:
        with pytest.raises(InvalidScenario, match="not modeled yet"):
            check_supported(program)
        return
    result = run_program(program)
    assert result["findings"] == []
    assert result["oopses"] == []
    assert result["unmet"] == [], result["unmet"]
    assert result["expects"], "every example checks what it shows"


def test_faults_example_arms_every_fault() -> None:
    text = (EXAMPLES / "faults.swp").read_text()
    armed = {line.split()[1] for line in text.splitlines() if line.startswith("fault ")}
    assert armed == set(FAULTS)


def test_fork_example_goes_past_swap_map_max() -> None:
    text = (EXAMPLES / "fork.swp").read_text()
    assert "count=63" in text
