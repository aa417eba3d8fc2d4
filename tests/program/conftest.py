"""Fixtures for the program tests: a user variant that makes reclaim hit a BUG."""

from __future__ import annotations

from pathlib import Path

import pytest

OOPS_VARIANT = '''
from swaplab.include.linux.mmdebug import VM_BUG_ON
from swaplab.variants import Variant, override


class Oops(Variant):
    name = "oops"
    summary = "folio_alloc_swap() hits a BUG (a test of oops handling)"

    @override("swaplab.mm.swapfile", reference="tests/program: oops handling")
    def folio_alloc_swap(folio):
        VM_BUG_ON(True, "folio_alloc_swap: test BUG")
        return 0
'''


@pytest.fixture
def oops_variant(tmp_path: Path) -> str:
    """``FILE.py:Oops``: every folio_alloc_swap() oopses (a vm-warn finding, then KernelOops)."""
    path = tmp_path / "oops_variant.py"
    path.write_text(OOPS_VARIANT)
    return f"{path}:Oops"
