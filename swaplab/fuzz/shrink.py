"""Shrinking a failing program to a minimal one.

Design notes (after Hypothesis's shrinker essay):

* A program is a sequence of operations; "simpler" is one order,
  :func:`sort_key`: fewer operations, then fewer processes, then smaller
  arguments (the sum of each operation's own ``cost``).  A candidate is
  kept only if it is strictly simpler *and* still shows the finding (same
  kind, same function).
* Passes are named methods listed in ``PASSES``; each is deterministic in
  whether it makes progress, and loops stay valid while the program
  shrinks.  The shrinker runs the passes until a full round changes
  nothing, so the result is 1-minimal: no single operation, process or
  argument can be removed or simplified without losing the finding.
* Passes, cheapest first: ``delete_chunks`` (ddmin: halves, quarters, ...
  down to single operations), ``delete_processes`` (every operation of one
  process), ``simplify_ops`` (each operation's simpler forms, as its
  program module proposes them), ``renumber`` (canonical names).
* A budget of test runs bounds the work; shrinking stops early, returning
  the simplest program found so far, when it is spent.

XX: passes that merge two processes into one, or move an operation
earlier, would find smaller programs for some races; not needed yet.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, Protocol, Sequence, TypeVar


class ShrinkableOp(Protocol):
    def cost(self) -> int: ...
    def process(self) -> str | None: ...
    def simpler(self) -> Iterable["ShrinkableOp"]: ...


T = TypeVar("T", bound=ShrinkableOp)


def sort_key(ops: Sequence[ShrinkableOp]) -> tuple[int, int, int]:
    """Fewer operations, then fewer processes, then smaller arguments."""
    procs = {p for op in ops if (p := op.process()) is not None}
    return (len(ops), len(procs), sum(op.cost() for op in ops))


class Shrinker(Generic[T]):
    PASSES = ("delete_chunks", "delete_processes", "simplify_ops", "renumber")

    def __init__(self, ops: Sequence[T], test: Callable[[list[T]], bool],
                 normalize: Callable[[list[T]], list[T]] | None = None,
                 budget: int = 2000) -> None:
        self.best: list[T] = list(ops)
        self.test = test
        self.normalize = normalize
        self.budget = budget
        self.calls = 0

    def consider(self, candidate: list[T]) -> bool:
        """Adopt ``candidate`` if it is simpler and still fails."""
        if self.calls >= self.budget:
            return False
        if sort_key(candidate) >= sort_key(self.best):
            return False
        self.calls += 1
        if self.test(candidate):
            self.best = candidate
            return True
        return False

    def shrink(self) -> list[T]:
        while self.calls < self.budget:
            before = sort_key(self.best)
            for name in self.PASSES:
                getattr(self, name)()
            if sort_key(self.best) >= before:
                break
        return self.best

    # --- passes --------------------------------------------------------------
    def delete_chunks(self) -> None:
        n = len(self.best)
        size = max(n // 2, 1)
        while size >= 1:
            i = 0
            while i < len(self.best):
                candidate = self.best[:i] + self.best[i + size:]
                if not self.consider(candidate):
                    i += size
            size //= 2

    def delete_processes(self) -> None:
        procs = sorted({p for op in self.best if (p := op.process()) is not None})
        for proc in procs:
            self.consider([op for op in self.best if op.process() != proc])

    def simplify_ops(self) -> None:
        i = 0
        while i < len(self.best):
            for simpler in self.best[i].simpler():
                candidate = self.best[:i] + [simpler] + self.best[i + 1:]  # type: ignore[list-item]
                if self.consider(candidate):
                    break
            i += 1

    def renumber(self) -> None:
        if self.normalize is None:
            return
        candidate = self.normalize(list(self.best))
        if candidate != self.best and self.calls < self.budget:
            self.calls += 1
            if self.test(candidate):
                self.best = candidate
