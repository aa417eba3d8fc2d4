"""include/linux/swapops.h: swp_entry_t construction and decoding.

A ``swp_entry_t`` is one machine word, exactly as in the kernel: the model
keeps it as a plain ``int`` (``entry.val``), so ``entry + i`` is the kernel's
``entry.val += i`` and ``0`` is "no entry".  On 64-bit the type sits in the
top ``MAX_SWAPFILES_SHIFT`` bits of the 63 bits an XArray value can hold::

    | type (5 bits) | offset (58 bits) |
"""

from __future__ import annotations

from typing import Final, NewType

swp_entry_t = NewType("swp_entry_t", int)

MAX_SWAPFILES_SHIFT: Final = 5
BITS_PER_XA_VALUE: Final = 63
SWP_TYPE_SHIFT: Final = BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT
SWP_OFFSET_MASK: Final = (1 << SWP_TYPE_SHIFT) - 1


def swp_entry(type: int, offset: int) -> swp_entry_t:
    """Build a swap entry from a device type and a slot offset.

    >>> swp_offset(swp_entry(1, 512))
    512
    """
    return swp_entry_t((type << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK))


def swp_type(entry: int) -> int:
    """The device (type) index of a swap entry."""
    return entry >> SWP_TYPE_SHIFT


def swp_offset(entry: int) -> int:
    """The slot offset of a swap entry inside its device."""
    return entry & SWP_OFFSET_MASK


def entry_str(entry: int) -> str:
    """``[type, offset]`` as findings and traces print it."""
    return f"[{swp_type(entry)}, {swp_offset(entry)}]"
