"""A full disk, then space again (OPS §6.2 "Storage errors", SPEC §6.5.2; issue 16 item 4).

Before: with an admission hook, SQLite's "database or disk is full" escaped as a 500 with a
traceback; after space came back the running writer kept answering 503 until restarted; and
closing on a full disk raised "cannot rollback - no transaction is active".
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.transparency_log.smalldisk import fill, small_disk
from tests.transparency_log.test_crash import read_entries
from transparency_log import note
from transparency_log.appender import Log
from transparency_log.server import LogService
from transparency_log.storage import DirectoryTileStore

pytestmark = pytest.mark.timeout(120)

ORIGIN = "example.com/full-disk"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x0c" * 32)
VERIFIER = SIGNER.verifier()


class Keeping:
    """An admission hook that keeps every entry in its own table (so SQLite needs space)."""

    def setup(self, txn: sqlite3.Connection) -> None:
        txn.execute("CREATE TABLE IF NOT EXISTS kept (idx INTEGER PRIMARY KEY, entry BLOB)")

    def check(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        txn.execute("INSERT INTO kept VALUES (?, ?)", (index, entry))

    def rollback(self, size: int, txn: sqlite3.Connection) -> None:
        txn.execute("DELETE FROM kept WHERE idx >= ?", (size,))


def entry(number: int) -> bytes:
    return b"entry %d " % number + bytes(range(256)) * 2


def open_log(root: Path) -> Log:
    return Log.open(
        DirectoryTileStore(root, fsync=True),
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        admission=Keeping(),
        batch_size=8,
        batch_max_age=0,
    )


def index_of(body: bytes) -> int:
    found = re.search(rb"^index (\d+)$", body, re.MULTILINE)
    assert found is not None, body
    return int(found.group(1))


def test_a_full_disk_is_503_and_the_writer_recovers_when_space_returns(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "16m") as disk:
        root = disk / "log"
        log = open_log(root)
        service = LogService(log, VERIFIER, ORIGIN)
        acked: dict[bytes, int] = {}

        def submit(number: int) -> int:
            answer = service.add(entry(number))
            assert answer.status in (200, 503), answer  # never a 500 (SPEC §6.5.2)
            if answer.status == 200:
                acked[entry(number)] = index_of(answer.body)
            else:
                assert answer.body.count(b"\n") == 1, answer.body
                assert b"nothing was acknowledged" in answer.body
                assert ("Retry-After", "1") in answer.headers
            return int(answer.status)

        for number in range(20):
            assert submit(number) == 200
        filler = fill(disk)
        statuses = [submit(number) for number in range(20, 60)]
        assert statuses.count(503) >= 30, statuses  # a few may still fit in the slack
        filler.unlink()
        # Space is back: the same writer takes entries again, without a restart.
        assert submit(60) == 200
        assert [submit(number) for number in range(20, 60)] == [200] * 40

        # Closing on a full disk: no "cannot rollback"; nothing acknowledged is lost.
        filler = fill(disk)
        submit(61)
        error: Exception | None = None
        try:
            log.close()  # may fail to record the published size: then one clear error
        except (OSError, sqlite3.OperationalError) as e:
            error = e
        assert error is None or "cannot rollback" not in str(error)
        filler.unlink()
        with open_log(root) as reopened:
            entries = read_entries(root, reopened.size)
            for data, index in acked.items():
                assert entries[index] == data
            assert reopened.add_many(sorted(acked)) == [acked[data] for data in sorted(acked)]
