"""SPEC §6.3 admission: a log with a trust root admits valid bundles and rotations, only.

Every test runs a real :class:`~transparency_log.appender.Log` over a DirectoryTileStore in
``tmp_path`` (fsync off), with keys, roots and bundles from the deterministic test world.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keybundle import cose, dcbor
from keybundle.admission import (
    AdmissionState,
    BundleAdmission,
    FleetHead,
    check_fleet_step,
    read_admission_state,
)
from keybundle.errors import Reason, VerificationError
from keybundle.signed_trust_root import sign_trust_root
from keybundle.signers import Signer
from keybundle.trustroot import TrustRoot
from tests.keybundle.world import (
    DEFAULT_FLEET,
    INDEPENDENT_ORG,
    LOG_ORIGIN,
    OPERATOR_ORG,
    World,
    role_signer,
    seed,
)
from transparency_log import note
from transparency_log.appender import Admission, Log, LogStateError, open_directory_log
from transparency_log.entry_bundle import BUNDLE_WIDTH, MAX_ENTRY_SIZE, parse_entry_bundle
from transparency_log.storage import DirectoryTileStore
from transparency_log.tile import entries_path

pytestmark = pytest.mark.timeout(120)

LOG_SIGNER = note.Ed25519Signer(LOG_ORIGIN, seed("log"))
FLEET = DEFAULT_FLEET
OTHER_FLEET = "prod-us.vault"


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def open_log(root: Path, admission: Admission | None, **options: Any) -> Log:
    options.setdefault("batch_max_age", 0)
    return open_directory_log(
        root,
        origin=LOG_ORIGIN,
        signer=LOG_SIGNER,
        verifier=LOG_SIGNER.verifier(),
        fsync=False,
        admission=admission,
        **options,
    )


def state_of(root: Path) -> AdmissionState:
    """The committed admission state of the log at ``root`` (read by a second connection)."""
    with closing(sqlite3.connect(root / ".state" / "index.sqlite3")) as db:
        return read_admission_state(db)


class Fleet:
    """Builds one fleet's chain: each bundle names the digest of the one before it."""

    def __init__(self, world: World, fleet: str = FLEET) -> None:
        self.world = world
        self.fleet = fleet
        self.digests: dict[int, bytes] = {}

    def bundle(
        self,
        epoch: int,
        *,
        independent: Signer | None = None,
        operator: Signer | None = None,
        countersigned: bool = True,
        previous: bytes | str | None = "chain",
        issued_at: int | None = None,
    ) -> bytes:
        """The fleet's bundle of ``epoch``, signed and (unless told not to) countersigned.

        The first bundle built for each epoch is the one later epochs chain to.
        """
        if previous == "chain":
            previous = self.digests[epoch - 1] if epoch > 1 else None
        payload = self.world.bundle(self.fleet, epoch, previous=previous, issued_at=issued_at)
        signed = self.world.sign(payload, independent)
        if countersigned:
            signed = self.world.countersign(signed, operator)
        self.digests.setdefault(epoch, digest(signed))
        return signed


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def admission(world: World) -> BundleAdmission:
    return BundleAdmission(world.signed_root)


@contextmanager
def unchanged(log: Log, root: Path) -> Iterator[None]:
    """Assert that the block leaves the log's size, checkpoint and admission state alone."""
    size, checkpoint, state = log.size, log.checkpoint, state_of(root)
    yield
    assert (log.size, log.checkpoint) == (size, checkpoint)
    assert (root / "checkpoint").read_bytes() == checkpoint
    assert state_of(root) == state


def rejected(log: Log, root: Path, entry: bytes) -> VerificationError:
    with unchanged(log, root), pytest.raises(VerificationError) as info:
        log.add(entry)
    return info.value


# --- bundles --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ed25519", "p256"])
def test_epochs_1_2_3_are_admitted_in_order(tmp_path: Path, algorithm: str) -> None:
    world = World(algorithm=algorithm)  # type: ignore[arg-type]
    chain = Fleet(world)
    bundles = [chain.bundle(epoch) for epoch in (1, 2, 3)]
    with open_log(tmp_path, BundleAdmission(world.signed_root)) as log:
        assert [log.add(b) for b in bundles] == [0, 1, 2]
    state = state_of(tmp_path)
    assert state.fleets == {FLEET: FleetHead(3, digest(bundles[2]), 2)}
    assert (state.trust_root_version, state.trust_root_signed) == (1, world.signed_root)


def test_fleets_are_independent_and_a_batch_sees_its_own_entries(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    a, b = Fleet(world), Fleet(world, OTHER_FLEET)
    entries = [a.bundle(1), b.bundle(1), a.bundle(2), b.bundle(2), b.bundle(3)]
    with open_log(tmp_path, admission) as log:
        assert log.add_many(entries) == [0, 1, 2, 3, 4]
    assert state_of(tmp_path).fleets == {
        FLEET: FleetHead(2, digest(entries[2]), 2),
        OTHER_FLEET: FleetHead(3, digest(entries[4]), 4),
    }


def test_resubmitting_an_admitted_bundle_returns_its_index(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    chain = Fleet(world)
    first, second = chain.bundle(1), chain.bundle(2)
    with open_log(tmp_path, admission) as log:
        assert log.add_many([first, second]) == [0, 1]
        # The log's idempotency answers before admission: an old epoch's exact bytes are
        # not a rollback, they are the entry already logged.
        assert log.add(first) == 0
        assert log.add_many([second, first]) == [1, 0]
        assert log.size == 2


def _countersignature_from(other: bytes, onto: bytes) -> bytes:
    donor = cose.parse_unverified_sign1(other)
    target = cose.parse_unverified_sign1(onto)
    return cose.encode_sign1(replace(target, countersignatures=donor.countersignatures))


def _flip_signature_byte(signed: bytes) -> bytes:
    parsed = cose.parse_unverified_sign1(signed)
    bad = bytes([parsed.signature[0] ^ 1]) + parsed.signature[1:]
    return cose.encode_sign1(replace(parsed, signature=bad))


def _payload_bundle(world: World, payload: bytes) -> bytes:
    return world.countersign(world.sign(payload))


# Each case: name -> (entry built from the world and a fleet at epoch 2, reason, words of the
# message). The log holds FLEET epochs 1 and 2 when the entry is submitted.
CASES: dict[str, tuple[Callable[[World, Fleet], bytes], str, str]] = {
    "epoch 2 again, other bytes": (
        lambda w, f: f.bundle(2, issued_at=w.now + 1),
        Reason.EPOCH_CONFLICT,
        "already holds fleet 'prod-eu.vault' epoch 2 at index 1",
    ),
    "epoch 1 again, other bytes": (
        lambda w, f: f.bundle(1, issued_at=w.now + 1),
        Reason.ROLLBACK,
        "is at epoch 2 in this log; epoch 1 is behind it (its bundle is at index 0)",
    ),
    "epoch gap 2 -> 4": (
        lambda w, f: f.bundle(4, previous=f.digests[2]),
        Reason.EPOCH_GAP,
        "fleet 'prod-eu.vault' is at epoch 2 in this log; submit epoch 3, not 4",
    ),
    "new fleet starting at epoch 2": (
        lambda w, f: Fleet(w, OTHER_FLEET).bundle(2, previous=bytes(32)),
        Reason.EPOCH_GAP,
        "fleet 'prod-us.vault' has no bundle in this log yet; its first bundle must be epoch 1",
    ),
    "epoch 3 naming the wrong previous digest": (
        lambda w, f: f.bundle(3, previous=f.digests[1]),
        Reason.BROKEN_CHAIN,
        "rebuild the bundle with that previous digest",
    ),
    "independent signature only, no countersignature": (
        lambda w, f: f.bundle(3, countersigned=False),
        Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
        "countersignatures",
    ),
    "roles swapped": (
        lambda w, f: f.bundle(3, independent=w.operator, operator=w.independent),
        Reason.UNKNOWN_KEY,
        "not one of the 1 independent-party keys",
    ),
    "independent signature by an unknown key": (
        lambda w, f: f.bundle(3, independent=role_signer("stranger")),
        Reason.UNKNOWN_KEY,
        "independent-party keys",
    ),
    "countersignature by an unknown key": (
        lambda w, f: f.bundle(3, operator=role_signer("stranger")),
        Reason.UNKNOWN_KEY,
        "",
    ),
    "countersigned by the independent key": (
        lambda w, f: f.bundle(3, operator=w.independent),
        Reason.UNKNOWN_KEY,
        "",
    ),
    "independent signature altered": (
        lambda w, f: _flip_signature_byte(f.bundle(3)),
        Reason.BAD_INDEPENDENT_SIGNATURE,
        "does not verify",
    ),
    "countersignature moved from another bundle": (
        lambda w, f: _countersignature_from(
            Fleet(w, OTHER_FLEET).bundle(1), w.sign(w.bundle(FLEET, 3, previous=f.digests[2]))
        ),
        Reason.BAD_COUNTERSIGNATURE,
        "",
    ),
    "payload is not a bundle": (
        lambda w, f: _payload_bundle(w, dcbor.encode({1: 1})),
        Reason.MALFORMED_BUNDLE,
        "",
    ),
    "payload is not deterministic CBOR": (
        lambda w, f: _payload_bundle(w, b"\xa1\x18\x01\x01"),
        Reason.MALFORMED_CBOR,
        "",
    ),
    "garbage": (lambda w, f: b"hello, log", Reason.MALFORMED_COSE, "starts with 6865"),
    "empty entry": (lambda w, f: b"", Reason.MALFORMED_COSE, "nothing (it is empty)"),
    "truncated bundle": (lambda w, f: f.bundle(3)[:-1], Reason.MALFORMED_COSE, ""),
    "tag 18 followed by garbage": (lambda w, f: b"\xd2\xff", Reason.MALFORMED_COSE, ""),
    "largest entry, all garbage": (
        lambda w, f: b"\xd2" * MAX_ENTRY_SIZE,
        Reason.MALFORMED_COSE,
        "",
    ),
    "tag 98 followed by garbage": (
        lambda w, f: b"\xd8\x62\x00",
        Reason.MALFORMED_TRUST_ROOT,
        "",
    ),
    "the starting trust root itself": (
        lambda w, f: w.signed_root,
        Reason.TRUST_ROOT_VERSION,
        "must carry version 2; found version 1",
    ),
    "rotation skipping a version": (
        lambda w, f: sign_trust_root(w.make_root(3), [w.independent, w.operator]),
        Reason.TRUST_ROOT_VERSION,
        "must carry version 2; found version 3",
    ),
    "rotation signed only by the old keys": (
        lambda w, f: sign_trust_root(_new_keys_root(w), [w.independent, w.operator]),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
        "the new root",
    ),
    "rotation signed only by the new keys": (
        lambda w, f: sign_trust_root(_new_keys_root(w), list(_new_signers())),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
        "the current root",
    ),
}


# The fleet-chain rule alone (SPEC §6.3 rule 1.3), as admission and the auditor share it:
# name -> (head, epoch, previous digest, reason or None for admitted). Head: epoch 3 at index 7.
HEAD = FleetHead(3, b"\x33" * 32, 7)
STEPS: dict[str, tuple[FleetHead | None, int, bytes | None, str | None]] = {
    "first bundle at epoch 1": (None, 1, None, None),
    "first bundle at epoch 2": (None, 2, None, Reason.EPOCH_GAP),
    "next epoch, chained": (HEAD, 4, HEAD.digest, None),
    "next epoch naming another digest": (HEAD, 4, b"\x44" * 32, Reason.BROKEN_CHAIN),
    "next epoch naming no digest": (HEAD, 4, None, Reason.BROKEN_CHAIN),
    "the head's epoch again": (HEAD, 3, b"\x22" * 32, Reason.EPOCH_CONFLICT),
    "an older epoch": (HEAD, 1, None, Reason.ROLLBACK),
    "an epoch skipped": (HEAD, 5, HEAD.digest, Reason.EPOCH_GAP),
}


@pytest.mark.parametrize("case", list(STEPS))
def test_the_fleet_chain_rule(case: str) -> None:
    head, epoch, previous, reason = STEPS[case]
    candidate = b"\x55" * 32
    if reason is None:
        check_fleet_step(FLEET, head, epoch, previous, candidate)
        return
    with pytest.raises(VerificationError) as info:
        check_fleet_step(FLEET, head, epoch, previous, candidate)
    assert info.value.reason == reason
    assert repr(FLEET) in info.value.message


def test_a_rollback_message_names_the_earlier_bundle_when_it_can_be_looked_up() -> None:
    with pytest.raises(VerificationError) as info:
        check_fleet_step(FLEET, HEAD, 2, None, bytes(32), logged_at={2: 5}.get)
    assert "epoch 2 is behind it (its bundle is at index 5)" in info.value.message
    with pytest.raises(VerificationError) as info:
        check_fleet_step(FLEET, HEAD, 2, None, bytes(32))
    assert "epoch 2 is behind it (epoch 3 is at index 7)" in info.value.message


def test_a_gap_message_names_the_missing_epochs() -> None:
    with pytest.raises(VerificationError) as info:
        check_fleet_step(FLEET, HEAD, 6, HEAD.digest, bytes(32))
    assert "submit epoch 4, not 6 (epochs 4..5 are missing" in info.value.message


def _new_signers() -> tuple[Signer, Signer]:
    return role_signer("independent v2"), role_signer("operator v2")


def _new_keys_root(world: World, version: int = 2) -> TrustRoot:
    independent, operator = _new_signers()
    return world.make_root(
        version,
        independent=[(INDEPENDENT_ORG, independent)],
        operator=[(OPERATOR_ORG, operator)],
    )


@pytest.mark.parametrize("case", list(CASES))
def test_rejections_leave_the_log_unchanged(
    tmp_path: Path, world: World, admission: BundleAdmission, case: str
) -> None:
    build, reason, words = CASES[case]
    chain = Fleet(world)
    with open_log(tmp_path, admission) as log:
        log.add_many([chain.bundle(1), chain.bundle(2)])
        error = rejected(log, tmp_path, build(world, chain))
        assert error.reason == reason
        assert words in error.message
        # The log goes on admitting after a rejection.
        assert log.add(chain.bundle(3)) == 2


def test_a_rejection_inside_a_batch_names_the_entry_and_admits_the_others(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    chain = Fleet(world)
    one, two, three = chain.bundle(1), chain.bundle(2), chain.bundle(3)
    with open_log(tmp_path, admission) as log:
        with pytest.raises(VerificationError) as info:
            log.add_many([one, three, two, b"junk"])
        assert info.value.reason == Reason.EPOCH_GAP
        assert info.value.message.startswith("entry 1 of the batch: ")
        assert log.size == 2
        assert log.add_many([one, two, three]) == [0, 1, 2]


def test_oversized_entries_are_refused_before_admission(
    tmp_path: Path, admission: BundleAdmission
) -> None:
    with (
        open_log(tmp_path, admission) as log,
        unchanged(log, tmp_path),
        pytest.raises(ValueError, match="at most 65535"),
    ):
        log.add(b"\xd2" + bytes(MAX_ENTRY_SIZE))


def test_a_log_without_a_trust_root_admits_any_entry_up_to_the_size_limit(
    tmp_path: Path, world: World
) -> None:
    chain = Fleet(world)
    entries = [
        b"",
        b"hello, log",
        chain.bundle(3, previous=bytes(32)),  # a gap: not this log's business
        chain.bundle(1),
        chain.bundle(1, issued_at=world.now + 1),  # a second epoch 1
        chain.bundle(2, countersigned=False),
        b"\xd8\x62\x00",
        bytes(MAX_ENTRY_SIZE),
    ]
    with open_log(tmp_path, None) as log:
        assert log.add_many(entries) == list(range(len(entries)))
        with pytest.raises(ValueError, match="at most 65535"):
            log.add(bytes(MAX_ENTRY_SIZE + 1))
        assert log.size == len(entries)


# --- trust-root rotations -------------------------------------------------------------------


def test_a_rotation_is_admitted_and_later_bundles_are_judged_under_the_new_root(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    independent2, operator2 = _new_signers()
    rotation = sign_trust_root(
        _new_keys_root(world), [world.independent, world.operator, independent2, operator2]
    )
    chain = Fleet(world)
    with open_log(tmp_path, admission) as log:
        assert log.add(chain.bundle(1)) == 0  # under version 1
        assert log.add(rotation) == 1
        assert state_of(tmp_path).trust_root_version == 2

        # Keys removed by the rotation no longer sign or countersign.
        error = rejected(log, tmp_path, chain.bundle(2))
        assert error.reason == Reason.UNKNOWN_KEY
        error = rejected(log, tmp_path, chain.bundle(2, operator=operator2))
        assert error.reason == Reason.UNKNOWN_KEY
        error = rejected(
            log, tmp_path, chain.bundle(2, independent=independent2, operator=world.operator)
        )
        assert error.reason == Reason.UNKNOWN_KEY
        # The added keys do, and the fleet's chain runs on across the rotation.
        chain.digests.pop(2)
        second = chain.bundle(2, independent=independent2, operator=operator2)
        assert log.add(second) == 2
        # The rotation resubmitted is the entry already logged; a rotation to the version
        # in force is not a rotation.
        assert log.add(rotation) == 1
        stale = sign_trust_root(
            _new_keys_root(world), [world.independent, world.operator, independent2]
        )
        assert rejected(log, tmp_path, stale).reason == Reason.TRUST_ROOT_VERSION

    # After reopening (with the root the log started with) version 2 is still in force.
    with open_log(tmp_path, BundleAdmission(world.signed_root)) as log:
        assert rejected(log, tmp_path, chain.bundle(3)).reason == Reason.UNKNOWN_KEY
        assert log.add(chain.bundle(3, independent=independent2, operator=operator2)) == 3
    state = state_of(tmp_path)
    assert (state.trust_root_version, state.trust_root_signed) == (2, rotation)


def test_rotation_and_bundles_in_one_batch_are_judged_in_order(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    independent2, operator2 = _new_signers()
    rotation = sign_trust_root(
        _new_keys_root(world), [world.independent, world.operator, independent2, operator2]
    )
    chain = Fleet(world)
    new_key_bundle = chain.bundle(1, independent=independent2, operator=operator2)
    with open_log(tmp_path, admission) as log:
        with pytest.raises(VerificationError) as info:
            log.add_many([new_key_bundle, rotation])
        assert info.value.reason == Reason.UNKNOWN_KEY
        assert log.size == 1  # the rotation
        assert log.add_many([new_key_bundle, rotation]) == [1, 0]


def test_a_chain_of_rotations_is_admitted_one_version_at_a_time(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    signers = [world.independent, world.operator]
    v2 = sign_trust_root(world.make_root(2), signers)
    v3 = sign_trust_root(world.make_root(3), signers)
    v4 = sign_trust_root(world.make_root(4), signers)
    with open_log(tmp_path, admission) as log:
        with pytest.raises(VerificationError) as info:
            log.add_many([v3, v2, v4, v3])
        assert info.value.reason == Reason.TRUST_ROOT_VERSION
        assert info.value.message.startswith("entry 0 of the batch: ")
        # v3 first fails (version 1 is in force), v2 passes, v4 fails, v3 passes.
        assert log.size == 2
        assert log.add_many([v2, v3, v4]) == [0, 1, 2]
    assert state_of(tmp_path).trust_root_signed == v4


# --- starting and reopening -----------------------------------------------------------------


def test_the_starting_trust_root_must_verify(world: World) -> None:
    with pytest.raises(VerificationError) as info:
        BundleAdmission(b"not a trust root")
    assert info.value.reason == Reason.MALFORMED_TRUST_ROOT
    with pytest.raises(VerificationError) as info:
        BundleAdmission(sign_trust_root(world.root, [world.independent]))
    assert info.value.reason == Reason.TRUST_ROOT_THRESHOLD_NOT_MET
    with pytest.raises(TypeError):
        BundleAdmission(bytearray(world.signed_root))  # type: ignore[arg-type]
    assert BundleAdmission(world.signed_root).genesis == world.pinned


def test_a_log_is_reopened_only_with_the_trust_root_it_started_with(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    rotation = sign_trust_root(world.make_root(2), [world.independent, world.operator])
    with open_log(tmp_path, admission) as log:
        log.add(rotation)
    # Not even with the root it rotated to: rotations live in the log, not in configuration.
    with pytest.raises(ValueError, match="started with trust-root version 1"):
        open_log(tmp_path, BundleAdmission(rotation))
    other = World(algorithm="p256")
    with pytest.raises(ValueError, match="open it with the trust root it was started with"):
        open_log(tmp_path, BundleAdmission(other.signed_root))
    with pytest.raises(LogStateError, match="admission hook"):
        open_log(tmp_path, None)
    open_log(tmp_path, BundleAdmission(world.signed_root)).close()


class FailingStore(DirectoryTileStore):
    """A tile store whose ``publish`` fails on demand (and, if ``dead``, every read after)."""

    fail = False
    dead = False

    def read(self, path: str) -> bytes | None:
        if self.dead:
            raise OSError("the process is gone")
        return super().read(path)

    def publish(self, files: Any, checkpoint: bytes, *, cosign: Any = None) -> None:
        if self.fail:
            if self.dead:
                # Killed mid-publish: some files made it to disk, the checkpoint did not.
                super().publish(dict(list(files.items())[:1]), self.read_checkpoint())
            raise OSError("disk full")
        super().publish(files, checkpoint, cosign=cosign)

    def read_checkpoint(self) -> bytes:
        data = DirectoryTileStore.read(self, "checkpoint")
        if data is None:
            raise AssertionError("bad math in FailingStore: no checkpoint")
        return data


def _log_over(store: DirectoryTileStore, admission: BundleAdmission) -> Log:
    return Log.open(
        store,
        store.root / ".state",
        origin=LOG_ORIGIN,
        signer=LOG_SIGNER,
        verifier=LOG_SIGNER.verifier(),
        admission=admission,
        fsync=False,
        batch_max_age=0,
    )


def _unpublished_batch(world: World, chain: Fleet) -> tuple[list[bytes], list[bytes]]:
    """A batch that moves FLEET to epoch 3, starts OTHER_FLEET and rotates to version 2;
    and what may be admitted instead once it is lost."""
    independent2, operator2 = _new_signers()
    rotation = sign_trust_root(
        _new_keys_root(world), [world.independent, world.operator, independent2, operator2]
    )
    other = Fleet(world, OTHER_FLEET)
    lost = [chain.bundle(3), other.bundle(1), rotation]
    del chain.digests[3]
    instead = [
        chain.bundle(3, issued_at=world.now + 1),  # another epoch 3: the lost one is gone
        Fleet(world, OTHER_FLEET).bundle(1, issued_at=world.now + 1),
    ]
    return lost, instead


def test_a_failed_batch_rolls_the_state_back_in_the_running_writer(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    chain = Fleet(world)
    store = FailingStore(tmp_path, fsync=False)
    with _log_over(store, admission) as log:
        log.add_many([chain.bundle(1), chain.bundle(2)])
        published = state_of(tmp_path)
        lost, instead = _unpublished_batch(world, chain)
        store.fail = True
        with pytest.raises(OSError, match="disk full"):
            log.add_many(lost)
        assert state_of(tmp_path) == published
        store.fail = False
        assert log.add_many(instead) == [2, 3]
        # The rotation was lost with its batch: version 1's keys still sign.
        assert log.add(chain.bundle(4)) == 4
    assert state_of(tmp_path).trust_root_version == 1


def test_reopening_after_a_crash_rolls_the_state_back_to_the_published_size(
    tmp_path: Path, world: World, admission: BundleAdmission
) -> None:
    chain = Fleet(world)
    store = FailingStore(tmp_path, fsync=False)
    log = _log_over(store, admission)
    log.add_many([chain.bundle(1), chain.bundle(2)])
    published = state_of(tmp_path)
    lost, instead = _unpublished_batch(world, chain)
    store.fail = store.dead = True
    with pytest.raises(OSError, match="disk full"):
        log.add_many(lost)
    log.close()
    # The batch's admission state was committed before the checkpoint that never came.
    committed = state_of(tmp_path)
    assert committed.trust_root_version == 2
    assert set(committed.fleets) == {FLEET, OTHER_FLEET}

    fresh = BundleAdmission(world.signed_root)
    with open_log(tmp_path, fresh) as log:
        assert log.size == 2
        assert state_of(tmp_path) == published
        assert log.add_many(instead) == [2, 3]
        assert log.add(chain.bundle(4)) == 4
    assert state_of(tmp_path).fleets[FLEET] == FleetHead(4, chain.digests[4], 4)


# --- the rules against a model --------------------------------------------------------------

_FLEETS = ("a", "b")
_MODEL_WORLD = World()
_MODEL_GENESIS = _MODEL_WORLD.signed_root


@settings(max_examples=25)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_FLEETS),
            st.integers(min_value=1, max_value=4),  # epoch
            st.integers(min_value=0, max_value=1),  # variant: other bytes, same epoch
            st.booleans(),  # names the digest of the log's previous bundle (or a wrong one)
        ),
        max_size=12,
    )
)
def test_admission_agrees_with_a_model_of_the_fleet_rules(
    submissions: list[tuple[str, int, int, bool]],
) -> None:
    world = _MODEL_WORLD
    heads: dict[str, tuple[int, bytes]] = {}
    logged: list[bytes] = []
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        with open_log(root, BundleAdmission(_MODEL_GENESIS)) as log:
            for fleet, epoch, variant, chained in submissions:
                head = heads.get(fleet)
                previous = None
                if epoch > 1:
                    right = head[1] if head is not None and head[0] == epoch - 1 else bytes(32)
                    previous = right if chained else digest(right)
                payload = world.bundle(
                    fleet, epoch, previous=previous, issued_at=world.now + variant
                )
                entry = world.countersign(world.sign(payload))
                if entry in logged:
                    expected: str | int = logged.index(entry)
                elif head is None:
                    expected = len(logged) if epoch == 1 else Reason.EPOCH_GAP
                elif epoch == head[0]:
                    expected = Reason.EPOCH_CONFLICT
                elif epoch < head[0]:
                    expected = Reason.ROLLBACK
                elif epoch > head[0] + 1:
                    expected = Reason.EPOCH_GAP
                elif previous != head[1]:
                    expected = Reason.BROKEN_CHAIN
                else:
                    expected = len(logged)
                try:
                    outcome: str | int = log.add(entry)
                except VerificationError as e:
                    outcome = e.reason
                assert outcome == expected
                if outcome == len(logged):
                    logged.append(entry)
                    heads[fleet] = (epoch, digest(entry))
        state = state_of(root)
    assert {f: (h.epoch, h.digest) for f, h in state.fleets.items()} == heads


# --- kill -9 --------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]

# Appends batches of bundles (chaining from the published heads) and, now and then, a
# rotation to the next trust-root version, until killed. Prints "open SIZE" and "ack SIZE".
_CRASH_WORKER = """
import hashlib, random, sqlite3, sys
from contextlib import closing
from pathlib import Path
from keybundle.admission import BundleAdmission, read_admission_state
from keybundle.signed_trust_root import sign_trust_root
from tests.keybundle.world import LOG_ORIGIN, World, seed
from transparency_log import note
from transparency_log.appender import open_directory_log

root, run = Path(sys.argv[1]), int(sys.argv[2])
world = World()
signer = note.Ed25519Signer(LOG_ORIGIN, seed("log"))
log = open_directory_log(
    root, origin=LOG_ORIGIN, signer=signer, verifier=signer.verifier(), fsync=False,
    admission=BundleAdmission(world.signed_root), batch_size=8,
)
with closing(sqlite3.connect(root / ".state" / "index.sqlite3")) as db:
    state = read_admission_state(db)
heads = {f: (h.epoch, h.digest) for f, h in state.fleets.items()}
version = state.trust_root_version
print("open", log.size, flush=True)
rng = random.Random(run)
while True:
    batch = []
    for _ in range(rng.randint(1, 30)):
        if rng.random() < 0.05:
            version += 1
            root_v = world.make_root(version)
            batch.append(sign_trust_root(root_v, [world.independent, world.operator]))
            continue
        fleet = rng.choice(["a", "b", "c"])
        epoch, previous = heads.get(fleet, (0, None))
        payload = world.bundle(fleet, epoch + 1, previous=previous, issued_at=world.now + run)
        signed = world.countersign(world.sign(payload))
        heads[fleet] = (epoch + 1, hashlib.sha256(signed).digest())
        batch.append(signed)
    log.add_many(batch)
    print("ack", log.size, flush=True)
"""


def _published_entries(root: Path, size: int) -> list[bytes]:
    entries: list[bytes] = []
    for index in range((size + BUNDLE_WIDTH - 1) // BUNDLE_WIDTH):
        width = min(BUNDLE_WIDTH, size - index * BUNDLE_WIDTH)
        entries.extend(parse_entry_bundle((root / entries_path(index, width)).read_bytes(), width))
    return entries


def test_kill_9_then_reopen_gives_the_state_of_replaying_the_published_log(
    tmp_path: Path, world: World
) -> None:
    log_dir = tmp_path / "log"
    rng = random.Random(6_3)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    acked = 0
    for run in range(6):  # about one kill in six lands between state commit and checkpoint
        out_path = tmp_path / f"run{run}.out"
        with out_path.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CRASH_WORKER, str(log_dir), str(run)],
                stdout=out,
                cwd=REPO,
                env=env,
            )
        deadline = time.monotonic() + 30
        while "open" not in out_path.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, "the worker did not open the log"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.1, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, out_path.read_text()
        for line in out_path.read_text().split("\n")[:-1]:
            if line.startswith("ack "):
                acked = max(acked, int(line.split()[1]))
    assert acked > 0, "no batch was acknowledged before the kills"

    with open_log(log_dir, BundleAdmission(world.signed_root)) as log:
        size = log.size
    assert size >= acked
    reopened = state_of(log_dir)
    # Admission is a function of the log's entries: replaying them into a new log admits
    # every one and reaches the same state.
    replay = tmp_path / "replay"
    with open_log(replay, BundleAdmission(world.signed_root)) as log:
        assert log.add_many(_published_entries(log_dir, size)) == list(range(size))
    assert state_of(replay) == reopened
    assert reopened.fleets, "no bundle was published"
