"""SPEC §8.2: judging log entries and replaying each fleet's history, as the log's admission does.

:func:`judge_bundle` is SPEC §6.3 rules 1.1-1.2 for one entry under the trust root in force;
:class:`FleetHistory` applies rule 1.3 (:func:`keybundle.admission.check_fleet_step`, the
very rule the log's admission applies) to each valid bundle in log order. The monitor that
finds misbehaviour (:mod:`keybundle.monitor`) and the verifier of the evidence it writes
(:mod:`keybundle.evidence`) both judge entries with this code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from . import admission
from .errors import Reason, VerificationError
from .payload import FleetKey, parse_payload
from .roles import verify_signed_bundle
from .trustroot import TrustRoot

__all__ = [
    "BundleFields",
    "BundleInfo",
    "FleetHead",
    "FleetHistory",
    "KeyInfo",
    "is_rotation",
    "judge_bundle",
    "judge_bundle_fields",
]

_SIGN1_PREFIX: Final = b"\xd2"  # CBOR tag 18: a signed bundle (SPEC §4.1)
_SIGN_PREFIX: Final = b"\xd8\x62"  # CBOR tag 98: a signed trust root (SPEC §5.2)


class KeyInfo(NamedTuple):
    """A fleet key as the auditor reports it (OPS §8.3 key deltas).

    A named tuple rather than a dataclass: the auditor makes one per key of every entry, in
    worker processes that send them back as plain tuples (OPS §8.1 step 4), so it is built
    and rebuilt cheaply (``KeyInfo._make(t)``).
    """

    key_id: str
    algorithm: str
    usage: str
    fingerprint: str
    """Lowercase hex SHA-256 of the public key (SPEC §3.2)."""

    @classmethod
    def of(cls, key: FleetKey) -> KeyInfo:
        """The report form of a parsed fleet key."""
        return cls(key.key_id, key.algorithm, key.usage, key.fingerprint)


@dataclass(frozen=True)
class BundleInfo:
    """A log entry that is a signed bundle valid under the trust root in force."""

    fleet: str
    epoch: int
    previous: bytes | None
    digest: bytes
    """SHA-256 of the entry (the signed-bundle bytes)."""
    keys: tuple[KeyInfo, ...]
    issued_at: int = 0
    """The payload's ``issued_at`` (SPEC §3.2): the date an auditor's report shows."""
    signers: tuple[str, ...] = ()
    """Who signed it, as ``role:organisation:kid-hex`` (independent first, then each
    countersigning operator key in the bundle's order), for the auditor's report (OPS §8.5)."""


def is_rotation(entry: bytes) -> bool:
    """Whether a log entry is judged as a signed trust root (SPEC §6.3: first bytes d8 62)."""
    return entry.startswith(_SIGN_PREFIX)


BundleFields = tuple[
    str, int, bytes | None, bytes, tuple[tuple[str, str, str, str], ...], int, tuple[str, ...]
]
"""A :class:`BundleInfo` as a plain tuple, its keys as plain tuples: what the auditor's
worker processes send back (pickling tuples costs a fraction of dataclasses)."""


def judge_bundle(entry: bytes, root: TrustRoot) -> BundleInfo:
    """SPEC §6.3 rules 1.1-1.2 for an entry that is not a rotation: valid bundle, or raise.

    An entry that does not start with ``d2`` is MALFORMED_COSE (SPEC §6.3); otherwise the
    signatures must meet ``root``'s roles (SPEC §5.4) and the payload must parse (SPEC §3.2).
    """
    fleet, epoch, previous, digest, keys, issued_at, signers = judge_bundle_fields(entry, root)
    return BundleInfo(
        fleet, epoch, previous, digest, tuple(map(KeyInfo._make, keys)), issued_at, signers
    )


def judge_bundle_fields(entry: bytes, root: TrustRoot) -> BundleFields:
    """:func:`judge_bundle`, its result as plain tuples (the auditor's hot path)."""
    if not entry.startswith(_SIGN1_PREFIX):
        raise VerificationError(
            Reason.MALFORMED_COSE,
            "a log entry must be a signed bundle (first byte d2) or a signed trust root (first "
            f"bytes d8 62); this one starts with {entry[:2].hex() or 'nothing (it is empty)'}",
        )
    verified = verify_signed_bundle(entry, root)
    payload = parse_payload(verified.payload)
    sha256 = hashlib.sha256
    return (
        payload.fleet_id,
        payload.epoch,
        payload.previous_digest,
        sha256(entry).digest(),
        tuple(
            [
                (k.key_id, k.algorithm, k.usage, sha256(k.public_key).hexdigest())
                for k in payload.keys
            ]
        ),
        payload.issued_at,
        tuple(
            [f"independent:{s.organisation}:{s.kid.hex()}" for s in verified.independent]
            + [f"operator:{s.organisation}:{s.kid.hex()}" for s in verified.operator]
        ),
    )


@dataclass(frozen=True)
class FleetHead(admission.FleetHead):
    """A fleet's latest admitted bundle (what its next epoch must follow), with its keys."""

    keys: tuple[KeyInfo, ...]
    """The bundle's keys, for the key delta of the fleet's next epoch (SPEC §8.2 step 3)."""


class FleetHistory:
    """Per-fleet heads, and SPEC §6.3 rule 1.3 applied to each new valid bundle in log order.

    :meth:`check` is :func:`keybundle.admission.check_fleet_step` (the rule the log's
    admission applies) against the fleet's head, its message prefixed with the entry's index;
    :meth:`admit` makes a bundle its fleet's head. A refused bundle never becomes a head.
    """

    def __init__(self, heads: Mapping[str, FleetHead] | None = None) -> None:
        self.heads: dict[str, FleetHead] = dict(heads or {})

    def check(self, info: BundleInfo, index: int) -> FleetHead | None:
        """Rule 1.3 for ``info`` at ``index``; return the head it follows (None at epoch 1)."""
        return self._step(info.fleet, info.epoch, info.previous, info.digest, index)

    def admit(self, info: BundleInfo, index: int) -> None:
        """Make ``info`` (which passed :meth:`check`) its fleet's head."""
        self.heads[info.fleet] = FleetHead(info.epoch, info.digest, index, info.keys)

    def advance(
        self,
        fleet: str,
        epoch: int,
        previous: bytes | None,
        digest: bytes,
        *,
        index: int,
        keys: tuple[KeyInfo, ...],
    ) -> FleetHead | None:
        """:meth:`check` and :meth:`admit` in one, from a bundle's fields: return the head it
        follows (None at epoch 1), or raise as :meth:`check` (the head stays).

        The auditor's hot path (OPS §8.1 step 4): one call per entry, without a
        :class:`BundleInfo` (issue 18).
        """
        head = self._step(fleet, epoch, previous, digest, index)
        self.heads[fleet] = FleetHead(epoch, digest, index, keys)
        return head

    def _step(
        self, fleet: str, epoch: int, previous: bytes | None, digest: bytes, index: int
    ) -> FleetHead | None:
        head = self.heads.get(fleet)
        try:
            admission.check_fleet_step(fleet, head, epoch, previous, digest)
        except VerificationError as e:
            raise VerificationError(e.reason, f"entry {index}: {e.message}") from None
        return head
