"""Small scenario helpers shared by the tests (not kernel code)."""

from __future__ import annotations

from swaplab.include.linux.swap import swap_info_struct
from swaplab.kernel.custom import register_backing, swap_backing
from swaplab.kernel.dup import folio, folio_lock
from swaplab.mm import swapfile
from swaplab.mm.swap import swap_info
from swaplab.mm.swap_state import swap_cache_del_folio

MB = 1 << 20


def add_device(name: str = "/dev/vda", mb: int = 64, kind: str = "ssd", flags: int = 0,
               blkdev: bool = True, **kw: object) -> swap_info_struct:
    """mkswap + swapon: returns the new device."""
    register_backing(swap_backing(name, mb * MB, kind, blkdev=blkdev, **kw))  # type: ignore[arg-type]
    rc = swapfile.sys_swapon(name, flags)
    assert rc == 0, rc
    si = [s for s in swap_info if s is not None and s.swap_file is not None
          and s.swap_file.name == name][0]
    return si


def swap_out_entry(order: int = 0, ptes: int = 1) -> int:
    """Allocate for a folio, dup ``ptes`` times per page (try_to_unmap_one), drop it from the cache."""
    f = folio(order)
    folio_lock(f)
    assert swapfile.folio_alloc_swap(f) == 0
    entry = f.swap
    for _ in range(ptes):
        for p in f.pages:
            assert swapfile.folio_dup_swap(f, p) == 0
    swap_cache_del_folio(f)
    return entry


def byte(si: swap_info_struct, offset: int) -> int:
    return si.swap_map[offset]  # type: ignore[index]
