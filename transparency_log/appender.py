"""C2SP tlog-tiles: batched sequencing and crash-safe integration of a log's entries (OPS §6.2).

A :class:`Log` is the single writer of one tiled log. Entries are queued, sequenced in
batches, and integrated: the entry bundles and every new hash tile (full and partial, at
every level) are written first, then a checkpoint signed by the log key is published LAST.
The checkpoint is the commit point: an index returned by :meth:`Log.add` or
:meth:`Log.add_many` is acknowledged only once the checkpoint that covers it is published
and durable (as ``checkpoint``, or staged for recovery to publish: SPEC §6.1), so killing
the process (or, with ``fsync``, losing power) at any instant loses no acknowledged entry,
and reopening simply treats every file beyond the published size as garbage to be rewritten.

Batches are pipelined: a publisher thread publishes one batch (its files, then its
checkpoint) while the caller's thread sequences the next on the tree that batch will
publish. Checkpoints still go out one at a time and in order; if one batch fails, the
batches built on it are discarded unpublished and the writer recovers (OPS §6.2).

Memory stays flat as the log grows: the writer keeps only the right edge of the tree (the
partial tile of every level, with the interior nodes of each, which are the compact range),
the partial entry bundle, and a bounded window of recent leaf hashes. Resubmitting an entry
returns its existing index through a persistent leaf-hash index (SQLite, stdlib) that is
derived from the published entry bundles and so can always be caught up from them; a
fixed-size Bloom filter in front of it spares the lookups of hashes it rules out.

This module is the writer only: the pure tile math (the right edge and the files a batch
adds) is :mod:`transparency_log.integrate`, the dedupe index is
:mod:`transparency_log.leaf_index`.

The log knows nothing about what its entries mean. A higher layer that must accept or reject
entries, and keep its own state exactly in step with the log, plugs in an :class:`Admission`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from transparency_log import durable, note
from transparency_log.checkpoint import Checkpoint, verify_checkpoint
from transparency_log.entry_bundle import BUNDLE_WIDTH, MAX_ENTRY_SIZE, parse_entry_bundle
from transparency_log.errors import (
    BatchRejectionError,
    LogLockedError,
    LogReason,
    LogStateError,
    VerificationError,
)
from transparency_log.integrate import Frontier, TileLevel
from transparency_log.leaf_index import LeafIndex
from transparency_log.merkle import EMPTY_ROOT, HASH_SIZE
from transparency_log.storage import CHECKPOINT_PATH, DirectoryTileStore, TileStore
from transparency_log.tile import TILE_HEIGHT, TILE_WIDTH, Tile, entries_path

__all__ = [
    "DEFAULT_BATCH_MAX_AGE",
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "MAX_IN_FLIGHT",
    "PARTIAL_GRACE_SECONDS",
    "RECENT_WINDOW",
    "Admission",
    "Log",
    "LogLockedError",
    "LogStateError",
    "Progress",
    "open_directory_log",
]

DEFAULT_BATCH_SIZE = 256
"""Entries integrated under one checkpoint, at most (one full entry bundle)."""

MAX_BATCH_SIZE = 65536
"""Largest batch size a log accepts (SPEC §11): bounds the memory of one integration."""

DEFAULT_BATCH_MAX_AGE = 0.05
"""Seconds the oldest queued :meth:`Log.add` entry waits for its batch to fill."""

MAX_IN_FLIGHT = 2
"""Sequenced batches that may wait for or undergo publication while the next is sequenced."""

RECENT_WINDOW = 65536
"""Leaf hashes kept in memory before they are flushed, sorted, to the persistent index."""

STATE_DB = "index.sqlite3"
"""The leaf-hash index (and an admission hook's tables), in the log's state directory."""

LOCK_FILE = "lock"
"""The single-writer lock file in the log's state directory (``flock``, OPS §6.2)."""

PARTIAL_GRACE_SECONDS = 60.0
"""How long the partial tiles of a tile stay after the checkpoint that completed it is
published (SPEC §6.1): readers of the checkpoints before it find them meanwhile."""

PARTIALS_SWEPT_FILE = "partials-swept"
"""In the state directory: the size below which superseded partial tiles are gone (§6.1)."""

_SWEEP_CHUNK = 64  # partial directories removed per publication, at most

Progress = Callable[[int, int | None], None]
"""``progress(done, total)`` after each integrated batch; ``total`` is None when unknown."""

_log = logging.getLogger(__name__)
_sha256 = hashlib.sha256
_LEAF = b"\x00"


_TRANSIENT = (OSError, sqlite3.OperationalError)
"""Storage errors a running writer waits out (a full disk, SQLITE_FULL): OPS §6.2."""


class Admission(Protocol):
    """A higher layer's say over what enters the log, kept crash-consistent with it (OPS §6.2).

    Every call gets ``txn``, the connection to the log's state database inside an open
    transaction: tables the hook writes there commit atomically with the log's own
    bookkeeping, before the checkpoint is published, and are rolled back with it.
    """

    def setup(self, txn: sqlite3.Connection) -> None:
        """Create the hook's tables if needed (called once per open, inside a transaction)."""
        ...

    def check(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        """Accept ``entry`` as leaf ``index`` (recording what it needs) or reject it.

        Rejection is ``VerificationError`` with the hook's reason code; the writes the hook
        made for this entry are undone (a savepoint per entry). Duplicates of entries already
        in the log never reach the hook: they are answered with their existing index.
        """
        ...

    def rollback(self, size: int, txn: sqlite3.Connection) -> None:
        """Forget every entry at index ``size`` or above: they were never published."""
        ...


class _Pending:
    """One queued entry and, once integrated, its outcome."""

    __slots__ = ("done", "enqueued", "entry", "error", "index", "rejection")

    def __init__(self, entry: bytes, enqueued: float) -> None:
        self.entry = entry
        self.enqueued = enqueued
        self.index = -1
        self.done = False
        self.error: BaseException | None = None
        self.rejection: VerificationError | None = None

    def result(self) -> int:
        if self.rejection is not None:
            raise self.rejection
        if self.error is not None:
            raise self.error
        return self.index


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A sequenced batch: its tree, the files and signed checkpoint to publish, its indices.

    ``checkpoint`` is empty when the batch added nothing (all duplicates or rejections): it
    publishes nothing, but it is still acknowledged in order, after the batches before it.
    """

    batch: list[_Pending]
    frontier: Frontier
    files: dict[str, bytes]
    checkpoint: bytes
    fresh: dict[bytes, int]
    generation: int


def _check_entry(entry: object) -> bytes:
    if not isinstance(entry, bytes):
        raise TypeError(f"a log entry is bytes, not {type(entry).__name__}")
    if len(entry) > MAX_ENTRY_SIZE:
        raise ValueError(
            f"log entry is {len(entry)} bytes; a tlog-tiles entry holds at most {MAX_ENTRY_SIZE}"
        )
    return entry


def _chunks(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Log:
    """The single writer of one tiled transparency log (OPS §6.2). Thread-safe.

    Open it with :meth:`open` (or :func:`open_directory_log`) and close it (or use ``with``).
    Concurrent :meth:`add` calls from many threads share batches; :meth:`add_many`
    integrates its entries at once.
    """

    def __init__(
        self,
        store: TileStore,
        state_dir: Path,
        *,
        origin: str,
        signer: note.Signer,
        verifier: note.Verifier,
        admission: Admission | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_max_age: float = DEFAULT_BATCH_MAX_AGE,
        fsync: bool = True,
        clock: Callable[[], float] = time.monotonic,
        partial_grace: float = PARTIAL_GRACE_SECONDS,
    ) -> None:
        """Lock the log and recover it to its published checkpoint (see :meth:`open`)."""
        if not isinstance(state_dir, Path):
            raise TypeError(f"state_dir must be a pathlib.Path, not {type(state_dir).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be int, not {type(batch_size).__name__}")
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be in 1..{MAX_BATCH_SIZE}, not {batch_size}")
        if not batch_max_age >= 0:
            raise ValueError(f"batch_max_age must be >= 0 seconds, not {batch_max_age}")
        if (signer.name, signer.key_hash) != (verifier.name, verifier.key_hash):
            raise ValueError(
                f"signer {signer.name}+{signer.key_hash:08x} and verifier "
                f"{verifier.name}+{verifier.key_hash:08x} are not the same log key"
            )
        Checkpoint(origin, 0, EMPTY_ROOT)  # the origin must be a valid checkpoint line

        self._store = store
        self._origin = origin
        self._signer = signer
        self._verifier = verifier
        self._admission = admission
        self._batch_size = batch_size
        self._batch_max_age = float(batch_max_age)
        self._clock = clock
        if not partial_grace >= 0:
            raise ValueError(f"partial_grace must be >= 0 seconds, not {partial_grace}")
        self._partial_grace = float(partial_grace)
        # Superseded partial tiles to delete (SPEC §6.1): (when, size, full paths to go).
        self._superseded: deque[tuple[float, int, Iterator[str]]] = deque()
        self._sweeping = threading.Lock()
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._preparing = False  # a thread is sequencing a batch (or recovering)
        self._in_flight: deque[_Prepared] = deque()  # sequenced, not yet published: in order
        self._generation = 0  # failed publications so far (see _sequence)
        self._failure: BaseException | None = None  # a batch failed: recover before the next
        self._closed = False
        self._broken: BaseException | None = None
        self._recent: dict[bytes, int] = {}
        self._recorded_size = 0  # the published size last recorded in the state database
        self._frontier = Frontier(0, [], b"")  # the published tree
        self._tip = self._frontier  # the tree after the last batch sequenced
        self._checkpoint = b""
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-publisher")

        self._state_dir = state_dir
        self._fsync = fsync
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = durable.lock(state_dir / LOCK_FILE, _refuse(state_dir))
        try:
            database = state_dir / STATE_DB
            new_database = not database.exists()
            self._db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            try:
                if new_database and fsync:
                    # A new database holds nothing yet: switching it to WAL writes only its
                    # header, which SQLite would otherwise commit through a rollback journal
                    # with four flushes in a row (journal, directory, journal, database),
                    # about a tenth of what a short run of batches waits on the disk
                    # (bench/bench_append.py). One flush of the file makes the header
                    # durable; its name is made durable by the directory flush of the WAL's
                    # first commit (in _load, FULL), before anything is acknowledged.
                    self._db.execute("PRAGMA synchronous=OFF")
                    self._db.execute("PRAGMA journal_mode=WAL")
                    _fsync_path(database)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
                self._db.execute("PRAGMA busy_timeout=10000")
                self._index = LeafIndex(self._db, state_dir, fsync=fsync)
                self._load()
            except BaseException:
                self._db.close()
                raise
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._sweep_partials()  # those a crash left behind, if their grace is over

    @classmethod
    def open(
        cls,
        store: TileStore,
        state_dir: Path,
        *,
        origin: str,
        signer: note.Signer,
        verifier: note.Verifier,
        admission: Admission | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_max_age: float = DEFAULT_BATCH_MAX_AGE,
        fsync: bool = True,
        clock: Callable[[], float] = time.monotonic,
        partial_grace: float = PARTIAL_GRACE_SECONDS,
    ) -> Log:
        """Lock the log, recover it to its published checkpoint, and return its writer.

        ``state_dir`` holds the lock file and the state database (SPEC §6.1); it need not be
        served. ``verifier`` is the log key's verifier: the published checkpoint is verified
        on open, so a log reopened with another key or origin is refused instead of forked.
        A new, empty store gets a checkpoint of size 0. ``fsync=False`` makes the state
        database skip its flushes too (tests and throw-away logs only).
        Partial tiles superseded by a published full tile are deleted ``partial_grace``
        seconds after (SPEC §6.1).
        Raises :class:`LogLockedError` if another writer has the log open.
        """
        return cls(
            store,
            state_dir,
            origin=origin,
            signer=signer,
            verifier=verifier,
            admission=admission,
            batch_size=batch_size,
            batch_max_age=batch_max_age,
            fsync=fsync,
            clock=clock,
            partial_grace=partial_grace,
        )

    # --- public state ---

    @property
    def size(self) -> int:
        """Size of the published tree."""
        return self._frontier.size

    @property
    def root(self) -> bytes:
        """Root hash of the published tree."""
        return self._frontier.root()

    @property
    def checkpoint(self) -> bytes:
        """The published signed checkpoint, as served at ``checkpoint``."""
        return self._checkpoint

    @property
    def store(self) -> TileStore:
        """The tile store this log writes (its read side serves it)."""
        return self._store

    # --- appending ---

    def add(self, entry: bytes) -> int:
        """Append one entry; return its index once a published checkpoint covers it.

        The entry waits up to the batch's maximum age for other entries to share its
        checkpoint. An entry already in the log returns its existing index. A rejection by
        the admission hook raises its ``VerificationError``.
        """
        pending = _Pending(_check_entry(entry), self._clock())
        with self._cond:
            self._usable()
            self._queue.append(pending)
            self._cond.notify_all()
        self._drive(pending, force=False)
        if pending.error is not None:
            self._settle(idle=False)  # return to the published checkpoint before raising
        return pending.result()

    def add_many(self, entries: Iterable[bytes], *, progress: Progress | None = None) -> list[int]:
        """Append entries in order, in batches; return their indices once all are published.

        Entries already in the log (or earlier in ``entries``) return their existing index.
        If the admission hook rejects some, the others are still appended, and then the
        first rejection is raised as a :class:`BatchRejectionError`, whose ``position`` is
        its place in ``entries`` (resubmitting returns the indices of those that were
        appended). ``progress(done, total)`` is called after each batch.

        Batches are pipelined (OPS §6.2): while one is being published, the next ones are
        read from ``entries`` and sequenced, so up to ``MAX_IN_FLIGHT + 1`` batches of
        entries are held at once. A batch is still acknowledged only by its own checkpoint.
        """
        total = len(entries) if isinstance(entries, Sized) else None
        indices: list[int] = []
        first_rejection: tuple[int, VerificationError] | None = None
        done = 0
        outstanding: deque[list[_Pending]] = deque()
        chunks = _chunks(entries, self._batch_size)
        try:
            while True:
                chunk = next(chunks, None)
                if chunk is not None:
                    now = self._clock()
                    pendings = [_Pending(_check_entry(entry), now) for entry in chunk]
                    with self._cond:
                        self._usable()
                        self._queue.extend(pendings)
                        self._cond.notify_all()
                    outstanding.append(pendings)
                    if len(outstanding) <= MAX_IN_FLIGHT:
                        continue  # read and queue the next batch before waiting
                if not outstanding:
                    break
                pendings = outstanding[0]
                self._drive(pendings[-1], force=True)
                outstanding.popleft()
                for offset, pending in enumerate(pendings):
                    if pending.rejection is not None:
                        if first_rejection is None:
                            first_rejection = (done + offset, pending.rejection)
                        continue
                    indices.append(pending.result())
                done += len(pendings)
                if progress is not None:
                    progress(done, total)
        except BaseException:
            self._abandon([pending for pendings in outstanding for pending in pendings])
            self._settle(idle=False)
            raise
        if first_rejection is not None:
            raise BatchRejectionError(*first_rejection)
        return indices

    def flush(self) -> None:
        """Integrate every queued entry now, without waiting for batches to fill."""
        with self._cond:
            last = self._queue[-1] if self._queue else None
        if last is not None:
            self._drive(last, force=True)

    def close(self) -> None:
        """Integrate what is queued, then release the lock.

        The window of recent leaf hashes is not written out: like the whole index it is
        derived from the published tiles, and the next open reads it back from the level-0
        tiles (OPS §6.2), which costs far less than a transaction and a rewrite of the
        filter's file at every close. A writer that is killed leaves exactly the same state,
        except for the published size, which close records (it cannot be rebuilt if the
        checkpoint is lost: it is what lets a reopen notice that).
        """
        with self._cond:
            if self._closed:
                return
        try:
            if self._broken is None:
                self.flush()
                self._settle(idle=True)
                if self._broken is None and self._failure is None:
                    self._record_size()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._publisher.shutdown(wait=True)
            self._db.close()
            os.close(self._lock_fd)

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- batching and pipelining (OPS §6.2) ---

    def _usable(self) -> None:
        if self._closed:
            raise ValueError("the log is closed")
        if self._broken is not None:
            raise LogStateError(
                "the log could not recover from a failed integration; fix the storage "
                f"problem and reopen it ({self._broken!r})"
            )

    def _drive(self, target: _Pending, *, force: bool) -> None:
        """Wait until ``target`` is integrated, sequencing batches (or recovering) in turn.

        One thread at a time sequences (``_preparing``); it hands each batch to the
        publisher thread and, while that publishes, may sequence the next ones: at most
        ``MAX_IN_FLIGHT`` sequenced batches wait for or undergo publication.
        """
        cond = self._cond
        while True:
            with cond:
                if target.done:
                    return
                self._usable()
                batch: list[_Pending] | None = None
                recover = False
                tip, generation = self._tip, self._generation
                timeout: float | None = None
                if not self._preparing:
                    if self._failure is not None:
                        recover = not self._in_flight
                    elif self._queue and len(self._in_flight) < MAX_IN_FLIGHT:
                        oldest = self._queue[0].enqueued + self._batch_max_age
                        if force or len(self._queue) >= self._batch_size or self._clock() >= oldest:
                            batch = self._queue[: self._batch_size]
                            del self._queue[: self._batch_size]
                        else:
                            timeout = max(0.0, oldest - self._clock())
                    if batch is not None or recover:
                        self._preparing = True
                if batch is None and not recover:
                    cond.wait(timeout)
                    continue
            inline: _Prepared | None = None
            try:
                if recover:
                    self._recover()
                else:
                    inline = self._sequence_and_submit(batch or [], tip, generation)
            finally:
                with cond:
                    self._preparing = False
                    cond.notify_all()
            if inline is not None:
                self._publish(inline)  # another thread may sequence the next meanwhile

    def _settle(self, *, idle: bool) -> None:
        """Recover now if a batch failed (once those in flight are done); with ``idle``, also
        wait until no batch is being sequenced or published."""
        cond = self._cond
        while True:
            with cond:
                if self._broken is not None:
                    return
                if self._failure is None and not (idle and (self._preparing or self._in_flight)):
                    return
                if self._preparing or self._in_flight:
                    cond.wait()
                    continue
                self._preparing = True
            try:
                recovered = self._recover()
            finally:
                with cond:
                    self._preparing = False
                    cond.notify_all()
            if not recovered:
                return  # the storage is still failing: the next submission tries again

    def _abandon(self, pendings: list[_Pending]) -> None:
        """After a failed add_many: unqueue its later entries and wait out those in flight.

        So when add_many raises, none of its entries is still being integrated: the log's
        size and checkpoint are those on disk.
        """
        mine = {id(pending) for pending in pendings}
        withdrawn = LogStateError("withdrawn: an earlier batch of the same add_many failed")
        with self._cond:
            kept: list[_Pending] = []
            for pending in self._queue:
                if id(pending) in mine:
                    pending.error, pending.done = withdrawn, True
                else:
                    kept.append(pending)
            self._queue = kept
            while self._broken is None and not all(pending.done for pending in pendings):
                self._cond.wait()

    def _recover(self) -> bool:
        """Return to the published checkpoint after a failed batch, as a reopen would.

        A storage error (a full disk, OPS §6.2 "Storage errors") leaves the failure in place:
        every queued entry gets the error, and the next submission tries again, so the writer
        recovers by itself once the storage does. Anything else breaks the writer for good.
        Returns whether it recovered.
        """
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._load()
        except BaseException as again:
            with self._cond:
                if isinstance(again, _TRANSIENT):
                    self._failure = again
                    for pending in self._queue:
                        pending.index, pending.rejection, pending.error = -1, None, again
                        pending.done = True
                    self._queue.clear()
                else:
                    self._broken = again
                self._cond.notify_all()
            if not isinstance(again, Exception):
                raise
            return False
        with self._cond:
            self._failure = None
            self._tip = self._frontier
        return True

    def _sequence_and_submit(
        self, batch: list[_Pending], tip: Frontier, generation: int
    ) -> _Prepared | None:
        """Steps 1-2 and the checkpoint of step 4 for one batch, then hand it to the publisher.

        Returns the batch instead when the caller should publish it itself.
        """
        if len(self._recent) >= RECENT_WINDOW:
            try:
                self._flush_index()
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._fail_unsubmitted(batch, exc)
                with self._cond:
                    # A reopen (or, after a storage error, a recovery) catches the index up
                    # from the tiles.
                    if isinstance(exc, _TRANSIENT):
                        self._failure = exc
                    else:
                        self._broken = exc
                if not isinstance(exc, Exception):
                    raise
                return None
        try:
            prepared = self._sequence(batch, tip, generation)
        except BaseException as exc:
            # Nothing of this batch is acknowledged; the writer returns to the published
            # checkpoint (once the batches before it are settled) exactly as a reopen would.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._fail_unsubmitted(batch, exc)
            with self._cond:
                self._failure = exc
            if not isinstance(exc, Exception):
                raise
            return None
        with self._cond:
            # With nothing else in flight or queued there is nothing to overlap: publish in
            # this thread and spare two thread switches (a synchronous submitter's case).
            inline = not self._in_flight and not self._queue
            self._in_flight.append(prepared)
            self._tip = prepared.frontier
        if inline:
            return prepared
        self._publisher.submit(self._publish, prepared)
        return None

    def _fail_unsubmitted(self, batch: list[_Pending], exc: BaseException) -> None:
        with self._cond:
            for pending in batch:
                pending.index, pending.rejection, pending.error = -1, None, exc
                pending.done = True
            self._cond.notify_all()

    def _publish(self, prepared: _Prepared) -> None:
        """Steps 3-5 (OPS §6.2), one batch at a time, in sequence order.

        Runs in the publisher thread, or in the sequencing thread when nothing else is in
        flight; either way a batch waits until every batch before it is settled.
        """
        with self._cond:
            while self._in_flight[0] is not prepared:
                self._cond.wait()
            error = self._failure if prepared.generation != self._generation else None
        published = False
        if error is None and prepared.checkpoint:
            try:
                self._store.publish(prepared.files, prepared.checkpoint)
                published = True
            except BaseException as exc:  # handed to the batch's submitters
                error = exc
        with self._cond:
            if self._in_flight[0] is not prepared:
                raise AssertionError("bad math in Log._publish: batches published out of order")
            self._in_flight.popleft()
            if error is None:
                # Step 5: acknowledge.
                if published:
                    old = self._frontier.size
                    self._frontier, self._checkpoint = prepared.frontier, prepared.checkpoint
                    new = prepared.frontier.size
                    if _completed_tiles(old, new, first_only=True):
                        self._superseded.append(
                            (
                                self._clock() + self._partial_grace,
                                new,
                                iter(_completed_tiles(old, new, first_only=True)),
                            )
                        )
                self._recent.update(prepared.fresh)
                for pending in prepared.batch:
                    pending.done = True
            else:
                if prepared.generation == self._generation:
                    # Every batch sequenced after this one was built on it: they fail too.
                    self._generation += 1
                    self._failure = error
                for pending in prepared.batch:
                    pending.index, pending.rejection, pending.error = -1, None, error
                    pending.done = True
            self._cond.notify_all()
        if self._superseded:
            self._sweep_partials()

    def _sweep_partials(self) -> None:
        """Delete the partial tiles whose grace has passed, a bounded number per call.

        SPEC §6.1: once the full tile (bundle) is published, its partial versions are
        garbage to every reader of the current checkpoint; readers of an older checkpoint
        that miss one fall back to the full tile (C2SP tlog-tiles, §6.5.4). A failure is
        logged and retried later: it never fails a batch.
        """
        if not self._sweeping.acquire(blocking=False):
            return  # another publishing thread is at it
        try:
            now, budget, swept = self._clock(), _SWEEP_CHUNK, None
            while self._superseded and budget:
                due, size, paths = self._superseded[0]
                if due > now:
                    break
                for path in paths:
                    self._store.discard_partials(path)
                    budget -= 1
                    if not budget:
                        break
                else:
                    self._superseded.popleft()
                    swept = size
            if swept is not None:
                # Not flushed: the file only saves work (SPEC §6.1).
                durable.replace(self._state_dir / PARTIALS_SWEPT_FILE, b"%d\n" % swept, fsync=False)
        except OSError as e:
            _log.warning("could not delete superseded partial tiles (will retry): %s", e)
        finally:
            self._sweeping.release()

    # --- integration (OPS §6.2) ---

    def _sequence(self, batch: list[_Pending], tip: Frontier, generation: int) -> _Prepared:
        """Steps 1-2: indices, admission and its state; then the files and the checkpoint.

        ``tip`` is the tree after the last batch sequenced, and ``generation`` counts the
        failed publications when it was taken: if a batch before this one fails to publish,
        the generation moves on and the publisher discards this batch, built on it.
        """
        db, admission = self._db, self._admission
        hashes = [_sha256(_LEAF + p.entry).digest() for p in batch]
        known = self._lookup(hashes)

        # Step 1: sequence. Duplicates get their existing index; the admission hook sees
        # each new entry with the index it would get, inside one transaction.
        next_index = tip.size
        fresh: dict[bytes, int] = {}
        new_entries: list[bytes] = []
        new_hashes: list[bytes] = []
        if admission is not None:
            db.execute("BEGIN IMMEDIATE")
        for pending, leaf in zip(batch, hashes, strict=True):
            index = known.get(leaf)
            if index is None:
                index = fresh.get(leaf)
            if index is not None:
                pending.index = index
                continue
            if admission is not None:
                db.execute("SAVEPOINT admit")
                try:
                    admission.check(pending.entry, next_index, db)
                except VerificationError as rejection:
                    db.execute("ROLLBACK TO admit")
                    db.execute("RELEASE admit")
                    pending.rejection = rejection
                    continue
                db.execute("RELEASE admit")
            fresh[leaf] = next_index
            pending.index = next_index
            next_index += 1
            new_entries.append(pending.entry)
            new_hashes.append(leaf)

        if not new_entries:
            if admission is not None:
                db.execute("ROLLBACK")
            # Nothing to publish, but the indices may be those of batches still in flight:
            # the batch is acknowledged in order, after them.
            return _Prepared(batch, tip, {}, b"", fresh, generation)
        frontier = tip.copy()
        files = frontier.append(new_entries, new_hashes)
        # Step 2: the admission state for exactly these entries, durably. (Rolled back
        # on recovery if the checkpoint below never gets published.)
        if admission is not None:
            db.execute("UPDATE log_meta SET value = ? WHERE key = 'admitted_size'", (next_index,))
            db.execute("COMMIT")
        # The signed checkpoint, published by step 4 after every file of step 3.
        body = Checkpoint(self._origin, frontier.size, frontier.root()).body()
        signed = note.sign(body, self._signer).encode("utf-8")
        return _Prepared(batch, frontier, files, signed, fresh, generation)

    def _lookup(self, hashes: list[bytes]) -> dict[bytes, int]:
        """Existing indices of the leaf hashes already in the log or in a batch in flight."""
        with self._cond:
            recent = self._recent
            found = {h: recent[h] for h in hashes if h in recent}
            for prepared in self._in_flight:
                in_batch = prepared.fresh
                found.update((h, in_batch[h]) for h in hashes if h in in_batch)
        found.update(self._index.lookup(h for h in hashes if h not in found))
        return found

    def _flush_index(self) -> None:
        """Move the recent leaf hashes, sorted, into the persistent index (one transaction)."""
        with self._cond:  # the publisher adds to the window and the tree together
            rows = sorted(self._recent.items())
            size = self._frontier.size
        self._index.add(rows, size)
        with self._cond:
            for leaf, _ in rows:
                del self._recent[leaf]

    def _record_size(self) -> None:
        """Record the published size in the state database if it grew (OPS §6.2).

        Not derived data: it lets a reopen refuse a checkpoint that was deleted or replaced
        by an older one. One row in one small transaction, unlike a flush of the window.
        """
        size = self._frontier.size
        if size == self._recorded_size:
            return
        with durable.immediate_transaction(self._db) as db:
            db.execute("INSERT OR REPLACE INTO log_meta VALUES ('published_size', ?)", (size,))
        self._recorded_size = size

    # --- recovery (OPS §6.2: reopen) ---

    def _load(self) -> None:
        """Return to the published checkpoint: verify it, roll back, rebuild the right edge."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS log_meta "
                "(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID"
            )
            meta = dict(db.execute("SELECT key, value FROM log_meta").fetchall())
            recorded = int(meta.get("published_size", 0))
            signed = self._store.read(CHECKPOINT_PATH)
            if signed is None:
                if recorded or meta.get("indexed_size", 0) or meta.get("admitted_size", 0):
                    raise LogStateError(
                        "the log has no checkpoint but its state database records entries; "
                        "restore the checkpoint file (or open the right state directory)"
                    )
                checkpoint = Checkpoint(self._origin, 0, EMPTY_ROOT)
                signed = note.sign(checkpoint.body(), self._signer).encode("utf-8")
                self._store.publish({}, signed)
            checkpoint = verify_checkpoint(signed, self._verifier, origin=self._origin).checkpoint
            rolled = self._roll_forward(checkpoint.size)
            if rolled is not None:
                signed, checkpoint = rolled
            size = checkpoint.size

            indexed = LeafIndex.setup(db)
            if indexed > size:
                raise LogStateError(
                    f"the leaf index covers {indexed} entries but the published checkpoint "
                    f"only {size}; the checkpoint was replaced by an older one"
                )
            if recorded > size:
                raise LogStateError(
                    f"the log was closed at size {recorded} but the published checkpoint has "
                    f"size {size}; the checkpoint was replaced by an older one"
                )
            self._reconcile_admission(meta, size)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

        frontier = _rebuild_frontier(self._store, size)
        if frontier.root() != checkpoint.root_hash:
            raise VerificationError(
                LogReason.MALFORMED_TILE,
                f"the published tiles of size {size} hash to root {frontier.root().hex()} but "
                f"the published checkpoint says {checkpoint.root_hash.hex()}; the tile "
                "directory does not belong to this checkpoint",
            )
        self._frontier, self._checkpoint = frontier, signed
        self._recorded_size = recorded
        swept = min(_read_size(self._state_dir / PARTIALS_SWEPT_FILE), size)
        with self._sweeping:
            self._superseded.clear()
            if swept < size:  # a crash lost the deletions due after this size: again
                self._superseded.append(
                    (
                        self._clock() + self._partial_grace,
                        size,
                        iter(_completed_tiles(swept, size, first_only=False)),
                    )
                )
        self._tip = frontier
        self._index.load(indexed)
        self._recent = _recent_hashes(self._store, indexed, size)
        if len(self._recent) >= RECENT_WINDOW:
            self._flush_index()

    def _roll_forward(self, published: int) -> tuple[bytes, Checkpoint] | None:
        """Publish the staged checkpoint if it is a larger tree whose files are all there.

        OPS §6.2 recovery step 2: a checkpoint is staged, durably and after every file of its
        tree, before anyone (a witness) is shown it, so a staged tree may be held by a
        witness although ``checkpoint`` still names an older one. Discarding it would make
        the log sign another tree of that size: instead the log publishes it. A staged
        checkpoint that does not verify, is not larger, or whose tiles do not hash to its
        root was never shown to anyone (its round of flushes did not complete) and is
        ignored. Returns the published note and its checkpoint, or None.
        """
        staged = self._store.staged()
        if not staged:
            return None
        try:
            checkpoint = verify_checkpoint(staged, self._verifier, origin=self._origin).checkpoint
        except VerificationError:
            return None
        if checkpoint.size <= published:
            return None
        try:
            frontier = _rebuild_frontier(self._store, checkpoint.size)
        except (LogStateError, VerificationError):
            return None
        if frontier.root() != checkpoint.root_hash:
            return None
        self._store.publish({}, staged)
        return staged, checkpoint

    def _reconcile_admission(self, meta: dict[str, int], size: int) -> None:
        """Bring the admission hook's state to exactly the published size (in the open txn)."""
        admission, db = self._admission, self._db
        admitted = meta.get("admitted_size")
        if admission is None:
            if admitted is not None:
                raise LogStateError(
                    "this log was written with an admission hook; open it with the same hook "
                    "so that its state stays in step with the log"
                )
            return
        if admitted is None:
            if size:
                raise LogStateError(
                    f"the admission hook has no state for the {size} entries already in the "
                    "log; an admission hook must be used from the log's first entry"
                )
            db.execute("INSERT INTO log_meta VALUES ('admitted_size', 0)")
            admitted = 0
        admission.setup(db)
        if admitted > size:
            admission.rollback(size, db)
            db.execute("UPDATE log_meta SET value = ? WHERE key = 'admitted_size'", (size,))
        elif admitted < size:
            raise LogStateError(
                f"the admission state covers {admitted} entries but the log has {size}; "
                "the state database was restored from an older copy"
            )


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_required(store: TileStore, path: str, length: int | None = None) -> bytes:
    data = store.read(path)
    if data is None:
        raise LogStateError(
            f"{path} is covered by the published checkpoint but missing from the store"
        )
    if length is not None and len(data) != length:
        raise VerificationError(
            LogReason.MALFORMED_TILE,
            f"{path} should be {length} bytes but is {len(data)}; the published tile is damaged",
        )
    return data


def _split_hashes(data: bytes) -> list[bytes]:
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _rebuild_frontier(store: TileStore, size: int) -> Frontier:
    """The right edge at ``size`` from the published partial tiles and partial bundle."""
    levels: list[TileLevel] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
        tiles = TileLevel()
        if width:
            index = size >> (TILE_HEIGHT * (level + 1))
            data = _read_required(store, Tile(level, index, width).path(), width * HASH_SIZE)
            filled, _ = tiles.extend(_split_hashes(data))
            if filled:
                raise AssertionError("bad math in _rebuild_frontier: a partial tile filled up")
        levels.append(tiles)
        level += 1
    bundle = b""
    width = size % BUNDLE_WIDTH
    if width:
        path = entries_path(size // BUNDLE_WIDTH, width)
        bundle = _read_required(store, path)
        entries = parse_entry_bundle(bundle, width)
        if [_sha256(_LEAF + e).digest() for e in entries] != levels[0].nodes[0]:
            raise VerificationError(
                LogReason.MALFORMED_TILE,
                f"the entries of {path} do not hash to its level-0 tile; the published "
                "bundle is damaged",
            )
    return Frontier(size, levels, bundle)


def _recent_hashes(store: TileStore, start: int, size: int) -> dict[bytes, int]:
    """Leaf hashes of entries ``start..size-1``, read from the published tiles."""
    recent: dict[bytes, int] = {}
    index = start - start % BUNDLE_WIDTH
    while index < size:
        tile_index = index // TILE_WIDTH
        width = min(TILE_WIDTH, size - index)
        data = _read_required(store, Tile(0, tile_index, width).path(), width * HASH_SIZE)
        for offset, leaf in enumerate(_split_hashes(data)):
            if index + offset >= start:
                recent.setdefault(leaf, index + offset)
        index += width
    return recent


def _completed_tiles(old: int, new: int, *, first_only: bool) -> list[str] | Iterator[str]:
    """Full paths of the tiles and bundles that growing from ``old`` to ``new`` completed.

    With ``first_only``, only those that may have partial versions: at each level the tile
    that was partial at ``old`` (a tile completed within one batch never had any); a list.
    Otherwise every completed tile, lazily (after a crash the log does not know which had
    partials; deleting none is cheap).
    """
    if first_only:
        paths: list[str] = []
        if old % BUNDLE_WIDTH and old // BUNDLE_WIDTH < new // BUNDLE_WIDTH:
            paths.append(entries_path(old // BUNDLE_WIDTH))
        level = 0
        while new >> (TILE_HEIGHT * level):
            low, high = old >> (TILE_HEIGHT * level), new >> (TILE_HEIGHT * level)
            if low % TILE_WIDTH and low // TILE_WIDTH < high // TILE_WIDTH:
                paths.append(Tile(level, low // TILE_WIDTH, TILE_WIDTH).path())
            level += 1
        return paths
    return _every_completed_tile(old, new)


def _every_completed_tile(old: int, new: int) -> Iterator[str]:
    for index in range(old // BUNDLE_WIDTH, new // BUNDLE_WIDTH):
        yield entries_path(index)
    level = 0
    while new >> (TILE_HEIGHT * level):
        low, high = old >> (TILE_HEIGHT * level), new >> (TILE_HEIGHT * level)
        for index in range(low // TILE_WIDTH, high // TILE_WIDTH):
            yield Tile(level, index, TILE_WIDTH).path()
        level += 1


def _read_size(path: Path) -> int:
    """A decimal size in a small state file; 0 if it is missing or not one."""
    try:
        text = path.read_bytes()[:32].decode("ascii", "replace").strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


def _refuse(state_dir: Path) -> Callable[[str], LogLockedError]:
    def refuse(holder: str) -> LogLockedError:
        return LogLockedError(
            f"the log at {state_dir} is open by another writer (pid {holder}); "
            "only one process may append to a log at a time"
        )

    return refuse


def open_directory_log(
    root: Path,
    *,
    origin: str,
    signer: note.Signer,
    verifier: note.Verifier,
    state_dir: Path | None = None,
    fsync: bool = True,
    admission: Admission | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_max_age: float = DEFAULT_BATCH_MAX_AGE,
    partial_grace: float = PARTIAL_GRACE_SECONDS,
) -> Log:
    """Open the log whose tiles live in directory ``root`` (state in ``root/.state``).

    A static web server can serve ``root`` as the log's tlog-tiles prefix; it SHOULD NOT
    serve ``.state`` (not secret, but not part of the API).
    """
    return Log.open(
        DirectoryTileStore(root, fsync=fsync),
        state_dir if state_dir is not None else root / ".state",
        origin=origin,
        signer=signer,
        verifier=verifier,
        admission=admission,
        batch_size=batch_size,
        batch_max_age=batch_max_age,
        fsync=fsync,
        partial_grace=partial_grace,
    )
