"""The kernel configuration the model is built with (``.config``).

Like a kernel build, the configuration is fixed when swaplab is imported:
``SWAPFILE_CLUSTER`` and ``SWAP_NR_ORDERS`` are compile-time constants in
the kernel and module-level constants here.  The defaults are those of a
distribution x86_64 kernel (the Debian build the oracle ran).  Set
``SWAPLAB_CONFIG_THP_SWAP=n`` in the environment to build the model without
THP swap (256-slot clusters, order-0 only, ``-EAGAIN`` for large folios).
"""

from __future__ import annotations

import os


def _env_bool(name: str, default: bool) -> bool:
    val = os.environ.get(name)
    if val is None:
        return default
    if val in ("y", "1", "yes"):
        return True
    if val in ("n", "0", "no"):
        return False
    raise SystemExit(f"swaplab: environment variable {name}={val!r}: expected y or n")


CONFIG_SWAP = True
CONFIG_THP_SWAP = _env_bool("SWAPLAB_CONFIG_THP_SWAP", True)
CONFIG_HIBERNATION = True
CONFIG_DEBUG_VM = True
CONFIG_MEMCG = True
CONFIG_KSM = True
# MAX_SWAPFILES = 32 - DEVICE_PRIVATE(3) - MIGRATION(3) - MEMORY_FAILURE(1) - PTE_MARKER(1)
CONFIG_DEVICE_PRIVATE = True
CONFIG_MIGRATION = True
CONFIG_MEMORY_FAILURE = True

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
HPAGE_PMD_ORDER = 9
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
PMD_ORDER = HPAGE_PMD_ORDER
