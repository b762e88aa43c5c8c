"""C2SP tlog-proof (SPEC §2.7): strict text format, and verification of a proof of logging."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import leaf_hash
from transparency_log.proof import MemoryHashStore, inclusion_proof
from transparency_log.tlog_proof import (
    MAX_PROOF_HASHES,
    MAX_TLOG_PROOF_BYTES,
    TLOG_PROOF_HEADER,
    TlogProof,
    parse_tlog_proof,
    verify_tlog_proof,
)

from .witnesses import NOW, seed, witness_signer

ORIGIN = "log.example/proofs"
LOG_SIGNER = note.Ed25519Signer(ORIGIN, seed("tlog-proof log"))
LOG_KEY = LOG_SIGNER.verifier()
WITNESS = witness_signer("witness.example/w1")
ENTRIES = [b"entry %d" % i for i in range(13)]
TREE = MemoryHashStore([leaf_hash(e) for e in ENTRIES])
SIZE = TREE.size


def signed_checkpoint(
    signer: note.Ed25519Signer = LOG_SIGNER,
    *,
    origin: str = ORIGIN,
    size: int = SIZE,
    root: bytes | None = None,
    text: str | None = None,
) -> bytes:
    body = text or Checkpoint(origin, size, root or TREE.root()).body()
    signed = note.sign(body, signer)
    sig = WITNESS.sign_at(body.encode(), NOW)
    return (signed + note.Signature(WITNESS.name, WITNESS.key_hash, sig).to_line()).encode()


def proof_for(index: int, **checkpoint: object) -> TlogProof:
    return TlogProof(
        index,
        tuple(inclusion_proof(index, SIZE, TREE)),
        signed_checkpoint(**checkpoint),  # type: ignore[arg-type]
    )


def rejected(p: TlogProof, leaf: bytes, reason: str) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_tlog_proof(p, leaf, LOG_KEY, witnesses=[WITNESS.verifier()])
    assert info.value.reason == reason, info.value.message
    return info.value


# --- the text format ---------------------------------------------------------------------------


def test_format_is_the_c2sp_layout() -> None:
    p = TlogProof(5, (b"\x00" * 32, b"\xff" * 32), b"cp\n\n\xe2\x80\x94 k AAAAAAA=\n", b"hi")
    assert p.format() == (
        "c2sp.org/tlog-proof@v1\n"
        "extra aGk=\n"
        "index 5\n"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        "//////////////////////////////////////////8=\n"
        "\n"
        "cp\n\n\u2014 k AAAAAAA=\n"
    )
    assert parse_tlog_proof(p.format()) == p
    assert parse_tlog_proof(p.format().encode()) == p


@given(
    st.integers(0, 2**63 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_HASHES).map(tuple),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=100),
    st.none() | st.binary(min_size=1, max_size=40),
)
def test_parse_format_round_trip(
    index: int, hashes: tuple[bytes, ...], checkpoint: str, extra: bytes | None
) -> None:
    p = TlogProof(index, hashes, checkpoint.encode(), extra)
    text = p.format()
    assert parse_tlog_proof(text) == p
    assert parse_tlog_proof(text).format() == text


def test_checkpoint_note_is_kept_verbatim() -> None:
    p = proof_for(3)
    assert parse_tlog_proof(p.format()).checkpoint_note == signed_checkpoint()


_HASH = base64.b64encode(b"\x01" * 32).decode()
_CP = "origin\n1\n" + base64.b64encode(b"\x02" * 32).decode() + "\n\n\u2014 k AAAAAAA=\n"

MALFORMED: dict[str, str | bytes] = {
    "empty": "",
    "another header": f"c2sp.org/tlog-proof@v2\nindex 0\n\n{_CP}",
    "header with CR": f"{TLOG_PROOF_HEADER}\r\nindex 0\n\n{_CP}",
    "no index line": f"{TLOG_PROOF_HEADER}\n{_HASH}\n\n{_CP}",
    "index before extra": f"{TLOG_PROOF_HEADER}\nindex 0\nextra aGk=\n\n{_CP}",
    "index with a leading zero": f"{TLOG_PROOF_HEADER}\nindex 01\n\n{_CP}",
    "index with a sign": f"{TLOG_PROOF_HEADER}\nindex +1\n\n{_CP}",
    "index over 2^63 - 1": f"{TLOG_PROOF_HEADER}\nindex 9223372036854775808\n\n{_CP}",
    "index with two spaces": f"{TLOG_PROOF_HEADER}\nindex  1\n\n{_CP}",
    "empty extra": f"{TLOG_PROOF_HEADER}\nextra \nindex 0\n\n{_CP}",
    "extra not canonical base64": f"{TLOG_PROOF_HEADER}\nextra aGl=\nindex 0\n\n{_CP}",
    "hash of 31 bytes": (
        f"{TLOG_PROOF_HEADER}\nindex 0\n{base64.b64encode(b'x' * 31).decode()}\n\n{_CP}"
    ),
    "hash without padding": f"{TLOG_PROOF_HEADER}\nindex 0\n{_HASH.rstrip('=')}\n\n{_CP}",
    "hash with trailing space": f"{TLOG_PROOF_HEADER}\nindex 0\n{_HASH} \n\n{_CP}",
    "too many hashes": f"{TLOG_PROOF_HEADER}\nindex 0\n" + f"{_HASH}\n" * 64 + f"\n{_CP}",
    "no empty line": f"{TLOG_PROOF_HEADER}\nindex 0\n{_HASH}\n",
    "no checkpoint after the empty line": f"{TLOG_PROOF_HEADER}\nindex 0\n\n",
    "not UTF-8": f"{TLOG_PROOF_HEADER}\nindex 0\n\n".encode() + b"\xff\n\n",
    "over the size limit": f"{TLOG_PROOF_HEADER}\nindex 0\n\n" + "x" * MAX_TLOG_PROOF_BYTES,
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_text_is_rejected(case: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_tlog_proof(MALFORMED[case])
    assert info.value.reason == LogReason.MALFORMED_PROOF


def test_building_a_bad_proof_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        TlogProof(0, (), b"cp", b"")
    with pytest.raises(ValueError, match="32 bytes"):
        TlogProof(0, (b"x",), b"cp")
    with pytest.raises(ValueError, match="empty"):
        TlogProof(0, (), b"")
    with pytest.raises(TypeError):
        TlogProof(0, [b"\x00" * 32], b"cp")  # type: ignore[arg-type]


# --- verification ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 6, 7, 8, 12])
def test_valid_proof_verifies(index: int) -> None:
    p = parse_tlog_proof(proof_for(index).format())
    verified = verify_tlog_proof(
        p, leaf_hash(ENTRIES[index]), LOG_KEY, witnesses=[WITNESS.verifier()]
    )
    assert (verified.checkpoint.size, verified.checkpoint.root_hash) == (SIZE, TREE.root())
    assert dict(verified.cosignatures) == {WITNESS.name: NOW}


def test_extra_data_changes_nothing_it_is_not_authenticated() -> None:
    good = proof_for(4)
    with_extra = TlogProof(good.index, good.hashes, good.checkpoint_note, b"anything")
    verify_tlog_proof(with_extra, leaf_hash(ENTRIES[4]), LOG_KEY)


def test_wrong_index_is_rejected() -> None:
    p = proof_for(9)
    moved = TlogProof(8, p.hashes, p.checkpoint_note)  # same proof length, another path
    rejected(moved, leaf_hash(ENTRIES[9]), LogReason.BAD_INCLUSION_PROOF)


def test_index_outside_the_tree_is_rejected() -> None:
    p = proof_for(12)
    rejected(
        TlogProof(SIZE, p.hashes, p.checkpoint_note),
        leaf_hash(ENTRIES[12]),
        LogReason.BAD_INCLUSION_PROOF,
    )


def test_extra_hash_is_rejected() -> None:
    p = proof_for(5)
    longer = TlogProof(5, (*p.hashes, b"\x00" * 32), p.checkpoint_note)
    rejected(longer, leaf_hash(ENTRIES[5]), LogReason.MALFORMED_PROOF)


def test_missing_hash_is_rejected() -> None:
    p = proof_for(5)
    rejected(
        TlogProof(5, p.hashes[:-1], p.checkpoint_note),
        leaf_hash(ENTRIES[5]),
        LogReason.MALFORMED_PROOF,
    )


def test_changed_hash_is_rejected() -> None:
    p = proof_for(5)
    changed = (bytes([p.hashes[0][0] ^ 1]) + p.hashes[0][1:], *p.hashes[1:])
    rejected(
        TlogProof(5, changed, p.checkpoint_note),
        leaf_hash(ENTRIES[5]),
        LogReason.BAD_INCLUSION_PROOF,
    )


def test_wrong_leaf_is_rejected() -> None:
    rejected(proof_for(5), leaf_hash(b"another entry"), LogReason.BAD_INCLUSION_PROOF)
    rejected(proof_for(5), leaf_hash(ENTRIES[6]), LogReason.BAD_INCLUSION_PROOF)


def test_checkpoint_of_another_tree_is_rejected() -> None:
    smaller = MemoryHashStore([leaf_hash(e) for e in ENTRIES[:12]])
    p = proof_for(5, size=12, root=smaller.root())
    rejected(p, leaf_hash(ENTRIES[5]), LogReason.BAD_INCLUSION_PROOF)  # same length, other root
    eight = MemoryHashStore([leaf_hash(e) for e in ENTRIES[:8]])
    p = proof_for(5, size=8, root=eight.root())
    rejected(p, leaf_hash(ENTRIES[5]), LogReason.MALFORMED_PROOF)  # 8 leaves need 3 hashes


def _tamper_log_signature(signed: bytes) -> bytes:
    text, sigs = note.parse_unverified(signed)
    first = sigs[0]
    bad = note.Signature(
        first.name, first.key_hash, bytes([first.signature[0] ^ 1]) + first.signature[1:]
    )
    return (text + "\n" + "".join(s.to_line() for s in (bad, *sigs[1:]))).encode()


CHECKPOINT_FAILURES: dict[str, tuple[bytes, str]] = {
    "bad log signature": (_tamper_log_signature(signed_checkpoint()), LogReason.BAD_NOTE_SIGNATURE),
    "signed by another key": (
        signed_checkpoint(note.Ed25519Signer(ORIGIN, seed("impostor"))),
        LogReason.UNTRUSTED_NOTE,
    ),
    "another origin": (signed_checkpoint(origin="log.example/other"), LogReason.WRONG_ORIGIN),
    "note text not a checkpoint": (
        signed_checkpoint(text=f"{ORIGIN}\n13\nnot a root\n"),
        LogReason.MALFORMED_CHECKPOINT,
    ),
    "not a note": (b"just text\n", LogReason.MALFORMED_NOTE),
}


@pytest.mark.parametrize("case", CHECKPOINT_FAILURES)
def test_checkpoint_failures_use_the_checkpoint_codes(case: str) -> None:
    checkpoint, reason = CHECKPOINT_FAILURES[case]
    good = proof_for(2)
    rejected(TlogProof(2, good.hashes, checkpoint), leaf_hash(ENTRIES[2]), reason)


def test_leaf_hash_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        verify_tlog_proof(proof_for(0), ENTRIES[0], LOG_KEY)
