"""Planted bugs: every mutation of the model is caught by some checker.

Each ``m*.py`` here is a user variant (docs/variants.md) overriding one
model function with a copy that carries one small deliberate bug.  Applied
one at a time, each must make some checker report a finding on some example
program (``examples/*.swp``, ``examples/bugs/*.swp``) or, failing that, on
a random program (seeded): a finding that mainline does not give on the same
program.  The test names the checker that caught it:

* ``ledger``: the reference ledger (count-mismatch, count-underflow, swap-leak);
* ``invariants``: the structural invariants the ledger checks (cache-mismatch,
  cluster-accounting);
* ``lockdep``: the lock validator (lock-recursion, lock-order, lock-not-held);
* ``VM_WARN``: the VM_WARN recorder (vm-warn);
* ``hang/crash``: try_to_unuse's no-progress check, NULL dereferences.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import random
from pathlib import Path

import pytest

from swaplab.check.diff import random_program
from swaplab.check.findings import log
from swaplab.errors import InvalidScenario
from swaplab.program import load_program, run_program, using_variant
from swaplab.variants import get_variant

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"
MUTANTS = sorted(p.stem for p in HERE.glob("m[0-9]*.py"))
CHECKERS = {"count-mismatch": "ledger", "count-underflow": "ledger", "swap-leak": "ledger",
            "cache-mismatch": "invariants", "cluster-accounting": "invariants",
            "lock-recursion": "lockdep", "lock-order": "lockdep", "lock-not-held": "lockdep",
            "vm-warn": "VM_WARN", "hang": "hang/crash", "crash": "hang/crash",
            "data-corruption": "World data check"}
RANDOM_PROGRAMS = 200



def mutant(stem: str):
    return get_variant(f"{HERE / (stem + '.py')}:Mutant")


def programs():
    """Example programs first (with ``programs/`` here: paths the examples and the random
    generator do not reach), then random ones: (label, program)."""
    for path in sorted(EXAMPLES.glob("*.swp")) + sorted((EXAMPLES / "bugs").glob("*.swp")) \
            + sorted((HERE / "programs").glob("*.swp")):
        yield path.name, load_program(str(path))
    for seed in range(RANDOM_PROGRAMS):
        yield f"random seed {seed}", random_program(seed, random.Random(seed).randint(30, 60))


def findings_of(program, variant) -> list[tuple[str, str | None]]:
    """The findings of a run (up to where the World refused a statement, for a random program)."""
    with using_variant(variant) as name:
        try:
            run_program(program, variant=name)
        except InvalidScenario:
            pass        # e.g. a process the OOM killer took, used later
    return [(f.kind, f.function) for f in log.findings]


def first_catch(stem: str) -> tuple[str, list[tuple[str, str | None]]]:
    """The first program on which the mutant gives findings mainline does not, and those findings."""
    v = mutant(stem)
    for label, program in programs():
        baseline = set(findings_of(program, "mainline"))
        new = [f for f in findings_of(program, v) if f not in baseline]
        if new:
            return label, new
    raise AssertionError(f"{stem}: no checker caught it on the examples and "
                         f"{RANDOM_PROGRAMS} random programs")


def code_lines(fn) -> list[str]:
    src = inspect.getsource(fn)
    f = ast.parse(src).body[0]
    first = f.body[1] if isinstance(f.body[0], ast.Expr) else f.body[0]  # type: ignore[attr-defined]
    return [line.strip() for line in src.splitlines()[first.lineno - 1:] if line.strip()]


def test_at_least_ten_mutations() -> None:
    assert len(MUTANTS) >= 10


@pytest.mark.parametrize("stem", MUTANTS)
def test_mutant_is_the_model_function_with_one_small_change(stem: str) -> None:
    """When the model function changes, copy its new body into the mutant and plant the bug again."""
    [ov] = mutant(stem).overrides()
    mod = ov.func.__globals__
    original = getattr(importlib.import_module(mod["MODULE"]), ov.name)
    removed, added = [], []
    for line in difflib.ndiff(code_lines(original), code_lines(ov.func)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    assert (removed, added) == (mod["REMOVED"], mod["ADDED"]), f"{stem} drifted from the model"


@pytest.mark.parametrize("stem", MUTANTS)
def test_mutant_is_caught(stem: str) -> None:
    mod = mutant(stem).overrides()[0].func.__globals__
    label, new = first_catch(stem)
    expected = [(kind, function) for kind, function in new if kind in mod["KINDS"]]
    assert expected, f"{stem}: caught on {label} only by {new}, not by {mod['CHECKER']}"
    kind, function = expected[0]
    assert CHECKERS[kind] == mod["CHECKER"]
    print(f"{stem}: caught by {mod['CHECKER']} ({kind} in {function}) on {label}")
