"""The log layer's exceptions: typed reason codes, one base per kind."""

from __future__ import annotations

import pytest

from transparency_log.errors import (
    BatchRejectionError,
    LockedError,
    LogLockedError,
    LogReason,
    StateLockedError,
    VerificationError,
)


def test_the_reason_is_the_enum_member_and_still_equals_its_code() -> None:
    error = VerificationError(LogReason.MALFORMED_NOTE, "the note has no signature line")
    assert error.reason is LogReason.MALFORMED_NOTE
    assert error.reason == "MALFORMED_NOTE"
    assert str(error) == "MALFORMED_NOTE: the note has no signature line"
    assert f"{error.reason}" == "MALFORMED_NOTE"


def test_a_plain_string_is_not_a_reason() -> None:
    with pytest.raises(TypeError, match="reason-code enum"):
        VerificationError("MALFORMED_NOTE", "a code outside every closed list")


def test_a_batch_rejection_carries_its_position_and_the_hooks_error() -> None:
    rejection = VerificationError(LogReason.MALFORMED_TILE, "the tile is 31 bytes")
    error = BatchRejectionError(7, rejection)
    assert isinstance(error, VerificationError)
    assert (error.reason, error.position, error.rejection) == (
        LogReason.MALFORMED_TILE,
        7,
        rejection,
    )
    assert error.message == "entry 7 of the batch: the tile is 31 bytes"


@pytest.mark.parametrize("locked", [LogLockedError, StateLockedError])
def test_every_held_lock_has_one_base(locked: type[LockedError]) -> None:
    assert issubclass(locked, LockedError)
    assert issubclass(locked, OSError)
