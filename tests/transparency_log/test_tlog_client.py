"""C2SP tlog-tiles client: checkpoints, inclusion and consistency proofs, entries from tiles.

The log under test is written straight from the primitives (MemoryHashStore, tile_data,
encode_entry_bundle) into a directory, growing through many published sizes so that every
size leaves its partial tiles behind, exactly as a tlog-tiles writer does. Proofs built from
the tiles are compared with proofs generated directly from the in-memory tree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from transparency_log import note
from transparency_log.checkpoint import Checkpoint, VerifiedCheckpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.entry_bundle import encode_entry_bundle
from transparency_log.errors import LogReason, VerificationError
from transparency_log.fetcher import DirectoryFetcher, NotFoundError, ResponseTooLargeError
from transparency_log.merkle import leaf_hash
from transparency_log.proof import (
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
)
from transparency_log.tile import TILE_WIDTH, EntryBundle, Tile, new_tiles, tile_data
from transparency_log.tlog_client import LogClient
from transparency_log.tlog_proof import parse_tlog_proof, verify_tlog_proof

pytestmark = pytest.mark.timeout(60)

ORIGIN = "example.com/test-log"


def _seed(label: str) -> bytes:
    return (label.encode() * 32)[:32]


LOG_SIGNER = note.Ed25519Signer(ORIGIN, _seed("log"))
LOG_VERIFIER = LOG_SIGNER.verifier()
WITNESS_SIGNER = CosignatureV1Signer("witness.example", _seed("witness"), now=lambda: 1700000000)
OTHER_SIGNER = note.Ed25519Signer(ORIGIN, _seed("other log"))


def entry_for(i: int) -> bytes:
    return b"entry %d " % i + bytes(i % 50)


class TiledLog:
    """A tlog-tiles directory grown from the primitives; keeps every published checkpoint."""

    def __init__(self, root: Path, signers: Sequence[note.Signer] = (LOG_SIGNER,)) -> None:
        self.root = root
        self.signers = tuple(signers)
        self.store = MemoryHashStore()
        self.entries: list[bytes] = []
        self.checkpoints: dict[int, bytes] = {}

    def _write(self, path: str, data: bytes) -> None:
        full = self.root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)

    def grow(self, new_size: int) -> bytes:
        old = len(self.entries)
        for i in range(old, new_size):
            self.entries.append(entry_for(i))
            self.store.append(leaf_hash(self.entries[-1]))
        for tile in new_tiles(old, new_size):
            self._write(tile.path(), tile_data(tile, self.store))
            if tile.level == 0:
                first = tile.index * TILE_WIDTH
                bundle = EntryBundle(tile.index, tile.width)
                self._write(
                    bundle.path(),
                    encode_entry_bundle(self.entries[first : first + tile.width]),
                )
        body = Checkpoint(ORIGIN, new_size, self.store_root(new_size)).body()
        signed = note.sign(body, *self.signers).encode()
        self._write("checkpoint", signed)
        self.checkpoints[new_size] = signed
        return signed

    def store_root(self, size: int) -> bytes:
        from transparency_log.proof import tree_root

        return tree_root(size, self.store)


class CountingFetcher(DirectoryFetcher):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.paths: list[str] = []

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        self.paths.append(path)
        return super().fetch(path, max_bytes=max_bytes)


def _client(root: Path, **kw: object) -> tuple[LogClient, CountingFetcher]:
    fetcher = CountingFetcher(root)
    return LogClient(fetcher, LOG_VERIFIER, **kw), fetcher  # type: ignore[arg-type]


SIZES = [1, 2, 3, 7, 8, 255, 256, 257, 511, 512, 513, 700, 1000, 65535, 65536, 65537, 70000]


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> TiledLog:
    log = TiledLog(tmp_path_factory.mktemp("tiled"))
    for size in SIZES:
        log.grow(size)
    return log


def _verified(log: TiledLog, size: int, client: LogClient) -> VerifiedCheckpoint:
    return client.verify_checkpoint(log.checkpoints[size])


# --- checkpoints ---


def test_fetch_checkpoint_verifies_the_latest(grown: TiledLog) -> None:
    client, _ = _client(grown.root)
    cp = client.fetch_checkpoint()
    assert cp.checkpoint.size == SIZES[-1]
    assert cp.checkpoint.root_hash == grown.store_root(SIZES[-1])


def test_checkpoint_by_another_key_is_untrusted(tmp_path: Path) -> None:
    log = TiledLog(tmp_path, signers=(OTHER_SIGNER,))
    log.grow(3)
    client, _ = _client(tmp_path)
    with pytest.raises(VerificationError) as e:
        client.fetch_checkpoint()
    assert e.value.reason == LogReason.UNTRUSTED_NOTE


def test_checkpoint_of_another_origin_is_wrong_origin(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(3)
    client, _ = _client(tmp_path, origin="example.com/another-log")
    with pytest.raises(VerificationError) as e:
        client.fetch_checkpoint()
    assert e.value.reason == LogReason.WRONG_ORIGIN


def test_witness_cosignatures_are_reported(tmp_path: Path) -> None:
    log = TiledLog(tmp_path, signers=(LOG_SIGNER, WITNESS_SIGNER))
    log.grow(5)
    client, _ = _client(tmp_path, witnesses=[WITNESS_SIGNER.verifier()])
    cp = client.fetch_checkpoint()
    assert dict(cp.cosignatures) == {"witness.example": 1700000000}


def test_missing_checkpoint_is_not_found(tmp_path: Path) -> None:
    client, _ = _client(tmp_path)
    with pytest.raises(NotFoundError):
        client.fetch_checkpoint()


def test_fetch_checkpoint_checks_consistency_with_previous(grown: TiledLog) -> None:
    client, _ = _client(grown.root)
    old = _verified(grown, 700, client)
    new = client.fetch_checkpoint(previous=old)
    assert new.checkpoint.size == SIZES[-1]


def test_rollback_to_a_smaller_checkpoint_is_rejected(grown: TiledLog) -> None:
    client, _ = _client(grown.root)
    newer = _verified(grown, 70000, client)
    older = _verified(grown, 700, client)
    with pytest.raises(VerificationError) as e:
        client.verify_consistency(newer, older)
    assert e.value.reason == LogReason.BAD_CONSISTENCY_PROOF


def test_split_view_is_rejected(tmp_path: Path) -> None:
    honest = TiledLog(tmp_path / "a")
    honest.grow(300)
    forked = TiledLog(tmp_path / "b")
    forked.entries = [b"forked"]  # a different first entry
    forked.store.append(leaf_hash(b"forked"))
    forked.grow(600)
    client, _ = _client(tmp_path / "b")
    old = client.verify_checkpoint(honest.checkpoints[300])
    with pytest.raises(VerificationError) as e:
        client.fetch_checkpoint(previous=old)
    assert e.value.reason == LogReason.BAD_CONSISTENCY_PROOF


# --- proofs compared with direct generation ---


def test_inclusion_proofs_match_direct_generation_at_every_published_size(
    grown: TiledLog,
) -> None:
    client, _ = _client(grown.root)
    for size in SIZES:
        cp = _verified(grown, size, client)
        for index in sorted({0, 1, size // 2, size - 2, size - 1} & set(range(size))):
            got = client.inclusion_proof(index, cp)
            assert list(got.hashes) == inclusion_proof(index, size, grown.store)
            assert got.checkpoint_note == grown.checkpoints[size]
            parsed = parse_tlog_proof(got.format())
            verify_tlog_proof(parsed, leaf_hash(entry_for(index)), LOG_VERIFIER)


def test_consistency_proofs_match_direct_generation(grown: TiledLog) -> None:
    client, _ = _client(grown.root)
    for size2 in SIZES:
        cp2 = _verified(grown, size2, client)
        for size1 in [s for s in SIZES if s <= size2]:
            got = client.consistency_proof(size1, cp2)
            assert got == consistency_proof(size1, size2, grown.store)
            verify_consistency(size1, size2, got, grown.store_root(size1), cp2.checkpoint.root_hash)


def test_proof_needs_log_n_tile_reads_and_reuses_full_tiles(grown: TiledLog) -> None:
    client, fetcher = _client(grown.root)
    cp = _verified(grown, 70000, client)
    client.inclusion_proof(12345, cp)
    # Three edge tiles (levels 0, 1, 2), the index's level-0 tile and its full level-1
    # parent: one batch, 5 reads (C2SP tlog-tiles: at most 6 at a million entries).
    assert client.tile_fetches == 5
    before = client.tile_fetches
    client.inclusion_proof(12346, cp)
    assert client.tile_fetches == before  # same tiles, cached after authentication
    # A later checkpoint re-authenticates the kept full tiles without fetching them.
    grown_more = _verified(grown, 65537, client)
    client.inclusion_proof(12345, grown_more)
    refetched = [p for p in fetcher.paths if p == Tile(0, 12345 // 256).path()]
    assert len(refetched) == 1


def test_index_outside_the_tree_is_a_caller_mistake(grown: TiledLog) -> None:
    client, _ = _client(grown.root)
    cp = _verified(grown, 7, client)
    with pytest.raises(ValueError, match="not in the tree"):
        client.inclusion_proof(7, cp)
    with pytest.raises(ValueError, match="larger than the tree size"):
        client.consistency_proof(8, cp)


# --- entries ---


def test_entries_are_read_and_authenticated(grown: TiledLog) -> None:
    client, _ = _client(grown.root)
    cp = _verified(grown, 700, client)
    assert client.entry(0, cp).data == entry_for(0)
    assert client.entry(699, cp).data == entry_for(699)
    got = [e.data for e in client.entries(250, 520, cp)]
    assert got == [entry_for(i) for i in range(250, 520)]
    assert [e.index for e in client.entries(3, 3, cp)] == []


def test_entry_leaves_pair_each_entry_with_its_leaf_hash(grown: TiledLog) -> None:
    """entry_leaves is entries with the leaf hashes they were authenticated with, across
    bundle boundaries and in a range starting and ending mid-bundle."""
    client, _ = _client(grown.root)
    cp = _verified(grown, 700, client)
    got = list(client.entry_leaves(250, 520, cp))
    assert got == [(entry_for(i), leaf_hash(entry_for(i))) for i in range(250, 520)]
    assert list(client.entry_leaves(600, 600, cp)) == []


def test_partial_tiles_and_bundles_that_are_gone_fall_back_to_full_ones(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(100)
    old = log.checkpoints[100]
    log.grow(300)
    for path in (Tile(0, 0, 100).path(), EntryBundle(0, 100).path()):
        os.remove(tmp_path / path)
    client, _ = _client(tmp_path)
    cp = client.verify_checkpoint(old)
    proof = client.inclusion_proof(42, cp)
    assert list(proof.hashes) == inclusion_proof(42, 100, log.store)
    assert client.entry(99, cp).data == entry_for(99)


# --- tampering: rejected before use ---


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[5] ^= 1
    path.write_bytes(bytes(data))


def test_tampered_full_tile_is_rejected_before_use(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(1000)
    _tamper(tmp_path / Tile(0, 1).path())
    client, _ = _client(tmp_path)
    cp = client.fetch_checkpoint()
    with pytest.raises(VerificationError) as e:
        client.inclusion_proof(300, cp)
    assert e.value.reason == LogReason.MALFORMED_TILE
    # Nothing unauthenticated was kept: the honest tile is fetched again once restored.
    (tmp_path / Tile(0, 1).path()).write_bytes(tile_data(Tile(0, 1), log.store))
    assert list(client.inclusion_proof(300, cp).hashes) == inclusion_proof(300, 1000, log.store)


def test_tampered_partial_tile_is_rejected(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(1000)
    _tamper(tmp_path / Tile(0, 3, 1000 - 768).path())
    client, _ = _client(tmp_path)
    cp = client.fetch_checkpoint()
    with pytest.raises(VerificationError) as e:
        client.inclusion_proof(0, cp)
    assert e.value.reason == LogReason.MALFORMED_TILE


def test_truncated_tile_is_rejected(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(600)
    path = tmp_path / Tile(0, 0).path()
    path.write_bytes(path.read_bytes()[:-1])
    client, _ = _client(tmp_path)
    cp = client.fetch_checkpoint()
    with pytest.raises(VerificationError) as e:
        client.inclusion_proof(3, cp)
    assert e.value.reason == LogReason.MALFORMED_TILE


def test_oversized_tile_is_refused_unread(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(600)
    path = tmp_path / Tile(0, 0).path()
    path.write_bytes(path.read_bytes() + bytes(10_000))
    client, _ = _client(tmp_path)
    cp = client.fetch_checkpoint()
    with pytest.raises(ResponseTooLargeError):
        client.inclusion_proof(3, cp)


def test_tampered_entry_is_rejected(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(300)
    _tamper(tmp_path / EntryBundle(0).path())
    client, _ = _client(tmp_path)
    cp = client.fetch_checkpoint()
    with pytest.raises(VerificationError) as e:
        client.entry(0, cp)
    assert e.value.reason == LogReason.MALFORMED_TILE
    assert "entry 0" in e.value.message


def test_entry_bundle_with_an_extra_entry_is_rejected(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(10)
    path = tmp_path / EntryBundle(0, 10).path()
    path.write_bytes(path.read_bytes() + b"\x00\x01x")
    client, _ = _client(tmp_path)
    cp = client.fetch_checkpoint()
    with pytest.raises(VerificationError) as e:
        client.entry(9, cp)
    assert e.value.reason == LogReason.MALFORMED_TILE


def test_oversized_entry_bundle_is_refused_unread(tmp_path: Path) -> None:
    log = TiledLog(tmp_path)
    log.grow(2)
    path = tmp_path / EntryBundle(0, 2).path()
    path.write_bytes(bytes(2 * 102 + 1))
    fetcher = DirectoryFetcher(tmp_path)
    client = LogClient(fetcher, LOG_VERIFIER, max_entry_bytes=100)
    cp = client.fetch_checkpoint()
    with pytest.raises(ResponseTooLargeError):
        client.entry(0, cp)


def test_reading_a_directory_never_loads_requests() -> None:
    import subprocess
    import sys

    code = (
        "import sys, transparency_log.tlog_client, transparency_log.fetcher\n"
        "assert 'requests' not in sys.modules, 'requests was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
