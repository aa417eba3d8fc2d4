"""
Kernel oracle
-------------

Everything needed to hold the model against a real kernel's recorded
behaviour (``shared/oracle/``):

- :mod:`swaplab.oracle.ops`: ``parse_ops(text, filename)`` reads an ops
  scenario into typed, frozen :class:`~swaplab.oracle.ops.Op` records;
- :mod:`swaplab.oracle.encode`: the exact strings swaptest prints (``map``,
  ``slots``, ``shm_map``, ``ksm_map``, ``devs``, REPORT/SNAP/OP/PAGES lines)
  and their decoders;
- :mod:`swaplab.oracle.results`: ``load_runs(path)`` and
  ``compare_reports(expected_run, actual)``.
"""

from __future__ import annotations

from swaplab.oracle import encode, ops, results
from swaplab.oracle.encode import *  # noqa: F401,F403
from swaplab.oracle.ops import *  # noqa: F401,F403
from swaplab.oracle.results import *  # noqa: F401,F403

__all__ = tuple(sorted({*encode.__all__, *ops.__all__, *results.__all__}))
