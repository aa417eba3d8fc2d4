"""The three error channels of swaplab (see docs/design.md).

1. Modeled failures are negative errno ints returned exactly where the
   kernel returns them (``-ENOMEM`` from ``folio_alloc_swap``); they are not
   exceptions.
2. A broken ``Context:`` rule or invariant of the modeled kernel is a
   *finding* (``swaplab.check.findings``).  In strict mode the first finding
   raises :class:`ModelBug`.
3. Misuse of swaplab itself (a bad program, header or flag) raises
   :class:`InvalidScenario`; a bug in swaplab's own machinery raises
   :class:`SwaplabInternalError`.
"""

from __future__ import annotations


class SwaplabError(Exception):
    """Base class of every exception swaplab raises on purpose."""


class InvalidScenario(SwaplabError):
    """Bad user input: names the file, line, column and what was expected.

    The command line turns it into exit status 2.
    """

    def __init__(self, msg: str, file: str | None = None, line: int | None = None,
                 col: int | None = None) -> None:
        self.msg = msg
        self.file = file
        self.line = line
        self.col = col
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.msg}"


class ModelBug(SwaplabError):
    """A finding raised in strict mode: the modeled kernel broke a rule."""

    def __init__(self, finding: object) -> None:
        self.finding = finding
        super().__init__(str(finding))


class SwaplabInternalError(SwaplabError):
    """This should never happen: a bug in swaplab, not in the model."""
