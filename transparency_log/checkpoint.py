"""C2SP tlog-checkpoint: checkpoint bodies, and signed checkpoints with witness cosignatures.

A checkpoint commits a log to a tree: origin, size and root hash, plus opaque extension
lines, carried as the text of a signed note (SPEC §2.6). Parsing is strict, one spelling per
checkpoint, so that :meth:`Checkpoint.body` and :func:`parse_checkpoint` are inverse byte for
byte. :func:`verify_checkpoint` opens the note with the log's key and the witnesses' keys
(:mod:`transparency_log.note`), requires the log's own signature, and reports the verified
witness cosignatures (:mod:`transparency_log.cosignature`) by key name; whether they meet a
quorum, and whether they are fresh, is the policy's and the client's question (SPEC §2.8,
§7.3).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NoReturn

from transparency_log import cosignature, note
from transparency_log._frozen import Frozen
from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "Checkpoint",
    "CheckpointVerifier",
    "VerifiedCheckpoint",
    "parse_checkpoint",
    "verify_checkpoint",
]

MAX_CHECKPOINT_BYTES = 16384
"""Largest checkpoint body (the note text), in UTF-8 bytes (SPEC §11)."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")  # SPEC §1: at most 20 ASCII digits
_CONTROL = re.compile(r"[\x00-\x1f]")
_QUOTE_LIMIT = 80  # characters of hostile input repeated in an error message


class Checkpoint(Frozen):
    """A checkpoint body (SPEC §2.6): ``origin``, tree ``size``, ``root_hash``, extensions.

    Constructing one checks that :meth:`body` is a valid checkpoint text, so a writer can
    never publish what a parser would refuse: a bad field is a caller mistake (ValueError).
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __init__(
        self,
        origin: str,
        size: int,
        root_hash: bytes,
        extensions: tuple[str, ...] = (),
    ) -> None:
        self._freeze(origin=origin, size=size, root_hash=root_hash, extensions=extensions)
        self.__post_init__()

    def __post_init__(self) -> None:
        _require_line(self.origin, "origin")
        if type(self.size) is not int:
            raise TypeError(f"checkpoint size must be an int, not {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"checkpoint size must be in 0..{MAX_TREE_SIZE}, not {self.size}")
        if type(self.root_hash) is not bytes:
            raise TypeError(f"root_hash must be bytes, not {type(self.root_hash).__name__}")
        if len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"root_hash must be {HASH_SIZE} bytes, not {len(self.root_hash)}")
        if isinstance(self.extensions, str) or not isinstance(self.extensions, Iterable):
            raise TypeError("extensions must be a tuple of extension lines")
        extensions = tuple(self.extensions)
        for i, line in enumerate(extensions):
            _require_line(line, f"extension line {i}")
        object.__setattr__(self, "extensions", extensions)
        size = len(self.body().encode("utf-8"))
        if size > MAX_CHECKPOINT_BYTES:
            raise ValueError(
                f"the checkpoint body would be {size} bytes; the limit is {MAX_CHECKPOINT_BYTES}"
            )

    def body(self) -> str:
        """The note text: ``origin``, size, base64 root and each extension, one per line."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )


class VerifiedCheckpoint(Frozen):
    """A checkpoint whose note the log signed, returned by :func:`verify_checkpoint`.

    Build it only through :func:`verify_checkpoint`: holding one means the steps of SPEC
    §2.6 passed.
    """

    checkpoint: Checkpoint
    note_text: bytes
    """The signed note exactly as received (every signature line included), for evidence."""
    log_signature: note.Signature
    """The log's verified signature line."""
    cosignatures: Mapping[str, int]
    """Witness key name -> timestamp of each verified cosignature/v1 (read-only)."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        note_text: bytes,
        log_signature: note.Signature,
        cosignatures: Mapping[str, int],
    ) -> None:
        self._freeze(
            checkpoint=checkpoint,
            note_text=note_text,
            log_signature=log_signature,
            cosignatures=cosignatures,
        )


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a checkpoint body strictly (SPEC §2.6); shape only, no signature.

    Accepts exactly the texts :meth:`Checkpoint.body` writes: UTF-8, at most
    :data:`MAX_CHECKPOINT_BYTES` bytes, no control character but the line feeds, a
    non-empty origin, a canonical decimal size up to 2^63 - 1, canonical base64 of a 32-byte
    root, non-empty extension lines, one final line feed. Anything else raises
    :class:`VerificationError` with MALFORMED_CHECKPOINT. The text must come from a note
    that was opened (:func:`verify_checkpoint`) before anything trusts it.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_CHECKPOINT_BYTES:
            _malformed(f"the body is {len(text)} bytes; the limit is {MAX_CHECKPOINT_BYTES}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            _malformed(f"the body is not valid UTF-8 (byte offset {e.start}: {e.reason})")
    elif isinstance(text, str):
        if len(text) > MAX_CHECKPOINT_BYTES:  # characters never outnumber UTF-8 bytes
            _malformed(
                f"the body has {len(text)} characters; the limit is {MAX_CHECKPOINT_BYTES} bytes"
            )
        try:
            encoded = len(text.encode("utf-8"))
        except UnicodeEncodeError as e:
            _malformed(f"the body is not valid Unicode text (character {e.start})")
        if encoded > MAX_CHECKPOINT_BYTES:
            _malformed(f"the body is {encoded} bytes; the limit is {MAX_CHECKPOINT_BYTES}")
    else:
        raise TypeError(f"a checkpoint body is str or bytes, not {type(text).__name__}")

    if not text.endswith("\n"):
        _malformed("the body does not end in a newline")
    lines = text[:-1].split("\n")
    for number, line in enumerate(lines, 1):
        control = _CONTROL.search(line)
        if control is not None:
            _malformed(
                f"line {number} has control character U+{ord(control.group()):04X}; a "
                "checkpoint has none but the line feeds"
            )
    if len(lines) < 3:
        _malformed(
            f"the body has {len(lines)} line(s); a checkpoint has an origin, a size and a "
            "root hash line"
        )
    origin, size_line, root_line, *extensions = lines
    if not origin:
        _malformed("the origin line is empty")
    size = _parse_decimal(size_line, MAX_TREE_SIZE)
    if size is None:
        _malformed(
            f"the size line {_quote(size_line)} is not a decimal in 0..{MAX_TREE_SIZE} "
            "(ASCII digits, no sign, no leading zeros)"
        )
    root_hash = _decode_root(root_line)
    for number, line in enumerate(extensions, 4):
        if not line:
            _malformed(
                f"line {number} is empty; extension lines are non-empty and the body ends "
                "in exactly one newline"
            )
    # Checkpoint's own checks hold (every line is non-empty UTF-8 text without control
    # characters, the size is in range, the root 32 bytes, and body() is this text, which
    # is within the size limit): skip them, this is on the client's hot path.
    return Checkpoint._unchecked(
        origin=origin, size=size, root_hash=root_hash, extensions=tuple(extensions)
    )


def verify_checkpoint(
    signed_note: bytes,
    log_verifier: note.Verifier,
    *,
    origin: str | None = None,
    witnesses: Iterable[note.Verifier] = (),
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint against the log's key (SPEC §2.6 steps 1-5).

    ``log_verifier`` is the log's Ed25519 note key (type 0x01). ``origin`` is the expected
    origin; by default the log key's name. ``witnesses`` are cosignature/v1 keys (type 0x04)
    with distinct key names. Passing anything else is a caller mistake (ValueError).

    Returns the checkpoint with the verified cosignatures by witness key name, or raises
    :class:`VerificationError`: MALFORMED_NOTE, BAD_NOTE_SIGNATURE (a line by one of these
    keys that does not verify), UNTRUSTED_NOTE (no verified signature by the log's key),
    MALFORMED_CHECKPOINT, WRONG_ORIGIN. A caller that verifies many notes under the same
    keys builds one :class:`CheckpointVerifier` instead.
    """
    return CheckpointVerifier(log_verifier, origin=origin, witnesses=witnesses).verify(signed_note)


class CheckpointVerifier:
    """:func:`verify_checkpoint` with its keys checked once, for a caller that verifies note
    after note under the same trust root (the client decision, SPEC §7.3 step 3).

    The constructor takes :func:`verify_checkpoint`'s keyword arguments and raises its
    ``ValueError`` for the same caller mistakes; :meth:`verify` is its SPEC §2.6 steps 1-5.
    """

    __slots__ = ("_log_hash", "_log_id", "_log_name", "_origin", "_verifiers")

    def __init__(
        self,
        log_verifier: note.Verifier,
        *,
        origin: str | None = None,
        witnesses: Iterable[note.Verifier] = (),
    ) -> None:
        if getattr(log_verifier, "sig_type", None) != note.SIG_TYPE_ED25519:
            raise ValueError(
                f"the log key {log_verifier.name!r} must be an Ed25519 note key (type 0x01)"
            )
        witness_list = list(witnesses)
        names: set[str] = set()
        for witness in witness_list:
            if getattr(witness, "sig_type", None) != cosignature.SIG_TYPE_COSIGNATURE_V1:
                raise ValueError(
                    f"witness key {witness.name!r} must be a cosignature/v1 key (type 0x04)"
                )
            if witness.name in names:
                raise ValueError(
                    f"two witness keys are named {witness.name!r}; cosignatures are counted by "
                    "key name, so witness key names must be unique"
                )
            names.add(witness.name)
        if origin is not None:
            _require_line(origin, "expected origin")
        self._log_name = log_verifier.name
        self._log_hash = log_verifier.key_hash
        self._log_id = (log_verifier.name, log_verifier.key_hash)
        self._origin = log_verifier.name if origin is None else origin
        self._verifiers = note.Verifiers([log_verifier, *witness_list])

    def verify(self, signed_note: bytes) -> VerifiedCheckpoint:
        """Verify ``signed_note`` (SPEC §2.6 steps 1-5); see :func:`verify_checkpoint`."""
        log_id = self._log_id

        # Step 1: the note opens with the log's and the witnesses' keys.
        opened = note.open_note(signed_note, self._verifiers)

        # Step 2: the log's own signature is among the verified ones.
        log_signature = next((s for s in opened.sigs if (s.name, s.key_hash) == log_id), None)
        if log_signature is None:
            raise VerificationError(
                LogReason.UNTRUSTED_NOTE,
                f"the checkpoint carries no signature by the log key "
                f"{self._log_name}+{self._log_hash:08x}, only by witnesses; "
                "cosignatures alone never make a checkpoint",
            )

        # Step 3: the text is a checkpoint body.
        checkpoint = parse_checkpoint(opened.text)

        # Step 4: the origin is the expected one.
        expected = self._origin
        if checkpoint.origin != expected:
            raise VerificationError(
                LogReason.WRONG_ORIGIN,
                f"the checkpoint's origin is {_quote(checkpoint.origin)}, expected "
                f"{expected!r}; it is a checkpoint of another log (or the log's origin is "
                "configured wrongly)",
            )

        # Step 5: the verified witness cosignatures, by key name.
        cosigned = {
            sig.name: cosignature.timestamp_of(sig)
            for sig in opened.sigs
            if (sig.name, sig.key_hash) != log_id
        }
        return VerifiedCheckpoint(
            checkpoint, bytes(signed_note), log_signature, MappingProxyType(cosigned)
        )


def _parse_decimal(text: str, maximum: int) -> int | None:
    """SPEC §1 decimal (ASCII digits, no sign, no leading zero) up to ``maximum``, or None.

    Shared with :mod:`transparency_log.tlog_proof`, so both formats spell numbers one way.
    """
    if _DECIMAL.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


def _decode_base64(text: str) -> bytes | None:
    """SPEC §1 base64 (standard alphabet, padded, zero trailing bits), or None.

    The one canonical-base64 decoder of the log layer lives in :mod:`transparency_log.note`;
    this name is kept for :mod:`transparency_log.tlog_proof`.
    """
    return note._decode_base64(text)


def _decode_root(line: str) -> bytes:
    """Canonical base64 of exactly 32 bytes (44 characters, one ``=``, zero trailing bits)."""
    raw = note._decode_base64_32(line)
    if raw is None:
        _malformed(
            f"the root hash line {_quote(line)} is not canonical base64 of {HASH_SIZE} bytes "
            "(44 characters ending in one '=')"
        )
    return raw


def _require_line(value: object, what: str) -> None:
    """A caller-supplied checkpoint line: non-empty text with no control character."""
    if not isinstance(value, str):
        raise TypeError(f"checkpoint {what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"checkpoint {what} must not be empty")
    control = _CONTROL.search(value)
    if control is not None:
        raise ValueError(
            f"checkpoint {what} {value[:_QUOTE_LIMIT]!r} has control character "
            f"U+{ord(control.group()):04X}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"checkpoint {what} is not valid Unicode text") from e


def _quote(value: str) -> str:
    if len(value) > _QUOTE_LIMIT:
        return repr(value[:_QUOTE_LIMIT]) + "..."
    return repr(value)


def _malformed(message: str) -> NoReturn:
    raise VerificationError(LogReason.MALFORMED_CHECKPOINT, message)
