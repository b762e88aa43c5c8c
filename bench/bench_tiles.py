"""Benchmark: the Merkle and tile primitives on 1,000,000 leaves held in memory (SPEC §2.1-§2.9).

    .venv/bin/python bench/bench_tiles.py [--size N] [--proofs K]

No disk and no network: the tiles of the tree are bytes in a dict, so this measures the
primitives alone (bench_proof_tiles.py measures the whole client over files and HTTP).
Reported, each with its floor, the raw SHA-256 work the step cannot avoid:

- ``CompactRange.append`` per leaf (floor: one node hash, the amortised merges per leaf);
- inclusion proofs from a :class:`MemoryHashStore` (warm: every node in memory);
- inclusion proofs through a fresh :class:`TileHashReader` per proof (cold: right-edge tiles
  checked against the root, every full tile against its parent), with tiles fetched per proof;
- the same reader warm (authenticated tiles cached), for random and for repeated indices;
- ``verify_inclusion`` (floor: the proof's node hashes).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Callable, Sequence

from transparency_log.merkle import CompactRange, leaf_hash, root_from_leaf_hashes
from transparency_log.proof import MemoryHashStore, inclusion_proof, tree_root, verify_inclusion
from transparency_log.tile import Tile, TileHashReader, append_tiles

NODE = b"\x01"


def per_call(fn: Callable[[], object], calls: int, repeat: int = 5) -> float:
    """Median seconds per call over ``repeat`` runs of ``calls`` calls."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


def node_hash_floor(hashes: int) -> float:
    """Seconds for ``hashes`` SHA-256 node hashes of two 32-byte children."""
    data = NODE + bytes(64)
    sha256 = hashlib.sha256
    return per_call(lambda: [sha256(data).digest() for _ in range(hashes)], 200) or 1e-12


def row(name: str, seconds: float, floor: float, extra: str = "") -> None:
    print(f"{name:<46} {seconds * 1e6:9.2f} us   x{seconds / floor:5.2f} floor   {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    args = parser.parse_args()
    size: int = args.size
    rng = random.Random(1)

    t = time.perf_counter()
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(size)]
    store = MemoryHashStore(leaves)
    tiles = append_tiles(0, leaves, MemoryHashStore())
    root = tree_root(size, store)
    print(f"built {size:,} leaves, {len(tiles):,} tiles in {time.perf_counter() - t:.1f} s")
    if root_from_leaf_hashes(leaves[:4096]) != tree_root(4096, store):
        raise AssertionError("bad math in bench_tiles: roots disagree")

    # CompactRange.append: about one node hash per leaf, amortised.
    tree = CompactRange()
    start = time.perf_counter()
    for h in leaves:
        tree.append(h)
    append = (time.perf_counter() - start) / size
    if tree.root() != root:
        raise AssertionError("bad math in bench_tiles: CompactRange root")
    row("CompactRange.append (per leaf)", append, node_hash_floor(1))

    indices = [rng.randrange(size) for _ in range(args.proofs)]
    proof_len = len(inclusion_proof(indices[0], size, store))
    proof_floor = node_hash_floor(proof_len)

    it = iter(indices * 10)
    warm = per_call(lambda: inclusion_proof(next(it), size, store), args.proofs)
    row("inclusion proof, MemoryHashStore (warm)", warm, proof_floor, f"{proof_len} hashes")

    fetched: list[int] = []

    def fetch(wanted: Sequence[Tile]) -> list[bytes]:
        fetched.append(len(wanted))
        return [tiles[w] for w in wanted]

    it = iter(indices * 10)
    cold = per_call(
        lambda: inclusion_proof(next(it), size, TileHashReader(size, root, fetch)),
        args.proofs // 10,
    )
    reads = max(fetched)
    row("inclusion proof, new TileHashReader (cold)", cold, proof_floor, f"<= {reads} tiles")

    reader = TileHashReader(size, root, fetch)
    it = iter(indices * 10)
    random_warm = per_call(lambda: inclusion_proof(next(it), size, reader), args.proofs)
    row("inclusion proof, TileHashReader, random index", random_warm, proof_floor)
    index = indices[0]
    repeated = per_call(lambda: inclusion_proof(index, size, reader), args.proofs)
    row("inclusion proof, TileHashReader, cached tiles", repeated, proof_floor)

    proof = inclusion_proof(index, size, store)
    verify = per_call(lambda: verify_inclusion(leaves[index], index, size, proof, root), 5_000)
    row("verify_inclusion", verify, proof_floor)


if __name__ == "__main__":
    main()
