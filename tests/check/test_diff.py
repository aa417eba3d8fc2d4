"""The differential checker (``swaplab diff``): legacy (T13) vs mainline (T14F) agree after every
step on every example and on 10,000 random programs; v5 diverges where spec §6 says.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from swaplab.check import diff as diffmod
from swaplab.check.diff import (
    TOLERATED,
    DeviceObs,
    Difference,
    Observation,
    _Ctx,
    diff_ops,
    diff_program,
    diff_programs,
    random_program,
    tolerated_by,
)
from swaplab.cli.main import cli
from swaplab.include.linux.swap import SWAP_HAS_CACHE
from swaplab.oracle.ops import parse_ops
from swaplab.program import load_program

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/*.swp")) + sorted(ROOT.glob("examples/bugs/*.swp")) \
    + sorted(ROOT.glob("tests/mutations/programs/*.swp"))
SCENARIOS = Path("/work/shared/oracle/scenarios")
PAIR = ("legacy", "mainline")

# 10,000 random programs of 30-60 operations, in chunks that pytest-xdist spreads.
RANDOM_PROGRAMS = 10_000
CHUNKS = 20


def n_ops(seed: int) -> int:
    return 30 + seed % 31


# ---- the tolerated differences ------------------------------------------------------

def test_tolerated_is_spec_4_3_in_order_each_documented() -> None:
    assert [t.__name__ for t in TOLERATED] == [
        "swap_put_entries_direct_warns_once", "folio_swap_api_skips_validation",
        "hibernation_free_reclaims_cached_slot", "shmem_put_before_cache_delete",
        "folio_alloc_swap_alignment_warn", "swap_dup_entry_direct_has_no_nr"]
    for i, t in enumerate(TOLERATED, start=1):
        doc = t.__doc__ or ""
        assert doc.startswith(f"§4.3.{i}:"), t.__name__
        assert "expected" in doc or "nothing to match" in doc


def _obs(step: int, slots: dict[int, int], hib: set[int], hib_free: bool) -> Observation:
    m = bytearray(8)
    for off, byte in slots.items():
        m[off] = byte
    inuse = sum(1 for b in m if b)
    return Observation(step, "s snapshot close", step, "snapshot_release",
                       {0: DeviceObs("/dev/vda", bytes(m), (), inuse)},
                       [{"name": "/dev/vda", "used_kb": 4 * inuse}], {},
                       {"nr_swapcached": sum(1 for b in m if b & SWAP_HAS_CACHE)}, 0, False,
                       hibernation=frozenset((0, o) for o in hib), hib_free=hib_free)


def test_hibernation_free_of_a_readahead_cached_slot_is_tolerated() -> None:
    # Slot 2: a hibernation slot readahead also cached (0x41).  The free leaves
    # T13 with a cache-only slot (0x40), T14F with a free one.
    before = _obs(1, {2: 0x41}, {2}, False)
    legacy, mainline = _obs(2, {2: SWAP_HAS_CACHE}, set(), True), _obs(2, {}, set(), True)
    ctx = _Ctx(legacy, mainline, before, before)
    diffs = list(diffmod.differences(legacy, mainline))
    assert [d.what for d in diffs] == ["slot", "inuse", "swaps", "vmstat"]
    assert {tolerated_by(d, ctx) for d in diffs} == {"hibernation_free_reclaims_cached_slot"}
    # The same difference outside a hibernation free, or for a slot that was not one: divergence.
    ctx = _Ctx(_obs(2, {2: SWAP_HAS_CACHE}, set(), False), mainline, before, before)
    assert tolerated_by(diffs[0], ctx) is None
    other = Difference("slot", (0, 3), (0, True), (0, False))
    assert tolerated_by(other, _Ctx(legacy, mainline, before, before)) is None
    # A leaked hibernation slot (count 1 against free) is never tolerated.
    assert tolerated_by(Difference("slot", (0, 2), (1, False), (0, False)),
                        _Ctx(legacy, mainline, before, before)) is None


# ---- examples and oracle scenarios ---------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_legacy_and_mainline_agree_on_every_example(path: Path) -> None:
    out = diff_program(load_program(str(path)), PAIR)
    assert out.divergences == [] and out.tolerated == []
    assert out.steps == len(load_program(str(path)).statements) and out.refused is None


@pytest.mark.skipif(not SCENARIOS.is_dir(), reason="no oracle scenarios in this checkout")
@pytest.mark.parametrize("swapdev", ["virtio", "virtio-ssd", "brd"])
def test_legacy_and_mainline_agree_on_the_oracle_scenarios(swapdev: str) -> None:
    for path in sorted(SCENARIOS.glob("*.ops")):
        script = parse_ops(path.read_text(), str(path))
        out = diff_ops(script, PAIR, swapdev)
        assert out.divergences == [], (path.name, out.divergences)


@pytest.mark.skipif(not (SCENARIOS / "hib1.ops").exists(), reason="no oracle scenarios")
def test_v5_diverges_on_the_hibernation_scenario() -> None:
    script = parse_ops((SCENARIOS / "hib1.ops").read_text(), "hib1.ops")
    [d] = diff_ops(script, ("v5", "mainline"), "virtio-ssd").divergences
    assert d["what"] == "slot" and d["a"] == [1, False] and d["b"] == [0, False]


def test_a_planted_bug_diverges_at_its_first_slot() -> None:
    # A zap that forgets the put: the child's exit leaves count 2 where mainline has 1.
    mutant = ROOT / "tests/mutations/m11_zap_without_put.py"
    out = diff_program(load_program(str(ROOT / "examples/demo.swp")), (f"{mutant}:Mutant", "mainline"))
    [d] = out.divergences
    assert d["kind"] == "divergence" and d["what"] == "slot" and d["entry"] == d["where"]
    assert d["a"][0] == d["b"][0] + 1
    assert d["function"] and d["line"] and d["statement"] in d["message"]


# ---- the command ----------------------------------------------------------------------

def test_cli_no_divergence_exits_0() -> None:
    res = CliRunner().invoke(cli, ["diff", str(ROOT / "examples/fork.swp"), "--variants",
                                   "legacy,mainline", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["divergences"] == [] and out["steps"] == len(
        load_program(str(ROOT / "examples/fork.swp")).statements)


@pytest.mark.parametrize("name", ["hib_leak_ssd", "hib_leak_rotational", "hib_recursion_rotational",
                                  "hib_recursion_ssd"])
def test_cli_v5_vs_mainline_on_the_hibernation_bugs_exits_1(name: str) -> None:
    res = CliRunner().invoke(cli, ["diff", str(ROOT / f"examples/bugs/{name}.swp"),
                                   "--variants", "v5,mainline"])
    assert res.exit_code == 1, res.output
    assert "divergence" in res.output and "v5 has" in res.output


def test_cli_bad_variants_exit_2() -> None:
    for args in (["--variants", "legacy"], ["--variants", "legacy,nope"]):
        res = CliRunner().invoke(cli, ["diff", str(ROOT / "examples/demo.swp"), *args])
        assert res.exit_code == 2


# ---- random programs -------------------------------------------------------------------

def _kind(stmt) -> str:
    try:
        from swaplab.fuzz.gen import statement_kind
    except ImportError:
        return type(stmt).__name__
    return statement_kind(stmt)


def _all_kinds() -> set[str] | None:
    try:
        from swaplab.fuzz.gen import STATEMENT_KINDS
    except ImportError:
        return None
    return set(STATEMENT_KINDS)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_legacy_and_mainline_agree_on_random_programs(chunk: int) -> None:
    per = RANDOM_PROGRAMS // CHUNKS
    seeds = range(chunk * per, (chunk + 1) * per)
    kinds: set[str] = set()
    refused = 0
    t0 = time.perf_counter()
    programs = []
    for seed in seeds:
        program = random_program(seed, n_ops(seed))
        assert 30 <= len(program.statements) <= 60
        kinds.update(_kind(s) for s in program.statements)
        programs.append((program, seed))
    for (program, seed), out in zip(programs, diff_programs(programs, PAIR)):
        assert out.divergences == [], (seed, out.divergences)
        refused += out.refused is not None
    print(f"\nlegacy vs mainline: {len(seeds)} random programs (seeds {seeds.start}.."
          f"{seeds.stop - 1}) run, 0 divergences, {refused} stopped early by a refused statement, "
          f"{time.perf_counter() - t0:.1f} s")
    expected = _all_kinds()
    if expected is not None:
        assert expected <= kinds, f"kinds never generated: {sorted(expected - kinds)}"
