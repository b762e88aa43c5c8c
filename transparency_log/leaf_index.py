"""OPS §6.2: the writer's dedupe index, leaf hash -> index, in SQLite behind a Bloom filter.

Resubmitting an entry returns its existing index. The index is derived data: every row comes
from the published entry bundles, so a lost or stale index is caught up from the tiles on
open. :class:`LeafIndex` holds the table ``log_leaf_index`` in the log's state database and
:class:`LeafFilter`, a fixed-size Bloom filter saved beside it, which spares the lookups of
hashes it rules out. The writer keeps the window of recent, not yet indexed leaf hashes
itself and hands it over with :meth:`LeafIndex.add`.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from transparency_log import durable
from transparency_log.merkle import HASH_SIZE

__all__ = ["LEAF_FILTER", "LEAF_FILTER_BITS", "LeafFilter", "LeafIndex"]

LEAF_FILTER_BITS = 1 << 26
"""Bits of the leaf-hash filter (8 MiB): fixed, whatever the log's size (OPS §6.2)."""

LEAF_FILTER = "leaf-filter"
"""The leaf-hash filter's file in the log's state directory (SPEC §6.1, OPS §6.2)."""

_sha256 = hashlib.sha256
_SQL_CHUNK = 500  # host parameters per lookup query (SQLite allows at least 999)
_FILTER_MAGIC = b"keybundle leaf filter v1\n"
_FILTER_PROBES = struct.Struct("<3Q")  # bit positions: the hash's first three 64-bit words


class LeafFilter:
    """A Bloom filter over the leaf hashes in the persistent index (OPS §6.2).

    It only ever answers "certainly not in the index" or "maybe": a leaf hash that it
    says may be there is looked up in SQLite, so the answers stay exact. Its size is a
    constant: as the log grows it fills up, and a full filter just sends every lookup to
    SQLite as if there were none. A leaf hash is SHA-256 output, so its first three 64-bit
    words (little-endian, so that the saved file means the same on any machine) serve as
    the probe positions (an entry ground to collide costs lookups, nothing
    else).
    """

    __slots__ = ("_bits", "_mask")

    def __init__(self, bits: bytearray) -> None:
        size = len(bits) * 8
        if size < 8 or size & (size - 1):
            raise AssertionError("bad math in LeafFilter: its size is not a power of two")
        self._bits = bits
        self._mask = size - 1

    @classmethod
    def empty(cls) -> LeafFilter:
        return cls(bytearray(max(1, LEAF_FILTER_BITS // 8)))

    def add_all(self, hashes: Iterable[bytes]) -> None:
        bits, mask = self._bits, self._mask
        probes = _FILTER_PROBES.unpack_from
        for leaf in hashes:
            for word in probes(leaf):
                bit = word & mask
                bits[bit >> 3] |= 1 << (bit & 7)

    def may_contain(self, leaf: bytes) -> bool:
        bits, mask = self._bits, self._mask
        for word in _FILTER_PROBES.unpack_from(leaf):
            bit = word & mask
            if not bits[bit >> 3] >> (bit & 7) & 1:
                return False
        return True

    def save(self, out: BinaryIO, indexed_size: int) -> None:
        """The file form: magic, u64be indexed size, the bits, SHA-256 of all before it.

        Written piece by piece: the bits are never copied (memory stays flat).
        """
        head = _FILTER_MAGIC + indexed_size.to_bytes(8, "big")
        digest = _sha256(head)
        digest.update(self._bits)
        out.write(head)
        out.write(self._bits)
        out.write(digest.digest())

    @classmethod
    def load(cls, path: Path) -> tuple[int, LeafFilter] | None:
        """The indexed size and filter of a file written by :meth:`save`, else None."""
        head = len(_FILTER_MAGIC) + 8
        data = bytearray(head + LEAF_FILTER_BITS // 8 + HASH_SIZE)
        try:
            with path.open("rb") as file:
                if file.readinto(data) != len(data) or file.read(1):
                    return None
        except FileNotFoundError:
            return None
        view = memoryview(data)
        valid = (
            data.startswith(_FILTER_MAGIC)
            and _sha256(view[:-HASH_SIZE]).digest() == view[-HASH_SIZE:]
        )
        size = int.from_bytes(view[len(_FILTER_MAGIC) : head], "big")
        view.release()
        if not valid:
            return None
        del data[-HASH_SIZE:]  # in place: no second copy of the bits
        del data[:head]
        return size, cls(data)


class LeafIndex:
    """The persistent leaf-hash index of one log: the table and the filter in front of it.

    It shares the writer's state database connection (``db``, autocommit mode) and its
    ``log_meta`` table, where ``indexed_size`` records how many leading entries the table
    covers. Only the writer's sequencing thread calls it.
    """

    def __init__(self, db: sqlite3.Connection, state_dir: Path, *, fsync: bool) -> None:
        self._db = db
        self._state_dir = state_dir
        self._fsync = fsync
        self._filter: LeafFilter | None = None  # over log_leaf_index, once it has rows
        self.size = 0
        """Leading entries of the log that the table covers."""

    @staticmethod
    def setup(txn: sqlite3.Connection) -> int:
        """Create the table if needed and return its ``indexed_size`` (inside the writer's
        open transaction, after ``log_meta`` exists)."""
        txn.execute(
            "CREATE TABLE IF NOT EXISTS log_leaf_index "
            "(hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID"
        )
        txn.execute("INSERT OR IGNORE INTO log_meta VALUES ('indexed_size', 0)")
        row = txn.execute("SELECT value FROM log_meta WHERE key = 'indexed_size'").fetchone()
        return int(row[0])

    def load(self, indexed_size: int) -> None:
        """Load the filter saved with the index; rebuild it from the table if it is not
        there, damaged, or older than the table (a log written before there was one)."""
        self.size = indexed_size
        if not indexed_size:
            self._filter = None
            return
        saved = LeafFilter.load(self._state_dir / LEAF_FILTER)
        if saved is not None and saved[0] >= indexed_size:
            self._filter = saved[1]
            return
        self._filter = self._filter_from_table()
        self._save_filter(indexed_size)

    def lookup(self, hashes: Iterable[bytes]) -> dict[bytes, int]:
        """The indices of those of ``hashes`` that the table holds."""
        found: dict[bytes, int] = {}
        if not self.size:
            return found
        leaves = self._filter
        missing = list({h for h in hashes if leaves is None or leaves.may_contain(h)})
        for start in range(0, len(missing), _SQL_CHUNK):
            part = missing[start : start + _SQL_CHUNK]
            placeholders = ",".join("?" * len(part))  # only '?': values are bound
            query = f"SELECT hash, idx FROM log_leaf_index WHERE hash IN ({placeholders})"  # noqa: S608
            found.update(self._db.execute(query, part).fetchall())
        return found

    def add(self, rows: list[tuple[bytes, int]], size: int) -> None:
        """Add ``rows`` (sorted), which bring the table to cover entries ``0..size-1``."""
        # The filter must cover every row of the table: it gets the new rows, durably,
        # before the table does (a failed commit leaves it covering more: harmless).
        if self._filter is None:
            self._filter = self._filter_from_table()
        self._filter.add_all(leaf for leaf, _ in rows)
        self._save_filter(size)
        with durable.immediate_transaction(self._db) as db:
            db.executemany("INSERT OR IGNORE INTO log_leaf_index (hash, idx) VALUES (?, ?)", rows)
            db.execute("UPDATE log_meta SET value = ? WHERE key = 'indexed_size'", (size,))
        self.size = size

    def _save_filter(self, indexed_size: int) -> None:
        """Replace the filter's file atomically, written piece by piece (OPS §6.2)."""
        leaves = self._filter
        if leaves is None:
            raise AssertionError("bad math in _save_filter: there is no filter to save")
        durable.replace_with(
            self._state_dir / LEAF_FILTER,
            lambda out: leaves.save(out, indexed_size),
            fsync=self._fsync,
            locked=True,  # the writer holds the log's lock: 8 MiB leftovers must not pile up
        )

    def _filter_from_table(self) -> LeafFilter:
        """A filter over every row of the leaf-hash table (none on a new log)."""
        rebuilt = LeafFilter.empty()
        cursor = self._db.execute("SELECT hash FROM log_leaf_index")
        while rows := cursor.fetchmany(65536):
            rebuilt.add_all(leaf for (leaf,) in rows)
        return rebuilt
