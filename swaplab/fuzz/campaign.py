"""Fuzz campaigns: jobs that generate, run and shrink programs, and record findings.

Design notes:

* **Seeds.**  Job ``j`` of ``jobs`` runs the programs of seeds ``S + j``,
  ``S + j + jobs``, ``S + j + 2*jobs``, ...; with ``programs=N`` the
  campaign runs exactly the seeds ``S .. S+N-1``, whatever the number of
  jobs or where they run (local processes or a Dask cluster).
* **Findings** are deduplicated by (kind, function).  A finding's stored
  reproducer is the shrunk program of the *smallest seed* that hit it:
  a job that hits a known finding with a smaller seed than the stored one
  shrinks again and replaces it (a compare-and-set in one transaction).
  Shrinking is deterministic, so the same seeds give the same findings and
  the same shrunk programs, run after run, with 1 or N jobs.  (With
  ``--seconds`` alone the seeds reached depend on the machine's speed.)
* **Crash safety.**  A finding is committed (SQLite, WAL,
  ``synchronous=FULL``, one transaction) *before* the campaign reports it
  as recorded; each job checkpoints its next seed at least every half
  second, so a restarted campaign resumes there.  Programs between the last
  checkpoint and a kill run again after the restart; they find nothing new.
* **Coverage.**  Statement kinds come from the generated programs; modeled
  functions from ``sys.setprofile`` on sampled programs, recording the code
  objects of ``swaplab.mm``, ``swaplab.kernel.power`` and
  ``swaplab.variants``.  The hook makes a program about 3x slower (Python
  3.11 runs the unspecialized bytecode under it), so sampling backs off:
  the first program is profiled, and after each profiled program the next
  one is :data:`PROFILE_EVERY` programs later if it hit a function not seen
  before, else twice the last gap, up to :data:`PROFILE_EVERY_MAX`.  Early
  on, while programs still reach new functions, one in 32 is profiled;
  a long campaign settles at one in 512 (under 1% of its time).  Which
  programs are profiled depends only on the seeds, and profiling changes
  no finding.
* **Events.**  A job reports progress and findings through ``emit(dict)``:
  a queue to the coordinator (multiprocessing or Dask), or a callback when
  the job runs in the coordinator's process.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from swaplab.errors import InvalidScenario
from swaplab.fuzz.db import FindingsDB
from swaplab.fuzz.gen import Weights, generate_program, statement_kind
from swaplab.fuzz.shrink import FindingKey, reproducer, shrink_active

__all__ = (
    "PROFILE_EVERY",
    "PROFILE_EVERY_MAX",
    "SEED_BUGS",
    "CampaignConfig",
    "modeled_functions",
    "next_profiled_program",
    "run_job",
    "seeds_of_job",
)

PROFILE_EVERY = 32             # programs between profiled ones while coverage grows
PROFILE_EVERY_MAX = 512        # ... and at most, once it stopped growing
CHECKPOINT_S = 0.5
PROGRESS_S = 0.25

SEED_BUGS: dict[str, tuple[FindingKey, ...]] = {
    # spec §6.1: free_all_swap_pages stops one slot short; the slot leaks when
    # /dev/snapshot frees its slots (close, or SNAPSHOT_FREE_SWAP_PAGES).
    "seed_bug_leak": (("swap-leak", "snapshot_release"), ("swap-leak", "snapshot_ioctl")),
    # spec §6.2: swap_free_hibernation_slot takes the cluster lock again.
    "seed_bug_recursion": (("lock-recursion", "swap_entry_swapped"),),
    # spec §6.3: unuse_pte puts the swap count on the KSM copy.
    "seed_bug_ksm": (("vm-warn", "folio_put_swap"),),
}
"""The three bugs of the review thread, as the findings that show them on v5."""

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class CampaignConfig:
    """What a campaign runs; every job gets the same config."""

    db: str
    variant: str = "mainline"
    seed: int = 0
    jobs: int = 1
    seconds: float | None = 10.0
    programs: int | None = None        # run exactly the seeds seed .. seed+programs-1
    n_ops: int = 30
    weights: Weights = dataclasses.field(default_factory=Weights)
    # Stop once each group has one of its findings recorded (the bench's seed bugs).
    stop_at_bugs: tuple[tuple[FindingKey, ...], ...] = ()


def seeds_of_job(cfg: CampaignConfig, job: int, start: int = 0) -> Any:
    """The seeds of job ``job``, from its ``start``-th on."""
    k = start
    while True:
        seed = cfg.seed + job + k * cfg.jobs
        if cfg.programs is not None and seed >= cfg.seed + cfg.programs:
            return
        yield k, seed
        k += 1


# ---- modeled-function coverage ----------------------------------------------------------

_MODEL_PREFIXES = ("swaplab.mm.", "swaplab.kernel.power.", "swaplab.variants.")


def modeled_functions() -> set[str]:
    """Every module-level function of the modeled kernel code (the coverage denominator)."""
    import importlib
    import inspect
    import pkgutil

    import swaplab.kernel.power
    import swaplab.mm
    out: set[str] = set()
    for pkg in (swaplab.mm, swaplab.kernel.power):
        for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            mod = importlib.import_module(info.name)
            for name, fn in vars(mod).items():
                if inspect.isfunction(fn) and fn.__module__ == mod.__name__:
                    out.add(name)
    return out


class _Profiler:
    """Collect the modeled functions called while installed (sys.setprofile)."""

    def __init__(self) -> None:
        self.codes: set[CodeType] = set()
        self.names: set[str] = set()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            self.codes.add(frame.f_code)

    def collect(self) -> set[str]:
        """Names of the modeled functions among the codes seen since the last collect.

        A modeled function is a module-level ``def`` (its qualified name is
        its name), as :func:`modeled_functions` counts them: methods,
        nested functions, lambdas and comprehensions are not counted.
        """
        new = set()
        for code in self.codes:
            name = code.co_name
            if name in self.names or code.co_qualname != name or name.startswith("<"):
                continue
            mod = _module_of(code)
            if mod is not None and mod.startswith(_MODEL_PREFIXES):
                new.add(name)
        self.codes.clear()
        self.names |= new
        return new


_file_modules: dict[str, str | None] = {}


def _module_of(code: CodeType) -> str | None:
    mod = _file_modules.get(code.co_filename, "")
    if mod == "":
        mod = None
        for name, m in list(sys.modules.items()):
            if getattr(m, "__file__", None) == code.co_filename:
                mod = name
                break
        _file_modules[code.co_filename] = mod
    return mod


def next_profiled_program(ran: int, gap: int, found: bool) -> tuple[int, int]:
    """The sampling schedule: after profiling program ``ran`` (``gap`` after the one before).

    ``found``: that program hit a modeled function not seen before.
    Return: (the next program to profile, its gap).
    """
    gap = PROFILE_EVERY if found else min(2 * gap, PROFILE_EVERY_MAX)
    return ran + gap, gap


# ---- one job ------------------------------------------------------------------------

def _keys(result: dict[str, Any]) -> list[FindingKey]:
    """The distinct (kind, function) of a run's findings, in the order they were reported."""
    out: list[FindingKey] = []
    for f in result["findings"]:
        key = (f["kind"], f["function"] or "")
        if key not in out:
            out.append(key)
    return out


def _first(result: dict[str, Any], key: FindingKey) -> dict[str, Any]:
    return next(f for f in result["findings"] if (f["kind"], f["function"] or "") == key)


def run_job(cfg: CampaignConfig, job: int, emit: Emit | None = None) -> dict[str, Any]:
    """Run job ``job`` of the campaign until its seeds, its time or its bug list run out.

    Return: {"job", "programs", "refused", "seconds", "next"}.
    """
    from swaplab.program import run_program
    from swaplab.program.interp import using_variant

    emit = emit or (lambda event: None)
    db = FindingsDB(cfg.db)
    try:
        # Findings are recorded under the variant as the user names it (--variant V).
        with using_variant(cfg.variant):
            return _run_job(cfg, job, emit, db, cfg.variant, run_program)
    finally:
        db.close()


def _run_job(cfg: CampaignConfig, job: int, emit: Emit, db: FindingsDB, variant: str,
             run_program: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    ckpt_key = (variant, cfg.seed, cfg.jobs, job)
    start, programs, prior_s = db.progress(*ckpt_key) or (0, 0, 0.0)
    t0 = time.monotonic()
    deadline = None if cfg.seconds is None else t0 + cfg.seconds
    handled: set[FindingKey] = set()

    def all_found() -> bool:
        known = db.known(variant)
        return all(any(key in known for key in group) for group in cfg.stop_at_bugs)
    profiler = _Profiler()
    next_profiled, profile_gap = 0, PROFILE_EVERY
    kinds_seen: set[str] = set()
    refused = 0
    hits: dict[FindingKey, int] = {}
    last_ckpt = last_progress = t0
    next_k = start
    new_kinds: set[str] = set()
    new_funcs: set[str] = set()
    ran = 0
    result_had_findings = False

    def now_s() -> float:
        return prior_s + time.monotonic() - t0

    def checkpoint() -> None:
        db.checkpoint(*ckpt_key, next_k, programs, now_s(), hits)
        hits.clear()

    for k, seed in seeds_of_job(cfg, job, start):
        if deadline is not None and time.monotonic() >= deadline:
            break
        if cfg.stop_at_bugs and (ran == 0 or result_had_findings) and all_found():
            break
        result_had_findings = False
        program = generate_program(seed, cfg.weights, cfg.n_ops)
        for stmt in program.statements:
            kind = statement_kind(stmt)
            if kind not in kinds_seen:
                kinds_seen.add(kind)
                new_kinds.add(kind)
        profile = PROFILE_EVERY > 0 and ran == next_profiled
        if profile:
            sys.setprofile(profiler)
        try:
            result = run_program(program)
        except InvalidScenario:
            result = None           # the World refused a statement at run time (a killed process)
            refused += 1
        finally:
            if profile:
                sys.setprofile(None)
                found = profiler.collect()
                new_funcs |= found
                next_profiled, profile_gap = next_profiled_program(ran, profile_gap, bool(found))
        ran += 1
        programs += 1
        next_k = k + 1
        if result is not None and result["findings"]:
            result_had_findings = True
            t_hit = now_s()
            for key in _keys(result):
                hits[key] = hits.get(key, 0) + 1
                if key in handled:
                    continue
                handled.add(key)
                stored = db.get_by_key(variant, *key)
                if stored is not None and stored.seed <= seed:
                    continue
                emit({"event": "hit", "job": job, "kind": key[0], "function": key[1],
                      "seed": seed, "t": t_hit})
                shrunk = shrink_active(program, key)
                text = reproducer(shrunk, key, variant)
                f = _first(result, key)
                entry = None if f["entry"] is None else f"{f['entry'][0]}:{f['entry'][1]}"
                fid, new = db.record_min_seed(variant, key[0], key[1], f["message"], entry, text,
                                              len(shrunk), seed, t_hit)
                # Reported only now that the transaction is committed.
                emit({"event": "finding", "job": job, "id": fid, "kind": key[0],
                      "function": key[1], "seed": seed, "first_seen_s": t_hit,
                      "ops": len(shrunk), "new": new})
        now = time.monotonic()
        if now - last_ckpt >= CHECKPOINT_S:
            checkpoint()
            last_ckpt = now
        if now - last_progress >= PROGRESS_S:
            emit({"event": "progress", "job": job, "programs": programs, "seconds": now_s(),
                  "kinds": sorted(new_kinds), "functions": sorted(new_funcs),
                  "refused": refused})
            new_kinds, new_funcs = set(), set()
            last_progress = now
    checkpoint()
    emit({"event": "progress", "job": job, "programs": programs, "seconds": now_s(),
          "kinds": sorted(new_kinds), "functions": sorted(new_funcs), "refused": refused,
          "done": True})
    return {"job": job, "programs": programs, "refused": refused, "seconds": now_s(),
            "next": next_k, "pid": os.getpid()}
