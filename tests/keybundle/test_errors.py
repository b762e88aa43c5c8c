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


def test_one_corrupt_state_class_for_the_client_and_the_monitor() -> None:
    """Issue 15: one exception per kind; the old import paths name the same class."""
    import keybundle
    from keybundle import monitor_state, state

    assert state.CorruptStateError is CorruptStateError
    assert keybundle.CorruptStateError is CorruptStateError
    assert monitor_state.CorruptStateError is CorruptStateError
