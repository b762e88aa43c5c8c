"""The bundle layer's exceptions: one base per kind, shared with the log layer."""

from __future__ import annotations

from keybundle.errors import (
    CorruptStateError,
    LockedError,
    MonitorLockedError,
    Reason,
    VerificationError,
)


def test_a_bundle_reason_is_typed_and_equals_its_code() -> None:
    error = VerificationError(Reason.ROLLBACK, "epoch 2 after epoch 3")
    assert error.reason is Reason.ROLLBACK
    assert error.reason == "ROLLBACK"


def test_the_monitors_lock_is_a_locked_error() -> None:
    assert issubclass(MonitorLockedError, LockedError)


def test_a_corrupt_state_is_never_a_verification_failure() -> None:
    assert not issubclass(CorruptStateError, VerificationError)
