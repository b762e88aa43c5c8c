"""RFC 9162 inclusion and consistency proofs (SPEC §2.2, §2.3), differential against the RFC."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.transparency_log.reference import (
    ReferenceTree,
    reference_leaf_hash,
    rfc_verify_consistency,
    rfc_verify_inclusion,
)
from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import EMPTY_ROOT, MAX_TREE_SIZE, leaf_hash, node_hash
from transparency_log.proof import (
    MemoryHashStore,
    NodeId,
    compact_range,
    consistency_proof,
    inclusion_proof,
    root_from_inclusion_proof,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

MAX_DIFFERENTIAL_SIZE = 300
LEAVES = [reference_leaf_hash(b"entry %d" % i) for i in range(MAX_DIFFERENTIAL_SIZE)]
REFERENCE = ReferenceTree(LEAVES)
STORE = MemoryHashStore(LEAVES)
ROOTS = [REFERENCE.root(n) for n in range(MAX_DIFFERENTIAL_SIZE + 1)]


def _reason(call: Any, *args: Any) -> str:
    with pytest.raises(VerificationError) as e:
        call(*args)
    return e.value.reason


def _flip(h: bytes, i: int = 0) -> bytes:
    return h[:i] + bytes([h[i] ^ 1]) + h[i + 1 :]


# --- published proofs --------------------------------------------------------------------------


def test_every_known_inclusion_proof_is_generated_and_verifies(
    known_answers: dict[str, Any],
) -> None:
    rfc = known_answers["rfc9162"]
    hashes = [leaf_hash(bytes.fromhex(x)) for x in rfc["leaf_inputs_hex"]]
    store = MemoryHashStore(hashes)
    roots = [bytes.fromhex(r) for r in rfc["root_by_size"]]
    assert len(rfc["inclusion"]) == 36
    for case in rfc["inclusion"]:
        index, size = case["index"], case["size"]
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert inclusion_proof(index, size, store) == proof, case
        verify_inclusion(hashes[index], index, size, proof, roots[size])


def test_every_known_consistency_proof_is_generated_and_verifies(
    known_answers: dict[str, Any],
) -> None:
    rfc = known_answers["rfc9162"]
    store = MemoryHashStore([leaf_hash(bytes.fromhex(x)) for x in rfc["leaf_inputs_hex"]])
    roots = [bytes.fromhex(r) for r in rfc["root_by_size"]]
    assert len(rfc["consistency"]) == 36
    for case in rfc["consistency"]:
        size1, size2 = case["size1"], case["size2"]
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert consistency_proof(size1, size2, store) == proof, case
        verify_consistency(size1, size2, proof, roots[size1], roots[size2])


def test_witness_conversation_consistency_proofs(known_answers: dict[str, Any]) -> None:
    witness = known_answers["witness"]
    store = MemoryHashStore([base64.b64decode(h) for h in witness["leaf_hashes_base64"]])
    roots = {}
    for text in witness["checkpoints"]:
        _, size, root = text.split("\n")[:3]
        roots[int(size)] = base64.b64decode(root)
        assert tree_root(int(size), store) == roots[int(size)]
    for case in witness["consistency"]:
        size1, size2 = case["size1"], case["size2"]
        proof = [base64.b64decode(h) for h in case["proof_base64"]]
        assert consistency_proof(size1, size2, store) == proof
        verify_consistency(size1, size2, proof, roots[size1], roots[size2])


# --- differential tests against the RFC, for every pair up to 300 ----------------------------


def test_every_inclusion_proof_to_300_matches_the_reference_and_verifies() -> None:
    for size in range(1, MAX_DIFFERENTIAL_SIZE + 1):
        root = tree_root(size, STORE)
        assert root == ROOTS[size], size
        for index in range(size):
            proof = inclusion_proof(index, size, STORE)
            assert proof == REFERENCE.inclusion_proof(index, size), (index, size)
            verify_inclusion(LEAVES[index], index, size, proof, root)


def test_every_consistency_proof_to_300_matches_the_reference_and_verifies() -> None:
    for size2 in range(1, MAX_DIFFERENTIAL_SIZE + 1):
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(size1, size2, STORE)
            assert proof == REFERENCE.consistency_proof(size1, size2), (size1, size2)
            verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])


def _accepts_inclusion(index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(LEAVES[index], index, size, proof, root)
    except VerificationError:
        return False
    return True


def _accepts_consistency(size1: int, size2: int, proof: Sequence[bytes]) -> bool:
    try:
        verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])
    except VerificationError:
        return False
    return True


def _variants(proof: list[bytes]) -> list[list[bytes]]:
    """The proof one hash short and long, and with each hash flipped."""
    extra = LEAVES[-1]
    out = [[*proof, extra], [extra, *proof]]
    if proof:
        out += [proof[:-1], proof[1:]]
    out += [[*proof[:i], _flip(h), *proof[i + 1 :]] for i, h in enumerate(proof)]
    return out


def test_inclusion_verification_agrees_with_the_rfc_algorithm_on_broken_proofs() -> None:
    for size in range(1, 70):
        for index in range(size):
            for proof in _variants(inclusion_proof(index, size, STORE)):
                rfc = rfc_verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
                assert not rfc
                assert not _accepts_inclusion(index, size, proof, ROOTS[size]), (index, size)


def test_consistency_verification_agrees_with_the_rfc_algorithm_on_broken_proofs() -> None:
    for size2 in range(2, 70):
        for size1 in range(1, size2):
            proof = consistency_proof(size1, size2, STORE)
            assert rfc_verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])
            for variant in _variants(proof):
                rfc = rfc_verify_consistency(size1, size2, variant, ROOTS[size1], ROOTS[size2])
                ours = _accepts_consistency(size1, size2, variant)
                assert rfc == ours, (size1, size2, variant)


# --- inclusion: every check has its reason -----------------------------------------------------

INDEX, SIZE = 5, 13
PROOF = inclusion_proof(INDEX, SIZE, STORE)


def test_inclusion_proof_of_the_wrong_length_is_malformed() -> None:
    for proof in (PROOF[:-1], [*PROOF, PROOF[0]], []):
        assert (
            _reason(verify_inclusion, LEAVES[INDEX], INDEX, SIZE, proof, ROOTS[SIZE])
            == LogReason.MALFORMED_PROOF
        )


def test_inclusion_proof_with_a_short_or_long_hash_is_malformed() -> None:
    for bad in (PROOF[0][:31], PROOF[0] + b"\x00", b""):
        proof = [bad, *PROOF[1:]]
        assert (
            _reason(verify_inclusion, LEAVES[INDEX], INDEX, SIZE, proof, ROOTS[SIZE])
            == LogReason.MALFORMED_PROOF
        )


def test_flipped_proof_hash_is_a_bad_inclusion_proof() -> None:
    for i in range(len(PROOF)):
        proof = [*PROOF[:i], _flip(PROOF[i], 31), *PROOF[i + 1 :]]
        assert (
            _reason(verify_inclusion, LEAVES[INDEX], INDEX, SIZE, proof, ROOTS[SIZE])
            == LogReason.BAD_INCLUSION_PROOF
        )


def test_wrong_leaf_index_or_root_is_a_bad_inclusion_proof() -> None:
    cases = {
        "another leaf": (LEAVES[INDEX + 1], INDEX, SIZE, ROOTS[SIZE]),
        "another index": (LEAVES[INDEX], INDEX + 2, SIZE, ROOTS[SIZE]),
        "another root": (LEAVES[INDEX], INDEX, SIZE, ROOTS[SIZE - 1]),
        "the root of another size": (LEAVES[INDEX], INDEX, SIZE, ROOTS[SIZE + 1]),
    }
    for name, (leaf, index, size, root) in cases.items():
        assert (
            _reason(verify_inclusion, leaf, index, size, PROOF, root)
            == LogReason.BAD_INCLUSION_PROOF
        ), name


@pytest.mark.parametrize(("index", "size"), [(13, 13), (14, 13), (0, 0), (MAX_TREE_SIZE, 1)])
def test_index_not_below_size_is_a_bad_inclusion_proof(index: int, size: int) -> None:
    assert (
        _reason(verify_inclusion, LEAVES[0], index, size, [], EMPTY_ROOT)
        == LogReason.BAD_INCLUSION_PROOF
    )
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(index, size, STORE)


def test_inclusion_in_a_tree_of_one_is_the_leaf_itself() -> None:
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    assert root_from_inclusion_proof(0, 1, LEAVES[0], []) == LEAVES[0]


def test_inclusion_error_message_shows_both_roots() -> None:
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[0], INDEX, SIZE, PROOF, ROOTS[SIZE])
    assert ROOTS[SIZE].hex() in e.value.message


CALLER_MISTAKES: dict[str, tuple[Any, Any, Any, Any, Any, type[Exception]]] = {
    "leaf hash of 31 bytes": (LEAVES[0][:31], 0, 1, [], LEAVES[0], ValueError),
    "root of 33 bytes": (LEAVES[0], 0, 1, [], LEAVES[0] + b"x", ValueError),
    "leaf hash as str": (LEAVES[0].hex(), 0, 1, [], LEAVES[0], TypeError),
    "negative index": (LEAVES[0], -1, 1, [], LEAVES[0], ValueError),
    "size above the maximum": (LEAVES[0], 0, MAX_TREE_SIZE + 1, [], LEAVES[0], ValueError),
    "proof as one bytes string": (LEAVES[0], 0, 2, LEAVES[1], LEAVES[0], TypeError),
    "proof hash as str": (LEAVES[0], 0, 2, [LEAVES[1].hex()], LEAVES[0], TypeError),
}


@pytest.mark.parametrize("case", CALLER_MISTAKES.values(), ids=CALLER_MISTAKES.keys())
def test_inclusion_caller_mistakes(case: tuple[Any, Any, Any, Any, Any, type[Exception]]) -> None:
    *args, error = case
    with pytest.raises(error):
        verify_inclusion(*args)


# --- consistency: every check has its reason -----------------------------------------------


def test_shrinking_tree_is_a_bad_consistency_proof() -> None:
    proof = consistency_proof(5, 9, STORE)
    assert (
        _reason(verify_consistency, 9, 5, proof, ROOTS[9], ROOTS[5])
        == LogReason.BAD_CONSISTENCY_PROOF
    )
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(9, 5, STORE)


def test_equal_sizes_need_equal_roots_and_an_empty_proof() -> None:
    verify_consistency(7, 7, [], ROOTS[7], ROOTS[7])
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    assert (
        _reason(verify_consistency, 7, 7, [], ROOTS[7], ROOTS[6]) == LogReason.BAD_CONSISTENCY_PROOF
    )
    assert (
        _reason(verify_consistency, 0, 0, [], EMPTY_ROOT, ROOTS[1])
        == LogReason.BAD_CONSISTENCY_PROOF
    )
    assert (
        _reason(verify_consistency, 7, 7, [ROOTS[7]], ROOTS[7], ROOTS[7])
        == LogReason.MALFORMED_PROOF
    )


def test_every_tree_extends_the_empty_tree() -> None:
    for size2 in (1, 2, 300):
        verify_consistency(0, size2, [], ROOTS[0], ROOTS[size2])
        verify_consistency(0, size2, [], ROOTS[5], ROOTS[size2])  # root1 is not consulted
    assert (
        _reason(verify_consistency, 0, 3, [ROOTS[3]], EMPTY_ROOT, ROOTS[3])
        == LogReason.MALFORMED_PROOF
    )


def test_consistency_proof_of_the_wrong_length_is_malformed() -> None:
    proof = consistency_proof(6, 13, STORE)
    for bad in (proof[:-1], [*proof, proof[0]], []):
        assert (
            _reason(verify_consistency, 6, 13, bad, ROOTS[6], ROOTS[13])
            == LogReason.MALFORMED_PROOF
        )
    short_hash = [proof[0][:31], *proof[1:]]
    assert (
        _reason(verify_consistency, 6, 13, short_hash, ROOTS[6], ROOTS[13])
        == LogReason.MALFORMED_PROOF
    )


def test_power_of_two_old_size_leaves_out_the_seed() -> None:
    proof = consistency_proof(4, 13, STORE)
    assert proof == REFERENCE.consistency_proof(4, 13)
    assert ROOTS[4] not in proof
    assert (
        _reason(verify_consistency, 4, 13, [ROOTS[4], *proof], ROOTS[4], ROOTS[13])
        == LogReason.MALFORMED_PROOF
    )


def test_flipped_hash_or_wrong_root_is_a_bad_consistency_proof() -> None:
    proof = consistency_proof(6, 13, STORE)
    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
        assert (
            _reason(verify_consistency, 6, 13, bad, ROOTS[6], ROOTS[13])
            == LogReason.BAD_CONSISTENCY_PROOF
        ), i
    for root1, root2 in ((ROOTS[5], ROOTS[13]), (ROOTS[6], ROOTS[12]), (ROOTS[13], ROOTS[6])):
        assert (
            _reason(verify_consistency, 6, 13, proof, root1, root2)
            == LogReason.BAD_CONSISTENCY_PROOF
        )


def test_split_view_message_asks_to_keep_evidence() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(7, 7, [], ROOTS[7], ROOTS[6])
    assert "split view" in e.value.message


def test_consistency_caller_mistakes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        verify_consistency(1, 2, [], ROOTS[1][:31], ROOTS[2])
    with pytest.raises(TypeError):
        verify_consistency(1, 2, ROOTS[1], ROOTS[1], ROOTS[2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size1"):
        verify_consistency(-1, 2, [], ROOTS[1], ROOTS[2])


# --- the store and compact ranges ----------------------------------------------------------


def test_compact_range_from_a_store_continues_the_tree() -> None:
    for size in (0, 1, 5, 64, 299):
        tree = compact_range(size, STORE)
        tree.extend(LEAVES[size:])
        assert tree.root() == ROOTS[MAX_DIFFERENTIAL_SIZE]


def test_store_refuses_nodes_it_does_not_hold() -> None:
    with pytest.raises(ValueError, match="not a complete subtree"):
        STORE.read_hashes([(0, MAX_DIFFERENTIAL_SIZE)])
    with pytest.raises(ValueError, match="not a complete subtree"):
        inclusion_proof(0, MAX_DIFFERENTIAL_SIZE + 1, STORE)


# --- huge trees: a tree whose leaves are all equal has one hash per level -------------------


class _UniformTree:
    """Every leaf is the same, so node ``(k, i)`` has the same hash for every ``i``."""

    def __init__(self) -> None:
        self.levels = [LEAVES[0]]
        for _ in range(63):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        return [self.levels[level] for level, _ in ids]


UNIFORM = _UniformTree()


@given(
    st.integers(1, MAX_TREE_SIZE).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n)))
)
def test_inclusion_in_huge_trees(pair: tuple[int, int]) -> None:
    index, size = pair
    proof = inclusion_proof(index, size, UNIFORM)
    inner = (index ^ (size - 1)).bit_length()
    assert len(proof) == inner + (index >> inner).bit_count() <= 63
    root = tree_root(size, UNIFORM)
    verify_inclusion(LEAVES[0], index, size, proof, root)
    assert rfc_verify_inclusion(LEAVES[0], index, size, proof, root)
    assert (
        _reason(verify_inclusion, LEAVES[0], index, size, [*proof, LEAVES[0]], root)
        == LogReason.MALFORMED_PROOF
    )


@given(
    st.integers(2, MAX_TREE_SIZE).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n)))
)
def test_consistency_of_huge_trees(pair: tuple[int, int]) -> None:
    size1, size2 = pair
    proof = consistency_proof(size1, size2, UNIFORM)
    root1, root2 = tree_root(size1, UNIFORM), tree_root(size2, UNIFORM)
    verify_consistency(size1, size2, proof, root1, root2)
    assert rfc_verify_consistency(size1, size2, proof, root1, root2)
    assert (
        _reason(verify_consistency, size1, size2, proof[:-1], root1, root2)
        == LogReason.MALFORMED_PROOF
    )
