"""C2SP tlog-tiles: tile storage, the files a log serves as static resources (SPEC §6.1).

A tiled log is a tree of immutable files (``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``)
and one mutable file, ``checkpoint``. This module stores such files and knows nothing about
what they contain: :mod:`transparency_log.appender` decides what to write and when.

The write discipline (SPEC §6.1) is that of transparency-dev/tessera's POSIX driver, with
one round of flushes per batch: a file is written to a temporary name in its own directory
and renamed over its final name at once (a reader sees it complete or not at all), because
no published checkpoint names that path yet; then the files, the staged checkpoint and every
directory that changed (the tile directory too: the staged checkpoint's name is new, and the
last batch's checkpoint rename is still to be flushed) are flushed together, in parallel;
only then is the checkpoint shown to witnesses (if any) and renamed into place. Without
witnesses that rename is not flushed on its own: the next batch's round flushes it, and a
crash before then leaves the staged checkpoint, durable with its files, which recovery
publishes (OPS §6.2). So a batch costs one round of flushes (three with witnesses), a
checkpoint never names a file that is not durable, and no witness sees a tree that recovery
could lose (OPS §6.2 "Ordering"). Tiles
are write-once by the caller's discipline: the appender writes a path only while no published
checkpoint requires it; it deletes a partial tile only once the full one is published (§6.1).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Protocol

from transparency_log import durable
from transparency_log.tile import require_resource_path

__all__ = [
    "CHECKPOINT_PATH",
    "MAX_PATH_LENGTH",
    "STAGED_CHECKPOINT_NAME",
    "Cosign",
    "DirectoryTileStore",
    "MemoryTileStore",
    "TileStore",
    "validate_path",
]

CHECKPOINT_PATH = "checkpoint"
"""Where the log's signed checkpoint lives, relative to the log's prefix (C2SP tlog-tiles)."""

STAGED_CHECKPOINT_NAME = ".checkpoint.tmp"
"""The staged checkpoint in the tile directory (SPEC §6.1): signed, its files durable, not yet
(or already) published. Never served: a leading '.' is not a store path."""

_COSIGNED_CHECKPOINT_NAME = ".checkpoint.cosigned.tmp"

Cosign = Callable[[bytes], bytes]
"""Given the staged checkpoint, the same checkpoint with the cosignatures collected on it."""

MAX_PATH_LENGTH = 256
"""Longest relative path a store accepts (a tile path of a 2^63-leaf log is under 60 bytes)."""

_KNOWN_DIRS_CAP = 1024
_MAX_STAGED_BYTES = 1 << 20  # far above any signed note (MAX_NOTE_BYTES); the caller verifies


def validate_path(path: str) -> str:
    """Return ``path`` if it is a safe relative store path, else raise ValueError.

    Paths come from the appender or from a server's URL routing, so a bad one is a caller
    mistake; the one check of a log's resource paths is :func:`tile.require_resource_path`
    (SPEC §6.1), here with :data:`MAX_PATH_LENGTH`.
    """
    return require_resource_path(path, "store path", MAX_PATH_LENGTH)


class TileStore(Protocol):
    """Where a log keeps its static files (SPEC §6.1). Reads may run concurrently with writes.

    Only one writer (the appender holding the log's lock) calls :meth:`publish`.
    """

    def read(self, path: str) -> bytes | None:
        """The bytes stored at ``path``, or None if there is no file there."""
        ...

    def publish(
        self, files: Mapping[str, bytes], checkpoint: bytes, *, cosign: Cosign | None = None
    ) -> None:
        """Store ``files`` durably, then replace ``checkpoint``: the commit point of OPS §6.2.

        Each file appears atomically (complete or not at all). The files and ``checkpoint``
        are first *staged*: durable, the checkpoint where :meth:`staged` finds it. Only then
        is ``cosign`` (if given) called with the staged checkpoint, and what it returns (the
        same tree, with cosignatures) replaces ``checkpoint``, durably, when this returns.
        If it raises, any subset of the files may have been stored, the staged checkpoint may
        be the new one (always, once ``cosign`` was called), and the published one is the
        old one or the new one.
        """
        ...

    def staged(self) -> bytes | None:
        """The checkpoint of the last :meth:`publish` whose files were all durable when it was
        written, or None; recovery rolls forward to it (OPS §6.2). It may be torn (after
        power loss) or older than the published one: the caller verifies it."""
        ...

    def discard_partials(self, full_path: str) -> None:
        """Delete every partial version ``<full_path>.p/<W>`` of the full tile or entry bundle
        at ``full_path`` (SPEC §6.1); none there is fine. Called only once the full one is
        published."""
        ...


class DirectoryTileStore:
    """A :class:`TileStore` on a local POSIX directory, servable as-is by a static web server.

    ``fsync=False`` skips every flush: faster, and still atomic against a killed process
    (renames and the page cache survive ``kill -9``), but not against power loss or a kernel
    crash. Use it for tests and throw-away logs only.
    """

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        if not isinstance(root, Path):
            raise TypeError(f"root must be a pathlib.Path, not {type(root).__name__}")
        self._root = root
        self._fsync = fsync
        # Directories known to exist. Bounded so that memory stays flat as the log grows
        # (every level-0 tile index gets its own '<N>.p/' directory).
        self._known_dirs: set[str] = set()
        self._lock = threading.Lock()
        # The last publication renamed ``.checkpoint.tmp`` to ``checkpoint`` without a flush
        # of the tile directory (SPEC §6.1): the next round of flushes includes it.
        self._rename_unflushed = False

    @property
    def root(self) -> Path:
        """The directory that holds ``checkpoint`` and ``tile/``."""
        return self._root

    def __repr__(self) -> str:
        return f"DirectoryTileStore({str(self._root)!r}, fsync={self._fsync})"

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        full = os.path.join(self._root, validate_path(path))
        try:
            with open(full, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def publish(
        self, files: Mapping[str, bytes], checkpoint: bytes, *, cosign: Cosign | None = None
    ) -> None:
        """The SPEC §6.1 write discipline for one batch: one round of flushes (three with
        ``cosign``).

        1. Every file is written to ``.<name>.tmp`` in its target directory and renamed over
           its target at once (no path written here is required by a published checkpoint,
           so nothing refers to it yet; the rename only keeps readers from ever seeing a
           file half written), and the new checkpoint is written to ``.checkpoint.tmp``, the
           staged checkpoint. Then every one of those files and every directory that changed
           is flushed, all at once: the flushes are independent and each waits on the disk,
           not the CPU. The tile directory is among them: it received ``.checkpoint.tmp``
           anew, and the last publication's rename (below) is made durable with it.
        2. Without ``cosign``, ``.checkpoint.tmp`` is renamed to ``checkpoint``, and that is
           all: no flush. A crash that undoes the rename leaves ``.checkpoint.tmp`` (its
           bytes and its tree's files durable since round 1) for recovery to roll forward
           to, and the next publication's round 1 flushes it. With ``cosign``, only now
           (every file durable, OPS §6.2) is the checkpoint shown to anyone: ``cosign``
           returns it with its cosignatures, which is written to
           ``.checkpoint.cosigned.tmp``, flushed, renamed to ``checkpoint``, and the root
           flushed. ``.checkpoint.tmp`` stays as it is: a crash at any point after round 1
           leaves it for recovery to roll forward to; and as the next publication rewrites
           it in place, the cosigned checkpoint must be durable before this returns.

        A temporary name is fixed per target: one writer holds the log's lock, and a
        temporary file left by a killed writer is simply truncated by the next attempt.
        """
        if not isinstance(checkpoint, bytes):
            raise TypeError(f"checkpoint must be bytes, not {type(checkpoint).__name__}")
        targets = [(validate_path(path), data) for path, data in files.items()]
        with self._lock:
            root = os.fspath(self._root)
            fsync = self._fsync
            dirty: dict[str, None] = {}  # ordered set of directories to flush
            self._ensure_dir(root, dirty)
            written: list[int] = []  # descriptors of the files written, to flush
            try:
                for path, data in targets:
                    full = os.path.join(root, path)
                    directory, name = os.path.split(full)
                    self._ensure_dir(directory, dirty)
                    temporary = os.path.join(directory, f".{name}.tmp")
                    written.append(_write_file(temporary, data))
                    _rename(temporary, full)
                    dirty[directory] = None
                staged = os.path.join(root, STAGED_CHECKPOINT_NAME)
                if targets or self.staged() != checkpoint:
                    written.append(_write_file(staged, checkpoint))
                    # Its name (a new one: the last publication renamed the file away), and
                    # with it the last publication's rename, made durable in this round.
                    dirty[root] = None
                # else: recovery publishing the staged checkpoint (OPS §6.2 step 2); it is
                # never rewritten, so a crash now cannot tear the tree a witness may hold.
                if self._rename_unflushed:
                    dirty[root] = None
                if fsync:
                    flushes = [partial(_fsync_file, fd) for fd in written]
                    flushes.extend(partial(_fsync_dir, directory) for directory in dirty)
                    _run_all(flushes)
            finally:
                for fd in written:
                    os.close(fd)
            self._rename_unflushed = False
            if cosign is None:
                # Round 2 is the rename alone: its flush rides on the next publication's
                # round 1. Until then a crash may undo it, leaving the staged checkpoint, its
                # content and files durable, for recovery to roll forward to (OPS §6.2).
                _rename(staged, os.path.join(root, CHECKPOINT_PATH))
                self._rename_unflushed = True
                return
            final = cosign(checkpoint)
            if final is checkpoint or final == checkpoint:
                _rename(staged, os.path.join(root, CHECKPOINT_PATH))
            else:
                if not isinstance(final, bytes):
                    raise TypeError(f"cosign returned {type(final).__name__}, not bytes")
                cosigned = os.path.join(root, _COSIGNED_CHECKPOINT_NAME)
                fd = _write_file(cosigned, final)
                try:
                    if fsync:
                        _fsync_file(fd)
                finally:
                    os.close(fd)
                _rename(cosigned, os.path.join(root, CHECKPOINT_PATH))
            if fsync:
                _fsync_dir(root)

    def discard_partials(self, full_path: str) -> None:
        """Remove the files of ``<full_path>.p/`` and that directory (not flushed: a deletion
        that a crash undoes is done again, SPEC §6.1)."""
        directory = os.path.join(self._root, validate_path(full_path) + ".p")
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(directory)
        with self._lock:
            self._known_dirs.discard(directory)

    def staged(self) -> bytes | None:
        """The bytes of ``.checkpoint.tmp``, or None (OPS §6.2 recovery)."""
        try:
            with open(os.path.join(self._root, STAGED_CHECKPOINT_NAME), "rb") as f:
                return f.read(_MAX_STAGED_BYTES)
        except FileNotFoundError:
            return None

    def _ensure_dir(self, directory: str, dirty: dict[str, None]) -> None:
        """Create ``directory`` and missing parents; mark each changed parent to be flushed."""
        if directory in self._known_dirs:
            return
        missing: list[str] = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise
            dirty[os.path.dirname(path)] = None
        if len(self._known_dirs) >= _KNOWN_DIRS_CAP:
            self._known_dirs.clear()
        self._known_dirs.add(directory)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One small pool shared by every store: fsync releases the GIL, so flushes overlap."""
    global _POOL  # noqa: PLW0603 - a process-wide pool, created on first use
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tile-store-fsync")
        return _POOL


def _run_all(calls: Sequence[Callable[[], None]]) -> None:
    """Run independent flushes at once: each waits on the disk, not the CPU (or the GIL)."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    futures = [_pool().submit(call) for call in calls]
    for future in futures:  # wait for every one, then raise the first failure
        future.exception()
    for future in futures:
        future.result()


# The write points of publish, by name, so that a test can fail each in turn (test_crash).
_write_file = durable.write_unflushed
_fsync_dir = durable.fsync_directory


def _rename(source: str, target: str) -> None:
    os.replace(source, target)


def _fsync_file(fd: int) -> None:
    os.fsync(fd)


class MemoryTileStore:
    """A :class:`TileStore` in a dict, for tests and for logs that need no persistence."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._staged: bytes | None = None
        self._lock = threading.Lock()

    def read(self, path: str) -> bytes | None:
        """The stored bytes, or None."""
        with self._lock:
            return self._files.get(validate_path(path))

    def publish(
        self, files: Mapping[str, bytes], checkpoint: bytes, *, cosign: Cosign | None = None
    ) -> None:
        """Store a copy of every file and stage the checkpoint; then replace the published
        checkpoint by it, cosigned if ``cosign`` is given."""
        if not isinstance(checkpoint, bytes):
            raise TypeError(f"checkpoint must be bytes, not {type(checkpoint).__name__}")
        checked = {validate_path(path): bytes(data) for path, data in files.items()}
        with self._lock:
            self._files.update(checked)
            self._staged = checkpoint
        final = checkpoint if cosign is None else cosign(checkpoint)
        with self._lock:
            self._files[CHECKPOINT_PATH] = final

    def discard_partials(self, full_path: str) -> None:
        """Forget every ``<full_path>.p/<W>``."""
        prefix = validate_path(full_path) + ".p/"
        with self._lock:
            for path in [p for p in self._files if p.startswith(prefix)]:
                del self._files[path]

    def staged(self) -> bytes | None:
        """The last checkpoint staged, or None."""
        with self._lock:
            return self._staged

    def paths(self) -> list[str]:
        """Every stored path, sorted (for tests that compare layouts)."""
        with self._lock:
            return sorted(self._files)
