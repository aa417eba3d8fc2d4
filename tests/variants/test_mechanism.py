"""The variant mechanism: activation rebinds every call site, deactivation restores, specs."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest
from click.testing import CliRunner
from conftest import model_bindings

from swaplab import variants
from swaplab.check.findings import log
from swaplab.errors import InvalidScenario
from swaplab.kernel.power import swap as power_swap
from swaplab.kernel.power.swap import alloc_swapdev_block, lock_system_sleep, unlock_system_sleep
from swaplab.mm import memory, rmap, swapfile
from swaplab.variants import (
    Variant,
    active_variant,
    get_variant,
    legacy,
    linux_7_2,
    list_variants,
    override,
    using,
    v5,
)

EXPECTED = "expected one of legacy, v5, mainline, linux-7.2, or FILE.py:CLASS"


def test_registered_variants():
    assert [(v.name, len(v.overrides())) for v in list_variants()] == [
        ("legacy", 12), ("v5", 3), ("mainline", 0), ("linux-7.2", 1)]
    assert all(v.summary and "\n" not in v.summary for v in list_variants())
    assert get_variant("v5") is get_variant("v5")
    assert active_variant() is get_variant("mainline")


def test_activation_rebinds_every_call_site():
    real = swapfile.swap_free_hibernation_slot
    with using("v5") as v:
        assert active_variant() is v
        # The defining module and the module that calls it by bare name.
        assert swapfile.swap_free_hibernation_slot is v5.swap_free_hibernation_slot
        assert power_swap.swap_free_hibernation_slot is v5.swap_free_hibernation_slot
        assert power_swap.free_all_swap_pages is v5.free_all_swap_pages
        assert sys.modules["swaplab.kernel.power.user"].free_all_swap_pages is v5.free_all_swap_pages
        assert swapfile.unuse_pte is v5.unuse_pte
    assert swapfile.swap_free_hibernation_slot is real
    assert power_swap.swap_free_hibernation_slot is real
    assert active_variant().name == "mainline"


def test_legacy_rebinds_callers_in_every_module():
    with using("legacy"):
        assert rmap.try_to_unmap_one is legacy.try_to_unmap_one
        assert memory.do_swap_page is legacy.do_swap_page
        assert memory.copy_nonpresent_pte is legacy.copy_nonpresent_pte
        assert sys.modules["swaplab.mm.madvise"].madvise_free_pte_range is legacy.madvise_free_pte_range
        # Callers of the overridden functions see the override too.
        assert sys.modules["swaplab.kernel.power.user"].alloc_swapdev_block is legacy.alloc_swapdev_block
    assert memory.do_swap_page is not legacy.do_swap_page


def test_call_through_another_module_runs_the_override(kernel):
    # kernel/power/swap.py calls swap_alloc_hibernation_slot by bare name: a
    # variant's body is what runs.
    calls = []

    class Spy(Variant):
        name = "spy"

        @override("swaplab.mm.swapfile", reference="test spy")
        def swap_alloc_hibernation_slot(type: int) -> int:
            """Spy.  Context: any.  Return: 0."""
            calls.append(type)
            return 0

    lock_system_sleep()
    with using(Spy()):
        assert alloc_swapdev_block(3) == 0
    unlock_system_sleep(0)
    assert calls == [3]


def test_activating_a_variant_deactivates_the_previous():
    get_variant("v5").activate()
    get_variant("linux-7.2").activate()
    assert active_variant().name == "linux-7.2"
    assert swapfile.swap_free_hibernation_slot is not v5.swap_free_hibernation_slot
    assert swapfile.swap_alloc_hibernation_slot is linux_7_2.swap_alloc_hibernation_slot
    get_variant("v5").deactivate()              # not active: no-op
    assert active_variant().name == "linux-7.2"
    get_variant("linux-7.2").deactivate()
    assert active_variant().name == "mainline"


def test_using_restores_the_previous_variant():
    before = model_bindings()
    with using("v5"):
        with using("legacy"):
            assert power_swap.free_all_swap_pages is legacy.free_all_swap_pages
        assert active_variant().name == "v5"
        assert power_swap.free_all_swap_pages is v5.free_all_swap_pages
    assert model_bindings() == before


def test_module_imported_while_active_is_restored():
    with using("v5"):
        late = types.ModuleType("swaplab._late_importer")
        sys.modules[late.__name__] = late
        late.swap_free_hibernation_slot = swapfile.swap_free_hibernation_slot   # an import
        assert late.swap_free_hibernation_slot is v5.swap_free_hibernation_slot
    try:
        assert late.swap_free_hibernation_slot is swapfile.swap_free_hibernation_slot
        assert late.swap_free_hibernation_slot.__module__ == "swaplab.mm.swapfile"
    finally:
        del sys.modules[late.__name__]


# --- user files -----------------------------------------------------------------

USER = '''
from swaplab.include.linux.mmdebug import VM_WARN_ON
from swaplab.variants import Variant, override


@override("swaplab.mm.swapfile", reference="what if hibernation never got a slot")
def swap_alloc_hibernation_slot(type: int) -> int:
    """No slot for hibernation.  Context: process context.  Return: 0."""
    VM_WARN_ON(True, "user variant refuses hibernation slots")
    return 0


class NoHibernation(Variant):
    name = "no-hibernation"
    summary = "hibernation never gets a slot"


'''

# Module-level overrides belong to every Variant class of their module, so a
# class that should not have them lives in a file of its own.
ON_V5 = '''
from swaplab.variants import Variant, override
from swaplab.variants.v5 import V5


class OnV5(Variant):
    base = V5

    @override("swaplab.mm.swapfile", commit='0123456789ab ("test: a class-level override")')
    def count_swap_pages(type: int, free: bool) -> int:
        """Nothing free.  Context: any.  Return: 0."""
        return 0
'''


def write(tmp_path, text, name="myvariant.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_user_file_variant_loads_and_runs(kernel, tmp_path):
    path = write(tmp_path, USER)
    v = get_variant(f"{path}:NoHibernation")
    assert v.name == "no-hibernation" and [o.name for o in v.overrides()] == [
        "swap_alloc_hibernation_slot"]
    assert get_variant(f"{path}:NoHibernation") is v
    from helpers import add_device
    add_device("/dev/vda", kind="rotational")
    lock_system_sleep()
    with using(v):
        assert alloc_swapdev_block(0) == 0
    assert alloc_swapdev_block(0) == 1            # mainline again
    unlock_system_sleep(0)
    # The user's frame is model code: the finding names it.
    assert [(f.kind, f.function) for f in log.findings] == [("vm-warn", "swap_alloc_hibernation_slot")]
    assert log.findings[0].backtrace[:2] == ["swap_alloc_hibernation_slot", "alloc_swapdev_block"]


def test_user_variant_extends_a_base(tmp_path):
    path = write(tmp_path, ON_V5)
    v = get_variant(f"{path}:OnV5")
    assert v.name == f"{path}:OnV5"
    assert [o.name for o in v.overrides()] == [
        "swap_free_hibernation_slot", "free_all_swap_pages", "unuse_pte", "count_swap_pages"]
    with using(v):
        assert power_swap.free_all_swap_pages is v5.free_all_swap_pages
        assert sys.modules["swaplab.kernel.power.user"].count_swap_pages(0, True) == 0


def test_a_layer_overrides_a_base_override(tmp_path):
    path = write(tmp_path, '''
        from swaplab.variants import Variant, override
        from swaplab.variants.v5 import V5

        class Again(Variant):
            base = V5

            @override("swaplab.mm.swapfile", reference="layer test")
            def swap_free_hibernation_slot(entry: int) -> None:
                """Nothing.  Context: any.  Return: nothing."""
        ''')
    v = get_variant(f"{path}:Again")
    mine = v.overrides()[-1].func
    with using(v):
        assert power_swap.swap_free_hibernation_slot is mine
        assert v5.swap_free_hibernation_slot is mine         # v5's own caller sees it too
    assert v5.swap_free_hibernation_slot.__module__ == "swaplab.variants.v5"


@pytest.mark.parametrize("spec, message", [
    ("v6", "unknown variant 'v6'; " + EXPECTED),
    ("", "no variant given; " + EXPECTED),
    ("nofile.py:X", "variant file 'nofile.py' not found"),
    ("file.txt:X", "expected a Python file"),
    ("file.py:", "expected FILE.py:CLASS"),
])
def test_bad_specs(spec, message):
    with pytest.raises(InvalidScenario) as e:
        get_variant(spec)
    assert message in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("class X:\n    pass\n", "X is not a Variant subclass"),
    ("import os\n", "Nope is not defined there"),
    ("def broken(:\n", "syntax error"),
    ("raise RuntimeError('boom')\n", "loading the variant failed: RuntimeError: boom"),
    ('''
from swaplab.variants import Variant, override
@override("swaplab.mm.swapfile", reference="x")
def no_such_function() -> None:
    """"""
class X(Variant):
    pass
''', "swaplab.mm.swapfile has no function no_such_function"),
    ('''
from swaplab.variants import Variant, override
@override("swaplab.mm.swapfile", reference="x")
def swap_free_hibernation_slot(e: int) -> None:
    """"""
class X(Variant):
    pass
''', "takes (e); the model function takes (entry)"),
    ('''
from swaplab.variants import Variant, override
@override("swaplab.mm.swapfile", commit="abc (not a hash)")
def swap_free_hibernation_slot(entry: int) -> None:
    """"""
class X(Variant):
    pass
''', "commit must read '<12-char hash>"),
])
def test_bad_user_files(tmp_path, text, message):
    path = write(tmp_path, text, "bad.py")
    cls = "Nope" if "Nope" in message else "X"
    with pytest.raises(InvalidScenario) as e:
        get_variant(f"{path}:{cls}")
    assert message in str(e.value)
    assert str(path) in str(e.value)


def test_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "x = 1\ndef broken(:\n", "bad.py")
    with pytest.raises(InvalidScenario) as e:
        get_variant(f"{path}:X")
    assert e.value.file == str(path) and e.value.line == 2


def test_cli_lists_the_variants():
    from swaplab.cli.main import cli
    result = CliRunner().invoke(cli, ["variants"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["legacy", "v5", "mainline", "linux-7.2"]
    assert lines[1].endswith("(3 overrides)") and lines[3].endswith("(1 override)")
    assert variants.get_variant("v5").summary in lines[1]
