"""Publishing universal packages at fleet scale (OPS §7.7), against its floor.

    .venv/bin/python bench/bench_publish.py [--fleets N] [--rounds R] [--dir D]

A log of N fleets (default 10,000), one bundle each, is written to a directory with the log's
admission on (SPEC §6.3), after a trust-root rotation, so every package carries a rotation.
Then, measured:

* ``initial``: the first :meth:`Publisher.publish` (reads and judges every entry: two
  signature checks per bundle), for reference.
* ``republish``: the checkpoint changes (re-cosigned: a new cosignature timestamp, as an
  idle log's re-cosigning does, OPS §6.5.3) and :meth:`Publisher.publish` rewrites every
  package: N inclusion proofs from the tiles, N encodings, N files replaced atomically and
  durably, the index and the state. Target: at most 5 s for 10,000 fleets on 2 cores.
* ``grow``: one new bundle is appended, then a republish (adds the scan of one entry and the
  consistency proof from the previous size).
* ``floor``: in the same process, with the same warm tiles, one inclusion proof from the
  tiles and one package encoding per fleet, nothing written: what any publisher must do. The
  ratio republish/floor is reported per round and as a median.
* ``latest``: :meth:`PackageSource.latest` on a warm cache, per call. Target: at most 50 µs.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keybundle.package import Package
from keybundle.publisher import PackageSource, Publisher, log_client_for
from tests.keybundle.fleetlog import FleetLog
from transparency_log.tlog_client import LogClient


def build_log(root: Path, fleets: int) -> FleetLog:
    fl = FleetLog(root)
    fl.rotate()
    bundles = [fl.bundle(f"fleet-{n:06d}.vault") for n in range(fleets)]
    fl._append(bundles)
    for n, signed in enumerate(bundles):
        fl.heads[f"fleet-{n:06d}.vault"] = 1
        fl.digests[(f"fleet-{n:06d}.vault", 1)] = hashlib.sha256(signed).digest()
    fl.cosign()
    return fl


def floor(client: LogClient, publisher: Publisher) -> float:
    """One inclusion proof and one encoding per fleet, with the publisher's warm tiles."""
    packages = publisher.packages
    if packages is None:
        raise AssertionError("publish first")
    checkpoint = packages.checkpoint
    heads = list(packages.fleets.values())
    began = time.perf_counter()
    for head in heads:
        proof = client.inclusion_proof(head.index, checkpoint)
        Package(head.signed_bundle, proof, packages.consistency, packages.rotations).encode()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-", dir=args.dir))
    try:
        began = time.perf_counter()
        fl = build_log(work / "log", args.fleets)
        print(f"log of {args.fleets} fleets built in {time.perf_counter() - began:.1f} s")
        client = log_client_for(fl.fetcher(), fl.roots[1])
        # No grace: back-to-back rounds would otherwise wait (not work) between passes.
        publisher = Publisher(client, fl.signed_roots[1], work / "out", generation_grace=0)
        initial = publisher.publish()
        print(f"initial publish (reads and judges every entry): {initial.seconds:.2f} s")

        ratios, build_ratios, republish = [], [], []
        for r in range(args.rounds):
            fl.cosign(fl.world.now + r + 1)
            result = publisher.publish()
            if not result.changed:
                raise AssertionError("a re-cosigned checkpoint must be republished")
            base = floor(client, publisher)
            republish.append(result.seconds)
            ratios.append(result.seconds / base)
            build_ratios.append(result.build_seconds / base)
            print(
                f"round {r + 1}: republish {result.seconds:.2f} s "
                f"({result.seconds / args.fleets * 1e6:.0f} us/fleet: build "
                f"{result.build_seconds:.2f} s, write {result.write_seconds:.2f} s), floor "
                f"{base:.2f} s, "
                f"ratio {result.seconds / base:.2f}"
            )
        fl.add_bundle("fleet-000000.vault")
        fl.cosign(fl.world.now + 100)
        grow = publisher.publish()
        print(f"grow by one entry and republish: {grow.seconds:.2f} s")
        print(
            f"republish median {statistics.median(republish):.2f} s for {args.fleets} fleets "
            f"(target <= 5 s for 10,000), ratio to floor median {statistics.median(ratios):.2f} "
            f"(building alone {statistics.median(build_ratios):.2f})"
        )

        source = PackageSource(fl.fetcher(), fl.signed_roots[1], refresh_interval=3600)
        fleet = "fleet-000001.vault"
        source.latest(fleet)
        calls = 200_000
        began = time.perf_counter()
        for _ in range(calls):
            source.latest(fleet)
        per_call = (time.perf_counter() - began) / calls
        print(f"PackageSource.latest warm: {per_call * 1e6:.2f} us per call (target <= 50 us)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
