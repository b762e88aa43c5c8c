"""Vectors of the trust root and its rotations (SPEC §5.1-§5.3) and of the log's admission
(SPEC §6.3): which entries a log opened with a trust root appends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keybundle import dcbor
from keybundle.signed_trust_root import CONTENT_TYPE
from keybundle.signers import PublicKey, Signer
from keybundle.trustroot import TrustRoot
from transparency_log import note

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
