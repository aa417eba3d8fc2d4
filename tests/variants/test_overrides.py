"""Each registered override is the model function with exactly the lines its diff changed.

The expected differences below are the variant's diff against mainline
(T14F), docstrings aside.  When a mainline function changes, this test
fails for every variant that copied it: copy the new body and change the
same lines again.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect

import pytest

from swaplab.variants import REGISTRY, get_variant

# (variant, module, function) -> (lines only in mainline, lines only in the variant)
DIFFS: dict[tuple[str, str, str], tuple[list[str], list[str]]] = {
    ("v5", "swaplab.mm.swapfile", "swap_free_hibernation_slot"): (
        [], [('WARN_ON(swap_entry_swapped(si, entry), "swap_free_hibernation_slot: slot still swapped")'
              '  # type: ignore[arg-type]')]),
    ("v5", "swaplab.kernel.power.swap", "free_all_swap_pages"): (
        ["while offset <= ext.end:"], ["while offset < ext.end:"]),
    ("v5", "swaplab.mm.swapfile", "unuse_pte"): (
        ["folio_put_swap(swapcache, swapcache.pages[swp_offset(entry) & ((1 << swapcache.order) - 1)])"],
        ["folio_put_swap(folio, page)"]),
    ("legacy", "swaplab.mm.rmap", "try_to_unmap_one"): (
        ["if folio_dup_swap(folio, subpage) < 0:", "folio_put_swap(folio, subpage)",
         "folio_put_swap(folio, subpage)"],
        ["if swap_duplicate(entry) < 0:", "swap_free(entry)", "swap_free(entry)"]),
    ("legacy", "swaplab.mm.memory", "copy_nonpresent_pte"): (
        ["if swap_dup_entry_direct(entry) < 0:"], ["if swap_duplicate(entry) < 0:"]),
    ("legacy", "swaplab.mm.memory", "zap_nonpresent_ptes"): (
        ["swap_put_entries_direct(entry, nr)"], ["free_swap_and_cache_nr(entry, nr)"]),
    ("legacy", "swaplab.mm.madvise", "madvise_free_pte_range"): (
        ["swap_put_entries_direct(entry, nr)"], ["free_swap_and_cache_nr(entry, nr)"]),
    ("legacy", "swaplab.mm.memory", "do_swap_page"): (
        ["folio_put_swap(swapcache, None)", "folio_put_swap(folio, None)",
         "VM_WARN_ON_ONCE(nr_pages != 1 and nr_pages != folio_nr_pages(folio),",
         '"do_swap_page: partial mapping of a large folio")',
         "folio_put_swap(folio, p if nr_pages == 1 else None)"],
        ["swap_free_nr(entry, nr_pages)"]),
    ("legacy", "swaplab.mm.swapfile", "unuse_pte"): (
        ["folio_put_swap(swapcache, swapcache.pages[swp_offset(entry) & ((1 << swapcache.order) - 1)])"],
        ["swap_free(entry)"]),
    ("legacy", "swaplab.kernel.power.swap", "alloc_swapdev_block"): (
        ["offset = swp_offset(swap_alloc_hibernation_slot(swap))",
         "swap_free_hibernation_slot(swp_entry(swap, offset))"],
        ["offset = swp_offset(get_swap_page_of_type(swap))", "swap_free(swp_entry(swap, offset))"]),
    ("legacy", "swaplab.kernel.power.swap", "free_all_swap_pages"): (
        ["offset = ext.start", "while offset <= ext.end:",
         "swap_free_hibernation_slot(swp_entry(swap, offset))", "offset += 1"],
        ["swap_free_nr(swp_entry(swap, ext.start), ext.end - ext.start + 1)"]),
    ("legacy", "swaplab.mm.shmem", "shmem_free_swap"): (
        ["swap_put_entries_direct(radix_to_swp_entry(radswap), 1 << order)"],
        ["free_swap_and_cache_nr(radix_to_swp_entry(radswap), 1 << order)"]),
    ("legacy", "swaplab.mm.shmem", "shmem_writeout"): (
        ["folio_dup_swap(folio, None)", "folio_put_swap(folio, None)"],
        ["swap_duplicate_nr(folio.swap, nr_pages)", "swap_free_nr(folio.swap, nr_pages)"]),
    ("legacy", "swaplab.mm.shmem", "shmem_swapin_folio"): (
        ["folio_put_swap(f, None)"], ["swap_free_nr(swap, nr_pages)"]),
    ("legacy", "swaplab.mm.shmem", "shmem_set_folio_swapin_error"): (
        ["folio_put_swap(folio, None)"], ["swap_free_nr(swap, nr_pages)"]),
    ("linux-7.2", "swaplab.mm.swapfile", "swap_alloc_hibernation_slot"): (
        ["# Grab the local lock to be compliant with swap table allocation."],
        ["offset = SWAP_ENTRY_INVALID",
         "# Try the local cluster first if it matches the device.  If",
         "# not, try grab a new cluster and override local cluster.",
         "pcp_si = pcp.si[0]", "pcp_offset = pcp.offset[0]",
         "if pcp_si is si and pcp_offset:", "ci = swap_cluster_lock(si, pcp_offset)",
         "if cluster_is_usable(ci, 0):",
         "offset = alloc_swap_scan_cluster(si, ci, pcp_offset, 0, 1)", "else:",
         "swap_cluster_unlock(ci)", "if not offset:"]),
}

ALL = [(name, ov) for name in REGISTRY for ov in get_variant(name).overrides()]


def code_lines(fn) -> list[str]:
    """The function's body lines, stripped, without its decorator, signature and docstring."""
    src = inspect.getsource(fn)
    tree = ast.parse(src)
    f = tree.body[0]
    first = f.body[1] if isinstance(f.body[0], ast.Expr) and isinstance(f.body[0].value, ast.Constant) \
        else f.body[0]
    lines = src.splitlines()[first.lineno - 1:]
    return [line.strip() for line in lines if line.strip()]


def test_every_override_has_an_expected_diff():
    assert sorted((n, ov.module, ov.name) for n, ov in ALL) == sorted(DIFFS)


@pytest.mark.parametrize("variant, ov", ALL, ids=[f"{n}:{ov.name}" for n, ov in ALL])
def test_override_is_the_diff(variant, ov):
    original = getattr(importlib.import_module(ov.module), ov.name)
    assert original.__module__ == ov.module, "test with no variant active"
    removed, added = [], []
    for line in difflib.ndiff(code_lines(original), code_lines(ov.func)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    assert (removed, added) == DIFFS[(variant, ov.module, ov.name)]


@pytest.mark.parametrize("variant, ov", ALL, ids=[f"{n}:{ov.name}" for n, ov in ALL])
def test_override_is_documented(variant, ov):
    doc = inspect.getdoc(ov.func) or ""
    assert "Context:" in doc and "Return:" in doc
    assert ov.commit or ov.reference
    assert inspect.signature(ov.func).parameters.keys() == \
        inspect.signature(getattr(importlib.import_module(ov.module), ov.name)).parameters.keys()
