"""Superseded partial tiles are deleted (SPEC §6.1; issue 16 item 5).

Before: partial tiles were never deleted, and the tile directory took 20-34 times the bytes
of the entries. Now the partial versions of a tile go once the full one is published (after
a grace period), and readers holding an older checkpoint fall back to the full tile.
"""

from __future__ import annotations

import os
from pathlib import Path

from transparency_log import note
from transparency_log.appender import Log, open_directory_log
from transparency_log.fetcher import DirectoryFetcher
from transparency_log.merkle import leaf_hash
from transparency_log.proof import verify_inclusion
from transparency_log.storage import DirectoryTileStore
from transparency_log.tlog_client import LogClient

ORIGIN = "example.com/partials"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x0d" * 32)
VERIFIER = SIGNER.verifier()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def partial_dirs(root: Path) -> list[str]:
    return sorted(
        str(Path(dirpath).relative_to(root))
        for dirpath, _, _ in os.walk(root / "tile")
        if dirpath.endswith(".p")
    )


def tile_bytes(root: Path) -> int:
    return sum(
        os.path.getsize(os.path.join(dirpath, name))
        for dirpath, _, names in os.walk(root / "tile")
        for name in names
    )


def entries(count: int) -> list[bytes]:
    return [b"entry %d " % i + bytes(100) for i in range(count)]


def test_partials_of_published_full_tiles_are_deleted_after_the_grace(tmp_path: Path) -> None:
    root = tmp_path / "log"
    clock = Clock()
    log = Log.open(
        DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN, signer=SIGNER,
        verifier=VERIFIER, fsync=False, batch_size=16, partial_grace=30, clock=clock,
    )  # fmt: skip
    try:
        data = entries(600)
        for start in range(0, 600, 16):
            log.add_many(data[start : start + 16])
        # Within the grace, the partials of the completed tiles are still there.
        assert "tile/entries/000.p" in partial_dirs(root)
        client = LogClient(DirectoryFetcher(root), VERIFIER, origin=ORIGIN)
        old = client.fetch_checkpoint()  # a reader holding the checkpoint of size 600
        clock.now += 31
        log.add_many(entries(601)[600:])  # the next publication sweeps
        # Only the partials the current checkpoint (601 = 2·256 + 89) requires are left.
        assert partial_dirs(root) == ["tile/0/002.p", "tile/1/000.p", "tile/entries/002.p"]
        # The partials of the tile still being filled stay: a reader of an older checkpoint
        # has no full tile to fall back to yet (at most 255 per level).
        assert "89" in os.listdir(root / "tile/0/002.p")
        payload = sum(len(e) for e in entries(601))
        assert tile_bytes(root) < 3 * payload, (tile_bytes(root), payload)  # was 20-34x
        # A reader of an older checkpoint falls back to the full tiles (C2SP tlog-tiles).
        proof = client.inclusion_proof(300, old)
        verify_inclusion(leaf_hash(data[300]), 300, 600, proof.hashes, old.checkpoint.root_hash)
    finally:
        log.close()


def test_partials_left_by_a_crash_are_deleted_after_reopening(tmp_path: Path) -> None:
    root = tmp_path / "log"
    with open_directory_log(
        root, origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False, batch_size=32,
        partial_grace=3600,
    ) as log:  # fmt: skip
        for start in range(0, 700, 32):
            log.add_many(entries(700)[start : start + 32])
    assert len(partial_dirs(root)) > 2  # the grace had not passed: closed like a crash
    (root / ".state" / "partials-swept").unlink(missing_ok=True)  # as a pre-sweep log
    with open_directory_log(
        root, origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False, partial_grace=0
    ) as log:
        assert partial_dirs(root) == ["tile/0/002.p", "tile/1/000.p", "tile/entries/002.p"]
        assert "2" in os.listdir(root / "tile/1/000.p")
        assert log.add_many(entries(700)) == list(range(700))  # everything still resolves
