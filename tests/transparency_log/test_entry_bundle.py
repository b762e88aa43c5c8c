"""C2SP tlog-tiles entry bundles: exact bytes, round trips, and strict rejection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log.entry_bundle import (
    BUNDLE_WIDTH,
    MAX_ENTRY_SIZE,
    encode_entry,
    encode_entry_bundle,
    parse_entry_bundle,
)
from transparency_log.errors import LogReason, VerificationError


def test_bundle_bytes_are_u16be_length_prefixed_entries() -> None:
    bundle = encode_entry_bundle([b"", b"\x00", b"abc", b"x" * 300])
    assert bundle == (b"\x00\x00" + b"\x00\x01\x00" + b"\x00\x03abc" + b"\x01\x2c" + b"x" * 300)


def test_largest_entry_fits_and_one_more_byte_does_not() -> None:
    assert encode_entry(b"a" * MAX_ENTRY_SIZE)[:2] == b"\xff\xff"
    with pytest.raises(ValueError, match="at most 65535"):
        encode_entry(b"a" * (MAX_ENTRY_SIZE + 1))


def test_encode_refuses_empty_and_oversized_bundles() -> None:
    with pytest.raises(ValueError, match="1 to 256"):
        encode_entry_bundle([])
    with pytest.raises(ValueError, match="1 to 256"):
        encode_entry_bundle([b"e"] * (BUNDLE_WIDTH + 1))
    with pytest.raises(TypeError):
        encode_entry_bundle(["text"])  # type: ignore[list-item]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=BUNDLE_WIDTH))
def test_round_trip(entries: list[bytes]) -> None:
    assert parse_entry_bundle(encode_entry_bundle(entries), len(entries)) == tuple(entries)


@pytest.mark.parametrize(
    ("name", "data", "width"),
    [
        ("fewer entries than the path's width", b"\x00\x01a", 2),
        ("trailing bytes after the last entry", b"\x00\x01a\x00", 1),
        ("an extra whole entry", b"\x00\x01a\x00\x01b", 1),
        ("truncated length prefix", b"\x00\x01a\x00", 2),
        ("entry shorter than its length", b"\x00\x05abc", 1),
        ("empty bundle", b"", 1),
    ],
)
def test_malformed_bundles_are_rejected(name: str, data: bytes, width: int) -> None:
    with pytest.raises(VerificationError) as info:
        parse_entry_bundle(data, width)
    assert info.value.reason == LogReason.MALFORMED_TILE, name


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20), st.data())
def test_every_strict_prefix_and_extension_is_rejected(
    entries: list[bytes], data: st.DataObject
) -> None:
    bundle = encode_entry_bundle(entries)
    cut = data.draw(st.integers(min_value=0, max_value=len(bundle) - 1))
    with pytest.raises(VerificationError) as info:
        parse_entry_bundle(bundle[:cut], len(entries))
    assert info.value.reason == LogReason.MALFORMED_TILE
    with pytest.raises(VerificationError):
        parse_entry_bundle(bundle + b"\x00", len(entries))


def test_width_is_a_caller_argument() -> None:
    with pytest.raises(ValueError, match="1 to 256"):
        parse_entry_bundle(b"", 0)
    with pytest.raises(ValueError, match="1 to 256"):
        parse_entry_bundle(b"", 257)
    with pytest.raises(TypeError):
        parse_entry_bundle(b"", True)
    with pytest.raises(TypeError):
        parse_entry_bundle("text", 1)  # type: ignore[arg-type]


def test_messages_say_what_was_expected_and_found() -> None:
    with pytest.raises(VerificationError) as info:
        parse_entry_bundle(b"\x00\x01a", 3)
    assert "should hold 3 entries but holds 1" in info.value.message
