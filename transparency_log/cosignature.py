"""C2SP tlog-cosignature: cosignature/v1, witness cosignatures of checkpoints (type 0x04).

A witness states "as of this time, this checkpoint is the largest consistent tree head I have
seen for this log" by adding a note signature line of type 0x04 to the checkpoint (SPEC
§2.5). The signature bytes are ``u64be(timestamp) || Ed25519 signature`` and the Ed25519
signature is over :func:`cosigned_message`, whose ``cosignature/v1`` header keeps a
cosignature from ever being mistaken for another use of the key.

This module builds on :mod:`transparency_log.note_keys` (key names, key hashes, signature
lines) and :mod:`transparency_log.ed25519` (the strict Ed25519 helpers), not on
:mod:`transparency_log.note`, which imports this module to parse type-0x04 key strings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from transparency_log import ed25519
from transparency_log.note_keys import (
    NamedEd25519Signer,
    NamedEd25519Verifier,
    Signature,
)

__all__ = [
    "COSIGNATURE_V1_BYTES",
    "MAX_COSIGNATURE_TIMESTAMP",
    "SIG_TYPE_COSIGNATURE_V1",
    "CosignatureV1Signer",
    "CosignatureV1Verifier",
    "cosigned_message",
    "is_checkpoint_text",
    "system_clock",
    "timestamp_of",
]

SIG_TYPE_COSIGNATURE_V1 = 0x04
"""Signature type byte of cosignature/v1 keys (C2SP signed-note §Signature types, SPEC §2.5.1)."""

COSIGNATURE_V1_BYTES = 72
"""Signature bytes of a cosignature line after the key hash: u64be timestamp + 64-byte Ed25519."""

MAX_COSIGNATURE_TIMESTAMP = 2**63 - 1
"""Largest cosignature timestamp, in POSIX seconds (SPEC §11; C2SP tlog-cosignature)."""

_TIMESTAMP_BYTES = 8
_HEADER = b"cosignature/v1\ntime "


def system_clock() -> int:
    """The current POSIX time in whole seconds: the default clock of a signer, read at the edge."""
    return int(time.time())


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """The bytes a cosignature's Ed25519 signature covers (SPEC §2.5.2).

    ``"cosignature/v1\\ntime " || decimal(timestamp) || "\\n" || text``, where ``text`` is
    the checkpoint note text (final newline included, no signature lines).
    """
    if not isinstance(text, bytes):
        raise TypeError(f"the cosigned text is bytes, not {type(text).__name__}")
    _require_timestamp(timestamp)
    return b"%s%d\n%s" % (_HEADER, timestamp, text)


def is_checkpoint_text(text: bytes) -> bool:
    """Whether ``text`` has the shape of a checkpoint, the only thing one may cosign (SPEC §2.5.3).

    At least three lines, each non-empty and ending in a newline. Whether the lines form a
    valid checkpoint is :func:`transparency_log.checkpoint.parse_checkpoint`'s question.
    """
    if not isinstance(text, bytes):
        raise TypeError(f"the cosigned text is bytes, not {type(text).__name__}")
    if not text.endswith(b"\n"):
        return False
    lines = text[:-1].split(b"\n")
    return len(lines) >= 3 and all(lines)


def timestamp_of(sig: Signature) -> int:
    """The timestamp of a cosignature/v1 signature line (its first 8 signature bytes).

    Meaningful only for a line that verified with a :class:`CosignatureV1Verifier`; a line
    of another length is not a cosignature (ValueError).
    """
    if not isinstance(sig, Signature):
        raise TypeError(f"expected a note.Signature, not {type(sig).__name__}")
    if len(sig.signature) != COSIGNATURE_V1_BYTES:
        raise ValueError(
            f"the signature line of {sig.name!r} has {len(sig.signature)} signature bytes; a "
            f"cosignature/v1 has {COSIGNATURE_V1_BYTES}"
        )
    return int.from_bytes(sig.signature[:_TIMESTAMP_BYTES], "big")


class CosignatureV1Verifier(NamedEd25519Verifier):
    """Verifies cosignature/v1 lines by one named witness key (SPEC §2.5.4).

    A :class:`~transparency_log.note.Verifier`: :func:`~transparency_log.note.open_note`
    calls :meth:`verify` for lines whose name and key hash are this key's.
    """

    sig_type: ClassVar[int] = SIG_TYPE_COSIGNATURE_V1

    def __init__(self, name: str, public_key: bytes) -> None:  # or mypy wants key_hash too
        super().__init__(name, public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a cosignature/v1 of the checkpoint text ``msg`` (SPEC §2.5.4).

        False unless: exactly 72 signature bytes, a timestamp of at most 2^63 - 1, a text
        of checkpoint shape, and a strict Ed25519 signature over :func:`cosigned_message`.
        """
        if len(sig) != COSIGNATURE_V1_BYTES:
            return False
        timestamp = int.from_bytes(sig[:_TIMESTAMP_BYTES], "big")
        if timestamp > MAX_COSIGNATURE_TIMESTAMP or not is_checkpoint_text(msg):
            return False
        message = cosigned_message(msg, timestamp)
        return ed25519.verify(self.public_key, message, sig[_TIMESTAMP_BYTES:])


class CosignatureV1Signer(NamedEd25519Signer):
    """A witness's cosignature/v1 signer (type 0x04); the seed never appears in repr.

    ``now`` is the clock :meth:`sign` reads (POSIX seconds); :meth:`sign_at` takes the
    time explicitly, for tests and for witnesses that timestamp elsewhere.
    """

    sig_type: ClassVar[int] = SIG_TYPE_COSIGNATURE_V1

    def __init__(self, name: str, seed: bytes, *, now: Callable[[], int] = system_clock) -> None:
        if not callable(now):
            raise TypeError("now must be a callable returning POSIX seconds")
        super().__init__(name, seed)
        self._now = now

    def verifier(self) -> CosignatureV1Verifier:
        """The verifier of this key's cosignatures."""
        return CosignatureV1Verifier(self._name, self._public_key)

    def sign(self, msg: bytes) -> bytes:
        """Cosign the checkpoint text ``msg`` at the clock's current time (see :meth:`sign_at`)."""
        return self.sign_at(msg, self._now())

    def sign_at(self, msg: bytes, timestamp: int) -> bytes:
        """The 72 signature bytes ``u64be(timestamp) || Ed25519(cosigned_message)`` (SPEC §2.5).

        ``msg`` must have checkpoint shape (SPEC §2.5.3) and ``timestamp`` be in
        0..2^63 - 1; anything else is a caller mistake (ValueError), since a witness must
        never cosign other text.
        """
        if not isinstance(msg, bytes):
            raise TypeError(f"the cosigned text is bytes, not {type(msg).__name__}")
        _require_timestamp(timestamp)
        if not is_checkpoint_text(msg):
            raise ValueError(
                "refusing to cosign a text that is not a checkpoint: a checkpoint has at least "
                "three non-empty lines, each ending in a newline (SPEC §2.5.3)"
            )
        signature = ed25519.sign(self._signing_key, cosigned_message(msg, timestamp))
        return timestamp.to_bytes(_TIMESTAMP_BYTES, "big") + signature


def _require_timestamp(timestamp: int) -> None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise TypeError(f"a cosignature timestamp is an int, not {type(timestamp).__name__}")
    if not 0 <= timestamp <= MAX_COSIGNATURE_TIMESTAMP:
        raise ValueError(
            f"cosignature timestamp {timestamp} is outside 0..{MAX_COSIGNATURE_TIMESTAMP}"
        )
