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

I/O errors (the injected faults ``swap_write_io`` and ``swap_read_io``) end
the bio with ``BLK_STS_IOERR`` and take the kernel's completion paths:

* __end_swap_bio_write(): the folio is redirtied (so reclaim cannot free
  it: it stays in the swap cache and is written again by a later reclaim),
  ``Write-error on swap-device`` is logged with pr_alert, PG_reclaim is
  cleared and writeback ends.  The device keeps what the slots held before;
* __end_swap_bio_read(): ``Read-error on swap-device`` is logged and the
  folio is *not* marked uptodate; it is unlocked either way.  The callers
  see a !uptodate folio: do_swap_page() returns VM_FAULT_SIGBUS, shmem
  takes shmem_set_folio_swapin_error(), swapoff's unuse_pte() installs a
  poisoned marker (mm/swapfile.py).
"""

from __future__ import annotations

from swaplab.check.findings import report
from swaplab.include.linux.printk import pr_alert
from swaplab.kconfig import HPAGE_PMD_ORDER, PAGE_SHIFT
from swaplab.kernel.custom import should_fail
from swaplab.include.linux.mmdebug import VM_BUG_ON_FOLIO, VM_WARN_ON_FOLIO
from swaplab.include.linux.swap import SWP_SYNCHRONOUS_IO
from swaplab.include.linux.swapops import swp_offset
from swaplab.kernel.dup import folio, folio_mark_dirty, folio_test_locked, folio_test_swapcache, folio_unlock
from swaplab.mm.swap import __swap_entry_to_info
from swaplab.mm.vmstat import (MTHP_STAT_SWPIN, MTHP_STAT_SWPOUT, PSWPIN, PSWPOUT, SWPIN_ZERO, SWPOUT_ZERO, THP_SWPOUT,
                                count_mthp_stat, count_vm_event, count_vm_events)

AOP_WRITEPAGE_ACTIVATE = 0x80000

# blk_status_t
BLK_STS_OK = 0
BLK_STS_IOERR = 10

SECTOR_SHIFT = 9


class bio:
    """struct bio, reduced to a one-folio swap bio: its folio, first sector and status."""

    __slots__ = ("bi_folio", "bi_sector", "bi_status")

    def __init__(self, folio: folio, sector: int) -> None:
        self.bi_folio = folio
        self.bi_sector = sector
        self.bi_status = BLK_STS_OK

    def __repr__(self) -> str:
        return f"<bio {self.bi_folio!r} sector {self.bi_sector} status {self.bi_status}>"


def swap_folio_sector(folio: folio) -> int:
    """The first sector of a swap-cache folio's slots (one extent: sector = offset << 3).

    Context: Caller must ensure the folio is in the swap cache (locked or
    under writeback, so that ``folio->swap`` is stable).
    Return: the sector.
    """
    return swp_offset(folio.swap) << (PAGE_SHIFT - SECTOR_SHIFT)


def swap_dev_name(folio: folio) -> str:
    """``MAJOR:MINOR`` of the folio's swap device, as the I/O error messages print it (model helper)."""
    si = __swap_entry_to_info(folio.swap)
    name = si.swap_file.name if si is not None and si.swap_file is not None else ""
    return SWAP_DEVNO.get(name, "0:0")


# Device numbers for the messages (the oracle guest's block devices; 0:0 otherwise).
SWAP_DEVNO = {"/dev/vda": "254:0", "/dev/vdb": "254:16", "/dev/ram0": "1:0", "/dev/ram1": "1:1"}

# Bios submitted to asynchronous devices and not completed yet, in order.
swap_bios_inflight: list[bio] = []


def reset_page_io() -> None:
    """Boot state: no swap bio in flight (harness)."""
    swap_bios_inflight.clear()


def is_folio_zero_filled(folio: folio) -> bool:
    """Does every page of the folio hold zeros (content token 0)?

    Context: Caller must ensure the folio is locked (its content is stable).
    Return: True if all pages are zero-filled.
    """
    return all(p.content == 0 for p in folio.pages)


def swap_zeromap_folio_set(folio: folio) -> None:
    """Mark the folio's slots as zero-filled in ``si->zeromap`` and count ``swpout_zero``.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
    """
    si = __swap_entry_to_info(folio.swap)
    offset = swp_offset(folio.swap)
    nr = 1 << folio.order
    for i in range(offset, offset + nr):
        si.zeromap[i >> 3] |= 1 << (i & 7)  # type: ignore[union-attr,index]
    count_vm_events(SWPOUT_ZERO, nr)


def swap_zeromap_folio_clear(folio: folio) -> None:
    """Clear the zeromap bits of the folio's slots before their data is written.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
    """
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
    """Submit the write of a swap-cache folio.

    The kernel's __swap_writepage() with swap_writepage_bdev_{sync,async}():
    writeback starts and the folio is unlocked before the bio ends.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
    """
    if __debug__:
        VM_BUG_ON_FOLIO(not folio_test_swapcache(folio), folio,
                        "__swap_writepage: folio not in the swap cache")
    si = __swap_entry_to_info(folio.swap)
    assert si is not None
    b = bio(folio, swap_folio_sector(folio))
    count_swpout_vm_event(folio)
    folio.PG_writeback = True                   # folio_start_writeback()
    folio_unlock(folio)
    # Harness: the device ends the write with an error (the slots keep their old data).
    if should_fail("swap_write_io"):
        b.bi_status = BLK_STS_IOERR
    else:
        offset = swp_offset(folio.swap)
        for i, p in enumerate(folio.pages):
            si.swap_data[offset + i] = p.content
    if si.flags & SWP_SYNCHRONOUS_IO:
        # swap_writepage_bdev_sync(): submit_bio_wait()
        __end_swap_bio_write(b)
    else:
        swap_bios_inflight.append(b)


def count_swpout_vm_event(folio: folio) -> None:
    """Swap-out events of one write: ``thp_swpout`` (PMD order), ``swpout`` of the
    folio's mTHP order (order >= 1), ``pswpout`` per page.

    Context: any.
    Return: nothing.
    """
    if folio.order == HPAGE_PMD_ORDER:          # folio_test_pmd_mappable()
        count_vm_event(THP_SWPOUT)
    count_mthp_stat(folio.order, MTHP_STAT_SWPOUT)
    count_vm_events(PSWPOUT, 1 << folio.order)


def __end_swap_bio_write(bio: bio) -> None:
    """A swap write completed: on error redirty the folio so it is not reclaimed, then end writeback.

    Context: the bio's completion (any context); the folio is under writeback.
    Return: nothing.
    """
    folio = bio.bi_folio
    if bio.bi_status:
        # We failed to write the page out to swap-space.  Re-dirty the page
        # in order to avoid it being reclaimed; things will go BAD (tm).
        folio_mark_dirty(folio)
        pr_alert(f"Write-error on swap-device ({swap_dev_name(folio)}:{bio.bi_sector})")
        folio.PG_reclaim = False                # folio_clear_reclaim()
    folio_end_writeback(folio)


def end_swap_bio_write(bio: bio) -> None:
    """bio->bi_end_io of an asynchronous swap write.

    Context: the bio's completion (IRQ context in the kernel).
    Return: nothing.
    """
    __end_swap_bio_write(bio)


def folio_end_writeback(folio: folio) -> None:
    """mm/filemap.c: end writeback (a reclaim-tagged folio rotates on the LRU: the model only clears the tag).

    Context: the folio is under writeback (I/O completion).
    Return: nothing.
    """
    folio.PG_reclaim = False
    folio.PG_writeback = False


def swap_complete_inflight_io() -> int:
    """Harness: the block layer completes every queued swap write; return how many."""
    n = 0
    while swap_bios_inflight:
        b = swap_bios_inflight.pop(0)
        if b.bi_folio.PG_writeback:
            end_swap_bio_write(b)
            n += 1
    return n


def folio_wait_writeback_io(folio: folio) -> None:
    """Harness: a task waits for this folio's write, so the block layer completes it now."""
    if folio.PG_writeback:
        for b in swap_bios_inflight:
            if b.bi_folio is folio:
                swap_bios_inflight.remove(b)
                end_swap_bio_write(b)
                return
        folio_end_writeback(folio)


def swap_read_folio(folio: folio, plug: object = None) -> None:
    """Read a locked swap-cache folio from its slots, then unlock it (folio_end_read()).

    A read error leaves the folio !uptodate (__end_swap_bio_read()); the
    caller checks folio_test_uptodate() after waiting for the folio lock.

    Context: Caller must ensure the folio is locked and in the swap cache.
    Return: nothing.
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
        folio.PG_uptodate = True
        folio_unlock(folio)
        return
    # swap_read_folio_bdev_{sync,async}(): the bio counts PSWPIN when submitted.
    count_vm_events(PSWPIN, nr)
    count_mthp_stat(folio.order, MTHP_STAT_SWPIN)
    b = bio(folio, swap_folio_sector(folio))
    # Harness: the device ends the read with an error.
    if should_fail("swap_read_io"):
        b.bi_status = BLK_STS_IOERR
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
    __end_swap_bio_read(b)


def __end_swap_bio_read(bio: bio) -> None:
    """A swap read completed: mark the folio uptodate unless it failed; unlock it.

    Context: the bio's completion; the folio is locked (by the reader).
    Return: nothing.
    """
    folio = bio.bi_folio
    if bio.bi_status:
        pr_alert(f"Read-error on swap-device ({swap_dev_name(folio)}:{bio.bi_sector})")
        for p in folio.pages:
            p.content = -1                      # what the failed read left: not the data
    else:
        folio.PG_uptodate = True                # folio_mark_uptodate()
    folio_unlock(folio)                         # folio_end_read()


def handle_write_error(folio: folio) -> None:
    """mm/vmscan.c (older kernels): a write-out failed, keep the folio dirty.

    Context: Caller must ensure the folio is locked.
    Return: nothing.
    """
    folio_mark_dirty(folio)


# Linked at the end of the module (see mm/swapfile.py).
from swaplab.mm.swapfile import folio_free_swap
