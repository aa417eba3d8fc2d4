"""Variants: the kernel before, at and after the patch, as overrides of model functions.

The model's own code is mainline: T14F, "[PATCH v5 14/19] mm, swap: cleanup
swap entry management workflow" with the two fixes of its review thread.  A
variant is a small set of *overrides*, one per kernel function that the diff
it models changed, each a copy of the model function with exactly the lines
of that diff changed:

* ``legacy``: T13, before patch 14: the callers use swap_duplicate(),
  swap_free(), free_swap_and_cache() and get_swap_page_of_type();
* ``v5``: T14, patch 14 as posted, with the three bugs of its thread;
* ``mainline``: T14F, no overrides;
* ``linux-7.2``: mainline plus the later changes a user of Linux 7.2 can
  observe, each override naming its kernel commit.

A user adds a variant in a file of their own::

    from swaplab.variants import Variant, override

    class NoHibernation(Variant):
        name = "no-hibernation"
        summary = "hibernation never gets a swap slot"
        base = None                     # or another Variant subclass to extend

        @override("swaplab.mm.swapfile", reference="what-if experiment")
        def swap_alloc_hibernation_slot(type: int) -> int:
            \"\"\"... Context: ... Return: 0: no slot.\"\"\"
            return 0

and runs it with ``--variant path/to/file.py:NoHibernation``.

How a variant takes effect (docs/design.md, "Calls are by bare name;
variants rebind names"): modeled code calls modeled functions by bare name,
so activation rebinds the name in the module that defines the function and
in every loaded swaplab module (and variant module) whose global of that
name is the function being replaced.  Deactivation puts every rebound name
back.  One variant is active at a time; the default (nothing activated) is
mainline.

Overrides are collected, in the order they are applied: those of ``base``
(recursively) first, then those of each Variant class in the Python MRO
from the oldest, each class contributing the module-level overrides defined
in its module and then its class-level ones.  An override of a name that an
earlier layer already overrides replaces that layer's function.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any, ClassVar, TypeVar

from swaplab.errors import InvalidScenario, SwaplabInternalError

__all__ = ("Override", "Variant", "active_variant", "get_variant", "list_variants",
           "override", "using")

F = TypeVar("F", bound=Callable[..., Any])

# Registered variants: name -> "module:Class", in the order `swaplab variants` lists them.
REGISTRY: dict[str, str] = {
    "legacy": "swaplab.variants.legacy:Legacy",
    "v5": "swaplab.variants.v5:V5",
    "mainline": "swaplab.variants.mainline:Mainline",
    "linux-7.2": "swaplab.variants.linux_7_2:Linux72",
}

# The model: imported before any rebinding so that every binding site exists.
_MODEL_PACKAGES = ("swaplab.include", "swaplab.kernel", "swaplab.mm", "swaplab.sim")

_COMMIT_RE = re.compile(r'^[0-9a-f]{12} \(".+"\)$')


# ---------------------------------------------------------------------------
# Declaring overrides.

@dataclass(frozen=True)
class Override:
    """One override: ``func`` replaces the function ``name`` of ``module``."""

    module: str
    name: str
    func: FunctionType
    commit: str | None = None
    reference: str | None = None

    @property
    def source(self) -> str:
        """The commit (``<12-char hash> ("<subject>")``) or reference it models."""
        return self.commit or self.reference or ""


def override(module: str, *, commit: str | None = None,
             reference: str | None = None) -> Callable[[F], F]:
    """Declare a function as the variant's body of the kernel function of the same name.

    ``module`` is the model module that defines the function replaced
    (``"swaplab.mm.swapfile"``).  Exactly one of ``commit`` (in drgn's
    format, ``'<12-char hash> ("<subject>")'``) and ``reference`` (a mail, a
    patch, an experiment) says what the override models.

    Return: the function itself, marked; it is bound only while its variant
    is active.
    """
    if not isinstance(module, str) or not module.startswith("swaplab."):
        raise InvalidScenario(f"@override: the module must be a swaplab module name such as "
                              f"'swaplab.mm.swapfile', not {module!r}")

    def mark(fn: F) -> F:
        func = fn.__func__ if isinstance(fn, staticmethod) else fn
        where = _where(func)
        if not isinstance(func, FunctionType):
            raise InvalidScenario(f"@override({module!r}) must decorate a function, "
                                  f"not {type(fn).__name__}", *where)
        if (commit is None) == (reference is None):
            raise InvalidScenario(f"@override of {func.__name__}: give exactly one of "
                                  f"commit= or reference=", *where)
        if commit is not None and not _COMMIT_RE.match(commit):
            raise InvalidScenario(f"@override of {func.__name__}: commit must read "
                                  f"'<12-char hash> (\"<subject>\")', not {commit!r}", *where)
        func.__swaplab_override__ = Override(module, func.__name__, func,  # type: ignore[attr-defined]
                                             commit, reference)
        return fn
    return mark


def _where(func: Any) -> tuple[str | None, int | None]:
    code = getattr(func, "__code__", None)
    if code is None:
        return None, None
    return code.co_filename, code.co_firstlineno


def _override_of(obj: Any) -> Override | None:
    if isinstance(obj, staticmethod):
        obj = obj.__func__
    ov = getattr(obj, "__swaplab_override__", None)
    return ov if isinstance(ov, Override) and ov.func is obj else None


# ---------------------------------------------------------------------------
# Variants.

class Variant:
    """A version of the kernel: the overrides of the model functions its diff changed.

    Subclasses set ``name``, ``summary`` (one line for ``swaplab variants``)
    and optionally ``base`` (the Variant subclass they extend).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    base: ClassVar[type[Variant] | None] = None

    def __repr__(self) -> str:
        return f"<variant {self.name}: {len(self.overrides())} overrides>"

    # --- what the variant changes ---------------------------------------------
    @classmethod
    def own_overrides(cls) -> list[Override]:
        """The overrides this class declares: module-level ones of its module, then its own."""
        found: list[Override] = []
        mod = sys.modules.get(cls.__module__)
        if mod is not None:
            for obj in list(vars(mod).values()):
                ov = _override_of(obj)
                if ov is not None and ov.func.__module__ == cls.__module__:
                    found.append(ov)
        for obj in list(vars(cls).values()):
            ov = _override_of(obj)
            if ov is not None:
                found.append(ov)
        seen: set[tuple[str, str]] = set()
        for ov in found:
            key = (ov.module, ov.name)
            if key in seen:
                raise InvalidScenario(f"variant {cls.__qualname__} overrides {ov.module}.{ov.name} "
                                      f"twice", *_where(ov.func))
            seen.add(key)
        return found

    @classmethod
    def lineage(cls) -> list[type[Variant]]:
        """The classes whose overrides apply, in application order (``base`` first)."""
        order: list[type[Variant]] = []
        base = cls.base
        if base is not None:
            if not (isinstance(base, type) and issubclass(base, Variant)):
                raise InvalidScenario(f"variant {cls.__qualname__}: base must be a Variant "
                                      f"subclass, not {base!r}")
            if base is not cls:
                for k in base.lineage():
                    if k not in order and k is not cls:
                        order.append(k)
        for k in reversed(cls.__mro__):
            if isinstance(k, type) and issubclass(k, Variant) and k is not Variant \
                    and k not in order:
                order.append(k)
        return order

    @classmethod
    def overrides(cls) -> list[Override]:
        """Every override, in the order activation applies them."""
        return [ov for k in cls.lineage() for ov in k.own_overrides()]

    # --- switching --------------------------------------------------------------
    def activate(self) -> None:
        """Rebind every overridden name (deactivating the variant active before)."""
        global _active
        if _active is self:
            return
        if _active is not None:
            _active.deactivate()
        _import_model()
        rebound: list[tuple[dict[str, Any], str, Any]] = []
        installed: list[Override] = []
        try:
            for ov in self.overrides():
                current = _target_function(ov)
                for mod in _binding_modules():
                    d = vars(mod)
                    if d.get(ov.name) is current:
                        rebound.append((d, ov.name, current))
                        d[ov.name] = ov.func
                installed.append(ov)
        except BaseException:
            _restore(rebound, installed)
            raise
        _state.rebound = rebound
        _state.installed = installed
        _active = self

    def deactivate(self) -> None:
        """Put back every name the activation rebound.  A no-op if not active."""
        global _active
        if _active is not self:
            return
        _restore(_state.rebound, _state.installed)
        _state.rebound = []
        _state.installed = []
        _active = None


class _State:
    def __init__(self) -> None:
        self.rebound: list[tuple[dict[str, Any], str, Any]] = []
        self.installed: list[Override] = []


_state = _State()
_active: Variant | None = None
_instances: dict[type[Variant], Variant] = {}
_user_modules: dict[tuple[str, int, int], ModuleType] = {}


def _restore(rebound: list[tuple[dict[str, Any], str, Any]], installed: list[Override]) -> None:
    for d, name, old in reversed(rebound):
        d[name] = old
    # Modules imported while the variant was active took the override: put
    # the original there too (never in the module that defines the override).
    funcs = {id(ov.func): ov for ov in installed}
    for mod in _binding_modules():
        d = vars(mod)
        for ov in installed:
            obj = d.get(ov.name)
            if obj is not None and id(obj) in funcs and obj.__module__ != mod.__name__:
                d[ov.name] = getattr(sys.modules[funcs[id(obj)].module], ov.name)


def _target_function(ov: Override) -> Any:
    try:
        target = importlib.import_module(ov.module)
    except ImportError as e:
        raise InvalidScenario(f"override of {ov.name}: cannot import {ov.module} ({e})",
                              *_where(ov.func)) from e
    current = vars(target).get(ov.name)
    if not isinstance(current, FunctionType):
        raise InvalidScenario(f"override of {ov.name}: {ov.module} has no function {ov.name}",
                              *_where(ov.func))
    return current


def _check_signature(ov: Override) -> None:
    """An override takes the parameters of the function it replaces (names and kinds)."""
    current = _target_function(ov)
    want = [(p.name, p.kind) for p in inspect.signature(current).parameters.values()]
    got = [(p.name, p.kind) for p in inspect.signature(ov.func).parameters.values()]
    if want != got:
        raise InvalidScenario(f"override of {ov.module}.{ov.name} takes ({', '.join(n for n, _ in got)}); "
                              f"the model function takes ({', '.join(n for n, _ in want)})",
                              *_where(ov.func))


def _binding_modules() -> list[ModuleType]:
    """Loaded modules whose globals may bind a model function: swaplab's and variant files'."""
    return [m for name, m in list(sys.modules.items())
            if m is not None and (name.startswith("swaplab.")
                                  or getattr(m, "__swaplab_variant__", False))]


_model_imported = False


def _import_model() -> None:
    """Import every model module (and the registered variants) so that every binding site exists."""
    global _model_imported
    if _model_imported:
        return
    for pkg_name in _MODEL_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
            importlib.import_module(info.name)
    importlib.import_module("swaplab.sim.world")
    for target in REGISTRY.values():
        importlib.import_module(target.split(":")[0])
    _model_imported = True


# ---------------------------------------------------------------------------
# Finding variants.

def _expected() -> str:
    return ", ".join(REGISTRY) + ", or FILE.py:CLASS"


def _instance(cls: type[Variant], name: str | None = None) -> Variant:
    v = _instances.get(cls)
    if v is None:
        if not cls.__dict__.get("name") and name:
            cls.name = name
        for ov in cls.overrides():
            _check_signature(ov)
        v = _instances[cls] = cls()
    return v


def _load_registered(spec: str) -> Variant:
    mod_name, cls_name = REGISTRY[spec].split(":")
    cls = getattr(importlib.import_module(mod_name), cls_name)
    return _instance(cls)


def _load_file(spec: str) -> Variant:
    path_str, _, cls_name = spec.rpartition(":")
    path = Path(path_str)
    if not cls_name.isidentifier():
        raise InvalidScenario(f"variant {spec!r}: expected FILE.py:CLASS with CLASS a Python "
                              f"class name; expected one of {_expected()}")
    if path.suffix != ".py":
        raise InvalidScenario(f"variant {spec!r}: expected a Python file (FILE.py:CLASS); "
                              f"expected one of {_expected()}")
    if not path.is_file():
        raise InvalidScenario(f"variant file {path_str!r} not found (expected FILE.py:CLASS)")
    resolved = path.resolve()
    st = resolved.stat()
    key = (str(resolved), st.st_mtime_ns, st.st_size)
    mod = _user_modules.get(key)
    if mod is None:
        mod = _exec_user_file(resolved, len(_user_modules))
        _user_modules[key] = mod
    cls = vars(mod).get(cls_name)
    if not (isinstance(cls, type) and issubclass(cls, Variant)) or cls is Variant:
        found = sorted(n for n, o in vars(mod).items()
                       if isinstance(o, type) and issubclass(o, Variant) and o is not Variant
                       and o.__module__ == mod.__name__)
        what = "is not a Variant subclass" if cls_name in vars(mod) else "is not defined there"
        raise InvalidScenario(f"{cls_name} {what}; expected a subclass of "
                              f"swaplab.variants.Variant (the file defines: "
                              f"{', '.join(found) or 'none'})", str(path))
    return _instance(cls, name=spec)


def _exec_user_file(path: Path, n: int) -> ModuleType:
    mod_name = f"swaplab_user_variant_{n}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise InvalidScenario("cannot load this file as Python", str(path))
    mod = importlib.util.module_from_spec(spec)
    # Frames of this module model kernel code: findings name them
    # (swaplab.check.findings._is_model_frame), and activation rebinds in it.
    mod.__dict__["__swaplab_variant__"] = True
    sys.modules[mod_name] = mod
    try:
        spec.loader.exec_module(mod)
    except InvalidScenario:
        del sys.modules[mod_name]
        raise
    except SyntaxError as e:
        del sys.modules[mod_name]
        raise InvalidScenario(f"syntax error: {e.msg}", str(path), e.lineno, e.offset) from e
    except Exception as e:
        del sys.modules[mod_name]
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        raise InvalidScenario(f"loading the variant failed: {type(e).__name__}: {e}",
                              str(path), line) from e
    return mod


def get_variant(spec: str) -> Variant:
    """The variant named ``spec``: a registered name or ``path/to/file.py:ClassName``.

    Return: the variant (one instance per class).
    Raises InvalidScenario for an unknown name, a missing file or class, or
    a bad override (unknown function, different parameters).
    """
    if not isinstance(spec, str) or not spec:
        raise InvalidScenario(f"no variant given; expected one of {_expected()}")
    if spec in REGISTRY:
        return _load_registered(spec)
    if ":" not in spec:
        raise InvalidScenario(f"unknown variant {spec!r}; expected one of {_expected()}")
    return _load_file(spec)


def list_variants() -> list[Variant]:
    """The registered variants, in the order ``swaplab variants`` lists them."""
    return [get_variant(name) for name in REGISTRY]


def active_variant() -> Variant:
    """The active variant; mainline (the model's own code) when none was activated."""
    return _active if _active is not None else get_variant("mainline")


@contextmanager
def using(spec_or_variant: str | Variant) -> Iterator[Variant]:
    """Run a block with a variant active; the variant active before comes back after it."""
    v = get_variant(spec_or_variant) if isinstance(spec_or_variant, str) else spec_or_variant
    if not isinstance(v, Variant):
        raise SwaplabInternalError(f"using() needs a variant name or a Variant, not {v!r}")
    previous = _active
    v.activate()
    try:
        yield v
    finally:
        v.deactivate()
        if previous is not None and previous is not v:
            previous.activate()
