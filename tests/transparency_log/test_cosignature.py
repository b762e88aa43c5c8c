"""C2SP tlog-cosignature (SPEC §2.5): the known answer, timestamps, what may be cosigned."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log import note
from transparency_log.cosignature import (
    COSIGNATURE_V1_BYTES,
    MAX_COSIGNATURE_TIMESTAMP,
    SIG_TYPE_COSIGNATURE_V1,
    CosignatureV1Signer,
    CosignatureV1Verifier,
    cosigned_message,
    is_checkpoint_text,
    system_clock,
    timestamp_of,
)
from transparency_log.errors import LogReason, VerificationError

SEED = hashlib.sha256(b"test witness").digest()
NAME = "witness.example/w1"
SIGNER = CosignatureV1Signer(NAME, SEED, now=lambda: 1_700_000_000)
VERIFIER = SIGNER.verifier()
BODY = b"log.example/one\n3\nRcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=\n"


def _line(name: str, key_hash: int, signature: bytes) -> bytes:
    return note.Signature(name, key_hash, signature).to_line().encode()


def _cosigned_note(text: bytes, signature: bytes, *, name: str = NAME) -> bytes:
    """A note carrying one line of the test witness's key hash with ``signature``."""
    return text + b"\n" + _line(name, SIGNER.key_hash, signature)


def _raw_cosignature(text: bytes, timestamp: int) -> bytes:
    """A cosignature built by hand, bypassing the signer's checks."""
    message = b"cosignature/v1\ntime %d\n" % timestamp + text
    ed25519 = nacl.signing.SigningKey(SEED).sign(message).signature
    return (timestamp % 2**64).to_bytes(8, "big") + ed25519


def _open(signed: bytes) -> note.Note:
    return note.open_note(signed, note.Verifiers([VERIFIER]))


# --- the published known answer -------------------------------------------------------


def test_known_answer_line_is_reproduced_byte_for_byte(known_answers: dict[str, Any]) -> None:
    witness = known_answers["witness"]
    kat = witness["cosignature_kat"]
    signer = CosignatureV1Signer(
        "example.com/witness", bytes.fromhex(witness["witness_signer_seed_hex"])
    )
    assert signer.verifier().verifier_key == witness["witness_verifier_key"]
    text, _ = note.parse_unverified(kat["checkpoint"].encode())
    signature = signer.sign_at(text.encode(), kat["timestamp"])
    line = note.Signature(signer.name, signer.key_hash, signature).to_line()
    assert line == kat["expect_line"]


def test_known_answer_verifies_with_the_published_keys(known_answers: dict[str, Any]) -> None:
    witness = known_answers["witness"]
    kat = witness["cosignature_kat"]
    signed = (kat["checkpoint"] + kat["expect_line"]).encode()
    witness_key = note.new_verifier(witness["witness_verifier_key"])
    log_key = note.new_verifier(witness["log_verifier_key"])
    assert isinstance(witness_key, CosignatureV1Verifier)
    opened = note.open_note(signed, note.Verifiers([log_key, witness_key]))
    assert [s.name for s in opened.sigs] == [log_key.name, "example.com/witness"]
    assert timestamp_of(opened.sigs[1]) == kat["timestamp"]


def test_known_answer_with_a_changed_timestamp_does_not_verify(
    known_answers: dict[str, Any],
) -> None:
    witness = known_answers["witness"]
    kat = witness["cosignature_kat"]
    line = kat["expect_line"]
    sig = note.parse_unverified((kat["checkpoint"] + line).encode())[1][-1]
    later = (kat["timestamp"] + 1).to_bytes(8, "big") + sig.signature[8:]
    signed = kat["checkpoint"].encode() + _line(sig.name, sig.key_hash, later)
    verifiers = note.Verifiers([note.new_verifier(witness["witness_verifier_key"])])
    with pytest.raises(VerificationError) as e:
        note.open_note(signed, verifiers)
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


# --- signed message and key -------------------------------------------------------------


def test_cosigned_message_is_the_spec_example() -> None:
    text = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosigned_message(text, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + text
    assert cosigned_message(text, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_cosigned_message_rejects_caller_mistakes() -> None:
    with pytest.raises(TypeError):
        cosigned_message(BODY.decode(), 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        cosigned_message(BODY, -1)
    with pytest.raises(TypeError):
        cosigned_message(BODY, True)


def test_key_hash_is_over_type_0x04_and_differs_from_plain_ed25519() -> None:
    assert SIG_TYPE_COSIGNATURE_V1 == 0x04
    key = bytes([0x04]) + SIGNER.public_key
    expect = int.from_bytes(hashlib.sha256(NAME.encode() + b"\n" + key).digest()[:4], "big")
    assert SIGNER.key_hash == VERIFIER.key_hash == expect
    assert note.Ed25519Signer(NAME, SEED).key_hash != SIGNER.key_hash


def test_key_strings_round_trip_through_note() -> None:
    skey, vkey = note.generate_key(NAME, sig_type=0x04, rand=lambda n: SEED[:n])
    verifier = note.new_verifier(vkey)
    signer = note.new_signer(skey, now=lambda: 42)
    assert verifier == VERIFIER
    assert isinstance(signer, CosignatureV1Signer)
    assert vkey == VERIFIER.verifier_key
    assert timestamp_of(note.Signature(NAME, SIGNER.key_hash, signer.sign(BODY))) == 42


def test_repr_never_shows_the_seed() -> None:
    assert SEED.hex() not in repr(SIGNER)
    assert base64.b64encode(SEED).decode() not in repr(SIGNER)
    assert f"{SIGNER.key_hash:08x}" in repr(SIGNER)


def test_bad_names_and_keys_are_caller_mistakes() -> None:
    with pytest.raises(ValueError, match="key name"):
        CosignatureV1Signer("has space", SEED)
    with pytest.raises(ValueError, match="seed"):
        CosignatureV1Signer(NAME, SEED[:31])
    with pytest.raises(ValueError, match="prime order"):
        CosignatureV1Verifier(NAME, bytes(32))  # a small-order point
    with pytest.raises(ValueError, match="32 bytes"):
        CosignatureV1Verifier(NAME, SIGNER.public_key[:31])


# --- timestamps -----------------------------------------------------------------------------


def test_sign_reads_the_clock_and_signs_72_bytes() -> None:
    ticks = iter([100, 200])
    signer = CosignatureV1Signer(NAME, SEED, now=lambda: next(ticks))
    first, second = signer.sign(BODY), signer.sign(BODY)
    assert len(first) == len(second) == COSIGNATURE_V1_BYTES
    assert int.from_bytes(first[:8], "big") == 100
    assert int.from_bytes(second[:8], "big") == 200
    for sig in (first, second):
        assert VERIFIER.verify(BODY, sig)


def test_system_clock_is_integer_seconds() -> None:
    assert isinstance(system_clock(), int)
    assert system_clock() > 1_600_000_000


@pytest.mark.parametrize("timestamp", [0, 1, 1679315147, MAX_COSIGNATURE_TIMESTAMP])
def test_extreme_timestamps_round_trip(timestamp: int) -> None:
    signature = SIGNER.sign_at(BODY, timestamp)
    opened = _open(_cosigned_note(BODY, signature))
    assert timestamp_of(opened.sigs[0]) == timestamp


@pytest.mark.parametrize("timestamp", [-1, MAX_COSIGNATURE_TIMESTAMP + 1, 2**64])
def test_signing_outside_the_timestamp_range_is_a_caller_mistake(timestamp: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        SIGNER.sign_at(BODY, timestamp)


def test_a_clock_returning_a_non_integer_is_a_caller_mistake() -> None:
    signer = CosignatureV1Signer(NAME, SEED, now=lambda: 1.5)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        signer.sign(BODY)


@pytest.mark.parametrize("timestamp", [2**63, 2**64 - 1])
def test_timestamp_above_2_63_does_not_verify(timestamp: int) -> None:
    signature = _raw_cosignature(BODY, timestamp)
    assert not VERIFIER.verify(BODY, signature)
    with pytest.raises(VerificationError) as e:
        _open(_cosigned_note(BODY, signature))
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_changed_timestamp_does_not_verify() -> None:
    signature = SIGNER.sign_at(BODY, 1000)
    moved = (1001).to_bytes(8, "big") + signature[8:]
    with pytest.raises(VerificationError) as e:
        _open(_cosigned_note(BODY, moved))
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_timestamp_of_refuses_lines_that_are_not_cosignatures() -> None:
    with pytest.raises(ValueError, match="72"):
        timestamp_of(note.Signature(NAME, 1, bytes(64)))
    with pytest.raises(TypeError):
        timestamp_of(b"x" * 72)  # type: ignore[arg-type]


# --- what may be cosigned -------------------------------------------------------------------


NOT_CHECKPOINTS = {
    "empty": b"",
    "two lines": b"log.example\n3\n",
    "no final newline": b"log.example\n3\nroot",
    "empty origin line": b"\n3\nroot\n",
    "empty middle line": b"log.example\n\nroot\n",
    "blank line at the end": b"log.example\n3\nroot\n\n",
    "empty extension line": b"log.example\n3\nroot\n\next\n",
}


@pytest.mark.parametrize("text", NOT_CHECKPOINTS.values(), ids=NOT_CHECKPOINTS.keys())
def test_non_checkpoint_text_is_neither_signed_nor_verified(text: bytes) -> None:
    assert not is_checkpoint_text(text)
    with pytest.raises(ValueError, match="not a checkpoint"):
        SIGNER.sign_at(text, 1)
    assert not VERIFIER.verify(text, _raw_cosignature(text, 1))


def test_cosignature_over_a_non_checkpoint_note_is_a_bad_signature() -> None:
    text = b"just two\nlines\n"
    with pytest.raises(VerificationError) as e:
        _open(_cosigned_note(text, _raw_cosignature(text, 1)))
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_checkpoint_shape_accepts_extension_lines() -> None:
    text = BODY + b"extension one\nextension two\n"
    assert is_checkpoint_text(text)
    assert VERIFIER.verify(text, SIGNER.sign_at(text, 5))


def test_is_checkpoint_text_wants_bytes() -> None:
    with pytest.raises(TypeError):
        is_checkpoint_text(BODY.decode())  # type: ignore[arg-type]


# --- signature bytes ------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 8, 63, 64])
def test_truncated_cosignature_is_a_bad_signature(cut: int) -> None:
    signature = SIGNER.sign_at(BODY, 7)[:-cut]
    with pytest.raises(VerificationError) as e:
        _open(_cosigned_note(BODY, signature))
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_overlong_cosignature_is_a_bad_signature() -> None:
    with pytest.raises(VerificationError) as e:
        _open(_cosigned_note(BODY, SIGNER.sign_at(BODY, 7) + b"\x00"))
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_plain_ed25519_signature_under_the_cosigner_key_hash_is_bad() -> None:
    plain = nacl.signing.SigningKey(SEED).sign(BODY).signature
    for signature in (plain, bytes(8) + plain):
        with pytest.raises(VerificationError) as e:
            _open(_cosigned_note(BODY, signature))
        assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_type_0x01_signature_of_the_same_key_is_not_a_cosignature() -> None:
    plain_signer = note.Ed25519Signer(NAME, SEED)
    signed = note.sign(BODY.decode(), plain_signer).encode()
    with pytest.raises(VerificationError) as e:
        _open(signed)
    assert e.value.reason == LogReason.UNTRUSTED_NOTE


def test_cosignature_of_another_text_is_a_bad_signature() -> None:
    other = BODY.replace(b"\n3\n", b"\n4\n")
    with pytest.raises(VerificationError) as e:
        _open(_cosigned_note(other, SIGNER.sign_at(BODY, 7)))
    assert e.value.reason == LogReason.BAD_NOTE_SIGNATURE


def test_every_single_bit_flip_of_the_signature_fails() -> None:
    signature = SIGNER.sign_at(BODY, 1_700_000_000)
    for i in range(len(signature)):
        for bit in (0x01, 0x80):
            flipped = bytearray(signature)
            flipped[i] ^= bit
            assert not VERIFIER.verify(BODY, bytes(flipped)), (i, bit)


def test_note_sign_with_a_cosigner_opens() -> None:
    signed = note.sign(BODY.decode(), SIGNER).encode()
    opened = _open(signed)
    assert opened.text == BODY.decode()
    assert timestamp_of(opened.sigs[0]) == 1_700_000_000


_line_text = st.text(st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=30)


@given(
    lines=st.lists(_line_text, min_size=3, max_size=6),
    timestamp=st.integers(0, MAX_COSIGNATURE_TIMESTAMP),
)
def test_cosign_then_open_round_trips(lines: list[str], timestamp: int) -> None:
    text = "".join(line + "\n" for line in lines).encode()
    signature = SIGNER.sign_at(text, timestamp)
    opened = _open(_cosigned_note(text, signature))
    assert opened.text.encode() == text
    assert timestamp_of(opened.sigs[0]) == timestamp
