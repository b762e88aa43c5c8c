"""keybundle.payload: the bundle payload of SPEC §3.2 and FLEET.json."""

from __future__ import annotations

import base64
import string
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from hypothesis import given
from hypothesis import strategies as st

from keybundle import dcbor
from keybundle.errors import Reason, VerificationError
from keybundle.payload import (
    MAX_EPOCH,
    MAX_KEYS,
    MAX_PAYLOAD_BYTES,
    MAX_TIME,
    BundlePayload,
    FleetKey,
    key_fingerprint,
    parse_payload,
    payload_from_json,
    payload_to_json,
    signed_bundle_digest,
)

# Fixed keys: derived from fixed private keys, so the vectors below never change.
X25519_KEY = (
    x25519.X25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().public_bytes_raw()
)
ED25519_KEY = (
    ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
    .public_key()
    .public_bytes_raw()
)
P256_KEY = (
    ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)


def ed_key(id_: str = "hsm-01.ed25519") -> FleetKey:
    return FleetKey(id_, "ed25519", ED25519_KEY, "signing")


def x_key(id_: str = "hsm-01.x25519") -> FleetKey:
    return FleetKey(id_, "x25519", X25519_KEY, "key-agreement")


VECTOR_EPOCH_2 = BundlePayload(
    version=1,
    fleet_id="prod-eu.vault",
    epoch=2,
    previous_digest=bytes(range(32)),
    issued_at=1_750_000_000,
    not_before=1_750_000_000,
    not_after=1_781_536_000,
    keys=(ed_key(), x_key()),
)
VECTOR_EPOCH_2_HEX = "".join(
    [
        "a8",  # map(8)
        "0101",  # 1: version 1
        "02" + "6d" + "70726f642d65752e7661756c74",  # 2: "prod-eu.vault"
        "0302",  # 3: epoch 2
        "04" + "5820" + bytes(range(32)).hex(),  # 4: previous digest, bstr(32)
        "05" + "1a684ee180",  # 5: issued_at 1750000000
        "06" + "1a684ee180",  # 6: not_before 1750000000
        "07" + "1a6a301500",  # 7: not_after 1781536000
        "08" + "82",  # 8: keys, array(2), sorted by key id
        "a4",
        "01" + "6e" + "68736d2d30312e65643235353139",  # 1: "hsm-01.ed25519"
        "02" + "67" + "65643235353139",  # 2: "ed25519"
        "03" + "5820" + "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7",
        "04" + "67" + "7369676e696e67",  # 4: "signing"
        "a4",
        "01" + "6d" + "68736d2d30312e783235353139",  # 1: "hsm-01.x25519"
        "02" + "66" + "783235353139",  # 2: "x25519"
        "03" + "5820" + "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f",
        "04" + "6d" + "6b65792d61677265656d656e74",  # 4: "key-agreement"
    ]
)

VECTOR_EPOCH_1 = BundlePayload(
    1, "a", 1, None, 0, 0, 0, (FleetKey("k", "p256-ecdh", P256_KEY, "key-agreement"),)
)
VECTOR_EPOCH_1_HEX = "".join(
    [
        "a7",  # map(7): no field 4 at epoch 1
        "0101",
        "02" + "6161",  # "a"
        "0301",  # epoch 1
        "0500" + "0600" + "0700",  # times 0
        "08" + "81",
        "a4",
        "01" + "616b",  # "k"
        "02" + "69" + "703235362d65636468",  # "p256-ecdh"
        "03" + "5841" + "04"
        "9fad84aeae08bbef7f010014d82cef6a09de2b0cf871b5ce0c4f1d13a59a5934"
        "07cb45769f1070e2c2470fe5b1bfe63133c0b0cdc64ea4bf3791a8ec2a07fd4f",
        "04" + "6d" + "6b65792d61677265656d656e74",
    ]
)


@pytest.mark.parametrize(
    ("payload", "hex_"),
    [(VECTOR_EPOCH_2, VECTOR_EPOCH_2_HEX), (VECTOR_EPOCH_1, VECTOR_EPOCH_1_HEX)],
    ids=["epoch 2 with digest", "epoch 1 P-256"],
)
def test_byte_exact_vector(payload: BundlePayload, hex_: str) -> None:
    assert payload.encode().hex() == hex_
    assert parse_payload(bytes.fromhex(hex_)) == payload


def test_fixed_keys_are_the_vectors_keys() -> None:
    assert X25519_KEY.hex() == "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f"
    assert ED25519_KEY.hex() == "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"


# --- round trips --------------------------------------------------------------------------------

KEY_POOL = {
    "x25519": [
        x25519.X25519PrivateKey.generate().public_key().public_bytes_raw() for _ in range(4)
    ],
    "ed25519": [
        ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw() for _ in range(4)
    ],
    "p256-ecdh": [
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        for _ in range(4)
    ],
}
KEY_POOL["p256-ecdsa"] = KEY_POOL["p256-ecdh"]
USAGE = {
    "x25519": "key-agreement",
    "ed25519": "signing",
    "p256-ecdh": "key-agreement",
    "p256-ecdsa": "signing",
}

key_ids = st.text(string.ascii_letters + string.digits + "._:-", min_size=0, max_size=20).map(
    lambda s: "k" + s
)
fleet_ids = st.text(string.ascii_lowercase + string.digits + "._-", max_size=63).map(
    lambda s: "f" + s
)


@st.composite
def payloads(draw: st.DrawFn) -> BundlePayload:
    entries = draw(
        st.lists(
            st.tuples(key_ids, st.sampled_from(sorted(KEY_POOL)), st.integers(0, 3)),
            min_size=1,
            max_size=8,
            unique_by=(lambda e: e[0], lambda e: (e[1].split("-")[0], e[2])),
        )
    )
    keys = tuple(
        FleetKey(key_id, algorithm, KEY_POOL[algorithm][index], USAGE[algorithm])
        for key_id, algorithm, index in sorted(entries)
    )
    epoch = draw(st.integers(1, 3) | st.integers(1, MAX_EPOCH))
    times = sorted(draw(st.lists(st.integers(0, MAX_TIME), min_size=3, max_size=3)))
    issued, not_before = draw(st.permutations(times[:2]))
    return BundlePayload(
        version=1,
        fleet_id=draw(fleet_ids),
        epoch=epoch,
        previous_digest=None if epoch == 1 else draw(st.binary(min_size=32, max_size=32)),
        issued_at=issued,
        not_before=not_before,
        not_after=times[2],
        keys=keys,
    )


@given(payloads())
def test_round_trip_through_bytes(payload: BundlePayload) -> None:
    data = payload.encode()
    parsed = parse_payload(data)
    assert parsed == payload
    assert parsed.encode() == data


@given(payloads())
def test_round_trip_through_fleet_json(payload: BundlePayload) -> None:
    assert payload_from_json(payload_to_json(payload)) == payload


# --- schema negatives: MALFORMED_BUNDLE --------------------------------------------------------


def raw(payload: BundlePayload = VECTOR_EPOCH_2) -> dict[Any, Any]:
    """The payload as a plain map, to be broken by a test and re-encoded."""
    value = dcbor.decode(payload.encode())
    assert isinstance(value, dict)
    return value


def assert_reason(value: object, reason: Reason) -> VerificationError:
    data = value if isinstance(value, bytes) else dcbor.encode(value)  # type: ignore[arg-type]
    with pytest.raises(VerificationError) as info:
        parse_payload(data)
    assert info.value.reason == reason, info.value.message
    return info.value


def without(mapping: dict[Any, Any], key: Any) -> dict[Any, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def with_(mapping: dict[Any, Any], **changes: Any) -> dict[Any, Any]:
    return {**mapping, **{int(k[1:]): v for k, v in changes.items()}}


def key_entry(index: int = 0, **changes: Any) -> dict[Any, Any]:
    return with_(raw()[8][index], **changes)


BAD_BUNDLES: dict[str, Any] = {
    "top level is an array": [1, 2],
    **{f"missing field {k}": without(raw(), k) for k in (1, 2, 3, 5, 6, 7, 8)},
    "unknown field 9": with_(raw(), f9=0),
    "unknown field 0": with_(raw(), f0=0),
    "unknown text field": {**raw(), "x": 0},
    "version 2": with_(raw(), f1=2),
    "version 0": with_(raw(), f1=0),
    "version as text": with_(raw(), f1="1"),
    "epoch 0": with_(raw(VECTOR_EPOCH_1), f3=0),
    "epoch beyond 2^53 - 1": with_(raw(), f3=MAX_EPOCH + 1),
    "negative epoch": with_(raw(), f3=-1),
    "epoch as boolean": with_(raw(VECTOR_EPOCH_1), f3=True),
    "missing previous digest at epoch 2": without(raw(), 4),
    "previous digest at epoch 1": with_(raw(VECTOR_EPOCH_1), f4=bytes(32)),
    "null previous digest at epoch 1": with_(raw(VECTOR_EPOCH_1), f4=None),
    "31-byte previous digest": with_(raw(), f4=bytes(31)),
    "33-byte previous digest": with_(raw(), f4=bytes(33)),
    "previous digest as hex text": with_(raw(), f4="00" * 32),
    "not_before after not_after": with_(raw(), f6=1_781_536_001),
    "issued_at after not_after": with_(raw(), f5=1_781_536_001),
    "time beyond 9999": with_(raw(), f7=MAX_TIME + 1),
    "negative time": with_(raw(), f5=-1),
    "no keys": with_(raw(), f8=[]),
    "keys as a map": with_(raw(), f8={1: key_entry()}),
    "key entry as an array": with_(raw(), f8=[[1, 2, 3, 4]]),
    "too many keys": with_(raw(), f8=[key_entry(0, f1=f"k{i:03d}") for i in range(MAX_KEYS + 1)]),
    "duplicate key ids": with_(raw(), f8=[key_entry(0), key_entry(1, f1="hsm-01.ed25519")]),
    "keys not sorted by id": with_(raw(), f8=[key_entry(1), key_entry(0)]),
    "duplicate public keys": with_(raw(), f8=[key_entry(0), key_entry(0, f1="hsm-02.ed25519")]),
    **{
        f"key entry missing field {k}": with_(raw(), f8=[without(key_entry(0), k), key_entry(1)])
        for k in (1, 2, 3, 4)
    },
    "key entry text key": with_(raw(), f8=[{**key_entry(0), "x": 1}, key_entry(1)]),
    "key entry unknown field 5": with_(raw(), f8=[key_entry(0, f5=0), key_entry(1)]),
    "key id as bytes": with_(raw(), f8=[key_entry(0, f1=b"hsm"), key_entry(1)]),
    "empty key id": with_(raw(), f8=[key_entry(0, f1=""), key_entry(1)]),
    "key id with a space": with_(raw(), f8=[key_entry(0, f1="hsm 01"), key_entry(1)]),
    "key id starting with a hyphen": with_(raw(), f8=[key_entry(0, f1="-hsm"), key_entry(1)]),
    "key id with non-ASCII": with_(raw(), f8=[key_entry(0, f1="hsm-\u00e9"), key_entry(1)]),
    "key id with a final newline": with_(raw(), f8=[key_entry(0, f1="hsm\n"), key_entry(1)]),
    "65-character key id": with_(raw(), f8=[key_entry(0, f1="k" * 65), key_entry(1)]),
    "unknown algorithm": with_(raw(), f8=[key_entry(0, f2="ed448"), key_entry(1)]),
    "algorithm in upper case": with_(raw(), f8=[key_entry(0, f2="ED25519"), key_entry(1)]),
    "usage inconsistent with algorithm": with_(
        raw(), f8=[key_entry(0, f4="key-agreement"), key_entry(1)]
    ),
    "unknown usage": with_(raw(), f8=[key_entry(0, f4="encryption"), key_entry(1)]),
    "public key as text": with_(raw(), f8=[key_entry(0, f3="AAAA"), key_entry(1)]),
    "empty fleet id": with_(raw(), f2=""),
    "fleet id in upper case": with_(raw(), f2="Prod"),
    "fleet id starting with a dot": with_(raw(), f2=".prod"),
    "fleet id with a final newline": with_(raw(), f2="prod\n"),
    "fleet id with a slash": with_(raw(), f2="prod/eu"),
    "fleet id with non-ASCII": with_(raw(), f2="prød"),
    "65-character fleet id": with_(raw(), f2="f" * 65),
    "fleet id as bytes": with_(raw(), f2=b"prod"),
}


@pytest.mark.parametrize("value", BAD_BUNDLES.values(), ids=list(BAD_BUNDLES))
def test_rejects_payload_outside_the_schema(value: Any) -> None:
    assert_reason(value, Reason.MALFORMED_BUNDLE)


def test_schema_messages_say_what_is_wrong() -> None:
    message = assert_reason(without(raw(), 3), Reason.MALFORMED_BUNDLE).message
    assert message == "payload lacks required field 3 (epoch)"
    message = assert_reason(without(raw(), 4), Reason.MALFORMED_BUNDLE).message
    assert message == "epoch 2 must carry the digest of the fleet's epoch-1 bundle"
    message = assert_reason(BAD_BUNDLES["duplicate key ids"], Reason.MALFORMED_BUNDLE).message
    assert "duplicate key id 'hsm-01.ed25519'" in message


# --- fleet keys: INVALID_FLEET_KEY --------------------------------------------------------------

BAD_KEYS = {
    "small-order X25519 key": ("x25519", bytes(32)),
    "non-canonical X25519 key": ("x25519", b"\xff" * 32),
    "Ed25519 identity point": ("ed25519", b"\x01" + bytes(31)),
    "short Ed25519 key": ("ed25519", ED25519_KEY[:31]),
    "compressed P-256 key": ("p256-ecdsa", b"\x02" + P256_KEY[1:33]),
    "P-256 point off the curve": ("p256-ecdh", P256_KEY[:-1] + bytes([P256_KEY[-1] ^ 1])),
}


@pytest.mark.parametrize(("algorithm", "key"), BAD_KEYS.values(), ids=list(BAD_KEYS))
def test_rejects_invalid_fleet_keys(algorithm: str, key: bytes) -> None:
    entry = key_entry(0, f1="k", f2=algorithm, f3=key, f4=USAGE[algorithm])
    error = assert_reason(with_(raw(), f8=[entry]), Reason.INVALID_FLEET_KEY)
    assert error.message.startswith(f"key 'k': {algorithm} public key: ")


# --- encoding negatives: MALFORMED_CBOR ---------------------------------------------------------


def test_truncation_at_every_offset_is_malformed_cbor() -> None:
    data = VECTOR_EPOCH_2.encode()
    for end in range(len(data)):
        assert_reason(data[:end], Reason.MALFORMED_CBOR)


@pytest.mark.parametrize(
    "data",
    [
        VECTOR_EPOCH_2.encode() + b"\x00",
        bytes.fromhex("a8" + "0201" + VECTOR_EPOCH_2_HEX[2:6])
        + bytes.fromhex(VECTOR_EPOCH_2_HEX)[3:],
        bytes.fromhex(VECTOR_EPOCH_2_HEX.replace("0302", "031802", 1)),
        b"\xbf" + VECTOR_EPOCH_2.encode()[1:] + b"\xff",
        b"\x5a" + MAX_PAYLOAD_BYTES.to_bytes(4, "big") + bytes(MAX_PAYLOAD_BYTES),
        dcbor.encode(with_(raw(), f9=[[[0]]])),  # nested deeper than the payload's depth 3
        dcbor.encode(dcbor.Tag(18, raw())),  # no tags in a payload
    ],
    ids=[
        "trailing byte",
        "unsorted keys",
        "non-minimal epoch",
        "indefinite map",
        "oversized",
        "too deep",
        "tagged",
    ],
)
def test_rejects_non_deterministic_encodings(data: bytes) -> None:
    assert_reason(data, Reason.MALFORMED_CBOR)


# --- constructors: caller mistakes are ValueError/TypeError --------------------------------------


def test_constructors_check_their_fields() -> None:
    with pytest.raises(ValueError, match="must carry the digest"):
        BundlePayload(1, "prod", 2, None, 0, 0, 0, (ed_key(),))
    with pytest.raises(ValueError, match="usage of an ed25519 key must be 'signing'"):
        FleetKey("k", "ed25519", ED25519_KEY, "key-agreement")
    with pytest.raises(ValueError, match="small order"):
        FleetKey("k", "x25519", bytes(32), "key-agreement")
    with pytest.raises(ValueError, match="out-of-order key id"):
        BundlePayload(1, "prod", 1, None, 0, 0, 0, (x_key(), ed_key()))
    with pytest.raises(TypeError):
        BundlePayload(1, "prod", 1, None, 0, 0, 0, [ed_key()])  # type: ignore[arg-type]


def test_key_lookup_and_fingerprints() -> None:
    assert VECTOR_EPOCH_2.key("hsm-01.x25519") == x_key()
    with pytest.raises(KeyError):
        VECTOR_EPOCH_2.key("missing")
    assert key_fingerprint(b"") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert x_key().fingerprint == key_fingerprint(X25519_KEY)
    assert signed_bundle_digest(b"") == bytes.fromhex(key_fingerprint(b""))


# --- FLEET.json ---------------------------------------------------------------------------------

FLEET_JSON: dict[str, Any] = {
    "fleet": "prod-eu.vault",
    "epoch": 2,
    "previous_digest": bytes(range(32)).hex(),
    "issued_at": "2025-06-15T15:06:40Z",
    "not_before": 1_750_000_000,
    "not_after": "2026-06-15T15:06:40Z",
    "keys": [
        {
            "id": "hsm-01.x25519",
            "algorithm": "x25519",
            "public_key_base64": base64.b64encode(X25519_KEY).decode(),
        },
        {
            "id": "hsm-01.ed25519",
            "algorithm": "ed25519",
            "usage": "signing",
            "public_key_hex": ED25519_KEY.hex().upper(),
        },
    ],
}


def test_fleet_json_builds_the_vector() -> None:
    assert payload_from_json(FLEET_JSON) == VECTOR_EPOCH_2
    assert payload_from_json(FLEET_JSON).encode().hex() == VECTOR_EPOCH_2_HEX


def fleet_json(**changes: Any) -> dict[str, Any]:
    document = {**FLEET_JSON, **changes}
    return {k: v for k, v in document.items() if v is not ...}


def key_json(index: int, **changes: Any) -> list[dict[str, Any]]:
    keys = [dict(k) for k in FLEET_JSON["keys"]]
    keys[index].update(changes)
    keys[index] = {k: v for k, v in keys[index].items() if v is not ...}
    return keys


b64 = FLEET_JSON["keys"][0]["public_key_base64"]
BAD_JSON: dict[str, tuple[Any, str]] = {
    "not an object": ([], "must hold a JSON object"),
    "unknown field": (fleet_json(epock=2), "unknown field(s) 'epock'"),
    "missing fleet": (fleet_json(fleet=...), "lacks the required field 'fleet'"),
    "epoch as text": (fleet_json(epoch="2"), "epoch must be an integer"),
    "epoch 0": (fleet_json(epoch=0, previous_digest=None), "epoch must be in 1.."),
    "digest too short": (fleet_json(previous_digest="00" * 31), "64 hex digits"),
    "digest with spaces": (fleet_json(previous_digest="00 " * 32), "hex digit pairs"),
    "digest missing at epoch 2": (fleet_json(previous_digest=None), "must carry the digest"),
    "bad month": (fleet_json(issued_at="2025-13-01T00:00:00Z"), "issued_at must be Unix"),
    "leap second": (fleet_json(issued_at="2025-06-30T23:59:60Z"), "issued_at must be Unix"),
    "time with offset": (fleet_json(not_after="2026-06-15T15:06:40+00:00"), "not_after must"),
    "time as float": (fleet_json(not_before=1.5), "not_before must be Unix"),
    "keys as object": (fleet_json(keys={}), "keys must be a JSON array"),
    "key not an object": (fleet_json(keys=["k"]), "keys[0] must be a JSON object"),
    "unknown key field": (fleet_json(keys=key_json(1, kid="x")), "keys[1] has unknown field"),
    "both encodings": (fleet_json(keys=key_json(0, public_key_hex="00")), "exactly one of"),
    "no encoding": (fleet_json(keys=key_json(0, public_key_base64=...)), "exactly one of"),
    "base64 without padding": (
        fleet_json(keys=key_json(0, public_key_base64=b64.rstrip("="))),
        "keys[0].public_key_base64 is not valid base64",
    ),
    "base64 with spare bits": (
        fleet_json(keys=key_json(0, public_key_base64=b64[:-2] + "B=")),
        "not canonical base64",
    ),
    "URL-safe base64": (
        fleet_json(keys=key_json(0, public_key_base64="-" + b64[1:])),
        "base64",
    ),
    "odd hex": (fleet_json(keys=key_json(1, public_key_hex="abc")), "hex digit pairs"),
    "small-order key": (
        fleet_json(keys=key_json(0, public_key_base64=base64.b64encode(bytes(32)).decode())),
        "keys[0]: key 'hsm-01.x25519': x25519 public key: u-coordinate is a point of small order",
    ),
    "wrong usage": (fleet_json(keys=key_json(1, usage="key-agreement")), "keys[1]: key"),
    "unknown algorithm": (fleet_json(keys=key_json(1, algorithm="rsa")), "algorithm must be"),
    "duplicate ids": (fleet_json(keys=key_json(1, id="hsm-01.x25519")), "duplicate key id"),
    "bad fleet id": (fleet_json(fleet="Prod EU"), "fleet id 'Prod EU' must be"),
}


@pytest.mark.parametrize(("document", "message"), BAD_JSON.values(), ids=list(BAD_JSON))
def test_fleet_json_mistakes_are_value_errors_naming_the_field(document: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 (the message is checked below)
        payload_from_json(document)
    assert message in str(info.value)


def _parse_both_ways(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """parse_payload with its fast paths (the one-walk parse of a valid payload, the
    small-payload decoding), and with dcbor.decode and the full checks only."""
    from keybundle import payload as payload_module

    def outcome() -> object:
        try:
            return parse_payload(data)
        except VerificationError as e:
            return (e.reason, e.message)

    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(payload_module, "_decode_small_payload", lambda _data: None)
        m.setattr(payload_module, "_parse_valid_payload", lambda _data: None)
        exact = outcome()
    return fast, exact


@given(payloads())
def test_valid_payloads_take_the_one_walk_path(payload: BundlePayload) -> None:
    """Every valid payload of up to 8 keys of any algorithm, epoch and times is parsed by
    the one-walk path, to the value the full checks build."""
    from keybundle import payload as payload_module

    data = payload.encode()
    assert payload_module._parse_valid_payload(data) == payload
    assert parse_payload(data) == payload


@given(payloads(), st.data())
def test_one_walk_path_agrees_with_the_full_checks_on_mutations(
    payload: BundlePayload, data: st.DataObject
) -> None:
    """A generated payload with one byte replaced, inserted or removed: the one-walk path
    accepts it only as the value the full checks accept (and otherwise gives way)."""
    from keybundle import payload as payload_module

    encoded = payload.encode()
    i = data.draw(st.integers(0, len(encoded) - 1))
    byte = bytes([data.draw(st.integers(0, 255))])
    variant = data.draw(
        st.sampled_from(
            [
                encoded[:i] + byte + encoded[i + 1 :],
                encoded[:i] + byte + encoded[i:],
                encoded[:i] + encoded[i + 1 :],
            ]
        )
    )
    fast = payload_module._parse_valid_payload(variant)
    if fast is None:
        return
    with pytest.MonkeyPatch.context() as m:
        m.setattr(payload_module, "_decode_small_payload", lambda _data: None)
        m.setattr(payload_module, "_parse_valid_payload", lambda _data: None)
        assert parse_payload(variant) == fast


def test_small_payload_decoding_agrees_with_dcbor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every single-bit flip, truncation and extension of real payloads (epoch 1 and a later
    epoch with a previous digest; Ed25519 and X25519 keys) parses to the same payload,
    or fails with the same reason and message, with and without the fast decoding."""
    from tests.keybundle.world import World, fleet_keys

    world = World()
    payloads = [
        world.bundle("fleet-a", 1),
        world.bundle("fleet-b", 1, keys=fleet_keys("fleet-b", 1, count=1)),
    ]
    world.publish("fleet-a", 1)
    payloads.append(world.bundle("fleet-a", 2))
    accepted = 0
    for data in payloads:
        variants = [data[:n] for n in range(len(data))] + [data + b"\x00", data + data]
        for i in range(len(data)):
            variants += [data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :] for b in range(8)]
        for variant in variants:
            fast, exact = _parse_both_ways(variant, monkeypatch)
            assert fast == exact, variant.hex()
            accepted += isinstance(fast, BundlePayload)
    assert accepted > len(payloads)


def test_small_payload_decoding_gives_way_on_a_long_head(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An epoch written with a two-byte head where one suffices decodes in cbor2, fails the
    size proof, and is rejected by dcbor as MALFORMED_CBOR."""
    from tests.keybundle.world import World

    data = World().bundle("fleet-a", 1)
    epoch_field = bytes.fromhex("0301")  # key 3 (epoch): 1
    assert epoch_field in data
    fast, exact = _parse_both_ways(
        data.replace(epoch_field, bytes.fromhex("031801"), 1), monkeypatch
    )
    assert fast == exact
    assert isinstance(fast, tuple)
    assert fast[0] == Reason.MALFORMED_CBOR
