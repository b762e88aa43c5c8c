"""RFC 9052 COSE_Sign1, strictly profiled: the independent party's signature (SPEC §4.1).

A signed bundle is one tagged COSE_Sign1 (CBOR tag 18) in deterministic CBOR::

    18([ protected: bstr .cbor {1: alg, 3: content type, 4: kid},
         unprotected: {} / {11: countersignature(s)},
         payload: bstr,
         signature: bstr .size 64 ])

The independent party signs the RFC 9052 §4.4 Sig_structure
``["Signature1", protected, h'', payload]``; the operator countersigns with RFC 9338
(``keybundle.countersignature``). Anything outside this profile is MALFORMED_COSE: one
signed bundle has exactly one encoding, so the log leaf, the bundle digest and the
signatures all bind the same bytes.

Parsing (:func:`parse_unverified_sign1`) checks shape only; :func:`verify_sign1` and
``countersignature.verify_countersignature`` check signatures against keys the caller
passes in. Which keys and how many signatures are needed is trust-root policy (SPEC §5),
decided above this module.
"""

from __future__ import annotations

from collections.abc import Mapping

from transparency_log._frozen import Frozen

from . import dcbor
from .cose_check import sign_checked, trusted_key, verify_cose_signature
from .countersignature import (
    HEADER_COUNTERSIGNATURE,
    MAX_COUNTERSIGNATURES,
    Countersignature,
    create_countersignature,
    encode_countersignature_header,
    parse_bare_countersignature,
    parse_unverified_countersignatures,
    verify_countersignature,
)
from .errors import Reason, VerificationError
from .signers import (
    COSE_ALG_EDDSA,
    COSE_ALG_ES256,
    KID_LENGTH,
    SIGNATURE_LENGTH,
    PublicKey,
    Signer,
)

__all__ = [
    "CONTENT_TYPE",
    "COSE_SIGN1_TAG",
    "MAX_COSE_DEPTH",
    "MAX_COSE_ITEMS",
    "MAX_SIGNED_BUNDLE_BYTES",
    "SIGNATURE1_CONTEXT",
    "Sign1",
    "countersign",
    "encode_sign1",
    "parse_unverified_sign1",
    "sig_structure",
    "sign1",
    "verify_countersignature",
    "verify_sign1",
]

COSE_SIGN1_TAG = 18
"""RFC 9052 §2: CBOR tag of COSE_Sign1_Tagged."""
SIGNATURE1_CONTEXT = "Signature1"
"""RFC 9052 §4.4: context string of a COSE_Sign1 Sig_structure."""
CONTENT_TYPE = "application/keybundle-payload+cbor"
"""Protected header 3 (content type) of every signed bundle (SPEC §4.1): domain separation."""

MAX_SIGNED_BUNDLE_BYTES = 65536
"""Largest encoded COSE_Sign1 accepted or produced (SPEC §4.1, §11)."""
MAX_COSE_DEPTH = 5
"""Deepest nesting in a signed bundle (top level = 0): Sign1 array 1, unprotected map 2,
countersignature array 3, a countersignature 4, its (empty) unprotected map 5 (SPEC §11)."""
MAX_COSE_ITEMS = 8 + 4 * MAX_COUNTERSIGNATURES
"""Most CBOR data items in a valid signed bundle (SPEC §4.1, §11): 8 for the tag, its array, the
four fields, label 11 and the array of countersignatures, then 4 per countersignature. Any
input over it is also malformed by structure, so the cap bounds work and decides no outcome."""

_LABEL_ALG = 1
_LABEL_CONTENT_TYPE = 3
_LABEL_KID = 4
_PROTECTED_LABELS = frozenset((_LABEL_ALG, _LABEL_CONTENT_TYPE, _LABEL_KID))
_ALGS = (COSE_ALG_EDDSA, COSE_ALG_ES256)
_TAGS = frozenset((COSE_SIGN1_TAG,))
_DECODERS = dcbor.semantic_decoders(_TAGS)


class Sign1(Frozen):
    """A signed bundle whose shape matches SPEC §4.1; no signature has been checked.

    ``protected`` is the exact serialized protected header, as signed. ``countersignatures``
    are in the order they were added.
    """

    alg: int
    kid: bytes
    content_type: str
    payload: bytes
    signature: bytes
    protected: bytes
    countersignatures: tuple[Countersignature, ...] = ()

    def __init__(  # noqa: PLR0917 (positional, like the dataclass it was)
        self,
        alg: int,
        kid: bytes,
        content_type: str,
        payload: bytes,
        signature: bytes,
        protected: bytes,
        countersignatures: tuple[Countersignature, ...] = (),
    ) -> None:
        self._freeze(
            alg=alg,
            kid=kid,
            content_type=content_type,
            payload=payload,
            signature=signature,
            protected=protected,
            countersignatures=countersignatures,
        )


# array(4), text(10) "Signature1": the fixed start of every Sig_structure of a COSE_Sign1.
_SIG1_PREFIX = b"\x84" + dcbor.encode_head(3, len(SIGNATURE1_CONTEXT)) + SIGNATURE1_CONTEXT.encode()


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes the independent party signs (RFC 9052 §4.4, SPEC §4.1)::

        [ "Signature1", protected, h'', payload ]

    Written directly in deterministic CBOR (tests check it equals ``dcbor.encode`` of that
    array): this is on the client's hot path.
    """
    return b"".join(
        (
            _SIG1_PREFIX,
            dcbor.encode_head(2, len(protected)),
            protected,
            b"\x40",
            dcbor.encode_head(2, len(payload)),
            payload,
        )
    )


def _malformed(message: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED_COSE, message)


# The deterministic encodings of {1: alg, 3: CONTENT_TYPE, 4: kid} up to the kid, by alg:
# a protected header in the profile is one of these followed by a 16-byte kid.
_PROTECTED_PREFIXES: dict[bytes, int] = {
    dcbor.encode(
        {_LABEL_ALG: alg, _LABEL_CONTENT_TYPE: CONTENT_TYPE, _LABEL_KID: bytes(KID_LENGTH)}
    )[:-KID_LENGTH]: alg
    for alg in _ALGS
}
_PROTECTED_LENGTH = len(next(iter(_PROTECTED_PREFIXES))) + KID_LENGTH


def _parse_protected(data: object) -> tuple[int, str, bytes, bytes]:
    """The protected header: exactly ``{1: alg, 3: CONTENT_TYPE, 4: kid}`` (SPEC §4.1)."""
    if not isinstance(data, bytes):
        raise _malformed("the COSE_Sign1 protected header must be a byte string")
    # Deterministic CBOR has one encoding per value, so a header in the profile is exactly
    # one of the known prefixes and a kid: compare bytes instead of decoding (hot path).
    # Anything else is decoded below, which rejects it with the precise reason.
    if len(data) == _PROTECTED_LENGTH:
        known_alg = _PROTECTED_PREFIXES.get(data[:-KID_LENGTH])
        if known_alg is not None:
            return known_alg, CONTENT_TYPE, data[-KID_LENGTH:], data
    try:
        header = dcbor.decode(data, max_size=256, max_depth=4, max_items=32, tags=frozenset())
    except VerificationError as e:
        raise _malformed(
            f"the COSE_Sign1 protected header is not deterministic CBOR: {e.message}"
        ) from None
    if not isinstance(header, dict):
        raise _malformed("the COSE_Sign1 protected header must be a map")
    if set(header) != _PROTECTED_LABELS:
        raise _malformed(
            "the COSE_Sign1 protected header must be the map {1: alg, 3: content type, "
            f"4: kid}} with no other labels; found labels {sorted(header, key=repr)!r}"
        )
    alg, content_type, kid = header[_LABEL_ALG], header[_LABEL_CONTENT_TYPE], header[_LABEL_KID]
    if type(alg) is not int or alg not in _ALGS:
        raise _malformed(f"COSE_Sign1 alg must be -8 (EdDSA) or -7 (ES256); found {alg!r}")
    if content_type != CONTENT_TYPE:
        raise _malformed(
            f"COSE_Sign1 content type must be {CONTENT_TYPE!r}; found {content_type!r}: this "
            "is not a key bundle"
        )
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        found = f"a {len(kid)}-byte string" if isinstance(kid, bytes) else repr(kid)
        raise _malformed(f"COSE_Sign1 kid must be a {KID_LENGTH}-byte string; found {found}")
    return alg, CONTENT_TYPE, kid, data


def _string_size(n: int) -> int:
    """Bytes of a byte string of length ``n`` in deterministic CBOR (shortest head)."""
    return n + (1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5)


# Bytes of a one-countersignature bundle besides its two protected headers and its payload:
# tag 18, array(4), map(1), label 11, array(3), the countersignature's empty map, and the
# two 64-byte signatures with their heads.
_FIXED_SIZE = 1 + 1 + 1 + 1 + 1 + 1 + 2 * (2 + SIGNATURE_LENGTH)


def _parse_one_countersigned(data: bytes) -> Sign1 | None:
    """The hot path of :func:`parse_unverified_sign1`: a bundle with one countersignature,
    the form every bundle under a one-organisation operator role has (SPEC §4.2).

    cbor2's compiled decoder builds the value (as in ``dcbor``'s fast path); the shape is
    checked item by item against SPEC §4.1-4.2, and the size of the deterministic encoding
    of that shape must equal ``len(data)``, which proves (as ``dcbor._measure`` does) that
    every head was the shortest and nothing trailed. Anything else returns None and the
    exact parser decides, with its reasons: this path only ever accepts what it accepts,
    as the same Sign1 (tests/keybundle/test_cose.py compares both on mutated bundles).
    """
    value = dcbor.decode_unproven(data, max_depth=MAX_COSE_DEPTH, decoders=_DECODERS)
    if type(value) is not dcbor.Tag or value.tag != COSE_SIGN1_TAG:
        return None
    body = value.value
    if type(body) is not list or len(body) != 4:
        return None
    protected, unprotected, payload, signature = body
    if (
        type(protected) is not bytes
        or len(protected) != _PROTECTED_LENGTH
        or type(unprotected) is not dict
        or len(unprotected) != 1
        or type(payload) is not bytes
        or type(signature) is not bytes
        or len(signature) != SIGNATURE_LENGTH
    ):
        return None
    alg = _PROTECTED_PREFIXES.get(protected[:-KID_LENGTH])
    label, cs_value = next(iter(unprotected.items()))
    if alg is None or type(label) is not int or label != HEADER_COUNTERSIGNATURE:
        return None
    cs = parse_bare_countersignature(cs_value)
    if cs is None:
        return None
    size = (
        _FIXED_SIZE
        + _string_size(_PROTECTED_LENGTH)
        + _string_size(len(cs.protected))
        + _string_size(len(payload))
    )
    if size != len(data):
        return None
    return Sign1._unchecked(
        alg=alg,
        kid=protected[-KID_LENGTH:],
        content_type=CONTENT_TYPE,
        payload=payload,
        signature=signature,
        protected=protected,
        countersignatures=(cs,),
    )


def parse_unverified_sign1(data: bytes) -> Sign1:
    """Parse a signed bundle's shape (SPEC §4.1); raise MALFORMED_COSE if it is off-profile.

    No signature is checked: pass the result to :func:`verify_sign1` and
    ``verify_countersignature`` with the keys of the trust root.
    """
    if not isinstance(data, bytes):
        raise TypeError("a signed bundle is bytes")
    if len(data) > MAX_SIGNED_BUNDLE_BYTES:
        raise _malformed(
            f"the signed bundle is {len(data)} bytes; the limit is {MAX_SIGNED_BUNDLE_BYTES}"
        )
    fast = _parse_one_countersigned(data)
    if fast is not None:
        return fast
    try:
        value = dcbor.decode(
            data,
            max_size=MAX_SIGNED_BUNDLE_BYTES,
            max_depth=MAX_COSE_DEPTH,
            max_items=MAX_COSE_ITEMS,
            tags=_TAGS,
        )
    except VerificationError as e:
        raise _malformed(f"the signed bundle is not deterministic CBOR: {e.message}") from None
    if not isinstance(value, dcbor.Tag) or value.tag != COSE_SIGN1_TAG:
        raise _malformed("a signed bundle must be a COSE_Sign1 with CBOR tag 18")
    body = value.value
    if not isinstance(body, list) or len(body) != 4:
        shape = f"an array of {len(body)}" if isinstance(body, list) else "another item"
        raise _malformed(
            f"a COSE_Sign1 is the array [protected, unprotected, payload, signature]; found {shape}"
        )
    protected, unprotected, payload, signature = body
    alg, content_type, kid, protected_bytes = _parse_protected(protected)
    countersignatures: tuple[Countersignature, ...] = ()
    if not isinstance(unprotected, dict):
        raise _malformed("the COSE_Sign1 unprotected header must be a map")
    if unprotected:
        extra = sorted(set(unprotected) - {HEADER_COUNTERSIGNATURE}, key=repr)
        if extra:
            raise _malformed(
                "the COSE_Sign1 unprotected header may hold only label 11 "
                f"(countersignatures); found labels {extra!r}"
            )
        countersignatures = parse_unverified_countersignatures(unprotected[HEADER_COUNTERSIGNATURE])
    if payload is None:
        raise _malformed("the payload must be attached; a detached payload (nil) is not allowed")
    if not isinstance(payload, bytes):
        raise _malformed("the COSE_Sign1 payload must be a byte string")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LENGTH:
        found = len(signature) if isinstance(signature, bytes) else type(signature).__name__
        raise _malformed(f"the COSE_Sign1 signature must be 64 bytes; found {found}")
    return Sign1(
        alg=alg,
        kid=kid,
        content_type=content_type,
        payload=payload,
        signature=signature,
        protected=protected_bytes,
        countersignatures=countersignatures,
    )


def encode_sign1(sign1_: Sign1) -> bytes:
    """The deterministic CBOR of ``sign1_``: the inverse of :func:`parse_unverified_sign1`."""
    unprotected: dict[int | str, dcbor.CborValue] = {}
    if sign1_.countersignatures:
        unprotected[HEADER_COUNTERSIGNATURE] = encode_countersignature_header(
            sign1_.countersignatures
        )
    return dcbor.encode(
        dcbor.Tag(COSE_SIGN1_TAG, [sign1_.protected, unprotected, sign1_.payload, sign1_.signature])
    )


def sign1(payload: bytes, signer: Signer) -> bytes:
    """The independent party's signature: a COSE_Sign1 over ``payload`` (SPEC §4.1).

    The signature is checked against the signer's public key before it is returned (a
    faulty HSM must not produce a bundle that verifiers reject).
    """
    if not isinstance(payload, bytes):
        raise TypeError("the payload is bytes")
    protected = dcbor.encode(
        {_LABEL_ALG: signer.cose_alg, _LABEL_CONTENT_TYPE: CONTENT_TYPE, _LABEL_KID: signer.kid}
    )
    message = sig_structure(protected, payload)
    signature = sign_checked(signer, message)
    out = encode_sign1(
        Sign1(
            alg=signer.cose_alg,
            kid=signer.kid,
            content_type=CONTENT_TYPE,
            payload=payload,
            signature=signature,
            protected=protected,
        )
    )
    if len(out) > MAX_SIGNED_BUNDLE_BYTES:
        raise ValueError(
            f"the signed bundle would be {len(out)} bytes; the limit is {MAX_SIGNED_BUNDLE_BYTES}"
        )
    return out


def countersign(
    signed: bytes,
    signer: Signer,
    *,
    verify_with: Mapping[bytes, PublicKey] | None = None,
) -> bytes:
    """The operator's countersignature (SPEC §4.2): return ``signed`` with one more.

    The new countersignature covers the payload and the independent signature; existing
    countersignatures are kept, in order. With ``verify_with`` (the independent keys of the
    trust root), refuse — by raising the ``VerificationError`` of :func:`verify_sign1` — to
    countersign anything whose independent signature does not verify.
    """
    parsed = parse_unverified_sign1(signed)
    if verify_with is not None:
        verify_sign1(parsed, verify_with)
    if any(cs.kid == signer.kid for cs in parsed.countersignatures):
        raise ValueError(f"the bundle is already countersigned by key {signer.kid.hex()}")
    if len(parsed.countersignatures) >= MAX_COUNTERSIGNATURES:
        raise ValueError(
            f"the bundle already has {MAX_COUNTERSIGNATURES} countersignatures, the most allowed"
        )
    cs = create_countersignature(parsed, signer)
    out = encode_sign1(
        Sign1(
            parsed.alg,
            parsed.kid,
            parsed.content_type,
            parsed.payload,
            parsed.signature,
            parsed.protected,
            (*parsed.countersignatures, cs),
        )
    )
    if len(out) > MAX_SIGNED_BUNDLE_BYTES:
        raise ValueError(
            f"the signed bundle would be {len(out)} bytes; the limit is {MAX_SIGNED_BUNDLE_BYTES}"
        )
    return out


def verify_sign1(sign1_: Sign1, keys: Mapping[bytes, PublicKey]) -> bytes:
    """Verify the independent signature with the key its kid names in ``keys``; return the kid.

    ``keys`` are the independent party's keys from the trust root (SPEC §5); keys never come
    from the data. Raises ``VerificationError`` with UNKNOWN_KEY, ALG_MISMATCH or
    BAD_INDEPENDENT_SIGNATURE.
    """
    key = trusted_key(keys, sign1_.kid, what="the COSE_Sign1", role="independent-party")
    verify_cose_signature(
        key,
        sign1_.alg,
        sig_structure(sign1_.protected, sign1_.payload),
        sign1_.signature,
        what="the independent signature",
        over="this payload",
        bad=Reason.BAD_INDEPENDENT_SIGNATURE,
        advice="the bundle was altered or signed by someone else",
    )
    return sign1_.kid
