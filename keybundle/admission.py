"""SPEC §6.3 log admission: what a log opened with a trust root appends, and why not.

A log that clients rely on must hold only what a client would accept, so that the log is a
record of bundles rather than of whatever was submitted: every entry is either a signed bundle
whose signatures meet the trust root's roles (SPEC §5.4) and that continues its fleet's chain
exactly (epoch = previous + 1, previous-bundle digest = the digest of the fleet's previous
bundle in this log, epoch 1 once), or a signed trust root that is a valid rotation (SPEC §5.3)
of the log's current trust root, which clients must find in the log (SPEC §7.3 step 5). From a
rotation on, bundles are judged under the new root.

:class:`BundleAdmission` is the log writer's admission hook
(``transparency_log.appender.Admission``). Its state lives in two tables of the log's state
database, written inside the log's transaction, so it commits with each batch before the
checkpoint and is rolled back with it. Both tables are append-only histories keyed by log
index: the current state is derived from them (a fleet's head is its row of highest epoch,
the current trust root the row of highest version), so forgetting the entries at index ``s``
and above is one ``DELETE`` per table, and what remains is exactly the state as of size ``s``.

Admission reads no clock: whether a bundle is admitted depends only on the log's entries
before it, so anyone holding the log (an auditor) can replay it and reach the same verdicts.
Validity windows are the client's check (SPEC §7.3 step 9).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .errors import Reason, VerificationError
from .payload import parse_payload
from .roles import verify_signed_bundle
from .signed_trust_root import (
    parse_unverified_signed_trust_root,
    verify_rotation,
    verify_self_signed,
)
from .trustroot import TrustRoot

__all__ = [
    "GENESIS_INDEX",
    "AdmissionState",
    "BundleAdmission",
    "FleetHead",
    "check_fleet_step",
    "read_admission_state",
]

GENESIS_INDEX: Final = -1
"""The index recorded for the trust root the log was opened with (it is not a log entry)."""

_SIGN1_PREFIX: Final = b"\xd2"
"""CBOR head of tag 18, COSE_Sign1_Tagged (a signed bundle, SPEC §4.1): major type 6, 18."""
_SIGN_PREFIX: Final = b"\xd8\x62"
"""CBOR head of tag 98, COSE_Sign_Tagged (a signed trust root, SPEC §5.2): 0xd8, then 98."""

_SCHEMA: Final = (
    # One row per admitted signed bundle. UNIQUE (fleet, epoch) is the index of the fleet
    # lookups, and a last line of defence: one bundle per fleet epoch.
    "CREATE TABLE IF NOT EXISTS admission_bundles ("
    " idx INTEGER PRIMARY KEY,"
    " fleet TEXT NOT NULL,"
    " epoch INTEGER NOT NULL,"
    " digest BLOB NOT NULL,"
    " UNIQUE (fleet, epoch))",
    # One row per trust root in force at some size: the one the log was opened with at
    # GENESIS_INDEX, then one per admitted rotation at its log index.
    "CREATE TABLE IF NOT EXISTS admission_trust_roots ("
    " idx INTEGER PRIMARY KEY,"
    " version INTEGER NOT NULL UNIQUE,"
    " digest BLOB NOT NULL,"
    " signed BLOB NOT NULL)",
)


@dataclass(frozen=True)
class FleetHead:
    """The latest bundle of one fleet in the log: its epoch, digest and log index."""

    epoch: int
    digest: bytes
    """SHA-256 of the signed-bundle bytes: what the next epoch's previous digest must be."""
    index: int


@dataclass(frozen=True)
class AdmissionState:
    """What a log's admission knows at its published size (see :func:`read_admission_state`)."""

    trust_root_version: int
    trust_root_signed: bytes
    """The signed trust root in force: the one the log was opened with, or the last rotation."""
    fleets: Mapping[str, FleetHead]
    """Fleet id -> its latest bundle, for every fleet with a bundle in the log."""


def check_fleet_step(
    fleet: str,
    head: FleetHead | None,
    epoch: int,
    previous_digest: bytes | None,
    digest: bytes,
    *,
    logged_at: Callable[[int], int | None] | None = None,
) -> None:
    """SPEC §6.3 rule 1.3: may the fleet's next bundle in the log be this one? Raise if not.

    ``head`` is the fleet's bundle of highest epoch among the entries before (None: the fleet
    has none); ``epoch``, ``previous_digest`` and ``digest`` (SHA-256 of the signed-bundle
    bytes) describe the candidate. Pure: the log's admission and the auditor's replay (SPEC
    §8.2, :class:`keybundle.history.FleetHistory`) both call it, so the log and whoever
    checks it judge a fleet's chain by one rule, with one set of reason codes: EPOCH_GAP,
    EPOCH_CONFLICT, ROLLBACK, BROKEN_CHAIN. ``logged_at(e)``, where the caller can look it up,
    is the log index of the fleet's bundle of an earlier epoch ``e``, which a ROLLBACK
    message then names. Messages describe the log and what to submit instead; callers that
    judge a given entry prefix its index.
    """
    if head is None:
        if epoch != 1:
            raise VerificationError(
                Reason.EPOCH_GAP,
                f"fleet {fleet!r} has no bundle in this log yet; its first bundle must be "
                f"epoch 1, not {epoch}",
            )
        return
    top = head.epoch
    if epoch == top:
        raise VerificationError(
            Reason.EPOCH_CONFLICT,
            f"this log already holds fleet {fleet!r} epoch {epoch} at index {head.index} "
            f"(SHA-256 {head.digest.hex()}); this is a different bundle (SHA-256 "
            f"{digest.hex()}) for the same epoch. A fleet has one bundle per epoch: to rotate, "
            f"submit epoch {top + 1}",
        )
    if epoch < top:
        earlier = None if logged_at is None else logged_at(epoch)
        where = (
            f"its bundle is at index {earlier}"
            if earlier is not None
            else f"epoch {top} is at index {head.index}"
        )
        raise VerificationError(
            Reason.ROLLBACK,
            f"fleet {fleet!r} is at epoch {top} in this log; epoch {epoch} is behind it "
            f"({where}). Submit epoch {top + 1}",
        )
    if epoch != top + 1:
        raise VerificationError(
            Reason.EPOCH_GAP,
            f"fleet {fleet!r} is at epoch {top} in this log; submit epoch {top + 1}, not "
            f"{epoch} (epochs {top + 1}..{epoch - 1} are missing; epoch {top} is at index "
            f"{head.index})",
        )
    if previous_digest != head.digest:
        named = previous_digest.hex() if previous_digest is not None else "none"
        raise VerificationError(
            Reason.BROKEN_CHAIN,
            f"fleet {fleet!r} epoch {epoch} names previous-bundle digest {named}, but the "
            f"fleet's epoch-{top} bundle in this log (index {head.index}) has SHA-256 "
            f"{head.digest.hex()}; rebuild the bundle with that previous digest",
        )


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class BundleAdmission:
    """Admit only valid countersigned bundles and trust-root rotations (SPEC §6.3).

    ``trust_root_signed`` is the signed trust root (SPEC §5.2) the log starts with; it must
    verify as self-signed (``VerificationError`` otherwise, with its SPEC §5 reason). A log
    keeps the root it was created with: reopening it with another one is a ``ValueError``
    (rotations are entries of the log, not configuration).

    Implements ``transparency_log.appender.Admission``: pass it as ``admission=`` when
    opening the log, from its first entry on.
    """

    def __init__(self, trust_root_signed: bytes) -> None:
        if type(trust_root_signed) is not bytes:
            raise TypeError(
                f"trust_root_signed is the signed trust root's bytes, not "
                f"{type(trust_root_signed).__name__}"
            )
        root = verify_self_signed(trust_root_signed)
        self._genesis = trust_root_signed
        self._genesis_root = root
        # The trust root in force, cached by the digest of its signed bytes. The database is
        # the truth: check() compares digests, so a cache left stale by a rolled-back
        # transaction is never used.
        self._root = root
        self._root_digest = _digest(trust_root_signed)

    @property
    def genesis(self) -> TrustRoot:
        """The trust root this log was opened with."""
        return self._genesis_root

    # --- transparency_log.appender.Admission -------------------------------------------------

    def setup(self, txn: sqlite3.Connection) -> None:
        """Create the tables; record the starting trust root, or check it is the log's."""
        for statement in _SCHEMA:
            txn.execute(statement)
        row = txn.execute(
            "SELECT version, digest FROM admission_trust_roots WHERE idx = ?", (GENESIS_INDEX,)
        ).fetchone()
        if row is None:
            txn.execute(
                "INSERT INTO admission_trust_roots VALUES (?, ?, ?, ?)",
                (GENESIS_INDEX, self._genesis_root.version, self._root_digest, self._genesis),
            )
        elif row[1] != _digest(self._genesis):
            raise ValueError(
                f"this log was started with trust-root version {row[0]} (SHA-256 "
                f"{row[1].hex()}), not with the given version {self._genesis_root.version} "
                f"(SHA-256 {_digest(self._genesis).hex()}); open it with the trust root it was "
                "started with: later roots are rotations appended to the log"
            )
        self._current_root(txn)

    def check(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        """Admit ``entry`` as log index ``index`` and record it, or raise (SPEC §6.3)."""
        if entry.startswith(_SIGN_PREFIX):
            self._admit_rotation(entry, index, txn)
        elif entry.startswith(_SIGN1_PREFIX):
            self._admit_bundle(entry, index, txn)
        else:
            raise VerificationError(
                Reason.MALFORMED_COSE,
                "this log admits signed bundles (a COSE_Sign1, CBOR tag 18: first byte d2) and "
                "signed trust roots (a COSE_Sign, tag 98: first bytes d8 62); this entry "
                f"starts with {entry[:2].hex() or 'nothing (it is empty)'}",
            )

    def rollback(self, size: int, txn: sqlite3.Connection) -> None:
        """Forget the entries at ``size`` and above: the state becomes that of ``size``."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a non-negative int, not {size!r}")
        txn.execute("DELETE FROM admission_bundles WHERE idx >= ?", (size,))
        txn.execute("DELETE FROM admission_trust_roots WHERE idx >= ?", (size,))
        self._current_root(txn)

    # --- the two kinds of entry --------------------------------------------------------------

    def _current_root(self, txn: sqlite3.Connection) -> TrustRoot:
        row = txn.execute(
            "SELECT version, digest FROM admission_trust_roots ORDER BY version DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise ValueError("BundleAdmission.setup() must run before check() or rollback()")
        version, digest = row
        if digest != self._root_digest:
            (signed,) = txn.execute(
                "SELECT signed FROM admission_trust_roots WHERE version = ?", (version,)
            ).fetchone()
            # Verified when it was admitted (or as the self-signed start); the state database
            # is the writer's own, so parsing is enough.
            self._root = parse_unverified_signed_trust_root(signed).root
            self._root_digest = digest
        return self._root

    def _admit_rotation(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        # SPEC §6.3 rule 2: the next trust root, signed by the old and the new thresholds.
        current = self._current_root(txn)
        nxt = verify_rotation(current, entry)
        digest = _digest(entry)
        txn.execute(
            "INSERT INTO admission_trust_roots VALUES (?, ?, ?, ?)",
            (index, nxt.version, digest, entry),
        )
        self._root, self._root_digest = nxt, digest

    def _admit_bundle(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        # SPEC §6.3 rule 1, steps 1-2: signatures under the trust root in force (SPEC §5.4),
        # then the payload (SPEC §3.2).
        root = self._current_root(txn)
        payload = parse_payload(verify_signed_bundle(entry, root).payload)
        fleet, epoch = payload.fleet_id, payload.epoch
        digest = _digest(entry)

        # Step 3: the fleet's chain in this log.
        row = txn.execute(
            "SELECT epoch, digest, idx FROM admission_bundles WHERE fleet = ? "
            "ORDER BY epoch DESC LIMIT 1",
            (fleet,),
        ).fetchone()

        def logged_at(earlier: int) -> int | None:
            found = txn.execute(
                "SELECT idx FROM admission_bundles WHERE fleet = ? AND epoch = ?", (fleet, earlier)
            ).fetchone()
            return None if found is None else int(found[0])

        head = None if row is None else FleetHead(int(row[0]), bytes(row[1]), int(row[2]))
        check_fleet_step(fleet, head, epoch, payload.previous_digest, digest, logged_at=logged_at)
        txn.execute(
            "INSERT INTO admission_bundles VALUES (?, ?, ?, ?)", (index, fleet, epoch, digest)
        )


def read_admission_state(db: sqlite3.Connection) -> AdmissionState:
    """The admission state recorded in a log's state database (``index.sqlite3``).

    For monitoring and tests; read it while no batch is being integrated (after the log is
    closed, or in a read transaction), since the writer records a batch before publishing
    its checkpoint.
    """
    row = db.execute(
        "SELECT version, signed FROM admission_trust_roots ORDER BY version DESC LIMIT 1"
    ).fetchone()
    if row is None:
        raise ValueError("this state database holds no admission state")
    fleets = {
        fleet: FleetHead(epoch, digest, index)
        # SQLite: with max(), the bare columns come from the row holding the maximum.
        for fleet, epoch, digest, index in db.execute(
            "SELECT fleet, max(epoch), digest, idx FROM admission_bundles "
            "GROUP BY fleet ORDER BY fleet"
        )
    }
    return AdmissionState(int(row[0]), bytes(row[1]), MappingProxyType(fleets))
