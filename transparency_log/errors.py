"""The one exception type that verification raises, and the log layer's reason codes.

Every rejection of hostile or broken input carries a stable reason code from a closed list
(SPEC.md §9). Caller mistakes raise ``ValueError``/``TypeError`` instead, and a broken
internal invariant raises ``AssertionError`` explicitly, so the three kinds of failure never mix.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LogReason", "VerificationError"]


class LogReason(StrEnum):
    """Reason codes of the transparency-log layer (SPEC.md §9)."""

    MALFORMED_NOTE = "MALFORMED_NOTE"
    """A signed note is not well formed (encoding, structure, a signature line, a limit)."""
    UNTRUSTED_NOTE = "UNTRUSTED_NOTE"
    """No signature line of a note is by a key the verifier knows."""
    BAD_NOTE_SIGNATURE = "BAD_NOTE_SIGNATURE"
    """A signature line by a known key does not verify."""
    MALFORMED_CHECKPOINT = "MALFORMED_CHECKPOINT"
    """A checkpoint body is not a well-formed C2SP tlog-checkpoint."""
    WRONG_ORIGIN = "WRONG_ORIGIN"
    """A checkpoint names another log than the one expected."""
    MALFORMED_PROOF = "MALFORMED_PROOF"
    """A C2SP tlog-proof text, or a proof's hashes, are not well formed."""
    BAD_INCLUSION_PROOF = "BAD_INCLUSION_PROOF"
    """An inclusion proof does not lead from the leaf to the signed root."""
    BAD_CONSISTENCY_PROOF = "BAD_CONSISTENCY_PROOF"
    """A consistency proof does not link the two signed roots."""
    MALFORMED_POLICY = "MALFORMED_POLICY"
    """A C2SP tlog-policy text is not well formed."""
    QUORUM_NOT_MET = "QUORUM_NOT_MET"
    """The witness cosignatures that verified do not satisfy the policy's quorum."""
    MALFORMED_TILE = "MALFORMED_TILE"
    """A tile or entry bundle has the wrong size or does not match the signed root."""


class VerificationError(Exception):
    """Input failed verification; ``reason`` is a stable code from SPEC.md §9.

    The code is for programs (conformance vectors assert it); ``message`` is for people and
    says what was expected, what was found, and, where it helps, what to do.
    """

    reason: str
    message: str

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = str(reason)
        self.message = message
