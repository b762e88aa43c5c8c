"""Crash safety (OPS §6.2): kill -9 at random instants, and a failure at every write point.

Whatever happens, every acknowledged entry is in the log at its index, the log reopens and
continues, and every checkpoint anyone saw is consistent with the final tree.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from transparency_log import note, storage
from transparency_log.appender import Log, open_directory_log
from transparency_log.checkpoint import verify_checkpoint
from transparency_log.entry_bundle import parse_entry_bundle
from transparency_log.merkle import CompactRange, leaf_hash
from transparency_log.storage import DirectoryTileStore

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
WORKER = HERE / "crash_worker.py"
ORIGIN = "example.com/crash-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x07" * 32)
VERIFIER = SIGNER.verifier()


def worker_entry(run: int, number: int) -> bytes:
    return b"run %d entry %d " % (run, number) + bytes(number % 97)


def x_path(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def read_entries(root: Path, size: int) -> list[bytes]:
    """Every entry of the published tree of ``size``, from its entry bundles."""
    entries: list[bytes] = []
    for index in range((size + 255) // 256):
        width = min(256, size - index * 256)
        suffix = "" if width == 256 else f".p/{width}"
        data = (root / f"tile/entries/{x_path(index)}{suffix}").read_bytes()
        entries.extend(parse_entry_bundle(data, width))
    return entries


def check_consistent(entries: list[bytes], observed: set[tuple[int, bytes]]) -> None:
    """Every observed (size, root) is a prefix of the final tree (RFC 9162 consistency)."""
    wanted = sorted(observed)
    assert wanted[-1][0] <= len(entries), "a checkpoint saw more entries than the final log"
    tree = CompactRange()
    for size, root in wanted:
        while tree.size < size:
            tree.append(leaf_hash(entries[tree.size]))
        assert tree.root() == root, f"checkpoint of size {size} is not a prefix of the log"


def read_checkpoint(root: Path) -> tuple[int, bytes] | None:
    try:
        data = (root / "checkpoint").read_bytes()
    except FileNotFoundError:
        return None
    checkpoint = verify_checkpoint(data, VERIFIER, origin=ORIGIN).checkpoint
    return checkpoint.size, checkpoint.root_hash


def test_kill_9_at_random_instants_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    rng = random.Random(20261126)
    acked: dict[bytes, int] = {}
    observed: set[tuple[int, bytes]] = set()
    deadline = time.monotonic() + 25
    runs = 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    while runs < 15 and time.monotonic() < deadline:
        out_path = tmp_path / f"run{runs}.out"
        with out_path.open("w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    str(log_dir),
                    str(runs),
                    str(int(runs % 5 == 0)),
                ],
                stdout=out,
                env=env,
            )
        # Kill at a random instant: sometimes during open and recovery, mostly while appending.
        started = time.monotonic()
        early = rng.random() < 0.2
        while not early and "open" not in out_path.read_text() and proc.poll() is None:
            if time.monotonic() - started > 20:
                break
            time.sleep(0.005)
        kill_at = time.monotonic() + rng.uniform(0.0, 0.4)
        while time.monotonic() < kill_at:
            seen = read_checkpoint(log_dir)  # a reader never sees a torn checkpoint
            if seen is not None:
                observed.add(seen)
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, out_path.read_text()
        for line in out_path.read_text().split("\n")[:-1]:  # the last line may be cut
            fields = line.split()
            if fields[0] == "ack":
                run, first, count, index = map(int, fields[1:])
                for k in range(count):
                    acked[worker_entry(run, first + k)] = index + k
            elif fields[0] == "cp":
                observed.add((int(fields[1]), bytes.fromhex(fields[2])))
        runs += 1
    assert runs >= 5
    assert acked, "no batch was acknowledged before the kills"

    with open_directory_log(
        log_dir, origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
    ) as log:
        size = log.size
        observed.add((size, log.root))
        entries = read_entries(log_dir, size)
        for data, index in acked.items():
            assert index < size
            assert entries[index] == data
        sample = rng.sample(sorted(acked), min(50, len(acked)))
        assert log.add_many(sample) == [acked[data] for data in sample]
        assert log.add(b"after the crashes") == size
    check_consistent(read_entries(log_dir, size + 1), observed)


class Faults:
    """Raises at the n-th write point of the real DirectoryTileStore: every file written,
    every rename, every file flush and every directory flush (SPEC §6.1)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.countdown = -1
        self.points = 0
        real_write, real_fsync_file, real_fsync_dir, real_rename = (
            storage._write_file,
            storage._fsync_file,
            storage._fsync_dir,
            storage._rename,
        )

        def write_file(path: str, data: bytes) -> int:
            self.point()
            return real_write(path, data)

        def fsync_file(fd: int) -> None:
            self.point()
            real_fsync_file(fd)

        def fsync_dir(directory: str) -> None:
            self.point()
            real_fsync_dir(directory)

        def rename(src: str, dst: str) -> None:
            self.point()
            real_rename(src, dst)

        monkeypatch.setattr(storage, "_write_file", write_file)
        monkeypatch.setattr(storage, "_fsync_file", fsync_file)
        monkeypatch.setattr(storage, "_fsync_dir", fsync_dir)
        monkeypatch.setattr(storage, "_rename", rename)

    def point(self) -> None:
        with LOCK:
            self.points += 1
            if self.countdown == 0:
                self.countdown = -1
                raise OSError("injected storage failure")
            if self.countdown > 0:
                self.countdown -= 1


LOCK = threading.Lock()


def open_faulty(root: Path) -> Log:
    return Log.open(
        DirectoryTileStore(root, fsync=True),
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        batch_size=128,
        fsync=False,
    )


def test_a_failure_at_every_write_point_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(monkeypatch)
    batches = [[b"%d-%d" % (b, i) for i in range(n)] for b, n in enumerate([200, 100, 300, 1])]
    # Count the write points of one clean run (after the size-0 checkpoint of open).
    with open_faulty(tmp_path / "probe") as log:
        faults.points = 0
        for batch in batches:
            log.add_many(batch)
        total = faults.points
    assert total > 30
    for point in range(total):
        root = tmp_path / f"p{point}"
        acked: dict[bytes, int] = {}
        observed: set[tuple[int, bytes]] = set()
        failed = False
        log = open_faulty(root)
        faults.countdown = point
        for batch in batches:
            try:
                indices = log.add_many(batch)
            except OSError:
                failed = True
                # The writer recovered in place, to whatever checkpoint is published.
                assert read_checkpoint(root) == (log.size, log.root)
                continue
            acked.update(zip(batch, indices, strict=True))
            observed.add((log.size, log.root))
        assert failed
        # Resubmitting everything fills the gaps and returns the acknowledged indices.
        for batch in batches:
            indices = log.add_many(batch)
            for data, index in zip(batch, indices, strict=True):
                assert acked.setdefault(data, index) == index
        log.close()
        with open_faulty(root) as reopened:
            entries = read_entries(root, reopened.size)
            assert reopened.size == sum(len(b) for b in batches)
            observed.add((reopened.size, reopened.root))
        for data, index in acked.items():
            assert entries[index] == data, point
        check_consistent(entries, observed)


def test_a_power_loss_that_undoes_the_unflushed_checkpoint_rename_loses_nothing(
    tmp_path: Path,
) -> None:
    """SPEC §6.1: the rename of ``.checkpoint.tmp`` to ``checkpoint`` is flushed only by the
    next batch's round. A power loss before that brings the old names back: the previous
    ``checkpoint``, and the staged one (durable with its files since round 1), which
    recovery publishes: the acknowledged batch is still there."""
    root = tmp_path / "log"
    with open_directory_log(
        root, origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=True
    ) as log:
        log.add_many([b"first %d" % i for i in range(300)])
        previous = log.checkpoint
        acked = log.add_many([b"second %d" % i for i in range(40)])
        size, tree = log.size, log.root
    # What the disk may hold after the power loss: the rename undone.
    os.replace(root / "checkpoint", root / ".checkpoint.tmp")
    (root / "checkpoint").write_bytes(previous)
    with open_directory_log(
        root, origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=True
    ) as reopened:
        assert (reopened.size, reopened.root) == (size, tree)
        assert read_checkpoint(root) == (size, tree)
        entries = read_entries(root, size)
        assert [entries[i] for i in acked] == [b"second %d" % i for i in range(40)]
        assert reopened.add(b"after the power loss") == size
