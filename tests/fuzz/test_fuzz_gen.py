"""The generator: every program parses and runs as generated; one seed, one program."""

from __future__ import annotations

from collections import Counter

from swaplab.fuzz.gen import (
    STATEMENT_KINDS,
    HypothesisChoices,
    Weights,
    generate_program,
    generate_with,
    statement_kind,
)
from swaplab.program import check_supported, format_program, parse_program


def test_10000_seeds_parse_and_are_supported():
    kinds: Counter[str] = Counter()
    for seed in range(10_000):
        program = generate_program(seed)
        assert len(program) == 30
        text = format_program(program)
        again = parse_program(text, f"<seed {seed}>")
        assert again == program, seed
        check_supported(again)
        kinds.update(statement_kind(s) for s in program.statements)
    # every statement kind is generated, none that the coverage list lacks
    assert set(kinds) == set(STATEMENT_KINDS)


def test_same_seed_same_program_different_seeds_differ():
    assert all(generate_program(s) == generate_program(s) for s in range(50))
    texts = {format_program(generate_program(s)) for s in range(50)}
    assert len(texts) == 50


def test_weights_and_length():
    only_devices = Weights(**{name: 0 for name in Weights.rule_names()} | {"device": 1})
    program = generate_program(3, only_devices, n_ops=10)
    # three devices at most, then no rule is enabled: the program ends early
    assert [statement_kind(s) for s in program.statements] == ["device"] * 3
    assert len(generate_program(3, n_ops=7)) == 7


def test_hypothesis_choices_drive_the_same_machine():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None, database=None)
    @given(st.data())
    def check(data):  # type: ignore[no-untyped-def]
        program = generate_with(HypothesisChoices(data), n_ops=15)
        assert parse_program(format_program(program)) == program
        check_supported(program)

    check()
