"""keybundle.fleetkeys: fleet public key validation (SPEC §3.3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from keybundle import fleetkeys
from keybundle.errors import Reason, VerificationError
from keybundle.fleetkeys import validate_fleet_key

P = 2**255 - 19
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1


def le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def assert_invalid(algorithm: str, public_key: bytes) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        validate_fleet_key(algorithm, public_key)
    assert info.value.reason == Reason.INVALID_FLEET_KEY
    assert info.value.message.startswith(f"{algorithm} public key: ")
    return info.value


def x25519_key() -> bytes:
    return x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()


def ed25519_key() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()


def p256_key() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


@pytest.mark.parametrize(
    ("algorithm", "make"),
    [
        ("x25519", x25519_key),
        ("ed25519", ed25519_key),
        ("p256-ecdh", p256_key),
        ("p256-ecdsa", p256_key),
    ],
)
def test_accepts_generated_keys(algorithm: str, make: Callable[[], bytes]) -> None:
    for _ in range(20):
        validate_fleet_key(algorithm, make())


# --- X25519 -------------------------------------------------------------------------------------

X25519_SMALL_ORDER = {
    "u = 0 (order 2)": 0,
    "u = 1 (order 4)": 1,
    "order 8, first": 325606250916557431795983626356110631294008115727848805560023387167927233504,
    "order 8, second": (
        39382357235489614581723060781553021112529911719440698176882885853963445705823
    ),
    "u = p - 1 (twist, order 4)": P - 1,
}


@pytest.mark.parametrize("u", X25519_SMALL_ORDER.values(), ids=list(X25519_SMALL_ORDER))
def test_x25519_rejects_small_order_u(u: int) -> None:
    error = assert_invalid("x25519", le(u))
    assert "small order" in error.message
    # Independent check that the list is right: X25519 with it gives the all-zero secret,
    # which OpenSSL refuses.
    peer = x25519.X25519PublicKey.from_public_bytes(le(u))
    with pytest.raises(ValueError):  # noqa: PT011 (cryptography's error for a zero secret)
        x25519.X25519PrivateKey.generate().exchange(peer)


X25519_NON_CANONICAL = {
    "u = p": P,
    "u = p + 1": P + 1,
    "u = 2^255 - 1": 2**255 - 1,
    "bit 255 set on u = 9": 2**255 + 9,
    "u = 2^256 - 1": 2**256 - 1,
}


@pytest.mark.parametrize("u", X25519_NON_CANONICAL.values(), ids=list(X25519_NON_CANONICAL))
def test_x25519_rejects_non_canonical_u(u: int) -> None:
    assert "non-canonical" in assert_invalid("x25519", le(u)).message


def test_x25519_rejects_a_valid_key_with_bit_255_set() -> None:
    key = bytearray(x25519_key())
    key[31] |= 0x80
    assert_invalid("x25519", bytes(key))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_x25519_rejects_wrong_length(length: int) -> None:
    assert (
        f"expected 32 bytes, found {length}" in assert_invalid("x25519", b"\x09" * length).message
    )


# --- Ed25519 ------------------------------------------------------------------------------------

# The eight points of order dividing 8 (the torsion subgroup), canonically encoded.
ED25519_SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
]


@pytest.mark.parametrize("hex_", ED25519_SMALL_ORDER)
def test_ed25519_rejects_the_eight_small_order_points(hex_: str) -> None:
    point = bytes.fromhex(hex_)
    assert _torsion_order(point) in (1, 2, 4, 8)
    assert_invalid("ed25519", point)


ED25519_NON_CANONICAL = {
    "y = p": le(P),
    "y = p + 1 (identity again)": le(P + 1),
    "y = 2^255 - 1": le(2**255 - 1),
    "y = p, sign bit set": le(P + 2**255),
    "y = p + 1, sign bit set": le(P + 1 + 2**255),
    "identity with sign bit (x = 0)": le(1 + 2**255),
    "order-2 point with sign bit (x = 0)": le(P - 1 + 2**255),
}


@pytest.mark.parametrize("key", ED25519_NON_CANONICAL.values(), ids=list(ED25519_NON_CANONICAL))
def test_ed25519_rejects_non_canonical_encodings(key: bytes) -> None:
    assert_invalid("ed25519", key)


def test_ed25519_rejects_y_with_no_point_on_the_curve() -> None:
    y = next(y for y in range(2, 100) if _recover_x(y) is None)
    assert "does not decode" in assert_invalid("ed25519", le(y)).message


def test_ed25519_rejects_mixed_order_points() -> None:
    # A valid key plus a point of order 8: on the curve, not of small order, but outside the
    # prime-order subgroup (libsodium's crypto_core_ed25519_is_valid_point rule).
    key = _decode(ed25519_key())
    torsion = _decode(bytes.fromhex(ED25519_SMALL_ORDER[4]))
    assert_invalid("ed25519", _encode(fleetkeys._ed25519_add(key, torsion)))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_ed25519_rejects_wrong_length(length: int) -> None:
    assert_invalid("ed25519", b"\x01" * length)


def test_python_ed25519_check_agrees_with_libsodium() -> None:
    key = _decode(ed25519_key())
    torsion = _decode(bytes.fromhex(ED25519_SMALL_ORDER[4]))
    cases = [
        *(bytes.fromhex(h) for h in ED25519_SMALL_ORDER),
        *ED25519_NON_CANONICAL.values(),
        _encode(fleetkeys._ed25519_add(key, torsion)),
        *(le(y) for y in range(2, 12)),
        *(ed25519_key() for _ in range(3)),
    ]
    for case in cases:
        assert fleetkeys._ed25519_is_valid_point_python(case) == (
            fleetkeys._libsodium_is_valid_point(case)
        ), case.hex()


def _recover_x(y: int) -> int | None:
    d = fleetkeys._ED25519_D
    x2 = (y * y - 1) * pow(d * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * fleetkeys._SQRT_MINUS_ONE % P
    return None if (x * x - x2) % P else x


def _decode(encoded: bytes) -> tuple[int, int]:
    value = int.from_bytes(encoded, "little")
    y, sign = value % 2**255, value >> 255
    x = _recover_x(y)
    assert x is not None
    return (P - x if x & 1 != sign else x) % P, y


def _encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return le(y | (x & 1) << 255)


def _torsion_order(encoded: bytes) -> int:
    point, order = _decode(encoded), 1
    multiple = point
    while multiple != (0, 1):
        multiple, order = fleetkeys._ed25519_add(multiple, point), order + 1
    return order


# --- P-256 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["p256-ecdh", "p256-ecdsa"])
def test_p256_rejects_other_encodings_and_invalid_points(algorithm: str) -> None:
    key = p256_key()
    x, y = int.from_bytes(key[1:33], "big"), int.from_bytes(key[33:], "big")
    compressed = bytes([2 + (y & 1)]) + key[1:33]
    cases = {
        "compressed form": compressed,
        "hybrid form (06/07)": bytes([6 + (y & 1)]) + key[1:],
        "identity (00)": b"\x00",
        "raw X || Y without prefix": key[1:],
        "empty": b"",
        "one byte short": key[:-1],
        "one byte long": key + b"\x00",
        "off the curve": key[:-1] + bytes([key[-1] ^ 1]),
        "(0, 0)": b"\x04" + bytes(64),
        "x + p (not reduced)": b"\x04" + (x + P256_P).to_bytes(33, "big")[1:] + key[33:],
        "y = p (not reduced)": b"\x04" + key[1:33] + P256_P.to_bytes(32, "big"),
    }
    if x + P256_P >= 2**256:
        del cases["x + p (not reduced)"]
    for name, public_key in cases.items():
        with pytest.raises(VerificationError) as info:
            validate_fleet_key(algorithm, public_key)
        assert info.value.reason == Reason.INVALID_FLEET_KEY, name


def test_p256_rejects_unreduced_coordinate_with_a_clear_message() -> None:
    key = b"\x04" + P256_P.to_bytes(32, "big") + bytes(32)
    assert "not reduced" in assert_invalid("p256-ecdh", key).message


# --- caller mistakes ----------------------------------------------------------------------------


def test_unknown_algorithm_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="unknown fleet key algorithm"):
        validate_fleet_key("rsa", b"\x00" * 32)


def test_public_key_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        validate_fleet_key("x25519", bytearray(32))  # type: ignore[arg-type]


def test_remembered_ed25519_verdicts_stay_verdicts() -> None:
    # The libsodium check is cached per key; a cached key gets the same answer again, an
    # invalid one included, and the cache stays bounded.
    valid = ed25519_key()
    torsion = _decode(bytes.fromhex(ED25519_SMALL_ORDER[4]))
    mixed = _encode(fleetkeys._ed25519_add(_decode(valid), torsion))
    for _ in range(3):
        validate_fleet_key("ed25519", valid)
        assert_invalid("ed25519", mixed)
    for i in range(fleetkeys._VALID_POINT_CACHE + 10):
        fleetkeys._libsodium_is_valid_point(i.to_bytes(32, "little"))
    info = fleetkeys._libsodium_is_valid_point.cache_info()
    assert info.currsize == info.maxsize == fleetkeys._VALID_POINT_CACHE
    assert_invalid("ed25519", mixed)


def test_forgotten_verdicts_are_checked_again() -> None:
    # forget_verdicts empties the memory (the benchmark's uncached decision relies on it),
    # and the keys keep their verdicts when libsodium checks them again.
    valid = ed25519_key()
    torsion = _decode(bytes.fromhex(ED25519_SMALL_ORDER[4]))
    mixed = _encode(fleetkeys._ed25519_add(_decode(valid), torsion))
    validate_fleet_key("ed25519", valid)
    assert fleetkeys._libsodium_is_valid_point.cache_info().currsize > 0
    fleetkeys.forget_verdicts()
    assert fleetkeys._libsodium_is_valid_point.cache_info().currsize == 0
    validate_fleet_key("ed25519", valid)
    assert_invalid("ed25519", mixed)
    assert fleetkeys._libsodium_is_valid_point.cache_info().currsize == 2
