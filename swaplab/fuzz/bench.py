"""The fuzzer's benchmark numbers (``swaplab bench`` keys, targets in parentheses).

* ``fuzz_programs_per_s`` (>= 500): programs of 30 operations per second on
  one core with every checker on -- a one-job campaign on ``mainline``
  (generation, run with the ledger after every step, checkpoints, sampled
  coverage; mainline has no finding, so nothing is shrunk);
* ``seconds_to_bug`` (each <= 10): for each seed bug, the median over 5
  seeds of the campaign time to its first hit on ``v5``, one job, from an
  empty database (shrinking the bugs found earlier is campaign time too);
* ``seed_bug_shrunk_ops`` (<= 8, 8, 12): the largest shrunk reproducer of
  each bug over those campaigns.
"""

from __future__ import annotations

import statistics
import tempfile
from typing import Any

from swaplab.fuzz.campaign import SEED_BUGS, CampaignConfig
from swaplab.fuzz.runner import run_campaign

BENCH_SEEDS = (0, 1000, 2000, 3000, 4000)


def fuzz_programs_per_s(programs: int = 1500) -> float:
    with tempfile.TemporaryDirectory() as db:
        run_campaign(CampaignConfig(db=db, variant="mainline", seed=10**6, seconds=None,
                                    programs=50))          # warm up: imports, first boot
    with tempfile.TemporaryDirectory() as db:
        result = run_campaign(CampaignConfig(db=db, variant="mainline", seed=0, seconds=None,
                                             programs=programs))
    return float(result["programs"] / result["seconds"])


def seconds_to_bug(seeds: tuple[int, ...] = BENCH_SEEDS, cap_s: float = 60.0) -> dict[str, Any]:
    """Median time to first hit of each seed bug, and the shrunk sizes."""
    times: dict[str, list[float]] = {bug: [] for bug in SEED_BUGS}
    ops: dict[str, list[int]] = {bug: [] for bug in SEED_BUGS}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as db:
            result = run_campaign(CampaignConfig(db=db, variant="v5", seed=seed, seconds=cap_s,
                                                 stop_at_bugs=tuple(SEED_BUGS.values())))
        for bug, keys in SEED_BUGS.items():
            hits = [f for f in result["findings"] if (f["kind"], f["function"]) in keys]
            times[bug].append(min((f["first_seen_s"] for f in hits), default=float("inf")))
            if hits:
                ops[bug].append(min(f["ops"] for f in hits))
    return {
        "seconds_to_bug": {bug: round(statistics.median(t), 2) for bug, t in times.items()},
        "seconds_to_bug_each": {bug: [round(x, 2) for x in t] for bug, t in times.items()},
        "seed_bug_shrunk_ops": {bug: max(o) if o else None for bug, o in ops.items()},
    }


def fuzz_bench(quick: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"fuzz_programs_per_s": round(fuzz_programs_per_s(300 if quick
                                                                             else 1500))}
    out.update(seconds_to_bug(BENCH_SEEDS[:2] if quick else BENCH_SEEDS))
    return out


# ---- engine comparison (docs/fuzzing.md): the same rule machine on two choice sources ----

def engine_rates(n: int = 300, run: bool = True) -> dict[str, float]:
    """Programs per second: the hand-written engine and a Hypothesis ``st.data()`` driver.

    Both draw every choice of the same rule machine (:mod:`swaplab.fuzz.gen`);
    ``run`` also runs each program on v5 with every check on, as a campaign does.
    """
    import time

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from swaplab.errors import InvalidScenario
    from swaplab.fuzz.gen import HypothesisChoices, generate_program, generate_with
    from swaplab.program import run_program
    from swaplab.program.interp import using_variant

    def execute(program: Any) -> None:
        if run:
            try:
                run_program(program)
            except InvalidScenario:
                pass

    with using_variant("v5"):
        t = time.perf_counter()
        for seed in range(n):
            execute(generate_program(seed))
        hand = n / (time.perf_counter() - t)

        @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def driver(data: Any) -> None:
            execute(generate_with(HypothesisChoices(data)))

        t = time.perf_counter()
        driver()
        hyp = n / (time.perf_counter() - t)
    return {"hand_written": round(hand, 1), "hypothesis": round(hyp, 1)}
