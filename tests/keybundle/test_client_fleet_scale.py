"""Tests for the client decision at fleet scale (SPEC §7.3, DESIGN §5a).

One package per fleet per checkpoint that every legitimate client accepts (universal),
verifying it again changes nothing (idempotent), fleets in any order (order-free); the
trust-root chain from the oldest supported version; each bundle judged under the root in
force at its position in the log; the state's chain re-verified from the pinned root.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from keybundle import dcbor
from keybundle.client import MisbehaviourError, verify_package
from keybundle.errors import LogReason, Reason, VerificationError
from keybundle.package import RotationEntry, parse_unverified_package
from keybundle.signed_trust_root import sign_trust_root, verify_self_signed
from keybundle.state import ClientState, CorruptStateError, StoredRotation, parse_state
from keybundle.trustchain import trusted_chain
from keybundle.trustroot import TrustRoot
from tests.keybundle.world import DEFAULT_LIMITS, OPERATOR_ORG, World, role_signer

MAX_AGE = DEFAULT_LIMITS.max_cosignature_age


class Rotated:
    """Fleet A (v1 keys) at 0, v2 at 1, fleet B (v2) at 2, v3 at 3, fleet C (v3) at 4."""

    def __init__(self) -> None:
        self.w = w = World()
        self.op2, self.op3 = role_signer("operator v2"), role_signer("operator v3")
        self.v2 = w.sign_root(
            w.make_root(2, operator=[(OPERATOR_ORG, self.op2)]),
            [w.independent, w.operator, self.op2],
        )
        self.v3 = w.sign_root(
            w.make_root(3, operator=[(OPERATOR_ORG, self.op3)]),
            [w.independent, self.op2, self.op3],
        )
        self.a = w.countersign(w.sign(w.bundle("fleet-a")), w.operator)
        assert w.append(self.a) == 0
        assert w.append(self.v2) == 1
        self.b = w.countersign(w.sign(w.bundle("fleet-b")), self.op2)
        assert w.append(self.b) == 2
        assert w.append(self.v3) == 3
        self.c = w.countersign(w.sign(w.bundle("fleet-c")), self.op3)
        assert w.append(self.c) == 4
        self.cp = w.checkpoint()
        self.chain = [(self.v2, 1), (self.v3, 3)]

    def package(self, signed: bytes, index: int, *, chain: bool = True) -> bytes:
        return self.w.package(signed, index, self.cp, rotations=self.chain if chain else [])

    def pinned(self, signed: bytes) -> TrustRoot:
        return verify_self_signed(signed)


@pytest.fixture(scope="module")
def r() -> Rotated:
    return Rotated()


def run(
    r: Rotated, package: bytes, state: ClientState, pinned: TrustRoot | None = None
) -> ClientState:
    return verify_package(package, pinned or r.w.pinned, state, r.w.now).state


def reason(r: Rotated, package: bytes, state: ClientState, pinned: TrustRoot | None = None) -> str:
    with pytest.raises(VerificationError) as info:
        verify_package(package, pinned or r.w.pinned, state, r.w.now)
    return str(info.value.reason)


# -- idempotent ----------------------------------------------------------------------------------


def test_same_package_twice_leaves_the_state_byte_identical() -> None:
    w = World()
    package = w.fresh_package()
    once = run_w(w, package, ClientState())
    twice = run_w(w, package, once)
    assert twice == once
    assert twice.encode() == once.encode()


def run_w(w: World, package: bytes, state: ClientState) -> ClientState:
    return verify_package(package, w.pinned, state, w.now).state


def test_same_rotation_package_twice_leaves_the_state_byte_identical(r: Rotated) -> None:
    once = run(r, r.package(r.c, 4), ClientState())
    assert [x.index for x in once.rotations] == [1, 3]
    twice = run(r, r.package(r.c, 4), once)
    assert twice.encode() == once.encode()


def test_replay_with_fresher_cosignatures_keeps_the_stored_note() -> None:
    w = World()
    signed, index = w.publish()
    state = run_w(w, w.package(signed, index, w.checkpoint()), ClientState())
    w.now += 60
    again = run_w(w, w.package(signed, index, w.checkpoint()), state)  # same size, new cosigs
    assert again.encode() == state.encode()


# -- order-free and smaller checkpoints ----------------------------------------------------------


def _fleets_at_9_and_10() -> tuple[World, bytes, bytes]:
    w = World()
    for n in range(8):
        w.append(b"entry %d" % n)
    sb, ib = w.publish("fleet-b", 1)
    at_9 = w.package(sb, ib, w.checkpoint())
    sa, ia = w.publish("fleet-a", 1)
    at_10 = w.package(sa, ia, w.checkpoint())
    return w, at_9, at_10


def test_fleet_a_at_10_then_fleet_b_at_9_keeps_the_larger_checkpoint() -> None:
    w, at_9, at_10 = _fleets_at_9_and_10()
    s1 = run_w(w, at_10, ClientState())
    s2 = run_w(w, at_9, s1)
    cp = s2.checkpoint()
    assert cp is not None
    assert cp.size == 10
    assert s2.checkpoint_note == s1.checkpoint_note
    assert set(s2.fleets) == {"fleet-a", "fleet-b"}


def test_fleets_in_either_order_end_in_the_same_state() -> None:
    w, at_9, at_10 = _fleets_at_9_and_10()
    one = run_w(w, at_9, run_w(w, at_10, ClientState()))
    other = run_w(w, at_10, run_w(w, at_9, ClientState()))
    assert one.encode() == other.encode()


def test_consistency_proof_from_another_size_is_ignored() -> None:
    # Issue 11: a package built --from-size 1, verified by a client at size 3.
    w = World()
    w.append(b"0")
    w.append(b"1")
    state = run_w(w, w.fresh_package(), ClientState())  # size 3
    signed, index = w.publish("prod-eu.vault", 2)
    package = w.package(signed, index, w.checkpoint(), consistency_from=1)
    assert run_w(w, package, state).checkpoint().size == 4  # type: ignore[union-attr]


def test_a_smaller_checkpoint_of_another_root_is_not_checked_but_not_stored() -> None:
    # s < S proves nothing against the stored root; the witnesses are the defence, and the
    # stored (larger) checkpoint stays.
    w, fork = World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    w.append(b"filler 2")
    state = run_w(w, w.package(signed, index, w.checkpoint()), ClientState())
    fork.append(signed)
    fork.append(b"other")
    after = run_w(fork, fork.package(signed, index, fork.checkpoint()), state)
    assert after.checkpoint_note == state.checkpoint_note


def test_rejection_leaves_the_state_unchanged() -> None:
    w = World()
    package = w.fresh_package()
    state = run_w(w, package, ClientState())
    before = state.encode()
    w.now += MAX_AGE + 1
    with pytest.raises(VerificationError) as info:
        verify_package(package, w.pinned, state, w.now)
    assert info.value.reason == Reason.STALE_COSIGNATURE
    assert state.encode() == before


# -- the chain from the oldest supported version ------------------------------------------------


@pytest.mark.parametrize("pinned_version", [1, 2, 3])
def test_chain_from_version_1_accepted_by_clients_on_any_version(
    r: Rotated, pinned_version: int
) -> None:
    pinned = {1: r.w.pinned, 2: r.pinned(r.v2), 3: r.pinned(r.v3)}[pinned_version]
    accepted = verify_package(r.package(r.c, 4), pinned, ClientState(), r.w.now)
    assert accepted.trust_root.version == 3
    adopted = [x.index for x in accepted.state.rotations]
    assert adopted == {1: [1, 3], 2: [3], 3: []}[pinned_version]


def test_chain_from_version_1_accepted_by_a_client_holding_version_2(r: Rotated) -> None:
    state = ClientState(rotations=(StoredRotation(r.v2, 1),))
    new = run(r, r.package(r.c, 4), state)
    assert new.rotations == (StoredRotation(r.v2, 1), StoredRotation(r.v3, 3))


def test_client_rotated_through_fleet_a_accepts_fleet_b_still_under_v2(r: Rotated) -> None:
    # Issue 19: no flag day. Fleet B's current bundle was logged under v2, before v3.
    on_v3 = run(r, r.package(r.c, 4), ClientState())
    assert run(r, r.package(r.b, 2, chain=False), on_v3).fleets["fleet-b"].index == 2
    assert run(r, r.package(r.a, 0, chain=False), on_v3).fleets["fleet-a"].index == 0


def test_bundle_before_the_pinned_root_is_judged_under_the_pinned_root(r: Rotated) -> None:
    assert reason(r, r.package(r.a, 0), ClientState(), r.pinned(r.v3)) == Reason.UNKNOWN_KEY


def test_old_root_bundle_logged_after_the_rotation_is_unknown_key() -> None:
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    i2 = w.append(v2)
    old = w.countersign(w.sign(w.bundle()), w.operator)  # the retired operator key
    index = w.append(old)
    package = w.package(old, index, w.checkpoint(), rotations=[(v2, i2)])
    with pytest.raises(VerificationError) as info:
        verify_package(package, w.pinned, ClientState(), w.now)
    assert info.value.reason == Reason.UNKNOWN_KEY


def _conflict() -> tuple[World, bytes, bytes, bytes]:
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    other = w.sign_root(
        w.make_root(
            2, operator=[(OPERATOR_ORG, op2)], limits=replace(DEFAULT_LIMITS, max_epoch_jump=9)
        ),
        [w.independent, w.operator, op2],
    )
    w.append(v2)
    io = w.append(other)
    signed = w.countersign(w.sign(w.bundle()), op2)
    package = w.package(signed, w.append(signed), w.checkpoint(), rotations=[(other, io)])
    return w, v2, other, package


def test_chain_entry_of_a_held_version_with_other_bytes_is_a_conflict_with_evidence() -> None:
    w, v2, other, package = _conflict()
    state = ClientState(rotations=(StoredRotation(v2, 0),))
    with pytest.raises(MisbehaviourError) as info:
        verify_package(package, w.pinned, state, w.now)
    assert info.value.reason == Reason.TRUST_ROOT_CONFLICT
    assert info.value.evidence["held_trust_root"] == v2
    assert info.value.evidence["signed_trust_root"] == other
    assert info.value.evidence["index"] == 1
    # Without the fault (a fresh client) the same package is accepted.
    assert verify_package(package, w.pinned, ClientState(), w.now).trust_root.version == 2


def test_chain_entry_of_the_pinned_version_with_another_payload_is_a_conflict() -> None:
    w, v2, _, package = _conflict()
    with pytest.raises(MisbehaviourError) as info:
        verify_package(package, verify_self_signed(v2), ClientState(), w.now)
    assert info.value.reason == Reason.TRUST_ROOT_CONFLICT


def test_pinned_root_with_other_signatures_is_the_same_root(r: Rotated) -> None:
    # v == pinned compares the trust root (payload), not the signature set.
    w = r.w
    resigned = sign_trust_root(r.pinned(r.v2), [w.independent, r.op2])
    assert resigned != r.v2
    accepted = verify_package(r.package(r.c, 4), verify_self_signed(resigned), ClientState(), w.now)
    assert accepted.trust_root.version == 3


def test_entries_below_the_pinned_version_are_never_verified() -> None:
    # A client pinning v3 passes over a v2 entry whatever its signatures; only its inclusion
    # is checked (a v1 client, which would apply it, rejects the same package).
    r = Rotated()
    w = r.w
    unapproved = w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, r.op2)]), [role_signer("x")])
    iu = w.append(unapproved)
    signed = w.countersign(w.sign(w.bundle("fleet-d")), r.op3)
    index = w.append(signed)
    package = w.package(signed, index, w.checkpoint(), rotations=[(unapproved, iu), (r.v3, 3)])
    assert verify_package(package, r.pinned(r.v3), ClientState(), w.now).epoch == 1
    with pytest.raises(VerificationError) as info:
        verify_package(package, w.pinned, ClientState(), w.now)
    assert info.value.reason == Reason.TRUST_ROOT_THRESHOLD_NOT_MET


# -- step 5 order (issue 17) --------------------------------------------------------------------


def test_all_inclusions_are_checked_before_any_entry_is_parsed_or_applied(r: Rotated) -> None:
    pkg = parse_unverified_package(r.package(r.c, 4))
    first, second = pkg.rotations
    # The first entry is not even a trust root; the second's proof is wrong: inclusion wins.
    broken = (
        replace(first, signed_trust_root=r.a, index=0, hashes=first.hashes),
        replace(second, hashes=(bytes(32), *second.hashes[1:])),
    )
    bad = replace(pkg, rotations=broken).encode()
    assert reason(r, bad, ClientState()) == LogReason.BAD_INCLUSION_PROOF


def test_rotation_inclusion_proof_of_the_wrong_length_is_malformed_proof(r: Rotated) -> None:
    pkg = parse_unverified_package(r.package(r.c, 4))
    first, second = pkg.rotations
    longer = replace(second, hashes=(*second.hashes, bytes(32)))
    bad = replace(pkg, rotations=(first, longer)).encode()
    assert reason(r, bad, ClientState()) == LogReason.MALFORMED_PROOF


def test_chain_not_ascending_by_one_is_trust_root_version(r: Rotated) -> None:
    pkg = parse_unverified_package(r.package(r.c, 4))
    first, second = pkg.rotations
    bad = replace(pkg, rotations=(second, first)).encode()
    assert reason(r, bad, ClientState()) == Reason.TRUST_ROOT_VERSION


def test_held_entries_do_not_count_against_the_cap() -> None:
    w = World()  # max_rotation_chain 4
    chain = [w.sign_root(w.make_root(v), [w.independent, w.operator]) for v in range(2, 7)]
    logged = [w.append(x) for x in chain]
    signed, index = w.publish()
    package = w.package(
        signed, index, w.checkpoint(), rotations=list(zip(chain, logged, strict=True))
    )
    with pytest.raises(VerificationError) as info:
        verify_package(package, w.pinned, ClientState(), w.now)
    assert info.value.reason == Reason.TRUST_ROOT_CHAIN_TOO_LONG
    held = ClientState(
        rotations=tuple(StoredRotation(x, i) for x, i in zip(chain[:1], logged, strict=False))
    )
    assert verify_package(package, w.pinned, held, w.now).trust_root.version == 6


# -- step 2 and step 4 precedence (issue 17) ----------------------------------------------------


def test_chain_too_long_is_decided_before_a_malformed_entry() -> None:
    # SPEC §7.1 order: key 5's length before its entries' shapes; key 4 before key 5.
    w = World()
    package = parse_unverified_package(w.fresh_package())
    entries = (RotationEntry(w.signed_root, 0, ()),) * 17
    value = dcbor.decode(replace(package, rotations=entries).encode())
    assert isinstance(value, dict)
    rotations = value[5]
    assert isinstance(rotations, list)
    rotations[3] = "not a rotation"
    with pytest.raises(VerificationError) as info:
        parse_unverified_package(dcbor.encode(value))
    assert info.value.reason == Reason.TRUST_ROOT_CHAIN_TOO_LONG
    value[4] = "not a consistency proof"
    with pytest.raises(VerificationError) as info:
        parse_unverified_package(dcbor.encode(value))
    assert info.value.reason == Reason.MALFORMED_PACKAGE


def test_stale_is_decided_before_future_when_either_would_meet_the_quorum() -> None:
    w = World(quorum="any")
    signed, index = w.publish()
    either = {"witness.example/w1": w.now - MAX_AGE - 1, "witness.example/w2": w.now + 301}
    package = w.package(signed, index, w.checkpoint(cosign_at=either))
    with pytest.raises(VerificationError) as info:
        verify_package(package, w.pinned, ClientState(), w.now)
    assert info.value.reason == Reason.STALE_COSIGNATURE


# -- the state is a cache (SPEC §7.2) -----------------------------------------------------------


def test_state_with_an_unsigned_version_99_root_is_corrupt_never_trusted() -> None:
    w = World()
    v99 = w.sign_root(w.make_root(99), [role_signer("intruder")])  # signed by nobody trusted
    state = ClientState(rotations=(StoredRotation(v99, 0),))
    with pytest.raises(CorruptStateError, match="does not verify from the pinned root"):
        verify_package(w.fresh_package(), w.pinned, state, w.now)


def test_state_with_a_version_2_root_the_pinned_keys_did_not_sign_is_corrupt() -> None:
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, op2])
    with pytest.raises(CorruptStateError):
        trusted_chain(w.pinned, ClientState(rotations=(StoredRotation(v2, 0),)))


def test_version_1_state_root_is_migrated_only_when_it_verifies() -> None:
    w = World()
    op2 = role_signer("operator v2")
    good = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    bad = w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, op2])
    kept = trusted_chain(w.pinned, parse_state(dcbor.encode({1: 1, 3: [], 4: good})))
    assert kept.effective.version == 2
    assert kept.stored == (StoredRotation(good, 0),)
    dropped = trusted_chain(w.pinned, parse_state(dcbor.encode({1: 1, 3: [], 4: bad})))
    assert (dropped.effective, dropped.stored) == (w.pinned, ())
    # A migrated fleet gets its bundle stored by the next acceptance of the same bundle.
    package = w.fresh_package("prod-eu.vault", 1)
    state = run_w(w, package, ClientState())
    row = state.fleets["prod-eu.vault"]
    v1 = parse_state(dcbor.encode({1: 1, 3: [["prod-eu.vault", 1, row.digest]]}))
    assert v1.fleets["prod-eu.vault"].signed_bundle is None
    assert run_w(w, package, v1).fleets["prod-eu.vault"] == row
