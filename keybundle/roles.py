"""SPEC §5.4 role thresholds: who must have signed a bundle, counted in organisations.

A signed bundle (SPEC §4) is acceptable under a trust root when its independent signature is
by a key of the independent role, its countersignatures are by keys of the operator role,
every one of them verifies, and each role's signers span at least the role's threshold of
distinct organisations: two keys of one organisation count once, so that no one organisation
can stand in for another.

:func:`verify_signed_bundle` is the one function that the log's admission, the client
verifier and the auditor all call. It is on the client's hot path: the trust root's
kid -> key and kid -> organisation tables are built once, when the root is built, so the
work here beyond parsing and the signature checks is a few dictionary lookups.
"""

from __future__ import annotations

from transparency_log._frozen import Frozen

from .cose import Sign1, parse_unverified_sign1, verify_countersignature, verify_sign1
from .errors import Reason
from .trustroot import Role, TrustRoot

__all__ = ["RoleSignature", "VerifiedSignatures", "verify_sign1_roles", "verify_signed_bundle"]


class RoleSignature(Frozen):
    """A signature that verified under a trust-root key: the key's id and its organisation."""

    kid: bytes
    organisation: str

    def __init__(self, kid: bytes, organisation: str) -> None:
        self._freeze(kid=kid, organisation=organisation)


class VerifiedSignatures(Frozen):
    """A signed bundle whose signatures met the trust root's role policy (SPEC §5.4).

    Only :func:`verify_signed_bundle` makes one. ``payload`` is the exact signed payload
    bytes (not yet parsed: that is SPEC §3's job).
    """

    payload: bytes
    independent: tuple[RoleSignature, ...]
    """The independent signature(s), in the order of the COSE structure."""
    operator: tuple[RoleSignature, ...]
    """The operator countersignatures, in the order of the COSE structure."""

    def __init__(
        self,
        payload: bytes,
        independent: tuple[RoleSignature, ...],
        operator: tuple[RoleSignature, ...],
    ) -> None:
        self._freeze(payload=payload, independent=independent, operator=operator)

    @property
    def independent_organisations(self) -> frozenset[str]:
        """The distinct organisations whose independent keys signed."""
        return frozenset(s.organisation for s in self.independent)

    @property
    def operator_organisations(self) -> frozenset[str]:
        """The distinct organisations whose operator keys countersigned."""
        return frozenset(s.organisation for s in self.operator)


def _check_threshold(
    role: Role, signatures: list[RoleSignature], name: str, reason: Reason, what: str
) -> None:
    if signatures and role.threshold <= 1:
        # Every signature here verified under a key of ``role``, so it names one of the
        # role's organisations: one signature meets a threshold of one (the common case,
        # decided without building the organisations' set; SPEC §5.1).
        return

    def explain(organisations: frozenset[str], missing: list[str]) -> str:
        return (
            f"the trust root requires {what} from {role.threshold} distinct {name} "
            f"organisation(s); the bundle has valid ones from {len(organisations)} "
            f"({', '.join(sorted(organisations)) or 'none'}). Two keys of one organisation "
            f"count once; obtain {what} from {', '.join(missing)}"
        )

    role.require_threshold((s.kid for s in signatures), reason, explain)


def verify_sign1_roles(sign1: Sign1, root: TrustRoot) -> VerifiedSignatures:
    """:func:`verify_signed_bundle` for a COSE_Sign1 the caller already parsed."""
    # SPEC §5.4 step 2: the independent signature, by a key of the independent role only.
    independent = root.independent
    kid = verify_sign1(sign1, independent.public_keys)
    signed = [RoleSignature(kid, independent.organisation_of[kid])]
    _check_threshold(
        independent,
        signed,
        "independent",
        Reason.INDEPENDENT_THRESHOLD_NOT_MET,
        "independent signatures (a bundle carries one)",
    )
    # SPEC §5.4 step 3: every countersignature, by a key of the operator role only, over
    # the payload and the independent signature just verified. None is skipped.
    operator = root.operator
    keys = operator.public_keys
    organisation_of = operator.organisation_of
    countersigned = []
    for cs in sign1.countersignatures:
        kid = verify_countersignature(sign1, cs, keys)
        countersigned.append(RoleSignature(kid, organisation_of[kid]))
    _check_threshold(
        operator,
        countersigned,
        "operator",
        Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
        "countersignatures",
    )
    # SPEC §5.4 step 4.
    return VerifiedSignatures(sign1.payload, tuple(signed), tuple(countersigned))


def verify_signed_bundle(signed: bytes, root: TrustRoot) -> VerifiedSignatures:
    """Verify a countersigned COSE_Sign1 against the roles of ``root`` (SPEC §5.4).

    Steps: parse the COSE_Sign1 (MALFORMED_COSE); verify the independent signature with the
    independent role's keys (UNKNOWN_KEY for any other key, an operator key included;
    ALG_MISMATCH; BAD_INDEPENDENT_SIGNATURE) and count its organisation
    (INDEPENDENT_THRESHOLD_NOT_MET); verify every countersignature with the operator role's
    keys (UNKNOWN_KEY for any other key, an independent key included; ALG_MISMATCH;
    BAD_COUNTERSIGNATURE) and count distinct organisations
    (COUNTERSIGNATURE_THRESHOLD_NOT_MET, also when there is no countersignature).
    """
    # SPEC §5.4 step 1.
    return verify_sign1_roles(parse_unverified_sign1(signed), root)
