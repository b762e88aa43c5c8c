"""RFC 9338 COSE countersignatures, version 2: the operator's signature (SPEC §4.2).

The operator countersigns the independent party's COSE_Sign1 with a COSE_Countersignature
in the Sign1's unprotected header, label 11. The signed bytes are the RFC 9338 §3.3
Countersign_structure with context ``"CounterSignatureV2"``, whose ``other_fields`` carry the
Sign1's signature: the operator approves the payload *and* the independent signature bytes,
so a countersignature cannot be moved onto another independent signature.

This module knows the countersignature, not the COSE_Sign1: it works on any
:class:`CountersignTarget` (the fields of the countersigned structure that RFC 9338 signs).
``keybundle.cose`` parses and writes the Sign1 around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from transparency_log._frozen import Frozen

from . import dcbor
from .cose_check import sign_checked, trusted_key, verify_cose_signature
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
    "COUNTERSIGNATURE_CONTEXT",
    "HEADER_COUNTERSIGNATURE",
    "MAX_COUNTERSIGNATURES",
    "CountersignTarget",
    "Countersignature",
    "countersign_structure",
    "create_countersignature",
    "encode_countersignature_header",
    "parse_bare_countersignature",
    "parse_unverified_countersignatures",
    "verify_countersignature",
]

HEADER_COUNTERSIGNATURE = 11
"""RFC 9338 §2: header label of "Countersignature version 2"."""
COUNTERSIGNATURE_CONTEXT = "CounterSignatureV2"
"""RFC 9338 §3.3: context string of a (full) version 2 countersignature."""
MAX_COUNTERSIGNATURES = 16
"""Most countersignatures one COSE_Sign1 may carry (SPEC §4.2, §11)."""

_LABEL_ALG = 1
_LABEL_KID = 4
_ALGS = (COSE_ALG_EDDSA, COSE_ALG_ES256)


class CountersignTarget(Protocol):
    """The fields of a countersigned structure that RFC 9338 §3.3 puts in the signed bytes."""

    @property
    def protected(self) -> bytes:
        """The target's serialized protected header (``body_protected``)."""
        ...

    @property
    def payload(self) -> bytes:
        """The target's payload."""
        ...

    @property
    def signature(self) -> bytes:
        """The target's signature: the one element of ``other_fields`` for a COSE_Sign1."""
        ...


class Countersignature(Frozen):
    """One COSE_Countersignature, shape-checked but not verified.

    ``protected`` is the exact serialized protected header ``{1: alg, 4: kid}``.
    """

    alg: int
    kid: bytes
    signature: bytes
    protected: bytes

    def __init__(self, alg: int, kid: bytes, signature: bytes, protected: bytes) -> None:
        self._freeze(alg=alg, kid=kid, signature=signature, protected=protected)


# array(6), then text(18) "CounterSignatureV2": the fixed start of every Countersign_structure.
_CS_CONTEXT = COUNTERSIGNATURE_CONTEXT.encode()
_CS_PREFIX = b"\x86" + dcbor.encode_head(3, len(_CS_CONTEXT)) + _CS_CONTEXT


def countersign_structure(target: CountersignTarget, sign_protected: bytes) -> bytes:
    """The bytes a countersignature signs (RFC 9338 §3.3, SPEC §4.2)::

        [ "CounterSignatureV2", body_protected, sign_protected, h'', payload, [ signature ] ]

    Written directly in deterministic CBOR (tests check it equals ``dcbor.encode`` of that
    array, and the COSE WG's published example): this is on the client's hot path.
    """
    return b"".join(
        (
            _CS_PREFIX,
            dcbor.encode_head(2, len(target.protected)),
            target.protected,
            dcbor.encode_head(2, len(sign_protected)),
            sign_protected,
            b"\x40",
            dcbor.encode_head(2, len(target.payload)),
            target.payload,
            b"\x81",
            dcbor.encode_head(2, len(target.signature)),
            target.signature,
        )
    )


def _malformed(message: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED_COSE, message)


# The deterministic encodings of {1: alg, 4: kid} up to the kid, by alg: a protected header
# in the profile is one of these followed by a 16-byte kid.
_PROTECTED_PREFIXES: dict[bytes, int] = {
    dcbor.encode({_LABEL_ALG: alg, _LABEL_KID: bytes(KID_LENGTH)})[:-KID_LENGTH]: alg
    for alg in _ALGS
}
_PROTECTED_LENGTH = len(next(iter(_PROTECTED_PREFIXES))) + KID_LENGTH


def _parse_protected(data: object) -> tuple[int, bytes, bytes]:
    """The countersignature's protected header: exactly ``{1: alg, 4: kid}`` (SPEC §4.2)."""
    if not isinstance(data, bytes):
        raise _malformed("a countersignature's protected header must be a byte string")
    # One encoding per value: a header in the profile is a known prefix and a kid, compared
    # as bytes (hot path). Anything else is decoded below, which says what is wrong.
    if len(data) == _PROTECTED_LENGTH:
        known_alg = _PROTECTED_PREFIXES.get(data[:-KID_LENGTH])
        if known_alg is not None:
            return known_alg, data[-KID_LENGTH:], data
    try:
        header = dcbor.decode(data, max_size=256, max_depth=4, max_items=32, tags=frozenset())
    except VerificationError as e:
        raise _malformed(
            f"a countersignature's protected header is not deterministic CBOR: {e.message}"
        ) from None
    if not isinstance(header, dict):
        raise _malformed("a countersignature's protected header must be a map")
    if set(header) != {_LABEL_ALG, _LABEL_KID}:
        raise _malformed(
            "a countersignature's protected header must be the map {1: alg, 4: kid} with "
            f"no other labels; found labels {sorted(header, key=repr)!r}"
        )
    alg, kid = header[_LABEL_ALG], header[_LABEL_KID]
    if type(alg) is not int or alg not in _ALGS:
        raise _malformed(f"countersignature alg must be -8 (EdDSA) or -7 (ES256); found {alg!r}")
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        found = f"a {len(kid)}-byte string" if isinstance(kid, bytes) else repr(kid)
        raise _malformed(f"countersignature kid must be a {KID_LENGTH}-byte string; found {found}")
    return alg, kid, data


def _parse_one(value: object) -> Countersignature:
    if not isinstance(value, list) or len(value) != 3:
        shape = f"an array of {len(value)}" if isinstance(value, list) else "another item"
        raise _malformed(
            "a COSE_Countersignature is the array [protected, unprotected, signature]; "
            f"found {shape}"
        )
    protected, unprotected, signature = value
    alg, kid, protected_bytes = _parse_protected(protected)
    if unprotected != {}:
        found = sorted(unprotected, key=repr) if isinstance(unprotected, dict) else unprotected
        raise _malformed(
            f"a countersignature's unprotected header must be empty (SPEC §4.2); found {found!r}"
        )
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LENGTH:
        found_len = len(signature) if isinstance(signature, bytes) else type(signature).__name__
        raise _malformed(f"a countersignature's signature must be 64 bytes; found {found_len}")
    return Countersignature(alg=alg, kid=kid, signature=signature, protected=protected_bytes)


def parse_bare_countersignature(value: object) -> Countersignature | None:
    """A decoded header-11 value that is one bare countersignature in the profile, built
    without the checks' messages (the hot path of parsing a bundle, SPEC §4.2); None for
    anything else, which :func:`parse_unverified_countersignatures` then judges.

    The caller proves the encoding deterministic; this checks the shape only.
    """
    if type(value) is not list or len(value) != 3:
        return None
    protected, unprotected, signature = value
    if (
        type(protected) is not bytes
        or len(protected) != _PROTECTED_LENGTH
        or type(unprotected) is not dict
        or unprotected
        or type(signature) is not bytes
        or len(signature) != SIGNATURE_LENGTH
    ):
        return None
    alg = _PROTECTED_PREFIXES.get(protected[:-KID_LENGTH])
    if alg is None:
        return None
    return Countersignature._unchecked(
        alg=alg, kid=protected[-KID_LENGTH:], signature=signature, protected=protected
    )


def parse_unverified_countersignatures(value: object) -> tuple[Countersignature, ...]:
    """Parse the value of header label 11 (RFC 9338 §2) in the one form SPEC §4.2 allows.

    One countersignature is the bare COSE_Countersignature; two or more are an array of
    them (an array of one is rejected: one value, one encoding). Key ids must be distinct.
    """
    if not isinstance(value, list) or not value:
        raise _malformed("header 11 must hold a COSE_Countersignature or an array of them")
    items: list[object]
    if isinstance(value[0], list):
        if len(value) == 1:
            raise _malformed(
                "a single countersignature must be the bare COSE_Countersignature, not an "
                "array of one (SPEC §4.2)"
            )
        if len(value) > MAX_COUNTERSIGNATURES:
            raise _malformed(
                f"{len(value)} countersignatures; at most {MAX_COUNTERSIGNATURES} are allowed"
            )
        items = list(value)
    else:
        items = [value]
    parsed = tuple(_parse_one(item) for item in items)
    if len({cs.kid for cs in parsed}) != len(parsed):
        raise _malformed("two countersignatures name the same key id")
    return parsed


def encode_countersignature_header(
    countersignatures: tuple[Countersignature, ...],
) -> dcbor.CborValue:
    """The value of header label 11 for ``countersignatures``: the inverse of the parser."""
    if not countersignatures:
        raise ValueError("no countersignatures to encode")
    items: list[dcbor.CborValue] = [[cs.protected, {}, cs.signature] for cs in countersignatures]
    return items[0] if len(items) == 1 else items


def create_countersignature(target: CountersignTarget, signer: Signer) -> Countersignature:
    """Countersign ``target`` with ``signer`` (RFC 9338 §3.3).

    The new signature is checked against the signer's public key before it is returned, so
    a faulty HSM or a signer that does not normalise ES256 to low-S cannot emit a bundle
    that verifiers would reject.
    """
    protected = dcbor.encode({_LABEL_ALG: signer.cose_alg, _LABEL_KID: signer.kid})
    message = countersign_structure(target, protected)
    signature = sign_checked(signer, message, what="countersignature")
    return Countersignature(
        alg=signer.cose_alg, kid=signer.kid, signature=signature, protected=protected
    )


def verify_countersignature(
    target: CountersignTarget, cs: Countersignature, keys: Mapping[bytes, PublicKey]
) -> bytes:
    """Verify one countersignature with the key its kid names in ``keys``; return the kid.

    ``keys`` are the operator keys the caller trusts (SPEC §5); keys never come from the
    data. Raises ``VerificationError`` with UNKNOWN_KEY, ALG_MISMATCH or BAD_COUNTERSIGNATURE.
    """
    key = trusted_key(keys, cs.kid, what="the countersignature", role="operator")
    verify_cose_signature(
        key,
        cs.alg,
        countersign_structure(target, cs.protected),
        cs.signature,
        what="the operator countersignature",
        over="this COSE_Sign1's payload and independent signature",
        bad=Reason.BAD_COUNTERSIGNATURE,
        advice="the bundle or its signatures were altered, or the countersignature belongs "
        "to another bundle",
    )
    return cs.kid
