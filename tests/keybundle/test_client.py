"""Tests for keybundle.client: the client decision of SPEC §7.3, step by step.

Every attack of DESIGN §6 that reaches a client is a case of the scenario tables below, named
for what it breaks and asserting the exact reason code of SPEC §9. Packages are real: built by
tests/keybundle/world.py from fixed keys, with a real log, witnesses and trust root.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from keybundle import cose, dcbor
from keybundle.client import Accepted, MisbehaviourError, verify_package
from keybundle.errors import LogReason, Reason, VerificationError
from keybundle.package import (
    MAX_PACKAGE_BYTES,
    ConsistencyProof,
    RotationEntry,
    parse_unverified_package,
)
from keybundle.signers import P256_ORDER, Ed25519Signer, PublicKey, Signer
from keybundle.state import ClientState, FleetState, StoredRotation
from keybundle.trustroot import TrustRoot
from tests.keybundle.world import (
    DAY,
    DEFAULT_FLEET,
    DEFAULT_LIMITS,
    INDEPENDENT_ORG,
    OPERATOR_ORG,
    World,
    fleet_keys,
    role_signer,
    seed,
)
from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.tlog_proof import TlogProof

ALL_REASONS = frozenset(Reason) | frozenset(LogReason)
"""The closed list of SPEC §9 (tests/test_spec.py checks the table against these enums)."""
SKEW = DEFAULT_LIMITS.clock_skew
MAX_AGE = DEFAULT_LIMITS.max_cosignature_age
JUMP = DEFAULT_LIMITS.max_epoch_jump

# -- helpers ----------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One call of verify_package: a package, the client's root and state, its clock."""

    world: World
    package: bytes
    state: ClientState = field(default_factory=ClientState)
    trust_root: TrustRoot | None = None
    now: int | None = None
    fleet: str | None = None

    def run(self) -> Accepted:
        return verify_package(
            self.package,
            self.trust_root or self.world.pinned,
            self.state,
            self.world.now if self.now is None else self.now,
            fleet=self.fleet,
        )


def accept(w: World, package: bytes, state: ClientState | None = None) -> ClientState:
    """Verify ``package`` (it must be accepted) and return the new state."""
    return verify_package(package, w.pinned, state or ClientState(), w.now).state


def edit_sign1(signed: bytes, **changes: object) -> bytes:
    """``signed`` with fields of its COSE_Sign1 replaced (signatures are not redone)."""
    return cose.encode_sign1(replace(cose.parse_unverified_sign1(signed), **changes))  # type: ignore[arg-type]


def flip(data: bytes, position: int = 0, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


def edit_countersignature(signed: bytes, **changes: object) -> bytes:
    """``signed`` with fields of its (one) countersignature replaced."""
    sign1 = cose.parse_unverified_sign1(signed)
    (cs,) = sign1.countersignatures
    return cose.encode_sign1(replace(sign1, countersignatures=(replace(cs, **changes),)))  # type: ignore[arg-type]


def edit_note_signature(signed_note: bytes, name: str, mask: int = 0x01) -> bytes:
    """``signed_note`` with the last byte of ``name``'s signature xored with ``mask``."""
    text, sigs = note.parse_unverified(signed_note)
    lines = []
    for sig in sigs:
        if sig.name == name:
            forged = note.Signature(name, sig.key_hash, flip(sig.signature, -1, mask))
            lines.append(forged.to_line())
        else:
            lines.append(sig.to_line())
    return (text + "\n" + "".join(lines)).encode()


def edit_package(package: bytes, **changes: object) -> bytes:
    """``package`` re-encoded with fields of its parse replaced."""
    return replace(parse_unverified_package(package), **changes).encode()  # type: ignore[arg-type]


class AlgLiar:
    """A signer that claims another COSE alg than its key's (an ALG_MISMATCH attack)."""

    def __init__(self, inner: Signer, cose_alg: int) -> None:
        self.inner = inner
        self.algorithm = inner.algorithm
        self.cose_alg = cose_alg

    @property
    def kid(self) -> bytes:
        return self.inner.kid

    def public_key(self) -> PublicKey:
        return self.inner.public_key()

    def sign(self, message: bytes) -> bytes:
        return self.inner.sign(message)


def payload_map(w: World, **overrides: object) -> dict[int | str, dcbor.CborValue]:
    """The CBOR map of a valid epoch-1 payload (SPEC §3.2), to break field by field."""
    value = dcbor.decode(w.bundle())
    assert isinstance(value, dict)
    for name, v in overrides.items():
        value[{"fleet": 2, "epoch": 3, "keys": 8}[name]] = v  # type: ignore[assignment]
    return value


# -- the scenario table -----------------------------------------------------------------------

REJECTIONS: list[tuple[str, str, Callable[[], Attempt]]] = []
ACCEPTANCES: list[tuple[str, Callable[[], Attempt]]] = []


def rejects(reason: str, name: str) -> Callable[[Callable[[], Attempt]], Callable[[], Attempt]]:
    def register(make: Callable[[], Attempt]) -> Callable[[], Attempt]:
        REJECTIONS.append((name, str(reason), make))
        return make

    return register


def accepts(name: str) -> Callable[[Callable[[], Attempt]], Callable[[], Attempt]]:
    def register(make: Callable[[], Attempt]) -> Callable[[], Attempt]:
        ACCEPTANCES.append((name, make))
        return make

    return register


# Step 1: size cap.


@rejects(Reason.PACKAGE_TOO_LARGE, "package one byte over the trust root's max_package_bytes")
def _() -> Attempt:
    probe = World().fresh_package()
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=len(probe) - 1))
    return Attempt(w, w.fresh_package())


@accepts("package exactly at the trust root's max_package_bytes")
def _() -> Attempt:
    probe = World().fresh_package()
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=len(probe)))
    return Attempt(w, w.fresh_package())


@rejects(Reason.PACKAGE_TOO_LARGE, "package over the absolute MAX_PACKAGE_BYTES")
def _() -> Attempt:
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=2**40))
    return Attempt(w, b"\x00" * (MAX_PACKAGE_BYTES + 1))


# Step 2: strict decode.


@rejects(Reason.MALFORMED_CBOR, "package is not CBOR")
def _() -> Attempt:
    return Attempt(World(), b"\xff")


@rejects(Reason.MALFORMED_CBOR, "package map with a non-minimal length head")
def _() -> Attempt:
    w = World()
    package = w.fresh_package()
    assert package[0] == 0xA3
    return Attempt(w, b"\xb8\x03" + package[1:])


@rejects(Reason.MALFORMED_CBOR, "package nested 100 arrays deep")
def _() -> Attempt:
    return Attempt(World(), b"\x81" * 100 + b"\x00")


@rejects(Reason.MALFORMED_PACKAGE, "package is an array, not a map")
def _() -> Attempt:
    return Attempt(World(), dcbor.encode([1, b"x", "y"]))


@rejects(Reason.MALFORMED_PACKAGE, "package with an unknown field 6")
def _() -> Attempt:
    w = World()
    value = dcbor.decode(w.fresh_package())
    assert isinstance(value, dict)
    value[6] = 0
    return Attempt(w, dcbor.encode(value))


@rejects(LogReason.MALFORMED_PROOF, "tlog-proof index in non-canonical decimal")
def _() -> Attempt:
    w = World()
    value = dcbor.decode(w.fresh_package())
    assert isinstance(value, dict)
    assert isinstance(value[3], str)
    value[3] = value[3].replace("\nindex 0\n", "\nindex 00\n")
    return Attempt(w, dcbor.encode(value))


@rejects(LogReason.MALFORMED_PROOF, "tlog-proof hash in non-canonical base64 (no padding)")
def _() -> Attempt:
    w = World()
    w.publish(DEFAULT_FLEET, 1)
    w.append(b"filler")
    package = w.package(w.entries[0], 0, w.checkpoint())
    value = dcbor.decode(package)
    assert isinstance(value, dict)
    assert isinstance(value[3], str)
    h = base64.b64encode(parse_unverified_package(package).proof.hashes[0]).decode()
    value[3] = value[3].replace(h, h.rstrip("="))
    return Attempt(w, dcbor.encode(value))


@rejects(LogReason.MALFORMED_NOTE, "checkpoint note without signature lines")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    body = Checkpoint("log.example/keybundle", w.size, w.root_hash()).body()
    bad = TlogProof(index, (), (body + "\n").encode())
    return Attempt(w, edit_package(w.package(signed, index, w.checkpoint()), proof=bad))


@rejects(LogReason.MALFORMED_CHECKPOINT, "log-signed note whose text is not a checkpoint")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    text = f"log.example/keybundle\n{w.size}\nnot base64\n"
    bad_note = note.sign(text, w.log_signer).encode()
    return Attempt(w, w.package(signed, index, bad_note, hashes=()))


@rejects(Reason.TRUST_ROOT_CHAIN_TOO_LONG, "17 rotation entries, over the absolute cap")
def _() -> Attempt:
    w = World()
    package = parse_unverified_package(w.fresh_package())
    rotations = tuple(RotationEntry(w.signed_root, 0, ()) for _ in range(17))
    return Attempt(w, replace(package, rotations=rotations).encode())


# Step 3: the log's signature and origin.


@rejects(LogReason.BAD_NOTE_SIGNATURE, "checkpoint with a forged log signature")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    forged = edit_note_signature(w.checkpoint(), "log.example/keybundle")
    return Attempt(w, w.package(signed, index, forged))


@rejects(LogReason.UNTRUSTED_NOTE, "checkpoint signed by another key of the log's name")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    impostor = note.Ed25519Signer("log.example/keybundle", b"\x99" * 32)
    return Attempt(w, w.package(signed, index, w.checkpoint(log_signer=impostor)))


@rejects(LogReason.UNTRUSTED_NOTE, "checkpoint cosigned by the witnesses but not by the log")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    text = Checkpoint("log.example/keybundle", w.size, w.root_hash()).body()
    lines = "".join(
        note.Signature(x.name, x.key_hash, x.sign_at(text.encode(), w.now)).to_line()
        for x in w.witnesses
    )
    return Attempt(w, w.package(signed, index, (text + "\n" + lines).encode()))


@rejects(LogReason.WRONG_ORIGIN, "checkpoint of another origin, signed by the log's key")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(origin="other.example/log")))


# Step 4: the witness quorum and cosignature freshness.


@rejects(LogReason.QUORUM_NOT_MET, "one of two required witnesses cosigned")
def _() -> Attempt:
    w = World(quorum="all")
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(witnesses=w.witnesses[:1])))


@accepts("one of two witnesses cosigned under a 1-of-2 quorum")
def _() -> Attempt:
    w = World(quorum="any")
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(witnesses=w.witnesses[1:])))


@rejects(LogReason.QUORUM_NOT_MET, "log key forgery without witnesses: forged root, no cosignature")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    forged = w.checkpoint(witnesses=(), root_hash=b"\x42" * 32)
    return Attempt(w, w.package(signed, index, forged, hashes=()))


@rejects(LogReason.QUORUM_NOT_MET, "cosignature by a witness the policy does not know")
def _() -> Attempt:
    w = World(quorum="all")
    signed, index = w.publish()
    stranger = CosignatureV1Signer("witness.example/w3", b"\x33" * 32)
    return Attempt(w, w.package(signed, index, w.checkpoint(witnesses=(w.witnesses[0], stranger))))


@rejects(LogReason.BAD_NOTE_SIGNATURE, "a witness cosignature that does not verify")
def _() -> Attempt:
    w = World(quorum="any")
    signed, index = w.publish()
    forged = edit_note_signature(w.checkpoint(), "witness.example/w2")
    return Attempt(w, w.package(signed, index, forged))


@rejects(Reason.STALE_COSIGNATURE, "cosignatures one second older than max_cosignature_age")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE - 1)))


@accepts("cosignatures exactly max_cosignature_age old")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE)))


@rejects(Reason.STALE_COSIGNATURE, "one fresh and one stale cosignature, both required")
def _() -> Attempt:
    w = World(quorum="all")
    signed, index = w.publish()
    times = {"witness.example/w1": w.now, "witness.example/w2": w.now - MAX_AGE - 1}
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=times)))


@accepts("one fresh and one stale cosignature under a 1-of-2 quorum")
def _() -> Attempt:
    w = World(quorum="any")
    signed, index = w.publish()
    times = {"witness.example/w1": w.now, "witness.example/w2": w.now - MAX_AGE - 1}
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=times)))


@rejects(Reason.FUTURE_COSIGNATURE, "cosignatures one second beyond the clock skew")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=w.now + SKEW + 1)))


@accepts("cosignatures exactly clock_skew in the future")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=w.now + SKEW)))


@rejects(LogReason.QUORUM_NOT_MET, "one stale and one future cosignature, both required")
def _() -> Attempt:
    w = World(quorum="all")
    signed, index = w.publish()
    times = {"witness.example/w1": w.now + SKEW + 1, "witness.example/w2": w.now - MAX_AGE - 1}
    return Attempt(w, w.package(signed, index, w.checkpoint(cosign_at=times)))


# Step 6: inclusion of the exact signed-bundle bytes.


@rejects(LogReason.BAD_INCLUSION_PROOF, "bundle not in the log (another entry's proof)")
def _() -> Attempt:
    w = World()
    w.publish("other-fleet", 1)
    w.append(b"filler")
    unlogged = w.signed_bundle()
    return Attempt(w, w.package(unlogged, 0, w.checkpoint()))


@rejects(LogReason.BAD_INCLUSION_PROOF, "bundle appended after the checkpoint (index >= size)")
def _() -> Attempt:
    w = World()
    w.append(b"filler")
    checkpoint = w.checkpoint()
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, checkpoint, hashes=()))


@rejects(LogReason.BAD_INCLUSION_PROOF, "proof for another index of the same proof length")
def _() -> Attempt:
    w = World()
    for n in range(4):
        w.append(b"filler %d" % n)
    signed, index = w.publish()  # index 4 of 6
    w.append(b"filler 5")
    checkpoint = w.checkpoint()
    proof_of_5 = w.tlog_proof(5, checkpoint).hashes
    return Attempt(w, w.package(signed, index, checkpoint, hashes=proof_of_5))


@rejects(LogReason.BAD_INCLUSION_PROOF, "proof for another tree size of the same proof length")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    for n in range(5):
        w.append(b"filler %d" % n)  # size 6
    checkpoint = w.checkpoint()
    proof_in_5 = w.tlog_proof(index, w.checkpoint(5)).hashes
    return Attempt(w, w.package(signed, index, checkpoint, hashes=proof_in_5))


@rejects(LogReason.BAD_INCLUSION_PROOF, "proof for another root: a cosigned checkpoint of a fork")
def _() -> Attempt:
    w, fork = World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    fork.append(b"other")
    fork.append(b"filler")
    return Attempt(
        w,
        w.package(
            signed, index, fork.checkpoint(), hashes=w.tlog_proof(index, w.checkpoint()).hashes
        ),
    )


@rejects(LogReason.MALFORMED_PROOF, "inclusion proof with one hash too many")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    w.append(b"filler")
    checkpoint = w.checkpoint()
    hashes = (*w.tlog_proof(index, checkpoint).hashes, b"\x00" * 32)
    return Attempt(w, w.package(signed, index, checkpoint, hashes=hashes))


@rejects(LogReason.MALFORMED_PROOF, "inclusion proof with one hash too few")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    w.append(b"filler")
    return Attempt(w, w.package(signed, index, w.checkpoint(), hashes=()))


# Step 7: the independent signature.


@rejects(Reason.BAD_INDEPENDENT_SIGNATURE, "independent signature forged (one bit flipped)")
def _() -> Attempt:
    w = World()
    signed = w.sign(w.bundle())
    sig = cose.parse_unverified_sign1(signed).signature
    forged = w.countersign(edit_sign1(signed, signature=flip(sig, 10)))
    return Attempt(w, w.package(forged, w.append(forged), w.checkpoint()))


@rejects(Reason.MALFORMED_COSE, "independent signature truncated to 63 bytes")
def _() -> Attempt:
    w = World()
    signed = w.signed_bundle()
    value = dcbor.decode(signed, tags=frozenset({18}))
    assert isinstance(value, dcbor.Tag)
    assert isinstance(value.value, list)
    value.value[3] = value.value[3][:63]  # type: ignore[index]
    truncated = dcbor.encode(value)
    return Attempt(w, w.package(truncated, w.append(truncated), w.checkpoint()))


@rejects(Reason.BAD_INDEPENDENT_SIGNATURE, "payload changed after signing")
def _() -> Attempt:
    w = World()
    signed = w.signed_bundle()
    changed = edit_sign1(signed, payload=w.bundle(not_after=w.now + 2 * 365 * DAY))
    return Attempt(w, w.package(changed, w.append(changed), w.checkpoint()))


@rejects(Reason.BAD_INDEPENDENT_SIGNATURE, "Ed25519 signature with non-canonical S (S + L)")
def _() -> Attempt:
    w = World()
    signed = w.sign(w.bundle())
    sig = cose.parse_unverified_sign1(signed).signature
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(sig[32:], "little") + order
    malleated = w.countersign(edit_sign1(signed, signature=sig[:32] + s.to_bytes(32, "little")))
    return Attempt(w, w.package(malleated, w.append(malleated), w.checkpoint()))


@rejects(Reason.BAD_INDEPENDENT_SIGNATURE, "ES256 signature in high-S form (n - s)")
def _() -> Attempt:
    w = World(algorithm="p256")
    signed = w.sign(w.bundle())
    sig = cose.parse_unverified_sign1(signed).signature
    high = P256_ORDER - int.from_bytes(sig[32:], "big")
    malleated = w.countersign(edit_sign1(signed, signature=sig[:32] + high.to_bytes(32, "big")))
    return Attempt(w, w.package(malleated, w.append(malleated), w.checkpoint()))


@rejects(Reason.UNKNOWN_KEY, "bundle signed by a key the trust root does not hold")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(w.bundle(), role_signer("stranger")))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.UNKNOWN_KEY, "TOFU: bundle signed by a fleet key it carries itself")
def _() -> Attempt:
    w = World()
    hsm = Ed25519Signer(seed(f"fleet {DEFAULT_FLEET} epoch 1 hsm 1 ed25519"))
    assert hsm.public_key().raw in {k.public_key for k in fleet_keys(DEFAULT_FLEET, 1)}
    signed = w.countersign(w.sign(w.bundle(), hsm))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(
    Reason.UNKNOWN_KEY, "roles swapped: signed by the operator, countersigned by the independent"
)
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(w.bundle(), w.operator), w.independent)
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.ALG_MISMATCH, "independent signature claims ES256 for an Ed25519 key")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(w.bundle(), AlgLiar(w.independent, -7)))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.INDEPENDENT_THRESHOLD_NOT_MET, "independent threshold of 2 organisations")
def _() -> Attempt:
    w = World()
    second = role_signer("independent 2")
    root = w.make_root(
        1,
        independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", second)],
        independent_threshold=2,
    )
    return Attempt(w, w.fresh_package(), trust_root=root)


# Step 8: the operator countersignature(s).


@rejects(Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET, "no countersignature (independent only)")
def _() -> Attempt:
    w = World()
    signed = w.sign(w.bundle())
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.BAD_COUNTERSIGNATURE, "countersignature forged (one bit flipped)")
def _() -> Attempt:
    w = World()
    signed = w.signed_bundle()
    (cs,) = cose.parse_unverified_sign1(signed).countersignatures
    forged = edit_countersignature(signed, signature=flip(cs.signature, 5))
    return Attempt(w, w.package(forged, w.append(forged), w.checkpoint()))


@rejects(Reason.MALFORMED_COSE, "countersignature truncated to 63 bytes")
def _() -> Attempt:
    w = World()
    signed = w.signed_bundle()
    (cs,) = cose.parse_unverified_sign1(signed).countersignatures
    truncated = edit_countersignature(signed, signature=cs.signature[:63])
    return Attempt(w, w.package(truncated, w.append(truncated), w.checkpoint()))


@rejects(Reason.UNKNOWN_KEY, "countersigned by a key the trust root does not hold")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(w.bundle()), role_signer("stranger"))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.UNKNOWN_KEY, "countersigned by the independent key (a role it does not hold)")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(w.bundle()), w.independent)
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.ALG_MISMATCH, "countersignature claims ES256 for an Ed25519 key")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(w.bundle()), AlgLiar(w.operator, -7))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.BAD_COUNTERSIGNATURE, "countersignature moved from another bundle")
def _() -> Attempt:
    w = World()
    other = w.signed_bundle("other-fleet", 1)
    (cs,) = cose.parse_unverified_sign1(other).countersignatures
    signed = edit_sign1(w.sign(w.bundle()), countersignatures=(cs,))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(
    Reason.BAD_COUNTERSIGNATURE, "countersignature transplanted onto another independent signature"
)
def _() -> Attempt:
    w = World()
    second = role_signer("independent 2")
    root = w.make_root(
        1, independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", second)]
    )
    payload = w.bundle()
    (cs,) = cose.parse_unverified_sign1(w.signed_bundle()).countersignatures
    # The same payload signed by the other independent key, carrying the countersignature
    # that the operator made over the first key's signature.
    signed = edit_sign1(w.sign(payload, second), countersignatures=(cs,))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()), trust_root=root)


@rejects(
    Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
    "operator threshold 2: one organisation countersigned",
)
def _() -> Attempt:
    w = World()
    second = role_signer("operator 2")
    root = w.make_root(
        1, operator=[(OPERATOR_ORG, w.operator), ("Second Operator", second)], operator_threshold=2
    )
    return Attempt(w, w.fresh_package(), trust_root=root)


@rejects(
    Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET, "operator threshold 2: two keys of one organisation"
)
def _() -> Attempt:
    w = World()
    second, third = role_signer("operator 2"), role_signer("operator 3")
    root = w.make_root(
        1,
        operator=[(OPERATOR_ORG, w.operator), (OPERATOR_ORG, second), ("Third Operator", third)],
        operator_threshold=2,
    )
    signed = w.countersign(w.signed_bundle(), second)
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()), trust_root=root)


@accepts("operator threshold 2: two organisations countersigned")
def _() -> Attempt:
    w = World()
    second = role_signer("operator 2")
    root = w.make_root(
        1, operator=[(OPERATOR_ORG, w.operator), ("Second Operator", second)], operator_threshold=2
    )
    signed = w.countersign(w.signed_bundle(), second)
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()), trust_root=root)


# Step 9: payload, fleet, validity window.


@rejects(Reason.MALFORMED_CBOR, "signed payload is not deterministic CBOR")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(b"\xa1\x01\x18\x01"))  # {1: 1} with a non-minimal head
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.MALFORMED_BUNDLE, "signed payload is a map that is not a bundle")
def _() -> Attempt:
    w = World()
    signed = w.countersign(w.sign(dcbor.encode({1: 1})))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.INVALID_FLEET_KEY, "fleet key is a small-order X25519 point")
def _() -> Attempt:
    w = World()
    value = payload_map(w)
    keys = value[8]
    assert isinstance(keys, list)
    assert isinstance(keys[1], dict)
    assert keys[1][2] == "x25519"
    keys[1][3] = b"\x00" * 32
    signed = w.countersign(w.sign(dcbor.encode(value)))
    return Attempt(w, w.package(signed, w.append(signed), w.checkpoint()))


@rejects(Reason.WRONG_FLEET, "bundle for another fleet than the caller expects")
def _() -> Attempt:
    w = World()
    return Attempt(w, w.fresh_package("staging.vault", 1), fleet=DEFAULT_FLEET)


@accepts("bundle for the fleet the caller expects")
def _() -> Attempt:
    w = World()
    return Attempt(w, w.fresh_package(), fleet=DEFAULT_FLEET)


@rejects(Reason.EXPIRED, "bundle expired one second beyond the clock skew")
def _() -> Attempt:
    w = World()
    end = w.now - SKEW - 1
    return Attempt(w, w.fresh_package(issued_at=end - DAY, not_before=end - DAY, not_after=end))


@accepts("bundle expired exactly clock_skew ago")
def _() -> Attempt:
    w = World()
    end = w.now - SKEW
    return Attempt(w, w.fresh_package(issued_at=end - DAY, not_before=end - DAY, not_after=end))


@rejects(Reason.NOT_YET_VALID, "bundle valid from one second beyond the clock skew")
def _() -> Attempt:
    w = World()
    return Attempt(w, w.fresh_package(not_before=w.now + SKEW + 1))


@accepts("bundle valid from exactly clock_skew ahead")
def _() -> Attempt:
    w = World()
    return Attempt(w, w.fresh_package(not_before=w.now + SKEW))


# Step 10: fleet rules against the state.


def _with_epoch(w: World, epoch: int) -> ClientState:
    """A client that accepted the world's bundle of epoch ``epoch`` (published here)."""
    for e in range(1, epoch + 1):
        signed, index = w.publish(DEFAULT_FLEET, e)
    state = accept(w, w.package(signed, index, w.checkpoint()))
    assert state.fleets[DEFAULT_FLEET].epoch == epoch
    return state


@rejects(Reason.ROLLBACK, "rollback to an older epoch")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 2)
    return Attempt(w, w.package(w.entries[0], 0, w.checkpoint()), state=state)


@rejects(Reason.EPOCH_CONFLICT, "the accepted epoch again, with different bytes")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    signed, index = w.publish(DEFAULT_FLEET, 1, not_after=w.now + 400 * DAY)
    return Attempt(w, w.package(signed, index, w.checkpoint()), state=state)


@accepts("the accepted bundle again, byte for byte (replay)")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    return Attempt(w, w.package(w.entries[0], 0, w.checkpoint()), state=state)


@rejects(Reason.BROKEN_CHAIN, "next epoch naming another previous bundle")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    signed, index = w.publish(DEFAULT_FLEET, 2, previous=b"\x77" * 32)
    return Attempt(w, w.package(signed, index, w.checkpoint()), state=state)


@accepts("next epoch chaining to the accepted bundle")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    signed, index = w.publish(DEFAULT_FLEET, 2)
    return Attempt(w, w.package(signed, index, w.checkpoint()), state=state)


@accepts("epoch gap of exactly max_epoch_jump (the chain cannot be checked)")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    signed, index = w.publish(DEFAULT_FLEET, 1 + JUMP, previous=b"\x77" * 32)
    return Attempt(w, w.package(signed, index, w.checkpoint()), state=state)


@rejects(Reason.EPOCH_JUMP_TOO_LARGE, "fast-forward: epoch gap of max_epoch_jump + 1")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    signed, index = w.publish(DEFAULT_FLEET, 2 + JUMP, previous=b"\x77" * 32)
    return Attempt(w, w.package(signed, index, w.checkpoint()), state=state)


@accepts("first bundle of a fleet at a late epoch (no state for the fleet)")
def _() -> Attempt:
    w = World()
    state = _with_epoch(w, 1)
    signed, index = w.publish("other-fleet", 500, previous=b"\x77" * 32)
    return Attempt(w, w.package(signed, index, w.checkpoint()), state=state)


# Step 11: checkpoint progression.


@accepts("checkpoint smaller than the stored one: the larger one stays (SPEC §7.3 step 11)")
def _() -> Attempt:
    w = World()
    signed, index = w.publish()
    old = w.checkpoint()
    w.append(b"filler")
    state = accept(w, w.package(signed, index, w.checkpoint()))
    return Attempt(w, w.package(signed, index, old), state=state)


@accepts("an old package replayed after a newer checkpoint, freshly cosigned")
def _() -> Attempt:
    w = World()
    old_package = w.fresh_package()
    state = accept(w, old_package)
    w.append(b"filler")
    state = accept(w, w.package(w.entries[0], 0, w.checkpoint()), state)
    return Attempt(w, old_package, state=state)


@rejects(Reason.STALE_COSIGNATURE, "an old package replayed when its cosignatures are stale")
def _() -> Attempt:
    w = World()
    old_package = w.fresh_package()
    state = accept(w, old_package)
    w.now += MAX_AGE + 1
    return Attempt(w, old_package, state=state)


@rejects(Reason.INCONSISTENT_CHECKPOINT, "split view: stored size, another root")
def _() -> Attempt:
    w, fork = World(), World()  # same keys: the log and witnesses sign two histories
    signed, index = w.publish()
    w.append(b"filler")
    state = accept(w, w.package(signed, index, w.checkpoint()))
    fork.append(signed)
    fork.append(b"another filler")
    return Attempt(w, fork.package(signed, index, fork.checkpoint()), state=state)


@accepts("consistency proof from the stored size")
def _() -> Attempt:
    w = World()
    state = accept(w, w.fresh_package())
    stored = w.size
    w.append(b"filler 1")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    return Attempt(
        w, w.package(signed, index, w.checkpoint(), consistency_from=stored), state=state
    )


@rejects(LogReason.BAD_CONSISTENCY_PROOF, "consistency proof with a tampered hash")
def _() -> Attempt:
    w = World()
    w.append(b"filler 0")
    state = accept(w, w.fresh_package())  # size 2
    w.append(b"filler 1")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    package = parse_unverified_package(w.package(signed, index, w.checkpoint(), consistency_from=2))
    assert package.consistency is not None
    assert package.consistency.hashes
    bad = replace(
        package.consistency,
        hashes=(flip(package.consistency.hashes[0]), *package.consistency.hashes[1:]),
    )
    return Attempt(w, replace(package, consistency=bad).encode(), state=state)


@accepts("consistency proof from another size than the stored one: ignored (SPEC §7.3 step 11)")
def _() -> Attempt:
    w = World()
    w.append(b"filler 0")
    state = accept(w, w.fresh_package())  # size 2
    w.append(b"filler 1")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    return Attempt(w, w.package(signed, index, w.checkpoint(), consistency_from=1), state=state)


@rejects(LogReason.MALFORMED_PROOF, "consistency proof of the wrong length")
def _() -> Attempt:
    w = World()
    w.append(b"filler 0")
    state = accept(w, w.fresh_package())  # size 2
    w.append(b"filler 1")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    package = parse_unverified_package(w.package(signed, index, w.checkpoint(), consistency_from=2))
    assert package.consistency is not None
    bad = replace(package.consistency, hashes=(*package.consistency.hashes, b"\x00" * 32))
    return Attempt(w, replace(package, consistency=bad).encode(), state=state)


@accepts("consistency proof ignored when the checkpoint did not grow")
def _() -> Attempt:
    w = World()
    package = w.fresh_package()
    state = accept(w, package)
    junk = ConsistencyProof(7, (b"\x00" * 32,))
    return Attempt(w, edit_package(package, consistency=junk), state=state)


# Steps 1-12 all pass, for each role-key algorithm.


@accepts("fresh client, Ed25519 role keys")
def _() -> Attempt:
    w = World()
    return Attempt(w, w.fresh_package())


@accepts("fresh client, P-256 role keys")
def _() -> Attempt:
    w = World(algorithm="p256")
    return Attempt(w, w.fresh_package())


@accepts("no witness quorum required (quorum none), no cosignature")
def _() -> Attempt:
    w = World(quorum="none")
    signed, index = w.publish()
    return Attempt(w, w.package(signed, index, w.checkpoint(witnesses=())))


# -- running the tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason", "make"), REJECTIONS, ids=[name for name, _, _ in REJECTIONS]
)
def test_rejects(name: str, reason: str, make: Callable[[], Attempt]) -> None:
    attempt = make()
    before = attempt.state.encode()
    with pytest.raises(VerificationError) as info:
        attempt.run()
    assert info.value.reason == reason, info.value.message
    assert info.value.message, "every rejection says what was expected and found"
    assert attempt.state.encode() == before, "a rejection never changes the state"


@pytest.mark.parametrize(("name", "make"), ACCEPTANCES, ids=[name for name, _ in ACCEPTANCES])
def test_accepts(name: str, make: Callable[[], Attempt]) -> None:
    attempt = make()
    before = attempt.state.encode()
    accepted = attempt.run()
    assert attempt.state.encode() == before, "the given state is never changed in place"
    package = parse_unverified_package(attempt.package)
    assert accepted.signed_bundle == package.signed_bundle
    entry = accepted.state.fleets[accepted.fleet_id]
    digest = hashlib.sha256(package.signed_bundle).digest()
    assert (entry.epoch, entry.digest) == (accepted.epoch, digest)
    assert accepted.keys == accepted.payload.keys


# -- step 5: trust-root rotations -------------------------------------------------------------


def _rotation_package(
    w: World, chain: list[bytes], countersigner: Signer, *, indices: list[int] | None = None
) -> bytes:
    """Append ``chain`` to the log, then a bundle countersigned by ``countersigner``; package
    both under one checkpoint (rotation proofs at ``indices`` if given)."""
    logged = [w.append(signed_root) for signed_root in chain]
    signed = w.countersign(w.sign(w.bundle()), countersigner)
    index = w.append(signed)
    rotations = list(zip(chain, indices or logged, strict=True))
    return w.package(signed, index, w.checkpoint(), rotations=rotations)


def test_rotation_to_a_new_operator_key_is_adopted_and_persisted() -> None:
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    accepted = verify_package(_rotation_package(w, [v2], op2), w.pinned, ClientState(), w.now)
    assert accepted.trust_root.version == 2
    assert accepted.state.rotations == (StoredRotation(v2, 0),)  # v2 is the log's entry 0
    # The next package needs no rotation: the state's root is in force ...
    w.now += 60
    bundle2 = w.countersign(w.sign(w.bundle(DEFAULT_FLEET, 2)), op2)
    package2 = w.package(bundle2, w.append(bundle2), w.checkpoint())
    again = verify_package(package2, w.pinned, accepted.state, w.now)
    assert (again.epoch, again.trust_root.version) == (2, 2)
    assert again.state.rotations == accepted.state.rotations
    # ... and the old operator key no longer counts for a bundle logged after the rotation.
    old = w.countersign(w.sign(w.bundle("other-fleet", 1)), w.operator)
    package3 = w.package(old, w.append(old), w.checkpoint())
    with pytest.raises(VerificationError) as info:
        verify_package(package3, w.pinned, again.state, w.now)
    assert info.value.reason == Reason.UNKNOWN_KEY


def test_two_step_rotation_in_one_package() -> None:
    w = World()
    op2, op3 = role_signer("operator v2"), role_signer("operator v3")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    v3 = w.sign_root(w.make_root(3, operator=[(OPERATOR_ORG, op3)]), [w.independent, op2, op3])
    accepted = verify_package(_rotation_package(w, [v2, v3], op3), w.pinned, ClientState(), w.now)
    assert accepted.trust_root.version == 3
    assert accepted.state.rotations == (StoredRotation(v2, 0), StoredRotation(v3, 1))


def test_rotation_that_changes_the_log_applies_from_the_next_package() -> None:
    w = World()
    log2 = note.Ed25519Signer("log2.example/keybundle", seed("log 2"))
    policy2 = w.policy_text.replace(
        f"log {w.log_signer.verifier().verifier_key}\n", f"log {log2.verifier().verifier_key}\n"
    )
    from transparency_log.policy import parse_policy

    v2 = w.sign_root(w.make_root(2, policy=parse_policy(policy2)), [w.independent, w.operator])
    # The rotating package is still verified under the old log (steps 3-4).
    state = verify_package(
        _rotation_package(w, [v2], w.operator), w.pinned, ClientState(), w.now
    ).state
    # The next one must come from the new log; the old log's stored checkpoint is not
    # comparable and is replaced.
    signed = w.signed_bundle("other-fleet", 1)
    index = w.append(signed)
    under_new = w.checkpoint(log_signer=log2, origin="log2.example/keybundle")
    accepted = verify_package(w.package(signed, index, under_new), w.pinned, state, w.now)
    assert accepted.state.checkpoint_note == under_new
    under_old = w.checkpoint()
    with pytest.raises(VerificationError) as info:
        verify_package(w.package(signed, index, under_old), w.pinned, state, w.now)
    assert info.value.reason == LogReason.UNTRUSTED_NOTE


ROTATIONS: list[tuple[str, str, Callable[[World], bytes]]] = []


def rotation(
    reason: str, name: str
) -> Callable[[Callable[[World], bytes]], Callable[[World], bytes]]:
    def register(make: Callable[[World], bytes]) -> Callable[[World], bytes]:
        ROTATIONS.append((name, str(reason), make))
        return make

    return register


@rotation(Reason.TRUST_ROOT_THRESHOLD_NOT_MET, "rotation signed only by the old keys")
def _(w: World) -> bytes:
    ind2, op2 = role_signer("independent v2"), role_signer("operator v2")
    root = w.make_root(2, independent=[(INDEPENDENT_ORG, ind2)], operator=[(OPERATOR_ORG, op2)])
    return _rotation_package(w, [w.sign_root(root, [w.independent, w.operator])], op2)


@rotation(Reason.TRUST_ROOT_THRESHOLD_NOT_MET, "rotation signed only by the new keys")
def _(w: World) -> bytes:
    ind2, op2 = role_signer("independent v2"), role_signer("operator v2")
    root = w.make_root(2, independent=[(INDEPENDENT_ORG, ind2)], operator=[(OPERATOR_ORG, op2)])
    return _rotation_package(w, [w.sign_root(root, [ind2, op2])], op2)


@rotation(Reason.TRUST_ROOT_THRESHOLD_NOT_MET, "rotation without the old operator's signature")
def _(w: World) -> bytes:
    op2 = role_signer("operator v2")
    root = w.make_root(2, operator=[(OPERATOR_ORG, op2)])
    return _rotation_package(w, [w.sign_root(root, [w.independent, op2])], op2)


@rotation(Reason.TRUST_ROOT_VERSION, "rotation skipping a version (1 to 3)")
def _(w: World) -> bytes:
    root = w.make_root(3)
    return _rotation_package(w, [w.sign_root(root, [w.independent, w.operator])], w.operator)


@rotation(LogReason.BAD_INCLUSION_PROOF, "rotation not in the log (proof of another entry)")
def _(w: World) -> bytes:
    w.append(b"filler")
    root = w.sign_root(w.make_root(2), [w.independent, w.operator])
    return _rotation_package(w, [root], w.operator, indices=[0])


@rotation(Reason.TRUST_ROOT_CHAIN_TOO_LONG, "chain of 5 rotations over the trust root's cap of 4")
def _(w: World) -> bytes:
    chain = [w.sign_root(w.make_root(v), [w.independent, w.operator]) for v in range(2, 7)]
    return _rotation_package(w, chain, w.operator)


@rotation(Reason.MALFORMED_TRUST_ROOT, "a signed bundle offered as a trust root")
def _(w: World) -> bytes:
    return _rotation_package(w, [w.signed_bundle("other-fleet", 1)], w.operator)


@rotation(Reason.TRUST_ROOT_VERSION, "valid rotation followed by one that skips a version")
def _(w: World) -> bytes:
    v2 = w.sign_root(w.make_root(2), [w.independent, w.operator])
    v4 = w.sign_root(w.make_root(4), [w.independent, w.operator])
    return _rotation_package(w, [v2, v4], w.operator)


@rotation(LogReason.BAD_INCLUSION_PROOF, "rotation index 2^64-1, beyond any tree")
def _(w: World) -> bytes:
    root = w.sign_root(w.make_root(2), [w.independent, w.operator])
    package = _rotation_package(w, [root], w.operator)
    (entry,) = parse_unverified_package(package).rotations
    return edit_package(package, rotations=(replace(entry, index=2**64 - 1),))


@rotation(LogReason.BAD_INCLUSION_PROOF, "rotation index 2^63, one past the largest tree")
def _(w: World) -> bytes:
    root = w.sign_root(w.make_root(2), [w.independent, w.operator])
    package = _rotation_package(w, [root], w.operator)
    (entry,) = parse_unverified_package(package).rotations
    return edit_package(package, rotations=(replace(entry, index=2**63),))


@pytest.mark.parametrize(("name", "reason", "make"), ROTATIONS, ids=[n for n, _, _ in ROTATIONS])
def test_rotation_rejected(name: str, reason: str, make: Callable[[World], bytes]) -> None:
    w = World()
    with pytest.raises(VerificationError) as info:
        verify_package(make(w), w.pinned, ClientState(), w.now)
    assert info.value.reason == reason, info.value.message


def test_rotation_at_exactly_the_cap_is_accepted() -> None:
    w = World()
    chain = [w.sign_root(w.make_root(v), [w.independent, w.operator]) for v in range(2, 6)]
    accepted = verify_package(
        _rotation_package(w, chain, w.operator), w.pinned, ClientState(), w.now
    )
    assert accepted.trust_root.version == 5


def test_the_pinned_root_offered_as_a_rotation_is_passed_over() -> None:
    # SPEC §7.3 step 5 (d): an entry of the pinned version that is the pinned root is not a
    # rotation to apply; the package is accepted and nothing is adopted.
    w = World()
    accepted = verify_package(
        _rotation_package(w, [w.signed_root], w.operator), w.pinned, ClientState(), w.now
    )
    assert (accepted.trust_root.version, accepted.state.rotations) == (1, ())


def test_stored_rotated_root_at_or_below_the_pinned_version_is_ignored() -> None:
    w = World()
    v2_root = w.make_root(2)
    v2 = w.sign_root(v2_root, [w.independent, w.operator])
    state = ClientState(rotations=(StoredRotation(v2, 0),))
    # Pinned v1, stored v2: v2 rules; an app update pinning v3 wins over the stored v2.
    assert verify_package(w.fresh_package(), w.pinned, state, w.now).trust_root == v2_root
    v3_root = w.make_root(3, limits=replace(DEFAULT_LIMITS, max_epoch_jump=99))
    accepted = verify_package(w.fresh_package("other-fleet"), v3_root, state, w.now)
    assert accepted.trust_root == v3_root
    assert accepted.state.rotations == state.rotations  # kept as stored, never trusted


# -- misbehaviour carries evidence ------------------------------------------------------------


def test_epoch_conflict_carries_both_bundles_evidence() -> None:
    w = World()
    first = w.fresh_package()
    state = accept(w, first)
    signed, index = w.publish(DEFAULT_FLEET, 1, not_after=w.now + 400 * DAY)
    package = w.package(signed, index, w.checkpoint())
    with pytest.raises(MisbehaviourError) as info:
        verify_package(package, w.pinned, state, w.now)
    evidence = info.value.evidence
    assert info.value.reason == Reason.EPOCH_CONFLICT
    assert evidence["fleet"] == DEFAULT_FLEET
    assert evidence["epoch"] == 1
    assert evidence["accepted_digest"] == hashlib.sha256(w.entries[0]).digest()
    assert evidence["signed_bundle"] == signed
    # The second bundle's proof of logging re-verifies offline: it is in the log.
    proof = parse_unverified_package(package).proof
    assert evidence["proof"] == proof.format()


def test_split_view_carries_both_signed_checkpoints() -> None:
    w, fork = World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    state = accept(w, w.package(signed, index, w.checkpoint()))
    fork.append(signed)
    fork.append(b"another filler")
    with pytest.raises(MisbehaviourError) as info:
        verify_package(fork.package(signed, index, fork.checkpoint()), w.pinned, state, w.now)
    assert info.value.reason == Reason.INCONSISTENT_CHECKPOINT
    evidence = info.value.evidence
    # Both checkpoints verify under the pinned log key: anyone can re-check the fork.
    from transparency_log.checkpoint import verify_checkpoint

    log = w.pinned.log.verifier()
    a = verify_checkpoint(evidence["stored_checkpoint"], log).checkpoint
    b = verify_checkpoint(evidence["package_checkpoint"], log).checkpoint
    assert a.size == b.size
    assert a.root_hash != b.root_hash


def test_fork_detected_by_consistency_proof_carries_evidence() -> None:
    w, fork = World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    state = accept(w, w.package(signed, index, w.checkpoint()))  # size 2
    fork.append(signed)
    fork.append(b"another filler")
    fork.append(b"more")
    package = fork.package(signed, index, fork.checkpoint(), consistency_from=2)
    with pytest.raises(MisbehaviourError) as info:
        verify_package(package, w.pinned, state, w.now)
    assert info.value.reason == LogReason.BAD_CONSISTENCY_PROOF
    evidence = info.value.evidence
    assert evidence["stored_checkpoint"] == state.checkpoint_note
    assert evidence["consistency_proof"]["old_size"] == 2
    from transparency_log.proof import verify_consistency

    with pytest.raises(VerificationError):
        verify_consistency(
            2, 3, evidence["consistency_proof"]["hashes"], w.root_hash(2), fork.root_hash(3)
        )


# -- sequences that thread the returned state -------------------------------------------------


def test_sequence_accept_rollback_replay_conflict_advance() -> None:
    w = World()
    pinned = w.pinned

    def verify(package: bytes, state: ClientState) -> Accepted:
        return verify_package(package, pinned, state, w.now)

    p1 = w.fresh_package(DEFAULT_FLEET, 1)
    s1 = verify(p1, ClientState()).state
    w.now += 3600
    signed2, index2 = w.publish(DEFAULT_FLEET, 2)
    p2 = w.package(signed2, index2, w.checkpoint(), consistency_from=1)
    s2 = verify(p2, s1).state
    assert s2.fleets[DEFAULT_FLEET].epoch == 2
    assert s1.fleets[DEFAULT_FLEET].epoch == 1
    # The epoch-1 bundle again, even under the newest checkpoint, is a rollback.
    with pytest.raises(VerificationError) as info:
        verify(w.package(w.entries[0], 0, w.checkpoint()), s2)
    assert info.value.reason == Reason.ROLLBACK
    # The old epoch-1 package itself: the stale checkpoint is not reached, the epoch rolls back.
    with pytest.raises(VerificationError) as info:
        verify(p1, s2)
    assert info.value.reason == Reason.ROLLBACK
    # The accepted epoch-2 package again is fine and changes nothing.
    assert verify(p2, s2).state == s2
    # A second epoch-2 bundle is equivocation.
    other2, other_index = w.publish(DEFAULT_FLEET, 2, not_after=w.now + 500 * DAY)
    with pytest.raises(MisbehaviourError) as conflict:
        verify(w.package(other2, other_index, w.checkpoint()), s2)
    assert conflict.value.reason == Reason.EPOCH_CONFLICT
    # Epoch 3 chains to epoch 2 (the first epoch-2 bundle appended) and moves on.
    signed3, index3 = w.publish(DEFAULT_FLEET, 3)
    stored = s2.checkpoint()
    assert stored is not None
    s3 = verify(w.package(signed3, index3, w.checkpoint(), consistency_from=stored.size), s2).state
    assert s3.fleets[DEFAULT_FLEET].epoch == 3
    assert s3.checkpoint().size == w.size  # type: ignore[union-attr]
    # Two fleets live side by side in one state.
    s4 = verify(w.fresh_package("staging.vault", 7, previous=b"\x77" * 32), s3).state
    assert set(s4.fleets) == {DEFAULT_FLEET, "staging.vault"}


def test_state_is_never_mutated_and_rejections_return_nothing() -> None:
    w = World()
    state = accept(w, w.fresh_package())
    snapshot = state.encode()
    fleets = dict(state.fleets)
    signed, index = w.publish(DEFAULT_FLEET, 2)
    accepted = verify_package(w.package(signed, index, w.checkpoint()), w.pinned, state, w.now)
    assert accepted.state is not state
    assert state.encode() == snapshot
    assert dict(state.fleets) == fleets
    with pytest.raises(TypeError):
        state.fleets["x"] = FleetState(1, b"\x00" * 32)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.checkpoint_note = None  # type: ignore[misc]


def test_caller_mistakes_are_type_and_value_errors() -> None:
    w = World()
    package = w.fresh_package()
    with pytest.raises(ValueError, match="now"):
        verify_package(package, w.pinned, ClientState(), -1)
    with pytest.raises(TypeError):
        verify_package(bytearray(package), w.pinned, ClientState(), w.now)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_package(package, w.signed_root, ClientState(), w.now)  # type: ignore[arg-type]


def test_messages_name_what_was_expected_and_found() -> None:
    w = World()
    signed, index = w.publish()
    package = w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE - 1))
    with pytest.raises(VerificationError) as info:
        verify_package(package, w.pinned, ClientState(), w.now)
    assert "older than 86400 s" in info.value.message
    assert "fetch a fresh package" in info.value.message


def test_world_is_deterministic() -> None:
    a, b = World(), World()
    assert a.fresh_package() == b.fresh_package()
    p, q = World(algorithm="p256"), World(algorithm="p256")
    assert p.fresh_package() == q.fresh_package()


# -- every single-byte change and every truncation -------------------------------------------


def _walk_package() -> tuple[World, bytes]:
    """A small valid package: a one-key bundle in a log of two, quorum of both witnesses."""
    w = World(quorum="all")
    keys = fleet_keys(DEFAULT_FLEET, 1, count=1)[:1]
    signed, index = w.publish(DEFAULT_FLEET, 1, keys=keys)
    w.append(b"filler")
    return w, w.package(signed, index, w.checkpoint())


def _outcome(w: World, package: bytes) -> str:
    """The reason code of rejecting ``package``, or ACCEPTED. Any other exception fails."""
    try:
        verify_package(package, w.pinned, ClientState(), w.now)
    except VerificationError as e:
        reason = e.reason
    else:
        return "ACCEPTED"
    assert reason in ALL_REASONS, f"{reason} is not a SPEC §9 code"
    return reason


def test_every_single_byte_change_is_rejected_with_a_reason_code() -> None:
    w, package = _walk_package()
    assert _outcome(w, package) == "ACCEPTED"
    accepted = []
    reasons: set[str] = set()
    for position in range(len(package)):
        for mask in (0x01, 0xFF):
            outcome = _outcome(w, flip(package, position, mask))
            if outcome == "ACCEPTED":
                accepted.append((position, mask))
            reasons.add(outcome)
    assert accepted == [], "a changed package was accepted"
    # Every byte of the signed bundle is bound by the inclusion proof (step 6) before any
    # bundle signature is checked, so the walk ends in the log steps; the next test walks
    # the bundle itself.
    assert {
        Reason.MALFORMED_CBOR,
        Reason.MALFORMED_PACKAGE,
        LogReason.MALFORMED_PROOF,
        LogReason.MALFORMED_NOTE,
        LogReason.BAD_NOTE_SIGNATURE,
        LogReason.UNTRUSTED_NOTE,
        LogReason.QUORUM_NOT_MET,
        LogReason.BAD_INCLUSION_PROOF,
    } <= reasons


def test_every_single_byte_change_of_a_logged_bundle_is_rejected() -> None:
    """A log that appends anything (or a compromised log) cannot make a changed bundle pass:
    each mutated signed bundle is appended and packaged with a valid proof and checkpoint."""
    w = World(quorum="any")
    keys = fleet_keys(DEFAULT_FLEET, 1, count=1)[:1]
    signed = w.signed_bundle(DEFAULT_FLEET, 1, keys=keys)
    accepted = []
    reasons: set[str] = set()
    for position in range(len(signed)):
        for mask in (0x01, 0xFF):
            mutated = flip(signed, position, mask)
            index = w.append(mutated)
            checkpoint = w.checkpoint(witnesses=w.witnesses[:1])
            outcome = _outcome(w, w.package(mutated, index, checkpoint))
            if outcome == "ACCEPTED":
                accepted.append((position, mask))
            reasons.add(outcome)
    assert accepted == [], "a changed bundle was accepted"
    assert {
        Reason.MALFORMED_COSE,
        Reason.UNKNOWN_KEY,
        Reason.BAD_INDEPENDENT_SIGNATURE,
        Reason.BAD_COUNTERSIGNATURE,
    } <= reasons


def test_every_truncation_is_rejected_with_a_reason_code() -> None:
    w, package = _walk_package()
    for length in range(len(package)):
        assert _outcome(w, package[:length]) != "ACCEPTED"
