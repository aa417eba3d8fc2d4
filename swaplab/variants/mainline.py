"""mainline: T14F, the model's own code (no overrides).

"[PATCH v5 14/19] mm, swap: cleanup swap entry management workflow" as
merged into mm: the posted patch with the two fixes of its review thread
squashed in (fix A: "mm, swap: fix locking and leaking with hibernation
snapshot releasing", Kairui Song, 2026-01-15; fix B: unuse_pte() puts the
swap count on the swap-cache folio).  See docs/variants.md.
"""

from __future__ import annotations

from swaplab.variants import Variant


class Mainline(Variant):
    """T14F: patch 14 with fixes A and B: what swaplab/mm models."""

    name = "mainline"
    summary = "T14F: patch 14 with the two fixes of its review thread (the model's own code)"
