"""Tests for keybundle.state: the client state of SPEC §7.2 and its atomic directory store."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybundle import dcbor
from keybundle.state import (
    MAX_STATE_BYTES,
    MAX_STATE_DEPTH,
    MAX_STATE_FLEETS,
    MAX_STATE_ROTATIONS,
    STATE_FILE,
    ClientState,
    CorruptStateError,
    FleetState,
    StateDir,
    StoredRotation,
    parse_state,
)
from tests.keybundle.world import World

D = bytes(range(32))
BUNDLE = b"a signed bundle"
BD = hashlib.sha256(BUNDLE).digest()
"""SHA-256 of BUNDLE: the digest a version-2 fleet entry must carry."""
NOT_CHECKPOINT = "hello\n\n\u2014 k AAAAAAAA\n".encode()
"""A well-formed signed note whose text is not a checkpoint."""


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def full_state(world: World) -> ClientState:
    return ClientState(
        checkpoint_note=world.checkpoint(),
        fleets={"b.fleet": FleetState(7, BD, BUNDLE, 12), "a.fleet": FleetState(1, D)},
        rotations=(StoredRotation(world.signed_root, 3),),
    )


# -- encoding ---------------------------------------------------------------------------------


def test_fresh_state_known_answer() -> None:
    assert ClientState().encode() == bytes.fromhex("a201020380")  # {1: 2, 3: []}
    assert parse_state(bytes.fromhex("a201020380")) == ClientState()


def test_version_1_state_is_read_and_written_as_version_2(world: World) -> None:
    # SPEC §7.2 migration: fleets keep epoch and digest (no bundle), field 4 is the legacy
    # root, kept apart until the chain is re-verified (keybundle.trustchain), never written.
    v1 = dcbor.encode({1: 1, 3: [["f", 2, D]], 4: world.signed_root})
    state = parse_state(v1)
    assert state.fleets["f"] == FleetState(2, D)
    assert state.legacy_trust_root == world.signed_root
    assert state.rotations == ()
    assert state.encode() == dcbor.encode({1: 2, 3: [["f", 2, D]]})


def test_version_2_fleet_entry_of_five_items(world: World) -> None:
    data = dcbor.encode({1: 2, 3: [["f", 2, BD, BUNDLE, 9]], 4: [[world.signed_root, 0]]})
    state = parse_state(data)
    assert state.fleets["f"] == FleetState(2, BD, BUNDLE, 9)
    assert state.rotations == (StoredRotation(world.signed_root, 0),)
    assert state.encode() == data


def test_named_caps() -> None:
    assert (MAX_STATE_DEPTH, MAX_STATE_FLEETS, MAX_STATE_ROTATIONS) == (3, 65_536, 64)


def test_full_state_round_trips_with_fleets_sorted(full_state: ClientState) -> None:
    data = full_state.encode()
    parsed = parse_state(data)
    assert parsed == full_state
    assert list(parsed.fleets) == ["a.fleet", "b.fleet"]
    assert parsed.encode() == data


def _fleet(epoch: int, bundle: bytes | None, index: int) -> FleetState:
    if bundle is None:
        return FleetState(epoch, hashlib.sha256(b"%d" % index).digest())
    return FleetState(epoch, hashlib.sha256(bundle).digest(), bundle, index)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.builds(
            _fleet,
            st.integers(1, 2**63),
            st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
            st.integers(0, 2**63 - 2),
        ),
        max_size=6,
    )
)
def test_round_trip(fleets: dict[str, FleetState]) -> None:
    state = ClientState(fleets=fleets)
    assert parse_state(state.encode()) == state


def test_state_is_immutable() -> None:
    state = ClientState(fleets={"f": FleetState(1, D)})
    with pytest.raises(TypeError):
        state.fleets["g"] = FleetState(1, D)  # type: ignore[index]


def test_caller_mistakes() -> None:
    with pytest.raises(ValueError, match="epoch"):
        FleetState(0, D)
    with pytest.raises(ValueError, match="digest"):
        FleetState(1, D[:31])
    with pytest.raises(ValueError, match="SHA-256 of its signed bundle"):
        FleetState(1, D, BUNDLE, 0)
    with pytest.raises(ValueError, match="both"):
        FleetState(1, BD, BUNDLE)
    with pytest.raises(TypeError):
        ClientState(fleets={"f": (1, D)})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        ClientState(checkpoint_note="text")  # type: ignore[arg-type]


# -- strict parsing ---------------------------------------------------------------------------


def _root(w: World, version: int) -> bytes:
    return w.sign_root(w.make_root(version), [w.independent, w.operator])


def _chain(w: World, *entries: tuple[int, int]) -> bytes:
    return dcbor.encode({1: 2, 3: [], 4: [[_root(w, v), i] for v, i in entries]})


CORRUPT: list[tuple[str, Callable[[World], bytes]]] = [
    ("not CBOR", lambda w: b"\xff"),
    ("empty file", lambda w: b""),
    ("trailing garbage", lambda w: ClientState().encode() + b"\x00"),
    ("truncated", lambda w: ClientState(checkpoint_note=w.checkpoint()).encode()[:-1]),
    ("not a map", lambda w: dcbor.encode([1, []])),
    ("unknown field 5", lambda w: dcbor.encode({1: 2, 3: [], 5: 0})),
    ("fleets missing", lambda w: dcbor.encode({1: 2})),
    ("version missing", lambda w: dcbor.encode({3: []})),
    ("version 3", lambda w: dcbor.encode({1: 3, 3: []})),
    ("version true", lambda w: dcbor.encode({1: True, 3: []})),
    ("fleets not an array", lambda w: dcbor.encode({1: 2, 3: {}})),
    ("fleet entry of two fields", lambda w: dcbor.encode({1: 2, 3: [["f", 1]]})),
    ("fleet entry of four fields", lambda w: dcbor.encode({1: 2, 3: [["f", 1, BD, BUNDLE]]})),
    ("v1 fleet entry of five fields", lambda w: dcbor.encode({1: 1, 3: [["f", 1, BD, BUNDLE, 0]]})),
    ("fleet epoch 0", lambda w: dcbor.encode({1: 2, 3: [["f", 0, D]]})),
    ("fleet epoch as text", lambda w: dcbor.encode({1: 2, 3: [["f", "1", D]]})),
    ("fleet digest of 31 bytes", lambda w: dcbor.encode({1: 2, 3: [["f", 1, D[:31]]]})),
    ("fleet id as bytes", lambda w: dcbor.encode({1: 2, 3: [[b"f", 1, D]]})),
    ("fleets out of order", lambda w: dcbor.encode({1: 2, 3: [["b", 1, D], ["a", 1, D]]})),
    ("fleet listed twice", lambda w: dcbor.encode({1: 2, 3: [["a", 1, D], ["a", 2, D]]})),
    ("fleet digest not of its bundle", lambda w: dcbor.encode({1: 2, 3: [["f", 1, D, BUNDLE, 0]]})),
    ("fleet bundle empty", lambda w: dcbor.encode({1: 2, 3: [["f", 1, BD, b"", 0]]})),
    ("fleet index negative", lambda w: dcbor.encode({1: 2, 3: [["f", 1, BD, BUNDLE, -1]]})),
    ("fleet index 2^63 - 1", lambda w: dcbor.encode({1: 2, 3: [["f", 1, BD, BUNDLE, 2**63 - 1]]})),
    ("checkpoint as text", lambda w: dcbor.encode({1: 2, 2: "note", 3: []})),
    ("checkpoint not a note", lambda w: dcbor.encode({1: 2, 2: b"not a note", 3: []})),
    ("checkpoint note of no checkpoint", lambda w: dcbor.encode({1: 2, 2: NOT_CHECKPOINT, 3: []})),
    ("v1 trust root as text", lambda w: dcbor.encode({1: 1, 3: [], 4: "root"})),
    ("v1 trust root not a signed trust root", lambda w: dcbor.encode({1: 1, 3: [], 4: b"root"})),
    ("rotations a byte string", lambda w: dcbor.encode({1: 2, 3: [], 4: w.signed_root})),
    ("rotations empty", lambda w: dcbor.encode({1: 2, 3: [], 4: []})),
    ("rotation without index", lambda w: dcbor.encode({1: 2, 3: [], 4: [[w.signed_root]]})),
    ("rotation not a signed trust root", lambda w: dcbor.encode({1: 2, 3: [], 4: [[b"x", 0]]})),
    ("rotations skip a version", lambda w: _chain(w, (2, 0), (4, 1))),
    ("rotations descend", lambda w: _chain(w, (3, 0), (2, 1))),
    ("rotations over the cap", lambda w: dcbor.encode({1: 2, 3: [], 4: [[w.signed_root, 0]] * 65})),
    ("nested deeper than MAX_STATE_DEPTH", lambda w: dcbor.encode({1: 2, 3: [["f", 1, [D]]]})),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make"), CORRUPT, ids=[name for name, _ in CORRUPT])
def test_corrupt_state_is_an_error(name: str, make: Callable[[World], bytes], world: World) -> None:
    with pytest.raises(CorruptStateError):
        parse_state(make(world))


# -- the directory store ----------------------------------------------------------------------


def test_empty_directory_is_a_fresh_client(tmp_path: Path) -> None:
    assert StateDir(tmp_path).load() == ClientState()


def test_missing_directory_is_an_error_not_a_fresh_client(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        StateDir(tmp_path / "nope").load()


def test_a_file_for_the_directory_is_not_a_directory_not_missing(tmp_path: Path) -> None:
    """QA: a file given as the state directory was reported as "does not exist"."""
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        StateDir(tmp_path / "file").load()
    with (
        pytest.raises(NotADirectoryError, match="is not a directory"),
        StateDir(tmp_path / "file").lock(),
    ):
        pass


def test_save_then_load(tmp_path: Path, full_state: ClientState) -> None:
    store = StateDir(tmp_path)
    store.save(full_state)
    assert store.load() == full_state
    assert (tmp_path / STATE_FILE).read_bytes() == full_state.encode()


def test_save_is_mode_0600_and_leaves_no_temporary_file(
    tmp_path: Path, full_state: ClientState
) -> None:
    store = StateDir(tmp_path)
    (tmp_path / f".{STATE_FILE}.stale.tmp").write_bytes(b"left by a crash")
    store.save(ClientState())
    store.save(full_state)
    assert stat.S_IMODE((tmp_path / STATE_FILE).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{STATE_FILE}.stale.tmp", STATE_FILE]


def test_save_takes_another_temporary_name_when_one_exists(
    tmp_path: Path, full_state: ClientState, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = tmp_path / f".{STATE_FILE}.{'00' * 8}.tmp"
    taken.write_bytes(b"someone else's")
    draws = iter([b"\x00" * 8, b"\x01" * 8])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    StateDir(tmp_path).save(full_state)
    monkeypatch.undo()
    assert taken.read_bytes() == b"someone else's"  # never opened, never removed
    assert StateDir(tmp_path).load() == full_state
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([taken.name, STATE_FILE])


def test_failed_save_keeps_the_old_state_and_no_temporary_file(
    tmp_path: Path, full_state: ClientState, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateDir(tmp_path)
    store.save(full_state)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        store.save(ClientState())
    monkeypatch.undo()
    assert store.load() == full_state
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]


def test_corrupt_file_is_reported_not_reset(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CorruptStateError, match="deterministic CBOR"):
        StateDir(tmp_path).load()
    assert (tmp_path / STATE_FILE).read_bytes() == b"\x00garbage"


def test_state_file_over_max_state_bytes_is_an_error(tmp_path: Path) -> None:
    # SPEC §7.2, §11: the file is read up to the limit and one byte more, never further.
    (tmp_path / STATE_FILE).write_bytes(ClientState().encode().ljust(MAX_STATE_BYTES + 1, b"\0"))
    with pytest.raises(CorruptStateError, match=f"more than the limit of {MAX_STATE_BYTES} bytes"):
        StateDir(tmp_path).load()


def test_unreadable_state_is_an_os_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).mkdir()
    with pytest.raises(OSError):  # noqa: PT011 (IsADirectoryError, or PermissionError)
        StateDir(tmp_path).load()
