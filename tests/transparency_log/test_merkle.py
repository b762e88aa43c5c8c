"""RFC 9162 §2.1 Merkle tree hashing (SPEC §2.1): known answers and the compact range."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.transparency_log.reference import ReferenceTree, reference_leaf_hash
from transparency_log.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    CompactRange,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
)


def _leaves(n: int) -> list[bytes]:
    return [reference_leaf_hash(b"leaf %d" % i) for i in range(n)]


LEAVES = _leaves(600)
REFERENCE = ReferenceTree(LEAVES)


# --- known answers --------------------------------------------------------------------------


def test_constants() -> None:
    assert HASH_SIZE == 32
    assert MAX_TREE_SIZE == 2**63 - 1
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_rfc9162_roots_for_sizes_0_to_8(known_answers: dict[str, Any]) -> None:
    rfc = known_answers["rfc9162"]
    hashes = [leaf_hash(bytes.fromhex(x)) for x in rfc["leaf_inputs_hex"]]
    reference = ReferenceTree(hashes)
    tree = CompactRange()
    for size, expect in enumerate(rfc["root_by_size"]):
        assert root_from_leaf_hashes(hashes[:size]).hex() == expect, size
        assert reference.root(size).hex() == expect, size
        assert tree.root().hex() == expect, size
        if size < len(hashes):
            tree.append(hashes[size])


def test_hash_known_answers(known_answers: dict[str, Any]) -> None:
    checked = 0
    for kat in known_answers["rfc9162"]["hash_kats"]:
        if "leaf_hash_of_ascii" in kat:
            assert leaf_hash(kat["leaf_hash_of_ascii"].encode()).hex() == kat["expect"]
            checked += 1
        elif "node_hash_of_ascii" in kat:
            left, right = (x.encode() for x in kat["node_hash_of_ascii"])
            assert node_hash(left, right).hex() == kat["expect"]
            checked += 1
        else:
            assert EMPTY_ROOT.hex() == kat["empty_tree_root"]
            checked += 1
    assert checked == 3


def test_spec_example_root() -> None:
    """SPEC §2.1's example: the 8-entry RFC test tree."""
    inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    inputs.append("606162636465666768696a6b6c6d6e6f")
    root = root_from_leaf_hashes(leaf_hash(bytes.fromhex(x)) for x in inputs)
    assert root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_witness_conversation_roots(known_answers: dict[str, Any]) -> None:
    """The leaf hashes of the torchwood conversation give its checkpoints' roots."""
    witness = known_answers["witness"]
    hashes = [base64.b64decode(h) for h in witness["leaf_hashes_base64"]]
    for text in witness["checkpoints"]:
        _, size, root = text.split("\n")[:3]
        assert root_from_leaf_hashes(hashes[: int(size)]) == base64.b64decode(root)


def test_leaf_and_node_hash_use_their_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert leaf_hash(bytearray(b"abc")) == leaf_hash(memoryview(b"abc")) == leaf_hash(b"abc")
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert leaf_hash(b"") != EMPTY_ROOT


def test_leaf_hash_wants_bytes() -> None:
    with pytest.raises(TypeError):
        leaf_hash("abc")  # type: ignore[arg-type]


# --- compact range against the reference ----------------------------------------------------


def _reference_range(size: int) -> list[bytes]:
    """Perfect-subtree roots of ``size``, largest first, straight from the node-id rule."""
    out = []
    start = 0
    for k in reversed(range(size.bit_length())):
        if size >> k & 1:
            out.append(REFERENCE.mth(start, start + (1 << k)))
            start += 1 << k
    return out


def test_compact_range_matches_the_reference_at_every_size_to_600() -> None:
    tree = CompactRange()
    for size in range(len(LEAVES) + 1):
        assert tree.size == size
        assert list(tree.hashes) == _reference_range(size), size
        assert tree.root() == REFERENCE.root(size), size
        if size < len(LEAVES):
            tree.append(LEAVES[size])


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 255, 256, 257, 511, 600])
def test_rebuilt_compact_range_continues_like_the_original(size: int) -> None:
    resumed = CompactRange(size, _reference_range(size))
    resumed.extend(LEAVES[size:])
    assert resumed.root() == REFERENCE.root(len(LEAVES))
    assert resumed == CompactRange(len(LEAVES), _reference_range(len(LEAVES)))


def test_copy_is_independent() -> None:
    tree = CompactRange()
    tree.extend(LEAVES[:5])
    snapshot = tree.copy()
    tree.append(LEAVES[5])
    assert snapshot.size == 5
    assert snapshot.root() == REFERENCE.root(5)
    assert tree.root() == REFERENCE.root(6)
    assert snapshot != tree


def test_root_from_leaf_hashes_takes_any_iterable() -> None:
    assert root_from_leaf_hashes(iter(LEAVES[:37])) == REFERENCE.root(37)
    assert root_from_leaf_hashes([]) == EMPTY_ROOT


def test_hashes_are_a_snapshot() -> None:
    tree = CompactRange()
    tree.extend(LEAVES[:3])
    hashes = tree.hashes
    tree.append(LEAVES[3])
    assert len(hashes) == 2
    assert len(tree.hashes) == 1


def test_repr_shows_size_and_root() -> None:
    tree = CompactRange(1, [LEAVES[0]])
    assert repr(tree) == f"CompactRange(size=1, root={LEAVES[0].hex()})"


def test_largest_tree_is_full() -> None:
    full = CompactRange(MAX_TREE_SIZE, [LEAVES[0]] * 63)
    with pytest.raises(ValueError, match="full"):
        full.append(LEAVES[1])


BAD_RANGES: dict[str, tuple[object, object, type[Exception]]] = {
    "too few hashes": (3, [LEAVES[0]], ValueError),
    "too many hashes": (4, [LEAVES[0], LEAVES[1]], ValueError),
    "hash of 31 bytes": (1, [LEAVES[0][:31]], ValueError),
    "hash given as str": (1, [LEAVES[0].hex()], TypeError),
    "negative size": (-1, [], ValueError),
    "size above the maximum": (MAX_TREE_SIZE + 1, [LEAVES[0]] * 64, ValueError),
    "size given as bool": (True, [LEAVES[0]], TypeError),
    "size given as float": (1.0, [LEAVES[0]], TypeError),
}


@pytest.mark.parametrize(("size", "hashes", "error"), BAD_RANGES.values(), ids=BAD_RANGES.keys())
def test_bad_compact_ranges_are_caller_mistakes(
    size: object, hashes: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        CompactRange(size, hashes)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33, bytearray(32), "00" * 32])
def test_appending_a_bad_leaf_hash_is_a_caller_mistake(bad: object) -> None:
    tree = CompactRange()
    with pytest.raises((TypeError, ValueError)):
        tree.append(bad)  # type: ignore[arg-type]
    assert tree.size == 0


@given(
    leaves=st.lists(st.binary(max_size=40), max_size=80),
    split=st.integers(min_value=0, max_value=80),
)
def test_any_split_of_the_leaves_gives_the_reference_root(leaves: list[bytes], split: int) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    split = min(split, len(hashes))
    first = CompactRange()
    first.extend(hashes[:split])
    resumed = CompactRange(first.size, first.hashes)
    resumed.extend(hashes[split:])
    assert resumed.root() == ReferenceTree(hashes).root(len(hashes))
    assert resumed.root() == root_from_leaf_hashes(hashes)
