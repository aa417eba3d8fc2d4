"""Spec §10.3 rows S8 and S9 as programs, and the teardown rule of issue 3.

S1-S5 are in tests/mm/test_scenarios.py, S6-S7 in tests/mm/test_mthp.py,
S10 in tests/variants/test_s10.py, S11-S13 in tests/mm/test_swapfile.py.
"""

from __future__ import annotations

import pytest

from swaplab.errors import InvalidScenario
from swaplab.fuzz.gen import generate_program
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_info
from swaplab.mm.vmstat import NR_SWAPCACHE, node_stat
from swaplab.program.interp import exit_status, run_program, using_variant
from swaplab.program.parser import parse_program

# S8: a shmem page written out, read back (slot freed), written out again to a
# new slot, then a hole punched over it (swap_put_entries_direct frees it).
S8 = {
    "sync": """
device ram0 4M sync
swapon ram0
process p
shmem f 1
p map f
p write f
p pageout f
expect slot ram0:1 count=1
p read f
expect slot ram0:1 count=0
p pageout f
expect slot ram0:2 count=1
punch f
expect slot ram0:2 count=0
""",
    "ssd": """
device vda 4M ssd
swapon vda
process p
shmem f 1
p map f
p write f
p pageout f
expect slot vda:1 count=1 cached
p read f
expect slot vda:1 count=0
punch f
expect slot vda:1 count=0
""",
}


@pytest.mark.parametrize("kind", sorted(S8))
@pytest.mark.parametrize("variant", ["mainline", "legacy"])
def test_s8_shmem_writeout_swapin_truncate(kind: str, variant: str) -> None:
    with using_variant(variant) as name:
        r = run_program(parse_program(S8[kind], f"s8-{kind}.swp"), variant=name)
    assert r["unmet"] == [] and r["findings"] == [] and exit_status(r) == 0


@pytest.mark.parametrize("variant", ["mainline", "legacy"])
def test_teardown_leaves_every_device_empty(variant: str) -> None:
    """After all processes exit, files go and the snapshot closes: no slot in use, no cached folio."""
    programs = refused = 0
    with using_variant(variant) as name:
        for seed in range(150):
            try:
                r = run_program(generate_program(seed), seed=seed, variant=name)
            except InvalidScenario:
                refused += 1            # uses a process the OOM killer took: not run to the end
                continue
            assert r["findings"] == [], (seed, r["findings"][:2])
            for si in swap_info:
                if si is not None and si.swap_map is not None:
                    assert swapfile.swap_usage_in_pages(si) == 0, (seed, si.type)
            assert node_stat[NR_SWAPCACHE] == 0, seed
            programs += 1
    print(f"{programs} random programs on {variant}: every device empty after teardown "
          f"({refused} stopped early)")
    assert programs >= 140
