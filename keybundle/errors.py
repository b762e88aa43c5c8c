"""Reason codes of the bundle layer and the client decision (SPEC.md §9).

The exception type is the log layer's :class:`~transparency_log.errors.VerificationError`,
re-exported here, so a caller catches one type whatever layer rejected the input.
"""

from __future__ import annotations

from enum import StrEnum

from transparency_log.errors import LogReason, VerificationError

__all__ = ["LogReason", "Reason", "VerificationError"]


class Reason(StrEnum):
    """Reason codes of the bundle layer and the client verifier (SPEC.md §9)."""

    MALFORMED_CBOR = "MALFORMED_CBOR"
    """Not RFC 8949 core deterministic CBOR, or outside our profile (SPEC.md §3.1)."""
    MALFORMED_BUNDLE = "MALFORMED_BUNDLE"
    """The bundle payload's map is not the one SPEC.md §3.2 defines."""
    INVALID_FLEET_KEY = "INVALID_FLEET_KEY"
    """A fleet public key is not a valid, canonical key of its algorithm."""
    MALFORMED_COSE = "MALFORMED_COSE"
    """The COSE_Sign1 or a countersignature is not of the profile of SPEC.md §4."""
    UNKNOWN_KEY = "UNKNOWN_KEY"
    """A signature names a key id that the trust root does not hold for that role."""
    ALG_MISMATCH = "ALG_MISMATCH"
    """A signature's alg is not the algorithm of the trust-root key it names."""
    BAD_INDEPENDENT_SIGNATURE = "BAD_INDEPENDENT_SIGNATURE"
    """The independent party's COSE_Sign1 signature does not verify."""
    INDEPENDENT_THRESHOLD_NOT_MET = "INDEPENDENT_THRESHOLD_NOT_MET"
    """Too few organisations of the independent role signed."""
    BAD_COUNTERSIGNATURE = "BAD_COUNTERSIGNATURE"
    """An operator countersignature does not verify."""
    COUNTERSIGNATURE_THRESHOLD_NOT_MET = "COUNTERSIGNATURE_THRESHOLD_NOT_MET"
    """Too few organisations of the operator role countersigned."""
    MALFORMED_TRUST_ROOT = "MALFORMED_TRUST_ROOT"
    """A trust root is not the structure SPEC.md §5 defines."""
    TRUST_ROOT_VERSION = "TRUST_ROOT_VERSION"
    """A trust-root rotation does not go from version N to exactly N+1."""
    TRUST_ROOT_THRESHOLD_NOT_MET = "TRUST_ROOT_THRESHOLD_NOT_MET"
    """A new trust root lacks the signatures of the old or of the new thresholds."""
    TRUST_ROOT_CHAIN_TOO_LONG = "TRUST_ROOT_CHAIN_TOO_LONG"
    """A rotation chain is longer than the cap."""
