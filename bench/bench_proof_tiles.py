"""Benchmark: inclusion proofs from a tiled log of 1,000,000 entries (issue 4, SPEC §6.5.4).

Targets: an inclusion proof from tiles in at most 0.5 ms warm and at most 6 tile reads cold.
A log of N entries is written by the real appender (fsync off: this measures reading), then:

- **floor**: RFC 9162 proof generation from an in-memory tree (``MemoryHashStore``), i.e. the
  hashing and bookkeeping a proof needs with no tile I/O and no authentication;
- **ours, cold**: a fresh :class:`LogClient` per proof over a :class:`DirectoryFetcher`
  (checkpoint verified, every tile authenticated against the signed root), tile reads counted;
- **ours, warm**: one client, proofs of random indices once its tile cache is warm (levels
  1 and up cached; a random index still fetches its level-0 tile when not kept), and proofs
  of indices whose tiles are all kept;
- **ours over HTTP**: the same through waitress (the log's own server) on 127.0.0.1;
- **aics-tlog**, side by side on the same directory: ``inclusion_proof_from_tiles`` over its
  ``FileSystemTileReader`` (tiles not authenticated) and over its ``VerifiedTileReader``.

Run: ``.venv/bin/python bench/bench_proof_tiles.py [--size N] [--proofs K]``.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from transparency_log import note
from transparency_log.appender import Log
from transparency_log.fetcher import DirectoryFetcher, HTTPFetcher
from transparency_log.merkle import leaf_hash
from transparency_log.proof import MemoryHashStore, inclusion_proof, verify_inclusion
from transparency_log.server import LogService, make_log_server
from transparency_log.storage import DirectoryTileStore
from transparency_log.tlog_client import LogClient

ORIGIN = "bench.example/proof-tiles"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x11" * 32)
VERIFIER = SIGNER.verifier()


def entry(i: int) -> bytes:
    return b"bench entry %d" % i


def build(root: Path, size: int) -> tuple[Log, MemoryHashStore]:
    log = Log.open(
        DirectoryTileStore(root, fsync=False),
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        fsync=False,
        batch_size=65536,
    )
    store = MemoryHashStore()
    step = 65536
    for start in range(0, size, step):
        chunk = [entry(i) for i in range(start, min(size, start + step))]
        log.add_many(chunk)
        for e in chunk:
            store.append(leaf_hash(e))
    return log, store


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def report(name: str, seconds: list[float], extra: str = "") -> float:
    median = statistics.median(seconds) * 1000
    p95 = sorted(seconds)[int(0.95 * (len(seconds) - 1))] * 1000
    print(f"{name:<52} median {median:8.3f} ms   p95 {p95:8.3f} ms  {extra}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=300)
    args = parser.parse_args()
    size, k = args.size, args.proofs
    rng = random.Random(4)
    indices = [rng.randrange(size) for _ in range(k)]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "log"
        t0 = time.perf_counter()
        log, store = build(root, size)
        print(f"built a log of {size} entries in {time.perf_counter() - t0:.1f} s")
        signed = log.checkpoint
        client0 = LogClient(DirectoryFetcher(root), VERIFIER, origin=ORIGIN)
        checkpoint = client0.verify_checkpoint(signed)
        tree = checkpoint.checkpoint
        leaves = {i: leaf_hash(entry(i)) for i in indices}

        # Floor: proof generation from memory, no tiles, no authentication.
        it = iter(indices * 3)
        floor = report(
            "floor: RFC 9162 proof from an in-memory tree",
            timed(lambda: inclusion_proof(next(it), size, store), k),
        )

        # Ours, cold: a new client per proof (checkpoint verified, tiles authenticated).
        reads: list[int] = []

        def cold() -> None:
            client = LogClient(DirectoryFetcher(root), VERIFIER, origin=ORIGIN)
            cp = client.verify_checkpoint(signed)
            index = next(cold_it)
            proof = client.inclusion_proof(index, cp)
            reads.append(client.tile_fetches)
            verify_inclusion(leaves[index], index, tree.size, list(proof.hashes), tree.root_hash)

        cold_it = iter(indices)
        report(
            "ours, cold (new client, checkpoint + tiles verified)",
            timed(cold, k),
            f"tile reads max {max(reads)}, mean {statistics.mean(reads):.2f}",
        )

        # Ours, warm: one client; upper levels cached; random indices.
        client = LogClient(DirectoryFetcher(root), VERIFIER, origin=ORIGIN)
        for index in indices:
            client.inclusion_proof(index, checkpoint)
        warm_it = iter(indices * 2)
        before = client.tile_fetches
        report(
            "ours, warm, random indices",
            timed(lambda: client.inclusion_proof(next(warm_it), checkpoint), k),
            f"tile reads per proof {(client.tile_fetches - before) / k:.2f}",
        )
        hot = indices[-50:]
        hot_it = iter(hot * (k // len(hot) + 2))
        before = client.tile_fetches
        warm = report(
            "ours, warm, tiles kept (target <= 0.5 ms)",
            timed(lambda: client.inclusion_proof(next(hot_it), checkpoint), k),
            f"tile reads {client.tile_fetches - before}",
        )

        # Ours over HTTP: the log's own server on loopback.
        server = make_log_server(LogService(log, VERIFIER, ORIGIN), threads=4)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with HTTPFetcher(f"http://127.0.0.1:{server.port}") as fetcher:
                http_client = LogClient(fetcher, VERIFIER, origin=ORIGIN)
                http_cp = http_client.fetch_checkpoint()
                http_it = iter(indices)
                report(
                    "ours over HTTP (waitress, loopback), cold tiles",
                    timed(lambda: http_client.inclusion_proof(next(http_it), http_cp), 50),
                )
        finally:
            server.close()
            thread.join(timeout=10)

        # aics-tlog, side by side on the same directory.
        try:
            from aics_tlog.tiles import FileSystemTileReader, inclusion_proof_from_tiles
            from aics_tlog.verified import VerifiedTileReader
        except ImportError:
            print("aics-tlog is not installed (pip install -e '.[bench]'): peer skipped")
        else:
            reader = FileSystemTileReader(root)
            aics_it = iter(indices)
            report(
                "aics-tlog inclusion_proof_from_tiles (unverified)",
                timed(lambda: inclusion_proof_from_tiles(reader, next(aics_it), size), 50),
            )
            aics_v_it = iter(indices)
            report(
                "aics-tlog over VerifiedTileReader (new per proof)",
                timed(
                    lambda: inclusion_proof_from_tiles(
                        VerifiedTileReader(reader, size, tree.root_hash), next(aics_v_it), size
                    ),
                    50,
                ),
            )
        log.close()
        print(f"warm/floor ratio: {warm / floor:.1f}x")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MiB (includes the in-memory floor tree)")


if __name__ == "__main__":
    main()
