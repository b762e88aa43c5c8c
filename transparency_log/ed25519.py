"""RFC 8032 Ed25519 as C2SP signed-note profiles it (SPEC §2.4.5): strict keys and signatures.

Both note signature types are Ed25519 (type 0x01 in :mod:`transparency_log.note`, the
cosignature/v1 type 0x04 in :mod:`transparency_log.cosignature`); this module is the one place
that talks to libsodium (PyNaCl) for them, and the one translation of its
``BadSignatureError``.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
import nacl.signing

__all__ = ["KEY_BYTES", "SIGNATURE_BYTES", "require_public_key", "sign", "signing_key", "verify"]

KEY_BYTES = 32
"""Bytes of an Ed25519 public key and of a seed."""
SIGNATURE_BYTES = 64
"""Bytes of an Ed25519 signature."""
_GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


def require_public_key(public_key: bytes) -> None:
    """Refuse all but canonical encodings of prime-order points (SPEC §2.4.5).

    Small-order keys let one signature verify for many messages, and non-canonical or
    mixed-order encodings make verifiers disagree; an honest key is never any of these.
    """
    if not isinstance(public_key, bytes) or len(public_key) != KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {KEY_BYTES} bytes")
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(public_key):
        raise ValueError(
            "the Ed25519 public key is not the canonical encoding of a point of prime order "
            "(small-order, mixed-order or non-canonical keys are refused)"
        )


def signing_key(seed: bytes) -> nacl.signing.SigningKey:
    if not isinstance(seed, bytes) or len(seed) != KEY_BYTES:
        raise ValueError(f"an Ed25519 seed is {KEY_BYTES} bytes")
    return nacl.signing.SigningKey(seed)


def sign(signing_key: nacl.signing.SigningKey, msg: bytes) -> bytes:
    signature: bytes = signing_key.sign(msg).signature
    return signature


def verify(public_key: bytes, msg: bytes, sig: bytes) -> bool:
    """Strict RFC 8032 verification: the only translation of nacl's BadSignatureError.

    S must be below the group order (no malleable twins); libsodium also refuses small-order
    R and keys, which :func:`require_public_key` already refused at parse time.
    """
    if len(sig) != SIGNATURE_BYTES:
        return False
    if int.from_bytes(sig[32:], "little") >= _GROUP_ORDER:
        return False
    # libsodium's crypto_sign_open directly: nacl.signing.VerifyKey re-checks the key (done
    # when the verifier was built) and wraps the call in two more layers, on every line.
    # The binding does not check the key's length, so that stays here.
    if len(public_key) != KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {KEY_BYTES} bytes")
    try:
        nacl.bindings.crypto_sign_open(sig + msg, public_key)
    except nacl.exceptions.BadSignatureError:
        return False
    return True
