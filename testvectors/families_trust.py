"""Vectors of the trust root and its rotations (SPEC §5.1-§5.3) and of the log's admission
(SPEC §6.3): which entries a log opened with a trust root appends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keybundle import dcbor
from keybundle.signed_trust_root import CONTENT_TYPE
from keybundle.signers import PublicKey, Signer
from keybundle.trustroot import MAX_CLOCK_SKEW, MAX_ROTATION_CHAIN, TrustRoot
from transparency_log import note
from transparency_log.cosignature import CosignatureV1Signer

from .families_bundle import _AlgLiar
from .vectorset import ACCEPT, VectorSet, Want, b64, cbor_decode, cbor_encode, cbor_tagged, reject
from .world import (
    ED25519_ORDER_8_POINT,
    INDEPENDENT_ORG,
    OPERATOR_ORG,
    DeterministicP256Signer,
    World,
    ed_add,
    role_signer,
    seed,
)

__all__ = ["add_trust_families", "sign_raw_trust_root"]


def _tag_content(value: Any) -> list[Any]:
    """The array inside a CBOR tag, or [] (the cases edit COSE structures item by item)."""
    return (
        list(value.value) if isinstance(value, dcbor.Tag) and isinstance(value.value, list) else []
    )


def sign_raw_trust_root(
    payload: bytes,
    signers: Sequence[Signer],
    *,
    body_protected: bytes | None = None,
    order: Sequence[int] | None = None,
) -> bytes:
    """A COSE_Sign over ``payload`` bytes as given (SPEC §5.2), even ones §5.1 rejects.

    ``keybundle.signed_trust_root.sign_trust_root`` signs only valid roots; vectors of malformed
    roots need the signatures right and the payload wrong. ``order`` lists the signers'
    positions in the signature array (default: sorted by kid, as §5.2 requires).
    """
    protected = body_protected or cbor_encode({3: CONTENT_TYPE})
    entries: list[tuple[bytes, list[Any]]] = []
    for signer in signers:
        sign_protected = cbor_encode({1: signer.cose_alg, 4: signer.kid})
        message = cbor_encode(["Signature", protected, sign_protected, b"", payload])
        entries.append((signer.kid, [sign_protected, {}, signer.sign(message)]))
    entries.sort(key=lambda e: e[0])
    signatures = [entries[i][1] for i in order] if order is not None else [e[1] for e in entries]
    return cbor_tagged(98, [protected, {}, payload, signatures])


def _root_map(root: TrustRoot) -> dict[int, Any]:
    value = cbor_decode(root.encode())
    if not isinstance(value, dict):
        raise AssertionError("bad math in _root_map: a trust root is a map")
    return {int(k): v for k, v in value.items()}


# --- trust roots and rotations (SPEC §5.1-§5.3) ------------------------------------------------


def _trust_root(vs: VectorSet) -> None:
    fam = "trust-root"
    w = World()

    def self_signed(
        name: str,
        description: str,
        signed: bytes,
        want: Want,
        spec: Sequence[str] = ("§5.1", "§5.2", "§5.3"),
        *,
        repaired: bytes | None = None,
        no_twin: str | None = None,
    ) -> None:
        twin = None if repaired is None else {"op": "self-signed", "signed_b64": b64(repaired)}
        vs.add(
            fam,
            name,
            description,
            list(spec),
            {"op": "self-signed", "signed_b64": b64(signed)},
            want,
            repaired=twin,
            no_twin=no_twin,
        )

    signers = [w.independent, w.operator]
    self_signed(
        "trust-root-self-signed",
        "Version 1 signed by its independent and operator keys.",
        w.signed_root,
        ACCEPT,
    )
    wp = World(algorithm="p256")
    self_signed(
        "trust-root-p256-keys",
        "A root whose role keys are P-256 (ES256 signatures).",
        wp.signed_root,
        ACCEPT,
    )
    self_signed(
        "trust-root-missing-operator-signature",
        "Signed by the independent key only.",
        w.sign_root(w.root, [w.independent]),
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=w.signed_root,
    )
    parsed = cbor_decode(w.signed_root, frozenset({98}))
    body: list[Any] = _tag_content(parsed)
    if len(body) != 4:
        raise AssertionError("bad math: a signed trust root is a tagged COSE_Sign")
    sigs = [list(s) for s in body[3]]
    flipped = [[*sigs[0][:2], bytes([sigs[0][2][0] ^ 1]) + sigs[0][2][1:]], *sigs[1:]]
    self_signed(
        "trust-root-signature-flipped",
        "One signature with one bit changed: a bad signature by a trusted key is never skipped.",
        cbor_tagged(98, [*body[:3], flipped]),
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=w.signed_root,
    )
    self_signed(
        "trust-root-alg-mismatch",
        "The operator's signature claims ES256 for an Ed25519 key.",
        w.sign_root(w.root, [w.independent, _AlgLiar(w.operator, -7)]),
        reject("ALG_MISMATCH"),
        repaired=w.signed_root,
    )
    extra_ind = role_signer("independent 2")
    two_auditors = w.make_root(
        1,
        independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", extra_ind)],
        independent_threshold=2,
    )
    self_signed(
        "trust-root-threshold-two-one-signature",
        "An independent threshold of 2 organisations and one independent signature.",
        w.sign_root(two_auditors, signers),
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=w.sign_root(two_auditors, [*signers, extra_ind]),
    )
    self_signed(
        "trust-root-extra-signature-by-stranger",
        "A signature by a key outside the root is ignored.",
        w.sign_root(w.root, [*signers, role_signer("stranger")]),
        ACCEPT,
    )

    base = _root_map(w.root)

    def raw(
        name: str,
        description: str,
        changes: dict[int, Any],
        repaired: dict[int, Any] | None = None,
        **kw: Any,
    ) -> None:
        """A root with ``changes`` (one fault); its twin has ``repaired`` (default: none)."""
        payload = cbor_encode({**base, **changes})
        twin = cbor_encode({**base, **(repaired or {})})
        self_signed(
            name,
            description,
            sign_raw_trust_root(payload, kw.get("signers", signers)),
            reject("MALFORMED_TRUST_ROOT"),
            ("§5.1", "§5.2"),
            repaired=sign_raw_trust_root(twin, kw.get("signers", signers)),
        )

    ind_role, op_role = base[3], base[4]
    ind_key, op_key = ind_role[2][0], op_role[2][0]
    raw("trust-root-format-version-2", "Format version 2.", {1: 2})
    raw("trust-root-version-0", "Root version 0.", {2: 0})
    raw("trust-root-unknown-field", "An unknown field 7.", {7: 0})
    # Thresholds count organisations, not keys (SPEC §5.1 rule 4): two keys of one
    # organisation cannot carry a threshold of 2; the twin puts them in two organisations.
    op_b = role_signer("operator b")
    op_b_key = {1: OPERATOR_ORG, 2: "ed25519", 3: op_b.public_key().raw}
    raw(
        "trust-root-threshold-above-organisations",
        "An operator threshold of 2 over two keys of one organisation.",
        {4: {1: 2, 2: sorted([op_key, op_b_key], key=_kid)}},
        {4: {1: 2, 2: sorted([op_key, {**op_b_key, 1: "Second Operator"}], key=_kid)}},
        signers=[*signers, op_b],
    )
    ind_b = role_signer("independent b")
    three = w.make_root(
        1,
        independent=[
            (INDEPENDENT_ORG, w.independent),
            (INDEPENDENT_ORG, ind_b),
            ("Second Auditor", extra_ind),
        ],
        independent_threshold=2,
    )
    self_signed(
        "trust-root-threshold-two-signed-by-one-organisation",
        "An independent threshold of 2 organisations, signed by two keys of one organisation: "
        "signatures count by organisation, not by key.",
        w.sign_root(three, [w.independent, ind_b, w.operator]),
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=w.sign_root(three, [w.independent, extra_ind, w.operator]),
    )
    raw("trust-root-threshold-zero", "An independent threshold of 0.", {3: {1: 0, 2: ind_role[2]}})
    raw(
        "trust-root-key-in-both-roles",
        "The independent key listed in the operator role too.",
        {4: {1: 1, 2: sorted([op_key, {**ind_key, 1: OPERATOR_ORG}], key=_kid)}},
    )
    raw(
        "trust-root-organisation-in-both-roles",
        "One organisation holding keys of both roles.",
        {4: {1: 1, 2: [{**op_key, 1: INDEPENDENT_ORG}]}},
    )
    raw(
        "trust-root-organisations-differ-in-case",
        "Two organisation names that differ only in letter case.",
        {4: {1: 1, 2: [{**op_key, 1: INDEPENDENT_ORG.upper()}]}},
    )
    raw(
        "trust-root-organisation-trailing-space",
        "An organisation name ending in a space.",
        {4: {1: 1, 2: [{**op_key, 1: OPERATOR_ORG + " "}]}},
    )
    raw(
        "trust-root-policy-not-canonical",
        "A log policy with a comment line.",
        {5: "# comment\n" + base[5]},
    )
    log2 = note.Ed25519Signer("log2.example/keybundle", seed("log 2"))
    raw(
        "trust-root-policy-two-logs",
        "A log policy with two log lines.",
        {5: base[5].replace("\nwitness", f"\nlog {log2.verifier().verifier_key}\nwitness", 1)},
    )
    raw(
        "trust-root-policy-no-log",
        "A log policy without a log line.",
        {5: base[5].split("\n", 1)[1]},
    )
    raw(
        "trust-root-clock-skew-above-max",
        "clock_skew 86401, above MAX_CLOCK_SKEW.",
        {6: {**base[6], 1: 86401}},
        {6: {**base[6], 1: 86400}},
    )
    raw(
        "trust-root-rotation-chain-above-max",
        "max_rotation_chain 17, above MAX_ROTATION_CHAIN.",
        {6: {**base[6], 4: 17}},
        {6: {**base[6], 4: 16}},
    )
    raw(
        "trust-root-mixed-order-ed25519-key",
        "An operator key that is a valid key plus a point of order 8 (mixed order).",
        {4: {1: 1, 2: [{**op_key, 3: ed_add(op_key[3], ED25519_ORDER_8_POINT)}]}},
    )
    raw(
        "trust-root-small-order-ed25519-key",
        "An operator key that is the Ed25519 identity point.",
        {4: {1: 1, 2: [{**op_key, 3: b"\x01" + bytes(31)}]}},
    )
    raw(
        "trust-root-p256-key-not-on-curve",
        "A P-256 operator key not on the curve.",
        {4: {1: 1, 2: [{1: OPERATOR_ORG, 2: "p256", 3: bytes([4]) + bytes(64)}]}},
    )
    # Without the length check an Ed25519 key of 31 bytes reaches libsodium, which raises a
    # TypeError rather than rejecting the key (issue 17, `keybundle.signers:149:skip`).
    raw(
        "trust-root-ed25519-key-of-31-bytes",
        "An Ed25519 operator key of 31 bytes (its last byte cut).",
        {4: {1: 1, 2: [{**op_key, 3: op_key[3][:31]}]}},
    )
    raw(
        "trust-root-algorithm-ed448",
        "An unknown role-key algorithm.",
        {4: {1: 1, 2: [{**op_key, 2: "ed448"}]}},
    )
    self_signed(
        "trust-root-signatures-unsorted",
        "The two signatures in descending kid order.",
        sign_raw_trust_root(w.root.encode(), signers, order=[1, 0]),
        reject("MALFORMED_TRUST_ROOT"),
        ("§5.2",),
        repaired=sign_raw_trust_root(w.root.encode(), signers),
    )
    self_signed(
        "trust-root-other-content-type",
        "A COSE_Sign whose protected header names another content type.",
        sign_raw_trust_root(
            w.root.encode(), signers, body_protected=cbor_encode({3: "application/cbor"})
        ),
        reject("MALFORMED_TRUST_ROOT"),
        ("§5.2",),
        repaired=w.signed_root,
    )
    self_signed(
        "trust-root-is-a-signed-bundle",
        "A signed bundle (COSE_Sign1) where a trust root belongs.",
        w.signed_bundle(),
        reject("MALFORMED_TRUST_ROOT"),
        ("§5.2",),
        no_twin="no-neighbour: the input is another kind of object (a COSE_Sign1 bundle)",
    )
    self_signed(
        "trust-root-trailing-byte",
        "A valid signed root followed by one byte.",
        w.signed_root + b"\x00",
        reject("MALFORMED_TRUST_ROOT"),
        ("§5.2",),
        repaired=w.signed_root,
    )

    # Rotations (SPEC §5.3).
    def rotation(
        name: str,
        description: str,
        chain: Sequence[bytes],
        want: Want,
        cap: int | None = None,
        *,
        repaired: Sequence[bytes] | None = None,
        repaired_cap: int | None = None,
        no_twin: str | None = None,
    ) -> None:
        def inp(chain: Sequence[bytes], cap: int | None) -> dict[str, Any]:
            return {
                "op": "rotation",
                "current_b64": b64(w.signed_root),
                "chain_b64": [b64(c) for c in chain],
                "cap": cap,
            }

        twin = (
            None
            if repaired is None and repaired_cap is None
            else inp(
                chain if repaired is None else repaired,
                cap if repaired_cap is None else repaired_cap,
            )
        )
        vs.add(
            fam, name, description, ["§5.3"], inp(chain, cap), want, repaired=twin, no_twin=no_twin
        )

    ind2, op2, op3 = (
        role_signer("independent v2"),
        role_signer("operator v2"),
        role_signer("operator v3"),
    )
    v2_op = w.make_root(2, operator=[(OPERATOR_ORG, op2)])
    v2 = w.sign_root(v2_op, [w.independent, w.operator, op2])
    v3 = w.sign_root(w.make_root(3, operator=[(OPERATOR_ORG, op3)]), [w.independent, op2, op3])
    rotation(
        "rotation-new-operator-key",
        "Version 2 with a new operator key, signed by the old and the new keys.",
        [v2],
        ACCEPT,
    )
    rotation(
        "rotation-two-steps",
        "Versions 2 and 3, each signed by its predecessor's and its own keys.",
        [v2, v3],
        ACCEPT,
    )
    rotation("rotation-empty-chain", "No rotation leaves version 1.", [], ACCEPT)
    rotation(
        "rotation-at-the-callers-cap", "Two rotations with a cap of 2.", [v2, v3], ACCEPT, cap=2
    )
    both_new = w.make_root(2, independent=[(INDEPENDENT_ORG, ind2)], operator=[(OPERATOR_ORG, op2)])
    rotation(
        "rotation-signed-only-by-old-keys",
        "New keys for both roles, signed only by the old keys.",
        [w.sign_root(both_new, signers)],
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=[w.sign_root(both_new, [*signers, ind2, op2])],
    )
    rotation(
        "rotation-signed-only-by-new-keys",
        "New keys for both roles, signed only by the new keys.",
        [w.sign_root(both_new, [ind2, op2])],
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=[w.sign_root(both_new, [*signers, ind2, op2])],
    )
    rotation(
        "rotation-without-old-operator",
        "A new operator key; the old operator did not sign.",
        [w.sign_root(v2_op, [w.independent, op2])],
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=[v2],
    )
    rotation(
        "rotation-skips-a-version",
        "Version 1 to version 3.",
        [w.sign_root(w.make_root(3), signers)],
        reject("TRUST_ROOT_VERSION"),
        repaired=[w.sign_root(w.make_root(2), signers)],
    )
    rotation(
        "rotation-to-same-version",
        "The pinned version 1 again.",
        [w.signed_root],
        reject("TRUST_ROOT_VERSION"),
        repaired=[w.sign_root(w.make_root(2), signers)],
    )
    rotation(
        "rotation-then-skip",
        "A valid rotation to 2, then 4.",
        [v2, w.sign_root(w.make_root(4, operator=[(OPERATOR_ORG, op2)]), [w.independent, op2])],
        reject("TRUST_ROOT_VERSION"),
        repaired=[
            v2,
            w.sign_root(w.make_root(3, operator=[(OPERATOR_ORG, op2)]), [w.independent, op2]),
        ],
    )
    chain5 = [w.sign_root(w.make_root(v), signers) for v in range(2, 7)]
    rotation(
        "rotation-chain-over-the-roots-cap",
        "Five rotations over the root's max_rotation_chain of 4.",
        chain5,
        reject("TRUST_ROOT_CHAIN_TOO_LONG"),
        repaired=chain5[:4],
    )
    rotation(
        "rotation-chain-over-the-callers-cap",
        "Two rotations with a cap of 1.",
        [v2, v3],
        reject("TRUST_ROOT_CHAIN_TOO_LONG"),
        cap=1,
        repaired_cap=2,
    )
    rotation(
        "rotation-at-the-roots-cap",
        "Four rotations: exactly the root's max_rotation_chain of 4.",
        chain5[:4],
        ACCEPT,
    )
    rotation(
        "rotation-callers-larger-cap-does-not-raise-the-roots",
        "Five rotations with a caller's cap of 5 over the root's 4: the smaller cap applies.",
        chain5,
        reject("TRUST_ROOT_CHAIN_TOO_LONG"),
        cap=5,
        repaired=chain5[:4],
    )
    rotation(
        "rotation-to-a-signed-bundle",
        "A signed bundle offered as the next root.",
        [w.signed_bundle()],
        reject("MALFORMED_TRUST_ROOT"),
        no_twin="no-neighbour: the input is another kind of object (a COSE_Sign1 bundle)",
    )
    rotation(
        "rotation-alg-mismatch",
        "The new operator's signature claims ES256 for an Ed25519 key.",
        [w.sign_root(v2_op, [w.independent, w.operator, _AlgLiar(op2, -7)])],
        reject("ALG_MISMATCH"),
        repaired=[v2],
    )
    threshold2 = w.make_root(
        2, operator=[(OPERATOR_ORG, w.operator), ("Second Operator", op2)], operator_threshold=2
    )
    rotation(
        "rotation-new-threshold-not-met",
        "Version 2 raises the operator threshold to 2; only one operator organisation signed.",
        [w.sign_root(threshold2, signers)],
        reject("TRUST_ROOT_THRESHOLD_NOT_MET"),
        repaired=[w.sign_root(threshold2, [*signers, op2])],
    )
    p256_op = DeterministicP256Signer("operator p256 v2")
    rotation(
        "rotation-to-p256-operator",
        "Version 2 moves the operator to a P-256 key.",
        [w.sign_root(w.make_root(2, operator=[(OPERATOR_ORG, p256_op)]), [*signers, p256_op])],
        ACCEPT,
    )


def _kid(key: dict[int, Any]) -> bytes:
    """The kid of a raw RoleKey map (SPEC §4.3), to sort keys as §5.1 requires."""
    return PublicKey(key[2], key[3]).kid


# --- admission (SPEC §6.3) ---------------------------------------------------------------------


def _admission(vs: VectorSet) -> None:
    fam, spec = "admission", ["§6.3"]

    def add(
        name: str,
        description: str,
        w: World,
        entries: Sequence[bytes],
        wants: Sequence[Want],
        *,
        repaired: Sequence[bytes] | None = None,
        no_twin: str | None = None,
    ) -> None:
        def inp(entries: Sequence[bytes]) -> dict[str, Any]:
            return {
                "trust_root_b64": b64(w.signed_root),
                "entries_b64": [b64(e) for e in entries],
            }

        twin = None if repaired is None else inp(repaired)
        vs.add(
            fam, name, description, spec, inp(entries), list(wants), repaired=twin, no_twin=no_twin
        )

    w = World()
    e1, _ = w.publish("prod-eu.vault", 1)
    e2, _ = w.publish("prod-eu.vault", 2)
    e3, _ = w.publish("prod-eu.vault", 3)
    add(
        "admission-chain-of-three-epochs",
        "Epochs 1, 2 and 3 of one fleet, each naming the previous bundle.",
        w,
        [e1, e2, e3],
        [ACCEPT] * 3,
    )
    add(
        "admission-first-bundle-at-epoch-2",
        "A fleet's first bundle must be epoch 1.",
        w,
        [e2],
        [reject("EPOCH_GAP")],
        repaired=[e1],
    )
    add(
        "admission-epoch-gap",
        "Epoch 1, then epoch 3: epoch 2 is missing from the log.",
        w,
        [e1, e3],
        [ACCEPT, reject("EPOCH_GAP")],
        repaired=[e1, e2],
    )
    other1 = w.signed_bundle("prod-eu.vault", 1, not_after=w.now + 400 * 86400)
    add(
        "admission-second-bundle-for-an-epoch",
        "Two different bundles for epoch 1.",
        w,
        [e1, other1],
        [ACCEPT, reject("EPOCH_CONFLICT")],
        repaired=[e1, e1],
    )
    add(
        "admission-rollback",
        "Epochs 1 and 2, then another bundle of epoch 1.",
        w,
        [e1, e2, other1],
        [ACCEPT, ACCEPT, reject("ROLLBACK")],
        repaired=[e1, e2, e3],
    )
    broken = w.signed_bundle("prod-eu.vault", 2, previous=b"\x77" * 32)
    add(
        "admission-broken-chain",
        "Epoch 2 naming another previous bundle than the logged epoch 1.",
        w,
        [e1, broken],
        [ACCEPT, reject("BROKEN_CHAIN")],
        repaired=[e1, e2],
    )
    add(
        "admission-resubmitted-entry",
        "An entry already in the log gets its index again, without admission.",
        w,
        [e1, e2, e1],
        [ACCEPT, ACCEPT, ACCEPT],
    )
    add(
        "admission-fleets-are-independent",
        "Two fleets' chains interleave.",
        w,
        [e1, w.signed_bundle("staging.vault", 1), e2],
        [ACCEPT] * 3,
    )
    add(
        "admission-not-cose",
        "An entry that is neither a signed bundle nor a signed trust root.",
        w,
        [b"hello", e1],
        [reject("MALFORMED_COSE"), ACCEPT],
        no_twin="no-neighbour: the entry is not COSE at all",
    )
    add(
        "admission-empty-entry",
        "An empty entry.",
        w,
        [b""],
        [reject("MALFORMED_COSE")],
        no_twin="no-neighbour: the entry is empty",
    )
    add(
        "admission-no-countersignature",
        "A bundle signed by the independent party only.",
        w,
        [w.sign(w.bundle())],
        [reject("COUNTERSIGNATURE_THRESHOLD_NOT_MET")],
        repaired=[w.countersign(w.sign(w.bundle()))],
    )
    forged = bytearray(e1)
    forged[-1] ^= 1
    add(
        "admission-rejected-entry-changes-nothing",
        "A forged epoch 1 is rejected; the genuine epoch 1 is then admitted at index 0.",
        w,
        [bytes(forged), e1],
        [reject("BAD_INDEPENDENT_SIGNATURE"), ACCEPT],
        repaired=[e1, e1],
    )
    bad_payload = w.countersign(w.sign(cbor_encode({1: 1})))
    add(
        "admission-payload-not-a-bundle",
        "Valid signatures over a payload that is not a bundle.",
        w,
        [bad_payload],
        [reject("MALFORMED_BUNDLE")],
        no_twin="no-neighbour: the payload {1: 1} is not a bundle with one fault",
    )

    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )
    new_op = w.countersign(w.sign(w.bundle("prod-eu.vault", 2)), op2)
    add(
        "admission-rotation-then-new-operator",
        "A rotation to a new operator key, then epoch 2 countersigned by it.",
        w,
        [e1, v2, new_op],
        [ACCEPT, ACCEPT, ACCEPT],
    )
    add(
        "admission-old-operator-after-rotation",
        "After the rotation, the old operator key is unknown.",
        w,
        [e1, v2, e2],
        [ACCEPT, ACCEPT, reject("UNKNOWN_KEY")],
        repaired=[e1, v2, new_op],
    )
    both_new = w.make_root(
        2,
        independent=[(INDEPENDENT_ORG, role_signer("independent v2"))],
        operator=[(OPERATOR_ORG, op2)],
    )
    add(
        "admission-rotation-signed-only-by-new-keys",
        "A rotation signed only by the new keys.",
        w,
        [w.sign_root(both_new, [role_signer("independent v2"), op2])],
        [reject("TRUST_ROOT_THRESHOLD_NOT_MET")],
        repaired=[
            w.sign_root(both_new, [w.independent, w.operator, role_signer("independent v2"), op2])
        ],
    )
    add(
        "admission-rotation-skips-a-version",
        "A rotation from version 1 to 3.",
        w,
        [w.sign_root(w.make_root(3), [w.independent, w.operator])],
        [reject("TRUST_ROOT_VERSION")],
        repaired=[w.sign_root(w.make_root(2), [w.independent, w.operator])],
    )
    add(
        "admission-rotation-replayed",
        "The same rotation twice: the second is a resubmission.",
        w,
        [v2, v2],
        [ACCEPT, ACCEPT],
    )
    v2b = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, role_signer("operator v2b"))]),
        [w.independent, w.operator, role_signer("operator v2b")],
    )
    add(
        "admission-second-rotation-to-same-version",
        "Two different version-2 roots: the second is not a rotation of version 2.",
        w,
        [v2, v2b],
        [ACCEPT, reject("TRUST_ROOT_VERSION")],
        repaired=[v2, v2],
    )


def add_trust_families(vs: VectorSet) -> None:
    """Add the trust-root and admission vectors to ``vs``."""
    _trust_root(vs)
    _admission(vs)
    _signed_root_shape(vs)
    _trust_root_limits(vs)


# --- the signed trust root's shape, one rule at a time (SPEC §5.2) -----------------------------


def _signed_root_shape(vs: VectorSet) -> None:
    """Each rule of the COSE_Sign profile (SPEC §5.2) broken alone, and its limits at both ends.

    Every signature here is made over the bytes the vector carries, so the one rule the name
    says is the only fault: each rejection's repaired twin is the valid root (issue 17).
    """
    fam = "trust-root"
    w = World()
    payload = w.root.encode()
    body_protected = cbor_encode({3: CONTENT_TYPE})
    signers = sorted([w.independent, w.operator], key=lambda s: s.kid)

    def entry(signer: Signer, protected: Any = None) -> list[Any]:
        """One COSE_Signature of ``signer`` over ``payload`` under ``protected`` (bytes)."""
        sign_protected = (
            cbor_encode({1: signer.cose_alg, 4: signer.kid}) if protected is None else protected
        )
        message = cbor_encode(["Signature", body_protected, sign_protected, b"", payload])
        return [sign_protected, {}, signer.sign(message)]

    def cose_sign(body: Sequence[Any], tag: int | None = 98) -> bytes:
        return cbor_encode(list(body)) if tag is None else cbor_tagged(tag, list(body))

    valid_sigs = [entry(s) for s in signers]
    valid = cose_sign([body_protected, {}, payload, valid_sigs])
    if valid != w.signed_root:
        raise AssertionError("bad math in _signed_root_shape: the valid root is the world's")

    def add(
        name: str, description: str, signed: bytes, want: Want, repaired: bytes | None = valid
    ) -> None:
        vs.add(
            fam,
            name,
            description,
            ["§5.2"],
            {"op": "self-signed", "signed_b64": b64(signed)},
            want,
            repaired=None
            if repaired is None or want == ACCEPT
            else {"op": "self-signed", "signed_b64": b64(repaired)},
        )

    malformed = reject("MALFORMED_TRUST_ROOT")
    # MAX_TRUST_ROOT_SIGNATURES (64) at the limit and one past it: signatures by keys outside
    # the root are ignored (SPEC §5.3), so only the count can reject these.
    strangers = [role_signer(f"stranger {i}") for i in range(63)]
    at_limit = sign_raw_trust_root(payload, [*signers, *strangers[:62]])
    add(
        "trust-root-64-signatures",
        "The two role keys' signatures and 62 by keys outside the root: MAX_TRUST_ROOT_SIGNATURES.",
        at_limit,
        ACCEPT,
    )
    add(
        "trust-root-65-signatures",
        "The two role keys' signatures and 63 by keys outside the root: one past "
        "MAX_TRUST_ROOT_SIGNATURES.",
        sign_raw_trust_root(payload, [*signers, *strangers]),
        malformed,
        repaired=at_limit,
    )
    add(
        "trust-root-no-signature",
        "An empty signature array.",
        cose_sign([body_protected, {}, payload, []]),
        malformed,
    )
    add(
        "trust-root-same-signature-twice",
        "The operator's signature twice: one signature per key (strictly ascending kids).",
        cose_sign(
            [body_protected, {}, payload, sorted([*valid_sigs, entry(w.operator)], key=_sig_kid)]
        ),
        malformed,
    )
    add(
        "trust-root-untagged",
        "The COSE_Sign array without CBOR tag 98.",
        cose_sign([body_protected, {}, payload, valid_sigs], tag=None),
        malformed,
    )
    add(
        "trust-root-cose-sign-of-five-elements",
        "A COSE_Sign array with a fifth element.",
        cose_sign([body_protected, {}, payload, valid_sigs, b""]),
        malformed,
    )
    add(
        "trust-root-unprotected-header-not-empty",
        "The COSE_Sign unprotected header holds a content type.",
        cose_sign([body_protected, {3: CONTENT_TYPE}, payload, valid_sigs]),
        malformed,
    )
    add(
        "trust-root-payload-detached",
        "The payload is nil (detached), the signatures made over the root.",
        cose_sign([body_protected, {}, None, valid_sigs]),
        malformed,
    )

    def one_signature(name: str, description: str, operator_entry: list[Any]) -> None:
        """The operator's COSE_Signature replaced by ``operator_entry``."""
        sigs = [operator_entry if s is w.operator else entry(s) for s in signers]
        add(name, description, cose_sign([body_protected, {}, payload, sigs]), malformed)

    op = w.operator
    one_signature(
        "trust-root-signature-of-four-elements",
        "The operator's COSE_Signature with a fourth element.",
        [*entry(op), b""],
    )
    one_signature(
        "trust-root-signature-protected-not-a-byte-string",
        "The operator's protected header as a text string (its hex), not a byte string.",
        [entry(op)[0].hex(), *entry(op)[1:]],
    )
    one_signature(
        "trust-root-signature-header-extra-label",
        "The operator signed a protected header {1: alg, 3: content type, 4: kid}.",
        entry(op, cbor_encode({1: op.cose_alg, 3: CONTENT_TYPE, 4: op.kid})),
    )
    one_signature(
        "trust-root-signature-alg-es384",
        "The operator signed with alg -35 (ES384) in its protected header: not -8 or -7.",
        entry(op, cbor_encode({1: -35, 4: op.kid})),
    )
    one_signature(
        "trust-root-signature-kid-of-15-bytes",
        "The operator signed with its kid truncated to 15 bytes.",
        entry(op, cbor_encode({1: op.cose_alg, 4: op.kid[:15]})),
    )
    one_signature(
        "trust-root-signature-unprotected-not-empty",
        "The operator's unprotected header holds its kid.",
        [entry(op)[0], {4: op.kid}, entry(op)[2]],
    )
    one_signature(
        "trust-root-signature-of-65-bytes",
        "The operator's signature followed by one zero byte.",
        [*entry(op)[:2], entry(op)[2] + b"\x00"],
    )

    # A caller's cap of 0 is a cap (SPEC §5.3: the smaller of the two), not a missing one.
    op2 = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, op2)]), [w.independent, w.operator, op2]
    )

    def rotation(cap: int | None) -> dict[str, Any]:
        return {"op": "rotation", "current_b64": b64(valid), "chain_b64": [b64(v2)], "cap": cap}

    vs.add(
        fam,
        "rotation-callers-cap-of-zero",
        "One rotation with a caller's cap of 0.",
        ["§5.3"],
        rotation(0),
        reject("TRUST_ROOT_CHAIN_TOO_LONG"),
        repaired=rotation(None),
    )


def _sig_kid(signature: list[Any]) -> bytes:
    """The kid in a raw COSE_Signature's protected header, to sort signatures as §5.2 does."""
    header = cbor_decode(signature[0])
    kid = header[4] if isinstance(header, dict) else None
    if type(kid) is not bytes:
        raise AssertionError("bad math in _sig_kid: a protected header names a kid")
    return kid


# --- the trust root's limits at both ends (SPEC §5.1, §11) -----------------------------------


def _trust_root_limits(vs: VectorSet) -> None:
    """Each limit of a trust-root payload (SPEC §5.1, §11) at its bound and one past it.

    A rejection's repaired twin is the same root with the value at its bound. The roots are
    signed by the world's two role keys, which meet both thresholds.
    """
    fam = "trust-root"
    w = World()
    base = _root_map(w.root)
    signers = [w.independent, w.operator]

    def signed(changes: dict[int, Any]) -> dict[str, Any]:
        payload = cbor_encode({**base, **changes})
        return {"op": "self-signed", "signed_b64": b64(sign_raw_trust_root(payload, signers))}

    def add(
        name: str,
        description: str,
        changes: dict[int, Any],
        twin: dict[int, Any] | None = None,
        spec: Sequence[str] = ("§5.1",),
    ) -> None:
        vs.add(
            fam,
            name,
            description,
            list(spec),
            signed(changes),
            ACCEPT if twin is None else reject("MALFORMED_TRUST_ROOT"),
            repaired=None if twin is None else signed(twin),
        )

    def role(org: str, first: Signer, label: str, count: int) -> dict[int, Any]:
        """A role of ``count`` keys of ``org``: ``first`` and ``count - 1`` more, by kid."""
        extra = [role_signer(f"{label} {i}") for i in range(count - 1)]
        keys = [{1: org, 2: "ed25519", 3: s.public_key().raw} for s in [first, *extra]]
        return {1: 1, 2: sorted(keys, key=_kid)}

    # MAX_ROLE_KEYS (16): both roles full is also the payload's item cap (§3.1 limits).
    add(
        "trust-root-16-keys-in-each-role",
        "Both roles list MAX_ROLE_KEYS (16) keys.",
        {
            3: role(INDEPENDENT_ORG, w.independent, "independent key", 16),
            4: role(OPERATOR_ORG, w.operator, "operator key", 16),
        },
        spec=("§5.1", "§11"),
    )
    add(
        "trust-root-17-operator-keys",
        "The operator role lists 17 keys, one past MAX_ROLE_KEYS.",
        {4: role(OPERATOR_ORG, w.operator, "operator key", 17)},
        {4: role(OPERATOR_ORG, w.operator, "operator key", 16)},
        spec=("§5.1", "§11"),
    )
    add(
        "trust-root-operator-role-an-array",
        "The operator role as the array [threshold, keys], not the map {1: threshold, 2: keys}.",
        {4: [base[4][1], base[4][2]]},
        {4: base[4]},
    )
    add(
        "trust-root-operator-keys-null",
        "The operator role's keys field is null, not an array.",
        {4: {**base[4], 2: None}},
        {4: base[4]},
    )
    two_keys = role(OPERATOR_ORG, w.operator, "operator key", 2)
    add(
        "trust-root-operator-keys-unsorted",
        "Two operator keys in descending kid order.",
        {4: {**two_keys, 2: two_keys[2][::-1]}},
        {4: two_keys},
    )
    op_key = base[4][2][0]
    add(
        "trust-root-algorithm-an-empty-array",
        "The operator key's algorithm as an empty array, not a text string.",
        {4: {1: 1, 2: [{**op_key, 2: []}]}},
        {4: base[4]},
    )
    add(
        "trust-root-public-key-as-text",
        "The operator's public key as a text string (its hex), not a byte string.",
        {4: {1: 1, 2: [{**op_key, 3: op_key[3].hex()}]}},
        {4: base[4]},
    )
    add(
        "trust-root-policy-an-array",
        "The log policy as an array of its lines, not one text string.",
        {5: base[5].splitlines(keepends=True)},
        {5: base[5]},
    )
    # MAX_ORGANISATION_BYTES (64).

    def operator_org(name: str) -> dict[int, Any]:
        return {4: {1: 1, 2: [{**op_key, 1: name}]}}

    org64 = OPERATOR_ORG + " " + "x" * (63 - len(OPERATOR_ORG))
    add(
        "trust-root-organisation-of-64-characters",
        "An operator organisation name of MAX_ORGANISATION_BYTES (64) characters.",
        operator_org(org64),
    )
    add(
        "trust-root-organisation-of-65-characters",
        "An operator organisation name of 65 characters.",
        operator_org(org64 + "x"),
        operator_org(org64),
    )
    add(
        "trust-root-organisation-of-1-character",
        "An operator organisation name of one character, the shortest.",
        operator_org("O"),
    )
    add(
        "trust-root-organisation-non-ascii",
        "An operator organisation name with a printable non-ASCII letter (U+00E9).",
        operator_org("Op\u00e9rateur Org"),
        operator_org("Operateur Org"),
    )
    add(
        "trust-root-organisation-with-a-tab",
        "An operator organisation name with a tab (ASCII, not printable) between its words.",
        operator_org("Operator\tOrg"),
        operator_org("Operator Org"),
    )
    # The integer ranges: 2^63 - 1 is the largest root version and limit (§5.1).
    top = 2**63 - 1
    add(
        "trust-root-version-2-63-minus-1",
        "Root version 2^63 - 1, the largest.",
        {2: top},
    )
    add("trust-root-version-2-63", "Root version 2^63.", {2: top + 1}, {2: top})
    largest = {**base[6], 1: MAX_CLOCK_SKEW, 2: top, 3: top, 4: MAX_ROTATION_CHAIN, 5: top}
    add(
        "trust-root-limits-at-their-maximum",
        "clock_skew 86400, max_rotation_chain 16, the other limits 2^63 - 1.",
        {6: largest},
    )
    smallest = {**base[6], 1: 0, 2: 1, 3: 1, 4: 0, 5: 1}
    add(
        "trust-root-limits-at-their-minimum",
        "clock_skew 0, max_rotation_chain 0, the other limits 1.",
        {6: smallest},
    )
    for field, name in (
        (2, "max-cosignature-age"),
        (3, "max-package-bytes"),
        (5, "max-epoch-jump"),
    ):
        add(
            f"trust-root-{name}-2-63",
            f"{name.replace('-', '_')} 2^63, one past the largest.",
            {6: {**largest, field: top + 1}},
            {6: largest},
        )
        add(
            f"trust-root-{name}-0",
            f"{name.replace('-', '_')} 0, one below the smallest.",
            {6: {**smallest, field: 0}},
            {6: smallest},
        )
    # MAX_TRUST_ROOT_BYTES (32768): a witness the quorum does not use, with a long local name,
    # fills the payload to the byte.
    pad = CosignatureV1Signer("witness.example/pad", seed("witness pad"))

    def padded(size: int) -> dict[int, Any]:
        def policy(length: int) -> str:
            line = f"witness {'p' * length} {pad.verifier().verifier_key}"
            return str(base[5]).replace("\ngroup", f"\n{line}\ngroup", 1)

        length = 1000
        length += size - len(cbor_encode({**base, 5: policy(length)}))
        if len(cbor_encode({**base, 5: policy(length)})) != size:
            raise AssertionError("bad math in padded: the payload is not the size asked for")
        return {5: policy(length)}

    add(
        "trust-root-of-32768-bytes",
        "A payload of exactly MAX_TRUST_ROOT_BYTES (32768), padded by an unused witness's name.",
        padded(32768),
        spec=("§5.1", "§11"),
    )
    add(
        "trust-root-of-32769-bytes",
        "A payload of 32769 bytes, one past MAX_TRUST_ROOT_BYTES.",
        padded(32769),
        padded(32768),
        spec=("§5.1", "§11"),
    )
