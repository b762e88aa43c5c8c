"""The bundle layer's exceptions, one base per kind, and its reason codes (SPEC.md §9).

The verification error is the log layer's :class:`~transparency_log.errors.VerificationError`,
re-exported here, so a caller catches one type whatever layer rejected the input; its
``reason`` is a :class:`Reason` or a :class:`LogReason`. A lock held by another process is
a :class:`~transparency_log.errors.LockedError` in both layers; a stored state that does
not parse is a :class:`CorruptStateError`, whoever stored it.
"""

from __future__ import annotations

from enum import StrEnum

from transparency_log.errors import LockedError, LogReason, VerificationError

__all__ = [
    "CorruptStateError",
    "LockedError",
    "LogReason",
    "MonitorLockedError",
    "Reason",
    "VerificationError",
]


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
    TRUST_ROOT_CONFLICT = "TRUST_ROOT_CONFLICT"
    """A package's trust root of a version the client holds is not the root it holds (SPEC §7.3 step 5)."""  # noqa: E501 (the one-line text of SPEC §9)
    PACKAGE_TOO_LARGE = "PACKAGE_TOO_LARGE"
    """The package is larger than the trust root's (or the absolute) size limit (SPEC §7.3 step 1)."""  # noqa: E501 (the one-line text of SPEC §9)
    MALFORMED_PACKAGE = "MALFORMED_PACKAGE"
    """The package's CBOR is well formed but is not the structure of SPEC §7.1."""
    STALE_COSIGNATURE = "STALE_COSIGNATURE"
    """The quorum is met only if cosignatures older than the allowed age are counted (freeze attack)."""  # noqa: E501 (the one-line text of SPEC §9)
    FUTURE_COSIGNATURE = "FUTURE_COSIGNATURE"
    """The quorum is met only if cosignatures dated beyond the clock skew are counted."""
    NOT_YET_VALID = "NOT_YET_VALID"
    """The bundle's not-before time is later than now plus the allowed clock skew."""
    EXPIRED = "EXPIRED"
    """The bundle's not-after time is earlier than now minus the allowed clock skew."""
    WRONG_FLEET = "WRONG_FLEET"
    """The bundle is for another fleet than the one the caller asked for."""
    ROLLBACK = "ROLLBACK"
    """The bundle's epoch is lower than the epoch this client already accepted for the fleet."""
    EPOCH_CONFLICT = "EPOCH_CONFLICT"
    """The bundle has the epoch this client accepted, with different bytes (equivocation)."""
    BROKEN_CHAIN = "BROKEN_CHAIN"
    """The bundle follows the accepted epoch but its previous-bundle digest is not the accepted bundle's."""  # noqa: E501 (the one-line text of SPEC §9)
    EPOCH_JUMP_TOO_LARGE = "EPOCH_JUMP_TOO_LARGE"
    """The bundle's epoch is further ahead of the accepted one than the trust root allows (fast-forward)."""  # noqa: E501 (the one-line text of SPEC §9)
    EPOCH_GAP = "EPOCH_GAP"
    """The log holds its fleet at epoch E (or not at all) and the bundle's epoch is not E + 1 (or 1)."""  # noqa: E501 (the one-line text of SPEC §9)
    INCONSISTENT_CHECKPOINT = "INCONSISTENT_CHECKPOINT"
    """The package's checkpoint has this client's stored size but another root (split view)."""
    UNEXPECTED_KEY = "UNEXPECTED_KEY"
    """A logged bundle carries a fleet key that is not on the auditor's allow-list (SPEC §8.2)."""
    MALFORMED_EVIDENCE = "MALFORMED_EVIDENCE"
    """An evidence file is not the canonical JSON of SPEC §8.4."""
    UNFOUNDED_EVIDENCE = "UNFOUNDED_EVIDENCE"
    """An evidence file's signed objects and proofs do not show the misbehaviour it claims."""


class CorruptStateError(Exception):
    """A stored state does not parse, or a client state's rotation chain does not verify from
    its pinned root. Never reset silently: a client would re-open itself to rollback (SPEC
    §7.2), a monitor would forget the forks it saw (SPEC §8.1). Whoever runs it must restore
    the state from a backup or start over (re-provision) deliberately. One class for both
    states: ``keybundle.state.CorruptStateError`` and ``keybundle.monitor_state``'s name
    are this class."""


class MonitorLockedError(LockedError):
    """Another monitor holds the state directory (SPEC §8.1): one monitor per state."""
