"""The shrinker: minimal on a synthetic predicate; valid, 1-minimal programs."""

from __future__ import annotations

from dataclasses import dataclass

from swaplab.errors import InvalidScenario
from swaplab.fuzz.shrink import ProgramOp, Shrinker, shows, shrink
from swaplab.program import format_program, parse_program, run_program
from swaplab.program.ast import Program
from swaplab.program.interp import using_variant


@dataclass(frozen=True)
class Num:
    """A synthetic op: a number owned by a process; simpler() counts down."""

    n: int
    proc: str | None = None

    def cost(self) -> int:
        return self.n

    def process(self) -> str | None:
        return self.proc

    def names(self) -> frozenset[str]:
        return frozenset({self.proc}) if self.proc else frozenset()

    def simpler(self):  # type: ignore[no-untyped-def]
        return [Num(m, self.proc) for m in range(self.n)]


def test_synthetic_predicate_shrinks_to_the_exact_minimum():
    # fails when some op >= 5 comes before an op >= 2 of another process
    def fails(ops):  # type: ignore[no-untyped-def]
        return any(a.n >= 5 and b.n >= 2 and a.proc != b.proc
                   for i, a in enumerate(ops) for b in ops[i + 1:])

    ops = [Num(n, f"p{n % 3}") for n in (9, 1, 7, 3, 8, 2, 6, 4)]
    best = Shrinker(ops, fails).shrink()
    # two ops, the smallest numbers that still fail (9 -> 5, 8 -> 2 of another process)
    assert best == [Num(5, "p0"), Num(2, "p1")]


def test_budget_stops_early_with_the_best_so_far():
    calls = []

    def fails(ops):  # type: ignore[no-untyped-def]
        calls.append(1)
        return sum(op.n for op in ops) >= 10

    best = Shrinker([Num(n) for n in range(10)], fails, budget=5).shrink()
    assert len(calls) <= 5 and sum(op.n for op in best) >= 10


LEAK = """\
device big 3M ssd file
process a
process b
b map 4
b write
swapon big prio=3
fault swap_read_io times=2
a snapshot open big
a snapshot alloc 3
b pageout 1..3
a snapshot free
sleep 10
b exit
"""


def test_program_shrinks_to_a_valid_1_minimal_program():
    key = ("swap-leak", "snapshot_ioctl")
    program = parse_program(LEAK)
    shrunk = shrink(program, key, "v5")
    text = format_program(shrunk)
    assert text == ("device d1 1M rotational\nprocess p1\nswapon d1\np1 snapshot open d1\n"
                    "p1 snapshot alloc\np1 snapshot free\n")
    with using_variant("v5"):
        assert shows(run_program(parse_program(text)), key)
        # no single statement can go, no argument can be simpler
        ops = [ProgramOp(s) for s in shrunk.statements]
        for i in range(len(ops)):
            rest = Program(tuple(op.stmt for op in ops[:i] + ops[i + 1:]))
            try:
                candidate = parse_program(format_program(rest))
            except InvalidScenario:
                continue
            assert not shows(run_program(candidate), key)
        for i, op in enumerate(ops):
            for simpler in op.simpler():
                cand = Program(tuple(o.stmt for o in ops[:i] + [simpler] + ops[i + 1:]))
                try:
                    candidate = parse_program(format_program(cand))
                except InvalidScenario:
                    continue
                assert not shows(run_program(candidate), key), simpler
