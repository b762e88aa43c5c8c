"""C2SP tlog-tiles client: checkpoints, proofs and entries of a tiled log, authenticated.

A :class:`LogClient` reads a log through a :class:`~transparency_log.fetcher.Fetcher` (a
directory or HTTP) and trusts nothing it reads until it is checked (SPEC §2.9, §6.5):

1. the checkpoint must verify under the log's key and origin (SPEC §2.6), with the
   cosignatures of the given witnesses reported;
2. every tile is authenticated against that checkpoint's signed root before its hashes are
   used (:class:`~transparency_log.tile.TileHashReader`): the right-edge partial tiles must
   hash to the root, each full tile to its entry in its parent tile;
3. every entry must hash to its leaf hash in an authenticated level-0 tile.

Proofs then cost O(log n) tile reads, fetched in one batch per proof: at 1,000,000 leaves an
inclusion proof reads at most 6 tiles cold. Full tiles never change, so once authenticated
they are kept (up to :data:`MAX_VERIFIED_TILES`) and reused for later checkpoints, where they
are authenticated again (hashing, no fetch). Every response is size-capped before it is read:
a checkpoint at ``MAX_NOTE_BYTES``, a tile at exactly ``32 * W`` bytes, an entry bundle at
``W * (2 + max_entry_bytes)``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from transparency_log import proof as _proof
from transparency_log.checkpoint import VerifiedCheckpoint, verify_checkpoint
from transparency_log.entry_bundle import MAX_ENTRY_SIZE, parse_entry_bundle
from transparency_log.errors import LogReason, VerificationError
from transparency_log.fetcher import Fetcher, NotFoundError, fetch_all
from transparency_log.merkle import HASH_SIZE, MAX_TREE_SIZE, leaf_hash
from transparency_log.note import MAX_NOTE_BYTES, Verifier
from transparency_log.tile import (
    MAX_CACHED_TILES,
    TILE_WIDTH,
    EntryBundle,
    Tile,
    TileHashReader,
)
from transparency_log.tlog_proof import TlogProof

__all__ = [
    "CHECKPOINT_PATH",
    "MAX_VERIFIED_TILES",
    "LogClient",
    "LogEntry",
]

CHECKPOINT_PATH = "checkpoint"
"""Where a tiled log serves its signed checkpoint, relative to its prefix (C2SP tlog-tiles)."""

MAX_VERIFIED_TILES = 256
"""Authenticated full tiles a :class:`LogClient` keeps across checkpoints (2 MiB of hashes;
SPEC §11). A full tile's bytes never change, so a kept tile is never fetched again."""

_MAX_READERS = 2


def _check_index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{what} must be in 0..{MAX_TREE_SIZE}, not {value}")
    return value


@dataclass(frozen=True)
class LogEntry:
    """One log entry whose leaf hash matched an authenticated tile of ``checkpoint``."""

    index: int
    data: bytes
    checkpoint: VerifiedCheckpoint


class LogClient:
    """Reads and proves a tiled log through ``fetcher``, verifying everything (module doc).

    ``log_verifier`` is the log's Ed25519 note key; ``origin`` the expected checkpoint origin
    (default: the key's name); ``witnesses`` the cosignature/v1 keys whose cosignatures are
    verified and reported in :attr:`VerifiedCheckpoint.cosignatures`. Whether they meet a
    quorum is the caller's decision (:meth:`transparency_log.policy.Policy.check_quorum`).

    Not thread-safe: give each thread its own client, or serialise calls.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        log_verifier: Verifier,
        *,
        origin: str | None = None,
        witnesses: Iterable[Verifier] = (),
        max_entry_bytes: int = MAX_ENTRY_SIZE,
        cache_tiles: int = MAX_VERIFIED_TILES,
    ) -> None:
        if not callable(getattr(fetcher, "fetch", None)):
            raise TypeError(f"fetcher must have a fetch method, not {type(fetcher).__name__}")
        if isinstance(max_entry_bytes, bool) or not isinstance(max_entry_bytes, int):
            raise TypeError("max_entry_bytes must be an int")
        if not 0 <= max_entry_bytes <= MAX_ENTRY_SIZE:
            raise ValueError(f"max_entry_bytes must be in 0..{MAX_ENTRY_SIZE}")
        if isinstance(cache_tiles, bool) or not isinstance(cache_tiles, int) or cache_tiles < 0:
            raise ValueError(f"cache_tiles must be a non-negative int, not {cache_tiles!r}")
        self._fetcher = fetcher
        self._log_verifier = log_verifier
        self._origin = origin
        self._witnesses = tuple(witnesses)
        self._max_entry_bytes = max_entry_bytes
        self._cache_tiles = cache_tiles
        self._verified: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._pending: dict[tuple[int, int], bytes] = {}
        self._readers: OrderedDict[tuple[int, bytes], TileHashReader] = OrderedDict()
        self._tile_fetches = 0

    @property
    def tile_fetches(self) -> int:
        """How many tiles were fetched so far (for tests and benchmarks: O(log n) per proof)."""
        return self._tile_fetches

    # --- checkpoints ---

    def verify_checkpoint(self, signed_note: bytes) -> VerifiedCheckpoint:
        """Verify a signed checkpoint with this client's keys and origin (SPEC §2.6)."""
        return verify_checkpoint(
            signed_note, self._log_verifier, origin=self._origin, witnesses=self._witnesses
        )

    def fetch_checkpoint(self, previous: VerifiedCheckpoint | None = None) -> VerifiedCheckpoint:
        """Fetch ``checkpoint`` and verify it; with ``previous``, also that it extends it.

        The append-only check (SPEC §2.3) uses a consistency proof built from the new tree's
        authenticated tiles: BAD_CONSISTENCY_PROOF when the new checkpoint is smaller
        (rollback, or a stale cache), or has the same size and another root, or does not
        contain the previous tree (a split view: keep both checkpoints as evidence).
        """
        data = self._fetcher.fetch(CHECKPOINT_PATH, max_bytes=MAX_NOTE_BYTES)
        verified = self.verify_checkpoint(data)
        if previous is not None:
            self.verify_consistency(previous, verified)
        return verified

    # --- proofs ---

    def inclusion_proof(self, index: int, checkpoint: VerifiedCheckpoint) -> TlogProof:
        """The C2SP tlog-proof (SPEC §2.7) of leaf ``index`` under ``checkpoint``.

        The hashes come from tiles authenticated against the checkpoint's root, so the proof
        is correct for whatever leaf the log holds at ``index``; the checkpoint note is
        carried verbatim with its cosignatures. ``index`` outside the tree is a ValueError.
        """
        tree = checkpoint.checkpoint
        _check_index(index, "index")
        if index >= tree.size:
            raise ValueError(f"index {index} is not in the tree of size {tree.size}")
        hashes = self._read(tree.size, tree.root_hash, "inclusion", index)
        return TlogProof(index, tuple(hashes), checkpoint.note_text)

    def consistency_proof(self, old_size: int, checkpoint: VerifiedCheckpoint) -> list[bytes]:
        """The RFC 9162 consistency proof from ``old_size`` to ``checkpoint`` (SPEC §2.3)."""
        tree = checkpoint.checkpoint
        _check_index(old_size, "old_size")
        if old_size > tree.size:
            raise ValueError(f"old_size {old_size} is larger than the tree size {tree.size}")
        return self._read(tree.size, tree.root_hash, "consistency", old_size)

    def verify_consistency(self, old: VerifiedCheckpoint, new: VerifiedCheckpoint) -> list[bytes]:
        """Check that ``new`` extends ``old`` (SPEC §2.3); return the proof that shows it.

        Both must be verified checkpoints of this log. Raises BAD_CONSISTENCY_PROOF when the
        trees are not append-only related (the message says which way).
        """
        old_tree, new_tree = old.checkpoint, new.checkpoint
        hashes: list[bytes] = []
        if 0 < old_tree.size < new_tree.size:
            hashes = self.consistency_proof(old_tree.size, new)
        _proof.verify_consistency(
            old_tree.size, new_tree.size, hashes, old_tree.root_hash, new_tree.root_hash
        )
        return hashes

    # --- entries ---

    def entry(self, index: int, checkpoint: VerifiedCheckpoint) -> LogEntry:
        """Entry ``index``, read from its entry bundle and authenticated (module doc, step 3)."""
        tree = checkpoint.checkpoint
        _check_index(index, "index")
        if index >= tree.size:
            raise ValueError(f"index {index} is not in the tree of size {tree.size}")
        bundle = self._bundle_for(index // TILE_WIDTH, tree.size)
        entries, _ = self._read_bundle(bundle, checkpoint)
        return LogEntry(index, entries[index % TILE_WIDTH], checkpoint)

    def entries(self, start: int, stop: int, checkpoint: VerifiedCheckpoint) -> Iterator[LogEntry]:
        """Entries ``start`` to ``stop - 1``, one bundle fetched at a time, all authenticated."""
        for i, (data, _) in enumerate(self.entry_leaves(start, stop, checkpoint), start):
            yield LogEntry(i, data, checkpoint)

    def entry_leaves(
        self, start: int, stop: int, checkpoint: VerifiedCheckpoint
    ) -> Iterator[tuple[bytes, bytes]]:
        """:meth:`entries` as (entry bytes, leaf hash) pairs: the leaf hash each entry was
        authenticated with, for a caller that recomputes the tree (the auditor, OPS §8.1)
        and need not hash every entry a second time."""
        tree = checkpoint.checkpoint
        _check_index(start, "start")
        _check_index(stop, "stop")
        if not start <= stop <= tree.size:
            raise ValueError(f"range {start}..{stop} is not within the tree of size {tree.size}")
        index = start
        while index < stop:
            bundle = self._bundle_for(index // TILE_WIDTH, tree.size)
            entries, leaves = self._read_bundle(bundle, checkpoint)
            first = bundle.index * TILE_WIDTH
            end = min(stop, first + bundle.width)
            lo, hi = index - first, end - first
            yield from zip(entries[lo:hi], leaves[lo:hi], strict=True)
            index = end

    # --- internals ---

    @staticmethod
    def _bundle_for(n: int, size: int) -> EntryBundle:
        return EntryBundle(n, min(TILE_WIDTH, size - n * TILE_WIDTH))

    def _read_bundle(
        self, bundle: EntryBundle, checkpoint: VerifiedCheckpoint
    ) -> tuple[list[bytes], list[bytes]]:
        """The bundle's entries, and their leaf hashes (each checked against the tiles)."""
        tree = checkpoint.checkpoint
        cap = bundle.width * (2 + self._max_entry_bytes)
        try:
            data = self._fetcher.fetch(bundle.path(), max_bytes=cap)
            entries = list(parse_entry_bundle(data, bundle.width))
        except NotFoundError:
            if bundle.is_full:
                raise
            # C2SP tlog-tiles: a partial bundle may be gone once the full one exists.
            full = EntryBundle(bundle.index)
            full_cap = TILE_WIDTH * (2 + self._max_entry_bytes)
            data = self._fetcher.fetch(full.path(), max_bytes=full_cap)
            entries = list(parse_entry_bundle(data, TILE_WIDTH))[: bundle.width]
        first = bundle.index * TILE_WIDTH
        ids = [(0, first + i) for i in range(bundle.width)]
        want = self._read_ids(tree.size, tree.root_hash, ids)
        for i, (entry, expected) in enumerate(zip(entries, want, strict=True)):
            got = leaf_hash(entry)
            if got != expected:
                raise VerificationError(
                    LogReason.MALFORMED_TILE,
                    f"entry {first + i} in {bundle.path()} hashes to leaf {got.hex()}, but the "
                    f"authenticated level-0 tile records {expected.hex()}; the server returned "
                    "a wrong or corrupted entry bundle",
                )
        return entries, want

    def _reader(self, size: int, root: bytes) -> TileHashReader:
        key = (size, root)
        reader = self._readers.get(key)
        if reader is None:
            reader = TileHashReader(size, root, self._fetch_tiles, cache_tiles=MAX_CACHED_TILES)
            self._readers[key] = reader
            while len(self._readers) > _MAX_READERS:
                self._readers.popitem(last=False)
        else:
            self._readers.move_to_end(key)
        return reader

    def _read(self, size: int, root: bytes, kind: str, at: int) -> list[bytes]:
        reader = self._reader(size, root)
        self._pending.clear()
        try:
            if kind == "inclusion":
                hashes = _proof.inclusion_proof(at, size, reader)
            else:
                hashes = _proof.consistency_proof(at, size, reader)
            self._promote()
        finally:
            self._pending.clear()
        return hashes

    def _read_ids(self, size: int, root: bytes, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        reader = self._reader(size, root)
        self._pending.clear()
        try:
            hashes = reader.read_hashes(ids)
            self._promote()
        finally:
            self._pending.clear()
        return hashes

    def _promote(self) -> None:
        """Keep the full tiles fetched by a read that succeeded: the reader authenticated
        every tile of its batch before it returned."""
        if self._cache_tiles == 0:
            return
        verified = self._verified
        for key, data in self._pending.items():
            verified[key] = data
            verified.move_to_end(key)
        while len(verified) > self._cache_tiles:
            verified.popitem(last=False)

    def _fetch_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        """The :data:`~transparency_log.tile.TileFetcher` of this client's readers."""
        out: list[bytes | None] = [None] * len(tiles)
        need: list[int] = []
        for i, tile in enumerate(tiles):
            kept = self._verified.get((tile.level, tile.index)) if tile.is_full else None
            if kept is not None:
                self._verified.move_to_end((tile.level, tile.index))
                out[i] = kept
            else:
                need.append(i)
        if need:
            paths = [tiles[i].path() for i in need]
            caps: list[int | None] = [tiles[i].width * HASH_SIZE for i in need]
            try:
                fetched = fetch_all(self._fetcher, paths, caps)
            except NotFoundError:
                fetched = [self._fetch_tile_with_fallback(tiles[i]) for i in need]
            self._tile_fetches += len(need)
            for i, data in zip(need, fetched, strict=True):
                out[i] = data
                if tiles[i].is_full:
                    self._pending[(tiles[i].level, tiles[i].index)] = data
        result = [d for d in out if d is not None]
        if len(result) != len(tiles):
            raise AssertionError("bad math in LogClient._fetch_tiles: a tile is missing")
        return result

    def _fetch_tile_with_fallback(self, tile: Tile) -> bytes:
        """One tile; for a partial tile that is gone, the first W hashes of the full one."""
        try:
            return self._fetcher.fetch(tile.path(), max_bytes=tile.width * HASH_SIZE)
        except NotFoundError:
            if tile.is_full:
                raise
            full = Tile(tile.level, tile.index)
            data = self._fetcher.fetch(full.path(), max_bytes=TILE_WIDTH * HASH_SIZE)
            if len(data) != TILE_WIDTH * HASH_SIZE:
                return data  # the reader rejects the length (MALFORMED_TILE)
            return data[: tile.width * HASH_SIZE]
