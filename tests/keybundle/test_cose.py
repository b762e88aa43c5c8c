"""Tests for keybundle.cose: the COSE_Sign1 profile of SPEC §4.1 and its signatures."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybundle import cose, dcbor
from keybundle.cose import (
    CONTENT_TYPE,
    MAX_COSE_DEPTH,
    MAX_COSE_ITEMS,
    MAX_SIGNED_BUNDLE_BYTES,
    Sign1,
    countersign,
    encode_sign1,
    parse_unverified_sign1,
    sig_structure,
    sign1,
    verify_countersignature,
    verify_sign1,
)
from keybundle.errors import Reason, VerificationError
from keybundle.signers import P256_ORDER, Ed25519Signer, P256Signer, PublicKey, Signer

INDEPENDENT = Ed25519Signer(bytes(range(32)))
OPERATOR = Ed25519Signer(bytes(range(32, 64)))
PAYLOAD = bytes.fromhex("a40101026d6578616d706c652d666c65657403010480")
"""{1: 1, 2: "example-fleet", 3: 1, 4: []}: a stand-in payload; COSE treats it as opaque."""

# Known answers (SPEC §4.1, §4.2): Ed25519 is deterministic, so these bytes are exact.
PROTECTED_HEX = (
    "a3" "01" "27"  # {1: -8,
    "03" "7822" + CONTENT_TYPE.encode().hex() +  # 3: "application/keybundle-payload+cbor",
    "04" "50" "a050837d85070582ccf7394b0988847c"  # 4: h'a050...'}
)  # fmt: skip
SIGNED_HEX = (
    "d284583aa301270378226170706c69636174696f6e2f6b657962756e646c652d7061796c6f61642b63626f"
    "720450a050837d85070582ccf7394b0988847ca056a40101026d6578616d706c652d666c6565740301048058"
    "40daa308cdc3afd60f7c2e0dbae43fc98c83cce7a59cb769b19ce971b644a9e215538668729741ad29901ee7"
    "364639f31ef607b3141a8d5e8ff52d35ef6087f906"
)
COUNTERSIGNED_HEX = (
    "d284583aa301270378226170706c69636174696f6e2f6b657962756e646c652d7061796c6f61642b63626f"
    "720450a050837d85070582ccf7394b0988847ca10b8355a201270450824c89aa8efb95ef93629b45195991"
    "29a05840565bbc9380368fab7558594b18662517c17381aeb5289cbd3a2b6497040072dff9e7a2b8cca579"
    "e0234214aaf35d3e5fa5a84f48d78a7e086472e20198f7810d56a40101026d6578616d706c652d666c6565"
    "74030104805840daa308cdc3afd60f7c2e0dbae43fc98c83cce7a59cb769b19ce971b644a9e21553866872"
    "9741ad29901ee7364639f31ef607b3141a8d5e8ff52d35ef6087f906"
)


def keys(*signers: Signer) -> dict[bytes, PublicKey]:
    return {s.kid: s.public_key() for s in signers}


def reason_of(exc: pytest.ExceptionInfo[VerificationError]) -> str:
    return exc.value.reason


# -- known answers ---------------------------------------------------------------------------


def test_kids_of_the_vector_keys() -> None:
    assert INDEPENDENT.kid.hex() == "a050837d85070582ccf7394b0988847c"
    assert OPERATOR.kid.hex() == "824c89aa8efb95ef93629b4519599129"
    spki = bytes.fromhex("302a300506032b6570032100") + INDEPENDENT.public_key().raw
    assert INDEPENDENT.kid == hashlib.sha256(spki).digest()[:16]


def test_sign1_known_answer() -> None:
    signed = sign1(PAYLOAD, INDEPENDENT)
    assert signed.hex() == SIGNED_HEX
    parsed = parse_unverified_sign1(signed)
    assert parsed.protected.hex() == PROTECTED_HEX
    assert parsed.countersignatures == ()


def test_countersigned_known_answer() -> None:
    countersigned = countersign(bytes.fromhex(SIGNED_HEX), OPERATOR)
    assert countersigned.hex() == COUNTERSIGNED_HEX
    parsed = parse_unverified_sign1(countersigned)
    assert verify_sign1(parsed, keys(INDEPENDENT)) == INDEPENDENT.kid
    (cs,) = parsed.countersignatures
    assert verify_countersignature(parsed, cs, keys(OPERATOR)) == OPERATOR.kid
    assert cs.protected.hex() == "a201270450" + OPERATOR.kid.hex()


def test_sig_structure_bytes() -> None:
    protected = bytes.fromhex(PROTECTED_HEX)
    expected = (
        "84"  # array(4)
        "6a" + b"Signature1".hex()  # context
        + "583a" + PROTECTED_HEX  # body_protected
        + "40"  # external_aad h''
        + "56" + PAYLOAD.hex()  # payload
    )  # fmt: skip
    assert sig_structure(protected, PAYLOAD).hex() == expected


@given(st.binary(max_size=600), st.binary(min_size=1, max_size=300))
def test_sig_structure_is_the_deterministic_cbor_array(payload: bytes, protected: bytes) -> None:
    assert sig_structure(protected, payload) == dcbor.encode(
        ["Signature1", protected, b"", payload]
    )


# -- round trips -----------------------------------------------------------------------------


@given(st.binary(max_size=2048))
def test_round_trip_ed25519(payload: bytes) -> None:
    signed = countersign(sign1(payload, INDEPENDENT), OPERATOR)
    parsed = parse_unverified_sign1(signed)
    assert parsed.payload == payload
    assert parsed.content_type == CONTENT_TYPE
    assert encode_sign1(parsed) == signed
    assert verify_sign1(parsed, keys(INDEPENDENT)) == INDEPENDENT.kid
    assert verify_countersignature(parsed, parsed.countersignatures[0], keys(OPERATOR))


@pytest.mark.parametrize(
    ("case", "independent", "operator"),
    [
        ("ES256 independent, Ed25519 operator", "p256", "ed25519"),
        ("Ed25519 independent, ES256 operator", "ed25519", "p256"),
        ("ES256 both", "p256", "p256"),
    ],
)
def test_round_trip_mixed_algorithms(case: str, independent: str, operator: str) -> None:
    ind: Signer = P256Signer.generate() if independent == "p256" else INDEPENDENT
    op: Signer = P256Signer.generate() if operator == "p256" else OPERATOR
    parsed = parse_unverified_sign1(countersign(sign1(PAYLOAD, ind), op))
    assert parsed.alg == ind.cose_alg
    assert parsed.countersignatures[0].alg == op.cose_alg
    assert verify_sign1(parsed, keys(ind)) == ind.kid
    assert verify_countersignature(parsed, parsed.countersignatures[0], keys(op)) == op.kid


def _label11(signed: bytes) -> dcbor.CborValue:
    """The raw value of header label 11 of a countersigned bundle."""
    value = dcbor.decode(signed, tags=frozenset({18}))
    if not isinstance(value, dcbor.Tag) or not isinstance(value.value, list):
        raise AssertionError("bad math in test helper: not a COSE_Sign1")
    unprotected = value.value[1]
    if not isinstance(unprotected, dict):
        raise AssertionError("bad math in test helper: no unprotected map")
    return unprotected[11]


def test_countersign_keeps_existing_countersignatures_in_order() -> None:
    op2 = P256Signer.generate()
    once = countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR)
    twice = countersign(once, op2)
    parsed = parse_unverified_sign1(twice)
    assert [cs.kid for cs in parsed.countersignatures] == [OPERATOR.kid, op2.kid]
    assert parsed.countersignatures[0] == parse_unverified_sign1(once).countersignatures[0]
    for cs in parsed.countersignatures:
        verify_countersignature(parsed, cs, keys(OPERATOR, op2))
    # One countersignature is the bare COSE_Countersignature; two are an array of them.
    single = _label11(once)
    assert isinstance(single, list)
    assert isinstance(single[0], bytes)
    label11 = _label11(twice)
    assert isinstance(label11, list)
    assert len(label11) == 2
    assert all(isinstance(item, list) and len(item) == 3 for item in label11)


def test_countersign_refuses_the_same_key_twice() -> None:
    once = countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR)
    with pytest.raises(ValueError, match="already countersigned"):
        countersign(once, OPERATOR)


def test_countersign_with_verify_with_checks_the_independent_signature() -> None:
    signed = sign1(PAYLOAD, INDEPENDENT)
    assert parse_unverified_sign1(countersign(signed, OPERATOR, verify_with=keys(INDEPENDENT)))
    with pytest.raises(VerificationError) as exc:
        countersign(signed, OPERATOR, verify_with=keys(OPERATOR))
    assert reason_of(exc) == Reason.UNKNOWN_KEY
    forged = encode_sign1(replace(parse_unverified_sign1(signed), payload=b"other"))
    with pytest.raises(VerificationError) as exc:
        countersign(forged, OPERATOR, verify_with=keys(INDEPENDENT))
    assert reason_of(exc) == Reason.BAD_INDEPENDENT_SIGNATURE


class _BrokenSigner:
    """A signer (a faulty HSM) whose signatures do not verify."""

    algorithm = "ed25519"
    cose_alg = -8

    def __init__(self) -> None:
        self.kid = OPERATOR.kid

    def public_key(self) -> PublicKey:
        return OPERATOR.public_key()

    def sign(self, message: bytes) -> bytes:
        return bytes(64)


def test_signing_refuses_signatures_that_do_not_verify() -> None:
    broken = _BrokenSigner()
    with pytest.raises(ValueError, match="does not verify under its own public key"):
        sign1(PAYLOAD, broken)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not verify under its own public key"):
        countersign(sign1(PAYLOAD, INDEPENDENT), broken)  # type: ignore[arg-type]


def test_oversized_payload_is_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="limit"):
        sign1(b"\x00" * MAX_SIGNED_BUNDLE_BYTES, INDEPENDENT)


# -- verification negatives ------------------------------------------------------------------


def _resigned(
    signer: Signer, protected: dict[int | str, dcbor.CborValue], payload: bytes = PAYLOAD
) -> Sign1:
    """A Sign1 with a chosen protected header, validly signed by ``signer``."""
    prot = dcbor.encode(protected)
    sig = signer.sign(sig_structure(prot, payload))
    return parse_unverified_sign1(encode_sign1(Sign1(-8, b"", "", payload, sig, prot)))


def test_only_the_independent_signature_has_no_countersignature() -> None:
    parsed = parse_unverified_sign1(sign1(PAYLOAD, INDEPENDENT))
    assert verify_sign1(parsed, keys(INDEPENDENT)) == INDEPENDENT.kid
    # Nothing for the operator role: the policy layer counts zero countersignatures.
    assert parsed.countersignatures == ()


def test_roles_swapped_are_unknown_keys() -> None:
    # The right signatures checked against the wrong role's keys ...
    parsed = parse_unverified_sign1(countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR))
    with pytest.raises(VerificationError) as exc:
        verify_sign1(parsed, keys(OPERATOR))
    assert reason_of(exc) == Reason.UNKNOWN_KEY
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(parsed, parsed.countersignatures[0], keys(INDEPENDENT))
    assert reason_of(exc) == Reason.UNKNOWN_KEY
    # ... and the operator signing as independent while the independent party countersigns.
    swapped = parse_unverified_sign1(countersign(sign1(PAYLOAD, OPERATOR), INDEPENDENT))
    with pytest.raises(VerificationError) as exc:
        verify_sign1(swapped, keys(INDEPENDENT))
    assert reason_of(exc) == Reason.UNKNOWN_KEY
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(swapped, swapped.countersignatures[0], keys(OPERATOR))
    assert reason_of(exc) == Reason.UNKNOWN_KEY


def test_unknown_kid_message_says_what_to_do() -> None:
    parsed = parse_unverified_sign1(sign1(PAYLOAD, P256Signer.generate()))
    with pytest.raises(VerificationError) as exc:
        verify_sign1(parsed, keys(INDEPENDENT))
    assert exc.value.reason == Reason.UNKNOWN_KEY
    assert parsed.kid.hex() in exc.value.message
    assert "not one of the 1 independent-party keys" in exc.value.message


@pytest.mark.parametrize(
    ("case", "alg", "signer_name"),
    [
        ("ES256 header, Ed25519 trust-root key", -7, "ed25519"),
        ("EdDSA header, P-256 trust-root key", -8, "p256"),
    ],
)
def test_alg_mismatch(case: str, alg: int, signer_name: str) -> None:
    signer: Signer = INDEPENDENT if signer_name == "ed25519" else P256Signer.generate()
    parsed = _resigned(signer, {1: alg, 3: CONTENT_TYPE, 4: signer.kid})
    with pytest.raises(VerificationError) as exc:
        verify_sign1(parsed, keys(signer))
    assert reason_of(exc) == Reason.ALG_MISMATCH
    assert "claims alg" in exc.value.message


def test_tampered_payload_fails_both_signatures() -> None:
    parsed = parse_unverified_sign1(countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR))
    tampered = replace(parsed, payload=PAYLOAD + b"\x00")
    with pytest.raises(VerificationError) as exc:
        verify_sign1(tampered, keys(INDEPENDENT))
    assert reason_of(exc) == Reason.BAD_INDEPENDENT_SIGNATURE
    assert "does not verify" in exc.value.message
    with pytest.raises(VerificationError) as exc:
        verify_countersignature(tampered, tampered.countersignatures[0], keys(OPERATOR))
    assert reason_of(exc) == Reason.BAD_COUNTERSIGNATURE


def test_es256_high_s_independent_signature_is_rejected() -> None:
    p256 = P256Signer.generate()
    parsed = parse_unverified_sign1(sign1(PAYLOAD, p256))
    s = int.from_bytes(parsed.signature[32:], "big")
    high = replace(parsed, signature=parsed.signature[:32] + (P256_ORDER - s).to_bytes(32, "big"))
    # The high-S twin is a valid ECDSA signature: only the profile's low-S rule rejects it.
    assert encode_sign1(high) != encode_sign1(parsed)
    with pytest.raises(VerificationError) as exc:
        verify_sign1(parse_unverified_sign1(encode_sign1(high)), keys(p256))
    assert reason_of(exc) == Reason.BAD_INDEPENDENT_SIGNATURE
    assert "low-S" in exc.value.message


def test_ed25519_non_canonical_s_independent_signature_is_rejected() -> None:
    parsed = parse_unverified_sign1(sign1(PAYLOAD, INDEPENDENT))
    s = int.from_bytes(parsed.signature[32:], "little")
    ell = 2**252 + 27742317777372353535851937790883648493
    twin = replace(parsed, signature=parsed.signature[:32] + (s + ell).to_bytes(32, "little"))
    with pytest.raises(VerificationError) as exc:
        verify_sign1(twin, keys(INDEPENDENT))
    assert reason_of(exc) == Reason.BAD_INDEPENDENT_SIGNATURE


def test_key_map_with_a_mislabelled_key_is_a_caller_error() -> None:
    parsed = parse_unverified_sign1(sign1(PAYLOAD, INDEPENDENT))
    with pytest.raises(ValueError, match="maps kid"):
        verify_sign1(parsed, {INDEPENDENT.kid: OPERATOR.public_key()})


# -- malformed COSE: every shape -------------------------------------------------------------

_DROP = "<drop>"


def _protected(**overrides: dcbor.CborValue) -> dict[int | str, dcbor.CborValue]:
    header: dict[int | str, dcbor.CborValue] = {1: -8, 3: CONTENT_TYPE, 4: INDEPENDENT.kid}
    for key, value in overrides.items():
        label = int(key.removeprefix("l"))
        if value == _DROP:
            del header[label]
        else:
            header[label] = value
    return header


def _envelope(
    protected: dcbor.CborValue = None,
    unprotected: dcbor.CborValue = None,
    payload: dcbor.CborValue = PAYLOAD,
    signature: dcbor.CborValue = None,
    *,
    tag: int | None = 18,
    length: int = 4,
) -> bytes:
    """A COSE_Sign1-like object; the signature is valid over (protected, payload) by default."""
    prot = protected if protected is not None else dcbor.encode(_protected())
    if signature is None and isinstance(prot, bytes) and isinstance(payload, bytes):
        signature = INDEPENDENT.sign(sig_structure(prot, payload))
    items: list[dcbor.CborValue] = [prot, {} if unprotected is None else unprotected, payload]
    items.append(signature if signature is not None else bytes(64))
    items = (items + [b"extra"] * 3)[:length]
    return dcbor.encode(dcbor.Tag(tag, items) if tag is not None else items)


_VALID_CS = _label11(countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR))
_SIGNED = bytes.fromhex(SIGNED_HEX)

MALFORMED: dict[str, bytes] = {
    # outer structure
    "missing tag 18": _envelope(tag=None),
    "wrong tag (COSE_Sign, 98)": _envelope(tag=98),
    "wrong tag (COSE_Mac0, 17)": _envelope(tag=17),
    "tag 18 twice": dcbor.encode(dcbor.Tag(18, dcbor.Tag(18, [b"", {}, b"", b""]))),
    "array of 3": _envelope(length=3),
    "array of 5": _envelope(length=5),
    "not an array": dcbor.encode(dcbor.Tag(18, {1: 2})),
    "trailing bytes": _SIGNED + b"\x00",
    "truncated": _SIGNED[:-1],
    "empty input": b"",
    "indefinite-length array": b"\xd2\x9f" + _SIGNED[2:] + b"\xff",
    "non-minimal array head": b"\xd2\x98\x04" + _SIGNED[2:],
    "oversized": b"\xd2\x84" + b"\x00" * MAX_SIGNED_BUNDLE_BYTES,
    # protected header
    "protected header as a map, not a bstr": _envelope(protected=_protected()),
    "empty protected header": _envelope(protected=b""),
    "protected header empty map": _envelope(protected=dcbor.encode({})),
    "protected header extra label (crit)": _envelope(protected=dcbor.encode(_protected(l2=[1]))),
    "protected header extra label (IV)": _envelope(protected=dcbor.encode(_protected(l5=b"i"))),
    "protected header text label": _envelope(protected=dcbor.encode({**_protected(), "x": 1})),
    "protected header without content type": _envelope(
        protected=dcbor.encode(_protected(l3=_DROP))
    ),
    "protected header without kid": _envelope(protected=dcbor.encode(_protected(l4=_DROP))),
    "protected header without alg": _envelope(protected=dcbor.encode(_protected(l1=_DROP))),
    "other content type": _envelope(protected=dcbor.encode(_protected(l3="application/cbor"))),
    "content type as CoAP number": _envelope(protected=dcbor.encode(_protected(l3=60))),
    "alg ES384": _envelope(protected=dcbor.encode(_protected(l1=-35))),
    "alg as text": _envelope(protected=dcbor.encode(_protected(l1="EdDSA"))),
    "kid 8 bytes": _envelope(protected=dcbor.encode(_protected(l4=INDEPENDENT.kid[:8]))),
    "kid as text": _envelope(protected=dcbor.encode(_protected(l4=INDEPENDENT.kid.hex()))),
    "protected header keys out of order": _envelope(
        protected=bytes.fromhex("a3" + PROTECTED_HEX[6:-36] + "0127" + PROTECTED_HEX[-36:])
    ),
    "protected header non-minimal alg": _envelope(
        protected=bytes.fromhex("a3013807" + PROTECTED_HEX[6:])
    ),
    "protected header with trailing byte": _envelope(protected=bytes.fromhex(PROTECTED_HEX + "00")),
    "protected header is not CBOR": _envelope(protected=b"\xff\xff"),
    # unprotected header
    "unprotected kid (label 4)": _envelope(unprotected={4: INDEPENDENT.kid}),
    "unprotected alg (label 1)": _envelope(unprotected={1: -8}),
    "unprotected Countersignature0 (label 12)": _envelope(unprotected={12: b"\x00" * 64}),
    "unprotected label 11 plus another": _envelope(unprotected={11: _VALID_CS, 33: b""}),
    "unprotected header is an array": _envelope(unprotected=[]),
    "unprotected header non-minimal empty map": _SIGNED[:62] + b"\xb8\x00" + _SIGNED[63:],
    # payload and signature
    "detached payload (nil)": _envelope(payload=None, signature=bytes(64)),
    "payload as text": _envelope(payload="text", signature=bytes(64)),
    "payload as embedded CBOR map": _envelope(payload={1: 1}, signature=bytes(64)),
    "signature truncated to 63 bytes": _envelope(signature=bytes(63)),
    "signature empty": _envelope(signature=b""),
    "signature 65 bytes": _envelope(signature=bytes(65)),
    "signature as text": _envelope(signature="sig"),
}


@pytest.mark.parametrize(("case", "data"), MALFORMED.items())
def test_malformed_cose_is_rejected(case: str, data: bytes) -> None:
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(data)
    assert reason_of(exc) == Reason.MALFORMED_COSE, exc.value.message


def test_the_malformed_table_differs_from_valid_only_where_named() -> None:
    # Guard against a table entry that is malformed for an unintended reason: the helper
    # with no overrides builds the valid known-answer bundle.
    assert _envelope() == _SIGNED


def _nested(levels: int) -> dcbor.CborValue:
    value: dcbor.CborValue = b""
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("case", "unprotected", "limit_message"),
    [
        # tag 0, array 1, map 2, then the countersignature array: a byte string at level 6
        ("nested one level deeper than MAX_COSE_DEPTH", {11: _nested(3)}, "deeper than 5 levels"),
        # 8 items around the countersignature array, 65 in it: 73 data items
        ("one data item more than MAX_COSE_ITEMS", {11: [b""] * 65}, "more than 72 data items"),
    ],
)
def test_cose_limits_are_enforced_while_decoding(
    case: str, unprotected: dcbor.CborValue, limit_message: str
) -> None:
    # SPEC §4.1 Parsing, §11: the limits reject before the shape is looked at.
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(_envelope(unprotected=unprotected))
    assert reason_of(exc) == Reason.MALFORMED_COSE
    assert limit_message in exc.value.message


def test_cose_limits_admit_inputs_exactly_at_them() -> None:
    # Depth 5 and 72 items (the most a valid bundle has, SPEC §4.1) pass the decoder (and
    # fail later, on the countersignature shape).
    assert MAX_COSE_DEPTH == 5
    assert MAX_COSE_ITEMS == 72
    at_the_limits: list[dcbor.CborValue] = [{11: _nested(2)}, {11: [b""] * 64}]
    for unprotected in at_the_limits:
        with pytest.raises(VerificationError) as exc:
            parse_unverified_sign1(_envelope(unprotected=unprotected))
        assert "not deterministic CBOR" not in exc.value.message, exc.value.message


def test_malformed_messages_name_the_problem() -> None:
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(MALFORMED["protected header extra label (crit)"])
    assert "found labels [1, 2, 3, 4]" in exc.value.message
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(MALFORMED["detached payload (nil)"])
    assert "detached payload" in exc.value.message
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(MALFORMED["array of 5"])
    assert exc.value.message.endswith("payload, signature]; found an array of 5")
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(MALFORMED["kid 8 bytes"])
    assert exc.value.message == "COSE_Sign1 kid must be a 16-byte string; found a 8-byte string"
    with pytest.raises(VerificationError) as exc:
        parse_unverified_sign1(_envelope(unprotected={11: [b"", b""]}))
    assert exc.value.message.endswith("[protected, unprotected, signature]; found an array of 2")


def test_non_bytes_input_is_a_caller_error() -> None:
    with pytest.raises(TypeError):
        parse_unverified_sign1(SIGNED_HEX)  # type: ignore[arg-type]


def _verify_all(data: bytes) -> str | None:
    """The reason code with which ``data`` is rejected, or None if it verifies."""
    try:
        parsed = parse_unverified_sign1(data)
        verify_sign1(parsed, keys(INDEPENDENT))
        for cs in parsed.countersignatures:
            verify_countersignature(parsed, cs, keys(OPERATOR))
    except VerificationError as e:
        return e.reason
    return None


@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    assert _verify_all(data) in {Reason.MALFORMED_COSE, Reason.UNKNOWN_KEY}


@given(st.integers(min_value=0, max_value=len(COUNTERSIGNED_HEX) // 2 - 1), st.integers(1, 255))
def test_single_byte_corruption_is_rejected(position: int, flip: int) -> None:
    data = bytearray(bytes.fromhex(COUNTERSIGNED_HEX))
    data[position] ^= flip
    assert _verify_all(bytes(data)) in {
        Reason.MALFORMED_COSE,
        Reason.BAD_INDEPENDENT_SIGNATURE,
        Reason.BAD_COUNTERSIGNATURE,
        Reason.UNKNOWN_KEY,
        Reason.ALG_MISMATCH,
    }


def test_the_known_answer_verifies_through_the_helper() -> None:
    assert _verify_all(bytes.fromhex(COUNTERSIGNED_HEX)) is None


# --- protected headers: compared as bytes, with the decoder deciding everything else ---------


def _sign1_header_as_decoded(data: bytes) -> object:
    """What the profile makes of ``data``, read through the decoder: (alg, kid) or a reason."""
    try:
        header = dcbor.decode(data, max_size=256, max_depth=4, max_items=32)
    except VerificationError:
        return Reason.MALFORMED_COSE
    if not isinstance(header, dict) or set(header) != {1, 3, 4}:
        return Reason.MALFORMED_COSE
    alg, kid = header[1], header[4]
    if type(alg) is not int or alg not in (-8, -7) or header[3] != CONTENT_TYPE:
        return Reason.MALFORMED_COSE
    if not isinstance(kid, bytes) or len(kid) != 16:
        return Reason.MALFORMED_COSE
    return alg, kid


@given(
    st.tuples(st.sampled_from([-8, -7, -35, 1, 0]), st.binary(min_size=15, max_size=17)),
    st.sampled_from([CONTENT_TYPE, "application/cbor"]),
    st.tuples(st.integers(0, 80), st.integers(0, 255), st.integers(0, 2)),
)
def test_sign1_protected_header_is_read_as_its_decoding_says(
    fields: tuple[int, bytes], content_type: str, edit: tuple[int, int, int]
) -> None:
    from keybundle import cose

    good = dcbor.encode({1: fields[0], 3: content_type, 4: fields[1]})
    position, byte, cut = edit[0] % len(good), edit[1], edit[2]
    changed = good[:position] + bytes([byte]) + good[position + 1 :]
    for data in (good, changed[: len(changed) - cut]):
        try:
            alg, _, kid, protected = cose._parse_protected(data)
            got: object = (alg, kid)
            assert protected == data
        except VerificationError as e:
            got = e.reason
        assert got == _sign1_header_as_decoded(data)


def _both_paths(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """parse_unverified_sign1 with its one-countersignature fast path, and without it."""

    def outcome() -> object:
        try:
            return parse_unverified_sign1(data)
        except VerificationError as e:
            return (e.reason, e.message)

    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(cose, "_parse_one_countersigned", lambda _data: None)
        exact = outcome()
    return fast, exact


def _mutations(data: bytes) -> list[bytes]:
    out = [data[:n] for n in range(len(data))] + [data + b"\x00"]
    for i in range(len(data)):
        for flip in (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80):
            out.append(data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :])
    return out


def test_one_countersignature_fast_path_agrees_with_the_exact_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every single-bit flip, truncation and extension of a countersigned bundle (Ed25519
    and ES256 signers) parses to the same Sign1, or the same error, on both paths."""
    bundles = [
        bytes.fromhex(COUNTERSIGNED_HEX),
        countersign(sign1(PAYLOAD, P256Signer.generate()), OPERATOR),
        countersign(countersign(sign1(PAYLOAD, INDEPENDENT), OPERATOR), P256Signer.generate()),
    ]
    accepted = 0
    for bundle in bundles:
        for data in _mutations(bundle):
            fast, exact = _both_paths(data, monkeypatch)
            assert fast == exact, data.hex()
            accepted += isinstance(fast, Sign1)
    assert accepted > len(bundles)  # flips inside the signatures and payload still parse


def test_fast_path_gives_way_on_non_shortest_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A payload length written with a longer head than needed: cbor2 reads it, the size
    proof fails, and the exact parser rejects it as MALFORMED_COSE."""
    data = bytes.fromhex(COUNTERSIGNED_HEX)
    short_head = bytes.fromhex("56") + PAYLOAD  # bstr(22)
    assert data.count(short_head) == 1
    long_head = data.replace(short_head, bytes.fromhex("5816") + PAYLOAD)
    fast, exact = _both_paths(long_head, monkeypatch)
    assert fast == exact
    assert isinstance(fast, tuple)
    assert fast[0] == Reason.MALFORMED_COSE
