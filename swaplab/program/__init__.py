"""
Programs
--------

The line-oriented text format a person writes by hand and the fuzzer
prints as its reproducer (``docs/programs.md``):

- :mod:`swaplab.program.ast`: the typed statements and ``format_program``;
- :mod:`swaplab.program.parser`: ``parse_program(text, filename)`` and
  ``load_program(path)``;
- :mod:`swaplab.program.interp`: ``run_program(program)`` on a World.

``parse_program(format_program(p)) == p`` for every program ``p``.
"""

from __future__ import annotations

from swaplab.program.ast import Program, format_program
from swaplab.program.interp import check_supported, exit_status, run_program, using_variant
from swaplab.program.parser import load_program, parse_program

__all__ = ("Program", "check_supported", "exit_status", "format_program", "load_program",
           "parse_program", "run_program", "using_variant")
