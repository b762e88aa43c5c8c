"""keybundle.dcbor: RFC 8949 §4.2.1 deterministic CBOR (SPEC §3.1).

Known encodings from RFC 8949 Appendix A, one negative test per kind of non-canonical or
out-of-profile input, and differential tests against the naive reference in
dcbor_reference.py (both the fast cbor2-based path and the strict pure-Python path).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybundle import dcbor
from keybundle.dcbor import CborValue, Tag, decode, encode
from keybundle.errors import Reason, VerificationError

from . import dcbor_reencode as reencode
from .dcbor_reencode import decode_reencode
from .dcbor_reference import Rejected, reference_decode, reference_encode

TAGS = frozenset({1, 18, 24, 64, 1000, 55799, 2**32, 2**64 - 1})


def assert_malformed(data: bytes, **limits: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        decode(data, **limits)
    assert info.value.reason == Reason.MALFORMED_CBOR
    return info.value


# --- known encodings ---------------------------------------------------------------------------

KNOWN = [
    (0, "00"),
    (23, "17"),
    (24, "1818"),
    (100, "1864"),
    (1000, "1903e8"),
    (1_000_000, "1a000f4240"),
    (1_000_000_000_000, "1b000000e8d4a51000"),
    (2**64 - 1, "1bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (-(2**64), "3bffffffffffffffff"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (Tag(1, 1363896240), "c11a514b67b0"),
    (Tag(18, []), "d280"),
    (Tag(2**32, 0), "db000000010000000000"),
]


@pytest.mark.parametrize(("value", "hex_"), KNOWN, ids=[h for _, h in KNOWN])
def test_known_encoding(value: CborValue, hex_: str) -> None:
    assert encode(value).hex() == hex_
    assert repr(decode(bytes.fromhex(hex_), tags=TAGS)) == repr(value)


def test_map_keys_sort_bytewise_by_encoding_not_length_first() -> None:
    # RFC 8949 §4.2.1's example, restricted to our key types: 10, 100, -1, "z", "aa".
    value: dict[int | str, CborValue] = {"aa": 0, "z": 0, -1: 0, 100: 0, 10: 0}
    assert encode(value).hex() == "a5" + "0a00" + "186400" + "2000" + "617a00" + "62616100"
    assert list(decode(encode(value))) == [10, 100, -1, "z", "aa"]  # type: ignore[arg-type]


def test_length_first_order_is_rejected_where_it_differs_from_bytewise() -> None:
    # 24 encodes as 18 18 (2 bytes), -1 as 20 (1 byte): RFC 7049 canonical order puts -1
    # first, RFC 8949 bytewise order puts 24 first. Only the latter is accepted.
    assert decode(bytes.fromhex("a2181800" + "2000")) == {24: 0, -1: 0}
    assert_malformed(bytes.fromhex("a22000" + "181800"))
    assert cbor2.dumps({24: 0, -1: 0}, canonical=True).hex() == "a22000181800"


def test_tuples_encode_as_arrays() -> None:
    assert encode((1, (2,))) == encode([1, [2]])  # type: ignore[arg-type]


# --- negative tests: one per kind of non-deterministic or out-of-profile input ------------------

NEGATIVE = {
    "non-minimal uint in 1 byte": "1817",
    "non-minimal uint in 2 bytes": "1900ff",
    "non-minimal uint in 4 bytes": "1a0000ffff",
    "non-minimal uint in 8 bytes": "1b00000000ffffffff",
    "non-minimal nint in 1 byte": "3817",
    "non-minimal nint in 8 bytes": "3b00000000ffffffff",
    "non-minimal bstr length": "580100",
    "non-minimal tstr length": "78016161",
    "non-minimal array length": "980100",
    "non-minimal map length": "b8010000",
    "non-minimal tag number": "d81200",
    "indefinite bstr": "5f4100ff",
    "indefinite tstr": "7f6161ff",
    "indefinite array": "9f01ff",
    "indefinite map": "bf0101ff",
    "empty indefinite array": "9fff",
    "unsorted keys": "a202000100",
    "unsorted text keys": "a2616200616100",
    "duplicate keys": "a201000100",
    "duplicate text keys": "a2616100616100",
    "length-first key order": "a22000181800",
    "float16": "f93c00",
    "float32": "fa3f800000",
    "float64": "fb3ff0000000000000",
    "float as map value": "a101fb3ff0000000000000",
    "float in array": "8201fb3ff0000000000000",
    "undefined": "f7",
    "undefined in array": "81f7",
    "simple(16)": "f0",
    "simple(0)": "e0",
    "two-byte simple(24)": "f818",
    "two-byte simple(32)": "f820",
    "two-byte simple(255)": "f8ff",
    "simple value as map value": "a101f0",
    "tag not allowed": "c01a514b67b0",
    "tag 19 not allowed": "d380",
    "bignum (tag 2)": "c249010000000000000000",
    "negative bignum (tag 3)": "c349010000000000000000",
    "small bignum": "c24101",
    "self-describe tag": "d9d9f700",
    "shared-value tag": "d81c80",
    "string-reference tag": "d9010080",
    "trailing bytes": "0000",
    "trailing break": "80ff",
    "empty input": "",
    "truncated head": "19",
    "truncated bstr": "4400",
    "truncated array": "8201",
    "truncated map value": "a101",
    "reserved info 28": "1c",
    "reserved info 29 in nint": "3d",
    "reserved info 30 in bstr": "5e",
    "reserved info 28 in simple": "fc",
    "indefinite uint": "1f",
    "indefinite tag": "df00",
    "stray break": "ff",
    "break as array element": "81ff",
    "invalid UTF-8": "61ff",
    "UTF-8 surrogate": "63eda080",
    "overlong UTF-8": "62c080",
    "byte-string map key": "a14100f6",
    "boolean map key": "a1f400",
    "null map key": "a1f600",
    "array map key": "a18000",
    "map map key": "a1a000f6",
    "declared 2^63-byte bstr": "5b8000000000000000",
    "declared 2^63-byte tstr": "7b8000000000000000",
    "declared 2^63-item array": "9b8000000000000000",
    "declared 2^63-pair map": "bb8000000000000000",
    "declared 2^64-1-item array": "9bffffffffffffffff",
}


@pytest.mark.parametrize("hex_", list(NEGATIVE.values()), ids=list(NEGATIVE))
def test_rejects_non_deterministic_or_out_of_profile_input(hex_: str) -> None:
    assert_malformed(bytes.fromhex(hex_), tags=frozenset({18}))


@pytest.mark.parametrize(
    "data",
    [b"\x81" * 10_000 + b"\x00", b"\xa1\x00" * 10_000 + b"\x00", b"\xd8\x40" * 10_000 + b"\x00"],
    ids=["arrays", "maps", "tags"],
)
def test_rejects_10000_deep_nesting_without_recursion_error(data: bytes) -> None:
    error = assert_malformed(data, tags=frozenset({64}))
    assert "nesting deeper than 16 levels" in error.message


def test_depth_counts_levels_below_the_top_level_item() -> None:
    assert decode(bytes.fromhex("818100"), max_depth=2) == [[0]]
    assert decode(bytes.fromhex("818180"), max_depth=2) == [[[]]]
    assert_malformed(bytes.fromhex("81818100"), max_depth=2)
    assert decode(bytes.fromhex("a101a10100"), max_depth=2) == {1: {1: 0}}
    assert_malformed(bytes.fromhex("a101a101a10100"), max_depth=2)
    assert decode(bytes.fromhex("d8408100"), max_depth=2, tags=frozenset({64})) == Tag(64, [0])
    assert_malformed(bytes.fromhex("d840d8408100"), max_depth=2, tags=frozenset({64}))
    assert decode(b"\x00", max_depth=0) == 0
    assert_malformed(b"\x81\x00", max_depth=0)


def test_rejects_input_larger_than_max_size() -> None:
    data = encode(b"x" * 100)
    assert decode(data, max_size=len(data)) == b"x" * 100
    error = assert_malformed(data, max_size=len(data) - 1)
    assert f"input is {len(data)} bytes" in error.message
    assert_malformed(b"\x40" + b"\x00" * dcbor.DEFAULT_MAX_SIZE)


def test_rejects_more_than_max_items() -> None:
    assert decode(encode([0] * 4), max_items=5) == [0] * 4
    assert_malformed(encode([0] * 5), max_items=5)
    assert_malformed(encode({1: [0, 0]}), max_items=4)  # map, key, array, two elements
    assert decode(encode(Tag(64, 0)), max_items=2, tags=frozenset({64})) == Tag(64, 0)
    assert_malformed(encode(Tag(64, [0])), max_items=2, tags=frozenset({64}))
    # Long inputs with few items pass the fast path's count; many-item ones do not.
    assert decode(encode([b"x" * 100]), max_items=2) == [b"x" * 100]
    assert_malformed(encode([b"x" * 100, 0]), max_items=2)


def test_truncation_at_every_offset_is_rejected() -> None:
    data = encode(PAYLOAD_LIKE)
    for end in range(len(data)):
        assert_malformed(data[:end])


def test_error_messages_name_offset_and_problem() -> None:
    assert "non-minimal head at offset 2" in assert_malformed(bytes.fromhex("a1011817")).message
    assert "out-of-order map key 1 at offset 3" in (
        assert_malformed(bytes.fromhex("a202000100")).message
    )
    assert "duplicate map key" in assert_malformed(bytes.fromhex("a201000100")).message
    assert "1 trailing bytes" in assert_malformed(b"\x00\x00").message
    assert "floating-point" in assert_malformed(bytes.fromhex("f93c00")).message
    assert "tag 18 at offset 0 is not allowed" in assert_malformed(bytes.fromhex("d280")).message


# --- encoder and argument errors ---------------------------------------------------------------

ENCODE_ERRORS: list[tuple[str, object, type[Exception]]] = [
    ("float", 1.0, TypeError),
    ("float in map", {1: 0.5}, TypeError),
    ("bytearray", bytearray(b"x"), TypeError),
    ("set", {1}, TypeError),
    ("bytes key", {b"k": 1}, TypeError),
    ("bool key", {True: 1}, TypeError),
    ("integer beyond 64 bits", 2**64, ValueError),
    ("negative integer beyond 64 bits", -(2**64) - 1, ValueError),
    ("tag number beyond 64 bits", Tag(2**64, 0), ValueError),
    ("negative tag number", Tag(-1, 0), ValueError),
    ("lone surrogate", "\ud800", ValueError),
]


@pytest.mark.parametrize(
    ("value", "error"), [c[1:] for c in ENCODE_ERRORS], ids=[c[0] for c in ENCODE_ERRORS]
)
def test_encode_rejects_values_outside_the_profile(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode(value)


def test_encode_rejects_cyclic_values() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="deeper than"):
        encode(cyclic)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"tags": frozenset({2})}, ValueError),
        ({"tags": frozenset({3})}, ValueError),
        ({"tags": {18}}, TypeError),
        ({"tags": frozenset({-1})}, ValueError),
        ({"max_depth": dcbor.MAX_DEPTH_LIMIT + 1}, ValueError),
        ({"max_depth": -1}, ValueError),
        ({"max_items": 0}, ValueError),
        ({"max_size": -1}, ValueError),
    ],
)
def test_decode_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(b"\x00", **kwargs)


def test_decode_requires_bytes() -> None:
    with pytest.raises(TypeError):
        decode(bytearray(b"\x00"))  # type: ignore[arg-type]


# --- the fast path: really taken, and never looser than the strict decoder ---------------------

PAYLOAD_LIKE: dict[int | str, CborValue] = {
    1: 1,
    2: "prod-eu.vault",
    3: 7,
    4: b"\x11" * 32,
    5: 1_700_000_000,
    6: 1_700_000_000,
    7: 1_800_000_000,
    8: [{1: f"hsm-{i}", 2: "x25519", 3: bytes([i]) * 32, 4: "key-agreement"} for i in range(4)],
}


@pytest.mark.skipif(not dcbor._FAST_PATH, reason="cbor2 release without the fast path")
@pytest.mark.parametrize(
    "value",
    [
        PAYLOAD_LIKE,
        {1: 1, 3: -8, -1: 6, -2: b"x" * 32},  # COSE_Key-like mixed keys (orders agree)
        Tag(18, [b"\xa1\x01\x27", {11: [b"", {}, b"s" * 64]}, b"payload", b"s" * 64]),
        [True, False, None, "text", -(2**64), 2**64 - 1],
    ],
    ids=["payload", "mixed keys", "tagged COSE_Sign1", "scalars"],
)
def test_fast_path_accepts_typical_values(value: CborValue) -> None:
    data = encode(value)
    fast = dcbor._decode_fast(data, dcbor.DEFAULT_MAX_DEPTH, 64, frozenset({18}))
    assert fast is not dcbor._GAVE_UP
    assert repr(fast) == repr(value)


@pytest.mark.skipif(not dcbor._FAST_PATH, reason="cbor2 release without the fast path")
def test_fast_path_traps_every_tag_cbor2_interprets() -> None:
    # A tag cbor2 interprets itself never reaches tag_hook; each must be in the trap list, or a
    # bignum (say) could come back as a plain int. Re-derive the list from the installed cbor2.
    reached: set[int] = set()

    def tag_hook(tag: cbor2.CBORTag, immutable: bool) -> None:
        reached.add(tag.tag)

    numbers = [*range(65_536), 2**16, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
    for number in numbers:
        head = encode(Tag(number, 0))[:-1]
        for content in (b"\x80", b"\x00", b"\x40", b"\x60"):
            with contextlib.suppress(cbor2.CBORDecodeError):
                cbor2.loads(head + content, tag_hook=tag_hook)
    assert set(numbers) - reached <= dcbor._CBOR2_INTERPRETED_TAGS


def test_cbor2_release_is_read_beside_the_package_like_importlib_metadata() -> None:
    # The fast path's release guard must name the release importlib.metadata names.
    assert dcbor._cbor2_release() == importlib.metadata.version("cbor2")


def test_decoding_imports_neither_importlib_metadata_nor_cbor2_default_encoders() -> None:
    # A fresh `keybundle verify` pays for every import: the release guard must not need
    # importlib.metadata, and re-encoding a tagged value must not make cbor2 import the
    # modules of its default encoders (decimal, uuid, email, ...).
    child = (
        "import sys\n"
        "from keybundle import dcbor\n"
        "data = dcbor.encode(dcbor.Tag(18, [b'p', {11: [b'', {}, b's']}, dcbor.Tag(1000, 7)]))\n"
        "dcbor.decode(data, tags=frozenset({18, 1000}))\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {"importlib.metadata", "decimal", "uuid", "email", "fractions"} & set(out)


@pytest.mark.skipif(not dcbor._FAST_PATH, reason="cbor2 release without the fast path")
def test_fast_path_returns_nested_tags_as_tag() -> None:
    value = Tag(18, [Tag(1000, [Tag(24, b"x")]), {1: Tag(64, b"")}])
    fast = dcbor._decode_fast(encode(value), 8, 64, TAGS)
    assert repr(fast) == repr(value)


# --- differential tests against the naive reference ---------------------------------------------

LIMITS: dict[str, Any] = {"max_size": 4096, "max_depth": 8, "max_items": 64, "tags": TAGS}

scalars = (
    st.integers(-(2**64), 2**64 - 1)
    | st.integers(-30, 30)
    | st.binary(max_size=40)
    | st.text(max_size=12)
    | st.booleans()
    | st.none()
)
map_keys = st.integers(-(2**64), 2**64 - 1) | st.integers(-30, 30) | st.text(max_size=6)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(map_keys, children, max_size=5)
        | st.builds(Tag, st.sampled_from(sorted(TAGS)), children)
    ),
    max_leaves=25,
)


def outcome(decoder: Callable[[bytes], CborValue], data: bytes) -> tuple[str, str]:
    try:
        return ("accept", repr(decoder(data)))  # repr tells True from 1, and keeps key order
    except VerificationError as error:
        return ("reject", "") if error.reason == Reason.MALFORMED_CBOR else ("wrong reason", "")
    except Rejected:
        return ("reject", "")


def module_decode(data: bytes) -> CborValue:
    return decode(data, **LIMITS)


def strict_decode(data: bytes) -> CborValue:
    return dcbor._StrictDecoder(data, 8, 64, TAGS).decode()


def ref_decode(data: bytes) -> CborValue:
    return reference_decode(data, **LIMITS)


def assert_all_agree(data: bytes) -> tuple[str, str]:
    expected = outcome(ref_decode, data)
    assert outcome(module_decode, data) == expected, data.hex()
    assert outcome(strict_decode, data) == expected, data.hex()
    if dcbor._FAST_PATH:
        fast = dcbor._decode_fast(data, 8, 64, TAGS)
        # The fast path may give up on anything, but what it accepts the strict path accepts,
        # as the same value.
        if fast is not dcbor._GAVE_UP:
            assert ("accept", repr(fast)) == expected, data.hex()
        # The one-pass check against the decode + re-encode path it replaced (issue 18): the
        # same inputs taken, as the same values, so it is neither looser nor slower to accept.
        old = decode_reencode(data, 8, 64, TAGS)
        assert (fast is dcbor._GAVE_UP) == (old is reencode.GAVE_UP), data.hex()
        if old is not reencode.GAVE_UP:
            assert repr(fast) == repr(old), data.hex()
    return expected


@given(values)
def test_round_trip_matches_reference(value: CborValue) -> None:
    data = encode(value)
    assert data == reference_encode(value)
    if reencode.count(value) <= 64:
        assert decode(data, **LIMITS) == value
        assert assert_all_agree(data)[0] == "accept"


mutations = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]), st.integers(0)),
    min_size=1,
    max_size=3,
)


@given(values, mutations, st.integers(0, 255))
def test_mutated_encodings_decode_like_reference(
    value: CborValue, edits: list[tuple[str, int]], byte: int
) -> None:
    data = bytearray(encode(value))
    for kind, where in edits:
        at = where % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << (byte % 8)
        elif kind == "set" and at < len(data):
            data[at] = byte
        elif kind == "insert":
            data.insert(at, byte)
        elif kind == "delete" and at < len(data):
            del data[at]
        elif kind == "truncate":
            del data[at:]
    assert_all_agree(bytes(data))


DOCUMENTS = [
    encode(PAYLOAD_LIKE),
    encode(
        Tag(18, [b"\xa1\x01\x27", {11: [b"\xa1\x01\x27", {}, b"s" * 64]}, b"p" * 40, b"s" * 64])
    ),
    encode({1: 1, 2: b"\xd2" * 300, 3: "c2sp.org/tlog-proof@v1\nindex 7\n\n\u2014 log AAAA\n"}),
]


@pytest.mark.skipif(not dcbor._FAST_PATH, reason="cbor2 release without the fast path")
@given(st.sampled_from(DOCUMENTS), mutations, st.integers(0, 255))
def test_one_pass_takes_what_the_reencode_path_took_on_client_documents(
    document: bytes, edits: list[tuple[str, int]], byte: int
) -> None:
    # The three documents of a package (payload, COSE_Sign1, package), mutated: the one-pass
    # check and the decode + re-encode path it replaced accept the same inputs, as the same
    # values, and what they accept the strict decoder accepts (issue 18).
    data = bytearray(document)
    for kind, where in edits:
        at = where % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << (byte % 8)
        elif kind == "set" and at < len(data):
            data[at] = byte
        elif kind == "insert":
            data.insert(at, byte)
        elif kind == "delete" and at < len(data):
            del data[at]
        elif kind == "truncate":
            del data[at:]
    raw = bytes(data)
    limits = (dcbor.DEFAULT_MAX_DEPTH, dcbor.DEFAULT_MAX_ITEMS, frozenset({18}))
    new = dcbor._decode_fast(raw, *limits)
    old = decode_reencode(raw, *limits)
    assert (new is dcbor._GAVE_UP) == (old is reencode.GAVE_UP), raw.hex()
    if new is not dcbor._GAVE_UP:
        assert repr(new) == repr(old) == repr(dcbor._StrictDecoder(raw, *limits).decode())


@st.composite
def wire_items(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Well-formed but often non-deterministic CBOR: every choice a lenient encoder could make."""

    def head(major: int, arg: int) -> bytes:
        widths = [w for w in (0, 1, 2, 4, 8) if arg < (24 if w == 0 else 256**w)]
        width = widths[0] if draw(st.integers(0, 9)) else draw(st.sampled_from(widths))
        if width == 0:
            return bytes([major << 5 | arg])
        info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
        return bytes([major << 5 | info]) + arg.to_bytes(width, "big")

    kinds = ["uint", "nint", "bstr", "tstr", "simple", "float"]
    if depth < 4:
        kinds += ["array", "map", "map", "tag"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("uint", "nint"):
        arg = draw(st.integers(0, 30) | st.integers(0, 2**64 - 1))
        return head(0 if kind == "uint" else 1, arg)
    if kind in ("bstr", "tstr"):
        major = 2 if kind == "bstr" else 3
        if major == 3 and draw(st.integers(0, 9)):
            content = draw(st.text(max_size=6)).encode()
        else:
            content = draw(st.binary(max_size=6))
        if draw(st.integers(0, 9)):
            return head(major, len(content)) + content
        return bytes([major << 5 | 31]) + head(major, len(content)) + content + b"\xff"
    if kind == "simple":
        return draw(st.sampled_from([b"\xf4", b"\xf5", b"\xf6", b"\xf7", b"\xf0", b"\xf8\xff"]))
    if kind == "float":
        return draw(st.sampled_from([b"\xf9\x3c\x00", b"\xfa\x3f\x80\x00\x00", b"\xfb" + bytes(8)]))
    if kind == "tag":
        number = draw(st.sampled_from([*sorted(TAGS), 0, 2, 3, 28, 99]))
        return head(6, number) + draw(wire_items(depth + 1))
    if kind == "array":
        elements = draw(st.lists(wire_items(depth + 1), max_size=4))
        if draw(st.integers(0, 9)):
            return head(4, len(elements)) + b"".join(elements)
        return b"\x9f" + b"".join(elements) + b"\xff"
    key = st.sampled_from([b"\x00", b"\x01", b"\x17", b"\x18\x18", b"\x20", b"\x38\x63"])
    key |= st.sampled_from([b"\x60", b"\x61a", b"\x62aa", b"\x40", b"\xf4", b"\x80"])
    pairs = draw(st.lists(st.tuples(key, wire_items(depth + 1)), max_size=4))
    order = draw(st.sampled_from(["bytewise", "bytewise", "as drawn", "length-first"]))
    if order == "bytewise":
        pairs.sort()
    elif order == "length-first":
        pairs.sort(key=lambda pair: (len(pair[0]), pair[0]))
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


@given(wire_items())
def test_lenient_encodings_decode_like_reference(data: bytes) -> None:
    assert_all_agree(data)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_verification_errors(data: bytes) -> None:
    assert_all_agree(data)
