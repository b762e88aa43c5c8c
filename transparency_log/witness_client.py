"""C2SP tlog-witness, log side: collect cosignatures on a new checkpoint (SPEC §6.4.4).

The log submits its signed checkpoint with a consistency proof to each witness's
``add-checkpoint`` endpoint, starting from the size it believes the witness holds. A 409
answer names the size the witness really holds; the log fetches the proof from there and
tries again, a bounded number of times. Every cosignature a witness returns is verified
against that witness's key before it is accepted, and lines by other keys are ignored
(C2SP tlog-witness §add-checkpoint). One witness failing (down, slow, refusing, lying) never
stops the others: each outcome is reported, and the caller decides whether enough witnesses
cosigned.

Each request runs under one deadline for the whole exchange, connection and answer included
(:mod:`transparency_log.http_deadline`), so a slow witness costs a publication at most
``max_attempts * timeout`` seconds (SPEC §6.4.4, §11).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import requests

from transparency_log import http_deadline
from transparency_log.checkpoint import parse_checkpoint
from transparency_log.errors import LogReason, VerificationError
from transparency_log.note import (
    MAX_NOTE_SIGNATURES,
    Signature,
    Verifier,
    Verifiers,
    open_note,
    parse_unverified,
)
from transparency_log.witness import SIZE_CONTENT_TYPE, format_add_checkpoint_request

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_WITNESS_ATTEMPTS",
    "MAX_WITNESS_RESPONSE_BYTES",
    "CollectedCosignatures",
    "WitnessEndpoint",
    "WitnessOutcome",
    "collect_cosignatures",
    "merge_signature_lines",
]

DEFAULT_TIMEOUT_SECONDS = 10.0
"""Time allowed for one witness request, from connecting to the answer's last byte (SPEC §11)."""

MAX_WITNESS_ATTEMPTS = 3
"""Requests per witness per checkpoint (SPEC §11): the first, and up to two retries after a
409 names another size. A witness that keeps moving is reported, not chased forever."""

MAX_WITNESS_RESPONSE_BYTES = 64 * 1024
"""Largest witness answer read (SPEC §11). A cosignature line is about 150 bytes; a witness
sending more than this is broken or hostile and is reported as failed."""

ProofSource = Callable[[int], Sequence[bytes]]
"""Given an old size, the consistency proof from it to the checkpoint's size."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """One witness the log asks: its submission prefix URL and its cosignature key."""

    url: str
    """The submission prefix; the request goes to ``<url>/add-checkpoint``."""
    verifier: Verifier
    """The witness's cosignature/v1 key (type 0x04), as the log's policy names it."""

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise ValueError(f"witness URL {self.url!r} must start with http:// or https://")

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self.verifier.name


@dataclass(frozen=True)
class WitnessOutcome:
    """What one witness did with the checkpoint."""

    witness: WitnessEndpoint
    cosignatures: tuple[Signature, ...]
    """The witness's cosignatures that verified; empty if it failed."""
    error: str | None
    """Why no cosignature was obtained, for the operator; None on success."""
    witness_size: int | None = None
    """The tree size the witness reported holding (after success: the checkpoint's size)."""
    seconds: float = 0.0
    """How long asking this witness took, every attempt included (for the log's metrics)."""

    @property
    def ok(self) -> bool:
        """Whether the witness returned a cosignature that verified."""
        return self.error is None


@dataclass(frozen=True)
class CollectedCosignatures:
    """The checkpoint with every verified cosignature appended, and each witness's outcome."""

    signed_checkpoint: bytes
    """The log's signed note with the new cosignature lines appended."""
    outcomes: tuple[WitnessOutcome, ...]
    """One per witness, in the order given."""

    @property
    def cosignature_lines(self) -> tuple[str, ...]:
        """The verified cosignature lines that were collected, in witness order."""
        return tuple(sig.to_line() for o in self.outcomes for sig in o.cosignatures)

    @property
    def failures(self) -> tuple[WitnessOutcome, ...]:
        """The witnesses that did not cosign."""
        return tuple(o for o in self.outcomes if not o.ok)


def merge_signature_lines(signed_note: bytes, lines: Iterable[str]) -> bytes:
    """Append signature lines to a signed note, skipping lines it already carries.

    Each line must be one well-formed note signature line (``— <name> <base64>``, with or
    without its final newline); the note keeps its own lines first, in order. A result over
    the note limits raises ValueError, as does a malformed line: both come from the caller.
    Nothing is verified here; call this only with lines that verified.
    """
    try:
        text, existing = parse_unverified(signed_note)
    except VerificationError as e:
        raise ValueError(f"cannot add signatures to a malformed note: {e.message}") from e
    merged = list(existing)
    for line in lines:
        body = line if line.endswith("\n") else line + "\n"
        probe = text + "\n" + body
        try:
            _, (sig,) = parse_unverified(probe.encode("utf-8"))
        except (VerificationError, ValueError) as e:
            raise ValueError(f"{line[:80]!r} is not one note signature line") from e
        if sig not in merged:
            merged.append(sig)
    if len(merged) > MAX_NOTE_SIGNATURES:
        raise ValueError(
            f"the note would carry {len(merged)} signatures; at most {MAX_NOTE_SIGNATURES}"
        )
    return (text + "\n" + "".join(sig.to_line() for sig in merged)).encode("utf-8")


def collect_cosignatures(
    signed_checkpoint: bytes,
    old_size: int,
    consistency_proof_for: ProofSource,
    witnesses: Sequence[WitnessEndpoint],
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_attempts: int = MAX_WITNESS_ATTEMPTS,
    session_factory: Callable[[], requests.Session] = requests.Session,
) -> CollectedCosignatures:
    """Ask every witness to cosign ``signed_checkpoint``; return what verified (SPEC §6.4.4).

    ``old_size`` is the size the log believes the witnesses hold (0 if it does not know);
    ``consistency_proof_for(n)`` returns the consistency proof from size ``n`` to the
    checkpoint's size, and is called only for ``0 < n < size`` (the proof is empty
    otherwise). Witnesses are asked in parallel, each with ``timeout`` seconds per request
    and at most ``max_attempts`` requests. Witness failures, and errors (``ValueError``,
    ``LookupError``, ``OSError``, ``VerificationError``) from ``consistency_proof_for``, are
    reported in the outcomes; they never raise. A malformed ``signed_checkpoint`` or an
    ``old_size`` beyond its size is a caller mistake (ValueError).
    """
    try:
        text, _ = parse_unverified(signed_checkpoint)
        size = parse_checkpoint(text).size
    except VerificationError as e:
        raise ValueError(f"signed_checkpoint is not a signed checkpoint: {e.message}") from e
    if isinstance(old_size, bool) or not isinstance(old_size, int):
        raise TypeError(f"old_size must be int, not {type(old_size).__name__}")
    if not 0 <= old_size <= size:
        raise ValueError(f"old_size {old_size} is outside 0..{size} (the checkpoint size)")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if not witnesses:
        return CollectedCosignatures(signed_checkpoint, ())

    job = _Job(signed_checkpoint, text, size, old_size, consistency_proof_for, timeout)

    def ask(witness: WitnessEndpoint) -> WitnessOutcome:
        started = time.monotonic()
        with http_deadline.bounded_session(session_factory) as session:
            outcome = _ask_witness(session, witness, job, max_attempts)
        return replace(outcome, seconds=time.monotonic() - started)

    with ThreadPoolExecutor(max_workers=min(len(witnesses), 16)) as pool:
        outcomes = tuple(pool.map(ask, witnesses))
    lines = [sig.to_line() for outcome in outcomes for sig in outcome.cosignatures]
    return CollectedCosignatures(merge_signature_lines(signed_checkpoint, lines), outcomes)


@dataclass(frozen=True)
class _Job:
    """What every witness is asked about: one checkpoint."""

    signed_checkpoint: bytes
    text: str
    size: int
    old_size: int
    consistency_proof_for: ProofSource
    timeout: float


def _ask_witness(
    session: requests.Session, witness: WitnessEndpoint, job: _Job, max_attempts: int
) -> WitnessOutcome:
    def failed(error: str, witness_size: int | None = None) -> WitnessOutcome:
        return WitnessOutcome(witness, (), error, witness_size)

    size = job.size
    url = witness.url.rstrip("/") + "/add-checkpoint"
    assumed = job.old_size
    for _ in range(max_attempts):
        try:
            proof = list(job.consistency_proof_for(assumed)) if 0 < assumed < size else []
        except (ValueError, LookupError, OSError, VerificationError) as e:
            return failed(f"no consistency proof from size {assumed} to {size}: {e}", assumed)
        try:
            body = format_add_checkpoint_request(assumed, proof, job.signed_checkpoint)
            status, content_type, answer = _post(session, url, body, job.timeout)
        except (requests.RequestException, http_deadline.DeadlineExceededError) as e:
            return failed(f"request to {url} failed: {http_deadline.short_reason(e)}")
        except ValueError as e:
            return failed(f"request to {url} failed: {e}")
        if status == 200:
            try:
                sigs = _verify_cosignatures(witness, job.text, answer)
            except VerificationError as e:
                return failed(f"rejected the witness's answer ({e.reason}): {e.message}")
            return WitnessOutcome(witness, sigs, None, size)
        if status != 409:
            snippet = answer[:200].decode("utf-8", "replace").strip()
            return failed(f"HTTP {status} from {url}: {snippet}")
        held = _parse_size_answer(content_type, answer)
        if held is None:
            return failed(f"409 from {url} without a well-formed {SIZE_CONTENT_TYPE} body")
        if held == assumed:
            return failed(
                f"the witness holds a different tree of size {held} than the one this "
                "checkpoint extends: the log may have forked (split view); keep both "
                "checkpoints as evidence",
                held,
            )
        if held > size:
            return failed(
                f"the witness already cosigned a larger tree ({held} leaves) than this "
                f"checkpoint ({size}); the log may be rolling back or split",
                held,
            )
        assumed = held
    return failed(f"still in conflict after {max_attempts} attempts", assumed)


def _post(
    session: requests.Session, url: str, body: bytes, timeout: float
) -> tuple[int, str, bytes]:
    """POST and read at most MAX_WITNESS_RESPONSE_BYTES, all within ``timeout`` seconds."""
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    with http_deadline.bounded_request(
        session, "POST", url, timeout=timeout, headers=headers, data=body
    ) as answer:
        try:
            data = answer.read(MAX_WITNESS_RESPONSE_BYTES)
        except http_deadline.AnswerTooLargeError:
            raise ValueError(f"answer is over {MAX_WITNESS_RESPONSE_BYTES} bytes") from None
        return answer.status, answer.header("Content-Type"), data


def _parse_size_answer(content_type: str, answer: bytes) -> int | None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != SIZE_CONTENT_TYPE or not answer.endswith(b"\n"):
        return None
    digits = answer[:-1]
    if not digits.isdigit() or not digits.isascii() or len(digits) > 19:
        return None
    if digits != b"0" and digits.startswith(b"0"):
        return None
    return int(digits)


def _verify_cosignatures(
    witness: WitnessEndpoint, text: str, answer: bytes
) -> tuple[Signature, ...]:
    """The answer's lines by the witness's key, verified over the checkpoint text.

    Following C2SP tlog-witness, the answer is appended to the checkpoint text and opened as
    a note with the witness's key alone: lines by other keys are ignored, a line by the
    witness's key that does not verify rejects the whole answer.
    """
    if not answer:
        raise VerificationError(LogReason.MALFORMED_NOTE, "the witness answered 200 with no body")
    note = open_note(text.encode("utf-8") + b"\n" + answer, Verifiers([witness.verifier]))
    return note.sigs
