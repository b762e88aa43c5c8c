"""Subprocess for test_crash.py: append batches forever, printing what was acknowledged.

Usage: crash_worker.py LOG_DIR RUN FSYNC. Prints ``open SIZE`` once the log is open, then for
every add_many that returned ``ack RUN FIRST COUNT INDEX`` (entries ``RUN:FIRST`` to
``RUN:FIRST+COUNT-1`` are at INDEX, INDEX+1, ...) and ``cp SIZE ROOT`` for the checkpoint that
covers them. The test kills this process with SIGKILL at a random instant.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from transparency_log import note
from transparency_log.appender import open_directory_log

ORIGIN = "example.com/crash-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x07" * 32)


def worker_entry(run: int, number: int) -> bytes:
    return b"run %d entry %d " % (run, number) + bytes(number % 97)


def main() -> None:
    root, run, fsync = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    log = open_directory_log(
        root, origin=ORIGIN, signer=SIGNER, verifier=SIGNER.verifier(), fsync=fsync, batch_size=64
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
