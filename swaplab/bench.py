"""``swaplab bench``: the model's speed and memory, as one JSON object.

Keys (targets in parentheses):

* ``cycles_per_s_checks_off`` (>= 200,000): an order-0 cycle -- lock a
  folio, ``folio_alloc_swap``, ``folio_dup_swap``, ``folio_put_swap``,
  ``folio_free_swap``, unlock -- on a 1 GiB SSD, in the production build:
  ``python -O``, where every ``if __debug__:`` context check is compiled out
  as CONFIG_DEBUG_VM=n compiles out VM_WARN_ON and lockdep (measured in a
  child process);
* ``cycles_per_s_checks_on`` (>= 60,000): the same cycle with every check on
  (record mode, the lock validator installed), on the checked build
  (``make compiled``: the source with only the lock API compiled, see
  tools/build_compiled.py) when it exists -- measured in a child process
  that first runs a seed-bug program and must print the very findings the
  source prints -- and ``cycles_per_s_checks_on_source`` on the source;
* ``bytes_per_slot_1tib`` (<= 2.0): memory the model allocates for a 1 TiB
  device (swapon, then a quarter of it swapped out: order-9 folios
  allocated, dup'ed once and dropped from the swap cache), per slot,
  measured with tracemalloc;
* ``op_cost_ratio_1tib_vs_1gib`` (<= 1.25): cost per cycle on the
  quarter-used 1 TiB device over the cost on the 1 GiB device, same run.

Each rate is the best of several timed rounds, as ``timeit`` reports.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from swaplab.check import findings
from swaplab.kernel.custom import register_backing, swap_backing
from swaplab.kernel.dup import folio, folio_lock, folio_unlock
from swaplab.mm import swapfile
from swaplab.mm.swap_state import swap_cache_del_folio
from swaplab.sim.system import boot

GiB = 1 << 30
TiB = 1 << 40


def _cycle_rate(n: int, rounds: int = 5) -> float:
    """Order-0 cycles per second on the current (booted, swapped-on) model."""
    f = folio(0)
    p = f.pages[0]
    alloc, dup, put, free = (swapfile.folio_alloc_swap, swapfile.folio_dup_swap,
                             swapfile.folio_put_swap, swapfile.folio_free_swap)
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            folio_lock(f)
            alloc(f)
            dup(f, p)
            put(f, p)
            free(f)
            folio_unlock(f)
        dt = time.perf_counter() - t0
        best = max(best, n / dt)
    if findings.log.findings:
        raise RuntimeError(f"benchmark cycle raised findings: {findings.log.findings[:3]}")
    return best


def _swapon(name: str, size: int, kind: str = "ssd") -> None:
    register_backing(swap_backing(name, size, kind))
    rc = swapfile.sys_swapon(name, 0)
    if rc:
        raise RuntimeError(f"swapon {name}: {rc}")


def _fill(fraction: float) -> int:
    """Swap out order-9 folios until ``fraction`` of the device is in use."""
    si = swapfile.swap_info[0]
    assert si is not None
    target = int(si.pages * fraction)
    n = 0
    # One struct folio serves every swap-out in turn, as the page allocator
    # recycles the memory of freed folios.
    f = folio(9)
    folio_lock(f)
    while swapfile.swap_usage_in_pages(si) + 512 <= target:
        if swapfile.folio_alloc_swap(f):
            break
        swapfile.folio_dup_swap(f, None)
        swap_cache_del_folio(f)
        n += 1
    folio_unlock(f)
    return n


def cycles_checks_on(n: int) -> float:
    boot(checks=findings.RECORD)
    _swapon("/dev/vda", GiB)
    return _cycle_rate(n)


# The self-check of a build with checks on: a program whose findings name
# lock acquisition sites (v5's recursive cluster lock, spec §6.2).
SELF_CHECK_PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  "examples", "bugs", "hib_recursion_rotational.swp")


def lock_findings(path: str = SELF_CHECK_PROGRAM) -> list[list[Any]]:
    """(kind, function, message) of every finding of the program at ``path`` on v5."""
    from swaplab.program import load_program, run_program, using_variant
    with using_variant("v5"):
        result = run_program(load_program(path), checks=findings.RECORD)
    out = [[f["kind"], f["function"], f["message"]] for f in result["findings"]]
    if not any(k == "lock-recursion" for k, _, _ in out):
        raise RuntimeError(f"{path}: no lock-recursion finding on v5")
    return out


def cycles_checks_off_here(n: int) -> float:
    boot(checks=findings.OFF)
    _swapon("/dev/vda", GiB)
    return _cycle_rate(n)


COMPILED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "build", "compiled")


def compiled_build() -> str | None:
    """The mypyc production build (``make compiled``), if it has been built."""
    if os.path.isdir(os.path.join(COMPILED, "swaplab")):
        return COMPILED
    return None


CHECKS_BUILD = os.path.join(os.path.dirname(COMPILED), "compiled-checks")


def cycles_checks_on_built(n: int) -> tuple[float, str]:
    """The checked build (``make compiled``), in a child process, if it has been built.

    The child first runs lock_findings(); a build whose findings differ from
    the source's in any kind, function or message is refused.
    Return: (cycles per second, "mypyc: lock API"), or the source's figure
    and "source" when there is no such build.
    """
    if not os.path.isdir(os.path.join(CHECKS_BUILD, "swaplab")):
        return cycles_checks_on(n), "source"
    found, rate, where = _run_child(
        CHECKS_BUILD, [],
        "import swaplab.kernel.locking as l; "
        "from swaplab.bench import cycles_checks_on, lock_findings; "
        f"out = [lock_findings({SELF_CHECK_PROGRAM!r}), cycles_checks_on({n}), l.__file__]")
    if found != lock_findings():
        raise RuntimeError(f"{CHECKS_BUILD}: its findings differ from the source's: {found}")
    if not where.startswith(CHECKS_BUILD) or where.endswith(".py"):
        raise RuntimeError(f"{CHECKS_BUILD}: the lock API ran from {where}, not compiled")
    return float(rate), "mypyc: lock API"


def cycles_checks_off(n: int) -> tuple[float, str]:
    """Run the production build (``python -O``) in a child process.

    The production build is the compiled one (tools/build_compiled.py,
    ``make compiled``: the same source with ``if __debug__:`` compiled out,
    mypyc) when it exists, else the source under ``python -O``.
    Return: (cycles per second, which build ran: "mypyc" or "source").
    """
    build = compiled_build()
    rate, where = _run_child(build, ["-O"],
                             "import swaplab; from swaplab.bench import cycles_checks_off_here; "
                             f"out = [cycles_checks_off_here({n}), swaplab.__file__]")
    return float(rate), "mypyc" if build and where.startswith(build) else "source"


def _run_child(build: str | None, flags: list[str], code: str) -> Any:
    """Run ``code`` (which sets ``out``) in a child Python on ``build`` (None: the source).

    The child runs outside the source tree (``-c`` puts the working
    directory first on sys.path), with ``build`` first on its path.
    Return: ``out``, passed back as JSON.
    """
    path = ([build] if build else []) + [p for p in sys.path if p]
    result = subprocess.run([sys.executable, *flags, "-c",
                             f"import json; {code}; print(json.dumps(out))"],
                            check=True, cwd=build or os.path.dirname(COMPILED),
                            capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(path)))
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory_and_ratio(size: int, n: int) -> tuple[float, float]:
    """Bytes per slot on a device of ``size`` a quarter in use, and its cycle cost ratio."""
    boot(checks=findings.OFF)
    _swapon("/dev/small", GiB)
    small_rate = _cycle_rate(n)
    boot(checks=findings.OFF)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _swapon("/dev/big", size)
    _fill(0.25)
    gc.collect()            # the swapped-out folios are garbage (page <-> folio cycles)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    si = swapfile.swap_info[0]
    assert si is not None
    bytes_per_slot = (after - before) / si.max
    big_rate = _cycle_rate(n)
    return bytes_per_slot, small_rate / big_rate


def run_bench(quick: bool = False) -> dict[str, Any]:
    n = 3000 if quick else 30000
    big = 4 * GiB if quick else TiB
    result: dict[str, Any] = {}
    rate, build = cycles_checks_off(n)
    result["cycles_per_s_checks_off"] = round(rate)
    result["checks_off_build"] = build
    rate, build = cycles_checks_on_built(n)
    result["cycles_per_s_checks_on"] = round(rate)
    result["checks_on_build"] = build
    # Without a checked build the figure above is the source's already.
    result["cycles_per_s_checks_on_source"] = round(rate if build == "source"
                                                    else cycles_checks_on(n))
    bps, ratio = memory_and_ratio(big, n)
    result["bytes_per_slot_1tib" if not quick else "bytes_per_slot_4gib"] = round(bps, 3)
    result["op_cost_ratio_1tib_vs_1gib" if not quick else "op_cost_ratio_4gib_vs_1gib"] = \
        round(ratio, 3)
    result["ms_per_50op_program_checks_on"] = round(ms_per_50op_program(20 if quick else 200), 2)
    result["cpu_count"] = os.cpu_count()
    result["python"] = sys.version.split()[0]
    result.update(fuzz_keys(quick))
    return result


def fuzz_keys(quick: bool = False) -> dict[str, Any]:
    """``fuzz_programs_per_s``, ``seconds_to_bug`` and ``seed_bug_shrunk_ops`` (swaplab/fuzz/bench.py)."""
    from swaplab.fuzz.bench import fuzz_bench
    return fuzz_bench(quick)


def ms_per_50op_program(n: int) -> float:
    """Mean ms of ``run_program`` (mainline, every checker on) over ``n`` generated 50-op programs.

    Target: < 20 ms.  Each program runs as ``swaplab run`` runs it: record
    mode, the lock validator installed, the reference ledger after every
    step and at the teardown.  A program the World stops early (a statement
    refused at run time) is not counted.
    """
    from swaplab.check.diff import random_program
    from swaplab.errors import InvalidScenario
    from swaplab.program import run_program
    programs = [random_program(seed, 50) for seed in range(n)]
    total, runs = 0.0, 0
    for program in programs:
        t0 = time.perf_counter()
        try:
            run_program(program, checks=findings.RECORD)
        except InvalidScenario:
            continue
        total += time.perf_counter() - t0
        runs += 1
    return 1000 * total / max(runs, 1)

