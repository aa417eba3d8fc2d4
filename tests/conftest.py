import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from swaplab.check import findings  # noqa: E402
from swaplab.sim.system import boot  # noqa: E402


@pytest.fixture
def kernel():
    """A freshly booted model, checks in record mode."""
    boot(nr_cpus=1, checks=findings.RECORD)
    yield findings.log


@pytest.fixture
def strict_kernel():
    boot(nr_cpus=1, checks=findings.STRICT)
    yield findings.log
