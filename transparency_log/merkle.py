"""RFC 9162 §2.1: Merkle tree hashing (SHA-256, 0x00 leaf and 0x01 node prefixes).

The tree hash of the log (SPEC §2.1): leaf hashes, node hashes, the root of a list of leaf
hashes, and the *compact range* of a tree, the perfect-subtree roots that are all a writer
or an auditor needs to keep to append leaves and recompute the root. Proofs live in
:mod:`transparency_log.proof`, tiles in :mod:`transparency_log.tile`; this module knows
neither.
"""

from __future__ import annotations

from collections.abc import Iterable

from transparency_log.hashing import sha256

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "CompactRange",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
]

HASH_SIZE = 32
"""Bytes of every tree hash (SHA-256)."""

MAX_TREE_SIZE = 2**63 - 1
"""Largest tree size, and so the largest leaf count and index + 1 (SPEC §1 decimal, §11)."""

EMPTY_ROOT = sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_LEAF = b"\x00"
_NODE = b"\x01"
_sha256 = sha256


def _check_hash(value: object, what: str) -> bytes:
    """Return ``value`` if it is a 32-byte ``bytes``; a caller mistake otherwise."""
    if type(value) is not bytes:
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes (SHA-256), not {len(value)}")
    return value


def _check_size(value: object, what: str) -> int:
    """Return ``value`` if it is an int in 0..MAX_TREE_SIZE; a caller mistake otherwise."""
    if type(value) is not int:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{what} must be in 0..{MAX_TREE_SIZE}, not {value}")
    return value


def leaf_hash(data: bytes | bytearray | memoryview) -> bytes:
    """The leaf hash of an entry: ``SHA-256(0x00 || data)`` (RFC 9162 §2.1.1).

    ``data`` is the exact entry bytes; a proof is bound to them and nothing else.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"a leaf is bytes, not {type(data).__name__}")
    return _sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1).

    Like Go's ``tlog.NodeHash`` it hashes whatever it is given; callers that take hashes
    from untrusted input check their length first (as :mod:`transparency_log.proof` does).
    """
    return _sha256(_NODE + left + right).digest()


def root_from_leaf_hashes(hashes: Iterable[bytes]) -> bytes:
    """MTH of the tree with these leaf hashes, in order (RFC 9162 §2.1.1).

    Iterative, in O(log n) memory: the leaves stream through a :class:`CompactRange`.
    """
    tree = CompactRange()
    tree.extend(hashes)
    return tree.root()


class CompactRange:
    """The perfect-subtree roots of a tree of ``size`` leaves, largest (leftmost) first.

    One root per set bit ``k`` of ``size``: node ``(k, (size >> k) - 1)`` (SPEC §2.1).
    Appending a leaf merges the equal-sized subtrees at the right edge, like a binary
    counter; the tree's root is the roots hashed right to left. This is the state a log
    writer carries between batches and an auditor between checkpoints.

    ``CompactRange(size, hashes)`` rebuilds one from stored roots (which the caller vouches
    for: they are not checked against anything). Not thread-safe; :meth:`copy` for a
    snapshot.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        _check_size(size, "size")
        stored = list(hashes)
        for i, h in enumerate(stored):
            _check_hash(h, f"compact range hash {i}")
        if len(stored) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} perfect-subtree roots (one per "
                f"set bit of the size), not {len(stored)}"
            )
        self._size = size
        self._hashes = stored

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (32 bytes)."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            _check_hash(leaf_hash, "leaf hash")
        size = self._size
        if size == MAX_TREE_SIZE:
            raise ValueError(f"the tree is full ({MAX_TREE_SIZE} leaves)")
        hashes = self._hashes
        h = leaf_hash
        n = size
        while n & 1:
            h = _sha256(_NODE + hashes.pop() + h).digest()
            n >>= 1
        hashes.append(h)
        self._size = size + 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append every leaf hash, in order."""
        append = self.append
        for h in leaf_hashes:
            append(h)

    def root(self) -> bytes:
        """MTH of the tree: the subtree roots hashed right to left (EMPTY_ROOT for size 0)."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = _sha256(_NODE + left + h).digest()
        return h

    def copy(self) -> CompactRange:
        """An independent copy (appending to one does not change the other)."""
        new = CompactRange.__new__(CompactRange)
        new._size = self._size
        new._hashes = list(self._hashes)
        return new
