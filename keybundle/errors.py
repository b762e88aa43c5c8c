"""The bundle layer's exceptions, one base per kind, and its reason codes (SPEC.md §9).

Every exception the package raises on purpose is defined here (the modules that raise them
re-export the ones their callers import from there). Each belongs to one kind, and the kinds
never mix (the log layer's :mod:`transparency_log.errors` has the same kinds):

* **Verification failures**: hostile or broken input. The log layer's
  :class:`~transparency_log.errors.VerificationError`, re-exported here, so a caller catches
  one type whatever layer rejected the input; its ``reason`` is a :class:`Reason` or a
  :class:`LogReason`, typed as the enum. :class:`MisbehaviourError` is the rejection that
  proves misbehaviour, with the signed ``evidence`` a third party re-checks offline.
* **The environment: storage and state.** A lock held by another process is a
  :class:`~transparency_log.errors.LockedError` in both layers (:class:`MonitorLockedError`);
  a stored state that does not parse is a :class:`CorruptStateError`, whoever stored it.
* **I/O with a log**: every ``OSError``. The fetcher's
  :class:`~transparency_log.errors.FetchError` and its subclasses, and
  :class:`LogUnreachableError` (online mode could not read the log, SPEC §7.5: nothing was
  decided), itself a ``FetchError``.
* **Caller mistakes**: ``ValueError`` / ``TypeError``, and ``LookupError`` for a name the
  caller asked for that does not exist (:class:`UnknownFleetError`). The conformance
  harness's input (SPEC §12) is the caller's too: :class:`ProtocolError` for a request it
  cannot read, :class:`VectorFileError` for a vector file that is not a vector.
* **An internal signal** that never leaves the package: :class:`BadSignature`, which a
  signer raises and :mod:`keybundle.cose_check` alone translates to a reason code.
* **A broken internal invariant**: ``AssertionError("bad math in ...")``, raised explicitly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from transparency_log.errors import FetchError, LockedError, LogReason, VerificationError

__all__ = [
    "BadSignature",
    "CorruptStateError",
    "LockedError",
    "LogReason",
    "LogUnreachableError",
    "MisbehaviourError",
    "MonitorLockedError",
    "ProtocolError",
    "Reason",
    "UnknownFleetError",
    "VectorFileError",
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


# --- verification failures ----------------------------------------------------------------


class MisbehaviourError(VerificationError):
    """A rejection that proves misbehaviour by the log or the signers (SPEC §7.3).

    ``evidence`` holds the signed objects a third party needs to re-check the claim offline:
    for ``INCONSISTENT_CHECKPOINT`` and ``BAD_CONSISTENCY_PROOF`` both signed checkpoint
    notes (and the consistency proof); for ``EPOCH_CONFLICT`` the new signed bundle with its
    proof of logging and the digest of the bundle accepted before.
    """

    evidence: dict[str, Any]

    def __init__(self, reason: str, message: str, evidence: dict[str, Any]) -> None:
        super().__init__(reason, message)
        self.evidence = evidence


# --- the environment: storage and state ------------------------------------------------------


class CorruptStateError(Exception):
    """A stored state does not parse, or a client state's rotation chain does not verify from
    its pinned root. Never reset silently: a client would re-open itself to rollback (SPEC
    §7.2), a monitor would forget the forks it saw (OPS §8.1). Whoever runs it must restore
    the state from a backup or start over (re-provision) deliberately. One class for both
    states: ``keybundle.state.CorruptStateError`` and ``keybundle.monitor_state``'s name
    are this class."""


class MonitorLockedError(LockedError):
    """Another monitor holds the state directory (OPS §8.1): one monitor per state."""


# --- I/O with a log --------------------------------------------------------------------------


class LogUnreachableError(FetchError):
    """The log could not be read to check consistency (SPEC §7.5): no decision was made.

    Raised for network, server and file-system failures, including a tile the log does not
    serve (a mirror that lags behind the package's checkpoint); ``path`` is the resource that
    failed. The caller must not accept the package as if online mode were off: that would
    let whoever blocks the log switch the check off. ``keybundle verify --log`` exits 2
    (CLI §10.7). ``old_size`` and ``new_size`` are the two tree sizes it was to link.
    """

    def __init__(self, path: str, message: str, *, old_size: int, new_size: int) -> None:
        super().__init__(path, message)
        self.old_size = old_size
        self.new_size = new_size


# --- caller mistakes ---------------------------------------------------------------------------


class UnknownFleetError(LookupError):
    """The state holds no accepted bundle of the fleet asked for (SPEC §7.6)."""


class ProtocolError(ValueError):
    """A conformance request (or vector) the adapter cannot read: a missing member, bad base64
    or hex (SPEC §12.3).

    Not a verification result: the answer is ``{"error": message}``, and the vector fails.
    """


class VectorFileError(ValueError):
    """A vector file that is not a vector (SPEC §12.2): the vectors directory is damaged."""


# --- internal signals --------------------------------------------------------------------------


class BadSignature(Exception):  # noqa: N818 -- internal signal, not a user-facing error type
    """A signature did not verify (internal: :mod:`keybundle.cose_check` translates it to a
    reason code, and is the only module that catches it)."""
