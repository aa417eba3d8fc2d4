"""A kernel oops: the model hit a NULL dereference or BUG and the task dies.

Raised after the ``crash`` finding is recorded; the simulator catches it at
the operation boundary, ends the task's operation there and goes on with the
next one (a real oops kills the task and leaves its locks held).
"""

from __future__ import annotations


class KernelOops(Exception):
    pass
