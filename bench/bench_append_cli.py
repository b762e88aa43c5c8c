"""``keybundle log append DIR FILE...`` with 20,000 files, against a floor (issue 4, CLI §10.6).

    .venv/bin/python bench/bench_append_cli.py [--files N] [--size B] [--rounds R] [--dir D]

Makes N files of B random bytes (default 20,000 of 1 KiB) and a plain log key in a fresh
temporary directory under ``--dir`` (default: the system's temporary directory), then, round
after round (interleaved, so that drift in the machine's load hits both alike):

* ``cli``: ``keybundle log append`` as a subprocess (the console script beside this Python,
  as a user runs it) into a log made by ``keybundle log init`` (not timed), fsync on, batches
  of 256, wall-clock time from spawn to exit: interpreter start-up, imports, argument parsing,
  the check of every file, reading, appending, publishing, closing and printing the indices;
* ``floor``: in this process, read the same files, hash their leaves and append the bytes a
  log would write to one file with one fsync per batch of 256 (what
  /tmp/kbperf/cli/floor_cli.py measured): the least any durable log can do with the files.

It prints each round and the median ratio cli / floor (target <= 2.0). The temporary
directory, which this run created, is removed at the end; run directories are kept until
then (on an ext4 without a journal, creating a file skips inodes freed in the last minute,
which would slow the next round down; see bench_append.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transparency_log import note

ORIGIN = "bench.example/log"
BATCH = 256


def keybundle_command() -> list[str]:
    """The ``keybundle`` console script of this environment, else ``python -m``."""
    script = Path(sys.executable).parent / "keybundle"
    return [str(script)] if script.exists() else [sys.executable, "-m", "keybundle_cli"]


def make_files(directory: Path, count: int, size: int) -> list[str]:
    """``count`` files of ``size`` random bytes; their paths relative to ``directory``."""
    (directory / "files").mkdir()
    names = []
    for i in range(count):
        name = f"files/{i:05d}.bin"
        (directory / name).write_bytes(os.urandom(size))
        names.append(name)
    return names


def run_cli(work: Path, key: Path, names: list[str], round_no: int) -> float:
    log = work / f"log-{round_no}"
    kb = keybundle_command()
    subprocess.run(
        [*kb, "log", "init", str(log), "--origin", ORIGIN, "--key", str(key)],
        check=True,
        capture_output=True,
    )
    with (work / f"log-{round_no}.out").open("wb") as out:
        start = time.perf_counter()
        subprocess.run(
            [*kb, "log", "append", str(log), *names],
            cwd=work,
            check=True,
            stdout=out,
            stderr=subprocess.PIPE,
        )
        seconds = time.perf_counter() - start
    lines = (work / f"log-{round_no}.out").read_bytes().count(b"\n")
    if lines != len(names):
        raise AssertionError(f"keybundle log append printed {lines} lines, not {len(names)}")
    return seconds


def run_floor(work: Path, names: list[str], round_no: int) -> float:
    """Read, hash the leaves, append what a log writes, fsync once per batch."""
    sha256 = hashlib.sha256
    target = work / f"floor-{round_no}.bin"
    paths = [f"{work}/{name}" for name in names]  # plain strings, as floor_cli.py had them
    start = time.perf_counter()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for first in range(0, len(paths), BATCH):
            batch = []
            for path in paths[first : first + BATCH]:
                with open(path, "rb") as f:
                    batch.append(f.read())
            hashes = [sha256(b"\x00" + e).digest() for e in batch]
            bundle = b"".join([len(e).to_bytes(2, "big") + e for e in batch])
            # The bundle, the level-0 tile, a level-1 partial tile and a checkpoint.
            os.write(fd, bundle + b"".join(hashes) + bytes(32 * (first // BATCH % 256 + 1) + 200))
            os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def startup_seconds() -> float:
    """Wall time of the interpreter alone (``python -c pass``), for the record."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=1024, help="bytes per file")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to make the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-append-cli-", dir=args.dir))
    try:
        skey, _ = note.generate_key(ORIGIN)
        key = work / "log.key"
        key.write_text(skey + "\n", encoding="utf-8")
        key.chmod(0o600)
        names = make_files(work, args.files, args.size)
        os.sync()  # the new files' writeback would otherwise slow the first rounds' fsyncs
        run_floor(work, names, -1)  # warm the page cache for both contenders alike
        cli_times: list[float] = []
        floor_times: list[float] = []
        print(f"{args.files} files of {args.size} bytes, batches of {BATCH}, fsync on")
        for round_no in range(args.rounds):
            floor_times.append(run_floor(work, names, round_no))
            cli_times.append(run_cli(work, key, names, round_no))
            print(
                f"  round {round_no}: cli {cli_times[-1]:.3f} s  floor {floor_times[-1]:.3f} s"
                f"  ratio {cli_times[-1] / floor_times[-1]:.2f}x"
            )
        ratios = [c / f for c, f in zip(cli_times, floor_times, strict=True)]
        print(
            f"  median: cli {statistics.median(cli_times):.3f} s, floor "
            f"{statistics.median(floor_times):.3f} s, cli / floor {statistics.median(ratios):.2f}x "
            f"(target <= 2.0); interpreter start-up alone {startup_seconds():.3f} s"
        )
    finally:
        shutil.rmtree(work)  # the directory this run created, and nothing else


if __name__ == "__main__":
    main()
