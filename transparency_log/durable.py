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

A writer of thousands of files at once (the package publisher, OPS §7.7) cannot pay one
``fsync`` per file, nor create, rename over and free one file per file: on a journaling or
``discard``-mounted file system each of those costs milliseconds (about 4 ms per ``fsync``:
40 s for 10,000 packages), rewriting an existing file's blocks microseconds. For it:
:func:`replace_many` (temporary files, one flush of the whole file system, then the renames),
:func:`overwrite_in_place` and :func:`sync_filesystem` (rewrite files no reader is reading,
then one flush), and :func:`replace_symlink` (switch readers to what was written, atomically).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

if TYPE_CHECKING:
    import sqlite3  # only a type here: a client that embeds this module never loads it

StrPath: TypeAlias = "str | os.PathLike[str]"
"""A path as every function here takes it. Paths are handled with ``os.path``, not
``pathlib``: a client saving its state (``keybundle.state``) would otherwise load ``pathlib``
and, through it, ``urllib.parse`` and ``ipaddress`` at start-up (bench/bench_verify.py)."""

__all__ = [
    "append",
    "create_new",
    "fsync_directory",
    "immediate_transaction",
    "lock",
    "overwrite_in_place",
    "replace",
    "replace_many",
    "replace_symlink",
    "replace_with",
    "sync_filesystem",
    "write_unflushed",
]

_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def fsync_directory(directory: StrPath) -> None:
    """Flush ``directory`` itself: the names created, renamed or linked in it become durable.

    Without it a crash after ``rename`` may bring back the old name (or no name at all) even
    though the file's own data was flushed.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_filesystem(directory: StrPath) -> None:
    """Flush every written file of the file system holding ``directory``, and ``directory``.

    One ``syncfs(2)`` costs about what one ``fsync`` does, however many files were written
    (module doc). POSIX systems without it get ``sync()``, which flushes every file system
    and waits on Linux and the BSDs. ``directory`` itself is flushed too, so the names just
    created in it are durable whichever of the two ran.
    """
    import ctypes  # only here: most writers, and every client, never need it

    libc: object = None
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs is None:
            os.sync()
        elif syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs failed: {os.strerror(err)}", os.fsdecode(directory))
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


def overwrite_in_place(path: StrPath, data: bytes) -> None:
    """Make ``path`` hold ``data`` by rewriting its blocks, unflushed; create it if missing.

    Not atomic: a reader of ``path`` meanwhile sees a mix. Only for a file no reader opens
    until the writer switches readers to it (the publisher's idle generation, switched by
    :func:`replace_symlink`), and flushed by :func:`sync_filesystem` before that switch.
    Rewriting costs microseconds where creating, renaming over and freeing a file costs
    milliseconds (module doc). Never follows a symlink planted at ``path``.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        if os.fstat(fd).st_size != len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


_TEMPORARY_ATTEMPTS = 100


def _parent(path: str) -> str:
    """The directory holding ``path`` (``.`` for a bare name, as ``Path.parent``)."""
    return os.path.dirname(path) or "."


def _unlink_if_present(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _beside(path: str, suffix: str) -> str:
    """``.<name><suffix>`` in the directory of ``path``: a temporary name for it."""
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}{suffix}")


def _new_temporary(path: str, mode: int) -> tuple[int, str]:
    """Create ``.<name>.<16 random hex>.tmp`` beside ``path``; return its descriptor and name.

    What ``tempfile.mkstemp`` does: exclusive creation, no symlink followed, another random
    name when one is taken (a file there is someone else's: never opened, never removed).
    ``os.urandom``, not ``secrets`` or ``tempfile``: an embedded client saving its state
    (``keybundle.state``) should not import ``random``, ``hmac`` and ``base64`` for a name.
    """
    for _ in range(_TEMPORARY_ATTEMPTS):
        temporary = _beside(path, f".{os.urandom(8).hex()}.tmp")
        try:
            return os.open(temporary, _TEMPORARY_FLAGS, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary file name beside {path!r}")


def _temporary(
    path: str, mode: int, write: Callable[[BinaryIO], object], fsync: bool, locked: bool
) -> str:
    """A new, flushed temporary file beside ``path`` holding what ``write`` wrote.

    ``mode`` is set exactly (``fchmod``, whatever the umask) before any byte is written, so
    a private key is never readable by others, not even for an instant.
    """
    if locked:
        temporary = _beside(path, ".tmp")
        _unlink_if_present(temporary)  # a crash's leftover: no other writer holds the lock
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
        _unlink_if_present(temporary)
        raise
    os.close(fd)
    return temporary


def replace_with(
    path: StrPath,
    write: Callable[[BinaryIO], object],
    *,
    mode: int = 0o644,
    fsync: bool = True,
    locked: bool = False,
) -> None:
    """Replace ``path`` atomically with what ``write(file)`` writes (temporary file, flush,
    rename, directory flush). For data too large to hold twice in memory. ``locked``: the
    caller holds the directory's lock, so the temporary name is fixed (module doc)."""
    path = os.fspath(path)
    temporary = _temporary(path, mode, write, fsync, locked)
    try:
        os.replace(temporary, path)
    finally:
        _unlink_if_present(temporary)
    if fsync:
        fsync_directory(_parent(path))


def replace(path: StrPath, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Replace ``path`` atomically with ``data``: readers and restarts see old or new bytes."""
    replace_with(path, lambda out: out.write(data), mode=mode, fsync=fsync)


def _write_to(out: BinaryIO, data: bytes) -> None:
    out.write(data)


def replace_many(directory: StrPath, files: Mapping[str, bytes], *, mode: int = 0o644) -> None:
    """Replace each ``directory/name`` (``name`` may hold ``/``) with its bytes, atomically.

    Each file is written whole under a new temporary name, then all of them are flushed at
    once (:func:`sync_filesystem`: module doc), then each is renamed over its name, then each
    directory is flushed. A reader or a crash sees, for each file, the old bytes or the new,
    never a torn file, and no new name ever points at unflushed bytes. The files are not
    replaced together: a crash between two renames leaves some old and some new. On an
    error every temporary file this call created is removed.
    """
    temporaries: list[tuple[str, str]] = []
    try:
        for name, data in files.items():
            target = os.path.join(directory, name)
            write = functools.partial(_write_to, data=data)
            temporaries.append((_temporary(target, mode, write, False, False), target))
        if temporaries:
            sync_filesystem(directory)
        for temporary, target in temporaries:
            os.replace(temporary, target)
    except BaseException:
        for temporary, _ in temporaries:
            _unlink_if_present(temporary)
        raise
    for parent in sorted({_parent(target) for _, target in temporaries}):
        fsync_directory(parent)


def replace_symlink(link: StrPath, target: str, *, fsync: bool = True) -> None:
    """Point the symbolic link ``link`` at ``target``, atomically, whatever it pointed at.

    A new link under a random temporary name is renamed over ``link``, then the directory
    is flushed: a reader resolving ``link`` finds the old target or the new one, never no
    link, and a crash leaves one of the two. The caller checks what ``link`` was before.
    """
    link = os.fspath(link)
    temporary = _beside(link, f".{os.urandom(8).hex()}.tmp")
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)
    except BaseException:
        _unlink_if_present(temporary)
        raise
    if fsync:
        fsync_directory(_parent(link))


def create_new(path: StrPath, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Create ``path`` holding ``data``, atomically, never replacing an existing file.

    The complete, flushed temporary file is hard-linked to ``path``: ``link`` fails if the
    name exists, even if it appeared after any check the caller made, so a key or an output
    file is never overwritten, and a crash leaves either no file or the whole one.
    Raises ``FileExistsError`` if ``path`` exists (or is a symlink, even a dangling one).
    """
    path = os.fspath(path)
    if os.path.lexists(path):  # a file, or a symlink (even a dangling one)
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing file", path)
    temporary = _temporary(path, mode, lambda out: out.write(data), fsync, locked=False)
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "refusing to overwrite an existing file", path
        ) from None
    finally:
        _unlink_if_present(temporary)
    if fsync:
        fsync_directory(_parent(path))


def append(path: StrPath, data: bytes, *, fsync: bool = True) -> None:
    """Append ``data`` to ``path`` (created if missing), after cutting a torn last line.

    For append-only record files of one writer under its lock (the monitor's history,
    OPS §8.5): a crash mid-append may leave a last line without its LF; that piece is cut
    off first, so the file stays whole lines. Flushed with ``fsync``, and the directory too
    when the file was created, so that the records survive a crash once this returns.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        size = os.fstat(fd).st_size
        created = size == 0
        if size and os.pread(fd, 1, size - 1) != b"\n":
            keep = size - 1
            while keep > 0:  # back to the byte after the last LF (0 if there is none)
                start = max(0, keep - (1 << 16))
                cut = os.pread(fd, keep - start, start).rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
                keep = start
            os.ftruncate(fd, keep)
            size = keep
        os.lseek(fd, size, os.SEEK_SET)
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if fsync and created:
        fsync_directory(_parent(os.fspath(path)))


_LOCK_POLL_SECONDS = 0.005


def lock(
    path: StrPath,
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
