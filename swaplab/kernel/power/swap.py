"""kernel/power/swap.c: the swap slots of a hibernation image (swsusp extents).

State of the file modeled: T14F, i.e. patch 14 of "swap table phase II"
("mm, swap: cleanup swap entry management workflow") with fix A of its review
thread (spec kernel-swap-semantics.md §5.10, §6.1; docs/kernel-notes.md §9).

The protocol, written once:

* **alloc registers.**  ``alloc_swapdev_block(swap)`` takes one slot with
  ``swap_alloc_hibernation_slot()`` (count 1, not cached, no pte refers to
  it) and records its offset in the ``swsusp_extents`` tree.  If the record
  cannot be made (``-EINVAL``: already there, ``-ENOMEM``: no memory for a
  node) the slot is given back at once with ``swap_free_hibernation_slot()``.
* **the tree is the only owner.**  Nothing else knows a hibernation slot
  (invariant I1: its count is the "+1 if in the extent tree" term).
* **free_all frees every recorded slot.**  ``free_all_swap_pages(swap)``
  takes the tree apart root first and frees every offset of each extent,
  ``start <= offset <= end`` (extents are inclusive; T14 stopped at
  ``< end`` and leaked one slot per extent, §6.1).

The tree: ``struct swsusp_extent`` nodes ``[start, end]``, both ends
inclusive, in an rb-tree ordered by offset.  An insert walks down from the
root and stops at the *first* node it meets that the offset touches:
``offset == start - 1`` grows it down, ``offset == end + 1`` grows it up,
``start <= offset <= end`` is ``-EINVAL``; past the leaves a new one-slot
node is linked (``-ENOMEM`` if the allocation fails).  Two nodes that come to
touch are never merged, so which node grows depends on the tree's shape:
that is why the rb-tree (lib/rbtree.c, below) is modeled exactly, rotations
and all, and why ``free_all_swap_pages`` frees extents in root-first order
(the order decides which clusters go back to the free list first).

Locking: the tree has no lock of its own.  Every caller holds
``system_transition_mutex`` (kernel/power/main.c): the in-kernel image
writer runs under ``lock_system_sleep()`` in ``hibernate()``, the
/dev/snapshot ioctls try-lock it, and ``snapshot_release()`` takes it (the
lockdep splat of the syzkaller report shows it held in
``snapshot_release -> free_all_swap_pages``).  Each function below checks it.

Harness notes: ``system_transition_mutex``, ``lock_system_sleep()`` and
``unlock_system_sleep()`` belong to kernel/power/main.c, ``swapdev_block()``
to mm/swapfile.c and the rb-tree to lib/rbtree.c; they live here until the
model has those files.  The mm/swapfile.c functions are linked at the end of
the module and called by bare name, so that a variant can rebind them.
"""

from __future__ import annotations

from collections.abc import Iterator

from swaplab.check.findings import __always_inline
from swaplab.include.linux.errno import EINVAL, ENOMEM
from swaplab.include.linux.mmdebug import VM_WARN_ON
from swaplab.include.linux.swap import SWP_WRITEOK
from swaplab.include.linux.swapops import swp_entry, swp_offset
from swaplab.kernel.custom import should_fail
from swaplab.kernel.locking import get_current, lockdep_assert_held, mutex, mutex_lock, mutex_unlock

# ---------------------------------------------------------------------------
# kernel/power/main.c: the sleep/hibernation transition lock.

system_transition_mutex = mutex("system_transition_mutex")


@__always_inline
def might_sleep() -> None:
    """``might_sleep()``: a sleeping path must not be entered with a spinlock held.

    Context: any; warns if current holds a spinlock.
    Return: nothing.
    """
    VM_WARN_ON(any(not lock.key.sleeping for lock in get_current().held_locks),
               "BUG: sleeping function called from invalid context (spinlock held)")


def lock_system_sleep() -> int:
    """Take ``system_transition_mutex`` for a sleep/hibernation transition.

    The kernel also sets PF_NOFREEZE on current and returns the old flags;
    the model has no freezer, so the flags are always 0.

    Context: process context, may sleep; system_transition_mutex not held.
    Return: the task flags to hand to unlock_system_sleep().
    """
    might_sleep()
    mutex_lock(system_transition_mutex)
    return 0


def unlock_system_sleep(flags: int) -> None:
    """Release ``system_transition_mutex`` taken by lock_system_sleep().

    Context: system_transition_mutex held by current.
    Return: nothing.
    """
    lockdep_assert_held(system_transition_mutex)
    mutex_unlock(system_transition_mutex)


# ---------------------------------------------------------------------------
# lib/rbtree.c and include/linux/rbtree.h (DUPLICATED semantics: the shape
# of the tree after each insert and erase is the kernel's).  A node's
# ``__rb_parent_color`` word is kept as two fields, ``rb_parent`` and
# ``rb_color``.  Users embed the node by subclassing, so ``rb_entry()`` is
# the node itself.

RB_RED = 0
RB_BLACK = 1


class rb_node:
    """struct rb_node."""

    __slots__ = ("rb_parent", "rb_color", "rb_left", "rb_right")

    def __init__(self) -> None:
        self.rb_parent: rb_node | None = None
        self.rb_color = RB_RED
        self.rb_left: rb_node | None = None
        self.rb_right: rb_node | None = None


class rb_root:
    """struct rb_root."""

    __slots__ = ("rb_node",)

    def __init__(self) -> None:
        self.rb_node: rb_node | None = None     # RB_ROOT


# An ``rb_node **link`` of the C code: the object and the name of the child
# pointer in it (``(root, "rb_node")``, ``(node, "rb_left")``, ...).
rb_link = tuple[object, str]


def rb_link_node(node: rb_node, parent: rb_node | None, link: rb_link) -> None:
    """Hang a new red leaf ``node`` below ``parent`` at ``*link``.

    Context: the tree's user serialises the tree (here system_transition_mutex).
    Return: nothing.
    """
    node.rb_parent = parent
    node.rb_color = RB_RED
    node.rb_left = node.rb_right = None
    setattr(link[0], link[1], node)


def __rb_change_child(old: rb_node, new: rb_node | None, parent: rb_node | None,
                      root: rb_root) -> None:
    """Make ``parent`` (or the root) point to ``new`` instead of ``old``.

    Context: the tree is serialised by its user.
    Return: nothing.
    """
    if parent is not None:
        if parent.rb_left is old:
            parent.rb_left = new
        else:
            parent.rb_right = new
    else:
        root.rb_node = new


def __rb_rotate_left(x: rb_node, root: rb_root) -> None:
    """Rotate left at ``x`` (its right child takes its place).

    Context: the tree is serialised by its user.
    Return: nothing.
    """
    y = x.rb_right
    assert y is not None
    x.rb_right = y.rb_left
    if y.rb_left is not None:
        y.rb_left.rb_parent = x
    y.rb_parent = x.rb_parent
    __rb_change_child(x, y, x.rb_parent, root)
    y.rb_left = x
    x.rb_parent = y


def __rb_rotate_right(x: rb_node, root: rb_root) -> None:
    """Rotate right at ``x`` (its left child takes its place).

    Context: the tree is serialised by its user.
    Return: nothing.
    """
    y = x.rb_left
    assert y is not None
    x.rb_left = y.rb_right
    if y.rb_right is not None:
        y.rb_right.rb_parent = x
    y.rb_parent = x.rb_parent
    __rb_change_child(x, y, x.rb_parent, root)
    y.rb_right = x
    x.rb_parent = y


def __rb_is_black(node: rb_node | None) -> bool:
    """Is the node black (a missing leaf is black)?

    Context: the tree is serialised by its user.
    Return: True if ``node`` is None or black.
    """
    return node is None or node.rb_color == RB_BLACK


def rb_insert_color(node: rb_node, root: rb_root) -> None:
    """Rebalance after rb_link_node() (lib/rbtree.c ``__rb_insert``).

    Context: the tree is serialised by its user.
    Return: nothing.
    """
    parent = node.rb_parent
    while True:
        if parent is None:
            node.rb_color = RB_BLACK
            break
        if parent.rb_color == RB_BLACK:
            break
        gparent = parent.rb_parent
        assert gparent is not None      # a red node is never the root
        tmp = gparent.rb_right
        if parent is not tmp:           # parent == gparent->rb_left
            if tmp is not None and tmp.rb_color == RB_RED:
                # Case 1 - node's uncle is red: color flips.
                tmp.rb_color = parent.rb_color = RB_BLACK
                node = gparent
                parent = node.rb_parent
                node.rb_color = RB_RED
                continue
            if node is parent.rb_right:
                # Case 2 - node's uncle is black and node is the parent's
                # right child: left rotate at parent.
                __rb_rotate_left(parent, root)
                parent = node
            # Case 3 - right rotate at gparent.
            __rb_rotate_right(gparent, root)
            parent.rb_color = RB_BLACK
            gparent.rb_color = RB_RED
            break
        tmp = gparent.rb_left
        if tmp is not None and tmp.rb_color == RB_RED:
            tmp.rb_color = parent.rb_color = RB_BLACK
            node = gparent
            parent = node.rb_parent
            node.rb_color = RB_RED
            continue
        if node is parent.rb_left:
            __rb_rotate_right(parent, root)
            parent = node
        __rb_rotate_left(gparent, root)
        parent.rb_color = RB_BLACK
        gparent.rb_color = RB_RED
        break


def ____rb_erase_color(parent: rb_node, root: rb_root) -> None:
    """Restore the black heights after a black leaf left ``parent``.

    Context: the tree is serialised by its user.
    Return: nothing.
    """
    node: rb_node | None = None
    while True:
        sibling = parent.rb_right
        if node is not sibling:         # node == parent->rb_left
            assert sibling is not None
            if sibling.rb_color == RB_RED:
                # Case 1 - left rotate at parent.
                __rb_rotate_left(parent, root)
                sibling.rb_color = RB_BLACK
                parent.rb_color = RB_RED
                sibling = parent.rb_right
                assert sibling is not None
            tmp1 = sibling.rb_right
            if __rb_is_black(tmp1):
                tmp2 = sibling.rb_left
                if __rb_is_black(tmp2):
                    # Case 2 - sibling color flip.
                    sibling.rb_color = RB_RED
                    if parent.rb_color == RB_RED:
                        parent.rb_color = RB_BLACK
                    else:
                        node = parent
                        parent = node.rb_parent  # type: ignore[assignment]
                        if parent is not None:
                            continue
                    break
                # Case 3 - right rotate at sibling.
                assert tmp2 is not None
                __rb_rotate_right(sibling, root)
                tmp2.rb_color = RB_BLACK
                sibling.rb_color = RB_RED
                tmp1 = sibling
                sibling = tmp2
            # Case 4 - left rotate at parent + color flips.
            assert tmp1 is not None
            __rb_rotate_left(parent, root)
            sibling.rb_color = parent.rb_color
            parent.rb_color = RB_BLACK
            tmp1.rb_color = RB_BLACK
            break
        sibling = parent.rb_left
        assert sibling is not None
        if sibling.rb_color == RB_RED:
            __rb_rotate_right(parent, root)
            sibling.rb_color = RB_BLACK
            parent.rb_color = RB_RED
            sibling = parent.rb_left
            assert sibling is not None
        tmp1 = sibling.rb_left
        if __rb_is_black(tmp1):
            tmp2 = sibling.rb_right
            if __rb_is_black(tmp2):
                sibling.rb_color = RB_RED
                if parent.rb_color == RB_RED:
                    parent.rb_color = RB_BLACK
                else:
                    node = parent
                    parent = node.rb_parent  # type: ignore[assignment]
                    if parent is not None:
                        continue
                break
            assert tmp2 is not None
            __rb_rotate_left(sibling, root)
            tmp2.rb_color = RB_BLACK
            sibling.rb_color = RB_RED
            tmp1 = sibling
            sibling = tmp2
        assert tmp1 is not None
        __rb_rotate_right(parent, root)
        sibling.rb_color = parent.rb_color
        parent.rb_color = RB_BLACK
        tmp1.rb_color = RB_BLACK
        break


def rb_erase(node: rb_node, root: rb_root) -> None:
    """Unlink ``node``; a node with two children is replaced by its successor.

    Context: the tree is serialised by its user.
    Return: nothing.
    """
    child = node.rb_right
    tmp = node.rb_left
    rebalance: rb_node | None
    if tmp is None:
        # Case 1: node has at most one child (the right one).
        parent = node.rb_parent
        __rb_change_child(node, child, parent, root)
        if child is not None:
            child.rb_parent = parent
            child.rb_color = node.rb_color
            rebalance = None
        else:
            rebalance = parent if node.rb_color == RB_BLACK else None
    elif child is None:
        # Still case 1, but the only child is the left one.
        parent = node.rb_parent
        tmp.rb_parent = parent
        tmp.rb_color = node.rb_color
        __rb_change_child(node, tmp, parent, root)
        rebalance = None
    else:
        successor = child
        tmp = child.rb_left
        if tmp is None:
            # Case 2: node's successor is its right child.
            parent = successor
            child2 = successor.rb_right
        else:
            # Case 3: node's successor is the leftmost node of its right subtree.
            while True:
                parent = successor
                successor = tmp
                tmp = tmp.rb_left
                if tmp is None:
                    break
            child2 = successor.rb_right
            parent.rb_left = child2
            successor.rb_right = child
            child.rb_parent = successor
        tmp = node.rb_left
        successor.rb_left = tmp
        tmp.rb_parent = successor  # type: ignore[union-attr]
        __rb_change_child(node, successor, node.rb_parent, root)
        if child2 is not None:
            child2.rb_parent = parent
            child2.rb_color = RB_BLACK
            rebalance = None
        else:
            rebalance = parent if successor.rb_color == RB_BLACK else None
        successor.rb_parent = node.rb_parent
        successor.rb_color = node.rb_color
    node.rb_parent = node.rb_left = node.rb_right = None
    if rebalance is not None:
        ____rb_erase_color(rebalance, root)


def rb_first(root: rb_root) -> rb_node | None:
    """The leftmost (lowest) node.

    Context: the tree is serialised by its user.
    Return: the node, or None for an empty tree.
    """
    n = root.rb_node
    if n is None:
        return None
    while n.rb_left is not None:
        n = n.rb_left
    return n


def rb_next(node: rb_node) -> rb_node | None:
    """The in-order successor of ``node``.

    Context: the tree is serialised by its user.
    Return: the node, or None after the last one.
    """
    if node.rb_right is not None:
        node = node.rb_right
        while node.rb_left is not None:
            node = node.rb_left
        return node
    parent = node.rb_parent
    while parent is not None and node is parent.rb_right:
        node = parent
        parent = node.rb_parent
    return parent


# ---------------------------------------------------------------------------
# The swsusp extents: which swap slots hibernation has allocated.

class swsusp_extent(rb_node):
    """struct swsusp_extent: slots ``start`` to ``end``, both inclusive.

    Embeds its ``struct rb_node``; ``start`` and ``end`` are protected by
    system_transition_mutex, like the whole tree.
    """

    __slots__ = ("start", "end")

    def __init__(self) -> None:
        super().__init__()
        self.start = 0      # guarded by system_transition_mutex
        self.end = 0        # guarded by system_transition_mutex

    def __repr__(self) -> str:
        return f"<swsusp_extent [{self.start}, {self.end}]>"


swsusp_extents = rb_root()      # guarded by system_transition_mutex


def kzalloc_swsusp_extent() -> swsusp_extent | None:
    """``kzalloc(sizeof(struct swsusp_extent), GFP_KERNEL)``; fails with fault "page_alloc" (model helper)."""
    if should_fail("page_alloc"):
        return None
    return swsusp_extent()


def swsusp_extents_insert(swap_offset: int) -> int:
    """Record that slot ``swap_offset`` belongs to hibernation.

    Walk down from the root; the first node the offset touches grows by one
    (``start - 1`` or ``end + 1``); an offset inside a node is refused;
    otherwise a new node ``[swap_offset, swap_offset]`` is linked.

    Context: system_transition_mutex held; process context, may sleep.
    Return: 0, -EINVAL if the offset is already recorded, or -ENOMEM.
    """
    lockdep_assert_held(system_transition_mutex)
    might_sleep()
    new: rb_link = (swsusp_extents, "rb_node")
    parent: rb_node | None = None
    # Figure out where to put the new node.
    while (node := getattr(new[0], new[1])) is not None:
        ext: swsusp_extent = node
        parent = node
        if swap_offset < ext.start:
            # Try to merge.
            if swap_offset == ext.start - 1:
                ext.start -= 1
                return 0
            new = (node, "rb_left")
        elif swap_offset > ext.end:
            # Try to merge.
            if swap_offset == ext.end + 1:
                ext.end += 1
                return 0
            new = (node, "rb_right")
        else:
            # It already is in the tree.
            return -EINVAL
    # Add the new node and rebalance the tree.
    new_ext = kzalloc_swsusp_extent()
    if new_ext is None:
        return -ENOMEM
    new_ext.start = swap_offset
    new_ext.end = swap_offset
    rb_link_node(new_ext, parent, new)
    rb_insert_color(new_ext, swsusp_extents)
    return 0


def swapdev_block(type: int, offset: int) -> int:
    """mm/swapfile.c: the disk block of slot ``offset`` of device ``type``.

    The model's swap areas are one extent starting at block 0 (whole block
    devices; the model keeps no block map of swap files), so the block is
    the offset.

    Context: any; the caller keeps the device from being swapped off.
    Return: the block, or 0 if there is no such device or it is not WRITEOK.
    """
    VM_WARN_ON(offset < 0, "swapdev_block: negative offset")
    si = swap_type_to_info(type)
    if si is None or not si.flags & SWP_WRITEOK:
        return 0
    # se = offset_to_swap_extent(si, offset); se->start_block + (offset - se->start_page)
    return offset


def alloc_swapdev_block(swap: int) -> int:
    """Allocate one hibernation slot on device ``swap`` and record it.

    A slot whose offset cannot be recorded is freed again at once.

    Context: system_transition_mutex held; process context, may sleep.
    Return: the slot's disk block (the offset, see swapdev_block()), or 0
    if no slot could be allocated or recorded.
    """
    lockdep_assert_held(system_transition_mutex)
    might_sleep()
    # Allocate a swap page and register that it has been allocated, so that
    # it can be freed in case of an error.
    offset = swp_offset(swap_alloc_hibernation_slot(swap))
    if offset:
        if swsusp_extents_insert(offset):
            swap_free_hibernation_slot(swp_entry(swap, offset))
        else:
            return swapdev_block(swap, offset)
    return 0


def free_all_swap_pages(swap: int) -> None:
    """Free every hibernation slot recorded in the tree, and the tree.

    Takes the root node off until the tree is empty and frees each offset
    of its extent, ``start`` to ``end`` inclusive (T14F: fix A).

    Context: system_transition_mutex held; process context, may sleep.
    Return: nothing.
    """
    lockdep_assert_held(system_transition_mutex)
    might_sleep()
    # Free swap pages allocated for saving image data.  It also frees the
    # extents used to register which swap entries had been allocated.
    while (node := swsusp_extents.rb_node) is not None:
        ext: swsusp_extent = node  # type: ignore[assignment]    # rb_entry()
        rb_erase(node, swsusp_extents)
        offset = ext.start
        while offset <= ext.end:
            swap_free_hibernation_slot(swp_entry(swap, offset))
            offset += 1
        # kfree(ext)


def swsusp_swap_in_use() -> bool:
    """Does hibernation hold any swap slot?

    Context: system_transition_mutex held.
    Return: true if the extent tree is not empty.
    """
    lockdep_assert_held(system_transition_mutex)
    return swsusp_extents.rb_node is not None


# ---------------------------------------------------------------------------
# Harness: boot state and inspection (no kernel counterpart).

def reset_swsusp() -> None:
    """Boot state: an empty extent tree, system_transition_mutex unlocked."""
    swsusp_extents.rb_node = None
    system_transition_mutex.owner = None
    system_transition_mutex.nest = 0


def iter_swsusp_extents() -> Iterator[tuple[int, int]]:
    """The recorded extents ``(start, end)`` in offset order (read without the lock)."""
    node = rb_first(swsusp_extents)
    while node is not None:
        ext: swsusp_extent = node  # type: ignore[assignment]
        yield (ext.start, ext.end)
        node = rb_next(node)


# Linked at the end of the module, as the kernel's linker resolves calls
# across files (see mm/swap_state.py).  Called by bare name only.
from swaplab.mm.swapfile import swap_alloc_hibernation_slot, swap_free_hibernation_slot, swap_type_to_info  # noqa: E402
