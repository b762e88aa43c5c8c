"""Benchmark the auditor's backfill (OPS §8.1) of a large log of real bundles, from a directory.

Issue 6, "Performance": backfill a log of real countersigned bundles (many fleets, each an
unbroken chain of epochs) from a local tile directory, against the *floor* (issue 18): two raw
libsodium Ed25519 verifies per entry (the independent signature and the operator
countersignature, over their exact signed messages), libsodium's validation of each fleet key
new in that entry (Ed25519 point checks; every epoch here brings new keys), plus the tree
recomputation (a leaf hash per entry and the compact range), spread over all cores:
``floor = (verify + validate + tree) / cores``. The floor is CPU time (the median of runs
before and after the pass). Target: entries/s at least 0.8x the floor's, with flat memory (peak
RSS reported for the monitor process and, separately, for each worker). The CPU time of the
monitor and of its workers is reported too: ``floor CPU / CPU per entry`` is the ratio the pass
reaches on otherwise idle cores, so it stays comparable on a busy machine (the load average is
shown); the wall-clock ratio means something only on idle cores.

The whole log is built first (signing is not measured), then one ``Monitor.run_pass``
checks it. The issue's size is 1,000,000 entries; run as large as fits the time you have and
extrapolate (the work per entry is constant: the tree is a compact range, tiles are cached
per level, fleet heads are one per fleet)::

    .venv/bin/python bench/bench_backfill.py --entries 200000 [--workers 2] [--profile]
        [--log DIR]   (build the log into DIR once, reuse it on later runs)
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open  # noqa: E402

from keybundle import cose  # noqa: E402
from keybundle.countersignature import countersign_structure  # noqa: E402
from keybundle.monitor import Event, Monitor  # noqa: E402
from keybundle.monitor_judges import EntryJudge, ProcessJudge, SerialJudge  # noqa: E402
from keybundle.monitor_state import StateDir  # noqa: E402
from keybundle.payload import parse_payload  # noqa: E402
from tests.keybundle.world import World  # noqa: E402
from transparency_log.appender import Log  # noqa: E402
from transparency_log.fetcher import DirectoryFetcher  # noqa: E402
from transparency_log.merkle import CompactRange, leaf_hash  # noqa: E402
from transparency_log.storage import DirectoryTileStore  # noqa: E402
from transparency_log.witness import cosign_checkpoint  # noqa: E402

_ORIGIN = "log.example/keybundle"


def _status_kib(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kib() -> int:
    return _status_kib("self", "VmRSS")


def _cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of one process so far (from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (the forkserver's workers are its grandchildren)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        children = [c for c, p in parent.items() if p == pid]
        found.extend(children)
        todo.extend(children)
    return found


def build(directory: Path, entries: int, fleets: int) -> None:
    """A log of ``entries`` real bundles: ``fleets`` fleets, each epoch 1, 2, 3... in turn."""
    world = World()
    started = time.perf_counter()
    with Log.open(
        DirectoryTileStore(directory, fsync=False),
        directory / ".state",
        origin=_ORIGIN,
        signer=world.log_signer,
        verifier=world.log_signer.verifier(),
        batch_size=4096,
        fsync=False,
    ) as log:
        batch: list[bytes] = []
        for i in range(entries):
            fleet, epoch = f"fleet-{i % fleets:05d}", i // fleets + 1
            signed, _ = world.publish(fleet, epoch)
            world.entries.clear()  # the world's copy of the log: not needed, keep memory flat
            batch.append(signed)
            if len(batch) == 4096:
                log.add_many(batch)
                batch = []
            if i and i % 50_000 == 0:
                print(f"  built {i} entries ({time.perf_counter() - started:.0f} s)", flush=True)
        if batch:
            log.add_many(batch)
    checkpoint = directory / "checkpoint"
    data = checkpoint.read_bytes()
    text = data.split(b"\n\n", 1)[0] + b"\n"
    checkpoint.write_bytes(
        data + "".join(cosign_checkpoint(text, w, world.now) for w in world.witnesses).encode()
    )


def _log_size(directory: Path) -> int:
    """The size of the log's published checkpoint (its second line)."""
    return int((directory / "checkpoint").read_text().split("\n")[1])


def floor_per_entry(world: World, sample: list[bytes]) -> tuple[float, float, float, float]:
    """CPU seconds per entry of the two raw verifies, of libsodium's validation of the fleet
    keys new in that entry (issue 18: each distinct key once), and of the tree recomputation
    (one core), and how many keys an entry brings. CPU time, the median of 5 runs: the
    machine may be shared."""
    messages = []
    points = []
    seen: set[bytes] = set()
    independent = world.independent.public_key().raw
    operator = world.operator.public_key().raw
    for signed in sample:
        sign1 = cose.parse_unverified_sign1(signed)
        (cs,) = sign1.countersignatures
        messages.append(
            (independent, sign1.signature + cose.sig_structure(sign1.protected, sign1.payload))
        )
        messages.append((operator, cs.signature + countersign_structure(sign1, cs.protected)))
        for fleet_key in parse_payload(sign1.payload).keys:
            # X25519 keys need no curve operation (a range and a small-order check).
            if fleet_key.algorithm == "ed25519" and fleet_key.public_key not in seen:
                points.append(fleet_key.public_key)
            seen.add(fleet_key.public_key)
    verifies, validations, trees = [], [], []
    for _ in range(5):
        t0 = time.process_time()
        for key, signed_message in messages:
            crypto_sign_open(signed_message, key)
        verifies.append((time.process_time() - t0) / len(sample))
        t0 = time.process_time()
        for point in points:
            crypto_core_ed25519_is_valid_point(point)
        validations.append((time.process_time() - t0) / len(sample))
        t0 = time.process_time()
        tree = CompactRange()
        for entry in sample:
            tree.append(leaf_hash(entry))
        tree.root()
        trees.append((time.process_time() - t0) / len(sample))
    return (
        statistics.median(verifies),
        statistics.median(validations),
        statistics.median(trees),
        len(points) / len(sample),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--fleets", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true", help="profile the monitor process")
    parser.add_argument(
        "--log",
        type=Path,
        help="keep the built log in this directory and reuse it when it exists (same --entries)",
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        log_dir, state_dir = args.log or Path(tmp) / "log", Path(tmp) / "state"
        if (log_dir / "checkpoint").is_file():
            size = _log_size(log_dir)
            if size != args.entries:
                raise SystemExit(f"{log_dir} holds a log of {size} entries, not {args.entries}")
            print(f"reusing the log of {size} bundles in {log_dir}", flush=True)
        else:
            print(
                f"building a log of {args.entries} bundles ({args.fleets} fleets) ...", flush=True
            )
            t0 = time.perf_counter()
            builder = multiprocessing.get_context("fork").Process(
                target=build, args=(log_dir, args.entries, args.fleets)
            )
            builder.start()
            builder.join()
            if builder.exitcode != 0:
                raise SystemExit("building the log failed")
            print(f"  built in {time.perf_counter() - t0:.0f} s (in a child process)")
        world = World()
        sample = [world.publish(f"sample-{i}", 1)[0] for i in range(2000)]
        world.entries.clear()
        floors = [floor_per_entry(world, sample)]
        sample_entry = sample[0]
        rss_samples: list[tuple[int, int]] = []

        def emit(event: Event) -> None:
            if event["event"] == "progress":
                rss_samples.append((event["done"], _rss_kib()))
            if event["event"] in ("misbehaviour", "error"):
                raise SystemExit(f"unexpected event: {event}")

        judge: EntryJudge = (
            ProcessJudge(world.signed_root, args.workers)
            if args.workers > 1
            else SerialJudge(world.pinned)
        )
        directory = StateDir(state_dir, fsync=False)
        monitor = Monitor(
            DirectoryFetcher(log_dir), world.signed_root, directory, emit=emit, judge=judge
        )
        judge.submit([sample_entry], None).result()  # start the workers outside the timing
        profiler = cProfile.Profile() if args.profile else None
        load_before = os.getloadavg()[0]
        cpu_before = {pid: _cpu_seconds(pid) for pid in _descendants(os.getpid())}
        cpu_main_before = _cpu_seconds("self")
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        status = monitor.run_pass(world.now)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - t0
        cpu_main = _cpu_seconds("self") - cpu_main_before
        cpu_workers = sum(
            _cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in _descendants(os.getpid())
        )
        load_after = os.getloadavg()[0]
        floors.append(floor_per_entry(world, sample))
        verify, validate, tree, new_keys = (statistics.median(f) for f in zip(*floors, strict=True))
        floor_cpu = verify + validate + tree
        floor = floor_cpu / cores
        worker_peaks = [_status_kib(pid, "VmHWM") for pid in _descendants(os.getpid())]
        judge.close()
        assert int(status) == 0, status
        main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    n = args.entries
    rate = n / elapsed
    floor_rate = 1 / floor
    print()
    print(f"entries               {n}")
    print(f"cores / workers       {cores} / {args.workers}")
    print(f"backfill              {elapsed:.1f} s, {rate:,.0f} entries/s")
    print(
        f"floor, per entry      2 verifies {verify * 1e6:.1f} us + new fleet keys "
        f"{validate * 1e6:.1f} us + tree {tree * 1e6:.2f} us (CPU), over {cores} cores: "
        f"{floor * 1e6:.1f} us ({floor_rate:,.0f} entries/s)"
    )
    print(
        f"ratio to the floor    {rate / floor_rate:.2f}x  (target >= 0.8x; wall clock, "
        "only meaningful on idle cores)"
    )
    per_main, per_workers = cpu_main / n, cpu_workers / n
    print(
        f"CPU per entry         monitor {per_main * 1e6:.1f} us + workers "
        f"{per_workers * 1e6:.1f} us; floor CPU {floor_cpu * 1e6:.1f} us: "
        f"CPU ratio {floor_cpu / (per_main + per_workers):.2f}x (the ratio on idle cores)"
    )
    print(f"load average          {load_before:.1f} before, {load_after:.1f} after (1 minute)")
    print(f"1,000,000 entries     ~{1_000_000 / rate:.0f} s at this rate")
    workers = ", ".join(f"{p / 1024:.0f}" for p in sorted(worker_peaks, reverse=True))
    print(
        f"peak RSS              monitor {main_peak / 1024:.0f} MiB; worker processes "
        f"(and the forkserver) {workers or 'none'} MiB"
    )
    shown = rss_samples[:: max(1, len(rss_samples) // 8)] + rss_samples[-1:]
    print("RSS during the pass   " + ", ".join(f"{d}: {r / 1024:.0f} MiB" for d, r in shown))
    per_entry = per_main + per_workers
    print()
    print("| figure | keybundle | floor | ratio | target | command |")
    print("|---|---|---|---|---|---|")
    print(
        f"| auditor backfill, {n:,} entries, {args.workers} worker(s) "
        f"(`Monitor.run_pass`) | {per_entry * 1e6:.0f} µs CPU per entry ({rate:,.0f} "
        f"entries/s) | {floor_cpu * 1e6:.0f} µs: 2 Ed25519 verifies, "
        f"{new_keys:.0f} new fleet-key point validations, leaf hash + compact "
        f"range | {floor_cpu / per_entry:.2f}x | >= 0.8x | "
        f"`.venv/bin/python bench/bench_backfill.py --entries {n} --workers {args.workers}` |"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
