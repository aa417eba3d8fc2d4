"""Build the compiled production model (mypyc) into build/compiled/.

The production build is ``python -O``: ``if __debug__:`` blocks vanish.
mypyc does not fold ``__debug__`` (it reads ``builtins.__debug__`` at run
time), so this script compiles a copy of the source in which each
``if __debug__:`` reads ``if False:`` -- what ``-O`` does to the bytecode --
and ``@__always_inline`` (a marker for the frame walk of findings, and
compiled functions have no frames) is dropped so that the helpers compile
as native functions.  The source tree itself is never changed.

With ``--checks`` it builds the checked build into build/compiled-checks/
instead: every check kept, and only the lock API (swaplab/kernel/locking.py)
compiled.  Findings name the modeled function from the Python frames, and
the lock API is harness code that no finding names, so it is the one module
that can run native without changing a single finding; the modeled kernel
code stays interpreted.  ``swaplab bench`` measures cycles_per_s_checks_on on
it (and on the source).

Usage: python3 tools/build_compiled.py [--checks] [module.py ...]
       (default: the hot modules; with --checks, the lock API)
Run the result with PYTHONPATH=build/compiled python3 -O ...
or PYTHONPATH=build/compiled-checks python3 ...
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "compiled")
# The modules the order-0 cycle runs in (swaplab bench, cycles_per_s_checks_off).
HOT = ["swaplab/mm/swapfile.py", "swaplab/mm/swap_state.py", "swaplab/mm/swap.py",
       "swaplab/mm/swap_table.py", "swaplab/mm/vmstat.py", "swaplab/kernel/locking.py",
       "swaplab/kernel/dup.py", "swaplab/kernel/custom.py", "swaplab/kernel/stubs.py",
       "swaplab/include/linux/swap.py", "swaplab/include/linux/swapops.py",
       "swaplab/include/linux/mmdebug.py", "swaplab/check/findings.py"]
# The checked build: the lock API only (see the module docstring).
CHECKS_OUT = os.path.join(ROOT, "build", "compiled-checks")
CHECKS = ["swaplab/kernel/locking.py"]
# Refuse to run the -O build without -O: its checks are gone, not switched off.
GUARD = """
if __debug__:
    raise ImportError("build/compiled is the python -O production build (mypyc, "
                      "checks compiled out): run it with python -O")
"""


def transform(text: str, debug: bool = False, inline: bool = False) -> str:
    if not debug:
        text = re.sub(r"^(\s*)if __debug__:", r"\1if False:  # __debug__ under -O", text, flags=re.M)
    if not inline:
        text = re.sub(r"^\s*@(__always_inline|always_inline)\s*\n", "", text, flags=re.M)
    return text


def main() -> None:
    args = sys.argv[1:]
    keep_debug = "--keep-debug" in args       # experiment: compile `if __debug__:` as is
    keep_inline = "--keep-inline" in args     # experiment: keep @__always_inline
    checks = "--checks" in args
    if checks:
        keep_debug = keep_inline = True
    out = CHECKS_OUT if checks else OUT
    src = os.path.join(ROOT, "swaplab")
    for a in args:
        if a.startswith("--out="):
            out = os.path.join(ROOT, a[6:])
        if a.startswith("--src="):                # experiment: another source tree
            src = a[6:]
    mods = [a for a in args if not a.startswith("--")] or (CHECKS if checks else HOT)
    t0 = time.time()
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, os.path.join(out, "swaplab"),
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for m in mods:
        p = os.path.join(out, m)
        with open(p) as f:
            src = f.read()
        with open(p, "w") as f:
            f.write(transform(src, keep_debug, keep_inline))
    if not keep_debug:
        with open(os.path.join(out, "swaplab", "__init__.py"), "a") as f:
            f.write(GUARD)
    env = dict(os.environ, MYPYC_OPT_LEVEL=os.environ.get("MYPYC_OPT_LEVEL", "3"))
    subprocess.run([sys.executable, "-m", "mypyc", *mods], cwd=out, check=True, env=env)
    print(f"compiled {len(mods)} modules in {time.time() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
