"""Fixtures for the oracle tests: the shared folder with scenarios and results.

The shared folder is ``$SWAPLAB_SHARED``, or the first directory named
``shared`` next to this file or one of its parents (the repository lives in
``/work/main`` and the shared folder in ``/work/shared``).  When it cannot be
found, every test that needs it fails and says so: nothing is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RESULTS = "oracle/linux-7.2.13"
SCENARIO_DIRS = ("oracle/scenarios", "tools/kernel-oracle/scenarios")


def find_shared() -> Path | None:
    """The shared folder, or None."""
    env = os.environ.get("SWAPLAB_SHARED")
    if env:
        return Path(env) if (Path(env) / "oracle").is_dir() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared"
        if (candidate / "oracle").is_dir():
            return candidate
    return None


SHARED = find_shared()


def _missing() -> str:
    env = os.environ.get("SWAPLAB_SHARED")
    if env:
        return f"SWAPLAB_SHARED={env} has no 'oracle' folder"
    return ("the shared folder (with oracle/scenarios and oracle/linux-7.2.13) was not "
            f"found next to {Path(__file__).resolve()} or any parent; set SWAPLAB_SHARED")


def _files(pattern_dirs: tuple[str, ...], glob: str) -> list[Path]:
    if SHARED is None:
        return []
    return sorted(p for d in pattern_dirs for p in (SHARED / d).glob(glob))


OPS_FILES = _files(SCENARIO_DIRS, "*.ops")
RESULT_FILES = _files((RESULTS,), "*.json")


@pytest.fixture
def shared() -> Path:
    """The shared folder; fails the test when it is missing."""
    if SHARED is None:
        pytest.fail(_missing())
    return SHARED


def _ids(paths: list[Path]) -> list[str]:
    assert SHARED is not None
    return [str(p.relative_to(SHARED)) for p in paths]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``ops_path`` and ``result_path`` over the shared files."""
    for name, paths in (("ops_path", OPS_FILES), ("result_path", RESULT_FILES)):
        if name not in metafunc.fixturenames:
            continue
        if not paths:
            # one failing case instead of a silent skip of an empty list
            metafunc.parametrize(name, [None], ids=[f"{name}-missing"])
        else:
            metafunc.parametrize(name, paths, ids=_ids(paths))


@pytest.fixture(autouse=True)
def _require_files(request: pytest.FixtureRequest) -> None:
    for name in ("ops_path", "result_path"):
        if name in request.fixturenames and request.getfixturevalue(name) is None:
            pytest.fail(_missing() if SHARED is None else f"no files for {name} in {SHARED}")
