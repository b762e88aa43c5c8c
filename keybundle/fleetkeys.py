"""Fleet public key validation: RFC 7748 X25519, RFC 8032 Ed25519, SEC 1 P-256 (SPEC §3.3).

A bundle hands its fleet keys to clients, which then open sessions with them or check
signatures by them. Each key must therefore be a valid key of its algorithm with exactly one
accepted encoding, and never a small-order point that would let a session key or a signature
check collapse to a value anybody can compute (the "small-order keys" attack of DESIGN §6).
"""

from __future__ import annotations

import functools
from typing import Final

from keybundle.errors import Reason, VerificationError

__all__ = [
    "ALGORITHMS",
    "ED25519",
    "P256_ECDH",
    "P256_ECDSA",
    "X25519",
    "forget_verdicts",
    "validate_fleet_key",
]

X25519: Final = "x25519"
ED25519: Final = "ed25519"
P256_ECDH: Final = "p256-ecdh"
P256_ECDSA: Final = "p256-ecdsa"
ALGORITHMS: Final = (X25519, ED25519, P256_ECDH, P256_ECDSA)
"""The fleet key algorithms of SPEC §3.3, as written in the payload."""

# Curve25519 / edwards25519 (RFC 7748 §4.1, RFC 8032 §5.1).
_P25519: Final = 2**255 - 19
_ED25519_D: Final = -121665 * pow(121666, -1, _P25519) % _P25519
_ED25519_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
_SQRT_MINUS_ONE: Final = pow(2, (_P25519 - 1) // 4, _P25519)

# u-coordinates below p of the points of order 1, 2, 4 and 8 on Curve25519 and its twist:
# X25519 with any of them gives the all-zero shared secret whatever the private key.
_X25519_SMALL_ORDER_U: Final = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        _P25519 - 1,
    }
)

# NIST P-256 (SEC 2 §2.4.2): y^2 = x^3 - 3x + b over GF(p). The curve check itself is
# cryptography's, imported on the first P-256 key only (an import costs 10-15 ms, and most
# bundles hold no P-256 key).
_P256_P: Final = 2**256 - 2**224 + 2**192 + 2**96 - 1


def _invalid(algorithm: str, message: str) -> VerificationError:
    return VerificationError(Reason.INVALID_FLEET_KEY, f"{algorithm} public key: {message}")


def validate_fleet_key(algorithm: str, public_key: bytes) -> None:
    """Check that ``public_key`` is a valid, canonical key of ``algorithm`` (SPEC §3.3).

    Raises ``VerificationError(Reason.INVALID_FLEET_KEY)`` otherwise. ``algorithm`` is one of
    :data:`ALGORITHMS` (``ValueError`` for any other: deciding which algorithms a bundle may
    name is the payload schema's job, SPEC §3.2).
    """
    if type(public_key) is not bytes:
        raise TypeError(f"public_key must be bytes, got {type(public_key).__name__}")
    if algorithm == X25519:
        _validate_x25519(public_key)
    elif algorithm == ED25519:
        _validate_ed25519(public_key)
    elif algorithm in (P256_ECDH, P256_ECDSA):
        _validate_p256(algorithm, public_key)
    else:
        raise ValueError(f"unknown fleet key algorithm {algorithm!r}; expected one of {ALGORITHMS}")


def _validate_x25519(public_key: bytes) -> None:
    # RFC 7748 §5 lets decoders mask bit 255 and reduce u mod p; we accept only the one
    # canonical encoding instead (u < p, so bit 255 is clear).
    if len(public_key) != 32:
        raise _invalid(X25519, f"expected 32 bytes, found {len(public_key)}")
    u = int.from_bytes(public_key, "little")
    if u >= _P25519:
        raise _invalid(X25519, "u-coordinate is not reduced below 2^255 - 19 (non-canonical)")
    if u in _X25519_SMALL_ORDER_U:
        raise _invalid(X25519, "u-coordinate is a point of small order")


def _validate_ed25519(public_key: bytes) -> None:
    if len(public_key) != 32:
        raise _invalid(ED25519, f"expected 32 bytes, found {len(public_key)}")
    # The point check refuses non-canonical encodings too; which of the two reasons applies
    # is worked out only for a key it refused, so that a valid key costs one check.
    if _ed25519_is_valid_point(public_key):
        return
    if int.from_bytes(public_key, "little") & ((1 << 255) - 1) >= _P25519:
        raise _invalid(ED25519, "y-coordinate is not reduced below 2^255 - 19 (non-canonical)")
    raise _invalid(
        ED25519,
        "not a point of the prime-order subgroup (it does not decode, or has small or mixed order)",
    )


def _ed25519_is_valid_point_python(encoded: bytes) -> bool:
    """RFC 8032 §5.1.3 decoding, then [8]P != O and [L]P == O (libsodium's rule)."""
    value = int.from_bytes(encoded, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    if y >= _P25519:
        return False
    x2 = (y * y - 1) * pow(_ED25519_D * y * y + 1, -1, _P25519) % _P25519
    x = pow(x2, (_P25519 + 3) // 8, _P25519)
    if (x * x - x2) % _P25519:
        x = x * _SQRT_MINUS_ONE % _P25519
    if (x * x - x2) % _P25519:
        return False
    if x == 0 and sign:
        return False
    if x & 1 != sign:
        x = _P25519 - x
    point = (x, y)
    small = point
    for _ in range(3):
        small = _ed25519_add(small, small)
    if small == (0, 1):
        return False
    return _ed25519_multiply(_ED25519_ORDER, point) == (0, 1)


def _ed25519_add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p1, p2
    t = _ED25519_D * x1 * x2 * y1 * y2 % _P25519
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, _P25519) % _P25519
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P25519) % _P25519
    return x3, y3


def _ed25519_multiply(scalar: int, point: tuple[int, int]) -> tuple[int, int]:
    result = (0, 1)
    while scalar:
        if scalar & 1:
            result = _ed25519_add(result, point)
        point = _ed25519_add(point, point)
        scalar >>= 1
    return result


_VALID_POINT_CACHE: Final = 1024
"""How many Ed25519 fleet keys' libsodium verdicts are remembered (a bounded LRU cache)."""


@functools.lru_cache(maxsize=_VALID_POINT_CACHE)
def _libsodium_is_valid_point(encoded: bytes) -> bool:
    # The check is a scalar multiplication (~45 us) and a client sees the same fleet keys in
    # package after package: the verdict, a pure function of the 32 bytes, is remembered.
    return bool(_sodium_is_valid_point(encoded))


def forget_verdicts() -> None:
    """Forget the remembered Ed25519 verdicts: the next check of each key runs libsodium again.

    For measurements: a client's first decision on a bundle validates its fleet keys, and a
    benchmark that repeats one decision would otherwise time that validation only once.
    """
    _libsodium_is_valid_point.cache_clear()


try:
    # libsodium: canonical, on the curve, in the prime-order subgroup, not of small order.
    from nacl.bindings import crypto_core_ed25519_is_valid_point as _sodium_is_valid_point
except ImportError:  # pragma: no cover (PyNaCl built without the ed25519 core functions)
    _ed25519_is_valid_point = _ed25519_is_valid_point_python
else:
    _ed25519_is_valid_point = _libsodium_is_valid_point


def _validate_p256(algorithm: str, public_key: bytes) -> None:
    # SEC 1 §2.3.3 uncompressed form only: compressed points and the one-byte identity are a
    # second encoding of a key (or no key at all).
    if len(public_key) != 65 or public_key[0] != 0x04:
        raise _invalid(
            algorithm,
            f"expected the 65-byte uncompressed SEC 1 form 04 || X || Y, found "
            f"{len(public_key)} bytes starting with {public_key[:1].hex() or 'nothing'}",
        )
    x = int.from_bytes(public_key[1:33], "big")
    y = int.from_bytes(public_key[33:], "big")
    if x >= _P256_P or y >= _P256_P:
        raise _invalid(algorithm, "a coordinate is not reduced below the field prime")
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    except ValueError:
        # The one place cryptography's rejection is translated: the point is not on P-256.
        raise _invalid(algorithm, "the point is not on the P-256 curve") from None
