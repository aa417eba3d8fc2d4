"""Structural invariants of the swap subsystem (spec §7.1: I2, I3, I6-I9).

``check_swap_invariants()`` walks every device and returns what is broken
as ``(kind, message, entry)`` triples (kinds ``cluster-accounting`` and
``cache-mismatch``); ``report_swap_invariants()`` turns them into findings.
The reference ledger (counts against owners) builds on it, after every
step of a program.

It is a full walk -- every cluster of every device, every cluster list,
every table word and every cached slot -- kept cheap by doing the
byte-level work at C speed: ``swap_map`` is counted and scanned with
``bytes.count``, ``bytes.translate`` and ``bytes.find``, so Python only
visits the clusters, the list nodes, and the slots that are cached or have
a table word.
"""

from __future__ import annotations

from swaplab.check.findings import report
from swaplab.include.linux.swap import (SWAP_HAS_CACHE, SWAP_MAP_BAD, SWAP_NR_ORDERS,
                                        SWAP_USAGE_OFFLIST_BIT, SWAPFILE_CLUSTER,
                                        SWP_USED, SWP_WRITEOK, swap_info_struct)
from swaplab.kernel.dup import folio
from swaplab.mm import swapfile
from swaplab.mm.swap import (CLUSTER_FLAG_DISCARD, CLUSTER_FLAG_FRAG, CLUSTER_FLAG_FREE,
                             CLUSTER_FLAG_FULL, CLUSTER_FLAG_NAMES, CLUSTER_FLAG_NONE,
                             CLUSTER_FLAG_NONFULL, swap_info)

Problem = tuple[str, str, tuple[int, int] | None]


def _list_membership(si: swap_info_struct) -> dict[int, tuple[int, int]]:
    """cluster idx -> (flag the list implies, order of the list).

    Every list is walked node by node, in the order free, full, discard,
    then nonfull and frag of each order; most of the 2 * SWAP_NR_ORDERS + 3
    lists are empty, so the walk asks each head first, without a call.
    """
    member: dict[int, tuple[int, int]] = {}
    for flag, head in ((CLUSTER_FLAG_FREE, si.free_clusters),
                       (CLUSTER_FLAG_FULL, si.full_clusters),
                       (CLUSTER_FLAG_DISCARD, si.discard_clusters)):
        node = head.next
        while node is not head:
            member[node.entry.idx] = (flag, 0)
            node = node.next
    frag_clusters = si.frag_clusters
    for o, head in enumerate(si.nonfull_clusters):
        node = head.next
        while node is not head:
            member[node.entry.idx] = (CLUSTER_FLAG_NONFULL, o)
            node = node.next
        head = frag_clusters[o]
        node = head.next
        while node is not head:
            member[node.entry.idx] = (CLUSTER_FLAG_FRAG, o)
            node = node.next
    return member


# bytes.translate() tables: 1 for a byte with SWAP_HAS_CACHE, else 0; the bytes without it.
_CACHED_MARK = bytes(1 if b & SWAP_HAS_CACHE else 0 for b in range(256))
_NOT_CACHED = bytes(b for b in range(256) if not b & SWAP_HAS_CACHE)


def _check_cluster_cache(t: int, start: int, seg: bytes | bytearray,
                         words: dict[int, object]) -> list[Problem]:
    """I2, I3 for one cluster: its slots ``seg`` (from offset ``start``) and its table ``words``.

    Every table word and every cached slot is looked at: a folio word
    must be on a cached slot and cache it; any other word must be on a
    used slot; a cached slot must have a folio word.
    """
    out: list[Problem] = []
    cached: set[int] = set()
    marks = seg.translate(_CACHED_MARK)
    off = marks.find(1)
    while off >= 0:
        cached.add(off)
        off = marks.find(1, off + 1)
    base = swapfile.swp_entry(t, start)
    nr = len(seg)
    for off, tb in words.items():
        ent = seg[off] if off < nr else 0
        if type(tb) is folio:
            if off not in cached:
                out.append(("cache-mismatch", f"slot byte {ent:#04x} but swap table word "
                            f"{tb!r}", (t, start + off)))
            f = tb
            if not f.PG_swapcache or not f.swap <= base + off < f.swap + (1 << f.order):
                out.append(("cache-mismatch", f"table word points to {f!r} which does "
                            "not cache this slot", (t, start + off)))
        elif not ent:
            out.append(("cache-mismatch", f"free slot with table word {tb!r}", (t, start + off)))
    for off in cached:
        tb = words.get(off, 0)
        if type(tb) is not folio:
            out.append(("cache-mismatch", f"slot byte {seg[off]:#04x} but swap table word "
                        f"{tb!r}", (t, start + off)))
    return out


def check_device(si: swap_info_struct) -> list[Problem]:
    """I2, I3, I6-I8 for one device.

    Byte-level work (counting, finding cached slots) runs at C speed over
    ``swap_map``; Python only visits clusters, and the slots of a cluster
    that are cached or have a table word.
    """
    out: list[Problem] = []
    swap_map = si.swap_map
    assert swap_map is not None and si.cluster_info is not None
    member = _list_membership(si)
    max_ = si.max
    t = si.type
    for ci in si.cluster_info:
        start = ci.idx * SWAPFILE_CLUSTER
        end = min(start + SWAPFILE_CLUSTER, max_)
        seg = swap_map[start:end]
        count = (end - start) - seg.count(0) + (start + SWAPFILE_CLUSTER - end)
        where = (t, start)
        if count != ci.count:
            out.append(("cluster-accounting",
                        f"cluster {ci.idx} count {ci.count} but {count} slots in use", where))
        table = ci.table
        # Deleting the bytes without SWAP_HAS_CACHE is a C-speed pass: is any slot cached?
        if table or seg.translate(None, _NOT_CACHED):
            out.extend(_check_cluster_cache(t, start, seg, table or {}))
        flag, order = member.get(ci.idx, (CLUSTER_FLAG_NONE, 0))
        if ci.flags != flag:
            out.append(("cluster-accounting", f"cluster {ci.idx} flag "
                        f"{CLUSTER_FLAG_NAMES[ci.flags]} but on the "
                        f"{CLUSTER_FLAG_NAMES[flag]} list", where))
        elif flag in (CLUSTER_FLAG_NONFULL, CLUSTER_FLAG_FRAG) and order != ci.order:
            out.append(("cluster-accounting", f"cluster {ci.idx} of order {ci.order} "
                        f"on a list of order {order}", where))
        if ci.flags == CLUSTER_FLAG_FREE and (ci.count or table is not None):
            out.append(("cluster-accounting",
                        f"free cluster {ci.idx} has count {ci.count} or a table", where))
        if ci.count and table is None:
            out.append(("cluster-accounting", f"used cluster {ci.idx} has no table", where))
        if ci.flags == CLUSTER_FLAG_FULL and ci.count != SWAPFILE_CLUSTER:
            out.append(("cluster-accounting", f"full cluster {ci.idx} has count {ci.count}", where))
        if ci.flags == CLUSTER_FLAG_NONE and ci.lock.owner is None:
            out.append(("cluster-accounting", f"cluster {ci.idx} is off every list", where))
    usage = swapfile.swap_usage_in_pages(si)
    inuse = max_ - swap_map.count(0) - swap_map.count(SWAP_MAP_BAD)
    if inuse != usage:
        out.append(("cluster-accounting",
                    f"type {t}: inuse_pages {usage} but {inuse} slots in use", None))
    on_avail = False                            # plist_node_in(si, &swap_avail_head)
    for _, node in swapfile.swap_avail_head.nodes:
        if node is si:
            on_avail = True
            break
    should = bool(si.flags & SWP_WRITEOK) and usage < si.pages
    if on_avail != should:
        out.append(("cluster-accounting", f"type {t}: on the avail list={on_avail} "
                    f"but WRITEOK and not full={should}", None))
    if bool(si.inuse_pages & SWAP_USAGE_OFFLIST_BIT) == on_avail and si.flags & SWP_WRITEOK:
        out.append(("cluster-accounting",
                    f"type {t}: SWAP_USAGE_OFFLIST_BIT disagrees with the avail list", None))
    return out


def check_swap_invariants() -> list[Problem]:
    """I2, I3, I6-I9 over every device in use.  Return: the problems, device by device."""
    out: list[Problem] = []
    total = free = 0
    for si in swap_info:
        if si is None or not si.flags & SWP_USED or si.swap_map is None:
            continue
        out.extend(check_device(si))
        if si.flags & SWP_WRITEOK:
            total += si.pages
            free += si.pages - swapfile.swap_usage_in_pages(si)
        else:
            free -= swapfile.swap_usage_in_pages(si)
    if total != swapfile.total_swap_pages:
        out.append(("cluster-accounting",
                    f"total_swap_pages {swapfile.total_swap_pages}, devices sum to {total}", None))
    if free != swapfile.nr_swap_pages.counter:
        out.append(("cluster-accounting",
                    f"nr_swap_pages {swapfile.nr_swap_pages.counter}, devices give {free}", None))
    return out


def report_swap_invariants() -> int:
    problems = check_swap_invariants()
    for kind, msg, entry in problems:
        report(kind, msg, function="check_swap_invariants", entry=entry)
    return len(problems)
