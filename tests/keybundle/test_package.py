"""Tests for keybundle.package: the OTA package of SPEC §7.1, built and parsed strictly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybundle import dcbor
from keybundle.errors import LogReason, Reason, VerificationError
from keybundle.package import (
    MAX_PACKAGE_PROOF_HASHES,
    MAX_ROTATIONS,
    ConsistencyProof,
    Package,
    RotationEntry,
    build_package,
    parse_unverified_package,
)
from transparency_log.tlog_proof import TlogProof

NOTE = (
    "log.example/keybundle\n2\nqIg4DVtBlpB3ZyqDsWRxYhIdbRJ7gr4eWhHOz8ycAm4=\n\n"
    "\u2014 log.example/keybundle AAAAAAAA\n"
).encode()
"""A note-shaped checkpoint (the package parser does not open it: that is SPEC §7.3 step 3)."""
H = bytes(range(32))
PROOF = TlogProof(1, (H,), NOTE)


def package_map(**fields: dcbor.CborValue) -> dict[int | str, dcbor.CborValue]:
    value: dict[int | str, dcbor.CborValue] = {1: 1, 2: b"signed bundle", 3: PROOF.format()}
    for key, item in fields.items():
        value[int(key.lstrip("f"))] = item
    return value


def parse_map(value: dict[int | str, dcbor.CborValue]) -> Package:
    return parse_unverified_package(dcbor.encode(value))


# -- round trips ------------------------------------------------------------------------------


def test_minimal_package_known_answer() -> None:
    data = build_package(b"signed bundle", PROOF)
    assert data[:1] == b"\xa3"  # map(3): fields 1, 2, 3
    assert data[1:3] == b"\x01\x01"  # 1: version 1
    assert data[3:5] == b"\x02\x4d"
    assert data[5:18] == b"signed bundle"
    assert parse_unverified_package(data) == Package(b"signed bundle", PROOF)


def test_full_package_round_trips() -> None:
    package = Package(
        b"signed bundle",
        PROOF,
        ConsistencyProof(1, (H, H)),
        (RotationEntry(b"root v2", 0, (H,)), RotationEntry(b"root v3", 5, ())),
    )
    data = package.encode()
    assert parse_unverified_package(data) == package
    assert (
        build_package(
            package.signed_bundle,
            package.proof,
            consistency=package.consistency,
            rotations=package.rotations,
        )
        == data
    )


hashes = st.lists(st.binary(min_size=32, max_size=32), max_size=4).map(tuple)


@given(
    bundle=st.binary(min_size=1, max_size=200),
    index=st.integers(0, 2**63 - 2),
    proof_hashes=hashes,
    consistency=st.none() | st.builds(ConsistencyProof, st.integers(0, 2**64 - 1), hashes),
    rotations=st.lists(
        st.builds(
            RotationEntry, st.binary(min_size=1, max_size=50), st.integers(0, 2**64 - 1), hashes
        ),
        max_size=3,
    ).map(tuple),
)
def test_round_trip(
    bundle: bytes,
    index: int,
    proof_hashes: tuple[bytes, ...],
    consistency: ConsistencyProof | None,
    rotations: tuple[RotationEntry, ...],
) -> None:
    package = Package(bundle, TlogProof(index, proof_hashes, NOTE), consistency, rotations)
    data = package.encode()
    assert parse_unverified_package(data) == package
    assert parse_unverified_package(data).encode() == data


# -- strict parsing ---------------------------------------------------------------------------

MP, MC = Reason.MALFORMED_PACKAGE, Reason.MALFORMED_CBOR
MAX_HASHES = MAX_PACKAGE_PROOF_HASHES


def pm(**fields: dcbor.CborValue) -> bytes:
    return dcbor.encode(package_map(**fields))


BAD: list[tuple[str, str, Callable[[], bytes]]] = [
    ("not CBOR", MC, lambda: b"\xff"),
    ("empty input", MC, lambda: b""),
    ("trailing byte", MC, lambda: pm() + b"\x00"),
    ("non-minimal map head", MC, lambda: b"\xb8\x03" + pm()[1:]),
    ("indefinite-length map", MC, lambda: b"\xbf" + pm()[1:] + b"\xff"),
    ("nested too deep", MC, lambda: pm(f5=[[b"r", 0, [[b"x"]]]])),
    ("an array, not a map", MP, lambda: dcbor.encode([1, 2, 3])),
    ("a text-keyed map", MP, lambda: dcbor.encode({"1": 1})),
    ("unknown field 6", MP, lambda: pm(f6=0)),
    ("unknown field 0", MP, lambda: pm(f0=0)),
    ("version missing", MP, lambda: dcbor.encode({2: b"b", 3: PROOF.format()})),
    ("bundle missing", MP, lambda: dcbor.encode({1: 1, 3: PROOF.format()})),
    ("proof missing", MP, lambda: dcbor.encode({1: 1, 2: b"b"})),
    ("version 2", MP, lambda: pm(f1=2)),
    ("version 0", MP, lambda: pm(f1=0)),
    ("version true", MP, lambda: pm(f1=True)),
    ("version as text", MP, lambda: pm(f1="1")),
    ("bundle as text", MP, lambda: pm(f2="bundle")),
    ("empty bundle", MP, lambda: pm(f2=b"")),
    ("proof as bytes", MP, lambda: pm(f3=PROOF.format().encode())),
    ("proof text malformed", LogReason.MALFORMED_PROOF,
     lambda: pm(f3="not a proof")),
    ("consistency not an array", MP, lambda: pm(f4=1)),
    ("consistency of one element", MP, lambda: pm(f4=[1])),
    ("consistency old_size negative", MP, lambda: pm(f4=[-1, []])),
    ("consistency old_size as text", MP, lambda: pm(f4=["1", []])),
    ("consistency hashes not an array", MP, lambda: pm(f4=[1, H])),
    ("consistency hash of 31 bytes", MP, lambda: pm(f4=[1, [H[:31]]])),
    ("consistency hash of 33 bytes", MP, lambda: pm(f4=[1, [H + b"x"]])),
    ("consistency hash as text", MP, lambda: pm(f4=[1, ["h" * 32]])),
    ("consistency proof of 65 hashes", MP, lambda: pm(f4=[1, [H] * (MAX_HASHES + 1)])),
    ("rotations empty", MP, lambda: pm(f5=[])),
    ("rotations not an array", MP, lambda: pm(f5={1: 2})),
    ("rotation of two elements", MP, lambda: pm(f5=[[b"r", 0]])),
    ("rotation root as text", MP, lambda: pm(f5=[["r", 0, []]])),
    ("rotation root empty", MP, lambda: pm(f5=[[b"", 0, []]])),
    ("rotation index negative", MP, lambda: pm(f5=[[b"r", -1, []]])),
    ("rotation hash of 31 bytes", MP, lambda: pm(f5=[[b"r", 0, [H[:31]]]])),
    ("17 rotations", Reason.TRUST_ROOT_CHAIN_TOO_LONG,
     lambda: pm(f5=[[b"r", 0, []]] * (MAX_ROTATIONS + 1))),
]  # fmt: skip


@pytest.mark.parametrize(("name", "reason", "make"), BAD, ids=[name for name, _, _ in BAD])
def test_strict_parse_rejects(name: str, reason: str, make: Callable[[], bytes]) -> None:
    with pytest.raises(VerificationError) as info:
        parse_unverified_package(make())
    assert info.value.reason == reason, info.value.message


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (lambda: pm(f2=b""), "found an empty byte string"),
        (lambda: pm(f2="b"), "found a text string"),
    ],
    ids=["empty", "text"],
)
def test_bundle_field_message_says_what_was_found(make: Callable[[], bytes], found: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_unverified_package(make())
    assert info.value.message == (
        f"package field 2 (signed bundle) must be a non-empty byte string, {found}"
    )


def test_sixteen_rotations_parse() -> None:
    package = parse_map(package_map(f5=[[b"r", 0, []]] * MAX_ROTATIONS))
    assert len(package.rotations) == MAX_ROTATIONS


def test_parse_takes_bytes_only() -> None:
    with pytest.raises(TypeError):
        parse_unverified_package(bytearray(build_package(b"b", PROOF)))  # type: ignore[arg-type]


def test_build_refuses_what_parse_would_reject() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        build_package(b"", PROOF)
    with pytest.raises(ValueError, match="hashes"):
        build_package(b"b", PROOF, consistency=ConsistencyProof(1, (H[:31],)))
    with pytest.raises(ValueError, match="rotations"):
        build_package(b"b", PROOF, rotations=[RotationEntry(b"r", 0, ())] * (MAX_ROTATIONS + 1))
    with pytest.raises(ValueError, match="index"):
        build_package(b"b", PROOF, rotations=[RotationEntry(b"r", -1, ())])
    with pytest.raises(TypeError):
        build_package(b"b", PROOF.format())  # type: ignore[arg-type]


def _outcome(data: bytes) -> object:
    try:
        return parse_unverified_package(data)
    except VerificationError as e:
        return (e.reason, e.message)


def test_plain_package_decoding_agrees_with_the_full_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every single-bit flip, truncation and extension of a real package (fields 1-3, a
    signed checkpoint with its em dashes) and of the minimal one parses to the same package,
    or fails with the same reason and message, with and without the plain-package path."""
    from keybundle import package as package_module
    from tests.keybundle.world import World
    from transparency_log.merkle import leaf_hash
    from transparency_log.proof import root_from_inclusion_proof

    world = World()
    signed = world.signed_bundle()
    root = root_from_inclusion_proof(1, 2, leaf_hash(signed), [H])
    real = world.package(signed, 1, world.checkpoint(size=2, root_hash=root), hashes=[H])
    accepted = 0
    for data in (real, build_package(b"signed bundle", PROOF)):
        assert package_module._decode_plain_package(data) is not None
        variants = [data[:n] for n in range(len(data))] + [data + b"\x00", data + data]
        for i in range(len(data)):
            variants += [data[:i] + bytes([data[i] ^ (1 << b)]) + data[i + 1 :] for b in range(8)]
        for variant in variants:
            fast = _outcome(variant)
            with monkeypatch.context() as m:
                m.setattr(package_module, "_decode_plain_package", lambda _data: None)
                exact = _outcome(variant)
            assert fast == exact, variant.hex()
            accepted += isinstance(fast, Package)
    assert accepted > 2
