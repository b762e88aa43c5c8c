"""Fuzz the client decision (SPEC §7.3): any input raises VerificationError or is accepted.

The issue's bar: mutated packages never raise anything but the verification error (a crash,
a hang or a bare ``ValueError`` would be a bug), over at least 1,000,000 executions. Two
engines:

* ``atheris`` (coverage-guided libFuzzer; ``pip install atheris``): seeds are real packages
  from tests/keybundle/world.py (fresh client, consistency proof, trust-root rotation,
  P-256 keys), each input is verified against a fresh client and against a client with a
  stored state, so mutations reach the fleet and checkpoint rules too;
* ``random`` (no dependency; the default when atheris is missing): a seeded mutator that
  flips, inserts, deletes, truncates, repeats and splices bytes of the same seeds.

Any other exception stops the run with the input written to ``fuzz-crash-<sha256>.bin``.

    .venv/bin/python bench/fuzz_package.py --runs 1000000
    .venv/bin/python bench/fuzz_package.py --engine random --seconds 600
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _load() -> tuple[list[bytes], Callable[[bytes], None]]:
    """The seed packages, and the function under test."""
    from keybundle.client import verify_package
    from keybundle.errors import VerificationError
    from keybundle.state import ClientState
    from tests.keybundle.world import DEFAULT_FLEET, World

    w = World()
    seeds = [w.fresh_package()]
    stored = verify_package(seeds[0], w.pinned, ClientState(), w.now).state
    w.append(b"filler")
    signed, index = w.publish(DEFAULT_FLEET, 2)
    seeds.append(w.package(signed, index, w.checkpoint(), consistency_from=1))
    v2 = w.sign_root(w.make_root(2), [w.independent, w.operator])
    root_index = w.append(v2)
    signed, index = w.publish("other.fleet", 1)
    seeds.append(w.package(signed, index, w.checkpoint(), rotations=[(v2, root_index)]))
    p = World(algorithm="p256")
    seeds.append(p.fresh_package())
    states = (ClientState(), stored)

    def one_input(data: bytes) -> None:
        for state in states:
            with contextlib.suppress(VerificationError):
                verify_package(data, w.pinned, state, w.now)

    for seed in seeds[:3]:
        verify_package(seed, w.pinned, ClientState(), w.now)  # the seeds are valid
    return seeds, one_input


def _crash(data: bytes, error: BaseException) -> None:
    name = REPO / f"fuzz-crash-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    name.write_bytes(data)
    print(f"CRASH: {type(error).__name__}: {error}; input saved to {name}", file=sys.stderr)


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(7)
        n = len(out)
        if n == 0:
            out += bytes([rng.randrange(256)])
            continue
        i = rng.randrange(n)
        if op == 0:
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[i] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x18, 0x19, 0x1A, 0x1B, 0x5F, 0x9F))
        elif op == 2:
            out.insert(i, rng.randrange(256))
        elif op == 3:
            del out[i : i + rng.randrange(1, 9)]
        elif op == 4:
            del out[i:]
        elif op == 5:
            j = rng.randrange(n)
            out[i:i] = out[j : j + rng.randrange(1, 33)]
        else:
            other = rng.choice(seeds)
            j = rng.randrange(len(other))
            out[i:] = other[j:]
    return bytes(out)


def run_random(runs: int, seconds: float, rng_seed: int) -> int:
    seeds, one_input = _load()
    rng = random.Random(rng_seed)
    start = time.perf_counter()
    done = 0
    while done < runs and time.perf_counter() - start < seconds:
        data = _mutate(rng, rng.choice(seeds), seeds)
        try:
            one_input(data)
        except Exception as e:  # the point of a fuzzer: report anything else
            _crash(data, e)
            return 1
        done += 1
        if done % 100_000 == 0:
            rate = done / (time.perf_counter() - start)
            print(f"#{done} executions, {rate:,.0f}/s", flush=True)
    elapsed = time.perf_counter() - start
    print(
        f"random engine: {done} executions in {elapsed:.0f} s, no exception but VerificationError"
    )
    return 0


def run_atheris(runs: int, seconds: float) -> int:
    atheris: Any = importlib.import_module("atheris")  # optional: pip install atheris

    with atheris.instrument_imports(include=["keybundle", "transparency_log"]):
        seeds, one_input = _load()
    corpus = Path(tempfile.mkdtemp(prefix="keybundle-fuzz-corpus-"))
    for seed in seeds:
        (corpus / hashlib.sha256(seed).hexdigest()[:16]).write_bytes(seed)

    def test_one_input(data: bytes) -> None:
        try:
            one_input(data)
        except Exception as e:
            _crash(data, e)
            raise

    args = [
        sys.argv[0],
        f"-runs={runs}",
        f"-max_total_time={int(seconds)}",
        "-max_len=8192",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=1_000_000, help="executions (default 1,000,000)")
    p.add_argument("--seconds", type=float, default=3600, help="stop after this long")
    p.add_argument("--engine", choices=("atheris", "random", "auto"), default="auto")
    p.add_argument("--seed", type=int, default=1, help="seed of the random engine")
    args = p.parse_args()
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "random"
    if engine == "atheris":
        return run_atheris(args.runs, args.seconds)
    return run_random(args.runs, args.seconds, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
