"""Every variant test leaves mainline bound: no variant active, no override left anywhere."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import FunctionType

import pytest

from swaplab import variants


def model_bindings() -> dict[tuple[str, str], int]:
    """(module, global name) -> id of the function bound there, for every loaded swaplab module."""
    out: dict[tuple[str, str], int] = {}
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name.startswith("swaplab.") and not name.startswith("swaplab.variants")):
            continue
        for key, obj in list(vars(mod).items()):
            if isinstance(obj, FunctionType):
                out[(name, key)] = id(obj)
    return out


@pytest.fixture(autouse=True)
def no_variant_left() -> Iterator[None]:
    variants._import_model()
    before = model_bindings()
    yield
    active = variants._active
    if active is not None:
        active.deactivate()
    assert active is None, f"test left variant {active.name} active"
    after = model_bindings()
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert not changed, f"bindings not restored: {changed}"
