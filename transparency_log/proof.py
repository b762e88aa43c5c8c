"""RFC 9162 §2.1.3–§2.1.4: inclusion and consistency proofs.

Generation works on node ids, not on a tree object: a proof is a list of perfect-subtree
roots (plus, where the tree's right edge is ragged, one "ephemeral" node hashed from several
of them), so a generator first lists every node id it needs, asks a :class:`HashReader` for
all of them in ONE call (a tile-backed reader then fetches each tile once), and assembles the
proof. Verification follows transparency-dev/merkle's ``RootFromInclusionProof`` and
``VerifyConsistency``: derive the exact proof length from the sizes first, reject anything
else, recompute, then compare once (SPEC §2.2, §2.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    _check_hash,
    _check_size,
    _sha256,
)

__all__ = [
    "HashReader",
    "MemoryHashStore",
    "NodeId",
    "compact_range",
    "consistency_proof",
    "inclusion_proof",
    "root_from_inclusion_proof",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

NodeId = tuple[int, int]
"""``(level, index)``: the root of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)`` (SPEC §2.1)."""

_NODE = b"\x01"


class HashReader(Protocol):
    """Source of perfect-subtree hashes (a memory store, tiles, a database).

    Generation asks for every node id it needs in one call, so an implementation can batch
    its I/O. Asking for a node that is not a complete subtree of the reader's tree is a
    caller mistake (``ValueError``).
    """

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hash of each node id, in order."""
        ...


# --- node-id arithmetic (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF as perfect subtrees) ---


def _range_ids(begin: int, end: int) -> list[NodeId]:
    """Perfect subtrees covering ``[begin, end)``, left to right, for ``begin`` aligned.

    ``begin`` must be a multiple of the largest power of two not above ``end - begin`` (true
    for the ragged right part of any MTH split); the MTH of the range is then these roots
    hashed right to left.
    """
    ids: list[NodeId] = []
    width = end - begin
    while width:
        level = width.bit_length() - 1
        ids.append((level, begin >> level))
        begin += 1 << level
        width -= 1 << level
    return ids


def _path_plan(index: int, level: int, size: int) -> list[list[NodeId]]:
    """The proof items of the path from node ``(level, index)`` up to the root of ``size``.

    Each item is one proof hash: the right-to-left MTH of the listed perfect subtrees
    (a single id for all but the ephemeral item). Bottom up, RFC 9162 PATH gives: the
    siblings under the *fork* (the lowest ancestor whose right part reaches past
    ``size - 1``), all complete; the fork's right sibling, ragged in general, so hashed from
    :func:`_range_ids`; then one complete left sibling per set bit of the index above the
    fork. The item count is ``inner + popcount(index >> inner)``, see :func:`_inclusion_len`.
    """
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    plan: list[list[NodeId]] = [[(level + i, (index >> i) ^ 1)] for i in range(inner - 1)]
    if inner:
        top = level + inner - 1
        plan.append(_range_ids(((index >> (inner - 1)) + 1) << top, size))
    plan.extend(
        [(level + i, (index >> i) ^ 1)] for i in range(inner, last.bit_length()) if (index >> i) & 1
    )
    return plan


def _inclusion_len(index: int, size: int) -> tuple[int, int]:
    """``(inner, border)`` of the proof for ``index`` in ``size``: its exact length is the sum.

    ``inner`` hashes are siblings below the fork (left or right per the index bits), ``border``
    are left siblings above it (transparency-dev/merkle ``decompInclProof``).
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _read_plan(plan: list[list[NodeId]], reader: HashReader, seed: list[NodeId]) -> list[bytes]:
    """Read every id of ``seed + plan`` in one call and hash each item of the plan."""
    ids = list(seed)
    for item in plan:
        ids.extend(item)
    hashes = reader.read_hashes(ids)
    if len(hashes) != len(ids):
        raise ValueError(f"read_hashes returned {len(hashes)} hashes for {len(ids)} ids")
    for i, h in enumerate(hashes):
        _check_hash(h, f"hash of node {ids[i]}")
    out = hashes[: len(seed)]
    pos = len(seed)
    for item in plan:
        h = hashes[pos + len(item) - 1]
        for j in range(pos + len(item) - 2, pos - 1, -1):
            h = _sha256(_NODE + hashes[j] + h).digest()
        out.append(h)
        pos += len(item)
    return out


# --- generation ---


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size``.

    ``reader`` must hold every complete subtree of that tree; it is asked once.
    """
    _check_size(index, "index")
    _check_size(size, "size")
    if index >= size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    return _read_plan(_path_plan(index, 0, size), reader, [])


def consistency_proof(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof from tree ``size1`` to tree ``size2``.

    Empty when ``size1`` is 0 or equals ``size2`` (SPEC §2.3). Otherwise it is the last
    perfect subtree of the old tree (the *seed*, left out when ``size1`` is a power of two,
    because the verifier has it as root1) followed by that subtree's path in the new tree.
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise ValueError(f"size1 {size1} is larger than size2 {size2}")
    if size1 in (0, size2):
        return []
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    seed: list[NodeId] = [] if index == 0 else [(level, index)]
    return _read_plan(_path_plan(index, level, size2), reader, seed)


def tree_root(size: int, reader: HashReader) -> bytes:
    """Return MTH of the first ``size`` leaves, from one read of its perfect subtrees."""
    _check_size(size, "size")
    if size == 0:
        return EMPTY_ROOT
    return _read_plan([_range_ids(0, size)], reader, [])[0]


def compact_range(size: int, reader: HashReader) -> CompactRange:
    """Return the :class:`CompactRange` of the first ``size`` leaves, from one read.

    A log writer restarting from its stored tiles uses it to go on appending.
    """
    _check_size(size, "size")
    ids = _range_ids(0, size)
    hashes = reader.read_hashes(ids) if ids else []
    if len(hashes) != len(ids):
        raise ValueError(f"read_hashes returned {len(hashes)} hashes for {len(ids)} ids")
    return CompactRange(size, hashes)


# --- verification ---


def _check_proof(proof: Sequence[bytes], want: int, what: str) -> None:
    """Reject a proof of the wrong length or with a hash of the wrong size (MALFORMED_PROOF)."""
    if isinstance(proof, bytes | bytearray | str):
        raise TypeError(f"{what} must be a sequence of hashes, not {type(proof).__name__}")
    if len(proof) != want:
        raise VerificationError(
            LogReason.MALFORMED_PROOF,
            f"{what} has {len(proof)} hashes, but the sizes require exactly {want}; "
            "the log or the package built it for another index or size",
        )
    for i, h in enumerate(proof):
        if not isinstance(h, bytes):
            raise TypeError(f"{what} hash {i} must be bytes, not {type(h).__name__}")
        if len(h) != HASH_SIZE:
            raise VerificationError(
                LogReason.MALFORMED_PROOF,
                f"{what} hash {i} is {len(h)} bytes, expected {HASH_SIZE} (SHA-256)",
            )


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` leads to from ``leaf_hash`` at ``index`` in ``size``.

    Rejects (SPEC §2.2) an index outside the tree (BAD_INCLUSION_PROOF; this includes every
    proof in a tree of size 0) and a proof of the wrong length or with a hash that is not 32
    bytes (MALFORMED_PROOF). Callers compare the result with a verified root; prefer
    :func:`verify_inclusion`, which does.
    """
    _check_size(index, "index")
    _check_size(size, "size")
    _check_hash(leaf_hash, "leaf_hash")
    if index >= size:
        raise VerificationError(
            LogReason.BAD_INCLUSION_PROOF,
            f"leaf index {index} is not in a tree of size {size}; "
            "the proof must be for a checkpoint that contains the entry",
        )
    inner, border = _inclusion_len(index, size)
    _check_proof(proof, inner + border, "inclusion proof")
    h = leaf_hash
    for i in range(inner):
        if (index >> i) & 1:
            h = _sha256(_NODE + proof[i] + h).digest()
        else:
            h = _sha256(_NODE + h + proof[i]).digest()
    for i in range(inner, inner + border):
        h = _sha256(_NODE + proof[i] + h).digest()
    return h


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Returns ``None`` or raises :class:`VerificationError` (SPEC §2.2): MALFORMED_PROOF for a
    proof of the wrong shape, BAD_INCLUSION_PROOF for an index outside the tree or a proof
    that leads to another root. ``root`` must come from a verified checkpoint.
    """
    _check_hash(root, "root")
    got = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if got != root:
        raise VerificationError(
            LogReason.BAD_INCLUSION_PROOF,
            f"the inclusion proof for index {index} leads to root {got.hex()}, but the "
            f"checkpoint of size {size} has root {root.hex()}; the entry, its index or the "
            "proof is not the one the log committed to",
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify that the tree ``size2``/``root2`` extends the tree ``size1``/``root1``.

    Returns ``None`` or raises :class:`VerificationError` (SPEC §2.3), following C2SP
    tlog-witness for the edge cases: from size 0 the proof MUST be empty and any root2 is
    consistent (root1 is not consulted); for equal sizes the proof MUST be empty and the
    roots MUST be equal. size1 > size2 is BAD_CONSISTENCY_PROOF, a proof of the wrong length
    or hash size MALFORMED_PROOF, and a proof that does not lead to both roots
    BAD_CONSISTENCY_PROOF. Both roots must come from verified checkpoints.
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    if size1 > size2:
        raise VerificationError(
            LogReason.BAD_CONSISTENCY_PROOF,
            f"the new tree (size {size2}) is smaller than the old one (size {size1}); "
            "a log never shrinks, so this is a rollback or the checkpoints are swapped",
        )
    if size1 in (0, size2):
        _check_proof(proof, 0, "consistency proof")
        if size1 == size2 and root1 != root2:
            raise VerificationError(
                LogReason.BAD_CONSISTENCY_PROOF,
                f"two checkpoints of size {size1} have different roots {root1.hex()} and "
                f"{root2.hex()}: the log shows a split view; keep both as evidence",
            )
        return
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    inner, border = _inclusion_len(index, ((size2 - 1) >> level) + 1)
    start = 0 if index == 0 else 1
    _check_proof(proof, start + inner + border, "consistency proof")
    seed = root1 if index == 0 else proof[0]
    # Chain the seed's path twice: root1 uses only left siblings (the old tree ends at the
    # seed), root2 all of them.
    h1 = h2 = seed
    for i in range(inner):
        p = proof[start + i]
        if (index >> i) & 1:
            h1 = _sha256(_NODE + p + h1).digest()
            h2 = _sha256(_NODE + p + h2).digest()
        else:
            h2 = _sha256(_NODE + h2 + p).digest()
    for i in range(start + inner, start + inner + border):
        h1 = _sha256(_NODE + proof[i] + h1).digest()
        h2 = _sha256(_NODE + proof[i] + h2).digest()
    if h1 != root1 or h2 != root2:
        which = "old" if h1 != root1 else "new"
        raise VerificationError(
            LogReason.BAD_CONSISTENCY_PROOF,
            f"the consistency proof from size {size1} to {size2} does not lead to the {which} "
            f"root (old {root1.hex()}, new {root2.hex()}): the log may be presenting a split "
            "view; keep both checkpoints and the proof as evidence",
        )


# --- an in-memory store ---


class MemoryHashStore(HashReader):
    """Every perfect-subtree hash of a tree, in memory (tests, small logs, benchmarks).

    ``levels[k][i]`` is node ``(k, i)``; appending a leaf completes at most one node per
    level. Reading any complete node of any prefix of the tree is O(1).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash and every node it completes."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            _check_hash(leaf_hash, "leaf hash")
        levels = self._levels
        h = leaf_hash
        level = 0
        while True:
            row = levels[level]
            row.append(h)
            if len(row) & 1:
                return
            h = _sha256(_NODE + row[-2] + h).digest()
            level += 1
            if level == len(levels):
                levels.append([])

    def root(self) -> bytes:
        """Return MTH of all leaves."""
        return tree_root(self.size, self)

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the stored hash of each node id; ``ValueError`` for a node not stored."""
        levels = self._levels
        out: list[bytes] = []
        for level, index in ids:
            if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
                raise ValueError(f"node {(level, index)} is not a complete subtree of this store")
            out.append(levels[level][index])
        return out
