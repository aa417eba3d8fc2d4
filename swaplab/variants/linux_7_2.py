"""linux-7.2: mainline (T14F) plus the later kernel changes a user of Linux 7.2 can observe.

Each override names the kernel commit it models.  docs/variants.md goes
through every change between T14F and Linux 7.2 that docs/kernel-notes.md
§11 lists and says why it is modeled, not observable through what swaplab
reports, or unconfirmed for 7.2.

Hash policy (docs/kernel-notes.md §11): mm patches are rebased many times
in mm-unstable; the hashes below were read from linux-next listings and are
not guaranteed to be the mainline ones.
"""

from __future__ import annotations

from swaplab.include.linux.swap import SWAP_ENTRY_INVALID, SWP_WRITEOK
from swaplab.include.linux.swapops import swp_entry
from swaplab.kernel.locking import local_lock, local_unlock, smp_processor_id
from swaplab.mm.swap import swap_cluster_lock, swap_cluster_unlock
from swaplab.mm.swapfile import (
    alloc_swap_scan_cluster,
    cluster_alloc_swap_entry,
    cluster_is_usable,
    get_swap_device_info,
    percpu_swap_cluster,
    put_swap_device,
    swap_type_to_info,
)
from swaplab.variants import Variant, override


@override("swaplab.mm.swapfile",
          commit='3d386e07971f ("mm, swap: speed up hibernation allocation and writeout")')
def swap_alloc_hibernation_slot(type: int) -> int:
    """Allocate a slot for hibernation: count 1, not cached (Linux 7.2: this CPU's cluster first).

    Since "mm, swap: speed up hibernation allocation and writeout" (Kairui
    Song, 2026; a fix of 0ff67f990bd4 "mm, swap: remove swap slot cache",
    after which hibernation took the slow path and "rotates clusters too
    often"), the slot comes from this CPU's cached order-0 cluster when that
    cache points at this device, scanning from the cached offset (not from
    the cluster start, unlike swap_alloc_fast()); only then from the
    per-device allocator.  So hibernation slots continue the anon
    allocation position: 1, 2, 3 on an empty SSD (T14F: 1, 512, 1024), and
    104... after anon slots 4-103 (oracle hib1, Linux 7.2.13).
    Context: process context; the device is pinned with a reference here.
    Return: the entry, or 0 on failure.
    """
    si = swap_type_to_info(type)
    entry = 0
    offset = SWAP_ENTRY_INVALID
    if si is None:
        return entry
    if get_swap_device_info(si):
        if si.flags & SWP_WRITEOK:
            # Try the local cluster first if it matches the device.  If
            # not, try grab a new cluster and override local cluster.
            pcp = percpu_swap_cluster[smp_processor_id()]
            local_lock(pcp.lock)
            pcp_si = pcp.si[0]
            pcp_offset = pcp.offset[0]
            if pcp_si is si and pcp_offset:
                ci = swap_cluster_lock(si, pcp_offset)
                if cluster_is_usable(ci, 0):
                    offset = alloc_swap_scan_cluster(si, ci, pcp_offset, 0, 1)
                else:
                    swap_cluster_unlock(ci)
            if not offset:
                offset = cluster_alloc_swap_entry(si, 0, 1)
            local_unlock(pcp.lock)
            if offset:
                entry = swp_entry(si.type, offset)
        put_swap_device(si)
    return entry


class Linux72(Variant):
    """Linux 7.2: T14F plus the later changes observable through swaplab."""

    name = "linux-7.2"
    summary = "Linux 7.2: mainline plus later observable changes (hibernation slots from this CPU's cluster)"
