"""OPS §7.7: universal OTA packages at fleet scale, built from what the log itself holds.

The log is the record of everything a client may need: every fleet's bundles and every
trust-root rotation, in order. :class:`LogHistory` replays it from a starting trust root (the
root the oldest supported app pins, normally the log's genesis root, SPEC §6.3) the way the
log's admission judged it: a rotation entry is adopted when it is a valid rotation of the root
in force (SPEC §5.3); a bundle is a fleet's new head when its signatures meet the root in force
at its log position (SPEC §5.4) and it continues the fleet's chain (SPEC §6.3 rule 1.3).
Entries that fail are skipped and counted (a log opened without admission may hold them);
none of them ever reaches a package.

A *universal* package for a fleet (OPS §7.7) is then: the fleet's latest bundle, its
inclusion proof under the latest checkpoint, every rotation of the log (in version order, each
proven under the same checkpoint) so that a client pinned to any older root catches up, and
optionally a consistency proof from the previous published checkpoint. Every legitimate client
state accepts it (SPEC §7.3), and verifying it again changes nothing.

:class:`PackageSet` builds the packages of one checkpoint (the rotations and the consistency
proof once, then one inclusion proof and one encoding per fleet); :class:`Publisher` writes
them as static files for a web server or CDN, incrementally; :class:`PackageSource` keeps them
in memory for a service that puts the package inside its own responses.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from transparency_log import durable
from transparency_log.checkpoint import VerifiedCheckpoint, verify_checkpoint
from transparency_log.fetcher import Fetcher
from transparency_log.tile import TILE_WIDTH
from transparency_log.tlog_client import LogClient
from transparency_log.tlog_proof import TLOG_PROOF_HEADER

from . import admission, dcbor
from .errors import VerificationError
from .package import MAX_ROTATIONS, ConsistencyProof, Package, RotationEntry
from .payload import parse_payload
from .roles import verify_signed_bundle
from .signed_trust_root import verify_rotation, verify_self_signed
from .trustroot import TrustRoot

__all__ = [
    "DEFAULT_GENERATION_GRACE",
    "FLEETS_DIR",
    "GENERATIONS",
    "INDEX_FILE",
    "INDEX_FORMAT",
    "MAX_PUBLISH_STATE_BYTES",
    "STATE_FILE",
    "FleetHead",
    "LogHistory",
    "PackageSet",
    "PackageSource",
    "PublishResult",
    "Publisher",
    "Rotation",
    "active_generation",
    "fleet_path",
    "log_client_for",
    "quorum_short",
]

FLEETS_DIR: Final = "fleets"
"""Where a fleet's package lives under the output directory: ``fleets/<fleet id>.cbor``."""
INDEX_FILE: Final = "index.json"
"""The published index of fleets and packages (OPS §7.7)."""
INDEX_FORMAT: Final = "keybundle-packages/v1"
STATE_FILE: Final = ".publish-state.json"
"""The publisher's own state (never served): what it read of the log, checksummed."""
STATE_FORMAT: Final = "keybundle-publish-state/v1"
MAX_PUBLISH_STATE_BYTES: Final = 256 * 1024 * 1024
"""Largest publisher state file read back (about two million fleets)."""

_SIGN1_PREFIX: Final = b"\xd2"
_SIGN_PREFIX: Final = b"\xd8\x62"
_FLEET_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def fleet_path(fleet: str) -> str:
    """``fleets/<fleet id>.cbor``: the published path of a fleet's package (OPS §7.7).

    A fleet id is 1 to 64 characters of ``[a-z0-9._-]`` starting with a letter or digit
    (SPEC §3.2), so it is its own safe file name: no separator, no leading dot, nothing a
    URL or a file system would re-interpret. Anything else is a ``ValueError``.
    """
    if (
        not isinstance(fleet, str)
        or not 1 <= len(fleet) <= 64
        or not set(fleet) <= _FLEET_CHARS
        or not fleet[0].isalnum()
    ):
        raise ValueError(f"{fleet!r} is not a fleet id (SPEC §3.2)")
    return f"{FLEETS_DIR}/{fleet}.cbor"


@dataclass(frozen=True)
class Rotation:
    """A trust-root rotation the log holds: the signed root, its index and version."""

    index: int
    version: int
    signed: bytes

    @property
    def digest(self) -> bytes:
        """SHA-256 of the signed trust root."""
        return _sha256(self.signed)


@dataclass(frozen=True)
class FleetHead:
    """A fleet's latest valid bundle in the log."""

    fleet: str
    epoch: int
    index: int
    digest: bytes
    """SHA-256 of the signed bundle (what the fleet's next epoch names as previous)."""
    signed_bundle: bytes
    not_after: int
    trust_root_version: int
    """The version of the trust root in force at the bundle's log position (SPEC §7.3)."""


@dataclass
class LogHistory:
    """The log's rotations and each fleet's head, replayed in index order (module doc).

    ``start`` is the root the replay begins with (verified as self-signed by the caller, or
    the log's genesis root). :meth:`apply` judges one entry; :attr:`size` is how many were
    judged, so a later :meth:`scan` reads only the new ones. With ``bundles=False`` only the
    rotations are judged (what ``package build`` and ``log rotations`` need): a bundle costs
    two signature checks, a skipped one nothing.
    """

    start: TrustRoot
    bundles: bool = True
    size: int = 0
    rotations: list[Rotation] = field(default_factory=list)
    fleets: dict[str, FleetHead] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(index, reason) of each entry that is neither a valid rotation nor a valid bundle."""
    _roots: list[TrustRoot] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self._roots:
            self._roots = [self.start]

    @property
    def current(self) -> TrustRoot:
        """The trust root in force after the entries judged so far."""
        return self._roots[-1]

    @property
    def roots(self) -> tuple[TrustRoot, ...]:
        """The starting root, then the root of each rotation, in version order."""
        return tuple(self._roots)

    def root_at(self, index: int) -> TrustRoot:
        """The root in force for entry ``index``: the last rotation at a lower index."""
        root = self._roots[0]
        for rotation, after in zip(self.rotations, self._roots[1:], strict=True):
            if rotation.index < index:
                root = after
        return root

    def apply(self, index: int, entry: bytes) -> str:
        """Judge entry ``index`` (the next one); return ``rotation``, ``bundle`` or ``skipped``."""
        if index != self.size:
            raise ValueError(f"entry {index} is not the next one: {self.size} were judged")
        self.size += 1
        root = self.current
        try:
            if entry.startswith(_SIGN_PREFIX):
                nxt = verify_rotation(root, entry)
                self.rotations.append(Rotation(index, nxt.version, entry))
                self._roots.append(nxt)
                return "rotation"
            if not entry.startswith(_SIGN1_PREFIX):
                self.skipped.append((index, "MALFORMED_COSE"))
                return "skipped"
            if not self.bundles:
                return "bundle"
            payload = parse_payload(verify_signed_bundle(entry, root).payload)
            digest = _sha256(entry)
            head = self.fleets.get(payload.fleet_id)
            admission.check_fleet_step(
                payload.fleet_id,
                None if head is None else admission.FleetHead(head.epoch, head.digest, head.index),
                payload.epoch,
                payload.previous_digest,
                digest,
            )
        except VerificationError as e:
            self.skipped.append((index, e.reason))
            return "skipped"
        self.fleets[payload.fleet_id] = FleetHead(
            payload.fleet_id,
            payload.epoch,
            index,
            digest,
            entry,
            payload.not_after,
            root.version,
        )
        return "bundle"

    def adopt(self, rotation: Rotation, root: TrustRoot) -> None:
        """Record a rotation judged elsewhere (a saved state re-checked against the log)."""
        self.rotations.append(rotation)
        self._roots.append(root)

    def scan(self, client: LogClient, checkpoint: VerifiedCheckpoint) -> int:
        """Judge the entries from :attr:`size` to the checkpoint's size; return how many.

        Every entry is authenticated against the checkpoint (SPEC §6.5.4) before it is
        judged. A checkpoint smaller than :attr:`size` is a ``ValueError`` (the caller
        checked consistency first).
        """
        size = checkpoint.checkpoint.size
        if size < self.size:
            raise ValueError(f"the checkpoint has {size} entries; {self.size} were judged")
        start = self.size
        for entry in client.entries(start, size, checkpoint):
            self.apply(entry.index, entry.data)
        return size - start

    def chain(self, cap: int = MAX_ROTATIONS) -> list[Rotation]:
        """The rotations a universal package carries: all of them, at most the last ``cap``."""
        return self.rotations[-cap:] if cap else []


def _read_entries(
    client: LogClient, indices: Iterable[int], checkpoint: VerifiedCheckpoint
) -> dict[int, bytes]:
    """The log's entries at ``indices``, one authenticated entry bundle read per bundle."""
    by_bundle: dict[int, list[int]] = {}
    for i in indices:
        by_bundle.setdefault(i // TILE_WIDTH, []).append(i)
    size = checkpoint.checkpoint.size
    found: dict[int, bytes] = {}
    for n, wanted in sorted(by_bundle.items()):
        first = n * TILE_WIDTH
        stop = min(size, max(wanted) + 1)
        want = set(wanted)
        for entry in client.entries(first, stop, checkpoint):
            if entry.index in want:
                found[entry.index] = entry.data
    return found


class PackageSet:
    """The universal packages of one verified checkpoint (OPS §7.7), built on demand.

    The rotations' inclusion proofs and the consistency proof from ``previous_size`` (when it
    is smaller than the checkpoint's size) are computed once, here; :meth:`package` adds one
    inclusion proof and one encoding per fleet. Not thread-safe (the :class:`LogClient` is
    not): :class:`PackageSource` serialises the calls.
    """

    def __init__(
        self,
        client: LogClient,
        history: LogHistory,
        checkpoint: VerifiedCheckpoint,
        *,
        previous_size: int | None = None,
        chain_cap: int = MAX_ROTATIONS,
    ) -> None:
        if history.size != checkpoint.checkpoint.size:
            raise ValueError(
                f"the history judged {history.size} entries, the checkpoint has "
                f"{checkpoint.checkpoint.size}: scan it first"
            )
        self.client = client
        self.history = history
        self.checkpoint = checkpoint
        size = checkpoint.checkpoint.size
        self.rotations = tuple(
            RotationEntry(
                r.signed, r.index, tuple(client.inclusion_proof(r.index, checkpoint).hashes)
            )
            for r in history.chain(chain_cap)
        )
        self.consistency: ConsistencyProof | None = None
        if previous_size is not None and 0 < previous_size < size:
            self.consistency = ConsistencyProof(
                previous_size, tuple(client.consistency_proof(previous_size, checkpoint))
            )

        # Everything after field 3 is the same in every fleet's package: encode it once.
        tail: dict[int | str, dcbor.CborValue] = {}
        if self.consistency is not None:
            tail[4] = [self.consistency.old_size, list(self.consistency.hashes)]
        if self.rotations:
            tail[5] = [[r.signed_trust_root, r.index, list(r.hashes)] for r in self.rotations]
        self._head = dcbor.encode_head(5, 3 + len(tail)) + b"\x01\x01\x02"
        self._tail = dcbor.encode(tail)[1:]  # the map's one-byte head dropped: fewer than 24
        self._note = b"\n\n" + checkpoint.note_text

    @property
    def fleets(self) -> Mapping[str, FleetHead]:
        """Every fleet with a valid bundle in the log, by id."""
        return self.history.fleets

    def package(self, fleet: str) -> bytes:
        """The universal package of ``fleet`` (``KeyError`` if the log holds none).

        Byte for byte ``Package(...).encode()`` (SPEC §7.1; the tests compare the two for
        every fleet), assembled from the parts shared by all fleets: a package is a map of
        fields 1 to 5 in order, and only fields 2 and 3 differ between fleets.
        """
        head = self.history.fleets[fleet]
        proof = self.client.inclusion_proof(head.index, self.checkpoint)
        lines = [TLOG_PROOF_HEADER, f"index {proof.index}"]
        lines.extend(base64.b64encode(h).decode("ascii") for h in proof.hashes)
        text = "\n".join(lines).encode("ascii") + self._note
        bundle = head.signed_bundle
        return b"".join(
            (
                self._head,
                dcbor.encode_head(2, len(bundle)),
                bundle,
                b"\x03",
                dcbor.encode_head(3, len(text)),
                text,
                self._tail,
            )
        )

    def encode(self, fleet: str) -> bytes:
        """The same package through :meth:`Package.encode` (the reference, for tests)."""
        head = self.history.fleets[fleet]
        proof = self.client.inclusion_proof(head.index, self.checkpoint)
        return Package(head.signed_bundle, proof, self.consistency, self.rotations).encode()


def quorum_short(checkpoint_note: bytes, roots: Iterable[TrustRoot], now: int) -> tuple[int, ...]:
    """The versions among ``roots`` whose clients would not count a fresh quorum on this note.

    A client judges the checkpoint under the policy of the root in force before the package
    (SPEC §7.3 steps 3-4), so a universal package's checkpoint must be cosigned by a fresh
    quorum of every supported version's witnesses (SPEC §7.1). Returns the versions it is not
    (an empty tuple when every one is satisfied); a version whose log key does not sign the
    note (a rotation that moved clients to another log) is among them.
    """
    short = []
    for root in roots:
        try:
            verified = verify_checkpoint(
                checkpoint_note,
                root.log.verifier(),
                origin=root.log.origin,
                witnesses=tuple(root.policy.witness_verifiers()),
            )
        except VerificationError:
            short.append(root.version)
            continue
        oldest = now - root.limits.max_cosignature_age
        newest = now + root.limits.clock_skew
        fresh = {name for name, t in verified.cosignatures.items() if oldest <= t <= newest}
        if not root.policy.quorum_satisfied(fresh):
            short.append(root.version)
    return tuple(short)


def log_client_for(fetcher: Fetcher, root: TrustRoot) -> LogClient:
    """A :class:`LogClient` reading the log ``root``'s policy names, with its witnesses."""
    return LogClient(
        fetcher,
        root.log.verifier(),
        origin=root.log.origin,
        witnesses=tuple(root.policy.witness_verifiers()),
    )


def _start_root(trust_root: bytes | TrustRoot) -> TrustRoot:
    if isinstance(trust_root, TrustRoot):
        return trust_root
    if type(trust_root) is not bytes:
        raise TypeError("trust_root is a signed trust root (bytes) or a verified TrustRoot")
    return verify_self_signed(trust_root)


# --- writing files -------------------------------------------------------------------------


GENERATIONS: Final = (".fleets-a", ".fleets-b")
"""The two directories the ``fleets`` symbolic link alternates between (OPS §7.7)."""
DEFAULT_GENERATION_GRACE: Final = 5.0
"""Seconds a generation stays untouched after it stops being served (OPS §7.7)."""


def active_generation(out: Path) -> str | None:
    """The generation ``out/fleets`` points at, None before the first publication.

    Anything else at that path (a directory, a link elsewhere) is a ``ValueError``: the
    publisher never replaces what it did not make.
    """
    link = out / FLEETS_DIR
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError:
        raise ValueError(
            f"{link} exists and is not the symbolic link 'keybundle package publish' makes; "
            "publish into a new directory"
        ) from None
    if target not in GENERATIONS:
        raise ValueError(f"{link} points at {target!r}, not at a generation of the publisher")
    return target


def _write_generation(
    out: Path,
    files: Mapping[str, bytes],
    *,
    grace: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Publish ``files`` (name -> bytes) as the new contents of ``out/fleets`` (OPS §7.7).

    ``out/fleets`` is a symbolic link to one of two generation directories. The files are
    written into the other one, in place (:func:`durable.overwrite_in_place`: no file is
    created or freed once both generations exist), flushed to storage at once
    (:func:`durable.sync_filesystem`), and then the link is replaced atomically
    (:func:`durable.replace_symlink`). A reader resolves the link when it opens a file, so
    it reads a whole generation, old or new; a crash at any point leaves the served
    generation intact. The generation overwritten is the one served before the last switch,
    so the pass first waits until that switch is ``grace`` seconds old: long enough for any
    reader that opened a file before it to have read it (nginx reads a package in one go).
    """
    active = active_generation(out)
    target = GENERATIONS[1] if active == GENERATIONS[0] else GENERATIONS[0]
    link = out / FLEETS_DIR
    if active is not None:
        wait = os.lstat(link).st_mtime + grace - time.time()
        if wait > 0:
            sleep(min(wait, grace))
    directory = out / target
    directory.mkdir(exist_ok=True)
    for name, data in files.items():
        durable.overwrite_in_place(directory / name, data)
    durable.sync_filesystem(directory)
    durable.replace_symlink(link, target)


# --- the publisher's state ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class PublishResult:
    """What one :meth:`Publisher.publish` pass did."""

    changed: bool
    """Whether the checkpoint differed from the last published one (files were rewritten)."""
    size: int
    fleets: int
    new_entries: int
    """Entries read from the log in this pass."""
    rebuilt: bool
    """Whether the publisher's state was missing or unusable and the log was read from 0."""
    seconds: float
    """The whole pass."""
    build_seconds: float = 0.0
    """Of which building the packages (proofs and encodings)."""
    write_seconds: float = 0.0
    """Of which writing the files (atomically and durably)."""
    older_roots: tuple[str, ...] = ()
    """Fleets whose head was logged under an older trust root than the current one: an app
    pinning the current root does not accept them until they are re-issued (OPS §7.7)."""
    quorum_short: tuple[int, ...] = ()
    """Trust-root versions whose clients do not count a fresh witness quorum on the
    published checkpoint (:func:`quorum_short`): they reject every package until the log
    collects those witnesses' cosignatures."""


class Publisher:
    """Writes every fleet's universal package under ``out`` as static files (OPS §7.7).

    ``out/fleets/<fleet id>.cbor`` per fleet (``fleets`` a link to the generation served,
    :func:`_write_generation`), ``out/index.json`` listing them, and
    ``out/.publish-state.json`` (never served) holding what was read of the log: the last
    published checkpoint note, the rotations and each fleet's head (index, epoch, digest),
    with a SHA-256 over all of it. A pass (:meth:`publish`) fetches the checkpoint, checks it
    extends the last one, judges only the new entries, and rewrites every package when the
    checkpoint note changed (a new size, or the same tree re-cosigned). A state that does not
    parse, fails its checksum, names another log or starting root, or is not consistent with
    the log is discarded and the log is read from entry 0 again (a fork is an error instead).
    """

    def __init__(
        self,
        client: LogClient,
        trust_root: bytes | TrustRoot,
        out: str | os.PathLike[str],
        *,
        consistency: bool = True,
        clock: Callable[[], float] = time.time,
        chain_cap: int = MAX_ROTATIONS,
        generation_grace: float = DEFAULT_GENERATION_GRACE,
    ) -> None:
        self.client = client
        self.start = _start_root(trust_root)
        self.generation_grace = generation_grace
        self.out = Path(out)
        self.consistency = consistency
        self.clock = clock
        self.chain_cap = chain_cap
        self._start_digest = _sha256(self.start.encode())
        self.history: LogHistory | None = None
        self.published: VerifiedCheckpoint | None = None
        self.previous_size: int | None = None
        self.packages: PackageSet | None = None
        self._state_loaded = False

    # state

    def _state_path(self) -> Path:
        return self.out / STATE_FILE

    def _load_state(self) -> bool:
        """Read the saved state into :attr:`history`; False if it is missing or unusable."""
        try:
            with self._state_path().open("rb") as f:
                data = f.read(MAX_PUBLISH_STATE_BYTES + 1)
        except FileNotFoundError:
            return False
        try:
            saved = json.loads(data)
            body, checksum = saved["body"], saved["sha256"]
            if len(data) > MAX_PUBLISH_STATE_BYTES or _sha256(_canonical(body)).hex() != checksum:
                return False
            if body["format"] != STATE_FORMAT or body["start"] != self._start_digest.hex():
                return False
            note_text = base64.b64decode(body["checkpoint"], validate=True)
            published = self.client.verify_checkpoint(note_text)
            rotations = [(int(i), bytes.fromhex(d)) for i, d in body["rotations"]]
            fleets = [(str(f), int(e), int(i), bytes.fromhex(d)) for f, e, i, d in body["fleets"]]
            skipped = [(int(i), str(r)) for i, r in body["skipped"]]
            previous = body["previous_size"]
        except (ValueError, KeyError, TypeError, VerificationError):
            return False
        # The saved checkpoint is signed; its entries are read back from the log under it and
        # must have the saved digests and verify again. This catches a damaged state and one
        # of another log; whoever can write ``out`` can write the served packages too (which
        # clients verify whole), so the state is no more trusted than they are.
        try:
            entries = _read_entries(
                self.client, [i for i, _ in rotations] + [f[2] for f in fleets], published
            )
        except (ValueError, VerificationError):
            return False
        history = LogHistory(self.start)
        root = self.start
        for index, digest in rotations:
            signed = entries.get(index)
            if signed is None or _sha256(signed) != digest:
                return False
            try:
                root = verify_rotation(root, signed)
            except VerificationError:
                return False
            history.adopt(Rotation(index, root.version, signed), root)
        for fleet, epoch, index, digest in fleets:
            signed = entries.get(index)
            if signed is None or _sha256(signed) != digest:
                return False
            try:
                signatures = verify_signed_bundle(signed, history.root_at(index))
                payload = parse_payload(signatures.payload)
            except VerificationError:
                return False
            if (payload.fleet_id, payload.epoch) != (fleet, epoch):
                return False
            history.fleets[fleet] = FleetHead(
                fleet,
                epoch,
                index,
                digest,
                signed,
                payload.not_after,
                history.root_at(index).version,
            )
        history.skipped = skipped
        history.size = published.checkpoint.size
        self.history = history
        self.published = published
        self.previous_size = previous if isinstance(previous, int) else None
        return True

    def _save_state(self) -> bytes:
        history, published = self.history, self.published
        if history is None or published is None:
            raise AssertionError("bad math in Publisher._save_state: nothing published")
        body = {
            "format": STATE_FORMAT,
            "start": self._start_digest.hex(),
            "checkpoint": _b64(published.note_text),
            "previous_size": self.previous_size,
            "rotations": [[r.index, r.digest.hex()] for r in history.rotations],
            "fleets": [
                [h.fleet, h.epoch, h.index, h.digest.hex()]
                for h in sorted(history.fleets.values(), key=lambda h: h.fleet)
            ],
            "skipped": [[i, r] for i, r in history.skipped],
        }
        return _canonical({"body": body, "sha256": _sha256(_canonical(body)).hex()})

    # publishing

    def publish(self) -> PublishResult:
        """One pass (class doc). Raises ``VerificationError`` for a log that does not
        authenticate or forked from the last published checkpoint, ``OSError`` when the log
        or the output directory cannot be read or written."""
        began = time.perf_counter()
        rebuilt = False
        if not self._state_loaded:
            self._state_loaded = True
            if not self._load_state():
                rebuilt = True
                self.history = LogHistory(self.start)
                self.published = None
        history = self.history
        if history is None:
            raise AssertionError("bad math in Publisher.publish: no history")
        checkpoint = self.client.fetch_checkpoint(previous=self.published)
        new_entries = history.scan(self.client, checkpoint)
        previous = self.published
        if (
            previous is not None
            and previous.note_text == checkpoint.note_text
            and (self.out / INDEX_FILE).is_file()
            and active_generation(self.out) is not None
        ):
            return PublishResult(
                False,
                checkpoint.checkpoint.size,
                len(history.fleets),
                new_entries,
                rebuilt,
                time.perf_counter() - began,
            )
        if previous is not None and previous.checkpoint.size < checkpoint.checkpoint.size:
            self.previous_size = previous.checkpoint.size
        packages = PackageSet(
            self.client,
            history,
            checkpoint,
            previous_size=self.previous_size if self.consistency else None,
            chain_cap=self.chain_cap,
        )
        built = time.perf_counter()
        files: dict[str, bytes] = {}
        listing = []
        for fleet in sorted(history.fleets):
            head = history.fleets[fleet]
            data = packages.package(fleet)
            path = fleet_path(fleet)
            files[f"{fleet}.cbor"] = data
            listing.append(
                {
                    "fleet": fleet,
                    "epoch": head.epoch,
                    "index": head.index,
                    "path": path,
                    "sha256": _sha256(data).hex(),
                    "bytes": len(data),
                    "not_after": head.not_after,
                    "trust_root_version": head.trust_root_version,
                }
            )
        cp = checkpoint.checkpoint
        index = {
            "format": INDEX_FORMAT,
            "generated_at": int(self.clock()),
            "origin": cp.origin,
            "checkpoint": {
                "size": cp.size,
                "root_hash": _b64(cp.root_hash),
                "cosignatures": dict(sorted(checkpoint.cosignatures.items())),
            },
            "consistency_from": None
            if packages.consistency is None
            else packages.consistency.old_size,
            "trust_roots": [{"version": self.start.version, "index": None}]
            + [
                {"version": r.version, "index": r.index, "sha256": r.digest.hex()}
                for r in history.rotations
            ],
            "fleets": listing,
        }
        writing = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        _write_generation(self.out, files, grace=self.generation_grace)
        self.published = checkpoint
        self.packages = packages
        durable.replace_many(
            self.out,
            {
                INDEX_FILE: json.dumps(index, indent=1, sort_keys=True).encode() + b"\n",
                STATE_FILE: self._save_state(),
            },
        )
        done = time.perf_counter()
        return PublishResult(
            True,
            cp.size,
            len(history.fleets),
            new_entries,
            rebuilt,
            done - began,
            writing - built,
            done - writing,
            tuple(
                f
                for f in sorted(history.fleets)
                if history.fleets[f].trust_root_version < history.current.version
            ),
            quorum_short(checkpoint.note_text, history.roots, int(self.clock())),
        )

    def follow(
        self,
        interval: float,
        stop: threading.Event,
        report: Callable[[PublishResult | Exception], None] | None = None,
    ) -> None:
        """Publish every ``interval`` seconds until ``stop`` is set.

        A pass that fails with ``OSError`` (the log or the disk unavailable) is reported and
        retried at the next interval; a ``VerificationError`` (a forged or forked log) is
        reported and ends the loop by raising it: nothing is published past it.
        """
        if not interval > 0:
            raise ValueError(f"the interval must be positive, not {interval!r}")
        while not stop.is_set():
            try:
                result: PublishResult | Exception = self.publish()
            except VerificationError as e:
                if report is not None:
                    report(e)
                raise
            except OSError as e:
                result = e
            if report is not None:
                report(result)
            stop.wait(interval)


# --- in-process packages ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    checkpoint: VerifiedCheckpoint
    packages: PackageSet
    built: dict[str, bytes]


class PackageSource:
    """Each fleet's current universal package, for a service's own responses (OPS §7.7).

    ``latest(fleet)`` returns the package bytes from a cache; the cache is rebuilt lazily
    (per fleet, on its first request) whenever a refresh finds a new checkpoint note. A
    refresh runs on demand when the last one is older than ``refresh_interval`` seconds (the
    caller that notices does it; concurrent callers keep getting the current packages), or
    in a background thread (:meth:`start`). Thread-safe: reads take no lock on a warm cache;
    building and refreshing are serialised.

    A refresh that fails keeps the packages it had (clients judge their freshness) and is
    retried at the next interval; :attr:`last_error` says why.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        trust_root: bytes | TrustRoot,
        *,
        refresh_interval: float = 5.0,
        consistency: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not refresh_interval > 0:
            raise ValueError(f"refresh_interval must be positive, not {refresh_interval!r}")
        self.start_root = _start_root(trust_root)
        self.client = log_client_for(fetcher, self.start_root)
        self.history = LogHistory(self.start_root)
        self.refresh_interval = refresh_interval
        self.consistency = consistency
        self.clock = clock
        self.last_error: Exception | None = None
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._previous_size: int | None = None
        self._checked_at = float("-inf")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def refresh(self) -> bool:
        """Fetch the checkpoint now; True when it changed (the cache was renewed)."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        self._checked_at = self.clock()
        snapshot = self._snapshot
        previous = None if snapshot is None else snapshot.checkpoint
        try:
            checkpoint = self.client.fetch_checkpoint(previous=previous)
            if previous is not None and previous.note_text == checkpoint.note_text:
                self.last_error = None
                return False
            self.history.scan(self.client, checkpoint)
            if previous is not None and previous.checkpoint.size < checkpoint.checkpoint.size:
                self._previous_size = previous.checkpoint.size
            packages = PackageSet(
                self.client,
                self.history,
                checkpoint,
                previous_size=self._previous_size if self.consistency else None,
            )
        except (OSError, VerificationError) as e:
            self.last_error = e
            if snapshot is None:
                raise
            return False
        self.last_error = None
        self._snapshot = _Snapshot(checkpoint, packages, {})
        return True

    def latest(self, fleet: str) -> bytes:
        """The fleet's current universal package (``KeyError`` if the log holds none).

        The first call fetches the log (``OSError``, ``VerificationError`` if it cannot).
        """
        snapshot = self._snapshot
        if snapshot is None or self.clock() - self._checked_at >= self.refresh_interval:
            snapshot = self._maybe_refresh(block=snapshot is None)
        data = snapshot.built.get(fleet)
        if data is not None:
            return data
        with self._lock:
            current = self._snapshot
            if current is None:
                raise AssertionError("bad math in PackageSource.latest: no snapshot")
            data = current.built.get(fleet)
            if data is None:
                if fleet not in current.packages.fleets:
                    raise KeyError(fleet)
                data = current.packages.package(fleet)
                current.built[fleet] = data
            return data

    def _maybe_refresh(self, *, block: bool) -> _Snapshot:
        if self._lock.acquire(blocking=block):
            try:
                if (
                    self._snapshot is None
                    or self.clock() - self._checked_at >= self.refresh_interval
                ):
                    self._refresh_locked()
            finally:
                self._lock.release()
        snapshot = self._snapshot
        if snapshot is None:
            raise AssertionError("bad math in PackageSource: refresh left no snapshot")
        return snapshot

    @property
    def checkpoint(self) -> VerifiedCheckpoint | None:
        """The checkpoint of the current packages (None before the first refresh)."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.checkpoint

    def fleets(self) -> list[str]:
        """The fleets the log holds, as of the last refresh."""
        snapshot = self._snapshot
        return [] if snapshot is None else sorted(snapshot.packages.fleets)

    def start(self) -> None:
        """Refresh every ``refresh_interval`` seconds in a daemon thread until :meth:`close`."""
        if self._thread is not None:
            raise ValueError("the background refresh is already running")
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(OSError, VerificationError):
                    self.refresh()
                self._stop.wait(self.refresh_interval)

        self._thread = threading.Thread(target=run, name="keybundle-package-source", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background refresh (if running) and wait for it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)

    def __enter__(self) -> PackageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
