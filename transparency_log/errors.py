"""The log layer's exceptions, one base per kind, and its reason codes (SPEC.md §9).

Every rejection of hostile or broken input is a :class:`VerificationError` carrying a stable
reason code from a closed list (SPEC.md §9). Caller mistakes raise ``ValueError``/``TypeError``
instead, and a broken internal invariant raises ``AssertionError`` explicitly, so the three
kinds of failure never mix. Two more kinds belong to storage, not to input: another process
holds a lock this one needs (:class:`LockedError`), and files on disk that disagree in a way
no reopen can repair (:class:`LogStateError`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BatchRejectionError",
    "LockedError",
    "LogLockedError",
    "LogReason",
    "LogStateError",
    "StateLockedError",
    "VerificationError",
]


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

    reason: StrEnum
    """A member of the rejecting layer's reason enum (:class:`LogReason`, or
    ``keybundle.errors.Reason``). A ``StrEnum``: it equals its code as a string, and
    ``str(reason)`` is the code, so callers that compare or print it need not know which."""
    message: str

    def __init__(self, reason: str, message: str) -> None:
        # Annotated ``str`` (which every StrEnum member is) so that subclasses declared with
        # ``reason: str`` still type-check; a plain string is refused all the same.
        if not isinstance(reason, StrEnum):
            raise TypeError(
                f"a reason is a member of a reason-code enum, not {type(reason).__name__} "
                f"{reason!r}"
            )
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class BatchRejectionError(VerificationError):
    """An entry of a batch was rejected (``Log.add_many``): ``position`` says which.

    ``reason`` is the rejection's own code and ``rejection`` the admission hook's error, so a
    caller names the rejected input from ``position`` instead of parsing the message.
    """

    position: int
    """The rejected entry's position in the batch (0-based), not a log index."""
    rejection: VerificationError

    def __init__(self, position: int, rejection: VerificationError) -> None:
        super().__init__(rejection.reason, f"entry {position} of the batch: {rejection.message}")
        self.position = position
        self.rejection = rejection


class LockedError(OSError):
    """Another process holds the lock on a directory this object needs (``flock``).

    An ``OSError``: like ``BlockingIOError`` it is a condition of the system, not of the
    input; the holder's pid is in the message where the lock file records it.
    """


class LogLockedError(LockedError):
    """Another writer holds the log's lock: one process appends to a log at a time."""


class StateLockedError(LockedError):
    """Another witness state store (in this or another process) uses the directory."""


class LogStateError(RuntimeError):
    """The log's files or state disagree in a way that reopening cannot repair."""
