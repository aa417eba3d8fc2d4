"""
Kernel-oracle output encodings
------------------------------

Pure functions that write (and read back) the strings swaptest prints, so
that the model's state can be compared with the recorded results of a real
kernel character for character.  Each encoder transcribes the swaptest.c
function named in its docstring; each decoder is its inverse.

Page states (one letter per page of a region, in page order)::

    anon:  P present   C present + swap cache   S swap pte   - nothing
    shm:   the same, plus R resident but not mapped by this process
    KSM:   K the pte maps a KSM page, . anything else

``map``/``shm_map``/``ksm_map`` are run-length encoded (``C512S512``,
``-100S300P200``, ``K49.1K1.13``), ``none`` for a region of no pages.

``slots`` lists the swap entries ``(type, offset)`` of the S pages.  A run
continues only across *adjacent pages* of one swap type, so a page that is
not S ends it (``S145P100S100`` gives ``1:1-145,1:146-245``)::

    17          one page on offset 17 of type 0
    1-16        pages on offsets 1, 2, ..., 16
    17*48       48 pages on the same offset 17 (merged KSM pages)
    1:1-145     type 1 (``T:`` only for T > 0)
    17-20,17*44 a range stops before an offset that repeats on the next page
    none        no S page

The encoders take one element per page (``None`` for a page without a swap
entry) because the page positions decide where runs break;
:func:`place_slots` turns decoded S entries back into that form.
"""

from __future__ import annotations

import errno as _errno
import os
import re
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

__all__ = (
    "ANON_STATES",
    "KSM_STATES",
    "SHM_STATES",
    "SwapEntry",
    "anon_counts",
    "decode_devs",
    "decode_ksm_map",
    "decode_map",
    "decode_rle",
    "decode_shm_map",
    "decode_slots",
    "encode_devs",
    "encode_ksm_map",
    "encode_map",
    "encode_rle",
    "encode_shm_map",
    "encode_slots",
    "errname",
    "format_op_child_exit",
    "format_op_ksm_wait",
    "format_op_memcg",
    "format_op_punch",
    "format_op_read",
    "format_op_reclaim",
    "format_op_spawn",
    "format_op_swapoff",
    "format_op_swapon",
    "format_op_sysctl",
    "format_op_task_exit",
    "format_op_write_file",
    "format_pages_line",
    "format_report_line",
    "format_snap_line",
    "ksm_mapped",
    "parse_report_line",
    "parse_snap_line",
    "place_slots",
    "shm_counts",
    "swapdev_path",
)

SwapEntry = tuple[int, int]
"""A swap entry as the oracle shows it: ``(type, offset)``."""

ANON_STATES = "PCS-"
SHM_STATES = "PCRS-"
KSM_STATES = "K."

# REPORT keys whose values are strings although they may look like numbers
RLE_KEYS = ("map", "slots", "shm_map", "ksm_map")


# ---- run-length encoded page states (rle_states) -----------------------------

def encode_rle(states: Iterable[str], alphabet: str | None = None) -> str:
    """Run-length encode page-state letters, as swaptest's ``rle_states``.

    >>> encode_rle("---SSSPP")
    '-3S3P2'

    :param states: one letter per page.
    :param alphabet: the letters allowed (``None``: any single character).
    :return: ``<letter><count>`` per run, or ``none`` for no pages.
    """
    out: list[str] = []
    prev, count = "", 0
    for state in states:
        if len(state) != 1 or (alphabet is not None and state not in alphabet):
            raise ValueError(f"bad page state {state!r}; expected one of {alphabet!r}")
        if state == prev:
            count += 1
            continue
        if count:
            out.append(f"{prev}{count}")
        prev, count = state, 1
    if count:
        out.append(f"{prev}{count}")
    return "".join(out) or "none"


_RUN = re.compile(r"(\D)([0-9]+)")


def decode_rle(text: str, alphabet: str | None = None) -> list[str]:
    """The page-state letters of a run-length encoded string (``none``: [])."""
    if text == "none":
        return []
    states: list[str] = []
    pos = 0
    for m in _RUN.finditer(text):
        if m.start() != pos or (alphabet is not None and m.group(1) not in alphabet) \
                or int(m.group(2)) < 1:
            break
        states += m.group(1) * int(m.group(2))
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"bad run-length encoded page states {text!r}")
    return states


def encode_map(states: Iterable[str]) -> str:
    """REPORT ``map``: the anon region's states ``P C S -`` (``none``: no region)."""
    return encode_rle(states, ANON_STATES)


def decode_map(text: str) -> list[str]:
    """The anon page states of a ``map`` string."""
    return decode_rle(text, ANON_STATES)


def encode_shm_map(states: Iterable[str]) -> str:
    """REPORT ``shm_map``: the shm region's states ``P C R S -``."""
    return encode_rle(states, SHM_STATES)


def decode_shm_map(text: str) -> list[str]:
    """The shm page states of a ``shm_map`` string."""
    return decode_rle(text, SHM_STATES)


def encode_ksm_map(ksm: Iterable[bool]) -> str:
    """REPORT ``ksm_map``: ``K`` where the pte maps a KSM page, else ``.``."""
    return encode_rle("K" if flag else "." for flag in ksm)


def decode_ksm_map(text: str) -> list[bool]:
    """Per page of ``ksm_map``: True where the pte maps a KSM page."""
    return [state == "K" for state in decode_rle(text, KSM_STATES)]


def ksm_mapped(ksm: Iterable[bool]) -> int:
    """REPORT ``ksm_mapped``: pages whose pte maps a KSM page."""
    return sum(1 for flag in ksm if flag)


def anon_counts(states: Iterable[str]) -> dict[str, int]:
    """REPORT ``P``, ``C``, ``S``, ``none`` of the anon region."""
    n = Counter(states)
    return {"P": n["P"], "C": n["C"], "S": n["S"], "none": n["-"]}


def shm_counts(states: Iterable[str]) -> dict[str, int]:
    """REPORT ``shm_P``, ``shm_C``, ``shm_R``, ``shm_S``, ``shm_none``."""
    n = Counter(states)
    return {"shm_P": n["P"], "shm_C": n["C"], "shm_R": n["R"], "shm_S": n["S"],
            "shm_none": n["-"]}


# ---- slots (rle_slots) ---------------------------------------------------------

def encode_slots(entries: Sequence[SwapEntry | None]) -> str:
    """REPORT ``slots``, as swaptest's ``rle_slots``.

    >>> encode_slots([(0, 17), (0, 18), (0, 17), (0, 17), None, (1, 5)])
    '17-18,17*2,1:5'

    :param entries: one element per page of the region: the ``(type,
        offset)`` of an S page, ``None`` for any other page.
    :return: the comma-separated runs, or ``none``.
    """
    runs: list[str] = []
    n = len(entries)
    i = 0
    while i < n:
        first = entries[i]
        if first is None:
            i += 1
            continue
        j = i + 1
        while j < n and entries[j] == first:      # several ptes on one slot (KSM)
            j += 1
        rep = j - i
        if rep == 1:
            while j < n and _follows(entries[j - 1], entries[j]) and \
                    not (j + 1 < n and entries[j + 1] == entries[j]):
                j += 1
        runs.append(_slot_run(first, rep, entries[j - 1]))
        i = j
    return ",".join(runs) or "none"


def _follows(prev: SwapEntry | None, cur: SwapEntry | None) -> bool:
    # cur is on the offset after prev, on the same swap type
    return prev is not None and cur is not None and cur[0] == prev[0] and cur[1] == prev[1] + 1


def _slot_run(first: SwapEntry, rep: int, last: SwapEntry | None) -> str:
    swap_type, offset = first
    text = f"{swap_type}:{offset}" if swap_type else str(offset)
    if rep > 1:
        return f"{text}*{rep}"
    if last is not None and last != first:
        return f"{text}-{last[1]}"
    return text


_SLOT_RUN = re.compile(r"(?:([0-9]+):)?([0-9]+)(?:-([0-9]+)|\*([0-9]+))?")


def decode_slots(text: str) -> list[SwapEntry]:
    """The ``(type, offset)`` of every S page of a ``slots`` string, in page order."""
    if text == "none":
        return []
    entries: list[SwapEntry] = []
    for run in text.split(","):
        m = _SLOT_RUN.fullmatch(run)
        if m is None:
            raise ValueError(f"bad slot run {run!r} in {text!r}")
        swap_type = int(m.group(1) or 0)
        first = int(m.group(2))
        if m.group(3) is not None:
            last = int(m.group(3))
            if last <= first:
                raise ValueError(f"bad slot range {run!r} in {text!r}")
            entries += [(swap_type, off) for off in range(first, last + 1)]
        else:
            entries += [(swap_type, first)] * int(m.group(4) or 1)
    return entries


def place_slots(states: Sequence[str], entries: Sequence[SwapEntry]) -> list[SwapEntry | None]:
    """Spread S entries over the pages: the per-page input of :func:`encode_slots`.

    :param states: the page states (``decode_map``).
    :param entries: the S pages' entries (``decode_slots``), in page order.
    :return: one element per page, ``None`` where the page is not S.
    """
    if sum(1 for s in states if s == "S") != len(entries):
        raise ValueError(f"{len(entries)} slots for "
                         f"{sum(1 for s in states if s == 'S')} S pages")
    it = iter(entries)
    return [next(it) if s == "S" else None for s in states]


# ---- devs (read_swaps) ---------------------------------------------------------

_DEV_FIELDS = ("name", "prio", "used_kb", "size_kb")


def encode_devs(devs: Sequence[Mapping[str, Any]]) -> str:
    """REPORT ``devs``: ``name:prio:used_kb:size_kb`` per /proc/swaps row, or ``none``.

    :param devs: the rows in swap-type order, each with the keys ``name``
        (the device's basename, ``vda``), ``prio``, ``used_kb``, ``size_kb``.
    """
    return ",".join(":".join(str(dev[k]) for k in _DEV_FIELDS) for dev in devs) or "none"


def decode_devs(text: str) -> list[dict[str, Any]]:
    """The rows of a ``devs`` string, as the result files hold them."""
    if text in ("none", ""):
        return []
    rows: list[dict[str, Any]] = []
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 4:
            raise ValueError(f"bad device row {item!r} in {text!r}")
        name, prio, used, size = parts
        rows.append({"name": name, "prio": int(prio), "used_kb": int(used),
                     "size_kb": int(size)})
    return rows


def swapdev_path(device: str, swapdev: str) -> str:
    """The block device behind ``@swapdev``/``@swapdev2`` for a device kind.

    >>> swapdev_path("@swapdev2", "brd")
    '/dev/ram1'

    :param device: ``@swapdev`` or ``@swapdev2``.
    :param swapdev: the device kind: ``virtio``, ``virtio-ssd`` or ``brd``.
    """
    index = {"@swapdev": 0, "@swapdev2": 1}[device]
    if swapdev == "brd":
        return f"/dev/ram{index}"
    if swapdev in ("virtio", "virtio-ssd"):
        return "/dev/vd" + "ab"[index]
    raise ValueError(f"unknown swap device kind {swapdev!r}")


# ---- the REPORT line (report) -----------------------------------------------

_REPORT_BASE = ("who", "swaps", "used_kb", "swapcached_kb", "swapfree_kb", "pswpin",
                "pswpout", "pgmajfault", "swap_ra", "swap_ra_hit", "P", "C", "S", "none",
                "map", "slots", "devs")
_REPORT_ZERO = ("swpin_zero", "swpout_zero")
_REPORT_KSM = ("ksm_pages_shared", "ksm_pages_sharing", "ksm_swpin_copy", "cow_ksm",
               "ksm_mapped", "ksm_map")
_REPORT_SHM = ("shm_P", "shm_C", "shm_R", "shm_S", "shm_none", "shm_map", "shm_swap_kb",
               "shmem_kb")


def format_report_line(report: Mapping[str, Any]) -> str:
    """The REPORT line swaptest prints for a report (no newline).

    The key groups ``swpin_zero``/``swpout_zero``, ``ksm_*`` and ``shm_*``
    are printed when the report has them (``ksm_map``, ``shm_map`` decide
    for the last two).  ``devs`` may be a list of rows or its string.

    :param report: a report as in the result files: ``label`` plus the keys.
    """
    keys = list(_REPORT_BASE)
    if all(k in report for k in _REPORT_ZERO):
        keys += _REPORT_ZERO
    if "ksm_map" in report:
        keys += _REPORT_KSM
    if "shm_map" in report:
        keys += _REPORT_SHM
    missing = [k for k in ("label", *keys) if k not in report]
    if missing:
        raise ValueError(f"report lacks {', '.join(missing)}")
    fields = [f"{k}={_report_value(k, report[k])}" for k in keys]
    return " ".join(["REPORT", str(report["label"]), *fields])


def _report_value(key: str, value: Any) -> str:
    if key == "devs" and not isinstance(value, str):
        return encode_devs(value)
    return str(value)


def parse_report_line(line: str) -> dict[str, Any]:
    """A REPORT line as a result file holds it (what report2json.py does)."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "REPORT":
        raise ValueError(f"not a REPORT line: {line!r}")
    report: dict[str, Any] = {"label": parts[1], **_key_values(parts[2:])}
    if "devs" in report:
        report["devs"] = decode_devs(str(report["devs"]))
    return report


def _key_values(tokens: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tok in tokens:
        key, eq, value = tok.partition("=")
        if eq:
            out[key] = value if key in RLE_KEYS else _number(value)
    return out


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value


# ---- the PAGES line (pages_dump) ---------------------------------------------

def format_pages_line(label: str, who: str, states: Sequence[str],
                      entries: Sequence[SwapEntry | None] | None = None,
                      ksm: Sequence[bool] | None = None, shm: bool = False) -> str:
    """One PAGES line: ``i:STATE`` per page, ``@[T:]offset`` for swap entries.

    A page without a swap entry whose pte maps a KSM page gets a ``k``.

    :param entries: per page, the swap entry of an S page (else ``None``).
    :param ksm: per page, True where the pte maps a KSM page.
    :param shm: the shm region's line (``region=shm``).
    """
    out = [f"PAGES {label} who={who}" + (" region=shm" if shm else "")]
    for i, state in enumerate(states):
        entry = entries[i] if entries is not None else None
        if entry is not None:
            where = f"{entry[0]}:{entry[1]}" if entry[0] else str(entry[1])
            out.append(f"{i}:{state}@{where}")
        else:
            out.append(f"{i}:{state}" + ("k" if ksm is not None and ksm[i] else ""))
    return " ".join(out)


# ---- SNAP lines (snap_open, snap_avail, snap_alloc, snap_free/close) ---------

def format_snap_line(record: Mapping[str, Any]) -> str:
    """The SNAP line of a record as the result files hold it (``op``, ``rc``, ...).

    ``rc`` is 0 or ``-ENAME`` (``close``: the return value of close(2));
    the other keys are those of the line: ``open``: ``dev``, ``devno``;
    ``avail``: ``bytes``, ``pages``; ``alloc``: ``i``, ``offset``, ``slot``.
    """
    op, rc = record["op"], record["rc"]
    if op == "open":
        return f"SNAP open dev={record['dev']} devno={record['devno']} set_swap_area rc={rc}"
    if op == "avail":
        tail = f" bytes={record['bytes']} pages={record['pages']}" if rc == 0 else ""
        return f"SNAP avail rc={rc}{tail}"
    if op == "alloc":
        tail = f" offset={record['offset']} slot={record['slot']}" if rc == 0 else ""
        return f"SNAP alloc i={record['i']} rc={rc}{tail}"
    if op in ("free", "close"):
        return f"SNAP {op} rc={rc}"
    raise ValueError(f"unknown SNAP op {op!r}")


def parse_snap_line(line: str, after: str | None = None) -> dict[str, Any]:
    """A SNAP line as a result file holds it; ``after`` = the previous report's label."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "SNAP":
        raise ValueError(f"not a SNAP line: {line!r}")
    return {"op": parts[1], "after": after, **_key_values(parts[2:])}


# ---- OP lines (the text after "OP ", as the result files' "ops" hold it) -----

_ERRNAMES = ("EPERM", "ENOENT", "EINTR", "EIO", "ENOMEM", "EBUSY", "EEXIST", "ENODEV",
             "EINVAL", "ENOSPC", "ENOTTY", "EAGAIN")


def errname(err: int) -> str:
    """swaptest's ``errname``: ``EBUSY`` for the errnos it knows, else ``E<n>``."""
    err = abs(err)
    for name in _ERRNAMES:
        if getattr(_errno, name) == err:
            return name
    return f"E{err}"


def _rc_text(err: int) -> str:
    # "<rc> ok" or "<rc> strerror" of a call that returns -1 and sets errno
    return "0 ok" if not err else f"-1 {os.strerror(abs(err))}"


def _neg_errname(rc: int) -> str:
    # "0" or "-ENAME" of a -errno result
    return "0" if not rc else f"-{errname(rc)}"


def format_op_swapon(path: str, prio: int | None = None, err: int = 0) -> str:
    """``swapon /dev/vda prio=10 -> 0 ok``; ``err`` is the errno of a failure."""
    shown = f" prio={prio}" if prio is not None and prio >= 0 else ""
    return f"swapon {path}{shown} -> {_rc_text(err)}"


def format_op_swapoff(path: str, err: int = 0) -> str:
    """``swapoff /dev/vda -> 0 ok`` (``-> -1 Device or resource busy``)."""
    return f"swapoff {path} -> {_rc_text(err)}"


def format_op_sysctl(path: str, value: str, rc: int = 0) -> str:
    """``sysctl vm/page-cluster=0 -> 0``; ``rc`` is 0 or -errno."""
    return f"sysctl {path}={value} -> {rc}"


def format_op_write_file(path: str, value: str, rc: int = 0) -> str:
    """``write_file /sys/kernel/mm/ksm/run=1 -> 0``; ``rc`` is 0 or -errno."""
    return f"write_file {path}={value} -> {rc}"


def _range_text(lo: int, hi: int, shm: bool) -> str:
    return f"{'shm ' if shm else ''}{lo}..{hi}"


def format_op_read(lo: int, hi: int, bad: int = 0, shm: bool = False,
                   lazy: tuple[int, int] | None = None) -> str:
    """``read 0..512 verify ok (0 bad pages)``.

    :param lazy: ``(zeroed, lazy_free)`` when MADV_FREE'd pages were read:
        how many of them read as zeros, of how many.
    """
    verdict = "FAIL" if bad else "ok"
    detail = f"{bad} bad pages"
    if lazy is not None:
        detail += f", {lazy[0]} of {lazy[1]} lazy-free pages read as zero"
    return f"read {_range_text(lo, hi, shm)} verify {verdict} ({detail})"


def format_op_punch(lo: int, hi: int, err: int = 0) -> str:
    """``punch shm 64..128 -> 0 ok``."""
    return f"punch {_range_text(lo, hi, True)} -> {_rc_text(err)}"


def format_op_ksm_wait(scans: int, ok: bool = True, timeout_ms: int = 20000,
                       done: int = 0) -> str:
    """``ksm_wait 2 -> ok`` or ``ksm_wait 2 -> timeout after 20000 ms (1 scans)``."""
    if ok:
        return f"ksm_wait {scans} -> ok"
    return f"ksm_wait {scans} -> timeout after {timeout_ms} ms ({done} scans)"


def format_op_memcg(op: str, rc: int = 0) -> str:
    """``memcg_enter -> 0 ok`` / ``memcg_leave -> -EPERM``; ``rc`` is 0 or -errno."""
    return f"{op} -> {'0 ok' if not rc else _neg_errname(rc)}"


def format_op_reclaim(kb: int, rc1: int, rc2: int) -> str:
    """``reclaim 65536K -> -EAGAIN,-EAGAIN``: the -errno of each pass."""
    return f"reclaim {kb}K -> {_neg_errname(rc1)},{_neg_errname(rc2)}"


def format_op_spawn(name: str, by: str) -> str:
    """``spawn B by A``."""
    return f"spawn {name} by {by}"


def format_op_task_exit(name: str, errors: int = 0) -> str:
    """``task A exited errors=0``."""
    return f"task {name} exited errors={errors}"


def format_op_child_exit(status: int = 0) -> str:
    """``child exited status=0`` (a ``fork`` child)."""
    return f"child exited status={status}"
