"""Tests for keybundle.countersignature: RFC 9338 V2 countersignatures (SPEC §4.2)."""

from __future__ import annotations

from dataclasses import replace

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from keybundle import dcbor
from keybundle.cose import (
    Sign1,
    countersign,
    encode_sign1,
    parse_unverified_sign1,
    sign1,
    verify_sign1,
)
from keybundle.countersignature import (
    MAX_COUNTERSIGNATURES,
    Countersignature,
    countersign_structure,
    parse_unverified_countersignatures,
    verify_countersignature,
)
from keybundle.errors import Reason, VerificationError
from keybundle.signers import P256_ORDER, Ed25519Signer, P256Signer, PublicKey, Signer

INDEPENDENT = Ed25519Signer(bytes(range(32)))
OPERATOR = Ed25519Signer(bytes(range(32, 64)))
PAYLOAD = bytes.fromhex("a40101026d6578616d706c652d666c65657403010480")

# The Countersign_structure of the known-answer bundle (tests/keybundle/test_cose.py).
COUNTERSIGN_STRUCTURE_HEX = (
    "86"  # array(6)
    "72" + b"CounterSignatureV2".hex()  # context
    + "583a"  # body_protected: the COSE_Sign1's protected header
    "a301270378226170706c69636174696f6e2f6b657962756e646c652d7061796c6f61642b63626f72"
    "0450a050837d85070582ccf7394b0988847c"
    "55" "a201270450824c89aa8efb95ef93629b4519599129"  # sign_protected {1: -8, 4: kid}
    "40"  # external_aad h''
    "56" + PAYLOAD.hex()  # payload
    + "81" "5840"  # other_fields: [ the COSE_Sign1 signature ]
    "daa308cdc3afd60f7c2e0dbae43fc98c83cce7a59cb769b19ce971b644a9e215"
    "538668729741ad29901ee7364639f31ef607b3141a8d5e8ff52d35ef6087f906"
)  # fmt: skip


def keys(*signers: Signer) -> dict[bytes, PublicKey]:
    return {s.kid: s.public_key() for s in signers}


def countersigned(independent: Signer = INDEPENDENT, *operators: Signer) -> Sign1:
    data = sign1(PAYLOAD, independent)
    for op in operators or (OPERATOR,):
        data = countersign(data, op)
    return parse_unverified_sign1(data)


def test_countersign_structure_known_answer() -> None:
    parsed = countersigned()
    (cs,) = parsed.countersignatures
    assert countersign_structure(parsed, cs.protected).hex() == COUNTERSIGN_STRUCTURE_HEX


def test_countersignature_checked_independently_from_the_rfc_text() -> None:
    """RFC 9338 §3.3 by hand with cbor2 and cryptography: no keybundle code in the check."""
    data = countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR)
    tagged = cbor2.loads(data)
    assert tagged.tag == 18
    protected, unprotected, payload, signature = tagged.value
    cs_protected, cs_unprotected, cs_signature = unprotected[11]
    assert cbor2.loads(cs_protected) == {1: -8, 4: OPERATOR.kid}
    assert cs_unprotected == {}
    to_be_signed = cbor2.dumps(
        ["CounterSignatureV2", protected, cs_protected, b"", payload, [signature]]
    )
    operator_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
    operator_key.public_key().verify(cs_signature, to_be_signed)
    independent_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    independent_key.public_key().verify(
        signature, cbor2.dumps(["Signature1", protected, b"", payload])
    )


@given(st.binary(max_size=500), st.binary(min_size=1, max_size=100))
def test_countersign_structure_is_the_deterministic_cbor_array(
    payload: bytes, sign_protected: bytes
) -> None:
    parsed = replace(countersigned(), payload=payload)
    assert countersign_structure(parsed, sign_protected) == dcbor.encode(
        ["CounterSignatureV2", parsed.protected, sign_protected, b"", payload, [parsed.signature]]
    )


@settings(max_examples=10)
@given(st.integers(min_value=1, max_value=5))
def test_many_countersignatures_round_trip(n: int) -> None:
    operators = [Ed25519Signer(bytes([i]) * 32) for i in range(n)]
    parsed = countersigned(INDEPENDENT, *operators)
    assert [cs.kid for cs in parsed.countersignatures] == [op.kid for op in operators]
    for cs in parsed.countersignatures:
        assert verify_countersignature(parsed, cs, keys(*operators)) == cs.kid


# -- negatives -------------------------------------------------------------------------------


def test_transplanted_countersignature_is_rejected() -> None:
    # Same payload, another independent signature: the operator approved the first one only.
    other_independent = Ed25519Signer(bytes(range(64, 96)))
    original = countersigned()
    target = parse_unverified_sign1(sign1(PAYLOAD, other_independent))
    transplanted = parse_unverified_sign1(
        encode_sign1(replace(target, countersignatures=original.countersignatures))
    )
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(transplanted, transplanted.countersignatures[0], keys(OPERATOR))
    assert exc.value.reason == Reason.BAD_COUNTERSIGNATURE
    assert "another bundle" in exc.value.message


def test_countersignature_over_another_es256_signature_of_the_same_key_is_rejected() -> None:
    # ES256 is randomised: one key, one payload, two different independent signatures.
    p256 = P256Signer.generate()
    first = countersigned(p256)
    second = parse_unverified_sign1(sign1(PAYLOAD, p256))
    assert first.signature != second.signature
    moved = replace(second, countersignatures=first.countersignatures)
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(moved, moved.countersignatures[0], keys(OPERATOR))
    assert exc.value.reason == Reason.BAD_COUNTERSIGNATURE


def test_countersignature_is_not_an_independent_signature() -> None:
    # Domain separation: "CounterSignatureV2" and "Signature1" contexts differ, so the
    # operator's signature cannot stand in as the independent one, nor the reverse.
    parsed = countersigned()
    (cs,) = parsed.countersignatures
    as_independent = replace(parsed, kid=cs.kid, signature=cs.signature)
    with pytest.raises(VerificationError) as exc:
        verify_sign1(as_independent, keys(OPERATOR))
    assert exc.value.reason == Reason.BAD_INDEPENDENT_SIGNATURE
    fake_cs = Countersignature(
        alg=-8,
        kid=INDEPENDENT.kid,
        signature=parsed.signature,
        protected=dcbor.encode({1: -8, 4: INDEPENDENT.kid}),
    )
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(parsed, fake_cs, keys(INDEPENDENT))
    assert exc.value.reason == Reason.BAD_COUNTERSIGNATURE


def test_unknown_operator_kid() -> None:
    parsed = countersigned(INDEPENDENT, P256Signer.generate())
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(parsed, parsed.countersignatures[0], keys(OPERATOR))
    assert exc.value.reason == Reason.UNKNOWN_KEY
    assert "operator keys" in exc.value.message


@pytest.mark.parametrize(
    ("case", "alg", "use_p256"),
    [("ES256 header, Ed25519 key", -7, False), ("EdDSA header, P-256 key", -8, True)],
)
def test_countersignature_alg_mismatch(case: str, alg: int, use_p256: bool) -> None:
    op: Signer = P256Signer.generate() if use_p256 else OPERATOR
    parsed = countersigned()
    protected = dcbor.encode({1: alg, 4: op.kid})
    cs = Countersignature(
        alg=alg,
        kid=op.kid,
        signature=op.sign(countersign_structure(parsed, protected)),
        protected=protected,
    )
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(parsed, cs, keys(op))
    assert exc.value.reason == Reason.ALG_MISMATCH


def test_high_s_countersignature_is_rejected() -> None:
    p256 = P256Signer.generate()
    parsed = countersigned(INDEPENDENT, p256)
    (cs,) = parsed.countersignatures
    s = int.from_bytes(cs.signature[32:], "big")
    high = replace(cs, signature=cs.signature[:32] + (P256_ORDER - s).to_bytes(32, "big"))
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(parsed, high, keys(p256))
    assert exc.value.reason == Reason.BAD_COUNTERSIGNATURE
    assert "low-S" in exc.value.message


def test_tampered_independent_signature_breaks_the_countersignature() -> None:
    parsed = countersigned()
    flipped = bytes([parsed.signature[0] ^ 1]) + parsed.signature[1:]
    tampered = replace(parsed, signature=flipped)
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(tampered, tampered.countersignatures[0], keys(OPERATOR))
    assert exc.value.reason == Reason.BAD_COUNTERSIGNATURE


# -- malformed header 11 ---------------------------------------------------------------------

_GOOD = countersigned().countersignatures[0]
_GOOD_ITEM: list[dcbor.CborValue] = [_GOOD.protected, {}, _GOOD.signature]
_OTHER = countersigned(INDEPENDENT, P256Signer.generate()).countersignatures[0]
_OTHER_ITEM: list[dcbor.CborValue] = [_OTHER.protected, {}, _OTHER.signature]


def _cs(protected: dict[int | str, dcbor.CborValue]) -> list[dcbor.CborValue]:
    return [dcbor.encode(protected), {}, _GOOD.signature]


MALFORMED_HEADER_11: dict[str, dcbor.CborValue] = {
    "array of one countersignature": [_GOOD_ITEM],
    "empty array": [],
    "a byte string (Countersignature0 form)": _GOOD.signature,
    "countersignature of two elements": _GOOD_ITEM[:2],
    "countersignature of four elements": [*_GOOD_ITEM, b""],
    "nested countersignature in its unprotected header": [
        _GOOD.protected,
        {11: _OTHER_ITEM},
        _GOOD.signature,
    ],
    "kid in the unprotected header": [_GOOD.protected, {4: OPERATOR.kid}, _GOOD.signature],
    "content type in the protected header": _cs({1: -8, 3: "text/plain", 4: OPERATOR.kid}),
    "protected header without kid": _cs({1: -8}),
    "protected header without alg": _cs({4: OPERATOR.kid}),
    "alg ES384": _cs({1: -35, 4: OPERATOR.kid}),
    "kid of 15 bytes": _cs({1: -8, 4: OPERATOR.kid[:15]}),
    "protected header as a map": [{1: -8, 4: OPERATOR.kid}, {}, _GOOD.signature],
    "protected header not deterministic": [
        bytes.fromhex("a20450" + OPERATOR.kid.hex() + "0127"),
        {},
        _GOOD.signature,
    ],
    "signature truncated to 63 bytes": [_GOOD.protected, {}, _GOOD.signature[:63]],
    "signature missing (empty)": [_GOOD.protected, {}, b""],
    "same kid twice": [_GOOD_ITEM, _GOOD_ITEM],
    "one good, one truncated": [_GOOD_ITEM, [_OTHER.protected, {}, _OTHER.signature[:32]]],
    "too many countersignatures": [
        _cs({1: -8, 4: bytes([i]) * 16}) for i in range(MAX_COUNTERSIGNATURES + 1)
    ],
}


@pytest.mark.parametrize(("case", "value"), MALFORMED_HEADER_11.items())
def test_malformed_countersignatures_are_rejected(case: str, value: dcbor.CborValue) -> None:
    with pytest.raises(VerificationError) as exc:
        parse_unverified_countersignatures(value)
    assert exc.value.reason == Reason.MALFORMED_COSE


@pytest.mark.parametrize(("case", "value"), MALFORMED_HEADER_11.items())
def test_malformed_countersignatures_are_rejected_inside_a_bundle(
    case: str, value: dcbor.CborValue
) -> None:
    body = countersigned()
    data = dcbor.encode(dcbor.Tag(18, [body.protected, {11: value}, body.payload, body.signature]))
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(data)
    assert exc.value.reason == Reason.MALFORMED_COSE


def test_the_good_forms_parse() -> None:
    assert parse_unverified_countersignatures(_GOOD_ITEM) == (_GOOD,)
    assert parse_unverified_countersignatures([_GOOD_ITEM, _OTHER_ITEM]) == (_GOOD, _OTHER)


def _countersignature_header_as_decoded(data: bytes) -> object:
    """What the profile makes of ``data``, read through the decoder: (alg, kid) or a reason."""
    try:
        header = dcbor.decode(data, max_size=256, max_depth=4, max_items=32)
    except VerificationError:
        return Reason.MALFORMED_COSE
    if not isinstance(header, dict) or set(header) != {1, 4}:
        return Reason.MALFORMED_COSE
    alg, kid = header[1], header[4]
    if type(alg) is not int or alg not in (-8, -7):
        return Reason.MALFORMED_COSE
    if not isinstance(kid, bytes) or len(kid) != 16:
        return Reason.MALFORMED_COSE
    return alg, kid


@given(
    st.tuples(st.sampled_from([-8, -7, -35, 1]), st.binary(min_size=15, max_size=17)),
    st.tuples(st.integers(0, 40), st.integers(0, 255), st.integers(0, 2)),
)
def test_countersignature_protected_header_is_read_as_its_decoding_says(
    fields: tuple[int, bytes], edit: tuple[int, int, int]
) -> None:
    from keybundle import countersignature

    good = dcbor.encode({1: fields[0], 4: fields[1]})
    position, byte, cut = edit[0] % len(good), edit[1], edit[2]
    changed = good[:position] + bytes([byte]) + good[position + 1 :]
    for data in (good, changed[: len(changed) - cut]):
        try:
            alg, kid, protected = countersignature._parse_protected(data)
            got: object = (alg, kid)
            assert protected == data
        except VerificationError as e:
            got = e.reason
        assert got == _countersignature_header_as_decoded(data)
