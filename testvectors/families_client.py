"""Vectors of the client decision (SPEC §7.3), single packages and multi-step sequences.

Each vector is a client: a pinned signed trust root, a starting state (usually fresh) and one
or more packages, each verified at its own ``now`` against the state the previous steps left
(SPEC §12.4). A rejection names its reason code and the SPEC §7.3 step that fails; every step
from 1 to 11 has vectors that fail exactly there (tests/test_vectors.py checks both against
our verifier's own step comments).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nacl.signing import SigningKey

from keybundle import cose, dcbor
from keybundle.client import verify_package
from keybundle.package import MAX_PACKAGE_BYTES, ConsistencyProof, parse_unverified_package
from keybundle.signers import P256_ORDER, Ed25519Signer, Signer
from keybundle.state import ClientState, StoredRotation
from keybundle.trustroot import MAX_TRUST_ROOT_BYTES, TrustRoot
from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.policy import parse_policy
from transparency_log.tlog_proof import MAX_TLOG_PROOF_BYTES, TLOG_PROOF_HEADER, TlogProof

from .families_bundle import _AlgLiar
from .vectorset import ACCEPT, VectorSet, Want, b64, cbor_decode, cbor_encode, cbor_tagged, reject
from .world import (
    DAY,
    DEFAULT_FLEET,
    DEFAULT_LIMITS,
    INDEPENDENT_ORG,
    LOG_ORIGIN,
    OPERATOR_ORG,
    World,
    fleet_keys,
    role_signer,
    seed,
)

__all__ = ["add_client_family"]

SKEW = DEFAULT_LIMITS.clock_skew
MAX_AGE = DEFAULT_LIMITS.max_cosignature_age
JUMP = DEFAULT_LIMITS.max_epoch_jump
_L = 2**252 + 27742317777372353535851937790883648493


@dataclass(frozen=True)
class Step:
    """One package verified at ``now`` (the world's clock when the step was made)."""

    package: bytes
    want: Want
    now: int
    fleet: str | None = None


def _tag_content(value: Any) -> list[Any]:
    """The array inside a CBOR tag, or [] (the cases edit COSE structures item by item)."""
    return (
        list(value.value) if isinstance(value, dcbor.Tag) and isinstance(value.value, list) else []
    )


def _flip(data: bytes, position: int = -1, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


def _edit_sign1(signed: bytes, **changes: Any) -> bytes:
    return cose.encode_sign1(replace(cose.parse_unverified_sign1(signed), **changes))


def _edit_package(package: bytes, **changes: Any) -> bytes:
    return replace(parse_unverified_package(package), **changes).encode()


def _package_map(package: bytes) -> dict[int, Any]:
    value = cbor_decode(package)
    if not isinstance(value, dict):
        raise AssertionError("bad math: a package is a map")
    return {int(k): v for k, v in value.items()}


def _edit_note_signature(signed_note: bytes, name: str) -> bytes:
    text, sigs = note.parse_unverified(signed_note)
    lines = [
        note.Signature(s.name, s.key_hash, _flip(s.signature)).to_line()
        if s.name == name
        else s.to_line()
        for s in sigs
    ]
    return (text + "\n" + "".join(lines)).encode()


@dataclass(frozen=True)
class _LegacyState:
    """A state given by its bytes (a version-1 state, which this library no longer writes)."""

    data: bytes

    def encode(self) -> bytes:
        return self.data


class _Client:
    """Collects the client vectors: one call of :meth:`add` per vector.

    A rejection may name its repaired twin (issue 17, :meth:`VectorSet.add`): ``repaired``,
    the same steps with the one fault removed, and/or ``repaired_root``, the pinned root
    with the fault removed; the generator refuses the vector unless every step of the twin
    is accepted.
    """

    def __init__(self, vs: VectorSet) -> None:
        self.vs = vs

    @staticmethod
    def _input(
        root: bytes, state: ClientState | _LegacyState | None, steps: Sequence[Step]
    ) -> dict[str, Any]:
        return {
            "trust_root_b64": b64(root),
            "state_b64": None if state is None else b64(state.encode()),
            "steps": [
                {"package_b64": b64(s.package), "now": s.now, "fleet": s.fleet} for s in steps
            ],
        }

    def add(
        self,
        name: str,
        description: str,
        w: World,
        steps: Sequence[Step],
        *,
        spec: Sequence[str] = (),
        root: bytes | None = None,
        state: ClientState | _LegacyState | None = None,
        repaired: Sequence[Step] | None = None,
        repaired_root: bytes | None = None,
        no_twin: str | None = None,
        alone: Sequence[Sequence[bytes]] | None = None,
    ) -> None:
        pinned = root or w.signed_root
        twin = (
            None
            if repaired is None and repaired_root is None
            else self._input(repaired_root or pinned, state, repaired or steps)
        )
        self.vs.add(
            "client",
            name,
            description,
            ["§7.3", *spec],
            self._input(pinned, state, steps),
            [s.want for s in steps],
            repaired=twin,
            no_twin=no_twin,
            alone=None
            if alone is None
            else [
                self._input(
                    pinned,
                    state,
                    [Step(p, s.want, s.now, s.fleet) for p, s in zip(a, steps, strict=True)],
                )
                for a in alone
            ],
        )

    def one(
        self,
        name: str,
        description: str,
        w: World,
        package: bytes,
        want: Want,
        *,
        fleet: str | None = None,
        repaired: bytes | None = None,
        **kw: Any,
    ) -> None:
        self.add(
            name,
            description,
            w,
            [Step(package, want, w.now, fleet)],
            repaired=None if repaired is None else [Step(repaired, ACCEPT, w.now, fleet)],
            **kw,
        )


def _logged(w: World, signed: bytes) -> bytes:
    """``signed`` appended to the world's log, packaged under a fresh checkpoint."""
    return w.package(signed, w.append(signed), w.checkpoint())


def _steps_1_to_4(c: _Client) -> None:
    probe = World().fresh_package()
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=len(probe) - 1))
    exact = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=len(probe)))
    c.one(
        "package-one-byte-over-max-package-bytes",
        "A package one byte over the trust root's max_package_bytes.",
        w,
        w.fresh_package(),
        reject("PACKAGE_TOO_LARGE", 1),
        spec=["§7.1"],
        repaired_root=exact.signed_root,
    )
    w = exact
    c.one(
        "package-exactly-max-package-bytes",
        "A package of exactly the trust root's max_package_bytes.",
        w,
        w.fresh_package(),
        ACCEPT,
        spec=["§7.1"],
    )
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=1000))
    c.one(
        "package-size-checked-before-decoding",
        "1001 zero bytes under a 1000-byte cap: the size decides before any parsing.",
        w,
        bytes(1001),
        reject("PACKAGE_TOO_LARGE", 1),
        no_twin="precedence: 1001 zero bytes are also not a package (size before parsing)",
        alone=[[w.fresh_package()], [bytes(1000)]],
    )

    w = World()
    fresh = w.fresh_package()
    c.one(
        "package-not-cbor",
        "A package that is the break byte ff.",
        w,
        b"\xff",
        reject("MALFORMED_CBOR", 2),
        spec=["§3.1"],
        no_twin="no-neighbour: the package is one stray break byte",
    )
    c.one(
        "package-map-non-minimal-head",
        "The package map's count written with a one-byte argument.",
        w,
        b"\xb8\x03" + fresh[1:],
        reject("MALFORMED_CBOR", 2),
        spec=["§3.1"],
        repaired=fresh,
    )
    c.one(
        "package-nested-100-arrays",
        "One hundred nested arrays.",
        w,
        b"\x81" * 100 + b"\x00",
        reject("MALFORMED_CBOR", 2),
        spec=["§3.1"],
        no_twin="no-neighbour: the package is only nested arrays",
    )
    c.one(
        "package-is-an-array",
        "An array instead of the package map.",
        w,
        cbor_encode([1, b"x", "y"]),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        no_twin="no-neighbour: the input is another kind of object (an array)",
    )
    value = _package_map(fresh)
    c.one(
        "package-unknown-field-6",
        "A package with an unknown field 6.",
        w,
        cbor_encode({**value, 6: 0}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=fresh,
    )
    c.one(
        "package-format-version-2",
        "Package format version 2.",
        w,
        cbor_encode({**value, 1: 2}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=fresh,
    )
    c.one(
        "package-format-version-true",
        "Package format version true (a boolean, not the integer 1).",
        w,
        cbor_encode({**value, 1: True}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=fresh,
    )
    c.one(
        "package-signed-bundle-as-text",
        "The signed bundle as a text string (its bytes in hex).",
        w,
        cbor_encode({**value, 2: value[2].hex()}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=fresh,
    )
    c.one(
        "package-empty-signed-bundle",
        "An empty signed bundle.",
        w,
        cbor_encode({**value, 2: b""}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=fresh,
    )
    c.one(
        "package-empty-rotations",
        "An empty rotations array.",
        w,
        cbor_encode({**value, 5: []}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=fresh,
    )
    c.one(
        "package-consistency-hash-31-bytes",
        "A consistency proof hash of 31 bytes.",
        w,
        cbor_encode({**value, 4: [0, [bytes(31)]]}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=cbor_encode({**value, 4: [0, [bytes(32)]]}),
    )
    c.one(
        "package-proof-index-non-canonical",
        "The tlog-proof's index written 00.",
        w,
        cbor_encode({**value, 3: value[3].replace("\nindex 0\n", "\nindex 00\n")}),
        reject("MALFORMED_PROOF", 2),
        spec=["§2.7"],
        repaired=fresh,
    )
    w2 = World()
    w2.publish()
    w2.append(b"filler")
    pkg = w2.package(w2.entries[0], 0, w2.checkpoint())
    v2 = _package_map(pkg)
    h = b64(parse_unverified_package(pkg).proof.hashes[0])
    c.one(
        "package-proof-hash-unpadded",
        "A tlog-proof hash line without base64 padding.",
        w2,
        cbor_encode({**v2, 3: v2[3].replace(h, h.rstrip("="))}),
        reject("MALFORMED_PROOF", 2),
        spec=["§2.7"],
        repaired=pkg,
    )

    # MAX_TLOG_PROOF_BYTES holds for the proof text in a package too, at the limit and one
    # past it (an extra line pads it: base64 grows in steps of 4, so the number of entries
    # after the bundle, and with it the number of hash lines, makes each total exact).
    def padded(total: int) -> tuple[World, dict[int, Any], str]:
        head = TLOG_PROOF_HEADER + "\n"
        for fillers in range(8):
            pw = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=2**20))
            signed, index = pw.publish()
            for n in range(fillers):
                pw.append(b"filler %d" % n)
            value = _package_map(pw.package(signed, index, pw.checkpoint()))
            plain: str = value[3]
            room = total - len(plain.encode()) - len("extra \n")
            if room > 0 and room % 4 == 0:
                proof = head + "extra " + b64(bytes(3 * room // 4)) + "\n" + plain[len(head) :]
                return pw, value, proof
        raise AssertionError(f"bad math: no package proof of {total} bytes")

    pw, value, proof = padded(MAX_TLOG_PROOF_BYTES)
    c.one(
        "package-proof-of-max-tlog-proof-bytes",
        "A package whose tlog-proof text is exactly MAX_TLOG_PROOF_BYTES (65536) bytes, most "
        "of them an extra line.",
        pw,
        cbor_encode({**value, 3: proof}),
        ACCEPT,
        spec=["§2.7", "§7.1"],
    )
    pw, value, proof = padded(MAX_TLOG_PROOF_BYTES + 1)
    c.one(
        "package-proof-one-byte-over-max-tlog-proof-bytes",
        "A package whose tlog-proof text is 65537 bytes, one over MAX_TLOG_PROOF_BYTES, most "
        "of them an extra line.",
        pw,
        cbor_encode({**value, 3: proof}),
        reject("MALFORMED_PROOF", 2),
        spec=["§2.7", "§7.1"],
        repaired=cbor_encode({**value, 3: proof.replace("AAAA", "", 1)}),
    )
    _max_rotations(c)

    # Step 3: the log's signature and origin.
    w = World()
    signed, index = w.publish()
    body = Checkpoint(LOG_ORIGIN, w.size, w.root_hash()).body()
    honest = w.package(signed, index, w.checkpoint())
    c.one(
        "checkpoint-without-signature-lines",
        "The tlog-proof's checkpoint note has no signature lines.",
        w,
        _edit_package(
            w.package(signed, index, w.checkpoint()),
            proof=TlogProof(index, (), (body + "\n").encode()),
        ),
        reject("MALFORMED_NOTE", 3),
        spec=["§2.4"],
        repaired=honest,
    )
    c.one(
        "checkpoint-text-not-a-checkpoint",
        "The log signed a text that is not a checkpoint.",
        w,
        w.package(
            signed,
            index,
            note.sign(f"{LOG_ORIGIN}\n{w.size}\nnot base64\n", w.log_signer).encode(),
            hashes=(),
        ),
        reject("MALFORMED_CHECKPOINT", 3),
        spec=["§2.6"],
        repaired=honest,
    )
    c.one(
        "checkpoint-log-signature-forged",
        "The log's signature on the checkpoint does not verify.",
        w,
        w.package(signed, index, _edit_note_signature(w.checkpoint(), LOG_ORIGIN)),
        reject("BAD_NOTE_SIGNATURE", 3),
        spec=["§2.6"],
        repaired=honest,
    )
    wa = World(quorum="any")
    sa, ia = wa.publish()
    c.one(
        "checkpoint-witness-cosignature-forged",
        "A policy witness's cosignature does not verify; a bad line by a known key rejects the "
        "note even under a 1-of-2 quorum.",
        wa,
        wa.package(sa, ia, _edit_note_signature(wa.checkpoint(), "witness.example/w2")),
        reject("BAD_NOTE_SIGNATURE", 3),
        spec=["§2.6"],
        repaired=wa.package(sa, ia, wa.checkpoint()),
    )
    impostor = note.Ed25519Signer(LOG_ORIGIN, b"\x99" * 32)
    c.one(
        "checkpoint-signed-by-impostor-log-key",
        "Signed by another key with the log's name.",
        w,
        w.package(signed, index, w.checkpoint(log_signer=impostor)),
        reject("UNTRUSTED_NOTE", 3),
        spec=["§2.6"],
        repaired=honest,
    )
    lines = "".join(
        note.Signature(x.name, x.key_hash, x.sign_at(body.encode(), w.now)).to_line()
        for x in w.witnesses
    )
    c.one(
        "checkpoint-cosigned-not-log-signed",
        "Cosigned by both witnesses but not signed by the log.",
        w,
        w.package(signed, index, (body + "\n" + lines).encode()),
        reject("UNTRUSTED_NOTE", 3),
        spec=["§2.6"],
        repaired=honest,
    )
    c.one(
        "checkpoint-of-another-origin",
        "Signed by the log's key for another origin.",
        w,
        w.package(signed, index, w.checkpoint(origin="other.example/log")),
        reject("WRONG_ORIGIN", 3),
        spec=["§2.6"],
        repaired=honest,
    )

    # Step 4: witness quorum and freshness.
    w = World(quorum="all")
    signed, index = w.publish()
    honest = w.package(signed, index, w.checkpoint())
    c.one(
        "quorum-one-of-two-required",
        "One of two required witnesses cosigned.",
        w,
        w.package(signed, index, w.checkpoint(witnesses=w.witnesses[:1])),
        reject("QUORUM_NOT_MET", 4),
        spec=["§2.8"],
        repaired=honest,
    )
    c.one(
        "quorum-forged-root-without-cosignatures",
        "Log key forgery without witnesses: a forged root no witness cosigned, with no "
        "inclusion proof (a precedence vector: the quorum, step 4, decides before step 6).",
        w,
        w.package(signed, index, w.checkpoint(witnesses=(), root_hash=b"\x42" * 32), hashes=()),
        reject("QUORUM_NOT_MET", 4),
        spec=["§2.8"],
        no_twin="precedence: no cosignatures and a forged root (quorum before inclusion)",
        alone=[
            [w.package(signed, index, w.checkpoint(witnesses=()))],
            [w.package(signed, index, w.checkpoint(root_hash=b"\x42" * 32), hashes=())],
        ],
    )
    stranger = CosignatureV1Signer("witness.example/w3", b"\x33" * 32)
    c.one(
        "quorum-unknown-witness-counts-nothing",
        "A cosignature by a witness the policy does not list.",
        w,
        w.package(signed, index, w.checkpoint(witnesses=(w.witnesses[0], stranger))),
        reject("QUORUM_NOT_MET", 4),
        spec=["§2.8"],
        repaired=honest,
    )
    c.one(
        "cosignatures-one-second-too-old",
        "Both cosignatures one second older than max_cosignature_age.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE - 1)),
        reject("STALE_COSIGNATURE", 4),
        repaired=w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE)),
    )
    c.one(
        "cosignatures-exactly-max-age",
        "Both cosignatures exactly max_cosignature_age old.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE)),
        ACCEPT,
    )
    mixed = {"witness.example/w1": w.now, "witness.example/w2": w.now - MAX_AGE - 1}
    c.one(
        "cosignatures-one-fresh-one-stale-both-required",
        "A fresh and a stale cosignature where both are required.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=mixed)),
        reject("STALE_COSIGNATURE", 4),
        repaired=honest,
    )
    c.one(
        "cosignatures-one-second-in-the-future",
        "Both cosignatures dated one second beyond the clock skew.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=w.now + SKEW + 1)),
        reject("FUTURE_COSIGNATURE", 4),
        repaired=w.package(signed, index, w.checkpoint(cosign_at=w.now + SKEW)),
    )
    c.one(
        "cosignatures-exactly-clock-skew-ahead",
        "Both cosignatures dated exactly clock_skew ahead.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=w.now + SKEW)),
        ACCEPT,
    )
    future_mix = {"witness.example/w1": w.now, "witness.example/w2": w.now + SKEW + 1}
    c.one(
        "cosignatures-one-fresh-one-future-both-required",
        "A fresh and a future-dated cosignature where both are required.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=future_mix)),
        reject("FUTURE_COSIGNATURE", 4),
        repaired=honest,
    )
    both_bad = {"witness.example/w1": w.now + SKEW + 1, "witness.example/w2": w.now - MAX_AGE - 1}
    c.one(
        "cosignatures-one-stale-one-future",
        "One stale and one future cosignature, both required: neither alone explains the "
        "shortfall (a precedence vector: two faults).",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=both_bad)),
        reject("QUORUM_NOT_MET", 4),
        no_twin="precedence: one stale and one future cosignature, both required",
    )
    wa = World(quorum="any")
    sa, ia = wa.publish()
    c.one(
        "quorum-any-one-witness",
        "One of two witnesses cosigned under a 1-of-2 quorum.",
        wa,
        wa.package(sa, ia, wa.checkpoint(witnesses=wa.witnesses[1:])),
        ACCEPT,
    )
    stale_mix = {"witness.example/w1": wa.now, "witness.example/w2": wa.now - MAX_AGE - 1}
    c.one(
        "quorum-any-one-fresh-one-stale",
        "One fresh and one stale cosignature under a 1-of-2 quorum.",
        wa,
        wa.package(sa, ia, wa.checkpoint(cosign_at=stale_mix)),
        ACCEPT,
    )
    wn = World(quorum="none")
    sn, in_ = wn.publish()
    c.one(
        "quorum-none-no-cosignature",
        "No witness required (quorum none) and none cosigned.",
        wn,
        wn.package(sn, in_, wn.checkpoint(witnesses=())),
        ACCEPT,
    )


def _max_rotations(c: _Client) -> None:
    """MAX_ROTATIONS (SPEC §7.1) at and one past, and the order of §7.1's decoding checks.

    A real chain of versions 2 to 18 in the log, under roots whose ``max_rotation_chain`` is
    the largest a root may set (16). The 17-entry package goes to a client that holds
    version 2, so that only 16 entries are new: the absolute cap is the one fault.
    """
    w = World(limits=replace(DEFAULT_LIMITS, max_rotation_chain=16))
    signers = [w.independent, w.operator]
    chain = [w.sign_root(w.make_root(v), signers) for v in range(2, 19)]
    pairs = [(root, w.append(root)) for root in chain]
    signed, index = w.publish()
    cp = w.checkpoint()
    last16 = parse_unverified_package(w.package(signed, index, cp, rotations=pairs[1:]))
    (first,) = parse_unverified_package(w.package(signed, index, cp, rotations=pairs[:1])).rotations
    p17 = replace(last16, rotations=(first, *last16.rotations))
    held = ClientState(rotations=(StoredRotation(*pairs[0]),))
    c.one(
        "package-16-rotations",
        "Sixteen new rotations (versions 2 to 17, in the log): MAX_ROTATIONS and the root's "
        "max_rotation_chain of 16.",
        w,
        w.package(signed, index, cp, rotations=pairs[:16]),
        ACCEPT,
        spec=["§5.3"],
    )
    c.one(
        "package-17-rotations",
        "Seventeen rotation entries (versions 2 to 18, in the log), one over the absolute "
        "MAX_ROTATIONS, for a client that holds version 2 (16 new, within max_rotation_chain).",
        w,
        p17.encode(),
        reject("TRUST_ROOT_CHAIN_TOO_LONG", 2),
        state=held,
        spec=["§7.1"],
        repaired=last16.encode(),
    )
    value = _package_map(p17.encode())
    rotations = list(value[5])
    c.one(
        "package-17-rotations-one-malformed",
        "Seventeen rotation entries of which the fifth is an empty array: the chain's length "
        "is checked before its entries' shapes (a precedence vector: two faults).",
        w,
        cbor_encode({**value, 5: [*rotations[:4], [], *rotations[5:]]}),
        reject("TRUST_ROOT_CHAIN_TOO_LONG", 2),
        state=held,
        spec=["§7.1"],
        no_twin="precedence: 17 rotations, one malformed (chain length before entries)",
        alone=[[p17.encode()], [cbor_encode({**value, 5: [*rotations[1:4], [], *rotations[5:]]})]],
    )
    c.one(
        "package-malformed-consistency-beside-17-rotations",
        "A consistency proof with a 31-byte hash beside seventeen rotation entries: key 4 is "
        "checked before key 5 (a precedence vector: two faults).",
        w,
        cbor_encode({**value, 4: [0, [bytes(31)]]}),
        reject("MALFORMED_PACKAGE", 2),
        state=held,
        spec=["§7.1"],
        no_twin="precedence: a malformed proof beside 17 rotations (key 4 before key 5)",
        alone=[[cbor_encode({**value, 4: [0, [bytes(31)]], 5: rotations[1:]})], [p17.encode()]],
    )
    # Nesting (SPEC §7.1): at most 4 levels below the package map; a hash is at depth 4.
    w = World()
    v2 = w.sign_root(w.make_root(2), [w.independent, w.operator])
    good = _rotation_package(w, [v2], w.operator)
    value = _package_map(good)
    ((root, at, hashes),) = value[5]
    if not hashes:
        raise AssertionError("bad math: the rotation's inclusion proof has a hash")
    c.one(
        "package-item-at-depth-5",
        "A rotation's inclusion-proof hash wrapped in an array: the hash is at depth 5, one "
        "level deeper than a package may nest.",
        w,
        cbor_encode({**value, 5: [[root, at, [[hashes[0]], *hashes[1:]]]]}),
        reject("MALFORMED_CBOR", 2),
        spec=["§3.1", "§7.1"],
        repaired=good,
    )
    c.one(
        "package-wrong-type-at-depth-4",
        "A rotation's inclusion-proof hash that is the integer 0 (an item at depth 4, the "
        "deepest a package nests, of the wrong type).",
        w,
        cbor_encode({**value, 5: [[root, at, [0, *hashes[1:]]]]}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=good,
    )
    c.one(
        "package-empty-array-at-depth-4",
        "A rotation's inclusion-proof hash that is an empty array (an array at depth 4 with "
        "nothing below it decodes, and is the wrong type).",
        w,
        cbor_encode({**value, 5: [[root, at, [[], *hashes[1:]]]]}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=good,
    )


def _rotation_package(
    w: World,
    chain: Sequence[bytes],
    countersigner: Signer,
    indices: Sequence[int] | None = None,
    signer: Signer | None = None,
) -> bytes:
    logged = [w.append(r) for r in chain]
    signed = w.countersign(w.sign(w.bundle(), signer), countersigner)
    index = w.append(signed)
    return w.package(
        signed, index, w.checkpoint(), rotations=list(zip(chain, indices or logged, strict=True))
    )


def _step_5(c: _Client) -> None:
    spec = ["§5.3"]
    w = World()
    signers = [w.independent, w.operator]
    op2 = role_signer("operator v2")
    v2 = w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [*signers, op2])
    first = _rotation_package(w, [v2], op2)
    t1 = w.now
    w.now += 60
    bundle2 = w.countersign(w.sign(w.bundle(DEFAULT_FLEET, 2)), op2)
    second = w.package(bundle2, w.append(bundle2), w.checkpoint())
    old = w.countersign(w.sign(w.bundle("other-fleet", 1)), w.operator)
    third = w.package(old, w.append(old), w.checkpoint())
    new = w.countersign(w.sign(w.bundle("other-fleet", 1)), op2)
    third_new = w.package(new, w.append(new), w.checkpoint())
    c.add(
        "rotation-adopted-then-in-force",
        "A package rotates to a new operator key; the next needs no rotation; the old operator "
        "key no longer counts.",
        w,
        [
            Step(first, ACCEPT, t1),
            Step(second, ACCEPT, w.now),
            Step(third, reject("UNKNOWN_KEY", 8), w.now),
        ],
        spec=spec,
        repaired=[
            Step(first, ACCEPT, t1),
            Step(second, ACCEPT, w.now),
            Step(third_new, ACCEPT, w.now),
        ],
    )
    w = World()
    op3 = role_signer("operator v3")
    v2 = w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [*signers, op2])
    v3 = w.sign_root(w.make_root(3, operator=[(OPERATOR_ORG, op3)]), [w.independent, op2, op3])
    c.one(
        "rotation-two-steps-in-one-package",
        "Versions 2 and 3 in one package, both in the log.",
        w,
        _rotation_package(w, [v2, v3], op3),
        ACCEPT,
        spec=spec,
    )
    w = World()
    chain = [w.sign_root(w.make_root(v), signers) for v in range(2, 6)]
    c.one(
        "rotation-chain-at-the-cap",
        "Four rotations: exactly the trust root's max_rotation_chain.",
        w,
        _rotation_package(w, chain, w.operator),
        ACCEPT,
        spec=spec,
    )

    w = World()
    log2 = note.Ed25519Signer("log2.example/keybundle", seed("log 2"))
    policy2 = w.policy_text.replace(
        f"log {w.log_signer.verifier().verifier_key}\n", f"log {log2.verifier().verifier_key}\n"
    )
    v2 = w.sign_root(w.make_root(2, policy=parse_policy(policy2)), signers)
    first = _rotation_package(w, [v2], w.operator)
    signed = w.signed_bundle("other-fleet", 1)
    index = w.append(signed)
    under_new = w.package(
        signed, index, w.checkpoint(log_signer=log2, origin="log2.example/keybundle")
    )
    under_old = w.package(signed, index, w.checkpoint())
    c.add(
        "rotation-to-another-log",
        "A rotation moves the client to another log: the rotating package is verified under the "
        "old log, the next under the new one, and the old log is then untrusted.",
        w,
        [
            Step(first, ACCEPT, w.now),
            Step(under_new, ACCEPT, w.now),
            Step(under_old, reject("UNTRUSTED_NOTE", 3), w.now),
        ],
        spec=spec,
        repaired=[
            Step(first, ACCEPT, w.now),
            Step(under_new, ACCEPT, w.now),
            Step(under_new, ACCEPT, w.now),
        ],
    )

    ind2 = role_signer("independent v2")
    both_new_root = World().make_root(
        2, independent=[(INDEPENDENT_ORG, ind2)], operator=[(OPERATOR_ORG, op2)]
    )

    # Each case with its repaired twin: the same log and bundle with a valid rotation.
    def both_new_ok(w: World) -> bytes:
        return _rotation_package(
            w,
            [w.sign_root(both_new_root, [w.independent, w.operator, ind2, op2])],
            op2,
            signer=ind2,
        )

    op2_root = World().make_root(2, operator=[(OPERATOR_ORG, op2)])

    def op2_ok(w: World) -> bytes:
        return _rotation_package(w, [w.sign_root(op2_root, [w.independent, w.operator, op2])], op2)

    def v2_ok(w: World) -> bytes:
        return _rotation_package(
            w, [w.sign_root(w.make_root(2), [w.independent, w.operator])], w.operator
        )

    cases: list[tuple[str, str, Callable[[World], bytes], str, Callable[[World], bytes]]] = [
        (
            "rotation-signed-only-by-old-keys",
            "New keys for both roles, signed only by the old keys.",
            lambda w: _rotation_package(
                w, [w.sign_root(both_new_root, [w.independent, w.operator])], op2, signer=ind2
            ),
            "TRUST_ROOT_THRESHOLD_NOT_MET",
            both_new_ok,
        ),
        (
            "rotation-signed-only-by-new-keys",
            "New keys for both roles, signed only by the new keys.",
            lambda w: _rotation_package(
                w, [w.sign_root(both_new_root, [ind2, op2])], op2, signer=ind2
            ),
            "TRUST_ROOT_THRESHOLD_NOT_MET",
            both_new_ok,
        ),
        (
            "rotation-without-old-operator",
            "A new operator key; the old operator did not sign.",
            lambda w: _rotation_package(w, [w.sign_root(op2_root, [w.independent, op2])], op2),
            "TRUST_ROOT_THRESHOLD_NOT_MET",
            op2_ok,
        ),
        (
            "rotation-skipping-a-version",
            "A rotation from version 1 to 3.",
            lambda w: _rotation_package(
                w, [w.sign_root(w.make_root(3), [w.independent, w.operator])], w.operator
            ),
            "TRUST_ROOT_VERSION",
            v2_ok,
        ),
        (
            "rotation-not-in-the-log",
            "A rotation whose inclusion proof is another entry's.",
            lambda w: (
                w.append(b"filler"),
                _rotation_package(
                    w,
                    [w.sign_root(w.make_root(2), [w.independent, w.operator])],
                    w.operator,
                    indices=[0],
                ),
            )[1],
            "BAD_INCLUSION_PROOF",
            lambda w: (w.append(b"filler"), v2_ok(w))[1],
        ),
        (
            "rotation-chain-over-the-cap",
            "Five rotations over the trust root's max_rotation_chain of 4.",
            lambda w: _rotation_package(
                w,
                [w.sign_root(w.make_root(v), [w.independent, w.operator]) for v in range(2, 7)],
                w.operator,
            ),
            "TRUST_ROOT_CHAIN_TOO_LONG",
            lambda w: _rotation_package(
                w,
                [w.sign_root(w.make_root(v), [w.independent, w.operator]) for v in range(2, 6)],
                w.operator,
            ),
        ),
        (
            "rotation-to-a-signed-bundle",
            "A signed bundle offered as a trust root.",
            lambda w: _rotation_package(w, [w.signed_bundle("other-fleet", 1)], w.operator),
            "MALFORMED_TRUST_ROOT",
            v2_ok,
        ),
        (
            "rotation-valid-then-skipping",
            "A valid rotation to 2, then one to 4.",
            lambda w: _rotation_package(
                w,
                [
                    w.sign_root(w.make_root(2), [w.independent, w.operator]),
                    w.sign_root(w.make_root(4), [w.independent, w.operator]),
                ],
                w.operator,
            ),
            "TRUST_ROOT_VERSION",
            lambda w: _rotation_package(
                w,
                [
                    w.sign_root(w.make_root(2), [w.independent, w.operator]),
                    w.sign_root(w.make_root(3), [w.independent, w.operator]),
                ],
                w.operator,
            ),
        ),
        (
            "rotation-alg-mismatch",
            "The new operator key's signature on the new root claims ES256 for an Ed25519 key.",
            lambda w: _rotation_package(
                w,
                [w.sign_root(op2_root, [w.independent, w.operator, _AlgLiar(op2, -7)])],
                op2,
            ),
            "ALG_MISMATCH",
            op2_ok,
        ),
    ]
    for name, description, make, reason, fix in cases:
        w = World()
        c.one(name, description, w, make(w), reject(reason, 5), spec=spec, repaired=fix(World()))

    # The effective trust root (SPEC §7.2): a rotated root stored in the state is in force.
    w = World()
    v2 = w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [*signers, op2])
    at_0 = ClientState(rotations=(StoredRotation(v2, 0),))
    w.append(v2)
    c.one(
        "state-rotated-root-in-force",
        "The state holds version 2 (a new operator key, logged at index 0); a package "
        "countersigned by it needs no rotation.",
        w,
        _logged(w, w.countersign(w.sign(w.bundle()), op2)),
        ACCEPT,
        state=at_0,
        spec=["§7.2"],
    )
    w = World()
    w.append(v2)
    c.one(
        "state-rotated-root-old-operator",
        "With version 2 (logged at index 0) in the state, the version-1 operator key is unknown "
        "for a bundle logged after it.",
        w,
        w.fresh_package(),
        reject("UNKNOWN_KEY", 8),
        state=at_0,
        spec=["§7.2"],
        repaired=_logged(w, w.countersign(w.sign(w.bundle()), op2)),
    )
    w = World()
    w.append(v2)
    c.one(
        "state-version-1-rotated-root-migrates",
        "A version-1 state holding a valid version-2 root (no index): it is kept, in force over "
        "the whole log, and the state is written in version 2.",
        w,
        _logged(w, w.countersign(w.sign(w.bundle()), op2)),
        ACCEPT,
        state=_LegacyState(cbor_encode({1: 1, 3: [], 4: v2})),
        spec=["§7.2"],
    )
    w = World()
    v3_pinned = w.sign_root(
        w.make_root(3, limits=replace(DEFAULT_LIMITS, max_epoch_jump=99)), signers
    )
    c.one(
        "pinned-root-newer-than-stored",
        "An app update pins version 3 while the state holds version 2: the pinned root is in "
        "force.",
        w,
        w.fresh_package(),
        ACCEPT,
        root=v3_pinned,
        state=at_0,
        spec=["§7.2"],
    )


def _step_6(c: _Client) -> None:
    spec = ["§2.2"]
    w = World()
    w.publish("other-fleet", 1)
    w.append(b"filler")
    c.one(
        "bundle-not-in-the-log",
        "A bundle that is not in the log, with another entry's proof.",
        w,
        w.package(w.signed_bundle(), 0, w.checkpoint()),
        reject("BAD_INCLUSION_PROOF", 6),
        spec=spec,
        repaired=w.package(w.entries[0], 0, w.checkpoint()),
    )
    w = World()
    w.append(b"filler")
    cp = w.checkpoint()
    signed, index = w.publish()
    c.one(
        "bundle-appended-after-the-checkpoint",
        "The bundle's index is not below the checkpoint's size.",
        w,
        w.package(signed, index, cp, hashes=()),
        reject("BAD_INCLUSION_PROOF", 6),
        spec=spec,
        repaired=w.package(signed, index, w.checkpoint()),
    )
    w = World()
    for n in range(4):
        w.append(b"filler %d" % n)
    signed, index = w.publish()
    w.append(b"filler 5")
    cp = w.checkpoint()
    c.one(
        "proof-of-another-index",
        "The proof of index 5 (same length) for the bundle at index 4.",
        w,
        w.package(signed, index, cp, hashes=w.tlog_proof(5, cp).hashes),
        reject("BAD_INCLUSION_PROOF", 6),
        spec=spec,
        repaired=w.package(signed, index, cp),
    )
    w = World()
    signed, index = w.publish()
    for n in range(5):
        w.append(b"filler %d" % n)
    cp = w.checkpoint()
    c.one(
        "proof-for-another-tree-size",
        "A proof made for size 5 under a checkpoint of size 6.",
        w,
        w.package(signed, index, cp, hashes=w.tlog_proof(index, w.checkpoint(5)).hashes),
        reject("BAD_INCLUSION_PROOF", 6),
        spec=spec,
        repaired=w.package(signed, index, cp),
    )
    w, fork = World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    fork.append(b"other")
    fork.append(b"filler")
    c.one(
        "proof-under-a-forks-checkpoint",
        "A proof in the log under a cosigned checkpoint of a fork.",
        w,
        w.package(
            signed, index, fork.checkpoint(), hashes=w.tlog_proof(index, w.checkpoint()).hashes
        ),
        reject("BAD_INCLUSION_PROOF", 6),
        spec=spec,
        repaired=w.package(signed, index, w.checkpoint()),
    )
    w = World()
    signed, index = w.publish()
    w.append(b"filler")
    cp = w.checkpoint()
    c.one(
        "inclusion-proof-one-hash-too-many",
        "An inclusion proof one hash too long.",
        w,
        w.package(signed, index, cp, hashes=(*w.tlog_proof(index, cp).hashes, bytes(32))),
        reject("MALFORMED_PROOF", 6),
        spec=spec,
        repaired=w.package(signed, index, cp),
    )
    c.one(
        "inclusion-proof-one-hash-too-few",
        "An empty inclusion proof where one hash is needed.",
        w,
        w.package(signed, index, cp, hashes=()),
        reject("MALFORMED_PROOF", 6),
        spec=spec,
        repaired=w.package(signed, index, cp),
    )


def _steps_7_to_9(c: _Client) -> None:
    s7, s8 = ["§4.1", "§5.4"], ["§4.2", "§5.4"]
    w = World()
    signed_only = w.sign(w.bundle())
    sig = cose.parse_unverified_sign1(signed_only).signature
    c.one(
        "independent-signature-forged",
        "The independent signature with one bit changed.",
        w,
        _logged(w, w.countersign(_edit_sign1(signed_only, signature=_flip(sig, 10)))),
        reject("BAD_INDEPENDENT_SIGNATURE", 7),
        spec=s7,
        repaired=_logged(w, w.signed_bundle()),
    )
    w = World()
    good = w.signed_bundle()
    c.one(
        "payload-changed-after-signing",
        "The payload replaced after signing.",
        w,
        _logged(w, _edit_sign1(good, payload=w.bundle(not_after=w.now + 2 * 365 * DAY))),
        reject("BAD_INDEPENDENT_SIGNATURE", 7),
        spec=s7,
        repaired=_logged(w, w.signed_bundle()),
    )
    w = World()
    s = int.from_bytes(sig[32:], "little") + _L
    c.one(
        "independent-ed25519-s-plus-l",
        "The independent Ed25519 signature with S + L.",
        w,
        _logged(
            w,
            w.countersign(
                _edit_sign1(w.sign(w.bundle()), signature=sig[:32] + s.to_bytes(32, "little"))
            ),
        ),
        reject("BAD_INDEPENDENT_SIGNATURE", 7),
        spec=s7,
        repaired=_logged(w, w.signed_bundle()),
    )
    wp = World(algorithm="p256")
    p_only = wp.sign(wp.bundle())
    psig = cose.parse_unverified_sign1(p_only).signature
    high = P256_ORDER - int.from_bytes(psig[32:], "big")
    c.one(
        "independent-es256-high-s",
        "The independent ES256 signature in high-S form.",
        wp,
        _logged(
            wp, wp.countersign(_edit_sign1(p_only, signature=psig[:32] + high.to_bytes(32, "big")))
        ),
        reject("BAD_INDEPENDENT_SIGNATURE", 7),
        spec=s7,
        repaired=_logged(wp, wp.countersign(p_only)),
    )
    w = World()
    value = cbor_decode(w.signed_bundle(), frozenset({18}))
    body: list[Any] = _tag_content(value)
    if len(body) != 4:
        raise AssertionError("bad math: a signed bundle is a tagged array")
    truncated = cbor_tagged(18, [*body[:3], body[3][:63]])
    c.one(
        "independent-signature-63-bytes",
        "The independent signature truncated to 63 bytes.",
        w,
        _logged(w, truncated),
        reject("MALFORMED_COSE", 7),
        spec=s7,
        repaired=_logged(w, w.signed_bundle()),
    )
    w = World()
    (cs,) = cose.parse_unverified_sign1(w.signed_bundle()).countersignatures
    c.one(
        "countersignature-63-bytes",
        "The countersignature truncated to 63 bytes: the COSE structure does not parse (step 7).",
        w,
        _logged(
            w,
            _edit_sign1(
                w.signed_bundle(), countersignatures=(replace(cs, signature=cs.signature[:63]),)
            ),
        ),
        reject("MALFORMED_COSE", 7),
        spec=s7,
        repaired=_logged(w, w.signed_bundle()),
    )
    cases: list[tuple[str, str, Callable[[World], bytes], str]] = [
        (
            "independent-key-unknown",
            "Signed by a key the trust root does not hold.",
            lambda w: w.countersign(w.sign(w.bundle(), role_signer("stranger"))),
            "UNKNOWN_KEY",
        ),
        (
            "tofu-signed-by-carried-fleet-key",
            "Signed by a fleet key the bundle itself carries.",
            lambda w: w.countersign(
                w.sign(
                    w.bundle(), Ed25519Signer(seed(f"fleet {DEFAULT_FLEET} epoch 1 hsm 1 ed25519"))
                )
            ),
            "UNKNOWN_KEY",
        ),
        (
            "roles-swapped",
            "Signed by the operator, countersigned by the independent party.",
            lambda w: w.countersign(w.sign(w.bundle(), w.operator), w.independent),
            "UNKNOWN_KEY",
        ),
        (
            "independent-alg-mismatch",
            "The independent signature claims ES256 for an Ed25519 key.",
            lambda w: w.countersign(w.sign(w.bundle(), _AlgLiar(w.independent, -7))),
            "ALG_MISMATCH",
        ),
    ]
    for name, description, make, reason in cases:
        w = World()
        c.one(
            name,
            description,
            w,
            _logged(w, make(w)),
            reject(reason, 7),
            spec=s7,
            repaired=_logged(w, w.signed_bundle()),
        )
    hsm = Ed25519Signer(seed(f"fleet {DEFAULT_FLEET} epoch 1 hsm 1 ed25519")).public_key().raw
    if hsm not in {k.public_key for k in fleet_keys(DEFAULT_FLEET, 1)}:
        raise AssertionError("bad math: the TOFU case must sign with a key the bundle carries")
    w = World()
    ind2 = role_signer("independent 2")
    two_ind = w.sign_root(
        w.make_root(
            1,
            independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", ind2)],
            independent_threshold=2,
        ),
        [w.independent, ind2, w.operator],
    )
    c.one(
        "independent-threshold-two",
        "An independent threshold of 2 organisations under which no COSE_Sign1 can pass.",
        w,
        w.fresh_package(),
        reject("INDEPENDENT_THRESHOLD_NOT_MET", 7),
        root=two_ind,
        spec=s7,
        repaired_root=w.signed_root,
    )

    # Step 8.
    cases = [
        (
            "no-countersignature",
            "Signed by the independent party only.",
            lambda w: w.sign(w.bundle()),
            "COUNTERSIGNATURE_THRESHOLD_NOT_MET",
        ),
        (
            "countersignature-forged",
            "The countersignature with one bit changed.",
            _forge_cs,
            "BAD_COUNTERSIGNATURE",
        ),
        (
            "countersigned-by-unknown-key",
            "Countersigned by a key the trust root does not hold.",
            lambda w: w.countersign(w.sign(w.bundle()), role_signer("stranger")),
            "UNKNOWN_KEY",
        ),
        (
            "countersigned-by-independent-key",
            "Countersigned by the independent key, which holds no operator role.",
            lambda w: w.countersign(w.sign(w.bundle()), w.independent),
            "UNKNOWN_KEY",
        ),
        (
            "countersignature-alg-mismatch",
            "The countersignature claims ES256 for an Ed25519 key.",
            lambda w: w.countersign(w.sign(w.bundle()), _AlgLiar(w.operator, -7)),
            "ALG_MISMATCH",
        ),
        (
            "countersignature-from-another-bundle",
            "A countersignature moved from another bundle.",
            lambda w: _edit_sign1(
                w.sign(w.bundle()),
                countersignatures=cose.parse_unverified_sign1(
                    w.signed_bundle("other-fleet", 1)
                ).countersignatures,
            ),
            "BAD_COUNTERSIGNATURE",
        ),
    ]
    for name, description, make, reason in cases:
        w = World()
        c.one(
            name,
            description,
            w,
            _logged(w, make(w)),
            reject(reason, 8),
            spec=s8,
            repaired=_logged(w, w.signed_bundle()),
        )
    w = World()
    two_ind_one = w.sign_root(
        w.make_root(1, independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", ind2)]),
        [w.independent, ind2, w.operator],
    )
    (cs,) = cose.parse_unverified_sign1(w.signed_bundle()).countersignatures
    c.one(
        "countersignature-over-other-signature",
        "The same payload signed by the other independent key, carrying the countersignature made "
        "over the first key's signature.",
        w,
        _logged(w, _edit_sign1(w.sign(w.bundle(), ind2), countersignatures=(cs,))),
        reject("BAD_COUNTERSIGNATURE", 8),
        root=two_ind_one,
        spec=s8,
        repaired=_logged(w, w.countersign(w.sign(w.bundle(), ind2))),
    )
    w = World()
    op2, op3 = role_signer("operator 2"), role_signer("operator 3")
    two_ops = w.sign_root(
        w.make_root(
            1, operator=[(OPERATOR_ORG, w.operator), ("Second Operator", op2)], operator_threshold=2
        ),
        [w.independent, w.operator, op2],
    )
    c.one(
        "operator-threshold-two-one-organisation",
        "An operator threshold of 2 and one organisation's countersignature.",
        w,
        w.fresh_package(),
        reject("COUNTERSIGNATURE_THRESHOLD_NOT_MET", 8),
        root=two_ops,
        spec=s8,
        repaired=_logged(w, w.countersign(w.signed_bundle(), op2)),
    )
    w = World()
    c.one(
        "operator-threshold-two-organisations",
        "An operator threshold of 2 met by two organisations.",
        w,
        _logged(w, w.countersign(w.signed_bundle(), op2)),
        ACCEPT,
        root=two_ops,
        spec=s8,
    )
    w = World()
    same_org = w.sign_root(
        w.make_root(
            1,
            operator=[(OPERATOR_ORG, w.operator), (OPERATOR_ORG, op2), ("Third Operator", op3)],
            operator_threshold=2,
        ),
        [w.independent, w.operator, op2, op3],
    )
    c.one(
        "operator-threshold-two-keys-one-organisation",
        "Two keys of one organisation count once toward an operator threshold of 2.",
        w,
        _logged(w, w.countersign(w.signed_bundle(), op2)),
        reject("COUNTERSIGNATURE_THRESHOLD_NOT_MET", 8),
        root=same_org,
        spec=s8,
        repaired=_logged(w, w.countersign(w.signed_bundle(), op3)),
    )

    # Step 9.
    s9 = ["§3.2", "§3.3"]
    w = World()
    c.one(
        "payload-not-deterministic-cbor",
        "The signed payload {1: 1} with a non-minimal head.",
        w,
        _logged(w, w.countersign(w.sign(b"\xa1\x01\x18\x01"))),
        reject("MALFORMED_CBOR", 9),
        spec=s9,
        repaired=_logged(w, w.signed_bundle()),
    )
    w = World()
    c.one(
        "payload-not-a-bundle",
        "The signed payload is a map that is not a bundle.",
        w,
        _logged(w, w.countersign(w.sign(cbor_encode({1: 1})))),
        reject("MALFORMED_BUNDLE", 9),
        spec=s9,
        repaired=_logged(w, w.signed_bundle()),
    )
    w = World()
    value = cbor_decode(w.bundle())
    if (
        not isinstance(value, dict)
        or not isinstance(value[8], list)
        or not isinstance(value[8][1], dict)
    ):
        raise AssertionError("bad math: the world's payload shape")
    value[8][1][3] = bytes(32)
    c.one(
        "fleet-key-small-order-x25519",
        "A fleet key that is the X25519 u-coordinate 0.",
        w,
        _logged(w, w.countersign(w.sign(cbor_encode(value)))),
        reject("INVALID_FLEET_KEY", 9),
        spec=s9,
        repaired=_logged(w, w.signed_bundle()),
    )
    w = World()
    c.one(
        "bundle-for-another-fleet",
        "The caller expects prod-eu.vault; the bundle is staging.vault's.",
        w,
        w.fresh_package("staging.vault", 1),
        reject("WRONG_FLEET", 9),
        fleet=DEFAULT_FLEET,
        repaired=w.fresh_package(DEFAULT_FLEET, 1),
    )
    w = World()
    c.one(
        "bundle-for-the-expected-fleet",
        "The caller expects the bundle's fleet.",
        w,
        w.fresh_package(),
        ACCEPT,
        fleet=DEFAULT_FLEET,
    )
    w = World()
    end = w.now - SKEW - 1
    c.one(
        "bundle-expired-beyond-skew",
        "not_after one second beyond the clock skew in the past.",
        w,
        w.fresh_package(issued_at=end - DAY, not_before=end - DAY, not_after=end),
        reject("EXPIRED", 9),
        repaired=World().fresh_package(
            issued_at=end - DAY, not_before=end - DAY, not_after=end + 1
        ),
    )
    w = World()
    end = w.now - SKEW
    c.one(
        "bundle-expired-within-skew",
        "not_after exactly clock_skew in the past.",
        w,
        w.fresh_package(issued_at=end - DAY, not_before=end - DAY, not_after=end),
        ACCEPT,
    )
    w = World()
    c.one(
        "bundle-not-yet-valid",
        "not_before one second beyond the clock skew ahead.",
        w,
        w.fresh_package(not_before=w.now + SKEW + 1),
        reject("NOT_YET_VALID", 9),
        repaired=World(algorithm=w.algorithm).fresh_package(not_before=w.now + SKEW),
    )
    w = World()
    c.one(
        "bundle-valid-within-skew",
        "not_before exactly clock_skew ahead.",
        w,
        w.fresh_package(not_before=w.now + SKEW),
        ACCEPT,
    )
    w = World()
    package = w.fresh_package()
    t1 = w.now
    w.now += 366 * DAY
    later = w.package(w.entries[0], 0, w.checkpoint())
    in_time = w.package(w.entries[0], 0, w.checkpoint(cosign_at=t1 + 365 * DAY + SKEW))
    c.add(
        "bundle-expires-between-steps",
        "A bundle accepted now is rejected a year and a day later, under a freshly cosigned "
        "checkpoint.",
        w,
        [Step(package, ACCEPT, t1), Step(later, reject("EXPIRED", 9), w.now)],
        repaired=[Step(package, ACCEPT, t1), Step(in_time, ACCEPT, t1 + 365 * DAY + SKEW)],
    )


def _forge_cs(w: World) -> bytes:
    signed = w.signed_bundle()
    (cs,) = cose.parse_unverified_sign1(signed).countersignatures
    return _edit_sign1(signed, countersignatures=(replace(cs, signature=_flip(cs.signature, 5)),))


def _steps_10_11(c: _Client) -> None:
    w = World()
    p1 = w.fresh_package(DEFAULT_FLEET, 1)
    t1 = w.now
    w.now += 3600
    signed2, index2 = w.publish(DEFAULT_FLEET, 2)
    p2 = w.package(signed2, index2, w.checkpoint(), consistency_from=1)
    rollback = w.package(w.entries[0], 0, w.checkpoint())
    other2, other_index = w.publish(DEFAULT_FLEET, 2, not_after=w.now + 500 * DAY)
    conflict = w.package(other2, other_index, w.checkpoint())
    signed3, index3 = w.publish(DEFAULT_FLEET, 3)
    p3 = w.package(signed3, index3, w.checkpoint(), consistency_from=2)
    staging = w.fresh_package("staging.vault", 7, previous=b"\x77" * 32)
    c.add(
        "sequence-accept-rollback-replay-conflict-advance",
        "Accept epoch 1, accept epoch 2, reject epoch 1 under the newest checkpoint and the old "
        "epoch-1 package (rollback), accept epoch 2 again (a replay), reject a second epoch-2 "
        "bundle (equivocation), accept epoch 3, then another fleet at a late epoch.",
        w,
        [
            Step(p1, ACCEPT, t1),
            Step(p2, ACCEPT, w.now),
            Step(rollback, reject("ROLLBACK", 10), w.now),
            Step(p1, reject("ROLLBACK", 10), w.now),
            Step(p2, ACCEPT, w.now),
            Step(conflict, reject("EPOCH_CONFLICT", 10), w.now),
            Step(p3, ACCEPT, w.now),
            Step(staging, ACCEPT, w.now),
        ],
        no_twin="sequence: two rollbacks and an equivocation in one client's run",
    )

    def after_epoch_1(
        name: str, description: str, make: Any, want: Want, fix: Any | None = None
    ) -> None:
        w = World()
        first = w.fresh_package()
        c.add(
            name,
            description,
            w,
            [Step(first, ACCEPT, w.now), Step(make(w), want, w.now)],
            repaired=None
            if fix is None
            else [Step(first, ACCEPT, w.now), Step(fix(w), ACCEPT, w.now)],
        )

    after_epoch_1(
        "epoch-conflict",
        "Epoch 1 accepted, then another epoch-1 bundle.",
        lambda w: w.fresh_package(DEFAULT_FLEET, 1, not_after=w.now + 400 * DAY),
        reject("EPOCH_CONFLICT", 10),
        lambda w: w.package(w.entries[0], 0, w.checkpoint()),
    )
    after_epoch_1(
        "replay-of-the-accepted-bundle",
        "Epoch 1 accepted, then the same bundle byte for byte.",
        lambda w: w.package(w.entries[0], 0, w.checkpoint()),
        ACCEPT,
    )
    after_epoch_1(
        "broken-chain",
        "Epoch 1 accepted, then epoch 2 naming another previous bundle.",
        lambda w: w.fresh_package(DEFAULT_FLEET, 2, previous=b"\x77" * 32),
        reject("BROKEN_CHAIN", 10),
        lambda w: w.fresh_package(DEFAULT_FLEET, 2),
    )
    after_epoch_1(
        "next-epoch-chains",
        "Epoch 1 accepted, then epoch 2 naming it.",
        lambda w: w.fresh_package(DEFAULT_FLEET, 2),
        ACCEPT,
    )
    after_epoch_1(
        "epoch-gap-of-max-jump",
        "Epoch 1 accepted, then epoch 1 + max_epoch_jump (the chain cannot be checked).",
        lambda w: w.fresh_package(DEFAULT_FLEET, 1 + JUMP, previous=b"\x77" * 32),
        ACCEPT,
    )
    after_epoch_1(
        "fast-forward-beyond-max-jump",
        "Epoch 1 accepted, then epoch 2 + max_epoch_jump.",
        lambda w: w.fresh_package(DEFAULT_FLEET, 2 + JUMP, previous=b"\x77" * 32),
        reject("EPOCH_JUMP_TOO_LARGE", 10),
        lambda w: w.fresh_package(DEFAULT_FLEET, 1 + JUMP, previous=b"\x77" * 32),
    )
    after_epoch_1(
        "new-fleet-at-a-late-epoch",
        "A fleet the state does not hold may start at any epoch.",
        lambda w: w.fresh_package("other-fleet", 500, previous=b"\x77" * 32),
        ACCEPT,
    )

    w = World()
    first = w.fresh_package(DEFAULT_FLEET, 3, previous=b"\x11" * 32)
    c.add(
        "rollback-to-an-older-epoch",
        "Epoch 3 accepted (a first sight, no chain), then epoch 2.",
        w,
        [
            Step(first, ACCEPT, w.now),
            Step(
                w.fresh_package(DEFAULT_FLEET, 2, previous=b"\x22" * 32),
                reject("ROLLBACK", 10),
                w.now,
            ),
        ],
        repaired=[
            Step(first, ACCEPT, w.now),
            Step(w.fresh_package(DEFAULT_FLEET, 5, previous=b"\x22" * 32), ACCEPT, w.now),
        ],
    )

    # Step 11.
    w = World()
    signed, index = w.publish()
    old = w.checkpoint()
    w.append(b"filler")
    c.add(
        "checkpoint-smaller-than-stored",
        "A package under a checkpoint of size 2, then the same bundle under the earlier, "
        "freshly cosigned checkpoint of size 1: accepted, the stored size-2 checkpoint stays.",
        w,
        [
            Step(w.package(signed, index, w.checkpoint()), ACCEPT, w.now),
            Step(w.package(signed, index, old), ACCEPT, w.now),
        ],
    )
    w = World()
    old_package = w.fresh_package()
    w.append(b"filler")
    newer = w.package(w.entries[0], 0, w.checkpoint())
    c.add(
        "old-package-replayed-after-newer",
        "The first package again after a newer checkpoint was stored, its cosignatures still "
        "fresh: accepted, and the state does not change.",
        w,
        [
            Step(old_package, ACCEPT, w.now),
            Step(newer, ACCEPT, w.now),
            Step(old_package, ACCEPT, w.now),
        ],
    )
    w.now += MAX_AGE + 1
    c.add(
        "old-package-replayed-with-stale-cosignatures",
        "The first package again a day and a second later: the freeze defence is the "
        "cosignatures' age, not the checkpoint's size.",
        w,
        [
            Step(old_package, ACCEPT, w.now - MAX_AGE - 1),
            Step(old_package, reject("STALE_COSIGNATURE", 4), w.now),
        ],
        repaired=[
            Step(old_package, ACCEPT, w.now - MAX_AGE - 1),
            Step(old_package, ACCEPT, w.now - 1),
        ],
    )
    w, fork = World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    fork.append(signed)
    fork.append(b"another filler")
    c.add(
        "split-view",
        "A checkpoint of size 2 stored, then another root for size 2 (both signed and cosigned).",
        w,
        [
            Step(w.package(signed, index, w.checkpoint()), ACCEPT, w.now),
            Step(
                fork.package(signed, index, fork.checkpoint()),
                reject("INCONSISTENT_CHECKPOINT", 11),
                w.now,
            ),
        ],
        repaired=[
            Step(w.package(signed, index, w.checkpoint()), ACCEPT, w.now),
            Step(w.package(signed, index, w.checkpoint(cosign_at=w.now - 1)), ACCEPT, w.now),
        ],
    )
    w = World()
    first = w.fresh_package()
    stored = w.size
    w.append(b"filler 1")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    c.add(
        "consistency-proof-from-stored-size",
        "Epoch 2 under a larger checkpoint, with a consistency proof from the stored size.",
        w,
        [
            Step(first, ACCEPT, w.now),
            Step(w.package(signed, index, w.checkpoint(), consistency_from=stored), ACCEPT, w.now),
        ],
        spec=["§2.3"],
    )
    w = World()
    w.append(b"filler 0")
    first = w.fresh_package()
    w.append(b"filler 1")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    good = parse_unverified_package(w.package(signed, index, w.checkpoint(), consistency_from=2))
    if good.consistency is None:
        raise AssertionError("bad math: the package carries a consistency proof")
    tampered = replace(
        good,
        consistency=replace(
            good.consistency,
            hashes=(_flip(good.consistency.hashes[0], 0), *good.consistency.hashes[1:]),
        ),
    ).encode()
    longer = replace(
        good, consistency=replace(good.consistency, hashes=(*good.consistency.hashes, bytes(32)))
    ).encode()
    c.add(
        "consistency-proof-tampered",
        "A consistency proof from the stored size with one hash changed.",
        w,
        [Step(first, ACCEPT, w.now), Step(tampered, reject("BAD_CONSISTENCY_PROOF", 11), w.now)],
        spec=["§2.3"],
        repaired=[Step(first, ACCEPT, w.now), Step(good.encode(), ACCEPT, w.now)],
    )
    c.add(
        "consistency-proof-too-long",
        "A consistency proof one hash too long.",
        w,
        [Step(first, ACCEPT, w.now), Step(longer, reject("MALFORMED_PROOF", 11), w.now)],
        spec=["§2.3"],
        repaired=[Step(first, ACCEPT, w.now), Step(good.encode(), ACCEPT, w.now)],
    )
    c.add(
        "consistency-proof-from-another-size",
        "A consistency proof from size 1 when the client stores size 2: it does not fit this "
        "client and is ignored (a universal package built --from-size 1).",
        w,
        [
            Step(first, ACCEPT, w.now),
            Step(w.package(signed, index, w.checkpoint(), consistency_from=1), ACCEPT, w.now),
        ],
        spec=["§2.3"],
    )
    w, fork, honest = World(), World(), World()
    signed, index = w.publish()
    w.append(b"filler")
    fork.append(signed)
    fork.append(b"another filler")
    fork.append(b"more")
    for entry in [signed, b"filler", b"more"]:
        honest.append(entry)
    c.add(
        "fork-detected-by-consistency-proof",
        "A checkpoint of size 2 stored, then a fork's size-3 checkpoint whose consistency proof "
        "cannot reach the stored root.",
        w,
        [
            Step(w.package(signed, index, w.checkpoint()), ACCEPT, w.now),
            Step(
                fork.package(signed, index, fork.checkpoint(), consistency_from=2),
                reject("BAD_CONSISTENCY_PROOF", 11),
                w.now,
            ),
        ],
        spec=["§2.3"],
        repaired=[
            Step(w.package(signed, index, w.checkpoint()), ACCEPT, w.now),
            Step(
                honest.package(signed, index, honest.checkpoint(), consistency_from=2),
                ACCEPT,
                w.now,
            ),
        ],
    )
    w = World()
    package = w.fresh_package()
    c.add(
        "consistency-proof-ignored-at-same-size",
        "A (junk) consistency proof is not read when the checkpoint did not grow.",
        w,
        [
            Step(package, ACCEPT, w.now),
            Step(
                _edit_package(package, consistency=ConsistencyProof(7, (bytes(32),))), ACCEPT, w.now
            ),
        ],
    )

    # A client that starts from a stored state (state_b64) rather than a fresh one.
    w = World()
    state = verify_package(w.fresh_package(), w.pinned, ClientState(), w.now).state
    c.one(
        "fast-forward-from-a-stored-state",
        "A stored state at epoch 1; the package jumps to epoch 2 + max_epoch_jump.",
        w,
        w.fresh_package(DEFAULT_FLEET, 2 + JUMP, previous=b"\x77" * 32),
        reject("EPOCH_JUMP_TOO_LARGE", 10),
        state=state,
        spec=["§7.2"],
        repaired=w.fresh_package(DEFAULT_FLEET, 1 + JUMP, previous=b"\x77" * 32),
    )
    w, fork = World(), World()
    signed, index = w.publish()
    state = verify_package(
        w.package(signed, index, w.checkpoint()), w.pinned, ClientState(), w.now
    ).state
    fork.publish("other-fleet", 1)
    c.one(
        "split-view-against-a-stored-state",
        "A stored checkpoint of size 1; the package's checkpoint of size 1 has another root.",
        w,
        fork.package(fork.entries[0], 0, fork.checkpoint()),
        reject("INCONSISTENT_CHECKPOINT", 11),
        state=state,
        spec=["§7.2"],
        repaired=w.package(signed, index, w.checkpoint(cosign_at=w.now - 1)),
    )
    w = World(algorithm="p256")
    c.one(
        "bundle-not-yet-valid-p256",
        "A P-256 world's bundle valid from one second beyond the clock skew ahead.",
        w,
        w.fresh_package(not_before=w.now + SKEW + 1),
        reject("NOT_YET_VALID", 9),
        repaired=World(algorithm=w.algorithm).fresh_package(not_before=w.now + SKEW),
    )
    w = World()
    staging = w.fresh_package("staging.vault", 1)
    prod = w.fresh_package(DEFAULT_FLEET, 1)
    c.add(
        "wrong-fleet-after-an-accepted-one",
        "A client of fleet staging.vault accepts its bundle, then is served prod-eu.vault's.",
        w,
        [
            Step(staging, ACCEPT, w.now, "staging.vault"),
            Step(prod, reject("WRONG_FLEET", 9), w.now, "staging.vault"),
        ],
        repaired=[
            Step(staging, ACCEPT, w.now, "staging.vault"),
            Step(prod, ACCEPT, w.now, DEFAULT_FLEET),
        ],
    )

    # Steps 1-12 all pass.
    w = World()
    c.one(
        "fresh-client-ed25519",
        "A fresh client accepts a valid package (Ed25519 role keys).",
        w,
        w.fresh_package(),
        ACCEPT,
    )
    w = World(algorithm="p256")
    c.one(
        "fresh-client-p256",
        "A fresh client accepts a valid package (P-256 role keys).",
        w,
        w.fresh_package(),
        ACCEPT,
    )
    w = World()
    for n in range(300):
        w.append(b"entry %d" % n)
    signed, index = w.publish()
    w.append(b"last")
    c.one(
        "bundle-deep-in-a-larger-log",
        "A bundle at index 300 of a log of 302 entries.",
        w,
        w.package(signed, index, w.checkpoint()),
        ACCEPT,
        spec=["§2.2"],
    )


def add_client_family(vs: VectorSet) -> None:
    """Add the client-decision vectors to ``vs``."""
    c = _Client(vs)
    _steps_1_to_4(c)
    _step_5(c)
    _step_6(c)
    _steps_7_to_9(c)
    _steps_10_11(c)
    _fleet_scale(c)
    _precedence(c)
    _limits_of_the_effective_root(c)
    _max_package_bytes(c)
    _package_shapes(c)
    _positions(c)
    _pinned_root_of_max_bytes(c)
    _state_head_sizes(c)
    _cosignature_bounds(c)


def _state_head_sizes(c: _Client) -> None:
    """The state a step returns is compared byte for byte (SPEC §12.4), so its integers must
    take the shortest CBOR head (§3.1): one fresh fleet per step, at the epochs where the
    head grows (255 and 256, 65535 and 65536, 2^32 - 1 and 2^32)."""
    w = World()
    steps = []
    for n, epoch in enumerate((255, 256, 65_535, 65_536, 2**32 - 1, 2**32)):
        fleet = f"fleet-{n}.vault"
        package = w.fresh_package(fleet, epoch, previous=bytes([n + 1]) * 32)
        steps.append(Step(package, ACCEPT, w.now, fleet))
    c.add(
        "fresh-fleets-at-head-size-boundaries",
        "Six fleets, first seen at epochs 255, 256, 65535, 65536, 2^32 - 1 and 2^32: each "
        "returned state holds the epochs in their shortest CBOR heads.",
        w,
        steps,
        spec=["§7.2", "§3.1"],
    )


class _Rotated:
    """A log with two rotations: fleet A (v1 keys) at 0, v2 at 1, fleet B (v2) at 2, v3 at 3,
    fleet C (v3) at 4; each version has a new operator key. Packages carry the whole chain
    from version 1 (a universal package, SPEC §7.3 step 5)."""

    def __init__(self) -> None:
        self.w = w = World()
        self.op2, self.op3 = role_signer("operator v2"), role_signer("operator v3")
        self.v2 = w.sign_root(
            w.make_root(2, operator=[(OPERATOR_ORG, self.op2)]),
            [w.independent, w.operator, self.op2],
        )
        self.v3 = w.sign_root(
            w.make_root(3, operator=[(OPERATOR_ORG, self.op3)]), [w.independent, self.op2, self.op3]
        )
        self.a = w.countersign(w.sign(w.bundle("fleet-a.vault")), w.operator)
        self.ia = w.append(self.a)
        self.i2 = w.append(self.v2)
        self.b = w.countersign(w.sign(w.bundle("fleet-b.vault")), self.op2)
        self.ib = w.append(self.b)
        self.i3 = w.append(self.v3)
        self.c = w.countersign(w.sign(w.bundle("fleet-c.vault")), self.op3)
        self.ic = w.append(self.c)
        self.cp = w.checkpoint()
        self.chain = [(self.v2, self.i2), (self.v3, self.i3)]

    def package(self, signed: bytes, index: int, *, chain: bool = True) -> bytes:
        return self.w.package(signed, index, self.cp, rotations=self.chain if chain else [])


def _fleet_scale(c: _Client) -> None:
    """SPEC §7.3 at fleet scale: universal, idempotent, order-free packages (DESIGN §5a)."""
    spec = ["§5.3", "§7.2"]
    r = _Rotated()
    w = r.w
    pc, pa, pb = r.package(r.c, r.ic), r.package(r.a, r.ia), r.package(r.b, r.ib)
    c.add(
        "universal-package-accepted-twice",
        "A package carrying the chain 2, 3 is accepted by a fresh version-1 client, and again "
        "with the state byte for byte unchanged.",
        w,
        [Step(pc, ACCEPT, w.now), Step(pc, ACCEPT, w.now)],
        spec=spec,
    )
    c.add(
        "bundles-judged-under-the-root-in-force-at-their-index",
        "After adopting versions 2 and 3, bundles logged before each rotation are judged under "
        "the root in force at their index: fleet A under version 1, fleet B under version 2 "
        "(with and without the chain in the package).",
        w,
        [
            Step(pc, ACCEPT, w.now),
            Step(pa, ACCEPT, w.now),
            Step(pb, ACCEPT, w.now),
            Step(r.package(r.a, r.ia, chain=False), ACCEPT, w.now),
        ],
        spec=spec,
    )
    c.add(
        "universal-package-in-any-order",
        "The three fleets' packages accepted in reverse log order, each by a client that "
        "rotates on the first.",
        w,
        [Step(pa, ACCEPT, w.now), Step(pb, ACCEPT, w.now), Step(pc, ACCEPT, w.now)],
        spec=spec,
    )
    c.one(
        "chain-from-version-1-client-pinned-version-2",
        "A client pinning version 2 (the log's own bytes): the chain's version-2 entry is its "
        "pinned root and version 3 is adopted.",
        w,
        pc,
        ACCEPT,
        root=r.v2,
        spec=spec,
    )
    c.one(
        "chain-from-version-1-client-pinned-version-3",
        "A client pinning version 3: the chain's older entries are passed over.",
        w,
        pc,
        ACCEPT,
        root=r.v3,
        spec=spec,
    )
    c.one(
        "chain-from-version-1-client-holding-version-2",
        "A version-1 client whose state holds version 2: the held entry is compared, version 3 "
        "adopted.",
        w,
        pc,
        ACCEPT,
        state=ClientState(rotations=(StoredRotation(r.v2, r.i2),)),
        spec=spec,
    )
    c.one(
        "bundle-before-the-pinned-root-judged-under-it",
        "A client pinning version 3 judges fleet A's bundle, logged before version 3 existed, "
        "under its pinned root, which does not hold the version-1 operator key.",
        w,
        pa,
        reject("UNKNOWN_KEY", 8),
        root=r.v3,
        spec=spec,
        repaired_root=w.signed_root,
    )
    c.one(
        "chain-gap-after-the-held-version",
        "A client holding version 2 is offered version 4 alone.",
        w,
        _rotation_package(
            w,
            [w.sign_root(w.make_root(4, operator=[(OPERATOR_ORG, r.op3)]), [w.independent, r.op3])],
            r.op3,
        ),
        reject("TRUST_ROOT_VERSION", 5),
        state=ClientState(rotations=(StoredRotation(r.v2, r.i2),)),
        spec=spec,
        repaired=r.w.package(r.c, r.ic, r.cp, rotations=[(r.v3, r.i3)]),
    )

    # Two roots for one version: the client holds one, the log shows it another.
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    other = w.sign_root(
        w.make_root(
            2, operator=[(OPERATOR_ORG, op2)], limits=replace(DEFAULT_LIMITS, max_epoch_jump=99)
        ),
        [w.independent, w.operator, op2],
    )
    w.append(v2)
    conflicting = _rotation_package(w, [other], op2)
    wt = World()
    wt.append(v2)
    agreeing = _rotation_package(wt, [v2], op2, indices=[0])
    c.one(
        "chain-entry-differs-from-the-held-version",
        "The client holds version 2; the package's version 2 is another validly signed root "
        "(two roots signed for one version).",
        w,
        conflicting,
        reject("TRUST_ROOT_CONFLICT", 5),
        state=ClientState(rotations=(StoredRotation(v2, 0),)),
        spec=spec,
        repaired=agreeing,
    )
    c.one(
        "chain-entry-differs-from-the-pinned-root",
        "The client pins version 2; the package's version 2 is another validly signed root.",
        w,
        conflicting,
        reject("TRUST_ROOT_CONFLICT", 5),
        root=v2,
        spec=spec,
        repaired=agreeing,
    )
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    c.one(
        "old-operator-bundle-logged-after-a-rotation",
        "Version 2 replaced the operator key; a bundle countersigned by the old key and logged "
        "after the rotation is judged under version 2.",
        w,
        _rotation_package(w, [v2], w.operator),
        reject("UNKNOWN_KEY", 8),
        spec=spec,
        repaired=_rotation_package(World(), [v2], op2),
    )
    w = World()
    chain = [w.sign_root(w.make_root(v), [w.independent, w.operator]) for v in range(2, 7)]
    logged = [w.append(root) for root in chain]
    signed = w.signed_bundle()
    index = w.append(signed)
    held = ClientState(
        rotations=tuple(StoredRotation(v, i) for v, i in zip(chain[:4], logged[:4], strict=True))
    )
    c.one(
        "chain-over-the-cap-of-which-most-is-held",
        "Five chain entries where the cap is four, four of them held: only the one new "
        "rotation counts against max_rotation_chain.",
        w,
        w.package(signed, index, w.checkpoint(), rotations=list(zip(chain, logged, strict=True))),
        ACCEPT,
        state=held,
        spec=spec,
    )
    good = parse_unverified_package(
        w.package(signed, index, w.checkpoint(), rotations=[(chain[0], logged[0])])
    )
    (entry,) = good.rotations
    c.one(
        "rotation-inclusion-proof-one-hash-too-many",
        "A rotation's inclusion proof one hash too long (SPEC §2.2).",
        w,
        replace(good, rotations=(replace(entry, hashes=(*entry.hashes, bytes(32))),)).encode(),
        reject("MALFORMED_PROOF", 5),
        spec=["§2.2"],
        repaired=good.encode(),
    )

    # Fleets at several checkpoints, in any order (SPEC §7.3 step 11).
    w = World()
    for n in range(8):
        w.append(b"entry %d" % n)
    sb, ib = w.publish("fleet-b.vault", 1)
    at_9 = w.package(sb, ib, w.checkpoint())
    sa, ia = w.publish("fleet-a.vault", 1)
    at_10 = w.package(sa, ia, w.checkpoint(), consistency_from=1)
    c.add(
        "fleets-at-a-larger-then-a-smaller-checkpoint",
        "Fleet A at size 10 (a proof from size 1, which fits nobody here), then fleet B at "
        "size 9, both freshly cosigned: both accepted, the size-10 checkpoint stays; both "
        "again, unchanged.",
        w,
        [
            Step(at_10, ACCEPT, w.now),
            Step(at_9, ACCEPT, w.now),
            Step(at_10, ACCEPT, w.now),
            Step(at_9, ACCEPT, w.now),
        ],
        spec=["§2.3"],
    )
    c.add(
        "fleets-at-a-smaller-then-a-larger-checkpoint",
        "Fleet B at size 9, then fleet A at size 10.",
        w,
        [Step(at_9, ACCEPT, w.now), Step(at_10, ACCEPT, w.now)],
        spec=["§2.3"],
    )

    # SPEC §7.3 step 4 precedence: a 1-of-2 quorum met by adding either kind.
    wa = World(quorum="any")
    sa, ia = wa.publish()
    either = {"witness.example/w1": wa.now - MAX_AGE - 1, "witness.example/w2": wa.now + SKEW + 1}
    c.one(
        "quorum-any-one-stale-one-future",
        "One stale and one future cosignature under a 1-of-2 quorum: either would meet it; "
        "STALE_COSIGNATURE is decided first (a precedence vector: two faults).",
        wa,
        wa.package(sa, ia, wa.checkpoint(cosign_at=either)),
        reject("STALE_COSIGNATURE", 4),
        no_twin="precedence: a stale and a future cosignature, either meeting the quorum",
    )


def _grown(w: World, signed: bytes) -> bytes:
    """``signed`` appended to ``w``'s log, packaged with a consistency proof from the last size."""
    size = w.size
    return w.package(signed, w.append(signed), w.checkpoint(), consistency_from=size)


def _fork_package(first: bytes, fleet: str) -> bytes:
    """A size-2 fork of a log whose entry 0 is ``first``: ``fleet``'s epoch 1 at entry 1."""
    fork = World()
    fork.append(first)
    signed = fork.signed_bundle(fleet, 1)
    return fork.package(signed, fork.append(signed), fork.checkpoint())


def _role_signers(w: World) -> list[Signer]:
    """The world's two role keys, which sign its roots (SPEC §5.3)."""
    return [w.independent, w.operator]


def _precedence(c: _Client) -> None:
    """Vectors where two checks of SPEC §7.3 could fire: the first in step order decides.

    Each carries two faults by design and says so; its name says which one decides.
    """
    signers = _role_signers
    # Step 5.1 before 5.4: a rotation neither in the log nor validly signed.
    w = World()
    w.append(b"filler")
    c.one(
        "rotation-not-in-the-log-and-unsigned",
        "A rotation signed by the independent key alone (threshold not met) whose inclusion "
        "proof is another entry's: inclusion (step 5.1) is checked before the rotation's "
        "signatures (a precedence vector: two faults).",
        w,
        _rotation_package(
            w, [w.sign_root(w.make_root(2), [w.independent])], w.operator, indices=[0]
        ),
        reject("BAD_INCLUSION_PROOF", 5),
        spec=["§5.3"],
        no_twin="precedence: a rotation not in the log and unsigned (inclusion first)",
        alone=[
            [
                _rotation_package(
                    w, [w.sign_root(w.make_root(2), signers(w))], w.operator, indices=[0]
                )
            ],
            [_rotation_package(w, [w.sign_root(w.make_root(2), [w.independent])], w.operator)],
        ],
    )
    # All inclusions before any entry is used: entry 1 is badly signed, entry 2 not included.
    w = World()
    w.append(b"filler")
    bad2 = w.sign_root(w.make_root(2), [w.independent])
    v3 = w.sign_root(w.make_root(3), signers(w))
    c.one(
        "rotation-unsigned-then-not-in-the-log",
        "Two rotations: version 2 signed by the independent key alone, version 3 with another "
        "entry's inclusion proof: every inclusion is checked before any entry is used (a "
        "precedence vector: two faults).",
        w,
        _rotation_package(w, [bad2, v3], w.operator, indices=[1, 0]),
        reject("BAD_INCLUSION_PROOF", 5),
        spec=["§5.3"],
        no_twin="precedence: an unsigned rotation, then one not in the log (inclusion first)",
        alone=[
            [
                _rotation_package(
                    w, [w.sign_root(w.make_root(2), signers(w)), v3], w.operator, indices=[1, 0]
                )
            ],
            [_rotation_package(w, [bad2, v3], w.operator)],
        ],
    )
    # Step 5.2 before 5.4: the versions' order before the first rotation's signatures.
    w = World()
    c.one(
        "rotation-unsigned-then-skipping",
        "Two rotations: version 2 signed by the independent key alone, then version 4: the "
        "versions' order (step 5.2) is checked before any signature (a precedence vector: two "
        "faults).",
        w,
        _rotation_package(
            w,
            [bad2, w.sign_root(w.make_root(4), signers(w))],
            w.operator,
        ),
        reject("TRUST_ROOT_VERSION", 5),
        spec=["§5.3"],
        no_twin="precedence: an unsigned rotation, then a skipped version (order first)",
        alone=[
            [
                _rotation_package(
                    w,
                    [
                        w.sign_root(w.make_root(2), signers(w)),
                        w.sign_root(w.make_root(4), signers(w)),
                    ],
                    w.operator,
                )
            ],
            [_rotation_package(w, [bad2, w.sign_root(w.make_root(3), signers(w))], w.operator)],
        ],
    )
    # An index beyond any tree: a uint the tree cannot hold is not included (step 5.1).
    w = World()
    v2 = w.sign_root(w.make_root(2), signers(w))
    good = parse_unverified_package(_rotation_package(w, [v2], w.operator))
    (entry,) = good.rotations
    for name, index, what in [
        ("rotation-index-is-the-tree-size", 2, "the checkpoint's size (2)"),
        ("rotation-index-2-to-the-64-minus-1", 2**64 - 1, "2^64 - 1, beyond any tree"),
    ]:
        c.one(
            name,
            f"A rotation whose index is {what}.",
            w,
            replace(good, rotations=(replace(entry, index=index),)).encode(),
            reject("BAD_INCLUSION_PROOF", 5),
            spec=["§2.2", "§5.3"],
            repaired=good.encode(),
        )

    # Step 10 before step 11: a rollback or an equivocation under a split-view checkpoint.
    w, fork = World(), World()
    first = w.fresh_package()
    second = w.fresh_package(DEFAULT_FLEET, 2)
    fork.append(w.entries[0])
    other1 = fork.signed_bundle(DEFAULT_FLEET, 1, not_after=fork.now + 400 * DAY)
    fork.append(other1)
    c.add(
        "rollback-under-a-split-view",
        "Epoch 2 accepted at size 2; then epoch 1 under a fork's size-2 checkpoint with another "
        "root: the fleet rules (step 10) decide before the checkpoint's progression (step 11) "
        "(a precedence vector: two faults).",
        w,
        [
            Step(second, ACCEPT, w.now),
            Step(fork.package(w.entries[0], 0, fork.checkpoint()), reject("ROLLBACK", 10), w.now),
        ],
        no_twin="precedence: a rollback under a split view (step 10 before step 11)",
        alone=[
            [second, w.package(w.entries[0], 0, w.checkpoint())],
            [second, _fork_package(w.entries[0], "staging.vault")],
        ],
    )
    honest = w.package(w.entries[0], 0, w.checkpoint())
    c.add(
        "epoch-conflict-under-a-split-view",
        "Epoch 1 accepted, and again under the honest size-2 checkpoint; then another epoch-1 "
        "bundle under a fork's size-2 checkpoint with another root: EPOCH_CONFLICT (step 10) "
        "decides before INCONSISTENT_CHECKPOINT (step 11) (a precedence vector: two faults).",
        w,
        [
            Step(first, ACCEPT, w.now),
            Step(honest, ACCEPT, w.now),
            Step(fork.package(other1, 1, fork.checkpoint()), reject("EPOCH_CONFLICT", 10), w.now),
        ],
        no_twin="precedence: an equivocation under a split view (step 10 before step 11)",
        alone=[
            [first, honest, _grown(w, other1)],
            [first, honest, fork.package(w.entries[0], 0, fork.checkpoint())],
        ],
    )
    # Step 9 before step 10: an expired bundle that is also a rollback.
    w = World()
    first = w.fresh_package()
    second = w.fresh_package(DEFAULT_FLEET, 2)
    w.now += 366 * DAY
    later = w.package(w.entries[0], 0, w.checkpoint())
    c.add(
        "expired-rollback",
        "Epoch 2 accepted; a year and a day later epoch 1 (expired) under a fresh checkpoint: "
        "EXPIRED (step 9) decides before ROLLBACK (step 10) (a precedence vector: two faults).",
        w,
        [Step(second, ACCEPT, w.now - 366 * DAY), Step(later, reject("EXPIRED", 9), w.now)],
        no_twin="precedence: an expired rollback (step 9 before step 10)",
        alone=[
            [first, later],
            [second, _grown(w, w.signed_bundle(DEFAULT_FLEET, 1, not_after=w.now + 400 * DAY))],
        ],
    )
    # Steps 3-4 use the root before the package: a rotation to a longer max_cosignature_age
    # does not rescue the stale cosignatures of the package that carries it.
    w = World()
    v2 = w.sign_root(
        w.make_root(2, limits=replace(DEFAULT_LIMITS, max_cosignature_age=2 * DAY)), signers(w)
    )
    i2 = w.append(v2)
    signed, index = w.publish()
    c.one(
        "stale-cosignatures-beside-a-rotation-allowing-them",
        "Cosignatures max_cosignature_age + 1 s old, in a package rotating to a root that "
        "allows two days: step 4 uses the root before the package.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE - 1), rotations=[(v2, i2)]),
        reject("STALE_COSIGNATURE", 4),
        spec=["§5.3"],
        repaired=w.package(
            signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE), rotations=[(v2, i2)]
        ),
    )


def _limits_of_the_effective_root(c: _Client) -> None:
    """Boundaries of the limits a rotation brings (SPEC §7.3: the effective root after step 5
    supplies the limits of steps 9-10), and of the chain counts of step 5.3."""
    signers = _role_signers

    def rotated(limits: Any, ahead: int = 0, behind: int = 0) -> tuple[World, bytes]:
        """A package rotating to version 2 of ``limits``, whose bundle is valid from
        ``ahead`` s after now (when given) or was valid until ``behind`` s before now."""
        w = World()
        v2 = w.sign_root(w.make_root(2, limits=limits), signers(w))
        i2 = w.append(v2)
        if ahead:
            signed, index = w.publish(not_before=w.now + ahead)
        else:
            signed, index = w.publish(
                issued_at=w.now - DAY, not_before=w.now - DAY, not_after=w.now - behind
            )
        return w, w.package(signed, index, w.checkpoint(), rotations=[(v2, i2)])

    jump3 = replace(DEFAULT_LIMITS, max_epoch_jump=3)
    for epoch, want, name in [
        (4, ACCEPT, "rotation-lowers-max-epoch-jump-at-the-limit"),
        (5, reject("EPOCH_JUMP_TOO_LARGE", 10), "rotation-lowers-max-epoch-jump-one-past"),
    ]:
        w = World()
        first = w.fresh_package()
        v2 = w.sign_root(w.make_root(2, limits=jump3), signers(w))
        i2 = w.append(v2)
        signed, index = w.publish(DEFAULT_FLEET, epoch, previous=b"\x77" * 32)
        step2 = w.package(signed, index, w.checkpoint(), rotations=[(v2, i2)])
        fix = None
        if want.reason is not None:
            ok, ok_index = w.publish(DEFAULT_FLEET, epoch - 1, previous=b"\x77" * 32)
            fix = [
                Step(first, ACCEPT, w.now),
                Step(w.package(ok, ok_index, w.checkpoint(), rotations=[(v2, i2)]), ACCEPT, w.now),
            ]
        c.add(
            name,
            f"Epoch 1 accepted; then epoch {epoch} in a package rotating to a root whose "
            "max_epoch_jump is 3: the rotated root's limit applies to the same package.",
            w,
            [Step(first, ACCEPT, w.now), Step(step2, want, w.now)],
            spec=["§5.3"],
            repaired=fix,
        )
    skew100 = replace(DEFAULT_LIMITS, clock_skew=100)
    for ahead, want, name in [
        (100, ACCEPT, "rotation-lowers-clock-skew-not-before-at-the-limit"),
        (101, reject("NOT_YET_VALID", 9), "rotation-lowers-clock-skew-not-before-one-past"),
    ]:
        w, pkg = rotated(skew100, ahead=ahead)
        twin = None if want.reason is None else rotated(skew100, ahead=100)[1]
        c.one(
            name,
            f"not_before {ahead} s ahead, in a package rotating to a root whose clock_skew is "
            "100 s.",
            w,
            pkg,
            want,
            spec=["§5.3"],
            repaired=twin,
        )
    for behind, want, name in [
        (100, ACCEPT, "rotation-lowers-clock-skew-not-after-at-the-limit"),
        (101, reject("EXPIRED", 9), "rotation-lowers-clock-skew-not-after-one-past"),
    ]:
        w, pkg = rotated(skew100, behind=behind)
        twin = None if want.reason is None else rotated(skew100, behind=100)[1]
        c.one(
            name,
            f"not_after {behind} s in the past, in a package rotating to a root whose clock_skew "
            "is 100 s.",
            w,
            pkg,
            want,
            spec=["§5.3"],
            repaired=twin,
        )

    # max_rotation_chain counts only the entries above the effective version (step 5.3).
    w = World()
    chain = [w.sign_root(w.make_root(v), signers(w)) for v in range(2, 8)]
    logged = [w.append(root) for root in chain]
    signed, index = w.publish()
    cp = w.checkpoint()
    held = ClientState(rotations=(StoredRotation(chain[0], logged[0]),))
    pairs = list(zip(chain, logged, strict=True))
    c.one(
        "chain-at-the-cap-above-a-held-version",
        "A client holding version 2 is offered versions 2 to 6: four new entries, exactly "
        "max_rotation_chain (the held one does not count).",
        w,
        w.package(signed, index, cp, rotations=pairs[:5]),
        ACCEPT,
        state=held,
        spec=["§5.3"],
    )
    c.one(
        "chain-one-past-the-cap-above-a-held-version",
        "A client holding version 2 is offered versions 2 to 7: five new entries, one over "
        "max_rotation_chain.",
        w,
        w.package(signed, index, cp, rotations=pairs),
        reject("TRUST_ROOT_CHAIN_TOO_LONG", 5),
        state=held,
        spec=["§5.3"],
        repaired=w.package(signed, index, cp, rotations=pairs[:5]),
    )
    # An entry of the pinned version is not new either.
    c.one(
        "chain-at-the-cap-from-the-pinned-version",
        "A client pinning version 2 is offered versions 2 to 6: four new entries.",
        w,
        w.package(signed, index, cp, rotations=pairs[:5]),
        ACCEPT,
        root=chain[0],
        spec=["§5.3"],
    )
    # Versions ascend by one even among entries the client never uses.
    r = _Rotated()
    w = r.w
    v4 = w.sign_root(w.make_root(4, operator=[(OPERATOR_ORG, r.op3)]), [w.independent, r.op3])
    i4 = w.append(v4)
    signed = w.countersign(w.sign(w.bundle("fleet-d.vault")), r.op3)
    index = w.append(signed)
    cp = w.checkpoint()
    c.one(
        "chain-gap-below-the-pinned-version",
        "A client pinning version 3 is offered versions 2 and 4 (all in the log): the gap is "
        "TRUST_ROOT_VERSION although version 2 would be ignored.",
        w,
        w.package(signed, index, cp, rotations=[(r.v2, r.i2), (v4, i4)]),
        reject("TRUST_ROOT_VERSION", 5),
        root=r.v3,
        spec=["§5.3"],
        repaired=w.package(signed, index, cp, rotations=[(r.v2, r.i2), (r.v3, r.i3), (v4, i4)]),
    )

    # A migrated fleet (no stored bundle) replayed: the bundle and its index are stored now.
    w = World()
    package = w.fresh_package()
    digest = hashlib.sha256(w.entries[0]).digest()
    c.one(
        "migrated-fleet-replay-stores-the-bundle",
        "A version-1 state holding the fleet's epoch 1 and digest (no bundle); the same bundle "
        "again: accepted, and the new state holds the bundle and its index.",
        w,
        package,
        ACCEPT,
        state=_LegacyState(cbor_encode({1: 1, 3: [[DEFAULT_FLEET, 1, digest]]})),
        spec=["§7.2"],
    )
    # The same bundle logged twice: a replay at the second index leaves the stored index.
    w = World()
    signed, index = w.publish()
    again = w.append(signed)
    cp = w.checkpoint()
    c.add(
        "replay-at-another-index-keeps-the-state",
        "A bundle logged at index 0 and again at index 1, accepted at 0 and then at 1: the "
        "state keeps index 0, unchanged.",
        w,
        [
            Step(w.package(signed, index, cp), ACCEPT, w.now),
            Step(w.package(signed, again, cp), ACCEPT, w.now),
        ],
    )
    # MAX_STATE_ROTATIONS (SPEC §7.3 step 5.3): the state would hold at most 64 rotations.
    w = World()
    chain = [w.sign_root(w.make_root(v), signers(w)) for v in range(2, 67)]
    pairs = [(root, w.append(root)) for root in chain]
    signed, index = w.publish()
    cp = w.checkpoint()

    def holding(count: int) -> ClientState:
        return ClientState(rotations=tuple(StoredRotation(*p) for p in pairs[:count]))

    c.one(
        "state-rotations-at-the-cap",
        "A client holding 60 rotations (versions 2 to 61) adopts versions 62 to 65: the state "
        "then holds MAX_STATE_ROTATIONS (64).",
        w,
        w.package(signed, index, cp, rotations=pairs[60:64]),
        ACCEPT,
        state=holding(60),
        spec=["§5.3", "§7.2"],
    )
    c.one(
        "state-rotations-one-past-the-cap",
        "A client holding 61 rotations (versions 2 to 62) is offered versions 63 to 66: the "
        "state would hold 65, one over MAX_STATE_ROTATIONS.",
        w,
        w.package(signed, index, cp, rotations=pairs[61:65]),
        reject("TRUST_ROOT_CHAIN_TOO_LONG", 5),
        state=holding(61),
        spec=["§5.3", "§7.2"],
        repaired=w.package(signed, index, cp, rotations=pairs[61:64]),
    )


def _max_package_bytes(c: _Client) -> None:
    """MAX_PACKAGE_BYTES (SPEC §7.3 step 1) at and one past, under a root allowing 1 MiB.

    A valid package of exactly 262144 bytes: the client pins version 8, and the package
    carries versions 1 to 7 (ignored, SPEC §7.3 step 5.4, but included in the log and parsed),
    each a trust root near MAX_TRUST_ROOT_BYTES (a policy of 64 witnesses with long names);
    the checkpoint note is padded to the byte with signature lines by keys the client does
    not know (ignored, SPEC §2.6).
    """
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=2**20))
    lines = [f"log {w.log_signer.verifier().verifier_key}"]
    for i in range(64):
        witness = CosignatureV1Signer(f"witness.example/{i:02d}{'x' * 415}", seed(f"pad {i}"))
        lines.append(f"witness p{i} {witness.verifier().verifier_key}")
    lines.append("quorum none")
    wide = parse_policy("".join(line + "\n" for line in lines))
    signers = _role_signers(w)
    pinned = w.sign_root(w.make_root(8), signers)
    pairs = [
        (e, w.append(e))
        for e in (w.sign_root(w.make_root(v, policy=wide), signers) for v in range(1, 8))
    ]
    signed, index = w.publish()
    cp = w.checkpoint()

    def padded(size: int) -> bytes:
        base = len(w.package(signed, index, cp, rotations=pairs))
        missing, names = size - base, []
        while missing > 0:
            # A line is 98 bytes and its key name, of 13 to 900 characters here; the last
            # line must be able to take what is left.
            take = min(900, missing - 98)
            if 0 < missing - 98 - take < 111:
                take -= 111
            if take < 13:
                raise AssertionError("bad math: the padding cannot reach the size")
            names.append("pad.example/" + "p" * (take - 12))
            missing -= 98 + take
        extra = "".join(note.Signature(n, 0, bytes(64)).to_line() for n in names)
        package = w.package(signed, index, cp + extra.encode(), rotations=pairs)
        if len(package) != size:
            raise AssertionError(f"bad math: padded to {len(package)}, not {size} bytes")
        return package

    c.one(
        "package-exactly-max-package-bytes-absolute",
        "A valid package of exactly MAX_PACKAGE_BYTES (262144) under a root whose "
        "max_package_bytes is 1 MiB.",
        w,
        padded(MAX_PACKAGE_BYTES),
        ACCEPT,
        root=pinned,
        spec=["§7.1", "§11"],
    )
    c.one(
        "package-one-byte-over-max-package-bytes-absolute",
        "The same package one byte longer (262145 bytes, a longer unknown key name) under a "
        "root whose max_package_bytes is 1 MiB: MAX_PACKAGE_BYTES holds whatever the root "
        "allows.",
        w,
        padded(MAX_PACKAGE_BYTES + 1),
        reject("PACKAGE_TOO_LARGE", 1),
        root=pinned,
        spec=["§7.1", "§11"],
        repaired=padded(MAX_PACKAGE_BYTES),
    )


def _package_shapes(c: _Client) -> None:
    """SPEC §7.1's shape rules one at a time, each with its repaired twin."""
    w = World()
    fresh = w.fresh_package()
    value = _package_map(fresh)
    junk = [bytes([n]) * 32 for n in range(65)]
    cases: list[tuple[str, str, Any, Any, str]] = [
        (
            "package-consistency-65-hashes",
            "A consistency proof of 65 hashes, one over MAX_PACKAGE_PROOF_HASHES (a proof from "
            "a size the client does not store, which it would otherwise ignore).",
            {**value, 4: [7, junk]},
            {**value, 4: [7, junk[:64]]},
            "MALFORMED_PACKAGE",
        ),
        (
            "package-consistency-old-size-negative",
            "A consistency proof whose old_size is -1.",
            {**value, 4: [-1, []]},
            {**value, 4: [7, []]},
            "MALFORMED_PACKAGE",
        ),
        (
            "package-consistency-hashes-empty-byte-string",
            "A consistency proof whose hashes are an empty byte string, not an array.",
            {**value, 4: [7, b""]},
            {**value, 4: [7, []]},
            "MALFORMED_PACKAGE",
        ),
        (
            "package-consistency-three-items",
            "A consistency proof array of three items.",
            {**value, 4: [7, [], 0]},
            {**value, 4: [7, []]},
            "MALFORMED_PACKAGE",
        ),
        (
            "package-without-proof-of-logging",
            "A package without field 3.",
            {k: v for k, v in value.items() if k != 3},
            value,
            "MALFORMED_PACKAGE",
        ),
        (
            "package-proof-of-logging-as-bytes",
            "Field 3 as a byte string of the tlog-proof's text.",
            {**value, 3: value[3].encode()},
            value,
            "MALFORMED_PACKAGE",
        ),
    ]
    for name, description, bad, good, reason in cases:
        c.one(
            name,
            description,
            w,
            cbor_encode(bad),
            reject(reason, 2),
            spec=["§7.1"],
            repaired=cbor_encode(good),
        )
    c.one(
        "package-consistency-64-hashes-ignored",
        "A consistency proof of 64 hashes (MAX_PACKAGE_PROOF_HASHES) from a size the client "
        "does not store: well-formed, and ignored.",
        w,
        cbor_encode({**value, 4: [7, junk[:64]]}),
        ACCEPT,
        spec=["§7.1"],
    )
    c.one(
        "package-is-an-integer",
        "The integer 0 instead of the package map.",
        w,
        cbor_encode(0),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        no_twin="no-neighbour: the input is another kind of object (an integer)",
    )
    hashes = [bytes(32)] * 2037
    w = World(limits=replace(DEFAULT_LIMITS, max_package_bytes=2**20))
    value = _package_map(w.fresh_package())
    c.one(
        "package-2048-items",
        "A consistency proof of 2037 hashes beside fields 1-3: 2048 data items, within the "
        "package's item cap, rejected by the hash count (a limit at the limit: rejected only "
        "by a later rule).",
        w,
        cbor_encode({**value, 4: [7, hashes]}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§3.1", "§7.1"],
        no_twin="no-neighbour: no valid package has 2048 data items; a later rule rejects",
    )
    c.one(
        "package-2049-items",
        "A consistency proof of 2038 hashes beside fields 1-3: 2049 data items, one over the "
        "package's item cap (a precedence vector: the hash count is also over).",
        w,
        cbor_encode({**value, 4: [7, [*hashes, bytes(32)]]}),
        reject("MALFORMED_CBOR", 2),
        spec=["§3.1", "§7.1"],
        no_twin="precedence: no valid package has this many items; the cap decides first",
    )
    w = World()
    v2 = w.sign_root(w.make_root(2), _role_signers(w))
    good = _rotation_package(w, [v2], w.operator)
    value = _package_map(good)
    ((root, at, proof),) = value[5]
    c.one(
        "package-rotation-entry-of-four-items",
        "A rotation entry [signed_trust_root, index, hashes, 0].",
        w,
        cbor_encode({**value, 5: [[root, at, proof, 0]]}),
        reject("MALFORMED_PACKAGE", 2),
        spec=["§7.1"],
        repaired=good,
    )


def _positions(c: _Client) -> None:
    """Where a root is in force (SPEC §7.3 step 7), and what a replay leaves (step 11)."""
    # A migrated version-1 rotation sits at index 0: it is in force from index 1 on, so a
    # bundle at index 0 is judged under the pinned root (no rotation index is below 0).
    w = World()
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    c.one(
        "migrated-rotation-not-in-force-at-index-0",
        "A version-1 state holding version 2 (a new operator key), migrated to index 0; a "
        "bundle at index 0 countersigned by the version-1 operator key is judged under the "
        "pinned root.",
        w,
        w.fresh_package(),
        ACCEPT,
        state=_LegacyState(cbor_encode({1: 1, 3: [], 4: v2})),
        spec=["§7.2"],
    )
    # An app update pins the version the state had adopted: the stored entry is the pinned
    # version, ignored.
    r = _Rotated()
    c.one(
        "pinned-version-equal-to-a-stored-rotation",
        "A client pinning version 2 whose state holds version 2 (adopted before the update) "
        "and the package with the chain 2, 3.",
        r.w,
        r.package(r.c, r.ic),
        ACCEPT,
        root=r.v2,
        state=ClientState(rotations=(StoredRotation(r.v2, r.i2),)),
        spec=["§7.2"],
    )
    # The same checkpoint again with other cosignatures: the stored note stays as received.
    w = World()
    signed, index = w.publish()
    c.add(
        "equal-checkpoint-keeps-the-stored-note",
        "A package, then the same bundle under the same checkpoint cosigned a second earlier: "
        "accepted, and the state keeps the first note byte for byte.",
        w,
        [
            Step(w.package(signed, index, w.checkpoint()), ACCEPT, w.now),
            Step(w.package(signed, index, w.checkpoint(cosign_at=w.now - 1)), ACCEPT, w.now),
        ],
    )


def _pinned_root_of_max_bytes(c: _Client) -> None:
    """A pinned root whose payload is exactly MAX_TRUST_ROOT_BYTES (SPEC §5.1 rule 6, §11).

    A universal package's chain starts at the oldest supported version (SPEC §7.3 step 5),
    so the client compares the pinned root, whole, with the chain's entry of its version.
    An unused witness with a long local name pads the
    policy; the quorum, and so every package, is the world's.
    """
    w = World()
    pad = CosignatureV1Signer("witness.example/pad", seed("witness pad"))

    def padded(length: int) -> str:
        line = f"witness {'p' * length} {pad.verifier().verifier_key}"
        return w.policy_text.replace("\ngroup", f"\n{line}\ngroup", 1)

    def root(length: int) -> TrustRoot:
        return w.make_root(1, policy=parse_policy(padded(length)))

    length = 1000 + MAX_TRUST_ROOT_BYTES - len(root(1000).encode())
    big = root(length)
    if len(big.encode()) != MAX_TRUST_ROOT_BYTES:
        raise AssertionError("bad math in _pinned_root_of_max_bytes: the root is not at the cap")
    pinned = w.sign_root(big, [w.independent, w.operator])
    at = w.append(pinned)
    signed, index = w.publish()
    c.one(
        "pinned-root-of-max-trust-root-bytes",
        "The pinned root's payload is exactly MAX_TRUST_ROOT_BYTES (32768), and the package's "
        "chain starts with it (a universal package): it is compared whole, epoch 1 accepted.",
        w,
        w.package(signed, index, w.checkpoint(), rotations=[(pinned, at)]),
        ACCEPT,
        spec=["§5.1", "§7.3", "§11"],
        root=pinned,
    )


def _cosigned(w: World, body: str, stamps: Mapping[str, int]) -> bytes:
    """The log's note of ``body``, cosigned by the witnesses named in ``stamps`` at those times.

    Built by hand (SPEC §2.5.2): the signing side refuses a time past 2^63 - 1 and a text
    that is not of checkpoint shape (§2.5.3), which are exactly what these vectors need.
    """
    signed = note.sign(body, w.log_signer)
    for witness in w.witnesses:
        if witness.name in stamps:
            at = stamps[witness.name]
            message = b"cosignature/v1\ntime %d\n%s" % (at, body.encode())
            key = SigningKey(seed(f"witness {witness.name}"))
            signature = at.to_bytes(8, "big") + key.sign(message).signature
            signed += note.Signature(witness.name, witness.key_hash, signature).to_line()
    return signed.encode()


def _cosignature_bounds(c: _Client) -> None:
    """A cosignature's timestamp range and text shape (SPEC §2.5.3, §2.5.4; issue 17).

    Timestamps at 2^63 - 1 and 2^63 can only be pinned by rejections (an accepted answer
    would carry them, and vector integers stay below 2^53, §12.3): at 2^63 the line does not
    verify (`BAD_NOTE_SIGNATURE`), at 2^63 - 1 it verifies and is then too far in the future.
    """
    wa = World(quorum="any")
    sa, ia = wa.publish()
    body = Checkpoint(LOG_ORIGIN, wa.size, wa.root_hash()).body()
    w1, w2 = (x.name for x in wa.witnesses)
    c.one(
        "cosignature-timestamp-2-to-the-63",
        "One witness cosigns now, the other at 2^63, one past the largest timestamp: that "
        "line does not verify, which rejects the note even though the other meets a 1-of-2 "
        "quorum.",
        wa,
        wa.package(sa, ia, _cosigned(wa, body, {w1: wa.now, w2: 2**63})),
        reject("BAD_NOTE_SIGNATURE", 3),
        spec=["§2.5.4"],
        repaired=wa.package(sa, ia, _cosigned(wa, body, {w1: wa.now, w2: wa.now})),
    )
    w = World(quorum="all")
    signed, index = w.publish()
    c.one(
        "cosignature-timestamp-2-to-the-63-minus-1",
        "Both cosignatures at 2^63 - 1, the largest timestamp: they verify, and are then dated "
        "beyond the clock skew.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=2**63 - 1)),
        reject("FUTURE_COSIGNATURE", 4),
        spec=["§2.5.4"],
        repaired=w.package(signed, index, w.checkpoint(cosign_at=w.now + SKEW)),
    )
    c.one(
        "cosignature-timestamp-0",
        "Both cosignatures at timestamp 0, the smallest: they verify, and are then too old.",
        w,
        w.package(signed, index, w.checkpoint(cosign_at=0)),
        reject("STALE_COSIGNATURE", 4),
        spec=["§2.5.4"],
        repaired=w.package(signed, index, w.checkpoint(cosign_at=w.now - MAX_AGE)),
    )
    two_lines = f"{LOG_ORIGIN}\n{wa.size}\n"
    c.one(
        "cosignature-over-a-text-of-two-lines",
        "The log signs, and one witness cosigns, a two-line text: a cosignature over a text "
        "that is not of checkpoint shape does not verify, before the text is parsed (the "
        "package carries no inclusion proof: it needs a checkpoint size).",
        wa,
        wa.package(sa, ia, _cosigned(wa, two_lines, {w1: wa.now}), hashes=()),
        reject("BAD_NOTE_SIGNATURE", 3),
        spec=["§2.5.3", "§2.5.4"],
        repaired=wa.package(sa, ia, _cosigned(wa, body, {w1: wa.now})),
    )
    extended = Checkpoint(LOG_ORIGIN, wa.size, wa.root_hash(), extensions=("x",)).body()
    c.one(
        "cosignature-of-a-checkpoint-with-a-one-character-extension",
        'A checkpoint whose last line is the one-character extension line "x", cosigned '
        "by both witnesses: checkpoint shape (§2.5.3) looks at every line, the last one too.",
        wa,
        wa.package(sa, ia, _cosigned(wa, extended, {w1: wa.now, w2: wa.now})),
        ACCEPT,
        spec=["§2.5.3", "§2.6"],
    )
