"""kill -9 of a log with a real witness process (OPS §6.2, §6.5.3): the trial loop.

Shared by tests/transparency_log/test_witness_crash.py (a few trials) and
scripts/kill_witness.py (as many as asked). A ``keybundle witness serve`` process runs on
127.0.0.1; crash_worker.py appends to a log that has it cosign every checkpoint, and is
killed with SIGKILL at random instants. Throughout, every checkpoint the log publishes and
every tree the witness holds (its state file) is recorded. At the end the log is reopened
and grows once more: the witness must cosign that checkpoint, which it does only if every
tree it ever held is a prefix of the log (C2SP tlog-witness), and every recorded tree must
be a prefix of the final log, one root per size.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from transparency_log import note
from transparency_log.appender import Log
from transparency_log.checkpoint import verify_checkpoint
from transparency_log.cosignature import SIG_TYPE_COSIGNATURE_V1
from transparency_log.entry_bundle import parse_entry_bundle
from transparency_log.merkle import CompactRange, leaf_hash
from transparency_log.server import CosigningTileStore
from transparency_log.storage import DirectoryTileStore
from transparency_log.witness import _parse_state, _state_file_name
from transparency_log.witness_client import WitnessEndpoint

HERE = Path(__file__).resolve().parent
WORKER = HERE / "crash_worker.py"
ORIGIN = "example.com/crash-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x07" * 32)
VERIFIER = SIGNER.verifier()
WITNESS_NAME = "witness.example/kill"


@dataclass
class KillReport:
    trials: int
    checkpoints: int  # distinct (size, root) seen: published by the log or held by the witness
    acknowledged: int


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
    entries: list[bytes] = []
    for index in range((size + 255) // 256):
        width = min(256, size - index * 256)
        suffix = "" if width == 256 else f".p/{width}"
        data = (root / f"tile/entries/{x_path(index)}{suffix}").read_bytes()
        entries.extend(parse_entry_bundle(data, width))
    return entries


def check_trees(entries: list[bytes], observed: set[tuple[int, bytes]]) -> None:
    """One root per size, and every observed tree a prefix of the final log."""
    roots: dict[int, bytes] = {}
    for size, root in observed:
        assert roots.setdefault(size, root) == root, f"two trees of size {size} were signed"
    tree = CompactRange()
    for size in sorted(roots):
        assert size <= len(entries), f"a tree of size {size} is beyond the final log"
        while tree.size < size:
            tree.append(leaf_hash(entries[tree.size]))
        assert tree.root() == roots[size], f"the tree of size {size} is not in the final log"


def _published(root: Path) -> tuple[int, bytes] | None:
    try:
        data = (root / "checkpoint").read_bytes()
    except FileNotFoundError:
        return None
    checkpoint = verify_checkpoint(data, VERIFIER, origin=ORIGIN).checkpoint
    return checkpoint.size, checkpoint.root_hash


def _held(path: Path) -> tuple[int, bytes] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    state = _parse_state(data, ORIGIN, path)
    return state.size, state.root_hash


def _start_witness(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    skey, vkey = note.generate_key(WITNESS_NAME, sig_type=SIG_TYPE_COSIGNATURE_V1)
    key = tmp / "witness.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(skey + "\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keybundle_cli",
            "witness",
            "serve",
            "--key",
            str(key),
            "--log",
            VERIFIER.verifier_key,
            "--state",
            str(tmp / "witness-state"),
            "--listen",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()  # "witness NAME listening on http://HOST:PORT"
    found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if found is None:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the witness did not start: {line!r}")
    return proc, found.group(1), vkey


def run_kill_trials(tmp: Path, trials: int, seed: int = 20261207) -> KillReport:
    """``trials`` kill -9 runs of a witnessed log; raise AssertionError on any violation."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    log_dir = tmp / "log"
    rng = random.Random(seed)
    witness, url, vkey = _start_witness(tmp, env)
    held_path = tmp / "witness-state" / _state_file_name(ORIGIN)
    observed: set[tuple[int, bytes]] = set()
    acked: dict[bytes, int] = {}
    try:
        for run in range(trials):
            out_path = tmp / f"run{run}.out"
            with out_path.open("w") as out:
                proc = subprocess.Popen(
                    [sys.executable, str(WORKER), str(log_dir), str(run), "0", url, vkey],
                    stdout=out,
                    env=env,
                )
            started = time.monotonic()
            early = rng.random() < 0.2
            while not early and "open" not in out_path.read_text() and proc.poll() is None:
                if time.monotonic() - started > 20:
                    break
                time.sleep(0.005)
            kill_at = time.monotonic() + rng.uniform(0.0, 0.5)
            while time.monotonic() < kill_at:
                for seen in (_published(log_dir), _held(held_path)):
                    if seen is not None:
                        observed.add(seen)
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL, out_path.read_text()
            for line in out_path.read_text().split("\n")[:-1]:
                fields = line.split()
                if fields[0] == "ack":
                    run_no, first, count, index = map(int, fields[1:])
                    for k in range(count):
                        acked[worker_entry(run_no, first + k)] = index + k
                elif fields[0] == "cp":
                    observed.add((int(fields[1]), bytes.fromhex(fields[2])))
            held = _held(held_path)  # what the witness holds once the log is dead
            if held is not None:
                observed.add(held)

        store = CosigningTileStore(
            DirectoryTileStore(log_dir, fsync=False),
            VERIFIER,
            ORIGIN,
            [WitnessEndpoint(url, note.new_verifier(vkey))],
            timeout=10,
        )
        with Log.open(
            store, log_dir / ".state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
        ) as log:
            size = log.add(b"after the kills") + 1
            assert [o.ok for o in store.last_outcomes] == [True], [
                o.error for o in store.last_outcomes
            ]
            final = (log.size, log.root)
        observed.add(final)
        assert _held(held_path) == final, "the witness does not hold the log's final tree"
        entries = read_entries(log_dir, size)
        for data, index in acked.items():
            assert entries[index] == data, f"acknowledged entry {index} was lost"
        check_trees(entries, observed)
    finally:
        witness.send_signal(signal.SIGTERM)
        try:
            witness.wait(timeout=10)
        except subprocess.TimeoutExpired:
            witness.kill()
            witness.wait()
        if witness.stderr is not None:
            witness.stderr.close()
    return KillReport(trials, len(observed), len(acked))
