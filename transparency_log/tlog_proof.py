"""C2SP tlog-proof: an offline-verifiable proof that an entry is in a log (SPEC §2.7).

The text format (C2SP tlog-proof §Format) is

    c2sp.org/tlog-proof@v1
    [extra <base64 opaque data>]
    index <decimal leaf index>
    <base64 inclusion-proof hash>      (zero or more, leaf's sibling first)

    <signed checkpoint note, verbatim, with its signatures and cosignatures>

Parsing is strict and round-trips byte for byte (``parse_tlog_proof(p.format()) == p`` and
``parse_tlog_proof(t).format() == t``). Verification checks the checkpoint (SPEC §2.6), then
the inclusion of a leaf hash at the index under the checkpoint's signed root (SPEC §2.2).
The ``extra`` data is not authenticated by anything; callers must not trust it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from transparency_log import note, proof
from transparency_log._frozen import Frozen
from transparency_log.checkpoint import (
    VerifiedCheckpoint,
    _decode_base64,
    _parse_decimal,
    verify_checkpoint,
)
from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "MAX_PROOF_HASHES",
    "MAX_TLOG_PROOF_BYTES",
    "TLOG_PROOF_HEADER",
    "TlogProof",
    "parse_tlog_proof",
    "verify_tlog_proof",
]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
"""First line of every proof (C2SP tlog-proof §Format)."""

MAX_TLOG_PROOF_BYTES = 64 * 1024
"""Largest tlog-proof text we accept, in bytes (SPEC §11): 63 hashes and a checkpoint with
dozens of cosignatures fit in a fraction of it."""

MAX_PROOF_HASHES = 63
"""Most hashes an inclusion proof can need: a tree of at most 2^63 - 1 leaves is at most 63
levels deep (RFC 9162 §2.1.3)."""

_EXTRA_PREFIX = "extra "
_INDEX_PREFIX = "index "


class TlogProof(Frozen):
    """A parsed, not yet verified, C2SP tlog-proof (SPEC §2.7).

    Constructing one checks the invariants that make :meth:`format` parse back to an equal
    value; a bad field is the caller's mistake (``ValueError``/``TypeError``).
    """

    index: int
    """Zero-based index of the leaf in the log."""
    hashes: tuple[bytes, ...]
    """RFC 9162 inclusion proof, from the leaf's sibling up to a child of the root."""
    checkpoint_note: bytes
    """The signed checkpoint note exactly as the log (and witnesses) signed it."""
    extra: bytes | None = None
    """Opaque, unauthenticated application data; None when the proof has no ``extra`` line."""

    def __init__(
        self,
        index: int,
        hashes: tuple[bytes, ...],
        checkpoint_note: bytes,
        extra: bytes | None = None,
    ) -> None:
        self._freeze(index=index, hashes=hashes, checkpoint_note=checkpoint_note, extra=extra)
        self.__post_init__()

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise TypeError(f"index must be int, not {type(self.index).__name__}")
        if not 0 <= self.index <= MAX_TREE_SIZE:
            raise ValueError(f"index {self.index} is outside 0..{MAX_TREE_SIZE}")
        if not isinstance(self.hashes, tuple):
            raise TypeError(f"hashes must be a tuple, not {type(self.hashes).__name__}")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise ValueError(f"{len(self.hashes)} hashes; at most {MAX_PROOF_HASHES}")
        for h in self.hashes:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValueError(f"every proof hash must be {HASH_SIZE} bytes")
        if not isinstance(self.checkpoint_note, bytes):
            raise TypeError(
                f"checkpoint_note must be bytes, not {type(self.checkpoint_note).__name__}"
            )
        if not self.checkpoint_note:
            raise ValueError("checkpoint_note must not be empty")
        try:
            self.checkpoint_note.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("checkpoint_note must be UTF-8 (a C2SP signed note)") from None
        if self.extra is not None:
            if not isinstance(self.extra, bytes):
                raise TypeError(f"extra must be bytes or None, not {type(self.extra).__name__}")
            if not self.extra:
                raise ValueError(
                    "extra must be None or non-empty: an empty extra line has no meaning "
                    "(C2SP tlog-proof omits the line when there is no extra data)"
                )
        size = len(self.format().encode("utf-8"))
        if size > MAX_TLOG_PROOF_BYTES:
            raise ValueError(f"formatted proof is {size} bytes, over {MAX_TLOG_PROOF_BYTES}")

    def format(self) -> str:
        """The C2SP tlog-proof text (SPEC §2.7), which :func:`parse_tlog_proof` reads back."""
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(_EXTRA_PREFIX + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"{_INDEX_PREFIX}{self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint_note.decode("utf-8")


def _malformed(message: str) -> VerificationError:
    return VerificationError(LogReason.MALFORMED_PROOF, message)


def parse_tlog_proof(text: bytes | str) -> TlogProof:
    """Parse a C2SP tlog-proof strictly (SPEC §2.7); shape only, nothing is verified.

    Every line before the checkpoint must be exactly what :meth:`TlogProof.format` writes:
    the header, an optional ``extra`` line with non-empty canonical base64, ``index`` with a
    canonical decimal, at most :data:`MAX_PROOF_HASHES` lines of canonical base64 of 32 bytes,
    then one empty line; everything after it is the checkpoint note, kept verbatim (its own
    format is checked by :func:`verify_tlog_proof`). Failures raise
    ``VerificationError(MALFORMED_PROOF)``.
    """
    if isinstance(text, str):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:
            raise _malformed("proof text contains a lone surrogate (not UTF-8)") from None
        if len(raw) > MAX_TLOG_PROOF_BYTES:
            raise _malformed(
                f"proof is {len(raw)} bytes; at most {MAX_TLOG_PROOF_BYTES} are accepted"
            )
    elif isinstance(text, bytes):
        raw = text
        if len(raw) > MAX_TLOG_PROOF_BYTES:
            raise _malformed(
                f"proof is {len(raw)} bytes; at most {MAX_TLOG_PROOF_BYTES} are accepted"
            )
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _malformed(f"proof is not UTF-8 (byte {e.start})") from None
    else:
        raise TypeError(f"proof text must be bytes or str, not {type(text).__name__}")

    # UTF-8 from here on; "\n\n" cuts it between characters.
    header_end = raw.find(b"\n\n")
    if header_end < 0:
        raise _malformed(
            "proof has no empty line before the checkpoint; expected header, index, "
            "hashes, an empty line, then the signed checkpoint"
        )
    lines = raw[:header_end].decode("utf-8").split("\n")
    checkpoint_note = raw[header_end + 2 :]

    if lines[0] != TLOG_PROOF_HEADER:
        raise _malformed(f"proof's first line is {lines[0][:60]!r}; expected {TLOG_PROOF_HEADER!r}")
    position = 1
    extra: bytes | None = None
    if position < len(lines) and lines[position].startswith(_EXTRA_PREFIX):
        extra = _decode_base64(lines[position][len(_EXTRA_PREFIX) :])
        if not extra:
            raise _malformed(
                "proof's extra line does not hold non-empty canonical base64 "
                "(standard alphabet, exact padding)"
            )
        position += 1
    if position >= len(lines) or not lines[position].startswith(_INDEX_PREFIX):
        found = lines[position][:60] if position < len(lines) else "an empty line"
        raise _malformed(f"expected the line 'index <decimal>' after the header; found {found!r}")
    index = _parse_decimal(lines[position][len(_INDEX_PREFIX) :], MAX_TREE_SIZE)
    if index is None:
        raise _malformed(
            f"proof's index line {lines[position][:60]!r} does not hold a canonical decimal "
            f"in 0..{MAX_TREE_SIZE} (digits only, no sign, no leading zeros)"
        )
    position += 1
    hash_lines = lines[position:]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise _malformed(
            f"proof has {len(hash_lines)} inclusion hashes; at most {MAX_PROOF_HASHES} can "
            "be needed"
        )
    hashes: list[bytes] = []
    for number, line in enumerate(hash_lines, start=position + 1):
        h = note._decode_base64_32(line)
        if h is None:
            raise _malformed(
                f"proof line {number} ({line[:60]!r}) is not the canonical base64 of a "
                f"{HASH_SIZE}-byte hash"
            )
        hashes.append(h)
    if not checkpoint_note:
        raise _malformed("proof ends after the empty line; the signed checkpoint is missing")
    # What TlogProof's own checks would find, the parse has shown: an index in range, at
    # most MAX_PROOF_HASHES hashes of 32 bytes, a non-empty UTF-8 note, a non-empty extra,
    # and a text of at most MAX_TLOG_PROOF_BYTES that format() gives back byte for byte.
    return TlogProof._unchecked(
        index=index,
        hashes=tuple(hashes),
        checkpoint_note=checkpoint_note,
        extra=extra,
    )


def verify_tlog_proof(
    tlog_proof: TlogProof,
    leaf_hash: bytes,
    log_verifier: note.Verifier,
    *,
    origin: str | None = None,
    witnesses: Iterable[note.Verifier] = (),
) -> VerifiedCheckpoint:
    """Verify that ``leaf_hash`` is at ``tlog_proof.index`` in the log (SPEC §2.7).

    First the checkpoint, exactly as :func:`verify_checkpoint` does (log signature, origin,
    witness cosignatures collected); then the RFC 9162 inclusion proof from ``leaf_hash`` at
    the index to the checkpoint's signed root (SPEC §2.2): ``index >= size`` and a wrong root
    are BAD_INCLUSION_PROOF, a proof of the wrong length for index and size MALFORMED_PROOF.
    The leaf hash is the caller's: it must be computed from the exact entry bytes, never
    taken from the proof. Returns the verified checkpoint; the quorum is the caller's to check
    (:meth:`transparency_log.policy.Policy.check_quorum`).
    """
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise ValueError(f"leaf_hash must be {HASH_SIZE} bytes")
    verified = verify_checkpoint(
        tlog_proof.checkpoint_note, log_verifier, origin=origin, witnesses=witnesses
    )
    tree = verified.checkpoint
    proof.verify_inclusion(
        leaf_hash, tlog_proof.index, tree.size, list(tlog_proof.hashes), tree.root_hash
    )
    return verified
