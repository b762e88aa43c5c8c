"""POSIX durable file operations: every crash-safe write of the project, in one place (SPEC §6.1).

Each operation states once why it is built the way it is; every writer (the log's tile
store, its dedupe filter and lock, the witness's state, the monitor's state and evidence, the
role-key files, the CLI's outputs) calls these instead of its own copy, the way tessera keeps
``storage/posix/file_ops.go``. The rules they share:

* A file that replaces another is written under a temporary name in the same directory and
  renamed over its target: ``rename`` is atomic within a file system, so a reader (or a
  restart after a crash) sees the old bytes or the new, never a torn file.
* The file is flushed (``fsync``) before the rename, or the rename could reach the disk
  before the data and a crash would leave a complete-looking empty file.
* The directory is flushed after the rename (or link): a new name is an entry of its
  directory, and is durable only once the directory is.
* A temporary file is created with ``O_EXCL | O_NOFOLLOW`` under a random name: nothing
  that already exists, and no symlink planted there, is ever written through. Only the
  temporary file the same call created is ever removed. A writer that holds its
  directory's lock (:func:`lock`) may ask for a fixed name instead (``locked=True``): then
  a temporary file left by a crash is removed and reused by the next attempt, instead of
  piling up (the tile store and the leaf filter, which are large, do this).

``fsync=False`` skips the flushes (tests and throw-away logs only); the order of renames is
kept, so the files still never tear for a reader, only a power loss may lose them.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import sqlite3  # only a type here: a client that embeds this module never loads it

__all__ = [
    "create_new",
    "fsync_directory",
    "immediate_transaction",
    "lock",
    "replace",
    "replace_with",
    "write_unflushed",
]

_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush ``directory`` itself: the names created, renamed or linked in it become durable.

    Without it a crash after ``rename`` may bring back the old name (or no name at all) even
    though the file's own data was flushed.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` may write less than asked (signals, pipes): loop until all is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_unflushed(path: str, data: bytes) -> int:
    """Create or truncate ``path``, write ``data``; return the open descriptor.

    For a writer that batches its flushes itself (the tile store flushes all the files of a
    batch at once, then renames its checkpoint: SPEC §6.1). The caller flushes and closes
    the descriptor. Only for paths under a single writer's lock: it truncates in place.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        raise
    return fd


_TEMPORARY_ATTEMPTS = 100


def _new_temporary(path: Path, mode: int) -> tuple[int, Path]:
    """Create ``.<name>.<16 random hex>.tmp`` beside ``path``; return its descriptor and name.

    What ``tempfile.mkstemp`` does: exclusive creation, no symlink followed, another random
    name when one is taken (a file there is someone else's: never opened, never removed).
    ``os.urandom``, not ``secrets`` or ``tempfile``: an embedded client saving its state
    (``keybundle.state``) should not import ``random``, ``hmac`` and ``base64`` for a name.
    """
    for _ in range(_TEMPORARY_ATTEMPTS):
        temporary = path.parent / f".{path.name}.{os.urandom(8).hex()}.tmp"
        try:
            return os.open(temporary, _TEMPORARY_FLAGS, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary file name beside {str(path)!r}")


def _temporary(
    path: Path, mode: int, write: Callable[[BinaryIO], object], fsync: bool, locked: bool
) -> Path:
    """A new, flushed temporary file beside ``path`` holding what ``write`` wrote.

    ``mode`` is set exactly (``fchmod``, whatever the umask) before any byte is written, so
    a private key is never readable by others, not even for an instant.
    """
    if locked:
        temporary = path.parent / f".{path.name}.tmp"
        temporary.unlink(missing_ok=True)  # a crash's leftover: no other writer holds the lock
        fd = os.open(temporary, _TEMPORARY_FLAGS, mode)
    else:
        fd, temporary = _new_temporary(path, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as out:
            write(out)
            out.flush()
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temporary


def replace_with(
    path: Path,
    write: Callable[[BinaryIO], object],
    *,
    mode: int = 0o644,
    fsync: bool = True,
    locked: bool = False,
) -> None:
    """Replace ``path`` atomically with what ``write(file)`` writes (temporary file, flush,
    rename, directory flush). For data too large to hold twice in memory. ``locked``: the
    caller holds the directory's lock, so the temporary name is fixed (module doc)."""
    temporary = _temporary(path, mode, write, fsync, locked)
    try:
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if fsync:
        fsync_directory(path.parent)


def replace(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Replace ``path`` atomically with ``data``: readers and restarts see old or new bytes."""
    replace_with(path, lambda out: out.write(data), mode=mode, fsync=fsync)


def create_new(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Create ``path`` holding ``data``, atomically, never replacing an existing file.

    The complete, flushed temporary file is hard-linked to ``path``: ``link`` fails if the
    name exists, even if it appeared after any check the caller made, so a key or an output
    file is never overwritten, and a crash leaves either no file or the whole one.
    Raises ``FileExistsError`` if ``path`` exists (or is a symlink, even a dangling one).
    """
    if path.exists() or path.is_symlink():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing file", str(path))
    temporary = _temporary(path, mode, lambda out: out.write(data), fsync, locked=False)
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "refusing to overwrite an existing file", str(path)
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    if fsync:
        fsync_directory(path.parent)


_LOCK_POLL_SECONDS = 0.005


def lock(
    path: Path,
    refuse: Callable[[str], BaseException],
    *,
    timeout: float = 0.0,
    mode: int = 0o644,
) -> int:
    """Take the exclusive lock ``path`` guards; return its descriptor (close it to release).

    ``flock`` on a lock file, not a lock file's existence: the kernel releases it when the
    process dies, so a crash never leaves a stale lock to clear by hand. The lock file is
    opened with ``O_NOFOLLOW``: a symlink planted there is refused, never written through.
    The holder writes its pid into the file for the error message of the next one. If
    another process still holds it after ``timeout`` seconds (0: do not wait; a client's
    state waits, SPEC §7.4), raises ``refuse(pid)`` (the pid text as written, or
    ``"unknown"``). A new lock file gets ``mode``.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(_LOCK_POLL_SECONDS)
                    continue
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise refuse(holder) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One SQLite write transaction on ``db`` (autocommit mode): all of it or none of it.

    ``BEGIN IMMEDIATE`` takes the write lock at once, so a transaction never fails halfway
    on a lock upgrade; any exception rolls back, so rows that must change together (a table
    and the ``log_meta`` row that says how far it reaches) never part.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite rolls back by itself on a full disk (SQLITE_FULL)
            db.execute("ROLLBACK")
        raise
