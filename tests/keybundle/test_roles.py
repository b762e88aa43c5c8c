"""Tests for keybundle.roles: a bundle's signatures against the trust root's roles (SPEC §5.4)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybundle.cose import (
    CONTENT_TYPE,
    Sign1,
    countersign,
    encode_sign1,
    parse_unverified_sign1,
    sign1,
)
from keybundle.errors import Reason, VerificationError
from keybundle.roles import VerifiedSignatures, verify_sign1_roles, verify_signed_bundle
from keybundle.signed_trust_root import parse_unverified_signed_trust_root, sign_trust_root
from keybundle.signers import Signer
from keybundle.trustroot import TrustRoot
from tests.keybundle.test_trustroot import ed25519, make_root, p256

PAYLOAD = b"\xa1\x01\x01"
"""{1: 1}: a stand-in payload; role checks treat it as opaque bytes."""
OTHER_PAYLOAD = b"\xa1\x01\x02"

IND_A, IND_B = ed25519(60), ed25519(61)
OP_X1, OP_X2, OP_Y, OP_Z = ed25519(62), ed25519(63), ed25519(64), ed25519(65)
STRANGER = ed25519(66)

ONE_OF_ONE = make_root(1, [("Independent A", IND_A)], [("Operator X", OP_X1)])
# Independent: 1 of A, B. Operator: 2 of the organisations X (two keys), Y, Z.
TWO_OF_THREE = make_root(
    1,
    [("Independent A", IND_A), ("Independent B", IND_B)],
    [("Operator X", OP_X1), ("Operator X", OP_X2), ("Operator Y", OP_Y), ("Operator Z", OP_Z)],
    operator_threshold=2,
)


def bundle(independent: Signer, *operators: Signer, payload: bytes = PAYLOAD) -> bytes:
    signed = sign1(payload, independent)
    for op in operators:
        signed = countersign(signed, op)
    return signed


def rejected(signed: bytes, root: TrustRoot = TWO_OF_THREE) -> VerificationError:
    with pytest.raises(VerificationError) as exc:
        verify_signed_bundle(signed, root)
    return exc.value


def transplant_countersignatures(into: bytes, source: bytes) -> bytes:
    """``into`` carrying the countersignatures of ``source`` instead of its own."""
    target = parse_unverified_sign1(into)
    donor = parse_unverified_sign1(source)
    return encode_sign1(replace(target, countersignatures=donor.countersignatures))


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def corrupt_independent_signature(signed: bytes) -> bytes:
    parsed = parse_unverified_sign1(signed)
    return encode_sign1(replace(parsed, signature=flip_last_byte(parsed.signature)))


def corrupt_second_countersignature(signed: bytes) -> bytes:
    parsed = parse_unverified_sign1(signed)
    first, second = parsed.countersignatures
    bad = replace(second, signature=flip_last_byte(second.signature))
    return encode_sign1(replace(parsed, countersignatures=(first, bad)))


# -- accepted ------------------------------------------------------------------------------


def test_one_of_one() -> None:
    result = verify_signed_bundle(bundle(IND_A, OP_X1), ONE_OF_ONE)
    assert isinstance(result, VerifiedSignatures)
    assert result.payload == PAYLOAD
    assert [(s.kid, s.organisation) for s in result.independent] == [(IND_A.kid, "Independent A")]
    assert [(s.kid, s.organisation) for s in result.operator] == [(OP_X1.kid, "Operator X")]


def test_two_of_three_organisations() -> None:
    result = verify_signed_bundle(bundle(IND_B, OP_Y, OP_X2), TWO_OF_THREE)
    assert result.independent_organisations == {"Independent B"}
    assert result.operator_organisations == {"Operator X", "Operator Y"}
    assert [s.kid for s in result.operator] == [OP_Y.kid, OP_X2.kid]


def test_all_operator_organisations() -> None:
    result = verify_signed_bundle(bundle(IND_A, OP_X1, OP_X2, OP_Y, OP_Z), TWO_OF_THREE)
    assert result.operator_organisations == {"Operator X", "Operator Y", "Operator Z"}


def test_p256_and_ed25519_mixed() -> None:
    ind, op = p256(21), ed25519(67)
    root = make_root(1, [("I", ind)], [("O", op)])
    assert verify_signed_bundle(bundle(ind, op), root).payload == PAYLOAD


def test_parsed_entry_point_agrees() -> None:
    signed = bundle(IND_A, OP_X1, OP_Y)
    assert verify_sign1_roles(parse_unverified_sign1(signed), TWO_OF_THREE) == (
        verify_signed_bundle(signed, TWO_OF_THREE)
    )


# -- rejected ------------------------------------------------------------------------------

CASES: dict[str, tuple[bytes, str]] = {
    "only the independent signature (no countersignature)": (
        sign1(PAYLOAD, IND_A), Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
    ),
    "one operator organisation of the two required": (
        bundle(IND_A, OP_Y), Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
    ),
    "two keys of one organisation count once": (
        bundle(IND_A, OP_X1, OP_X2), Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
    ),
    "countersignatures transplanted from a bundle with another payload": (
        transplant_countersignatures(sign1(OTHER_PAYLOAD, IND_A), bundle(IND_A, OP_X1, OP_Y)),
        Reason.BAD_COUNTERSIGNATURE,
    ),
    "countersignatures over another independent signature of the same payload": (
        transplant_countersignatures(sign1(PAYLOAD, IND_B), bundle(IND_A, OP_X1, OP_Y)),
        Reason.BAD_COUNTERSIGNATURE,
    ),
    "roles swapped (operator signs, independent countersigns)": (
        bundle(OP_X1, IND_A, IND_B), Reason.UNKNOWN_KEY,
    ),
    "independent party countersigns": (bundle(IND_A, OP_X1, IND_B), Reason.UNKNOWN_KEY),
    "independent signature by an unknown key": (
        bundle(STRANGER, OP_X1, OP_Y), Reason.UNKNOWN_KEY,
    ),
    "countersignature by an unknown key": (bundle(IND_A, OP_X1, STRANGER), Reason.UNKNOWN_KEY),
    "independent signature does not verify": (
        corrupt_independent_signature(bundle(IND_A, OP_X1, OP_Y)),
        Reason.BAD_INDEPENDENT_SIGNATURE,
    ),
    "countersignature does not verify": (
        corrupt_second_countersignature(bundle(IND_A, OP_X1, OP_Y)), Reason.BAD_COUNTERSIGNATURE,
    ),
    "a signed trust root given as a bundle": (
        sign_trust_root(ONE_OF_ONE, [IND_A, OP_X1]), Reason.MALFORMED_COSE,
    ),
    "not CBOR": (b"\xff", Reason.MALFORMED_COSE),
}  # fmt: skip


@pytest.mark.parametrize(("signed", "expected"), CASES.values(), ids=CASES.keys())
def test_rejected(signed: bytes, expected: str) -> None:
    assert rejected(signed).reason == expected


def test_trust_root_signature_replayed_as_bundle_signature() -> None:
    """The independent party's trust-root signature, moved into a COSE_Sign1 with the same
    payload bytes and kid, does not verify: the Sig_structures differ ("Signature" vs
    "Signature1", and the content type)."""
    signed_root = sign_trust_root(ONE_OF_ONE, [IND_A, OP_X1])
    parsed = parse_unverified_signed_trust_root(signed_root)
    ind_signature = next(s for s in parsed.signatures if s.kid == IND_A.kid)
    template = parse_unverified_sign1(bundle(IND_A, payload=parsed.payload))
    assert template.content_type == CONTENT_TYPE
    forged = encode_sign1(replace(template, signature=ind_signature.signature))
    assert rejected(forged, ONE_OF_ONE).reason == Reason.BAD_INDEPENDENT_SIGNATURE


def test_independent_threshold_above_one_admits_no_bundle() -> None:
    """A COSE_Sign1 carries one independent signature (SPEC §4.1, §5.4)."""
    root = replace(TWO_OF_THREE, independent=replace(TWO_OF_THREE.independent, threshold=2))
    error = rejected(bundle(IND_A, OP_X1, OP_Y), root)
    assert error.reason == Reason.INDEPENDENT_THRESHOLD_NOT_MET
    assert "a bundle carries one" in error.message


def test_threshold_message_names_the_organisations() -> None:
    error = rejected(bundle(IND_A, OP_X1, OP_X2))
    assert "2 distinct operator organisation(s)" in error.message
    assert "valid ones from 1 (Operator X)" in error.message
    assert "Two keys of one organisation count once" in error.message
    assert "Operator Y, Operator Z" in error.message


def test_alg_mismatch() -> None:
    p = p256(22)
    root = make_root(1, [("I", p)], [("O", OP_X1)])
    signed = parse_unverified_sign1(bundle(p, OP_X1))
    # Claim EdDSA in the protected header for the P-256 key: refused before any crypto.
    forged = Sign1(
        alg=-8,
        kid=p.kid,
        content_type=CONTENT_TYPE,
        payload=PAYLOAD,
        signature=signed.signature,
        protected=bytes.fromhex("a3012703") + signed.protected[4:],
    )
    assert rejected(encode_sign1(forged), root).reason == Reason.ALG_MISMATCH


# -- k of n, as a property ------------------------------------------------------------------

OPERATORS = {OP_X1.kid: "Operator X", OP_X2.kid: "Operator X", OP_Y.kid: "Operator Y",
             OP_Z.kid: "Operator Z"}  # fmt: skip
OPERATOR_SIGNERS = [OP_X1, OP_X2, OP_Y, OP_Z]
SIGNED_BY_A = sign1(PAYLOAD, IND_A)


@given(
    st.lists(st.sampled_from(OPERATOR_SIGNERS), unique_by=lambda s: s.kid, max_size=4),
    st.integers(1, 3),
)
def test_accepted_exactly_when_enough_organisations_countersign(
    operators: list[Signer], threshold: int
) -> None:
    root = replace(TWO_OF_THREE, operator=replace(TWO_OF_THREE.operator, threshold=threshold))
    signed = SIGNED_BY_A
    for op in operators:
        signed = countersign(signed, op)
    organisations = {OPERATORS[op.kid] for op in operators}
    if len(organisations) >= threshold:
        assert verify_signed_bundle(signed, root).operator_organisations == organisations
    else:
        assert rejected(signed, root).reason == Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET
