"""The log layer's exceptions, one base per kind, and its reason codes (SPEC.md §9).

Every exception the package raises on purpose is defined here (the modules that raise them
re-export the ones their callers catch). Each belongs to one kind, and the kinds never mix:

* **Verification failures**: hostile or broken input. :class:`VerificationError`, with a
  stable ``reason`` from the closed list :class:`LogReason` (SPEC.md §9) typed as the enum,
  and its structured subclass :class:`BatchRejectionError` (the batch position as a field).
* **The environment: storage and state.** Another process holds a lock this one needs
  (:class:`LockedError`, an ``OSError``: :class:`LogLockedError`, :class:`StateLockedError`),
  or files on disk disagree in a way no reopen can repair (:class:`LogStateError`).
* **I/O with a log or a peer**: every ``OSError``. :class:`FetchError` (a static resource of
  a log could not be read; its ``path`` a field), with :class:`NotFoundError` and
  :class:`ResponseTooLargeError`; and one HTTP request over its deadline
  (:class:`DeadlineExceededError`, a ``TimeoutError``) or its answer over the caller's cap
  (:class:`AnswerTooLargeError`). Code that already handles I/O failure handles these.
* **Caller mistakes**: plain ``ValueError`` / ``TypeError``, never a class of this module.
* **A broken internal invariant**: ``AssertionError("bad math in ...")``, raised explicitly.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AnswerTooLargeError",
    "BatchRejectionError",
    "DeadlineExceededError",
    "FetchError",
    "LockedError",
    "LogLockedError",
    "LogReason",
    "LogStateError",
    "NotFoundError",
    "ResponseTooLargeError",
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


# --- I/O with a log or a peer ------------------------------------------------------------------


class FetchError(OSError):
    """A resource of a log could not be fetched (network, server or file-system failure).

    ``path`` is the resource's path relative to the log's prefix (SPEC §6.5), as asked.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFoundError(FetchError):
    """The resource does not exist: HTTP 404 or 410, or no such file."""


class ResponseTooLargeError(FetchError):
    """The resource is larger than the cap the caller set; it was not read completely."""


class DeadlineExceededError(TimeoutError):
    """An HTTP request and its whole answer did not complete within its deadline (SPEC §11)."""


class AnswerTooLargeError(OSError):
    """An HTTP answer's body is longer than the caller's cap; it was not read to its end.

    An ``OSError`` like :class:`ResponseTooLargeError`, which the fetcher translates it to:
    the peer sent too much, the caller asked nothing wrong. ``cap`` is the cap, in bytes.
    """

    def __init__(self, cap: int) -> None:
        super().__init__(f"the answer is larger than {cap} bytes")
        self.cap = cap
