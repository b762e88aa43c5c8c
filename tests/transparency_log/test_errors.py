"""The log layer's exceptions: typed reason codes, one base per kind."""

from __future__ import annotations

import pytest

from transparency_log.errors import (
    AnswerTooLargeError,
    BatchRejectionError,
    DeadlineExceededError,
    FetchError,
    LockedError,
    LogLockedError,
    LogReason,
    NotFoundError,
    ResponseTooLargeError,
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


@pytest.mark.parametrize(
    "io",
    [FetchError, NotFoundError, ResponseTooLargeError, DeadlineExceededError, AnswerTooLargeError],
)
def test_every_failure_to_read_a_log_or_a_peer_is_an_os_error(io: type[OSError]) -> None:
    assert issubclass(io, OSError)
    assert not issubclass(io, VerificationError)


def test_a_fetch_error_names_the_path_it_could_not_read() -> None:
    error = NotFoundError("tile/0/001", "tile/0/001: HTTP 404")
    assert (error.path, str(error)) == ("tile/0/001", "tile/0/001: HTTP 404")
    assert AnswerTooLargeError(4096).cap == 4096


def test_the_fetcher_and_the_deadline_re_export_their_errors() -> None:
    from transparency_log import fetcher, http_deadline

    assert fetcher.FetchError is FetchError
    assert fetcher.NotFoundError is NotFoundError
    assert http_deadline.DeadlineExceededError is DeadlineExceededError
