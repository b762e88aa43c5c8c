"""The client decision (SPEC §7.3): accept fleet keys from an OTA package, or reject it.

:func:`verify_package` is the one entry point a client embeds. It is pure — no clock, file or
network of its own — and reads top to bottom as the numbered steps of SPEC §7.3. It returns an
:class:`Accepted` (the verified keys and the new state to persist) or raises
:class:`~transparency_log.errors.VerificationError` with one reason code of SPEC §9.

The decision serves clients in every state at once (SPEC §7, DESIGN §5a): one package per
fleet per checkpoint is accepted by every legitimate client (universal), again with the state
unchanged (idempotent), and across fleets in any order; each bundle is judged under the trust
root in force at its position in the log (:mod:`keybundle.trustchain`). Apps embed it through
:class:`keybundle.embedded.Client`, which adds the state directory's lock and atomic save.

This module and everything it imports must not import ``requests`` or ``click``
(tests/keybundle/test_embedding.py checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from transparency_log._frozen import Frozen
from transparency_log.checkpoint import Checkpoint, CheckpointVerifier, VerifiedCheckpoint
from transparency_log.errors import LogReason, VerificationError
from transparency_log.hashing import sha256
from transparency_log.merkle import leaf_hash
from transparency_log.proof import verify_consistency, verify_inclusion

from .errors import MisbehaviourError, Reason
from .package import MAX_PACKAGE_BYTES, Package, parse_unverified_package
from .payload import BundlePayload, FleetKey, parse_payload
from .roles import verify_signed_bundle
from .signed_trust_root import (
    UnverifiedSignedTrustRoot,
    parse_unverified_signed_trust_root,
    verify_rotation,
)
from .state import MAX_STATE_ROTATIONS, ClientState, FleetState
from .trustchain import TrustChain, trusted_chain
from .trustroot import TrustRoot

__all__ = ["Accepted", "MisbehaviourError", "effective_trust_root", "verify_package"]


class Accepted(Frozen):
    """A package that passed every step of SPEC §7.3. Only :func:`verify_package` makes one."""

    fleet_id: str
    epoch: int
    keys: tuple[FleetKey, ...]
    payload: BundlePayload
    signed_bundle: bytes
    index: int
    """The signed bundle's log index (the tlog-proof's)."""
    checkpoint: Checkpoint
    trust_root: TrustRoot
    """The effective trust root after the package (rotated by step 5, or unchanged)."""
    state: ClientState
    """The new state; persist it (SPEC §7.4) before using the keys."""

    def __init__(  # noqa: PLR0917 (positional, as the dataclass's)
        self,
        fleet_id: str,
        epoch: int,
        keys: tuple[FleetKey, ...],
        payload: BundlePayload,
        signed_bundle: bytes,
        index: int,
        checkpoint: Checkpoint,
        trust_root: TrustRoot,
        state: ClientState,
    ) -> None:
        self._freeze(
            fleet_id=fleet_id,
            epoch=epoch,
            keys=keys,
            payload=payload,
            signed_bundle=signed_bundle,
            index=index,
            checkpoint=checkpoint,
            trust_root=trust_root,
            state=state,
        )


def effective_trust_root(pinned: TrustRoot, state: ClientState) -> TrustRoot:
    """The effective trust root (SPEC §7.2): the newest root of the state's rotation chain,
    re-verified from ``pinned``, or ``pinned`` itself.

    Raises :class:`~keybundle.state.CorruptStateError` when the stored chain does not verify.
    """
    return trusted_chain(pinned, state).effective


# The checkpoint verifier of the last trust root seen. A client verifies against the same
# root object over and over; parsing its vkeys and checking them again each time costs more
# than a signature check.
_verifier_cache: tuple[TrustRoot, CheckpointVerifier] | None = None


def _checkpoint_verifier(root: TrustRoot) -> CheckpointVerifier:
    global _verifier_cache  # noqa: PLW0603 (a one-entry cache keyed by object identity)
    cached = _verifier_cache
    if cached is not None and cached[0] is root:
        return cached[1]
    verifier = CheckpointVerifier(
        root.log.verifier(),
        origin=root.log.origin,
        witnesses=tuple(root.policy.witness_verifiers()),
    )
    _verifier_cache = (root, verifier)
    return verifier


def verify_package(
    package: bytes,
    trust_root: TrustRoot,
    state: ClientState,
    now: int,
    *,
    fleet: str | None = None,
) -> Accepted:
    """Decide whether to accept ``package`` (SPEC §7.3).

    ``trust_root`` is the pinned root (the caller verified it as self-signed when loading it,
    ``signed_trust_root.verify_self_signed``); ``state`` the client's current state, which is never
    modified; ``now`` Unix seconds from the caller's clock; ``fleet`` the fleet id the caller
    expects, if it expects one. Wrong argument types are ``TypeError``/``ValueError``; a
    state whose rotation chain does not verify from ``trust_root`` is
    :class:`~keybundle.state.CorruptStateError` (SPEC §7.2).
    """
    if type(package) is not bytes:
        raise TypeError(f"package must be bytes, not {type(package).__name__}")
    if not isinstance(trust_root, TrustRoot):
        raise TypeError("trust_root must be a keybundle.trustroot.TrustRoot")
    if not isinstance(state, ClientState):
        raise TypeError("state must be a keybundle.state.ClientState")
    if type(now) is not int or now < 0:
        raise ValueError("now must be a non-negative int of Unix seconds")
    chain = trusted_chain(trust_root, state)
    root = chain.effective

    # Step 1 (SPEC §7.3): size cap.
    cap = min(MAX_PACKAGE_BYTES, root.limits.max_package_bytes)
    if len(package) > cap:
        raise VerificationError(
            Reason.PACKAGE_TOO_LARGE,
            f"the package is {len(package)} bytes; the limit is {cap} bytes. It is not a "
            "package for this client, or the trust root's max_package_bytes is too low",
        )

    # Step 2: strict decode of the package and its tlog-proof.
    pkg = parse_unverified_package(package)

    # Step 3: the checkpoint note opens under the log key (and the witness keys) of the
    # effective trust root before the package, its text is a checkpoint, and its origin is
    # the log's.
    verified = _checkpoint_verifier(root).verify(pkg.proof.checkpoint_note)
    cp = verified.checkpoint

    # Step 4: witness quorum, counting only fresh cosignatures.
    _check_quorum(verified, root, now)

    # Step 5: the trust-root chain, every entry proven in the same checkpoint; entries the
    # client holds are compared, newer ones applied. Steps 3-4 used the root before.
    if pkg.rotations:
        chain = _apply_chain(pkg, chain, cp)
    limits = chain.effective.limits

    # Step 6: inclusion of the exact signed-bundle bytes.
    verify_inclusion(
        leaf_hash(pkg.signed_bundle), pkg.proof.index, cp.size, pkg.proof.hashes, cp.root_hash
    )

    # Steps 7-8: independent signature(s), then operator countersignature(s) over them,
    # under the trust root in force at the bundle's position in the log.
    signed = verify_signed_bundle(pkg.signed_bundle, chain.root_at(pkg.proof.index))

    # Step 9: payload, fleet, validity window.
    payload = parse_payload(signed.payload)
    if fleet is not None and payload.fleet_id != fleet:
        raise VerificationError(
            Reason.WRONG_FLEET,
            f"the bundle is for fleet {payload.fleet_id!r}, but fleet {fleet!r} was expected; "
            "the service sent another fleet's package",
        )
    check_validity(payload, now, limits.clock_skew)

    # Step 10: fleet rules against the state.
    digest = sha256(pkg.signed_bundle).digest()
    _check_fleet_rules(payload, digest, pkg, state, limits.max_epoch_jump)

    # Step 11: checkpoint progression and consistency with the stored checkpoint.
    keep_stored = _check_progression(pkg, cp, state)

    # Step 12: the result and the new state (a new value; ``state`` is untouched).
    # Both values are built without their constructors' checks, which hold here: the epoch
    # is the payload's (>= 1), the digest SHA-256 of the non-empty bundle, the index below
    # the checkpoint's size; the fleets are the state's plus this one, sorted again, and
    # the rotations the chain's StoredRotation tuple.
    fleets = dict(state.fleets)
    known = fleets.get(payload.fleet_id)
    if known is None or known.digest != digest or known.signed_bundle is None:
        fleets[payload.fleet_id] = FleetState._unchecked(
            epoch=payload.epoch,
            digest=digest,
            signed_bundle=pkg.signed_bundle,
            index=pkg.proof.index,
        )
    new_state = ClientState._unchecked(
        checkpoint_note=state.checkpoint_note if keep_stored else pkg.proof.checkpoint_note,
        fleets=MappingProxyType(dict(sorted(fleets.items()))),
        rotations=chain.stored,
        legacy_trust_root=None,
    )
    return Accepted(
        fleet_id=payload.fleet_id,
        epoch=payload.epoch,
        keys=payload.keys,
        payload=payload,
        signed_bundle=pkg.signed_bundle,
        index=pkg.proof.index,
        checkpoint=cp,
        trust_root=chain.effective,
        state=new_state,
    )


def check_validity(payload: BundlePayload, now: int, skew: int) -> None:
    """SPEC §7.3 step 9's window: ``not_before - skew <= now <= not_after + skew``."""
    if payload.not_before > now + skew:
        raise VerificationError(
            Reason.NOT_YET_VALID,
            f"the bundle is valid from {payload.not_before}, but now is {now} "
            f"(allowed clock skew {skew} s); check the device clock",
        )
    if payload.not_after < now - skew:
        raise VerificationError(
            Reason.EXPIRED,
            f"the bundle expired at {payload.not_after}, but now is {now} "
            f"(allowed clock skew {skew} s); fetch a fresh package or check the device clock",
        )


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names))


def _check_quorum(verified: VerifiedCheckpoint, root: TrustRoot, now: int) -> None:
    """Step 4 (SPEC §7.3): fresh cosignatures must satisfy the policy's quorum."""
    policy = root.policy
    skew = root.limits.clock_skew
    oldest = now - root.limits.max_cosignature_age
    newest = now + skew
    cosignatures = verified.cosignatures
    fresh = {n for n, t in cosignatures.items() if oldest <= t <= newest}
    if policy.quorum_satisfied(fresh):
        return
    stale = {n for n, t in cosignatures.items() if t < oldest}
    future = {n for n, t in cosignatures.items() if t > newest}
    if stale and policy.quorum_satisfied(fresh | stale):
        raise VerificationError(
            Reason.STALE_COSIGNATURE,
            f"the witness quorum is met only with cosignatures older than "
            f"{root.limits.max_cosignature_age} s (by {_names(stale)}); the package's "
            "checkpoint is stale (a freeze attack, or an old package): fetch a fresh package",
        )
    if future and policy.quorum_satisfied(fresh | future):
        raise VerificationError(
            Reason.FUTURE_COSIGNATURE,
            f"the witness quorum is met only with cosignatures dated after now ({now}) + "
            f"{skew} s (by {_names(future)}); check the device clock",
        )
    policy.check_quorum(fresh)
    raise AssertionError("bad math in _check_quorum: check_quorum accepted an unmet quorum")


def _apply_chain(pkg: Package, chain: TrustChain, cp: Checkpoint) -> TrustChain:
    """Step 5 (SPEC §7.3): the package's trust-root chain against the client's.

    In order: (a) every entry is included at its index under the checkpoint, all before any
    is used; (b) every entry parses and the versions ascend by exactly one; (c) the entries
    above the effective version number at most its ``max_rotation_chain``; (d) per entry of
    version v: below the pinned version, ignored; equal to it, the same trust root as the
    pinned one; up to the effective version, byte for byte the held rotation; above it, a
    valid rotation of the previous root (SPEC §5.3), adopted with its index.
    """
    for i, entry in enumerate(pkg.rotations):
        # The package's uint may exceed any tree size (2^63 - 1), which verify_inclusion
        # treats as a caller mistake: an index outside the tree is not included in it.
        if entry.index >= cp.size:
            raise VerificationError(
                LogReason.BAD_INCLUSION_PROOF,
                f"trust-root rotation {i} claims leaf index {entry.index}, which is not in the "
                f"checkpoint's tree of size {cp.size}; the rotation is not in this log",
            )
        verify_inclusion(
            leaf_hash(entry.signed_trust_root), entry.index, cp.size, entry.hashes, cp.root_hash
        )
    parsed = [parse_unverified_signed_trust_root(e.signed_trust_root) for e in pkg.rotations]
    for a, b in pairwise(parsed):
        if b.root.version != a.root.version + 1:
            raise VerificationError(
                Reason.TRUST_ROOT_VERSION,
                f"the package's trust-root chain goes from version {a.root.version} to "
                f"{b.root.version}; a chain holds consecutive versions in ascending order",
            )
    effective = chain.effective
    pinned = chain.pinned
    fresh = sum(1 for p in parsed if p.root.version > effective.version)
    cap = effective.limits.max_rotation_chain
    if fresh > cap:
        raise VerificationError(
            Reason.TRUST_ROOT_CHAIN_TOO_LONG,
            f"the package carries {fresh} trust-root rotations beyond version "
            f"{effective.version}; this trust root allows at most {cap} at once. Update the "
            "pinned trust root",
        )
    if len(chain.stored) + fresh > MAX_STATE_ROTATIONS:
        raise VerificationError(
            Reason.TRUST_ROOT_CHAIN_TOO_LONG,
            f"adopting {fresh} more rotations would hold {len(chain.stored) + fresh} in the "
            f"state; at most {MAX_STATE_ROTATIONS}. Update the pinned trust root",
        )
    for entry, p in zip(pkg.rotations, parsed, strict=True):
        version = p.root.version
        if version < pinned.version:
            continue  # older than the pinned root: never trusted, never used
        if version <= effective.version:
            _check_held(entry.signed_trust_root, entry.index, p, chain, pkg)
            continue
        root = verify_rotation(chain.effective, entry.signed_trust_root)
        chain = chain.adopt(entry.signed_trust_root, entry.index, root)
    return chain


def _check_held(
    signed: bytes, index: int, parsed: UnverifiedSignedTrustRoot, chain: TrustChain, pkg: Package
) -> None:
    """Step 5 (d): an entry of a version the client holds MUST be the root it holds."""
    version = parsed.root.version
    held = chain.held(version)
    if held is None:  # the pinned version
        if parsed.payload == _encoded(chain.pinned):
            return
        theirs = "the pinned trust root"
        ours: dict[str, Any] = {"pinned_trust_root": _encoded(chain.pinned)}
    else:
        if signed == held.signed_trust_root:
            return
        theirs = f"the rotation this client adopted at log index {held.index}"
        ours = {"held_trust_root": held.signed_trust_root, "held_index": held.index}
    raise MisbehaviourError(
        Reason.TRUST_ROOT_CONFLICT,
        f"the package's trust root of version {version} (log index {index}) differs from "
        f"{theirs}: two roots signed for one version. Keep the evidence and report it",
        {
            **ours,
            "version": version,
            "signed_trust_root": signed,
            "index": index,
            "checkpoint": pkg.proof.checkpoint_note,
        },
    )


_encoded_cache: tuple[TrustRoot, bytes] | None = None


def _encoded(root: TrustRoot) -> bytes:
    global _encoded_cache  # noqa: PLW0603 (a one-entry cache keyed by object identity)
    cached = _encoded_cache
    if cached is None or cached[0] is not root:
        cached = (root, root.encode())
        _encoded_cache = cached
    return cached[1]


def _check_fleet_rules(
    payload: BundlePayload,
    digest: bytes,
    pkg: Package,
    state: ClientState,
    max_jump: int,
) -> None:
    """Step 10 (SPEC §7.3): epochs only move forward, and contiguous epochs chain."""
    known = state.fleets.get(payload.fleet_id)
    if known is None:
        return
    fleet, e, stored = payload.fleet_id, payload.epoch, known.epoch
    if e < stored:
        raise VerificationError(
            Reason.ROLLBACK,
            f"fleet {fleet!r} is at epoch {stored} on this client; the package carries the "
            f"older epoch {e} (a rollback or an old package): fetch a fresh package",
        )
    if e == stored:
        if digest == known.digest:
            return
        raise MisbehaviourError(
            Reason.EPOCH_CONFLICT,
            f"fleet {fleet!r} epoch {e} was accepted with another bundle "
            f"(sha256 {known.digest.hex()}); this one differs (sha256 {digest.hex()}): two "
            "bundles signed for one epoch. Keep the evidence and report it",
            {
                "fleet": fleet,
                "epoch": e,
                "accepted_digest": known.digest,
                "signed_bundle": pkg.signed_bundle,
                "proof": pkg.proof.format(),
            },
        )
    if e == stored + 1:
        if payload.previous_digest != known.digest:
            found = payload.previous_digest.hex() if payload.previous_digest else "none"
            raise VerificationError(
                Reason.BROKEN_CHAIN,
                f"fleet {fleet!r} epoch {e} must chain to the accepted epoch {stored} "
                f"(sha256 {known.digest.hex()}), but names previous bundle {found}",
            )
        return
    if e - stored > max_jump:
        raise VerificationError(
            Reason.EPOCH_JUMP_TOO_LARGE,
            f"fleet {fleet!r} jumps from epoch {stored} to {e}; the trust root allows at most "
            f"{max_jump} epochs at once (a fast-forward): this client must be re-provisioned",
        )


def _check_progression(pkg: Package, cp: Checkpoint, state: ClientState) -> bool:
    """Step 11 (SPEC §7.3). Returns True when the stored checkpoint stays.

    A stored checkpoint of another origin (the log changed by a trust-root rotation) is not
    comparable: the package's replaces it. A smaller checkpoint is accepted and the stored
    (larger) one stays; an equal size must have the stored root; a larger one is checked for
    consistency when the package's proof starts at the stored size, and replaces it.
    """
    stored = state.checkpoint()
    if stored is None or stored.origin != cp.origin:
        return False
    if cp.size < stored.size:
        return True
    evidence: dict[str, Any] = {
        "stored_checkpoint": state.checkpoint_note,
        "package_checkpoint": pkg.proof.checkpoint_note,
    }
    if cp.size == stored.size:
        if cp.root_hash != stored.root_hash:
            raise MisbehaviourError(
                Reason.INCONSISTENT_CHECKPOINT,
                f"two checkpoints of size {cp.size} with different roots ({stored.root_hash.hex()}"
                f" stored, {cp.root_hash.hex()} in the package): the log shows different views "
                "to different clients (split view). Keep the evidence and report it",
                evidence,
            )
        return True
    consistency = pkg.consistency
    if consistency is not None and consistency.old_size == stored.size:
        _verify_consistency(stored, cp, consistency.hashes, evidence)
    return False


def _verify_consistency(
    stored: Checkpoint, cp: Checkpoint, hashes: Sequence[bytes], evidence: dict[str, Any]
) -> None:
    """Step 11: a consistency proof that fails is evidence of a fork (SPEC §7.3)."""
    try:
        verify_consistency(stored.size, cp.size, hashes, stored.root_hash, cp.root_hash)
    except VerificationError as e:
        if e.reason != LogReason.BAD_CONSISTENCY_PROOF:
            raise
        raise MisbehaviourError(
            e.reason,
            e.message,
            {**evidence, "consistency_proof": {"old_size": stored.size, "hashes": list(hashes)}},
        ) from e
