"""RFC 8032 Ed25519 and ES256 (ECDSA P-256, SHA-256) keys of the bundle signers (SPEC §4.3).

A :class:`Signer` is whatever makes a raw COSE signature: a key in memory
(:class:`Ed25519Signer`, :class:`P256Signer`) or a key in an HSM (``keybundle.pkcs11``). A
:class:`PublicKey` is what a verifier holds; it always comes from the caller (a trust root,
a key file), never from the data being verified, and it is checked when it is built: an
Ed25519 key must be canonical and of prime order, a P-256 key a point on the curve.

Both algorithms produce 64-byte COSE signatures (RFC 9053 §2.1, §2.2): Ed25519's R || S,
and ES256's r || s as two 32-byte big-endian integers. ES256 signatures are accepted only in
low-S form (s <= n/2) so that each message has one valid signature per key (SPEC §4.3); our
signers normalise to it. A failed check raises :class:`BadSignature`, an internal exception
that ``keybundle.cose`` and ``keybundle.countersignature`` translate to a reason code in one
place each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from transparency_log._frozen import Frozen
from transparency_log.hashing import sha256

from .errors import BadSignature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# ``cryptography`` is imported where P-256 keys, ES256 signatures and PEM/PKCS#8
# serialisation are used, never at module level: an Ed25519-only client (the common
# embedding) verifies through libsodium alone, and importing cryptography costs 10-15 ms of
# a fresh ``keybundle verify``. Key ids need no cryptography either: an SPKI DER is a fixed
# prefix and the raw key (:meth:`PublicKey.spki_der`).

__all__ = [
    "ALGORITHMS",
    "COSE_ALG_EDDSA",
    "COSE_ALG_ES256",
    "KID_LENGTH",
    "P256_ORDER",
    "SIGNATURE_LENGTH",
    "Algorithm",
    "BadSignature",
    "Ed25519Signer",
    "LocalSigner",
    "P256Signer",
    "PublicKey",
    "Signer",
    "cose_alg_for",
    "es256_signature_from_der",
    "key_id",
    "normalize_es256_signature",
]

Algorithm = Literal["ed25519", "p256"]
"""Names of the signature algorithms in key files, trust roots and the CLI."""

ALGORITHMS: tuple[Algorithm, ...] = ("ed25519", "p256")

COSE_ALG_EDDSA = -8
"""COSE algorithm EdDSA (RFC 9053 §2.2); in this profile always Ed25519."""
COSE_ALG_ES256 = -7
"""COSE algorithm ES256: ECDSA with SHA-256 (RFC 9053 §2.1); in this profile always P-256."""

KID_LENGTH = 16
"""Bytes of SHA-256(SubjectPublicKeyInfo DER) that form a key id (SPEC §4.3)."""
SIGNATURE_LENGTH = 64
"""Length of every COSE signature of this profile (Ed25519 R || S, ES256 r || s)."""

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""n, the order of the P-256 base point (FIPS 186-5 / SEC 2)."""
_P256_HALF_ORDER = P256_ORDER // 2

_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
"""DER of SubjectPublicKeyInfo{id-Ed25519} up to the 32 key bytes (RFC 8410 §4)."""
_P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
"""DER of SubjectPublicKeyInfo{id-ecPublicKey, prime256v1} up to the 65 point bytes."""

_COSE_ALG: dict[str, int] = {"ed25519": COSE_ALG_EDDSA, "p256": COSE_ALG_ES256}
_RAW_LENGTH: dict[str, int] = {"ed25519": 32, "p256": 65}


def cose_alg_for(algorithm: str) -> int:
    """The COSE ``alg`` value of a key algorithm name (-8 or -7)."""
    try:
        return _COSE_ALG[algorithm]
    except KeyError:
        raise ValueError(
            f"unknown key algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}"
        ) from None


def key_id(spki_der: bytes) -> bytes:
    """SPEC §4.3: kid = the first 16 bytes of SHA-256 over the key's SubjectPublicKeyInfo DER."""
    return sha256(spki_der).digest()[:KID_LENGTH]


def normalize_es256_signature(raw: bytes) -> bytes:
    """Return an ES256 r || s signature in low-S form (s replaced by n - s when s > n/2)."""
    if len(raw) != SIGNATURE_LENGTH:
        raise ValueError(f"an ES256 signature is 64 bytes, got {len(raw)}")
    s = int.from_bytes(raw[32:], "big")
    if s > _P256_HALF_ORDER:
        s = P256_ORDER - s
    return raw[:32] + s.to_bytes(32, "big")


def es256_signature_from_der(der: bytes) -> bytes:
    """Convert an X9.62 DER ECDSA-Sig-Value to the COSE r || s form, low-S normalised."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    return normalize_es256_signature(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class PublicKey(Frozen):
    """A checked public key: Ed25519 (32 bytes) or P-256 (65-byte uncompressed point).

    Construction checks the key (ValueError if it is not a valid, canonical key), so holding
    a ``PublicKey`` means holding a key that can be used. ``kid`` is derived, never given.
    """

    algorithm: Algorithm
    raw: bytes
    kid: bytes
    cose_alg: int
    _verify: Callable[[bytes, bytes], None]

    _hidden = frozenset({"_verify"})

    def __init__(self, algorithm: Algorithm, raw: bytes) -> None:
        self._freeze(algorithm=algorithm, raw=raw)
        self.__post_init__()

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes):
            raise TypeError("PublicKey.raw must be bytes")
        want = _RAW_LENGTH.get(self.algorithm)
        if want is None:
            raise ValueError(
                f"unknown key algorithm {self.algorithm!r}: expected one of {', '.join(ALGORITHMS)}"
            )
        if len(self.raw) != want:
            raise ValueError(f"a {self.algorithm} public key is {want} bytes, got {len(self.raw)}")
        verify: Callable[[bytes, bytes], None]
        if self.algorithm == "ed25519":
            # libsodium's check: canonical encoding (y < p), on the curve, not of small
            # order, in the prime-order subgroup (SPEC §4.3).
            if not crypto_core_ed25519_is_valid_point(self.raw):
                raise ValueError(
                    "not a valid Ed25519 public key: the encoding is non-canonical, off the "
                    "curve, or of small order"
                )
            verify = self._verify_ed25519
        else:
            if self.raw[0] != 0x04:
                raise ValueError(
                    "a P-256 public key must be an uncompressed point (0x04 || X || Y)"
                )
            from cryptography.hazmat.primitives.asymmetric import ec

            try:
                ec_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.raw)
            except ValueError:
                raise ValueError(
                    "not a valid P-256 public key: the point is not on the curve"
                ) from None
            verify = self._make_verify_es256(ec_key)
        object.__setattr__(self, "kid", key_id(self.spki_der()))
        object.__setattr__(self, "cose_alg", _COSE_ALG[self.algorithm])
        object.__setattr__(self, "_verify", verify)

    # -- encodings -------------------------------------------------------------------------

    def spki_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo (RFC 8410 §4 for Ed25519, RFC 5480 for P-256)."""
        prefix = _ED25519_SPKI_PREFIX if self.algorithm == "ed25519" else _P256_SPKI_PREFIX
        return prefix + self.raw

    def spki_pem(self) -> bytes:
        """The SubjectPublicKeyInfo as PEM ("PUBLIC KEY"): the role public-key file format."""
        from cryptography.hazmat.primitives import serialization

        return self._cryptography_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def from_spki_der(cls, der: bytes) -> PublicKey:
        """Parse exactly the DER SubjectPublicKeyInfo that :meth:`spki_der` writes."""
        if der.startswith(_ED25519_SPKI_PREFIX) and len(der) == len(_ED25519_SPKI_PREFIX) + 32:
            return cls("ed25519", der[len(_ED25519_SPKI_PREFIX) :])
        if der.startswith(_P256_SPKI_PREFIX) and len(der) == len(_P256_SPKI_PREFIX) + 65:
            return cls("p256", der[len(_P256_SPKI_PREFIX) :])
        raise ValueError("not an Ed25519 or uncompressed P-256 SubjectPublicKeyInfo in DER")

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        """Parse a "PUBLIC KEY" PEM file holding an Ed25519 or P-256 key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as e:
            raise ValueError(f"not a PEM public key: {e}") from None
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls("ed25519", key.public_bytes_raw())
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            return cls(
                "p256",
                key.public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                ),
            )
        raise ValueError("unsupported public key: expected Ed25519 or ECDSA P-256")

    def _cryptography_key(self) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        if self.algorithm == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.raw)

    # -- verification ----------------------------------------------------------------------

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check a raw COSE signature over ``message``; raise :class:`BadSignature` if it fails."""
        self._verify(message, signature)

    def _verify_ed25519(self, message: bytes, signature: bytes) -> None:
        # The lean path: one call into libsodium, which also rejects S >= L and small-order R.
        if len(signature) != SIGNATURE_LENGTH:
            raise BadSignature(f"an Ed25519 signature is 64 bytes, got {len(signature)}")
        try:
            crypto_sign_open(signature + message, self.raw)
        except BadSignatureError:
            raise BadSignature("the Ed25519 signature does not verify") from None

    @staticmethod
    def _make_verify_es256(key: ec.EllipticCurvePublicKey) -> Callable[[bytes, bytes], None]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        algorithm = ec.ECDSA(hashes.SHA256())

        def verify(message: bytes, signature: bytes) -> None:
            if len(signature) != SIGNATURE_LENGTH:
                raise BadSignature(f"an ES256 signature is 64 bytes, got {len(signature)}")
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not 0 < r < P256_ORDER or not 0 < s < P256_ORDER:
                raise BadSignature("ES256 signature values r and s must lie in [1, n-1]")
            if s > _P256_HALF_ORDER:
                raise BadSignature(
                    "ES256 signature is not in low-S form (s > n/2); SPEC §4.3 accepts "
                    "only the low-S signature of each pair"
                )
            try:
                key.verify(encode_dss_signature(r, s), message, algorithm)
            except InvalidSignature:
                raise BadSignature("the ES256 signature does not verify") from None

        return verify


@runtime_checkable
class Signer(Protocol):
    """Anything that makes raw COSE signatures with one key (SPEC §4.3)."""

    @property
    def algorithm(self) -> Algorithm:
        """``"ed25519"`` or ``"p256"``."""
        ...

    @property
    def cose_alg(self) -> int:
        """-8 (EdDSA) or -7 (ES256)."""
        ...

    @property
    def kid(self) -> bytes:
        """The key id of :meth:`public_key` (SPEC §4.3)."""
        ...

    def public_key(self) -> PublicKey:
        """The public half, for trust roots and verification."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte raw COSE signature over ``message`` (ES256 in low-S form)."""
        ...


class Ed25519Signer:
    """An Ed25519 key held in memory (RFC 8032; signing through libsodium)."""

    __slots__ = ("_public", "_signing_key")

    algorithm: Algorithm = "ed25519"
    cose_alg: int = COSE_ALG_EDDSA

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError("an Ed25519 private key is a 32-byte seed")
        self._signing_key = SigningKey(seed)
        self._public = PublicKey("ed25519", bytes(self._signing_key.verify_key))

    @classmethod
    def generate(cls, rand: Callable[[int], bytes] = os.urandom) -> Ed25519Signer:
        """A new key from 32 bytes of ``rand``."""
        return cls(rand(32))

    @property
    def kid(self) -> bytes:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature

    def private_key(self) -> ed25519.Ed25519PrivateKey:
        """The key as a ``cryptography`` object, for ``keybundle.custody`` to serialise."""
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return ed25519.Ed25519PrivateKey.from_private_bytes(bytes(self._signing_key))

    def __repr__(self) -> str:
        return f"Ed25519Signer(kid={self.kid.hex()})"

    __str__ = __repr__


class P256Signer:
    """A P-256 key held in memory; signs ES256 in low-S form."""

    __slots__ = ("_key", "_public")

    algorithm: Algorithm = "p256"
    cose_alg: int = COSE_ALG_ES256

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError("a P256Signer needs an ECDSA P-256 private key")
        self._key = key
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self._public = PublicKey("p256", point)

    @classmethod
    def generate(cls, rand: Callable[[int], bytes] = os.urandom) -> P256Signer:
        """A new key: a scalar drawn from ``rand`` by rejection sampling in [1, n-1]."""
        from cryptography.hazmat.primitives.asymmetric import ec

        while True:
            d = int.from_bytes(rand(32), "big")
            if 0 < d < P256_ORDER:
                return cls(ec.derive_private_key(d, ec.SECP256R1()))

    @property
    def kid(self) -> bytes:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return es256_signature_from_der(self._key.sign(message, ec.ECDSA(hashes.SHA256())))

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The key as a ``cryptography`` object, for ``keybundle.custody`` to serialise."""
        return self._key

    def __repr__(self) -> str:
        return f"P256Signer(kid={self.kid.hex()})"

    __str__ = __repr__


LocalSigner = Ed25519Signer | P256Signer
"""A signer whose private key is in this process (and so can be written to a key file)."""
