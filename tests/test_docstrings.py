"""Every modeled kernel function states its ``Context:`` and ``Return:``.

The rule (shared/style/ANCHORS.md §1 and §5, docs/design.md): a function of
the model that bears a kernel name has a docstring whose first line says
what it does, a ``Context:`` paragraph (what the caller must hold or
guarantee) and a ``Return:`` paragraph (exact values, errno included;
"nothing" for void).

Scope: the module-level functions of swaplab/mm/*.py, swaplab/kernel/power/*.py,
swaplab/kernel/fork.py and swaplab/kernel/exit.py.  The pass that brings a
file up to the rule is done file by file, so the test checks exactly the
files in :data:`CHECKED_FILES`; every other file of the scope must be listed
in :data:`PENDING_FILES` until its pass moves it over (and adds its helpers
to :data:`ALLOWLIST`).  A new file in the scope fails
:func:`test_every_file_in_scope_is_checked_or_pending` until it is listed.

Which functions are checked, in a checked file: every function defined at
module level (read with :mod:`ast`, so decorators and imports do not matter)
whose name does not start with a single ``_`` -- ``__name`` is the kernel's
"caller holds the lock" prefix and is checked -- except the helpers named in
:data:`ALLOWLIST`.  Model-only ``_helpers`` and allowlisted helpers need a
docstring (one line is enough), except the swap-table vocabulary, which has
one group comment as mm/swap_table.h does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The scope of the rule.
SCOPE_GLOBS = ("swaplab/mm/*.py", "swaplab/kernel/power/*.py",
               "swaplab/kernel/fork.py", "swaplab/kernel/exit.py")

# Files whose kernel functions are documented and checked.
CHECKED_FILES: tuple[str, ...] = (
    "swaplab/mm/swapfile.py",
    "swaplab/mm/swap_state.py",
    "swaplab/mm/swap.py",
    "swaplab/mm/swap_table.py",
    "swaplab/mm/vmstat.py",
    "swaplab/mm/page_io.py",
    "swaplab/kernel/power/swap.py",
    "swaplab/kernel/power/user.py",
    "swaplab/mm/shmem.py",
    "swaplab/mm/ksm.py",
    "swaplab/mm/memcontrol.py",
    "swaplab/mm/madvise.py",
    "swaplab/mm/mmap.py",
    "swaplab/kernel/fork.py",
    "swaplab/kernel/exit.py",
    "swaplab/mm/huge_memory.py",
    "swaplab/mm/rmap.py",
    "swaplab/mm/vmscan.py",
    "swaplab/mm/memory.py",
)

# Files of the scope whose documentation pass is not done yet: not checked.
# Move a file to CHECKED_FILES (and its helpers to ALLOWLIST) when it is.
PENDING_FILES: tuple[str, ...] = ()

# Files without functions (package markers): nothing to check.
EMPTY_FILES: tuple[str, ...] = (
    "swaplab/mm/__init__.py",
    "swaplab/kernel/power/__init__.py",
)

# Kernel names that start with a single underscore: checked like public names.
KERNEL_NAMES_WITH_ONE_UNDERSCORE = frozenset({"_enable_swap_info"})

_HARNESS = "harness: boot state or inspection, no kernel counterpart"
_PREDICATE = "tiny helper or predicate, documented in one line"
_MODEL = "model-only helper (output formatting, allocation stand-in)"
_VOCABULARY = "swap-table vocabulary: one group comment, as in mm/swap_table.h"
_SYSFS = "model-only helper: the sysfs path lookup the kobject tree does"
_CHECK = "model-only debug check, no kernel counterpart"

# file -> {function: why it needs no Context:/Return:}.
ALLOWLIST: dict[str, dict[str, str]] = {
    "swaplab/mm/swapfile.py": {
        "reset_swapfile": _HARNESS,
        "swap_show_rows": _HARNESS,
        "proc_swaps": _HARNESS,
        "swap_flags_string": _MODEL,
        "cluster_offset": _PREDICATE,
        "cluster_is_empty": _PREDICATE,
        "cluster_is_discard": _PREDICATE,
        "cluster_table_is_alloced": _PREDICATE,
    },
    "swaplab/mm/swap_state.py": {
        "reset_swap_state": _HARNESS,
    },
    "swaplab/mm/swap_table.py": {
        "null_to_swp_tb": _VOCABULARY,
        "folio_to_swp_tb": _VOCABULARY,
        "shadow_swp_to_tb": _VOCABULARY,
        "xa_mk_value": _VOCABULARY,
        "swp_tb_is_null": _VOCABULARY,
        "swp_tb_is_folio": _VOCABULARY,
        "swp_tb_is_shadow": _VOCABULARY,
        "swp_tb_to_folio": _VOCABULARY,
        "swp_tb_to_shadow": _VOCABULARY,
    },
    "swaplab/mm/vmstat.py": {
        "reset": _HARNESS,
        "snapshot": _HARNESS,
    },
    "swaplab/mm/page_io.py": {
        "reset_page_io": _HARNESS,
        "swap_complete_inflight_io": _HARNESS,
        "folio_wait_writeback_io": _HARNESS,
        "swap_dev_name": _MODEL,
    },
    "swaplab/kernel/power/swap.py": {
        "reset_swsusp": _HARNESS,
        "iter_swsusp_extents": _HARNESS,
        "kzalloc_swsusp_extent": _MODEL,
    },
    "swaplab/kernel/power/user.py": {
        "reset_snapshot": _HARNESS,
    },
    "swaplab/mm/shmem.py": {
        "reset_shmem": _HARNESS,
        "make_poisoned_swp_entry": _PREDICATE,
        "is_poisoned_swp_entry": _PREDICATE,
        "xa_mk_value": _PREDICATE,
        "xa_to_value": _PREDICATE,
        "xa_is_value": _PREDICATE,
        "swp_to_radix_entry": _PREDICATE,
        "radix_to_swp_entry": _PREDICATE,
        "xa_get_order": _PREDICATE,
        "SHMEM_I": _PREDICATE,
        "file_inode": _PREDICATE,
    },
    "swaplab/mm/ksm.py": {
        "reset_ksm": _HARNESS,
    },
    "swaplab/mm/memcontrol.py": {
        "reset_memcontrol": _HARNESS,
        "mem_cgroup_lookup": _HARNESS,
        "mem_cgroup_lru_folios": _MODEL,
    },
    "swaplab/mm/huge_memory.py": {
        "reset_huge_memory": _HARNESS,
        "thp_size_to_order": _SYSFS,
        "highest_order": _PREDICATE,
        "next_order": _PREDICATE,
    },
    "swaplab/mm/vmscan.py": {
        "reset_vmscan": _HARNESS,
    },
    "swaplab/mm/memory.py": {
        "is_cow_mapping": _PREDICATE,
        "maybe_mkwrite": _PREDICATE,
        "folio_file_page": _PREDICATE,
        "vma_is_anonymous": _PREDICATE,
        "pte_move_swp_offset": _PREDICATE,
        "mm_counter": _PREDICATE,
        "check_swap_exclusive": _CHECK,
    },
}


def _functions(path: str) -> list[ast.FunctionDef]:
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    return [n for n in tree.body if isinstance(n, ast.FunctionDef)]


def _is_checked_name(name: str) -> bool:
    return not name.startswith("_") or name.startswith("__") or name in KERNEL_NAMES_WITH_ONE_UNDERSCORE


def _in_scope() -> set[str]:
    return {str(p.relative_to(ROOT)) for g in SCOPE_GLOBS for p in ROOT.glob(g)}


def test_every_file_in_scope_is_checked_or_pending() -> None:
    listed = CHECKED_FILES + PENDING_FILES + EMPTY_FILES
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert set(CHECKED_FILES) <= _in_scope()
    assert sorted(_in_scope() - set(listed)) == [], "list the new file in CHECKED_FILES or PENDING_FILES"
    assert all(not _functions(f) for f in EMPTY_FILES)


def test_allowlist_names_existing_helpers_of_checked_files() -> None:
    for path, names in ALLOWLIST.items():
        assert path in CHECKED_FILES, f"{path}: allowlisted but not checked"
        defined = {f.name for f in _functions(path)}
        assert sorted(set(names) - defined) == [], f"{path}: stale allowlist entries"


@pytest.mark.parametrize("path", CHECKED_FILES)
def test_kernel_functions_state_context_and_return(path: str) -> None:
    allowed = ALLOWLIST.get(path, {})
    missing = []
    for fn in _functions(path):
        if not _is_checked_name(fn.name) or fn.name in allowed:
            continue
        doc = ast.get_docstring(fn) or ""
        lacks = [word for word in ("Context:", "Return:") if word not in doc]
        if not doc.strip():
            lacks.insert(0, "a docstring")
        if lacks:
            missing.append(f"{path}:{fn.lineno} {fn.name}() lacks {', '.join(lacks)}")
    assert missing == []


@pytest.mark.parametrize("path", CHECKED_FILES)
def test_helpers_have_a_docstring(path: str) -> None:
    allowed = ALLOWLIST.get(path, {})
    missing = [f"{path}:{fn.lineno} {fn.name}()" for fn in _functions(path)
               if (not _is_checked_name(fn.name) or fn.name in allowed)
               and allowed.get(fn.name) != _VOCABULARY
               and not (ast.get_docstring(fn) or "").strip()]
    assert missing == []
