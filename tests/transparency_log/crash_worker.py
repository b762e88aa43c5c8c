"""Subprocess for test_crash.py: append batches forever, printing what was acknowledged.

Usage: crash_worker.py LOG_DIR RUN FSYNC [WITNESS_URL WITNESS_VKEY]. With a witness, every
checkpoint is cosigned by it as ``keybundle log serve`` does (OPS §6.5.3). Prints
``open SIZE`` once the log is open, then for every add_many that returned
``ack RUN FIRST COUNT INDEX`` (entries ``RUN:FIRST`` to ``RUN:FIRST+COUNT-1`` are at INDEX,
INDEX+1, ...) and ``cp SIZE ROOT`` for the checkpoint that covers them. The test kills this
process with SIGKILL at a random instant.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from transparency_log import note
from transparency_log.appender import Log
from transparency_log.server import CosigningTileStore
from transparency_log.storage import DirectoryTileStore, TileStore
from transparency_log.witness_client import WitnessEndpoint

ORIGIN = "example.com/crash-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x07" * 32)


def worker_entry(run: int, number: int) -> bytes:
    return b"run %d entry %d " % (run, number) + bytes(number % 97)


def main() -> None:
    root, run, fsync = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    verifier = SIGNER.verifier()
    store: TileStore = DirectoryTileStore(root, fsync=fsync)
    if len(sys.argv) == 6:
        witness = WitnessEndpoint(sys.argv[4], note.new_verifier(sys.argv[5]))
        store = CosigningTileStore(store, verifier, ORIGIN, [witness], timeout=5)
    log = Log.open(
        store,
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=verifier,
        fsync=fsync,
        batch_size=64,
    )
    print(f"open {log.size}", flush=True)
    rng = random.Random(run)
    number = 0
    while True:
        count = rng.randint(1, 200)
        indices = log.add_many([worker_entry(run, number + k) for k in range(count)])
        if indices != list(range(indices[0], indices[0] + count)):
            print(f"bad indices {indices}", flush=True)
            sys.exit(3)
        print(f"ack {run} {number} {count} {indices[0]}", flush=True)
        print(f"cp {log.size} {log.root.hex()}", flush=True)
        number += count


if __name__ == "__main__":
    main()
