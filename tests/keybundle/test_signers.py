"""Tests for keybundle.signers: key ids, key validation, ES256 low-S, Ed25519 canonical S."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given
from hypothesis import strategies as st

from keybundle.signers import (
    COSE_ALG_EDDSA,
    COSE_ALG_ES256,
    P256_ORDER,
    BadSignature,
    Ed25519Signer,
    P256Signer,
    PublicKey,
    Signer,
    cose_alg_for,
    es256_signature_from_der,
    key_id,
    normalize_es256_signature,
)

SEED = bytes(range(32))
ED25519_L = 2**252 + 27742317777372353535851937790883648493

# Small-order and non-canonical Ed25519 encodings (RFC 8032 §5.1.3 points of order 1, 2, 4
# and 8, and encodings with y >= p).
SMALL_ORDER_ED25519 = {
    "identity (order 1)": "01" + "00" * 31,
    "y = 0 (order 4)": "00" * 32,
    "y = -1 (order 2)": "ec" + "ff" * 30 + "7f",
    "order 8": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8, other": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "y = p (non-canonical zero)": "ed" + "ff" * 30 + "7f",
    "y = p + 1 (non-canonical identity)": "ee" + "ff" * 30 + "7f",
}


def _cryptography_spki(signer: Ed25519Signer | P256Signer) -> bytes:
    key = signer.private_key().public_key()
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_kid_is_sha256_of_spki_der_truncated_to_16_bytes() -> None:
    for signer in (Ed25519Signer(SEED), P256Signer.generate()):
        spki = _cryptography_spki(signer)
        assert signer.public_key().spki_der() == spki
        assert signer.kid == hashlib.sha256(spki).digest()[:16] == key_id(spki)


@given(st.binary(min_size=32, max_size=32), st.integers(1, P256_ORDER - 1))
def test_fixed_der_prefixes_give_the_kids_cryptography_gives(seed: bytes, scalar: int) -> None:
    # Key ids are derived without cryptography (a fixed SPKI prefix and the raw key), so that
    # an Ed25519-only client never imports it; they must be the ones its SPKI DER gives.
    p256 = P256Signer(ec.derive_private_key(scalar, ec.SECP256R1()))
    for signer in (Ed25519Signer(seed), p256):
        spki = _cryptography_spki(signer)
        assert signer.public_key().spki_der() == spki
        assert signer.kid == key_id(spki)


def test_ed25519_known_kid() -> None:
    # The key from seed 00..1f; kid pinned so that ports compute the same value.
    pub = ed25519.Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    assert Ed25519Signer(SEED).public_key().raw == pub
    spki = bytes.fromhex("302a300506032b6570032100") + pub
    assert Ed25519Signer(SEED).kid == hashlib.sha256(spki).digest()[:16]
    assert Ed25519Signer(SEED).kid.hex() == "a050837d85070582ccf7394b0988847c"


def test_cose_alg_values() -> None:
    assert cose_alg_for("ed25519") == COSE_ALG_EDDSA == -8
    assert cose_alg_for("p256") == COSE_ALG_ES256 == -7
    with pytest.raises(ValueError, match="unknown key algorithm"):
        cose_alg_for("rsa")


@pytest.mark.parametrize("algorithm", ["ed25519", "p256"])
def test_public_key_encodings_round_trip(algorithm: str) -> None:
    signer = Ed25519Signer(SEED) if algorithm == "ed25519" else P256Signer.generate()
    pub = signer.public_key()
    assert PublicKey.from_spki_der(pub.spki_der()) == pub
    assert PublicKey.from_pem(pub.spki_pem()) == pub
    assert pub.spki_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")


@pytest.mark.parametrize(("case", "hex_key"), SMALL_ORDER_ED25519.items())
def test_small_order_or_noncanonical_ed25519_keys_are_rejected(case: str, hex_key: str) -> None:
    with pytest.raises(ValueError, match="not a valid Ed25519 public key"):
        PublicKey("ed25519", bytes.fromhex(hex_key))


@pytest.mark.parametrize(
    ("case", "algorithm", "raw", "match"),
    [
        ("Ed25519 key too short", "ed25519", b"\x01" * 31, "32 bytes"),
        ("P-256 key compressed", "p256", b"\x02" + b"\x01" * 32, "65 bytes"),
        ("P-256 not uncompressed", "p256", b"\x03" + b"\x01" * 64, "uncompressed"),
        ("P-256 off the curve", "p256", b"\x04" + b"\x01" * 64, "not on the curve"),
        ("unknown algorithm", "rsa", b"\x01" * 32, "unknown key algorithm"),
    ],
)
def test_invalid_public_keys_are_rejected(
    case: str, algorithm: str, raw: bytes, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        PublicKey(algorithm, raw)  # type: ignore[arg-type]


def test_spki_other_than_ours_is_rejected() -> None:
    rsa_like = bytes.fromhex("300d06092a864886f70d0101010500") + b"\x00" * 10
    with pytest.raises(ValueError, match="SubjectPublicKeyInfo"):
        PublicKey.from_spki_der(rsa_like)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ValueError, match="unsupported public key"):
        PublicKey.from_pem(
            p384.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


@given(st.binary(max_size=256))
def test_ed25519_sign_verify_round_trip(message: bytes) -> None:
    signer = Ed25519Signer(SEED)
    signature = signer.sign(message)
    assert len(signature) == 64
    signer.public_key().verify(message, signature)
    # Interop: the same signature verifies with cryptography.
    signer.private_key().public_key().verify(signature, message)


def test_ed25519_non_canonical_s_is_rejected() -> None:
    signer = Ed25519Signer(SEED)
    sig = signer.sign(b"m")
    s = int.from_bytes(sig[32:], "little")
    with pytest.raises(BadSignature, match="does not verify"):
        signer.public_key().verify(b"m", sig[:32] + (s + ED25519_L).to_bytes(32, "little"))


@pytest.mark.parametrize("length", [0, 63, 65])
def test_wrong_length_signatures_are_rejected(length: int) -> None:
    for signer in (Ed25519Signer(SEED), P256Signer.generate()):
        with pytest.raises(BadSignature, match="64 bytes"):
            signer.public_key().verify(b"m", b"\x01" * length)


def test_es256_signatures_are_low_s_and_verify_with_cryptography() -> None:
    signer = P256Signer.generate()
    for i in range(64):
        message = i.to_bytes(2, "big")
        sig = signer.sign(message)
        assert int.from_bytes(sig[32:], "big") <= P256_ORDER // 2
        signer.public_key().verify(message, sig)
        # The key also accepts it through cryptography's DER interface.
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        signer.private_key().public_key().verify(
            encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256())
        )


def test_es256_high_s_is_rejected() -> None:
    signer = P256Signer.generate()
    sig = signer.sign(b"m")
    s = int.from_bytes(sig[32:], "big")
    high = sig[:32] + (P256_ORDER - s).to_bytes(32, "big")
    with pytest.raises(BadSignature, match="low-S"):
        signer.public_key().verify(b"m", high)
    assert normalize_es256_signature(high) == sig


@pytest.mark.parametrize(
    ("case", "r", "s"),
    [("r = 0", 0, 1), ("s = 0", 1, 0), ("r = n", P256_ORDER, 1), ("s = n", 1, P256_ORDER)],
)
def test_es256_out_of_range_values_are_rejected(case: str, r: int, s: int) -> None:
    signer = P256Signer.generate()
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    with pytest.raises(BadSignature):
        signer.public_key().verify(b"m", sig)


def test_es256_signature_from_der_normalises() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"m", ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = es256_signature_from_der(der)
    assert int.from_bytes(raw[:32], "big") == r
    assert int.from_bytes(raw[32:], "big") == min(s, P256_ORDER - s)


def test_generate_uses_the_given_randomness() -> None:
    assert Ed25519Signer.generate(lambda n: SEED[:n]).kid == Ed25519Signer(SEED).kid
    draws = iter([b"\xff" * 32, (5).to_bytes(32, "big")])  # first draw >= n is rejected
    p = P256Signer.generate(lambda n: next(draws))
    assert p.public_key() == P256Signer(ec.derive_private_key(5, ec.SECP256R1())).public_key()


def test_signers_satisfy_the_protocol_and_hide_private_keys() -> None:
    ed = Ed25519Signer(SEED)
    p = P256Signer(ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1()))
    for signer in (ed, p):
        assert isinstance(signer, Signer)
        assert signer.kid.hex() in repr(signer)
    for text in (repr(ed), str(ed)):
        assert SEED.hex() not in text
        assert "private" not in text.lower()
    assert "1234567890abcdef" not in repr(p).lower()
    assert "1234567890abcdef" not in str(p).lower()


def test_bad_seed_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="32-byte seed"):
        Ed25519Signer(b"short")
    with pytest.raises(ValueError, match="P-256"):
        P256Signer(ec.generate_private_key(ec.SECP384R1()))
