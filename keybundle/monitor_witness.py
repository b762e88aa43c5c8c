"""OPS §8.1 witness mode: submit a checkpoint the monitor verified to its own tlog-witness.

The witness is a C2SP tlog-witness (:class:`transparency_log.witness.Witness`), which may also
be serving the log's own ``add-checkpoint`` requests: the request goes through its checks,
its lock and its state like any other, with the consistency proof from the tree it holds read
from tiles authenticated against the checkpoint. So the witness's state advances to every
checkpoint the monitor verified, and it cosigns only trees consistent with all of them.

:func:`submit_checkpoint` returns what happened as a typed outcome; the monitor
(:mod:`keybundle.monitor`) turns it into events, evidence and its status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from transparency_log.checkpoint import VerifiedCheckpoint
from transparency_log.errors import LogReason
from transparency_log.witness import Witness, format_add_checkpoint_request

from .errors import Reason, VerificationError

__all__ = [
    "MAX_WITNESS_SUBMISSIONS",
    "Cosigned",
    "Superseded",
    "WitnessFailure",
    "WitnessMisbehaviour",
    "WitnessOutcome",
    "submit_checkpoint",
]

MAX_WITNESS_SUBMISSIONS: Final = 3
"""Requests to the monitor's own witness per verified checkpoint (OPS §8.1 witness mode):
one, and up to two more after a 409 names the size the witness holds."""


@dataclass(frozen=True)
class Cosigned:
    """The witness cosigned: ``body`` is its answer, the cosignature line(s)."""

    body: bytes


@dataclass(frozen=True)
class Superseded:
    """The witness holds a larger tree the log submitted since; the next pass verifies it."""


@dataclass(frozen=True)
class WitnessMisbehaviour:
    """The witness's answer proves the log showed it another history (OPS §8.3 kinds)."""

    kind: str
    reason: Reason | LogReason
    message: str


@dataclass(frozen=True)
class WitnessFailure:
    """The checkpoint could not be cosigned this pass (not proof of misbehaviour)."""

    message: str
    reason: str | None = None


WitnessOutcome = Cosigned | Superseded | WitnessMisbehaviour | WitnessFailure
"""What :func:`submit_checkpoint` found."""


def submit_checkpoint(
    witness: Witness,
    cp: VerifiedCheckpoint,
    consistency_proof: Callable[[int], list[bytes]],
) -> WitnessOutcome:
    """Submit ``cp`` to ``witness``; ``consistency_proof(old)`` proves ``old`` -> ``cp``.

    The first request assumes the witness holds ``cp``'s own size (the log submitted it);
    a 409 names the size it holds instead, and the request is made again from there, at most
    :data:`MAX_WITNESS_SUBMISSIONS` times in all.
    """
    size = cp.checkpoint.size
    old = size  # usually the witness holds this very tree (the log submitted it)
    for _ in range(MAX_WITNESS_SUBMISSIONS):
        try:
            proof = consistency_proof(old) if 0 < old < size else []
        except VerificationError as e:
            return WitnessFailure(
                f"the consistency proof from size {old} for this monitor's witness does "
                f"not authenticate: {e.message}",
                e.reason,
            )
        answer = witness.add_checkpoint(format_add_checkpoint_request(old, proof, cp.note_text))
        if answer.status == HTTPStatus.OK:
            return Cosigned(answer.body)
        if answer.status == HTTPStatus.UNPROCESSABLE_ENTITY:
            return WitnessMisbehaviour(
                "inconsistent_checkpoints",
                LogReason.BAD_CONSISTENCY_PROOF,
                f"this monitor's witness cosigned a tree of size {old}, which the log "
                f"submitted to it, but the checkpoint of size {size} verified here does not "
                "extend it: the log showed the witness another history (a fork). The "
                "witness logged the log's signed request",
            )
        held = _held_size(answer.status, answer.body)
        if held is None:
            text = answer.body.decode("utf-8", "replace").strip()
            return WitnessFailure(
                f"this monitor's witness did not cosign the checkpoint of size {size}: "
                f"HTTP {answer.status}: {text}"
            )
        if held == old:  # it holds another tree of this very size
            return WitnessMisbehaviour(
                "split_view",
                Reason.INCONSISTENT_CHECKPOINT,
                f"this monitor's witness cosigned a tree of size {size} that the log "
                f"submitted to it, with another root than the checkpoint "
                f"{cp.checkpoint.root_hash.hex()} the log publishes: a split view",
            )
        if held > size:
            # The log has since submitted a newer checkpoint, which the witness checked
            # against the trees it holds; the next pass verifies that one.
            return Superseded()
        old = held
    return WitnessFailure(
        f"this monitor's witness kept changing its tree size during {MAX_WITNESS_SUBMISSIONS} "
        "requests; the checkpoint was not cosigned this pass"
    )


def _held_size(status: int, body: bytes) -> int | None:
    """The tree size in a witness's 409 answer (SPEC §6.4.2 step 5), else None."""
    if status != HTTPStatus.CONFLICT or not body.endswith(b"\n"):
        return None
    digits = body[:-1]
    if not digits.isascii() or not digits.isdigit() or str(int(digits)).encode() != digits:
        return None
    return int(digits)


