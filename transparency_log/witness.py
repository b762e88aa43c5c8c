"""C2SP tlog-witness: a witness that cosigns checkpoints only when they extend what it saw.

For each log it is configured with, a witness keeps the latest tree it cosigned (its size
and root hash). A log submits ``POST /add-checkpoint`` with the size it believes the witness
holds, a consistency proof from there, and its new signed checkpoint (SPEC §6.4.1). The
witness checks, in the order SPEC §6.4.2 fixes, the request's shape (400), the origin (404),
the log's signature (403), the old size against the checkpoint (400) and against the held
tree (409, answering the held size), the proof (422); it then writes its new state durably
(500 if it cannot) and only then answers 200 with one cosignature/v1 line (SPEC §2.5).

The check-and-save of one log runs under a per-log lock, so two concurrent requests never
both pass against the same held tree (C2SP tlog-witness's rollback race): the witness never
cosigns two roots at one size, nor a tree smaller than one it cosigned. The state survives a
restart (:class:`FileStateStore`: one file per log, atomic replace, the directory locked
against a second process); a corrupt state file is an error, never a reset, because a witness
that forgets a log can be made to cosign a fork of it.

The pure parts (:func:`parse_add_checkpoint_request`, :func:`verify_tree_update`,
:func:`cosign_checkpoint`) take no clock or storage; :class:`Witness` combines them with a
:class:`StateStore` and a clock, and :func:`make_wsgi_app` / :func:`make_witness_server` put
it on HTTP (waitress).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from transparency_log import _http, durable, note
from transparency_log import proof as _proof
from transparency_log._http import DEFAULT_CONNECTION_GUARD, ConnectionGuard
from transparency_log.checkpoint import Checkpoint, verify_checkpoint
from transparency_log.cosignature import (
    MAX_COSIGNATURE_TIMESTAMP,
    CosignatureV1Signer,
    system_clock,
)
from transparency_log.errors import LogReason, StateLockedError, VerificationError
from transparency_log.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "COSIGNATURE_CONTENT_TYPE",
    "DEFAULT_CONNECTION_GUARD",
    "DEFAULT_WITNESS_THREADS",
    "LOCK_FILE",
    "LOCK_TIMEOUT_SECONDS",
    "MAX_ADD_CHECKPOINT_BYTES",
    "MAX_CONSISTENCY_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "STATE_FILE_HEADER",
    "AddCheckpointRequest",
    "ConnectionGuard",
    "FileStateStore",
    "StateLockedError",
    "StateStore",
    "TreeHead",
    "TreeState",
    "Witness",
    "WitnessResponse",
    "WitnessServer",
    "cosign_checkpoint",
    "format_add_checkpoint_request",
    "make_witness_server",
    "make_wsgi_app",
    "parse_add_checkpoint_request",
    "serve_witness",
    "verify_tree_update",
]

_log = logging.getLogger(__name__)

MAX_CONSISTENCY_PROOF_LINES = 63
"""Most consistency proof lines of a request (SPEC §11; C2SP tlog-witness: a client MUST NOT
send more). A tree of at most 2^63 - 1 leaves never needs more."""

MAX_ADD_CHECKPOINT_BYTES = 65536
"""Largest ``add-checkpoint`` body (SPEC §11): 63 proof lines and a checkpoint with dozens
of signatures fit in a fraction of it."""

LOCK_TIMEOUT_SECONDS = 10.0
"""How long a request waits for another request on the same log before 503 (SPEC §11)."""

SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""Content type of a 409 answer, whose body is the held tree size (C2SP tlog-witness)."""

COSIGNATURE_CONTENT_TYPE = "text/plain; charset=utf-8"
"""Content type of a 200 answer (one cosignature line) and of error answers."""

STATE_FILE_HEADER = "keybundle-witness-state/v1"
"""First line of a witness state file (OPS §6.4.3)."""

LOCK_FILE = "LOCK"
"""The state directory's lock file (``flock``, OPS §6.4.3)."""

DEFAULT_WITNESS_THREADS = 4
"""Waitress worker threads of :func:`serve_witness`: a request takes milliseconds."""

_OLD_PREFIX = b"old "
_STATE_SUFFIX = ".state"
_MAX_STATE_FILE_BYTES = 64 * 1024
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


# --- the add-checkpoint request (SPEC §6.4.1) ----------------------------------------------


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` body; nothing in it is verified yet."""

    old_size: int
    """The tree size the log believes the witness holds (0: never seen, or unknown)."""
    proof: tuple[bytes, ...]
    """The RFC 9162 consistency proof from ``old_size`` to the checkpoint's size."""
    signed_checkpoint: bytes
    """The signed checkpoint note, verbatim."""


def _malformed(message: str) -> VerificationError:
    return VerificationError(LogReason.MALFORMED_PROOF, message)


def _parse_decimal(text: str) -> int | None:
    """SPEC §1 decimal: ASCII digits, no sign, no leading zeros, at most 2^63 - 1."""
    if _DECIMAL.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_TREE_SIZE else None


def _decode_hash(text: str) -> bytes | None:
    """Canonical SPEC §1 base64 of exactly one 32-byte hash, or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def parse_add_checkpoint_request(body: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` body strictly (SPEC §6.4.1; C2SP tlog-witness).

    ``old <decimal>``, then at most :data:`MAX_CONSISTENCY_PROOF_LINES` lines of canonical
    base64 of 32 bytes, then an empty line; everything after that first empty line is the
    signed checkpoint, kept verbatim (its note and checkpoint format are checked when it is
    verified). At most :data:`MAX_ADD_CHECKPOINT_BYTES`. A malformed body raises
    ``VerificationError(MALFORMED_PROOF)``, which a witness answers with 400.
    """
    if not isinstance(body, bytes):
        raise TypeError(f"the request body is bytes, not {type(body).__name__}")
    if len(body) > MAX_ADD_CHECKPOINT_BYTES:
        raise _malformed(f"the body is {len(body)} bytes; at most {MAX_ADD_CHECKPOINT_BYTES}")
    end = body.find(b"\n\n")
    if end < 0:
        raise _malformed(
            "no empty line ends the header; expected 'old <size>', proof lines, an empty "
            "line, then the signed checkpoint"
        )
    try:
        header = body[:end].decode("ascii")
    except UnicodeDecodeError:
        raise _malformed("the header (old size and proof lines) is not ASCII") from None
    lines = header.split("\n")
    if not lines[0].startswith(_OLD_PREFIX.decode("ascii")):
        raise _malformed(f"the first line is {lines[0][:40]!r}; expected 'old <size>'")
    old_size = _parse_decimal(lines[0][len(_OLD_PREFIX) :])
    if old_size is None:
        raise _malformed(
            f"the first line {lines[0][:40]!r} does not hold a canonical decimal size "
            f"(digits, no leading zeros, at most {MAX_TREE_SIZE})"
        )
    if len(lines) - 1 > MAX_CONSISTENCY_PROOF_LINES:
        raise _malformed(
            f"{len(lines) - 1} consistency proof lines; at most {MAX_CONSISTENCY_PROOF_LINES}"
        )
    hashes: list[bytes] = []
    for number, line in enumerate(lines[1:], start=2):
        h = _decode_hash(line)
        if h is None:
            raise _malformed(
                f"line {number} ({line[:60]!r}) is not the canonical base64 of a "
                f"{HASH_SIZE}-byte hash"
            )
        hashes.append(h)
    signed_checkpoint = body[end + 2 :]
    if not signed_checkpoint:
        raise _malformed("the body ends after the empty line; the signed checkpoint is missing")
    return AddCheckpointRequest(old_size, tuple(hashes), signed_checkpoint)


def format_add_checkpoint_request(
    old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes
) -> bytes:
    """The ``add-checkpoint`` body (SPEC §6.4.1), which :func:`parse_add_checkpoint_request`
    reads back unchanged. Arguments out of range are the caller's ValueError/TypeError."""
    if isinstance(old_size, bool) or not isinstance(old_size, int):
        raise TypeError(f"old_size must be an int, not {type(old_size).__name__}")
    if not 0 <= old_size <= MAX_TREE_SIZE:
        raise ValueError(f"old_size {old_size} is outside 0..{MAX_TREE_SIZE}")
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise TypeError("proof must be a sequence of 32-byte hashes")
    if len(proof) > MAX_CONSISTENCY_PROOF_LINES:
        raise ValueError(f"{len(proof)} proof hashes; at most {MAX_CONSISTENCY_PROOF_LINES}")
    for h in proof:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ValueError(f"every proof hash must be {HASH_SIZE} bytes")
    if not isinstance(signed_checkpoint, bytes):
        raise TypeError(f"signed_checkpoint must be bytes, not {type(signed_checkpoint).__name__}")
    if not signed_checkpoint:
        raise ValueError("signed_checkpoint must not be empty")
    header = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    body = ("\n".join(header) + "\n\n").encode("ascii") + signed_checkpoint
    if len(body) > MAX_ADD_CHECKPOINT_BYTES:
        raise ValueError(f"the body would be {len(body)} bytes; at most {MAX_ADD_CHECKPOINT_BYTES}")
    return body


# --- tree states and the append-only check (SPEC §6.4.2 step 6) ------------------------------


class TreeHead(Protocol):
    """A tree size and root hash: a :class:`TreeState` or a checkpoint."""

    @property
    def size(self) -> int:
        """Number of leaves."""
        ...

    @property
    def root_hash(self) -> bytes:
        """RFC 9162 root hash (32 bytes)."""
        ...


@dataclass(frozen=True)
class TreeState:
    """The tree a witness holds for one log: the latest it cosigned."""

    size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise TypeError(f"size must be an int, not {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"size {self.size} is outside 0..{MAX_TREE_SIZE}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"root_hash must be {HASH_SIZE} bytes")

    @classmethod
    def empty(cls) -> TreeState:
        """The state of a log never cosigned: size 0, root SHA-256("") (SPEC §6.4.2)."""
        return cls(0, EMPTY_ROOT)


def verify_tree_update(known: TreeHead, checkpoint: TreeHead, proof: Sequence[bytes]) -> TreeState:
    """The new state if ``checkpoint`` extends ``known`` append-only (SPEC §6.4.2 step 6).

    Pure. From size 0 the proof MUST be empty (any root of a larger tree is accepted: the
    witness has nothing to compare with) and a checkpoint of size 0 MUST have the empty
    root; at an equal size the proof MUST be empty and the roots equal; otherwise the proof
    MUST be the RFC 9162 consistency proof from ``known`` to ``checkpoint`` (SPEC §2.3).
    A smaller checkpoint, a wrong root or a proof that does not verify is
    BAD_CONSISTENCY_PROOF; a proof of the wrong length MALFORMED_PROOF.
    """
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise VerificationError(
            LogReason.BAD_CONSISTENCY_PROOF,
            f"a checkpoint of size 0 must have the empty tree's root {EMPTY_ROOT.hex()}, "
            f"not {checkpoint.root_hash.hex()}",
        )
    _proof.verify_consistency(
        known.size, checkpoint.size, proof, known.root_hash, checkpoint.root_hash
    )
    return TreeState(checkpoint.size, checkpoint.root_hash)


def cosign_checkpoint(
    checkpoint_text: str | bytes, signer: CosignatureV1Signer, timestamp: int
) -> str:
    """The cosignature/v1 line over a checkpoint text at ``timestamp`` (SPEC §2.5, §6.4.2).

    ``checkpoint_text`` is the note text (final newline included, no signature lines):
    ``— <name> base64(u32be(key hash) || u64be(timestamp) || Ed25519 signature)\\n``.
    A text that is not a checkpoint, or a bad timestamp, is the caller's ValueError.
    """
    if not isinstance(signer, CosignatureV1Signer):
        raise TypeError(
            f"a witness cosigns with a CosignatureV1Signer, not {type(signer).__name__}"
        )
    text = checkpoint_text.encode("utf-8") if isinstance(checkpoint_text, str) else checkpoint_text
    sig = signer.sign_at(text, timestamp)
    return note.Signature(signer.name, signer.key_hash, sig).to_line()


# --- state storage (OPS §6.4.3) -------------------------------------------------------------


class StateStore(Protocol):
    """Where a witness keeps the tree it holds for each log.

    ``load`` returns :meth:`TreeState.empty` for a log never saved, and raises ``ValueError``
    (corrupt) or ``OSError`` (unreadable) otherwise; ``save`` returns only once the state is
    durable. The witness serialises calls for one log.
    """

    def load(self, origin: str) -> TreeState:
        """The tree held for ``origin``."""
        ...

    def save(self, origin: str, state: TreeState) -> None:
        """Record ``state`` for ``origin`` durably."""
        ...


def _state_file_name(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8")).hexdigest() + _STATE_SUFFIX


def _format_state(origin: str, state: TreeState) -> bytes:
    root = base64.b64encode(state.root_hash).decode("ascii")
    return f"{STATE_FILE_HEADER}\n{origin}\n{state.size}\n{root}\n".encode()


def _parse_state(data: bytes, origin: str, path: Path) -> TreeState:
    def corrupt(why: str) -> ValueError:
        return ValueError(
            f"witness state file {path} is corrupt ({why}); it is never reset, because a "
            "witness that forgets a log can be made to cosign a fork of it: restore it from a "
            "backup, or retire this witness key"
        )

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise corrupt("not UTF-8") from None
    lines = text.split("\n")
    if len(lines) != 5 or lines[4] != "" or lines[0] != STATE_FILE_HEADER:
        raise corrupt(f"expected 4 lines starting with {STATE_FILE_HEADER!r}")
    if lines[1] != origin:
        raise corrupt(f"it names origin {lines[1][:80]!r}, not {origin[:80]!r}")
    size = _parse_decimal(lines[2])
    if size is None:
        raise corrupt(f"size {lines[2][:40]!r} is not a canonical decimal")
    root = _decode_hash(lines[3])
    if root is None:
        raise corrupt("the root hash is not canonical base64 of 32 bytes")
    return TreeState(size, root)


def _lock_directory(path: Path) -> int:
    def refuse(holder: str) -> StateLockedError:
        return StateLockedError(
            f"the witness state directory {path.parent} is in use by another witness (pid "
            f"{holder}); two witnesses sharing state could cosign two forks"
        )

    return durable.lock(path, refuse)


class FileStateStore:
    """Witness state in a directory: one file per log, replaced atomically (OPS §6.4.3).

    The directory must exist. Opening takes an exclusive ``flock`` on its ``LOCK`` file
    (:class:`StateLockedError` if another store holds it, in any process); :meth:`close`
    releases it, as does the kernel when the process dies. Each save writes a temporary
    file, fsyncs it, renames it over the log's file and fsyncs the directory, so a crash
    leaves the old state or the new one, never a torn file.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)
        if not self._directory.is_dir():
            raise NotADirectoryError(f"witness state directory {self._directory} does not exist")
        self._lock_fd: int | None = _lock_directory(self._directory / LOCK_FILE)

    @property
    def directory(self) -> Path:
        """The state directory."""
        return self._directory

    def path_for(self, origin: str) -> Path:
        """The state file of ``origin``: the SHA-256 of the origin in hex, ``.state``."""
        return self._directory / _state_file_name(origin)

    def _require_open(self) -> None:
        if self._lock_fd is None:
            raise ValueError("the witness state store is closed")

    def load(self, origin: str) -> TreeState:
        """The tree held for ``origin``; empty if its file does not exist (OPS §6.4.3)."""
        self._require_open()
        path = self.path_for(origin)
        try:
            with path.open("rb") as f:
                data = f.read(_MAX_STATE_FILE_BYTES + 1)
        except FileNotFoundError:
            return TreeState.empty()
        if len(data) > _MAX_STATE_FILE_BYTES:
            raise ValueError(f"witness state file {path} is over {_MAX_STATE_FILE_BYTES} bytes")
        return _parse_state(data, origin, path)

    def save(self, origin: str, state: TreeState) -> None:
        """Replace the state of ``origin`` durably: temp file, fsync, rename, fsync dir."""
        self._require_open()
        if not isinstance(origin, str) or not origin or "\n" in origin:
            raise ValueError("an origin is a non-empty str without newline")
        if not isinstance(state, TreeState):
            raise TypeError(f"state must be a TreeState, not {type(state).__name__}")
        path = self.path_for(origin)
        durable.replace(path, _format_state(origin, state), mode=0o600)

    def close(self) -> None:
        """Release the directory lock; the store can no longer be used."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> FileStateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- the witness (SPEC §6.4.2) -----------------------------------------------------------------


class WitnessResponse(NamedTuple):
    """One answer to ``add-checkpoint``: status, headers (without Content-Length), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _text(status: int, message: str, *extra: tuple[str, str]) -> WitnessResponse:
    """An error answer: one line of text (never a signature line), SPEC §6.4.5."""
    line = message.replace("\n", " ")
    return WitnessResponse(
        status, (("Content-Type", COSIGNATURE_CONTENT_TYPE), *extra), (line + "\n").encode()
    )


class Witness:
    """A C2SP tlog-witness for some logs (SPEC §6.4.2).

    ``logs`` maps each log's origin to the verifier of its checkpoint signatures (type 0x01);
    ``store`` keeps the held trees; ``now`` is the clock of the cosignature timestamps
    (POSIX seconds); a request waits at most ``lock_timeout`` seconds for another request on
    the same log. :meth:`add_checkpoint` never raises for bad input: every outcome is an
    HTTP status.
    """

    def __init__(
        self,
        signer: CosignatureV1Signer,
        logs: Mapping[str, note.Verifier],
        store: StateStore,
        *,
        now: Callable[[], int] = system_clock,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        if not isinstance(signer, CosignatureV1Signer):
            raise TypeError(
                f"a witness signs with a cosignature/v1 key (CosignatureV1Signer), not "
                f"{type(signer).__name__}"
            )
        if not callable(now):
            raise TypeError("now must be a callable returning POSIX seconds")
        if lock_timeout <= 0:
            raise ValueError("lock_timeout must be positive")
        for origin, verifier in logs.items():
            if not isinstance(origin, str) or not origin or "\n" in origin:
                raise ValueError(f"log origin {origin!r} is not a non-empty line of text")
            if getattr(verifier, "sig_type", note.SIG_TYPE_ED25519) != note.SIG_TYPE_ED25519:
                raise ValueError(f"the key of log {origin!r} is not an Ed25519 note key (0x01)")
        self._signer = signer
        self._logs = dict(logs)
        self._store = store
        self._now = now
        self._lock_timeout = lock_timeout
        self._locks = {origin: threading.Lock() for origin in self._logs}

    @property
    def name(self) -> str:
        """The witness's key name, as its cosignature lines carry it."""
        return self._signer.name

    @property
    def origins(self) -> tuple[str, ...]:
        """The origins of the logs this witness cosigns."""
        return tuple(self._logs)

    def add_checkpoint(self, body: bytes) -> WitnessResponse:
        """Answer one ``add-checkpoint`` request body (SPEC §6.4.2, steps in order)."""
        # Step 1: the body parses (header, and the note's structure, for the origin).
        try:
            request = parse_add_checkpoint_request(body)
            text, _ = note.parse_unverified(request.signed_checkpoint)
        except VerificationError as e:
            return _text(
                http.HTTPStatus.BAD_REQUEST, f"malformed request ({e.reason}): {e.message}"
            )
        origin = text.split("\n", 1)[0]

        # Step 2: a log this witness is configured for.
        verifier = self._logs.get(origin)
        if verifier is None:
            return _text(
                http.HTTPStatus.NOT_FOUND,
                f"this witness does not cosign the log {origin[:200]!r}",
            )

        # Step 3: the log's signature, then the checkpoint format.
        try:
            checkpoint = verify_checkpoint(
                request.signed_checkpoint, verifier, origin=origin
            ).checkpoint
        except VerificationError as e:
            if e.reason in (LogReason.UNTRUSTED_NOTE, LogReason.BAD_NOTE_SIGNATURE):
                return _text(
                    http.HTTPStatus.FORBIDDEN,
                    f"the checkpoint is not signed by the key of log {origin[:200]!r} "
                    f"({e.reason}): {e.message}",
                )
            return _text(
                http.HTTPStatus.BAD_REQUEST,
                f"not a checkpoint of log {origin[:200]!r} ({e.reason}): {e.message}",
            )

        # Step 4: the old size is within the checkpoint.
        if request.old_size > checkpoint.size:
            return _text(
                http.HTTPStatus.BAD_REQUEST,
                f"old size {request.old_size} is larger than the checkpoint size {checkpoint.size}",
            )

        # Steps 5-8 under the log's lock: nothing may change the state in between.
        lock = self._locks[origin]
        if not lock.acquire(timeout=self._lock_timeout):
            return _text(
                http.HTTPStatus.SERVICE_UNAVAILABLE,
                f"another request for this log is in progress; retry (waited "
                f"{self._lock_timeout} s)",
                ("Retry-After", "1"),
            )
        try:
            return self._update(origin, text, request, checkpoint)
        finally:
            lock.release()

    def _update(
        self, origin: str, text: str, request: AddCheckpointRequest, checkpoint: Checkpoint
    ) -> WitnessResponse:
        """Steps 5-8 of SPEC §6.4.2; the caller holds the log's lock."""
        try:
            held = self._store.load(origin)
        except (OSError, ValueError) as e:
            _log.error("cannot read the state of log %r: %s", origin, e)
            return _text(http.HTTPStatus.INTERNAL_SERVER_ERROR, "the witness cannot read its state")

        # Step 5: the old size is the held size; a tree of the held size is the held tree.
        fork = held.size == checkpoint.size != 0 and held.root_hash != checkpoint.root_hash
        if request.old_size != held.size or fork:
            return WitnessResponse(
                http.HTTPStatus.CONFLICT,
                (("Content-Type", SIZE_CONTENT_TYPE),),
                f"{held.size}\n".encode("ascii"),
            )

        # Step 6: append-only.
        try:
            new = verify_tree_update(held, checkpoint, request.proof)
        except VerificationError as e:
            _log.warning(
                "log %r: rejected a signed checkpoint of size %d from held size %d (%s); the "
                "request may be evidence of misbehaviour: %r",
                origin,
                checkpoint.size,
                held.size,
                e.reason,
                request,
            )
            return _text(
                http.HTTPStatus.UNPROCESSABLE_ENTITY,
                f"the checkpoint does not extend the tree of size {held.size} this witness "
                f"holds ({e.reason}): {e.message}",
            )

        # Step 7: persist before answering.
        timestamp = self._now()
        if (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, int)
            or not (0 <= timestamp <= MAX_COSIGNATURE_TIMESTAMP)
        ):
            _log.error("the witness clock returned %r, not POSIX seconds", timestamp)
            return _text(http.HTTPStatus.INTERNAL_SERVER_ERROR, "the witness clock is broken")
        try:
            self._store.save(origin, new)
        except OSError as e:
            _log.error("cannot write the state of log %r: %s", origin, e)
            return _text(http.HTTPStatus.INTERNAL_SERVER_ERROR, "the witness cannot save its state")

        # Step 8: one cosignature line.
        line = cosign_checkpoint(text, self._signer, timestamp)
        return WitnessResponse(
            http.HTTPStatus.OK, (("Content-Type", COSIGNATURE_CONTENT_TYPE),), line.encode()
        )


# --- HTTP (SPEC §6.4.5) ------------------------------------------------------------------------

_PATH = "/add-checkpoint"


def _dispatch(witness: Witness, environ: Mapping[str, Any], max_body_bytes: int) -> WitnessResponse:
    if str(environ.get("PATH_INFO") or "") != _PATH:
        return _text(http.HTTPStatus.NOT_FOUND, f"not found; this witness serves POST {_PATH}")
    if str(environ.get("REQUEST_METHOD") or "") != "POST":
        return _text(http.HTTPStatus.METHOD_NOT_ALLOWED, f"{_PATH} takes POST", ("Allow", "POST"))
    body = _http.read_body(environ, max_body_bytes, what="the body", who="this witness")
    if isinstance(body, _http.Refusal):
        return _text(body.status, body.message)
    return witness.add_checkpoint(body)


def make_wsgi_app(
    witness: Witness, *, max_body_bytes: int = MAX_ADD_CHECKPOINT_BYTES
) -> _http.WSGIApp:
    """A WSGI application serving ``witness`` at ``POST /add-checkpoint`` (SPEC §6.4.5).

    Other paths are 404, other methods 405; a request needs a Content-Length (411) of at
    most ``max_body_bytes`` (413). Every answer carries Content-Length and
    ``Cache-Control: no-store``.
    """
    if not 0 < max_body_bytes <= MAX_ADD_CHECKPOINT_BYTES:
        raise ValueError(f"max_body_bytes must be in 1..{MAX_ADD_CHECKPOINT_BYTES}")

    def app(environ: dict[str, Any], start_response: _http.StartResponse) -> list[bytes]:
        response = _dispatch(witness, environ, max_body_bytes)
        return _http.respond(environ, start_response, response, ("Cache-Control", "no-store"))

    return app


class WitnessServer(_http.WaitressServer):
    """A witness's WSGI app on waitress, bound and ready to :meth:`serve_forever`."""


def make_witness_server(
    witness: Witness,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    threads: int = DEFAULT_WITNESS_THREADS,
    guard: ConnectionGuard = DEFAULT_CONNECTION_GUARD,
    max_body_bytes: int = MAX_ADD_CHECKPOINT_BYTES,
    wrap: Callable[[_http.WSGIApp], _http.WSGIApp] | None = None,
) -> WitnessServer:
    """Bind ``witness`` on waitress (SPEC §6.4.5); call :meth:`WitnessServer.serve_forever`.

    Waitress reads each request completely before a worker sees it, up to twice the body
    limit (so a body over it, up to twice, still gets this app's one-line 413) and answers
    413 itself beyond; ``guard`` sheds idle and trickling connections (SPEC §6.4.5), so a
    few hundred sockets cannot lock the log out of its cosignatures. ``wrap`` wraps the app
    (:func:`transparency_log.observe.instrument`: health, metrics, logs).
    """
    app = make_wsgi_app(witness, max_body_bytes=max_body_bytes)
    server = _http.create_waitress_server(
        app if wrap is None else wrap(app),
        host,
        port,
        threads=threads,
        max_body_bytes=max_body_bytes,
        ident="keybundle-witness",
        guard=guard,
    )
    return WitnessServer(server)


def serve_witness(
    witness: Witness, host: str, port: int, *, threads: int = DEFAULT_WITNESS_THREADS
) -> None:
    """Serve ``witness`` on ``host:port`` until interrupted (KeyboardInterrupt)."""
    server = make_witness_server(witness, host, port, threads=threads)
    _log.info("witness %s listening on http://%s:%d", witness.name, server.host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
