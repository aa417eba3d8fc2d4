"""mm/page_io.c: reading and writing swap slots.

The block device holds, per written slot, the content token of the page
(``si.swap_data[offset]``; see swaplab.kernel.custom).  All-zero folios are
not written at all: their slots get a bit in ``si.zeromap`` and count
``swpout_zero`` (swap-in then counts ``swpin_zero``).

Writeback completion:

* ``SWP_SYNCHRONOUS_IO`` devices (brd, zram) complete the write before
  swap_writeout() returns, so reclaim frees the clean folio in the same pass;
* other devices (virtio-blk) keep the folio under writeback: the bio is
  queued on ``swap_bios_inflight`` and ends when the block layer completes
  it, :func:`swap_complete_inflight_io` (harness: the simulator calls it when
  a task returns to user space, sleeps, or waits on the folio).  Reclaim
  therefore finds the folio under writeback and keeps it in the swap cache,
  as the 7.2.13 oracle shows (SwapCached = Used after MADV_PAGEOUT).

Reads always complete synchronously in the model (an asynchronous read is
waited for by the faulting task's folio lock anyway).  Every read checks the
token: a slot that is free, or whose data is not the last one written, is a
``data-corruption`` finding.
"""

from __future__ import annotations

from swaplab.check.findings import report
from swaplab.include.linux.mmdebug import VM_WARN_ON_FOLIO
from swaplab.include.linux.swap import SWP_SYNCHRONOUS_IO
from swaplab.include.linux.swapops import swp_offset
from swaplab.kernel.dup import folio, folio_mark_dirty, folio_test_locked, folio_test_swapcache, folio_unlock
from swaplab.mm.swap import __swap_entry_to_info
from swaplab.mm.vmstat import PSWPIN, PSWPOUT, SWPIN_ZERO, SWPOUT_ZERO, count_vm_events

AOP_WRITEPAGE_ACTIVATE = 0x80000

# Bios submitted to asynchronous devices and not completed yet, in order.
swap_bios_inflight: list[folio] = []


def reset_page_io() -> None:
    swap_bios_inflight.clear()


def is_folio_zero_filled(folio: folio) -> bool:
    """Every page of the folio holds zeros (content token 0)."""
    return all(p.content == 0 for p in folio.pages)


def swap_zeromap_folio_set(folio: folio) -> None:
    si = __swap_entry_to_info(folio.swap)
    offset = swp_offset(folio.swap)
    nr = 1 << folio.order
    for i in range(offset, offset + nr):
        si.zeromap[i >> 3] |= 1 << (i & 7)  # type: ignore[union-attr,index]
    count_vm_events(SWPOUT_ZERO, nr)


def swap_zeromap_folio_clear(folio: folio) -> None:
    si = __swap_entry_to_info(folio.swap)
    offset = swp_offset(folio.swap)
    for i in range(offset, offset + (1 << folio.order)):
        si.zeromap[i >> 3] &= ~(1 << (i & 7))  # type: ignore[union-attr,index]


def swap_writeout(folio: folio, swap_plug: object = None) -> int:
    """Write a swap-cache folio to its slots (the ``writeout`` of the swap cache).

    Context: Caller must ensure the folio is locked, in the swap cache and
    has had its dirty bit cleared for I/O; the folio is unlocked on return.
    Return: 0 (written, zero-mapped, or nothing to do), or
    AOP_WRITEPAGE_ACTIVATE with the folio redirtied.
    """
    VM_WARN_ON_FOLIO(not folio_test_locked(folio), folio, "swap_writeout: folio not locked")
    VM_WARN_ON_FOLIO(not folio_test_swapcache(folio), folio, "swap_writeout: folio not in the swap cache")
    if folio_free_swap(folio):
        # Nobody refers to the slots any more (zapped meanwhile): no I/O.
        folio_unlock(folio)
        return 0
    # Use the zeromap to avoid doing I/O for zero-filled folios.
    if is_folio_zero_filled(folio):
        swap_zeromap_folio_set(folio)
        folio_unlock(folio)
        return 0
    # Clear the zeromap bits of earlier zero writes to the same slots.
    swap_zeromap_folio_clear(folio)
    # zswap is off.
    __swap_writepage(folio, swap_plug)
    return 0


def __swap_writepage(folio: folio, swap_plug: object = None) -> None:
    """Submit the write.  Context: folio locked; unlocked here once writeback starts."""
    si = __swap_entry_to_info(folio.swap)
    assert si is not None
    count_vm_events(PSWPOUT, 1 << folio.order)
    folio.PG_writeback = True                   # folio_start_writeback()
    folio_unlock(folio)
    offset = swp_offset(folio.swap)
    for i, p in enumerate(folio.pages):
        si.swap_data[offset + i] = p.content
    if si.flags & SWP_SYNCHRONOUS_IO:
        # swap_writepage_bdev_sync(): submit_bio_wait()
        end_swap_bio_write(folio)
    else:
        swap_bios_inflight.append(folio)


def end_swap_bio_write(folio: folio) -> None:
    """The bio completed: end writeback (a reclaim-tagged folio rotates on the LRU)."""
    folio.PG_reclaim = False
    folio.PG_writeback = False                  # folio_end_writeback()


def swap_complete_inflight_io() -> int:
    """Harness: the block layer completes every queued swap write.  Return: how many."""
    n = 0
    while swap_bios_inflight:
        f = swap_bios_inflight.pop(0)
        if f.PG_writeback:
            end_swap_bio_write(f)
            n += 1
    return n


def folio_wait_writeback_io(folio: folio) -> None:
    """A task waits for this folio's write: the block layer completes it now."""
    if folio.PG_writeback:
        if folio in swap_bios_inflight:
            swap_bios_inflight.remove(folio)
        end_swap_bio_write(folio)


def swap_read_folio(folio: folio, plug: object = None) -> None:
    """Read a locked swap-cache folio from its slots, then unlock it (folio_end_read()).

    Context: Caller must ensure the folio is locked and in the swap cache.
    """
    VM_WARN_ON_FOLIO(not folio_test_locked(folio), folio, "swap_read_folio: folio not locked")
    VM_WARN_ON_FOLIO(not folio_test_swapcache(folio), folio, "swap_read_folio: folio not in the swap cache")
    si = __swap_entry_to_info(folio.swap)
    assert si is not None
    offset = swp_offset(folio.swap)
    nr = 1 << folio.order
    zero = [bool(si.zeromap[i >> 3] & (1 << (i & 7))) for i in range(offset, offset + nr)]  # type: ignore[index]
    if all(zero):
        # swap_read_folio_zeromap()
        for p in folio.pages:
            p.content = 0
        count_vm_events(SWPIN_ZERO, nr)
    else:
        for i, p in enumerate(folio.pages):
            off = offset + i
            token = si.swap_data.get(off)
            if si.swap_map[off] == 0:  # type: ignore[index]
                report("data-corruption", f"swap-in reads slot [{si.type}, {off}], which is free")
            elif token is None:
                report("data-corruption", f"swap-in reads slot [{si.type}, {off}], "
                       f"which holds no data (never written)")
            p.content = token if token is not None else -1
        # swap_read_folio_bdev_{sync,async}(): the bio counts PSWPIN.
        count_vm_events(PSWPIN, nr)
    folio.PG_uptodate = True
    folio_unlock(folio)


def handle_write_error(folio: folio) -> None:
    folio_mark_dirty(folio)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.swapfile import folio_free_swap
