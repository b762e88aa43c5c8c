"""Append throughput of the log writer (OPS §6.2), side by side with aics-tlog and a floor.

    .venv/bin/python bench/bench_append.py [--entries N] [--rounds R] [--dir D] [--rss N]

Every contender appends the same 1 KiB entries in batches of 256, with fsync on, into a
fresh directory under ``--dir`` (default: the system's temporary directory) on the same
disk, and publishes one signed checkpoint per batch:

* ``keybundle``: :class:`transparency_log.appender.Log`, one ``add_many`` per batch: each
  call waits for its own checkpoint, so nothing overlaps (a synchronous submitter).
* ``kb-stream``: the same log, one ``add_many`` over all the entries (still one checkpoint
  per 256): batches are pipelined, the next sequenced while one is published (what the CLI
  and a busy server get).
* ``aics-tlog``: ``IncrementalTileWriter`` on its fsyncing ``DirectoryTileStore``, plus
  ``sign_checkpoint`` and ``write_checkpoint`` per batch (the peer has no resubmission index).
* ``floor``: the leaf hashes of the batch and the same number of bytes appended to one file
  with one fsync per batch: the least any durable log can do.

The contenders run interleaved, round after round, so that drift in the machine's load hits
all alike; the ratios are taken within each round (ours/aics as a rate, target >= 1.2;
ours/floor as a time, target <= 1.5) and their medians reported. Run directories are kept
until the end: on an ext4 without a journal, creating a file skips every inode freed in the
last minute (``recently_deleted``), so deleting one contender's tiles would slow down the
next contender's file creation. ``--rss N`` instead appends N entries and prints the peak
RSS as the log grows, to show that memory stays flat.

aics-tlog is the ``bench`` extra; it declares Python >= 3.12 but is pure Python and runs on
3.11: ``pip install --no-deps --ignore-requires-python aics-tlog``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transparency_log import note
from transparency_log.appender import open_directory_log

ORIGIN = "bench.example/log"
BATCH = 256
ENTRY_SIZE = 1024


def make_entries(count: int) -> list[bytes]:
    return [os.urandom(ENTRY_SIZE) for _ in range(count)]


def run_ours(root: Path, entries: list[bytes]) -> None:
    signer = note.Ed25519Signer(ORIGIN, b"\x01" * 32)
    with open_directory_log(
        root, origin=ORIGIN, signer=signer, verifier=signer.verifier(), batch_size=BATCH
    ) as log:
        for start in range(0, len(entries), BATCH):
            log.add_many(entries[start : start + BATCH])


def run_ours_streaming(root: Path, entries: list[bytes]) -> None:
    signer = note.Ed25519Signer(ORIGIN, b"\x01" * 32)
    with open_directory_log(
        root, origin=ORIGIN, signer=signer, verifier=signer.verifier(), batch_size=BATCH
    ) as log:
        log.add_many(entries)


def run_aics(root: Path, entries: list[bytes]) -> None:
    writer_mod: Any = importlib.import_module("aics_tlog.writer")
    checkpoint_mod: Any = importlib.import_module("aics_tlog.checkpoint")
    ed25519: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ed25519")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    store = writer_mod.DirectoryTileStore(root, fsync=True)
    writer = writer_mod.IncrementalTileWriter(store)
    for start in range(0, len(entries), BATCH):
        result = writer.append(entries[start : start + BATCH])
        checkpoint = checkpoint_mod.Checkpoint(ORIGIN, result.size, result.root)
        signed = checkpoint_mod.sign_checkpoint(checkpoint, key, ORIGIN)
        store.write_checkpoint(signed.to_bytes())


def run_floor(root: Path, entries: list[bytes]) -> None:
    """Hash the leaves, append the bytes a log would write, fsync once per batch."""
    sha256 = hashlib.sha256
    root.mkdir()
    fd = os.open(root / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for start in range(0, len(entries), BATCH):
            batch = entries[start : start + BATCH]
            hashes = [sha256(b"\x00" + e).digest() for e in batch]
            bundle = b"".join([len(e).to_bytes(2, "big") + e for e in batch])
            # The bundle, the level-0 tile, a level-1 partial tile and a checkpoint.
            os.write(fd, bundle + b"".join(hashes) + bytes(32 * (start // BATCH % 256 + 1) + 200))
            os.fsync(fd)
    finally:
        os.close(fd)


def timed(run: Callable[[Path, list[bytes]], None], entries: list[bytes], parent: Path) -> float:
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=parent))
    start = time.perf_counter()
    run(directory / "log", entries)
    return time.perf_counter() - start


def compare(count: int, rounds: int, where: str | None) -> None:
    entries = make_entries(count)
    contenders: dict[str, Callable[[Path, list[bytes]], None]] = {
        "keybundle": run_ours,
        "kb-stream": run_ours_streaming,
        "aics-tlog": run_aics,
        "floor": run_floor,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    parent = Path(tempfile.mkdtemp(prefix="bench-append-", dir=where))
    try:
        for _ in range(rounds):
            for name, run in contenders.items():  # interleaved, so drift hits all alike
                times[name].append(timed(run, entries, parent))
    finally:
        shutil.rmtree(parent)  # the directory this run created, and nothing else
    print(f"{count} entries of {ENTRY_SIZE} bytes, batches of {BATCH}, fsync on, {rounds} rounds")
    print(f"  under {parent.parent}")
    for name, values in times.items():
        seconds = statistics.median(values)
        per_batch = seconds / (count / BATCH) * 1000
        print(
            f"  {name:10s} {count / seconds:10,.0f} entries/s  {per_batch:6.2f} ms/batch "
            f"(median; best round {count / min(values):,.0f} entries/s)"
        )
    best = {name: min(values) for name, values in times.items()}
    for name in ("keybundle", "kb-stream"):
        versus_aics = [a / b for a, b in zip(times["aics-tlog"], times[name], strict=True)]
        versus_floor = [b / a for a, b in zip(times["floor"], times[name], strict=True)]
        print(
            f"  {name}: rate / aics-tlog {statistics.median(versus_aics):.2f}x "
            f"(rounds {' '.join(f'{r:.2f}' for r in versus_aics)}); "
            f"time / floor {statistics.median(versus_floor):.2f}x "
            f"(rounds {' '.join(f'{r:.2f}' for r in versus_floor)}); best rounds: "
            f"{best['aics-tlog'] / best[name]:.2f}x, {best[name] / best['floor']:.2f}x"
        )


def peak_rss(count: int, where: str | None) -> None:
    """Append ``count`` entries one batch per call; print peak RSS and the recent rate."""
    signer = note.Ed25519Signer(ORIGIN, b"\x01" * 32)
    step = max(BATCH, count // 10 // BATCH * BATCH)
    with (
        tempfile.TemporaryDirectory(prefix="bench-append-", dir=where) as tmp,
        open_directory_log(
            Path(tmp) / "log",
            origin=ORIGIN,
            signer=signer,
            verifier=signer.verifier(),
            batch_size=BATCH,
        ) as log,
    ):
        last_size, last_time = 0, time.perf_counter()
        while log.size < count:
            log.add_many(make_entries(min(BATCH, count - log.size)))
            if log.size % step == 0 or log.size == count:
                now = time.perf_counter()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                rate = (log.size - last_size) / (now - last_time)
                last_size, last_time = log.size, now
                print(f"  {log.size:>9,} entries  peak RSS {rss:6.1f} MiB  {rate:8,.0f} entries/s")
        # The dedupe lookup of one batch of new leaf hashes, with and without the filter.
        kept = log._index._filter  # measuring what the filter spares: private on purpose
        for label in ("with the leaf filter", "SQLite alone"):
            log._index._filter = kept if label != "SQLite alone" else None
            samples = []
            for _ in range(200):
                hashes = [hashlib.sha256(e).digest() for e in make_entries(BATCH)]
                began = time.perf_counter()
                log._lookup(hashes)
                samples.append(time.perf_counter() - began)
            lookup = statistics.median(samples) * 1000
            print(f"  lookup of {BATCH} new leaf hashes at {log.size:,}, {label}: {lookup:.3f} ms")
        log._index._filter = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=51_200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to make the run directories")
    parser.add_argument("--rss", type=int, default=0, help="measure peak RSS up to N entries")
    args = parser.parse_args()
    if args.rss:
        peak_rss(args.rss, args.dir)
    else:
        compare(args.entries, args.rounds, args.dir)


if __name__ == "__main__":
    main()
