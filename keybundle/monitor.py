"""OPS §8.1-§8.3: the auditor. Follow a tiled log, check every entry, report and keep evidence.

A :class:`Monitor` follows one log through a :class:`~transparency_log.fetcher.Fetcher` and
keeps its state in a directory (:class:`StateDir`). One :meth:`Monitor.run_pass`:

1. fetches the checkpoint and verifies the log's signature and the witness quorum under the
   trust root in force (OPS §8.1 step 1); reports its health (cosignature age, witnesses
   missing);
2. proves it consistent with the largest checkpoint verified before, from tiles
   authenticated against the new root (step 2): a split view or a fork becomes evidence;
3. records the new checkpoint as the *target* (atomically), downloads the new entry bundles
   (each authenticated against the tiles), appends their leaf hashes to the compact range
   kept in the state, and judges every entry (SPEC §8.2): signatures under the trust root in
   force, trust-root rotations applied, fleet history replayed, the allow-list;
4. saves progress every so often, and at the end checks that the recomputed root is the
   target's signed root before making it the verified checkpoint (step 4);
5. in witness mode, submits that checkpoint to its C2SP tlog-witness (which may also serve
   the log over HTTP), so that the witness cosigns only trees consistent with it.

A crash at any point leaves a state that the next pass resumes from: the target and the
compact range, fleet heads and rotations at the last saved index. Events after that index
may be reported twice; nothing is skipped. Misbehaviour never stops the check of later
entries, but a split view or a fork stops the pass: the state stays at the last checkpoint
that was consistent.

Everything here is deterministic given the fetcher, the state directory and ``now``; the
command line (``keybundle_cli.monitor``) supplies the HTTP fetcher, the clock and the output.

This module is the pass itself. Its state directory and file are
:mod:`keybundle.monitor_state`, the entry judges :mod:`keybundle.monitor_judges`, witness
mode :mod:`keybundle.monitor_witness`; the evidence format is :mod:`keybundle.evidence`.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from transparency_log import durable
from transparency_log import proof as tlog_proof
from transparency_log.checkpoint import VerifiedCheckpoint, verify_checkpoint
from transparency_log.errors import LogReason
from transparency_log.fetcher import Fetcher, FetchError, fetch_all, validate_fetch_path
from transparency_log.merkle import HASH_SIZE, CompactRange
from transparency_log.note import MAX_NOTE_BYTES
from transparency_log.policy import PolicyLog
from transparency_log.tile import Tile, TileHashReader
from transparency_log.tlog_client import CHECKPOINT_PATH, LogClient
from transparency_log.witness import Witness

from .errors import Reason, VerificationError
from .evidence import (
    MAX_EVIDENCE_ENTRIES,
    EntryRange,
    entries_evidence,
    inconsistency_evidence,
    split_view_evidence,
    tile_evidence,
)
from .history import FleetHistory, KeyInfo, is_rotation
from .monitor_judges import (
    BUNDLE_WIRE_LENGTH,
    EntryJudge,
    PendingJudgement,
    SerialJudge,
    Wire,
    key_info,
    wires_of,
)
from .monitor_state import MonitorState, StateDir
from .monitor_witness import Cosigned, WitnessFailure, WitnessMisbehaviour, submit_checkpoint
from .signed_trust_root import (
    parse_unverified_signed_trust_root,
    verify_rotation,
    verify_self_signed,
)
from .trustroot import TrustRoot

__all__ = [
    "CHUNK_ENTRIES",
    "MAX_ALLOW_LIST_BYTES",
    "SAVE_EVERY_ENTRIES",
    "Event",
    "Monitor",
    "Status",
    "parse_allow_list",
]

MAX_ALLOW_LIST_BYTES: Final = 4 << 20
"""Largest allow-list file read (SPEC §11)."""
CHUNK_ENTRIES: Final = 4096
"""Entries fetched and judged together (16 entry bundles)."""
SAVE_EVERY_ENTRIES: Final = 65_536
"""Entries checked between two saves of the progress of a pass (OPS §8.1 step 3)."""
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# Full hash tiles above level 0: each authenticates 256 tiles below it, so they are the ones a
# follower would otherwise fetch again and again (OPS §8.1, politeness).
_CACHEABLE = re.compile(r"tile/[1-9][0-9]?/(?:x[0-9]{3}/)*[0-9]{3}")
_MAX_CACHE_PENDING = 4096
_CHUNKS_AHEAD = 2
"""Chunks read (and being judged) ahead of the one whose results are applied."""

Event = dict[str, Any]
"""One report of OPS §8.3: a JSON object whose ``event`` member names its kind."""


class Status(IntEnum):
    """The outcome of a pass, which is also the command's exit code (OPS §8.3)."""

    CLEAN = 0
    """Everything checked, nothing wrong."""
    MISBEHAVIOUR = 1
    """Misbehaviour found (and evidence written where it can be proven)."""
    UNCHECKED = 2
    """Something could not be checked (network, a checkpoint without quorum, a stale view)."""


# --- allow-list ----------------------------------------------------------------------------


def parse_allow_list(text: str) -> frozenset[str]:
    """The fingerprints of an allow-list file (SPEC §8.2): one per line, ``#`` comments.

    Each line that is not blank or a comment is exactly one fleet-key fingerprint: 64
    lowercase hex digits (SPEC §3.2). Anything else is a ValueError naming the line.

    A text longer than :data:`MAX_ALLOW_LIST_BYTES` in UTF-8 is a ValueError naming the
    limit (SPEC §11): checked here, not left to a reader's cap, so that an oversized file is
    refused whole and never parsed cut short.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_ALLOW_LIST_BYTES:
        raise ValueError(
            f"the allow-list is {size} bytes, more than MAX_ALLOW_LIST_BYTES "
            f"({MAX_ALLOW_LIST_BYTES} bytes); shorten its comments or drop keys no longer in use"
        )
    out: set[str] = set()
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _FINGERPRINT.fullmatch(line) is None:
            raise ValueError(
                f"allow-list line {number}: {line[:80]!r} is not a key fingerprint (64 "
                "lowercase hex digits, the SHA-256 of the public key)"
            )
        out.add(line)
    return frozenset(out)


# --- fetchers the monitor puts around the caller's ---------------------------------------------


class _TileCache:
    """Serves full tiles above level 0 from disk; remembers new ones until :meth:`commit`.

    Only a pass that ended with every tile authenticated commits, so the cache never holds a
    tile that did not match a signed root (OPS §8.1: nothing unverified is kept).
    """

    def __init__(self, inner: Fetcher, directory: Path | None) -> None:
        self._inner = inner
        self._dir = directory
        self._pending: dict[str, bytes] = {}
        self.hits = 0

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        cacheable = self._dir is not None and _CACHEABLE.fullmatch(path) is not None
        if cacheable and self._dir is not None:
            try:
                data = (self._dir / validate_fetch_path(path)).read_bytes()
            except FileNotFoundError:
                pass
            else:
                if len(data) == 256 * HASH_SIZE:
                    self.hits += 1
                    return data
        data = self._inner.fetch(path, max_bytes=max_bytes)
        if cacheable and len(self._pending) < _MAX_CACHE_PENDING:
            self._pending[path] = data
        return data

    def discard(self) -> None:
        self._pending.clear()

    def clear(self) -> None:
        """Forget everything cached (after a tile error that did not reproduce uncached)."""
        self._pending.clear()
        if self._dir is not None and self._dir.exists():
            for file in sorted(self._dir.rglob("*"), reverse=True):
                if file.is_file():
                    file.unlink()

    def commit(self) -> None:
        if self._dir is None:
            return
        for path, data in self._pending.items():
            target = self._dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            durable.replace(target, data, fsync=False)
        self._pending.clear()


class _Recorder:
    """Records every resource fetched, for a ``tile_mismatch`` evidence file."""

    def __init__(self, inner: Fetcher) -> None:
        self._inner = inner
        self.resources: dict[str, bytes] = {}

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        data = self._inner.fetch(path, max_bytes=max_bytes)
        self.resources[path] = data
        return data


# --- the monitor ---------------------------------------------------------------------------


@dataclass
class _Pass:
    """What judging one entry needs: the history so far and the target it is proven under."""

    history: FleetHistory
    rotations: list[tuple[int, bytes]]
    target: VerifiedCheckpoint
    now: int


@dataclass(frozen=True)
class _Ahead:
    """The trust root in force after the rotations read so far, and its signed bytes."""

    root: TrustRoot
    signed: bytes | None
    """None for the pinned root."""


@dataclass(frozen=True)
class _Judging:
    """Bundle entries from ``start`` on, handed to the judge."""

    start: int
    pending: PendingJudgement


@dataclass(frozen=True)
class _Rotation:
    """A signed trust root at ``index``: the rotation (``entry``), or why it is not one."""

    index: int
    entry: bytes | None
    error: VerificationError | None
    version: int = 0


@dataclass(frozen=True)
class _Chunk:
    """Entries read up to ``stop`` (exclusive), their leaf hashes, and their judgement."""

    stop: int
    leaves: list[bytes]
    steps: list[_Judging | _Rotation]

    def cancel(self) -> None:
        for step in self.steps:
            if isinstance(step, _Judging):
                step.pending.cancel()


def _hex(data: bytes) -> str:
    return data.hex()


class Monitor:
    """The auditor of one log (module doc). Not thread-safe; one per state directory.

    ``trust_root_signed`` is the pinned signed trust root (it must verify as self-signed);
    ``emit`` receives every event (OPS §8.3); ``allow_keys`` the allow-list fingerprints, or
    None for no allow-list; ``judge`` checks signatures (default: in this process);
    ``witness`` a C2SP tlog-witness (which may also serve the log over HTTP) to which each
    checkpoint the pass verified is submitted, for its cosignature (OPS §8.1 witness mode).
    """

    def __init__(
        self,
        fetcher: Fetcher,
        trust_root_signed: bytes,
        state_dir: StateDir,
        *,
        emit: Callable[[Event], None],
        allow_keys: frozenset[str] | None = None,
        judge: EntryJudge | None = None,
        witness: Witness | None = None,
        chunk_entries: int = CHUNK_ENTRIES,
        save_every: int = SAVE_EVERY_ENTRIES,
        cache_tiles: bool = True,
    ) -> None:
        if chunk_entries < 1 or save_every < 1:
            raise ValueError("chunk_entries and save_every must be positive")
        self._pinned = verify_self_signed(trust_root_signed)
        self._pinned_signed = trust_root_signed
        self._raw = fetcher
        self._dir = state_dir
        self._sink = emit
        self._tally = _Tally()
        self._health_seen: Event | None = None
        self._now = 0
        self._allow = allow_keys
        self._judge: EntryJudge = judge or SerialJudge(self._pinned)
        self._witness = witness
        self._chunk = chunk_entries
        self._save_every = save_every
        self._cache = _TileCache(fetcher, state_dir.tile_cache if cache_tiles else None)
        self._clients: dict[tuple[str, str], LogClient] = {}
        self._log: PolicyLog = self._pinned.log
        self._findings = Status.CLEAN

    # --- helpers ---

    def _emit(self, event: Event) -> None:
        """Count the event for the pass summary, keep it in the history (OPS §8.5), emit it."""
        kind = event["event"]
        tally = self._tally
        history = self._dir.history
        if kind == "progress":
            tally.checked = event["done"]
        elif kind == "health":
            self._health_seen = event
        elif kind == "epoch":  # pragma: no cover (epochs are emitted by _apply_judged)
            raise AssertionError("bad math in Monitor._emit: an epoch event")
        elif kind == "trust_root":
            tally.rotations += 1
            history.record("trust_root", self._now, {"version": event["version"],
                                                     "index": event["index"]})  # fmt: skip
        elif kind == "misbehaviour":
            fields = {k: v for k, v in event.items() if k != "event"}
            history.record("misbehaviour", self._now, fields)
        self._sink(event)

    @property
    def pinned(self) -> TrustRoot:
        """The pinned trust root."""
        return self._pinned

    def _root(self, state: MonitorState) -> TrustRoot:
        """The trust root in force after the rotations the state applied."""
        if not state.rotations:
            return self._pinned
        return parse_unverified_signed_trust_root(state.rotations[-1][1]).root

    def _client(self, root: TrustRoot) -> LogClient:
        log = root.log
        self._log = log
        key = (log.vkey, log.origin)
        client = self._clients.get(key)
        if client is None:
            client = LogClient(
                self._cache,
                log.verifier(),
                origin=log.origin,
                witnesses=root.policy.witness_verifiers(),
            )
            self._clients = {key: client}
        return client

    def _verify_stored(self, note: bytes, root: TrustRoot) -> VerifiedCheckpoint:
        """A checkpoint from the state: verified when it was stored; its signature again."""
        log = root.log
        return verify_checkpoint(
            note, log.verifier(), origin=log.origin, witnesses=root.policy.witness_verifiers()
        )

    def _misbehaviour(
        self, kind: str, reason: str, message: str, evidence: Mapping[str, Any] | None, **extra: Any
    ) -> None:
        path = self._dir.write_evidence(evidence) if evidence is not None else None
        self._emit(
            {
                "event": "misbehaviour",
                "kind": kind,
                "reason": str(reason),
                "message": message,
                "evidence": None if path is None else str(path),
                **extra,
            }
        )

    def _error(self, message: str, reason: str | None = None) -> Status:
        self._emit({"event": "error", "reason": reason, "message": message})
        return Status.UNCHECKED

    # --- one pass ---

    def run_pass(self, now: int) -> Status:
        """Follow the log once (module doc); the status is the pass's exit code."""
        state = self._dir.load()
        root = self._root(state)
        self._tally = _Tally()
        self._health_seen = None
        self._now = now
        try:
            status, state = self._pass(state, root, now)
        except FetchError as e:
            self._cache.discard()
            status = self._error(f"could not fetch from the log: {e}")
        tally = self._tally
        verified = _size_of(state.checkpoint, root)
        self._emit(
            {
                "event": "pass",
                "status": status.name.lower(),
                "size": state.size,
                "verified_size": verified,
                "checked": tally.checked,
                "epochs": tally.epochs,
                "fleets": len(tally.fleets),
                "key_changes": tally.key_changes,
                "rotations": tally.rotations,
            }
        )
        health: Event = self._health_seen or {}
        self._dir.history.record_pass(
            now,
            {
                "status": status.name.lower(),
                "size": state.size,
                "verified_size": verified,
                "log_size": health.get("size"),
                "checked": tally.checked,
                "checkpoint_age": health.get("checkpoint_age"),
                "witness_ages": health.get("witness_ages", {}),
                "missing_witnesses": health.get("missing_witnesses", []),
                "stale_witnesses": health.get("stale_witnesses", []),
            },
        )
        self._dir.history.flush()
        return status

    def _pass(self, state: MonitorState, root: TrustRoot, now: int) -> tuple[Status, MonitorState]:
        client = self._client(root)
        # OPS §8.1 step 1: the checkpoint, its signature and the witness quorum.
        data = self._raw.fetch(CHECKPOINT_PATH, max_bytes=MAX_NOTE_BYTES)
        try:
            new = root.policy.verify_checkpoint(data)
        except VerificationError as e:
            return self._error(
                f"the log's checkpoint does not verify: {e.message}", e.reason
            ), state
        cp = new.checkpoint
        self._emit(
            {
                "event": "checkpoint",
                "origin": cp.origin,
                "size": cp.size,
                "root": _hex(cp.root_hash),
            }
        )
        self._health(new, root, state, now)

        # OPS §8.1 step 2: consistency with the largest checkpoint verified before.
        status = Status.CLEAN
        base_note = state.target or state.checkpoint
        target: VerifiedCheckpoint | None = None
        if base_note is None:
            target = new
        else:
            base = self._verify_stored(base_note, root)
            old = base.checkpoint
            if cp.size < old.size:
                self._emit(
                    {
                        "event": "warning",
                        "message": f"the log served a checkpoint of size {cp.size}, smaller than "
                        f"size {old.size} verified before (a stale cache or mirror, or a "
                        "rollback); nothing new was checked",
                    }
                )
                status = Status.UNCHECKED
                target = base if state.target is not None else None
            elif cp.size == old.size:
                if cp.root_hash != old.root_hash:
                    self._split_view(base, new, now)
                    return Status.MISBEHAVIOUR, state
                target = base if state.target is not None else None
            else:
                try:
                    client.verify_consistency(base, new)
                except VerificationError as e:
                    if e.reason == LogReason.BAD_CONSISTENCY_PROOF:
                        self._fork(client, base, new, now)
                        return Status.MISBEHAVIOUR, state
                    if e.reason == LogReason.MALFORMED_TILE:
                        return self._tile_failure(new, {"old_size": old.size}, e, now), state
                    raise
                target = new
        if target is None:
            if status == Status.CLEAN:  # the same checkpoint: cosign it again, fresh
                status = self._witness_cosign(new, client)
            return status, state

        # OPS §8.1 step 3: record the target, then check its new entries.
        if state.target != target.note_text:
            state = MonitorState(
                state.checkpoint, target.note_text, state.size, state.compact, state.rotations,
                state.fleets,
            )  # fmt: skip
            self._dir.save(state)
        found, state = self._follow(state, target, now)
        if found is not None:  # a tile error stopped the pass
            return found, state
        return max(status, self._findings), state

    def _health(
        self, new: VerifiedCheckpoint, root: TrustRoot, state: MonitorState, now: int
    ) -> None:
        """The ``health`` event (OPS §8.3).

        A cosignature dated up to the trust root's clock skew ahead of ``now`` is a witness
        clock slightly ahead of ours: it counts as age 0, never as a negative age. One dated
        further ahead counts for no age at all (a client refuses it, FUTURE_COSIGNATURE) and
        names its witness in ``future_witnesses``.
        """
        limits = root.limits
        cosigned = new.cosignatures
        witnesses = root.policy.witnesses
        latest = now + limits.clock_skew
        dated = {n: t for n, t in cosigned.items() if t <= latest}
        missing = sorted(w.key_name for w in witnesses if w.key_name not in cosigned)
        stale = sorted(n for n, t in dated.items() if t < now - limits.max_cosignature_age)
        future = sorted(n for n, t in cosigned.items() if t > latest)
        newest = max(dated.values(), default=None)
        ages = {
            w.key_name: (max(0, now - dated[w.key_name]) if w.key_name in dated else None)
            for w in witnesses
        }
        self._emit(
            {
                "event": "health",
                "size": new.checkpoint.size,
                "checkpoint_age": None if newest is None else max(0, now - newest),
                "missing_witnesses": missing,
                "stale_witnesses": stale,
                "future_witnesses": future,
                "witness_ages": dict(sorted(ages.items())),
                "behind": new.checkpoint.size - state.size,
            }
        )

    # --- checkpoints that disagree ---

    def _split_view(self, a: VerifiedCheckpoint, b: VerifiedCheckpoint, now: int) -> None:
        size = a.checkpoint.size
        message = (
            f"the log signed two checkpoints of size {size} with different roots "
            f"{a.checkpoint.root_hash.hex()} and {b.checkpoint.root_hash.hex()}: a split view"
        )
        evidence = split_view_evidence(
            a.note_text, b.note_text, origin=a.checkpoint.origin, observed_at=now, message=message
        )
        self._misbehaviour("split_view", Reason.INCONSISTENT_CHECKPOINT, message, evidence)

    def _fork(
        self, client: LogClient, old: VerifiedCheckpoint, new: VerifiedCheckpoint, now: int
    ) -> None:
        size = old.checkpoint.size
        reader = self._reader(new)
        prefix = tlog_proof.compact_range(size, reader)
        proof = client.consistency_proof(size, new)
        claimed = prefix.root()
        if claimed == old.checkpoint.root_hash:
            raise AssertionError("bad math in Monitor._fork: the prefix has the old root")
        message = (
            f"the checkpoint of size {new.checkpoint.size} does not extend the checkpoint of "
            f"size {size} verified before: its first {size} leaves have root {claimed.hex()}, "
            f"not {old.checkpoint.root_hash.hex()} (the log rewrote or forked its history)"
        )
        evidence = inconsistency_evidence(
            old.note_text,
            new.note_text,
            prefix.hashes,
            proof,
            origin=new.checkpoint.origin,
            observed_at=now,
            message=message,
        )
        self._misbehaviour(
            "inconsistent_checkpoints", LogReason.BAD_CONSISTENCY_PROOF, message, evidence
        )

    def _reader(self, cp: VerifiedCheckpoint) -> TileHashReader:
        fetcher = self._cache

        def fetch_tiles(tiles: Sequence[Tile]) -> list[bytes]:
            return fetch_all(
                fetcher, [t.path() for t in tiles], [t.width * HASH_SIZE for t in tiles]
            )

        return TileHashReader(cp.checkpoint.size, cp.checkpoint.root_hash, fetch_tiles)

    def _tile_failure(
        self,
        cp: VerifiedCheckpoint,
        operation: Mapping[str, int],
        error: VerificationError,
        now: int,
    ) -> Status:
        """A tile or bundle did not authenticate: replay uncached; evidence if it reproduces."""
        self._cache.discard()
        pieces: list[dict[str, int]] = [dict(operation)]
        if "start" in operation:  # narrow the replay down to one entry bundle
            start, stop = operation["start"], operation["stop"]
            pieces = [
                {"start": a, "stop": min(stop, (a // 256 + 1) * 256)}
                for a in [start, *range((start // 256 + 1) * 256, stop, 256)]
            ]
        log = self._log
        for piece in pieces:
            recorder = _Recorder(self._raw)
            replay = LogClient(recorder, log.verifier(), origin=log.origin, cache_tiles=0)
            try:
                if "start" in piece:
                    for _ in replay.entries(piece["start"], piece["stop"], cp):
                        pass
                else:
                    replay.consistency_proof(piece["old_size"], cp)
            except VerificationError as e:
                if e.reason != LogReason.MALFORMED_TILE:
                    raise
                message = (
                    f"what the log served does not match its checkpoint of size "
                    f"{cp.checkpoint.size}: {e.message}"
                )
                evidence = tile_evidence(
                    cp.note_text,
                    piece,
                    recorder.resources,
                    origin=cp.checkpoint.origin,
                    observed_at=now,
                    message=message,
                )
                self._misbehaviour("tile_mismatch", LogReason.MALFORMED_TILE, message, evidence)
                return Status.MISBEHAVIOUR
        self._cache.clear()
        return self._error(
            f"a tile did not authenticate ({error.message}), but fetching it again without the "
            "local tile cache did; the cache was cleared",
            LogReason.MALFORMED_TILE,
        )

    # --- following the entries ---

    def _follow(
        self, state: MonitorState, target: VerifiedCheckpoint, now: int
    ) -> tuple[Status | None, MonitorState]:
        """OPS §8.1 steps 4-5: check entries ``state.size`` .. target size - 1, in chunks.

        A pipeline: while the judge checks the signatures of one chunk (in worker processes,
        with a :class:`ProcessJudge`), this process reads and authenticates the next one,
        then applies the first one's results in log order (fleet history, events, evidence)
        and appends its leaf hashes to the compact range. The state saved is always that
        of the chunks applied.
        """
        self._findings = Status.CLEAN
        root = self._root(state)
        client = self._client(root)
        tree = CompactRange(state.size, state.compact)
        history = FleetHistory(state.fleets)
        rotations = list(state.rotations)
        ctx = _Pass(history, rotations, target, now)
        stop = target.checkpoint.size
        fetched = applied = saved = state.size
        total = stop - applied
        # The trust root in force after every rotation read so far (ahead of `rotations`,
        # which holds those applied): entries are submitted to the judge under it.
        ahead = _Ahead(root, rotations[-1][1] if rotations else None)
        pending: deque[_Chunk] = deque()

        def snapshot(checkpoint: bytes | None, pending: bytes | None) -> MonitorState:
            return MonitorState(
                checkpoint, pending, tree.size, tree.hashes, tuple(rotations),
                MappingProxyType(dict(history.heads)),
            )  # fmt: skip

        try:
            while applied < stop:
                while fetched < stop and len(pending) < _CHUNKS_AHEAD:
                    chunk_stop = min(stop, fetched + self._chunk)
                    try:
                        chunk, ahead = self._read_chunk(client, target, fetched, chunk_stop, ahead)
                    except VerificationError as e:
                        if e.reason != LogReason.MALFORMED_TILE:
                            raise
                        if pending:  # first apply what was read before the bad tile
                            break
                        operation = {"start": fetched, "stop": chunk_stop}
                        status = self._tile_failure(target, operation, e, now)
                        if applied > saved:
                            self._dir.save(snapshot(state.checkpoint, target.note_text))
                        return status, self._dir.load()
                    pending.append(chunk)
                    fetched = chunk_stop
                chunk = pending.popleft()
                self._apply_chunk(ctx, chunk)
                for leaf in chunk.leaves:
                    tree.append(leaf)
                applied = chunk.stop
                self._emit(
                    {
                        "event": "progress",
                        "done": applied - state.size,
                        "total": total,
                        "size": applied,
                    }
                )
                if applied - saved >= self._save_every and applied < stop:
                    self._dir.save(snapshot(state.checkpoint, target.note_text))
                    saved = applied
        finally:
            for chunk in pending:  # only when the pass stopped early
                chunk.cancel()

        # OPS §8.1 step 5: the recomputed root is the signed one; only then is it verified.
        if tree.root() != target.checkpoint.root_hash:
            raise AssertionError(
                "bad math in Monitor._follow: entries authenticated against the tiles do not "
                "recompute the signed root"
            )
        final = snapshot(target.note_text, None)
        self._dir.save(final)
        self._cache.commit()
        self._findings = max(self._findings, self._witness_cosign(target, client))
        return None, final

    def _read_chunk(
        self,
        client: LogClient,
        target: VerifiedCheckpoint,
        start: int,
        stop: int,
        ahead: _Ahead,
    ) -> tuple[_Chunk, _Ahead]:
        """Read and authenticate entries ``start..stop-1``; hand their bundles to the judge.

        Rotations are verified here, in log order, so that the entries after a valid one are
        judged under it; they are applied (or reported) in order by :meth:`_apply_chunk`.
        """
        entries, leaves = _unzip(client.entry_leaves(start, stop, target))
        steps: list[_Judging | _Rotation] = []
        count = len(entries)
        pos = 0
        while pos < count:
            nxt = pos
            while nxt < count and not is_rotation(entries[nxt]):
                nxt += 1
            if nxt > pos:
                pending = self._judge.submit(entries[pos:nxt], ahead.signed)
                steps.append(_Judging(start + pos, pending))
            if nxt < count:
                entry = entries[nxt]
                try:
                    nxt_root = verify_rotation(ahead.root, entry)
                except VerificationError as e:
                    steps.append(_Rotation(start + nxt, None, e))
                else:
                    steps.append(_Rotation(start + nxt, entry, None, nxt_root.version))
                    ahead = _Ahead(nxt_root, entry)
                nxt += 1
            pos = nxt
        return _Chunk(stop, leaves, steps), ahead

    def _apply_chunk(self, ctx: _Pass, chunk: _Chunk) -> None:
        """SPEC §8.2 for every entry of ``chunk``, in log order."""
        for step in chunk.steps:
            if isinstance(step, _Judging):
                self._apply_judged(ctx, step.start, wires_of(step.pending))
            elif step.entry is None:
                error = step.error
                if error is None:
                    raise AssertionError("bad math in Monitor._apply_chunk: a rotation step")
                message = f"entry {step.index} is not a valid trust-root rotation: {error.message}"
                self._entries_finding(ctx, error.reason, message, step.index)
            else:
                ctx.rotations.append((step.index, step.entry))
                self._emit({"event": "trust_root", "version": step.version, "index": step.index})

    def _apply_judged(self, ctx: _Pass, start: int, wires: list[Wire]) -> None:
        """SPEC §8.2 steps 2-4 for bundle entries ``start``.. judged by the EntryJudge.

        Each valid bundle that follows its fleet's head (rule 1.3) becomes the head; its
        ``epoch`` event (with the key delta) is emitted and recorded in the history, then
        the allow-list is checked. One loop over the judge's plain tuples, with what it
        needs at hand: this runs once per entry of a backfill, in the one process that
        applies every result (issue 18).
        """
        advance = ctx.history.advance
        heads = ctx.history.heads
        record_epoch = self._dir.history.record_epoch
        sink = self._sink
        tally = self._tally
        fleets = tally.fleets
        allow = self._allow
        now = self._now
        make_key = key_info
        for index, wire in enumerate(wires, start):
            if len(wire) != BUNDLE_WIRE_LENGTH:
                reason, why = wire
                message = f"entry {index} is not a valid signed bundle: {why}"
                self._entries_finding(ctx, reason, message, index)
                continue
            fleet, epoch, previous, digest, raw_keys, issued_at, signers = wire
            keys = tuple(map(make_key, raw_keys))
            try:
                head = advance(fleet, epoch, previous, digest, index=index, keys=keys)
            except VerificationError as e:
                head = heads.get(fleet)
                related = None if head is None else head.index
                self._entries_finding(ctx, e.reason, e.message, index, related=related)
                continue
            after = {k[3]: k for k in keys}
            added: list[KeyInfo] = []
            removed: list[KeyInfo] = []
            kept: list[KeyInfo] = []
            if head is None:
                added = [after[f] for f in sorted(after)]
            else:
                before = {k[3]: k for k in head.keys}
                for f in sorted(after):
                    (kept if f in before else added).append(after[f])
                removed = [before[f] for f in sorted(before) if f not in after]
            # The keys (OPS §8.3): ``id`` as every fleet key of the CLI's JSON (CLI §10.1;
            # ``kid`` names a role key's SPEC §4.3 id, which this is not).
            event = {
                "event": "epoch",
                "fleet": fleet,
                "epoch": epoch,
                "index": index,
                "digest": digest.hex(),
                "issued_at": issued_at,
                "signers": list(signers),
                "added": [
                    {"id": i, "algorithm": a, "usage": u, "fingerprint": f} for i, a, u, f in added
                ],
                "removed": [
                    {"id": i, "algorithm": a, "usage": u, "fingerprint": f}
                    for i, a, u, f in removed
                ],
                "kept": [
                    {"id": i, "algorithm": a, "usage": u, "fingerprint": f} for i, a, u, f in kept
                ],
            }
            tally.epochs += 1
            fleets.add(fleet)
            tally.key_changes += len(added) + len(removed)
            record_epoch(now, event, added, removed, len(kept))
            sink(event)
            if allow is not None:
                unexpected = sorted(f for f in after if f not in allow)
                if unexpected:
                    message = (
                        f"entry {index} (fleet {fleet!r} epoch {epoch}) carries key(s) not on "
                        f"the allow-list: {', '.join(unexpected)}"
                    )
                    self._entries_finding(
                        ctx, Reason.UNEXPECTED_KEY, message, index, fingerprints=unexpected
                    )

    def _entries_finding(
        self,
        ctx: _Pass,
        reason: str,
        message: str,
        index: int,
        *,
        related: int | None = None,
        fingerprints: Sequence[str] = (),
    ) -> None:
        """Report entry ``index``; write ``entries`` evidence (SPEC §8.4.2) that shows it."""
        self._findings = Status.MISBEHAVIOUR
        target = ctx.target
        spans: list[tuple[int, int]] = [(index, index + 1)]
        if reason == Reason.EPOCH_GAP:
            spans = [(0 if related is None else related, index + 1)]
        elif related is not None:
            spans.append((related, related + 1))
        spans.extend((i, i + 1) for i, _ in ctx.rotations if i < index)
        merged = _merge(spans)
        evidence = None
        if sum(b - a for a, b in merged) <= MAX_EVIDENCE_ENTRIES:
            ranges = [self._prove_range(target, a, b) for a, b in merged]
            evidence = entries_evidence(
                target.note_text,
                ranges,
                reason=reason,
                index=index,
                related=related,
                fingerprints=fingerprints,
                origin=target.checkpoint.origin,
                observed_at=ctx.now,
                message=message,
            )
        else:
            message += (
                f" (no evidence file: it would carry more than {MAX_EVIDENCE_ENTRIES} entries)"
            )
        self._misbehaviour("entries", reason, message, evidence, index=index)

    def _prove_range(self, cp: VerifiedCheckpoint, start: int, stop: int) -> EntryRange:
        client = next(iter(self._clients.values()))
        entries = tuple(e.data for e in client.entries(start, stop, cp))
        left = tlog_proof.compact_range(start, self._reader(cp)).hashes
        right = tuple(client.consistency_proof(stop, cp))
        return EntryRange(start, entries, left, right)

    def _witness_cosign(self, cp: VerifiedCheckpoint, client: LogClient) -> Status:
        """Witness mode (OPS §8.1): submit a checkpoint this pass verified to our witness
        (:mod:`keybundle.monitor_witness`), and report what it answered."""
        if self._witness is None:
            return Status.CLEAN
        outcome = submit_checkpoint(
            self._witness, cp, lambda old: client.consistency_proof(old, cp)
        )
        if isinstance(outcome, Cosigned):
            path = self._dir.write_cosigned(cp.note_text + outcome.body)
            self._emit(
                {
                    "event": "cosigned",
                    "size": cp.checkpoint.size,
                    "line": outcome.body.decode("utf-8").rstrip("\n"),
                    "file": str(path),
                }
            )
            return Status.CLEAN
        if isinstance(outcome, WitnessMisbehaviour):
            self._misbehaviour(outcome.kind, outcome.reason, outcome.message, None)
            return Status.MISBEHAVIOUR
        if isinstance(outcome, WitnessFailure):
            return self._error(outcome.message, outcome.reason)
        return Status.CLEAN  # Superseded


@dataclass
class _Tally:
    """What one pass did, for its ``pass`` event (OPS §8.3)."""

    checked: int = 0
    epochs: int = 0
    fleets: set[str] = field(default_factory=set)
    key_changes: int = 0
    rotations: int = 0


def _unzip(pairs: Iterable[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    """Entries and their leaf hashes, as two lists."""
    entries: list[bytes] = []
    leaves: list[bytes] = []
    for entry, leaf in pairs:
        entries.append(entry)
        leaves.append(leaf)
    return entries, leaves


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _size_of(note: bytes | None, root: TrustRoot) -> int | None:
    if note is None:
        return None
    with contextlib.suppress(VerificationError):
        return verify_checkpoint(note, root.log.verifier(), origin=root.log.origin).checkpoint.size
    return None
