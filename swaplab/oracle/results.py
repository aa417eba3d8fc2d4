"""
Kernel-oracle results
---------------------

Loading the recorded results of a real kernel
(``shared/oracle/linux-<version>/<scenario>-<device>[-swap1m].json``) and
comparing the model's reports with them, report by report and key by key.

A result file is a JSON list of runs (every recorded file holds one).  A run
is a dict with ``reports`` (REPORT lines as dicts, in execution order),
``snap`` (SNAP lines, each with ``after``: the label of the report before
it), ``ops`` (OP lines), ``setup``, ``init`` and ``done_errors``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from swaplab.errors import InvalidScenario
from swaplab.oracle.encode import decode_devs, encode_devs

__all__ = (
    "ALL_KEYS",
    "DEFAULT_KEYS",
    "DEV_FIELDS",
    "KSM_KEYS",
    "SNAP_KEYS",
    "Comparison",
    "Mismatch",
    "compare_reports",
    "load_runs",
    "result_path",
)

DEFAULT_KEYS: tuple[str, ...] = (
    "label", "who", "used_kb", "swapcached_kb", "swapfree_kb", "pswpin", "pswpout",
    "swpin_zero", "swpout_zero", "map", "slots", "devs", "shm_map", "shm_swap_kb",
)
"""The REPORT keys :func:`compare_reports` compares unless told otherwise."""

KSM_KEYS: tuple[str, ...] = (
    "ksm_pages_shared", "ksm_pages_sharing", "ksm_swpin_copy", "cow_ksm", "ksm_mapped",
    "ksm_map",
)

ALL_KEYS: tuple[str, ...] = (
    *DEFAULT_KEYS, "swaps", "pgmajfault", "swap_ra", "swap_ra_hit", "P", "C", "S", "none",
    *KSM_KEYS, "shm_P", "shm_C", "shm_R", "shm_S", "shm_none",
)
"""Every REPORT key but ``shmem_kb`` (system-wide, with a base the model lacks)."""

DEV_FIELDS: tuple[str, ...] = ("name", "prio", "used_kb", "size_kb")
SNAP_KEYS: tuple[str, ...] = ("op", "after", "rc", "slot", "pages")


# ---- loading -------------------------------------------------------------------

def load_runs(path: str | Path) -> list[dict[str, Any]]:
    """The runs of a result file (a JSON list of runs; a single run is accepted too).

    :raises InvalidScenario: when the file is not JSON or a run has no ``reports``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InvalidScenario(f"not a JSON file: {e.msg}", str(path), e.lineno, e.colno) from e
    runs = data if isinstance(data, list) else [data]
    for i, run in enumerate(runs):
        if not isinstance(run, dict) or not isinstance(run.get("reports"), list):
            raise InvalidScenario(f"run {i} is not an object with a 'reports' list", str(path))
    return runs


def result_path(results_dir: str | Path, scenario: str, swapdev: str,
                swap1m: bool = False) -> Path:
    """``<results_dir>/<scenario>-<swapdev>[-swap1m].json``."""
    return Path(results_dir) / f"{scenario}-{swapdev}{'-swap1m' if swap1m else ''}.json"


# ---- comparing ----------------------------------------------------------------

@dataclass(frozen=True)
class Mismatch:
    """One value that differs: where (report label or ``snap[i]``), key, values.

    ``None`` stands for a key, report or record that is missing on that side.
    """

    label: str
    key: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.label}: {self.key}: expected {self.expected!r}, got {self.actual!r}"


@dataclass
class Comparison:
    """The outcome of :func:`compare_reports`."""

    compared: int = 0
    matched: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every compared value matched."""
        return not self.mismatches

    def check(self, label: str, key: str, expected: Any, actual: Any) -> None:
        """Count one compared value."""
        self.compared += 1
        if expected == actual:
            self.matched += 1
        else:
            self.mismatches.append(Mismatch(label, key, expected, actual))

    def summary(self, limit: int = 20) -> str:
        """``N/M values match``, then one line per mismatch (at most ``limit``)."""
        head = f"{self.matched}/{self.compared} values match"
        if self.ok:
            return head
        lines = [f"{head}; {len(self.mismatches)} mismatches:"]
        lines += [f"  {m}" for m in self.mismatches[:limit]]
        if len(self.mismatches) > limit:
            lines.append(f"  ... and {len(self.mismatches) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def compare_reports(expected_run: Mapping[str, Any],
                    actual: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                    keys: Sequence[str] = DEFAULT_KEYS,
                    snap_keys: Sequence[str] = SNAP_KEYS) -> Comparison:
    """Compare the model's reports with a recorded run, value by value.

    Reports are paired by position.  A key is compared when either report
    has it (a side without it counts as ``None``), so ``shm_*`` keys count
    only while a shm region exists.  ``devs`` is compared per row and field
    (``devs[0].used_kb``), or as a whole when the row counts differ.  A
    missing or extra report counts as one mismatch (key ``report``).  The
    SNAP records are compared the same way, on ``snap_keys``, when
    ``actual`` is a run (a dict); a bare list of reports skips them.

    :param expected_run: a run of a result file.
    :param actual: the model's run (``reports`` and ``snap``) or its reports.
    :param keys: the REPORT keys to compare.
    :param snap_keys: the SNAP record keys to compare.
    """
    result = Comparison()
    if isinstance(actual, Mapping):
        actual_reports = list(actual.get("reports", []))
    else:
        actual_reports = list(actual)
    _compare_lists(result, list(expected_run.get("reports", [])), actual_reports, keys,
                   _report_label, "report")
    if isinstance(actual, Mapping):
        _compare_lists(result, list(expected_run.get("snap", [])),
                       list(actual.get("snap", [])), snap_keys, _snap_label, "record")
    return result


def _report_label(i: int, record: Mapping[str, Any]) -> str:
    return str(record.get("label", f"report[{i}]"))


def _snap_label(i: int, record: Mapping[str, Any]) -> str:
    return f"snap[{i}]"


def _compare_lists(result: Comparison, expected: list[Mapping[str, Any]],
                   actual: list[Mapping[str, Any]], keys: Sequence[str],
                   label_of: Callable[[int, Mapping[str, Any]], str], what: str) -> None:
    for i in range(max(len(expected), len(actual))):
        exp = expected[i] if i < len(expected) else None
        act = actual[i] if i < len(actual) else None
        if exp is None or act is None:
            present = exp if exp is not None else act
            assert present is not None
            result.check(label_of(i, present), what,
                         _name(i, exp, label_of), _name(i, act, label_of))
            continue
        label = label_of(i, exp)
        for key in keys:
            if key not in exp and key not in act:
                continue
            if key == "devs":
                _compare_devs(result, label, exp.get(key), act.get(key))
            else:
                result.check(label, key, exp.get(key), act.get(key))


def _name(i: int, record: Mapping[str, Any] | None,
          label_of: Callable[[int, Mapping[str, Any]], str]) -> str | None:
    return None if record is None else label_of(i, record)


def _compare_devs(result: Comparison, label: str, expected: Any, actual: Any) -> None:
    exp, act = _devs(expected), _devs(actual)
    if exp is None or act is None or len(exp) != len(act):
        result.check(label, "devs", _devs_text(exp), _devs_text(act))
        return
    for i, (e, a) in enumerate(zip(exp, act)):
        for f in DEV_FIELDS:
            result.check(label, f"devs[{i}].{f}", e.get(f), a.get(f))


def _devs(value: Any) -> list[Mapping[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return list(decode_devs(value))
    return list(value)


def _devs_text(devs: list[Mapping[str, Any]] | None) -> str | None:
    return None if devs is None else encode_devs(devs)
