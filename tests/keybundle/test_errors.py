"""The bundle layer's exceptions: one base per kind, shared with the log layer."""

from __future__ import annotations

from keybundle.errors import (
    BadSignature,
    CorruptStateError,
    LockedError,
    LogUnreachableError,
    MisbehaviourError,
    MonitorLockedError,
    ProtocolError,
    Reason,
    UnknownFleetError,
    VectorFileError,
    VerificationError,
)
from transparency_log.errors import FetchError


def test_a_bundle_reason_is_typed_and_equals_its_code() -> None:
    error = VerificationError(Reason.ROLLBACK, "epoch 2 after epoch 3")
    assert error.reason is Reason.ROLLBACK
    assert error.reason == "ROLLBACK"


def test_the_monitors_lock_is_a_locked_error() -> None:
    assert issubclass(MonitorLockedError, LockedError)


def test_a_corrupt_state_is_never_a_verification_failure() -> None:
    assert not issubclass(CorruptStateError, VerificationError)


def test_online_modes_unreachable_log_is_an_io_error_with_its_path_and_sizes() -> None:
    error = LogUnreachableError("tile/0/000", "the log did not answer", old_size=3, new_size=9)
    assert isinstance(error, FetchError)
    assert isinstance(error, OSError)
    assert not isinstance(error, VerificationError)
    assert (error.path, error.old_size, error.new_size) == ("tile/0/000", 3, 9)
    assert str(error) == "the log did not answer"


def test_a_misbehaviour_is_a_verification_failure_carrying_its_evidence() -> None:
    error = MisbehaviourError(Reason.EPOCH_CONFLICT, "two bundles of epoch 4", {"digest": "00"})
    assert isinstance(error, VerificationError)
    assert error.reason is Reason.EPOCH_CONFLICT
    assert error.evidence == {"digest": "00"}


def test_caller_mistakes_are_builtin_kinds_never_verification_failures() -> None:
    for mistake in (UnknownFleetError, ProtocolError, VectorFileError):
        assert issubclass(mistake, LookupError | ValueError)
        assert not issubclass(mistake, VerificationError | OSError)


def test_the_old_homes_still_export_the_moved_exceptions() -> None:
    from keybundle import client, conformance, embedded, online, signers, state

    assert client.MisbehaviourError is MisbehaviourError
    assert state.CorruptStateError is CorruptStateError
    assert embedded.UnknownFleetError is UnknownFleetError
    assert online.LogUnreachableError is LogUnreachableError
    assert conformance.ProtocolError is ProtocolError
    assert signers.BadSignature is BadSignature


def test_one_corrupt_state_class_for_the_client_and_the_monitor() -> None:
    """Issue 15: one exception per kind; the old import paths name the same class."""
    import keybundle
    from keybundle import monitor_state, state

    assert state.CorruptStateError is CorruptStateError
    assert keybundle.CorruptStateError is CorruptStateError
    assert monitor_state.CorruptStateError is CorruptStateError
