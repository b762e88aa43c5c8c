"""C2SP tlog-tiles: tile storage, the files a log serves as static resources (SPEC §6.1).

A tiled log is a tree of immutable files (``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``)
and one mutable file, ``checkpoint``. This module stores such files and knows nothing about
what they contain: :mod:`transparency_log.appender` decides what to write and when.

The write discipline (SPEC §6.1) is the POSIX one of transparency-dev/tessera's POSIX driver:
every file is written to a temporary name in its own directory, flushed with ``fsync``,
renamed over its final name (atomic: a reader sees the old file or the new one, never a torn
one), and the directory is flushed so that the rename itself is durable. A batch flushes each
directory it touched once, not once per file. Tiles are write-once by the caller's
discipline: the appender writes a path only while no published checkpoint covers it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

__all__ = [
    "CHECKPOINT_PATH",
    "MAX_PATH_LENGTH",
    "DirectoryTileStore",
    "MemoryTileStore",
    "TileStore",
    "validate_path",
]

CHECKPOINT_PATH = "checkpoint"
"""Where the log's signed checkpoint lives, relative to the log's prefix (C2SP tlog-tiles)."""

MAX_PATH_LENGTH = 256
"""Longest relative path a store accepts (a tile path of a 2^63-leaf log is under 60 bytes)."""

# A path element: letters, digits, '_', '-', '.', not starting with '.', so that '.' and '..'
# (traversal), hidden names and our own temporary names ('.<name>.tmp') are all refused.
_ELEMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"
_PATH = re.compile(rf"{_ELEMENT}(?:/{_ELEMENT})*")
_KNOWN_DIRS_CAP = 1024


def validate_path(path: str) -> str:
    """Return ``path`` if it is a safe relative store path, else raise ValueError.

    Safe (SPEC §6.1): ``/``-separated non-empty elements of ``[A-Za-z0-9_.-]`` that do not
    start with ``.``; at most :data:`MAX_PATH_LENGTH` characters. This refuses absolute
    paths, ``..`` traversal, backslashes, empty elements and hidden or temporary names. Paths
    come from the appender or from a server's URL routing, so a bad one is a caller mistake.
    """
    if not isinstance(path, str):
        raise TypeError(f"a store path is a str, not {type(path).__name__}")
    if len(path) > MAX_PATH_LENGTH or _PATH.fullmatch(path) is None:
        raise ValueError(
            f"store path {path[:80]!r} is not a relative path of [A-Za-z0-9_.-] elements "
            "(no leading '.', no '..', no empty element)"
        )
    return path


class TileStore(Protocol):
    """Where a log keeps its static files (SPEC §6.1). Reads may run concurrently with writes.

    Only one writer (the appender holding the log's lock) calls the write methods.
    """

    def read(self, path: str) -> bytes | None:
        """The bytes stored at ``path``, or None if there is no file there."""
        ...

    def write_files(self, files: Mapping[str, bytes]) -> None:
        """Store every file of ``files`` durably; each one appears atomically.

        When this returns, every file is on stable storage under its path. If it raises, any
        subset of the files may have been stored; none is ever visible half-written.
        """
        ...

    def write_checkpoint(self, data: bytes) -> None:
        """Replace ``checkpoint`` atomically and durably: the commit point of SPEC §6.2."""
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

    def write_files(self, files: Mapping[str, bytes]) -> None:
        """Write each file to ``.<name>.tmp``, fsync it, rename it; then fsync each directory.

        The temporary name is fixed per target: a single writer holds the log's lock, and a
        temporary file left by a killed writer is simply truncated by the next attempt.
        """
        targets = [(validate_path(path), data) for path, data in files.items()]
        with self._lock:
            dirty: dict[str, None] = {}  # ordered set of directories to flush
            renames: list[tuple[str, str]] = []
            for path, data in targets:
                full = os.path.join(self._root, path)
                directory, name = os.path.split(full)
                self._ensure_dir(directory, dirty)
                tmp = os.path.join(directory, f".{name}.tmp")
                _write_file(tmp, data, fsync=self._fsync)
                renames.append((tmp, full))
                dirty[directory] = None
            for tmp, full in renames:
                os.replace(tmp, full)
            if self._fsync:
                for directory in dirty:
                    _fsync_dir(directory)

    def write_checkpoint(self, data: bytes) -> None:
        """Replace ``checkpoint`` by write-to-temporary, fsync, rename, fsync the root."""
        if not isinstance(data, bytes):
            raise TypeError(f"checkpoint data must be bytes, not {type(data).__name__}")
        with self._lock:
            root = os.fspath(self._root)
            dirty: dict[str, None] = {}
            self._ensure_dir(root, dirty)
            tmp = os.path.join(root, f".{CHECKPOINT_PATH}.tmp")
            _write_file(tmp, data, fsync=self._fsync)
            os.replace(tmp, os.path.join(root, CHECKPOINT_PATH))
            if self._fsync:
                dirty[root] = None
                for directory in dirty:
                    _fsync_dir(directory)

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


def _write_file(path: str, data: bytes, *, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MemoryTileStore:
    """A :class:`TileStore` in a dict, for tests and for logs that need no persistence."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def read(self, path: str) -> bytes | None:
        """The stored bytes, or None."""
        with self._lock:
            return self._files.get(validate_path(path))

    def write_files(self, files: Mapping[str, bytes]) -> None:
        """Store a copy of every file."""
        checked = {validate_path(path): bytes(data) for path, data in files.items()}
        with self._lock:
            self._files.update(checked)

    def write_checkpoint(self, data: bytes) -> None:
        """Replace the checkpoint."""
        if not isinstance(data, bytes):
            raise TypeError(f"checkpoint data must be bytes, not {type(data).__name__}")
        with self._lock:
            self._files[CHECKPOINT_PATH] = data

    def paths(self) -> list[str]:
        """Every stored path, sorted (for tests that compare layouts)."""
        with self._lock:
            return sorted(self._files)
