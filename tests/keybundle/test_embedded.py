"""Tests for keybundle.embedded: the client an app embeds (SPEC §7.4, §7.6).

Accepting under the state directory's lock with an atomic save; reading the accepted keys
back after a restart from the state alone, re-verified; a floor shipped with the app; and a
state edited by hand never installing keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
from pathlib import Path

import pytest

from keybundle import Client, UnknownFleetError, VerifiedKeys
from keybundle.errors import Reason, VerificationError
from keybundle.state import (
    STATE_FILE,
    ClientState,
    CorruptStateError,
    FleetState,
    StateDir,
    StoredRotation,
    parse_state,
)
from tests.keybundle.world import (
    DAY,
    DEFAULT_FLEET,
    DEFAULT_LIMITS,
    OPERATOR_ORG,
    World,
    role_signer,
)

SKEW = DEFAULT_LIMITS.clock_skew


def test_accept_saves_and_current_keys_answers_after_a_restart(tmp_path: Path) -> None:
    w = World()
    package = w.fresh_package()
    keys = Client(w.signed_root, tmp_path).accept(package, now=w.now, fleet=DEFAULT_FLEET)
    assert isinstance(keys, VerifiedKeys)
    assert (keys.fleet_id, keys.epoch, keys.index) == (DEFAULT_FLEET, 1, 0)
    assert (tmp_path / STATE_FILE).exists()
    restarted = Client(w.signed_root, tmp_path)  # a new process: nothing but the state
    again = restarted.current_keys(DEFAULT_FLEET, now=w.now)
    assert again == keys


def test_accepting_the_same_package_again_does_not_rewrite_the_state(tmp_path: Path) -> None:
    w = World()
    package = w.fresh_package()
    client = Client(w.signed_root, tmp_path)
    client.accept(package, now=w.now)
    before = (tmp_path / STATE_FILE).stat()
    data = (tmp_path / STATE_FILE).read_bytes()
    client.accept(package, now=w.now)
    after = (tmp_path / STATE_FILE).stat()
    assert (tmp_path / STATE_FILE).read_bytes() == data
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_rejection_raises_with_the_reason_and_leaves_the_state(tmp_path: Path) -> None:
    w = World()
    client = Client(w.signed_root, tmp_path)
    client.accept(w.fresh_package(DEFAULT_FLEET, 2, previous=b"\x11" * 32), now=w.now)
    data = (tmp_path / STATE_FILE).read_bytes()
    with pytest.raises(VerificationError) as info:
        client.accept(w.fresh_package(DEFAULT_FLEET, 1), now=w.now)
    assert info.value.reason == Reason.ROLLBACK
    assert (tmp_path / STATE_FILE).read_bytes() == data


def test_current_keys_expired_past_not_after_plus_skew(tmp_path: Path) -> None:
    w = World()
    client = Client(w.signed_root, tmp_path)
    keys = client.accept(w.fresh_package(), now=w.now)
    assert client.current_keys(DEFAULT_FLEET, now=keys.not_after + SKEW) == keys
    with pytest.raises(VerificationError) as info:
        client.current_keys(DEFAULT_FLEET, now=keys.not_after + SKEW + 1)
    assert info.value.reason == Reason.EXPIRED


def test_current_keys_of_an_unknown_fleet(tmp_path: Path) -> None:
    w = World()
    with pytest.raises(UnknownFleetError, match="no accepted bundle of fleet 'nope'"):
        Client(w.signed_root, tmp_path).current_keys("nope", now=w.now)


def test_current_keys_under_the_root_in_force_at_the_stored_index(tmp_path: Path) -> None:
    # Fleet A was accepted under v1 and stays readable after the client rotated to v2.
    w = World()
    client = Client(w.signed_root, tmp_path)
    client.accept(w.fresh_package("fleet-a"), now=w.now)
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    i2 = w.append(v2)
    signed = w.countersign(w.sign(w.bundle("fleet-b")), op2)
    index = w.append(signed)
    client.accept(w.package(signed, index, w.checkpoint(), rotations=[(v2, i2)]), now=w.now)
    assert client.current_keys("fleet-a", now=w.now).index == 0
    assert client.current_keys("fleet-b", now=w.now).index == 2


# -- an edited state never installs keys --------------------------------------------------------


def _accepted_state(tmp_path: Path) -> tuple[World, ClientState]:
    w = World()
    Client(w.signed_root, tmp_path).accept(w.fresh_package(), now=w.now)
    return w, StateDir(tmp_path).load()


def test_state_with_a_swapped_bundle_and_digest_does_not_verify(tmp_path: Path) -> None:
    w, state = _accepted_state(tmp_path)
    # A bundle the attacker signed with their own keys, with its digest set to match.
    intruder = role_signer("intruder")
    forged = w.countersign(w.sign(w.bundle(), intruder), intruder)
    row = FleetState(1, hashlib.sha256(forged).digest(), forged, 0)
    StateDir(tmp_path).save(ClientState(state.checkpoint_note, {DEFAULT_FLEET: row}))
    with pytest.raises(VerificationError) as info:
        Client(w.signed_root, tmp_path).current_keys(DEFAULT_FLEET, now=w.now)
    assert info.value.reason == Reason.UNKNOWN_KEY


def test_state_with_a_digest_that_is_not_of_its_bundle_is_corrupt(tmp_path: Path) -> None:
    w, _ = _accepted_state(tmp_path)
    data = bytearray((tmp_path / STATE_FILE).read_bytes())
    row = parse_state(bytes(data)).fleets[DEFAULT_FLEET]
    position = bytes(data).index(row.digest)
    data[position] ^= 1
    (tmp_path / STATE_FILE).write_bytes(bytes(data))
    with pytest.raises(CorruptStateError, match="not SHA-256 of the stored signed bundle"):
        Client(w.signed_root, tmp_path).current_keys(DEFAULT_FLEET, now=w.now)


def test_state_with_another_fleets_bundle_under_this_fleet_is_corrupt(tmp_path: Path) -> None:
    w, state = _accepted_state(tmp_path)
    other = w.signed_bundle("other-fleet", 1)
    row = FleetState(1, hashlib.sha256(other).digest(), other, 0)
    StateDir(tmp_path).save(ClientState(state.checkpoint_note, {DEFAULT_FLEET: row}))
    with pytest.raises(CorruptStateError, match="the state was edited"):
        Client(w.signed_root, tmp_path).current_keys(DEFAULT_FLEET, now=w.now)


def test_state_with_an_unsigned_version_99_root_is_never_accepted(tmp_path: Path) -> None:
    w, state = _accepted_state(tmp_path)
    intruder, intruder_ops = role_signer("intruder"), role_signer("intruder ops")
    v99 = w.sign_root(
        w.make_root(
            99, independent=[("Intruder", intruder)], operator=[("Intruder Ops", intruder_ops)]
        ),
        [intruder, intruder_ops],
    )
    StateDir(tmp_path).save(
        ClientState(state.checkpoint_note, state.fleets, (StoredRotation(v99, 0),))
    )
    signed = w.countersign(w.sign(w.bundle("evil"), intruder), intruder_ops)
    package = w.package(signed, w.append(signed), w.checkpoint())
    client = Client(w.signed_root, tmp_path)
    with pytest.raises(CorruptStateError):
        client.accept(package, now=w.now)
    with pytest.raises(CorruptStateError):
        client.current_keys(DEFAULT_FLEET, now=w.now)


# -- floor and bootstrap ------------------------------------------------------------------------


def test_bootstrap_writes_a_floor_that_a_fresh_install_starts_from(tmp_path: Path) -> None:
    w = World()
    p1 = w.fresh_package(DEFAULT_FLEET, 1)
    p2 = w.fresh_package(DEFAULT_FLEET, 2)
    release = tmp_path / "release"
    release.mkdir()
    state = Client(w.signed_root, release).bootstrap([p1, p2], now=w.now)
    assert state.fleets[DEFAULT_FLEET].epoch == 2
    floor = (release / STATE_FILE).read_bytes()
    install = tmp_path / "install"
    install.mkdir()
    client = Client(w.signed_root, install, floor=floor)
    assert client.current_keys(DEFAULT_FLEET, now=w.now).epoch == 2
    with pytest.raises(VerificationError) as info:
        client.accept(p1, now=w.now)  # epoch 1 is below the floor
    assert info.value.reason == Reason.ROLLBACK
    assert not (install / STATE_FILE).exists()
    client.accept(p2, now=w.now)  # the floor is written on the first acceptance
    assert (install / STATE_FILE).read_bytes() == floor


def test_bootstrap_refuses_a_directory_with_a_state_and_writes_nothing_on_rejection(
    tmp_path: Path,
) -> None:
    w = World()
    good = w.fresh_package()
    w.now += 2 * 365 * DAY
    client = Client(w.signed_root, tmp_path)
    with pytest.raises(VerificationError):
        client.bootstrap([w.fresh_package("other"), good], now=w.now)  # good has expired
    assert not (tmp_path / STATE_FILE).exists()
    client.bootstrap([w.fresh_package("other")], now=w.now)
    with pytest.raises(FileExistsError):
        client.bootstrap([w.fresh_package("third")], now=w.now)


# -- concurrency (SPEC §7.4) --------------------------------------------------------------------


def _accept_all(root: bytes, directory: str, packages: list[bytes], now: int) -> None:
    client = Client(root, directory)
    for package in packages:
        # ROLLBACK once the other process got further: fine, nothing moves back.
        with contextlib.suppress(VerificationError):
            client.accept(package, now=now)


def test_two_processes_accepting_on_one_directory_never_move_the_state_backwards(
    tmp_path: Path,
) -> None:
    w = World()
    packages = []
    for epoch in range(1, 9):
        packages.append(w.fresh_package(DEFAULT_FLEET, epoch))
    context = multiprocessing.get_context("fork")
    # One process climbs the epochs in order, the other in reverse: without the lock, a
    # slow writer could save a state computed before the other's newer save.
    workers = [
        context.Process(target=_accept_all, args=(w.signed_root, str(tmp_path), order, w.now))
        for order in (packages, packages[::-1])
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
        assert p.exitcode == 0
    final = StateDir(tmp_path).load()
    # The reverse worker accepts epoch 8 first whenever it runs before the other reaches 8;
    # either way the final epoch is the maximum, never an earlier one.
    assert final.fleets[DEFAULT_FLEET].epoch == 8


def test_lock_waits_for_another_holder_then_times_out(tmp_path: Path) -> None:
    store = StateDir(tmp_path)
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()

    def hold() -> None:
        with StateDir(tmp_path).lock():
            ready.set()
            release.wait(30)

    holder = context.Process(target=hold)
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(TimeoutError, match="holds the client state lock"),
            store.lock(timeout=0.2),
        ):
            pass
    finally:
        release.set()
        holder.join(timeout=30)
    with store.lock(timeout=5):
        pass


def test_client_takes_a_verified_trust_root_and_refuses_other_types(tmp_path: Path) -> None:
    w = World()
    assert Client(w.pinned, tmp_path).accept(w.fresh_package(), now=w.now).epoch == 1
    with pytest.raises(TypeError):
        Client("trust-root.cbor", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(VerificationError) as info:
        Client(b"not a trust root", tmp_path)
    assert info.value.reason == Reason.MALFORMED_TRUST_ROOT
    with pytest.raises(ValueError, match="now"):
        Client(w.pinned, tmp_path).current_keys(DEFAULT_FLEET, now=-1)


def test_accept_in_a_missing_directory_is_file_not_found(tmp_path: Path) -> None:
    w = World()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Client(w.pinned, tmp_path / "nope").accept(w.fresh_package(), now=w.now)
    assert not (tmp_path / "nope").exists()
