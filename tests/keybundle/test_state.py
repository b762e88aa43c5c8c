"""Tests for keybundle.state: the client state of SPEC §7.2 and its atomic directory store."""

from __future__ import annotations

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
    STATE_FILE,
    ClientState,
    CorruptStateError,
    FleetState,
    StateDir,
    parse_state,
)
from tests.keybundle.world import World

D = bytes(range(32))
NOT_CHECKPOINT = "hello\n\n\u2014 k AAAAAAAA\n".encode()
"""A well-formed signed note whose text is not a checkpoint."""


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def full_state(world: World) -> ClientState:
    return ClientState(
        checkpoint_note=world.checkpoint(),
        fleets={"b.fleet": FleetState(7, D), "a.fleet": FleetState(1, b"\x01" * 32)},
        trust_root=world.signed_root,
    )


# -- encoding ---------------------------------------------------------------------------------


def test_fresh_state_known_answer() -> None:
    assert ClientState().encode() == bytes.fromhex("a201010380")  # {1: 1, 3: []}
    assert parse_state(bytes.fromhex("a201010380")) == ClientState()


def test_full_state_round_trips_with_fleets_sorted(full_state: ClientState) -> None:
    data = full_state.encode()
    parsed = parse_state(data)
    assert parsed == full_state
    assert list(parsed.fleets) == ["a.fleet", "b.fleet"]
    assert parsed.encode() == data


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.builds(FleetState, st.integers(1, 2**63), st.binary(min_size=32, max_size=32)),
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
    with pytest.raises(TypeError):
        ClientState(fleets={"f": (1, D)})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        ClientState(checkpoint_note="text")  # type: ignore[arg-type]


# -- strict parsing ---------------------------------------------------------------------------

CORRUPT: list[tuple[str, Callable[[World], bytes]]] = [
    ("not CBOR", lambda w: b"\xff"),
    ("empty file", lambda w: b""),
    ("trailing garbage", lambda w: ClientState().encode() + b"\x00"),
    ("truncated", lambda w: ClientState(checkpoint_note=w.checkpoint()).encode()[:-1]),
    ("not a map", lambda w: dcbor.encode([1, []])),
    ("unknown field 5", lambda w: dcbor.encode({1: 1, 3: [], 5: 0})),
    ("fleets missing", lambda w: dcbor.encode({1: 1})),
    ("version missing", lambda w: dcbor.encode({3: []})),
    ("version 2", lambda w: dcbor.encode({1: 2, 3: []})),
    ("version true", lambda w: dcbor.encode({1: True, 3: []})),
    ("fleets not an array", lambda w: dcbor.encode({1: 1, 3: {}})),
    ("fleet entry of two fields", lambda w: dcbor.encode({1: 1, 3: [["f", 1]]})),
    ("fleet epoch 0", lambda w: dcbor.encode({1: 1, 3: [["f", 0, D]]})),
    ("fleet epoch as text", lambda w: dcbor.encode({1: 1, 3: [["f", "1", D]]})),
    ("fleet digest of 31 bytes", lambda w: dcbor.encode({1: 1, 3: [["f", 1, D[:31]]]})),
    ("fleet id as bytes", lambda w: dcbor.encode({1: 1, 3: [[b"f", 1, D]]})),
    ("fleets out of order", lambda w: dcbor.encode({1: 1, 3: [["b", 1, D], ["a", 1, D]]})),
    ("fleet listed twice", lambda w: dcbor.encode({1: 1, 3: [["a", 1, D], ["a", 2, D]]})),
    ("checkpoint as text", lambda w: dcbor.encode({1: 1, 2: "note", 3: []})),
    ("checkpoint not a note", lambda w: dcbor.encode({1: 1, 2: b"not a note", 3: []})),
    ("checkpoint note of no checkpoint", lambda w: dcbor.encode({1: 1, 2: NOT_CHECKPOINT, 3: []})),
    ("trust root as text", lambda w: dcbor.encode({1: 1, 3: [], 4: "root"})),
    ("trust root not a signed trust root", lambda w: dcbor.encode({1: 1, 3: [], 4: b"root"})),
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
    taken = tmp_path / f".{STATE_FILE}.{'00' * 6}.tmp"
    taken.write_bytes(b"someone else's")
    draws = iter([b"\x00" * 6, b"\x01" * 6])
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
