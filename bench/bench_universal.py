"""Benchmark the universal package (SPEC §7.3 step 5) against its floor: a trust-root chain.

A universal package carries the trust-root rotation chain from the oldest supported version
(SPEC §7, DESIGN §5a), so every decision of every client meets the chain. The figures, CPU
time of this process, best of interleaved rounds (as bench/bench_verify.py):

1. ``held``: ``verify_package`` of a package carrying 2 rotations (v1 -> v2 -> v3) for a
   client that already holds both (it compares them byte for byte and applies none), its
   bundle judged under v3. Floor: the bundle's 2 signature verifies, the log's and the 2
   witnesses' (libsodium, over the exact signed messages), the SHA-256 leaf and node hashes
   of the 3 inclusion proofs (bundle and both rotations), one ``cbor2.loads`` of the package.
2. ``fresh``: the same package for a fresh client pinned at v1, which applies both
   rotations (SPEC §5.3). Floor: the held floor plus the 6 signature verifies of the two
   rotations (each signed by the old and the new keys). ``fresh_cold`` empties the
   in-process trust-root caches before each decision (a process's first decision).
3. ``current_keys``: ``Client.current_keys`` on a state directory holding the chain (load,
   the chain re-verified from the pinned root, the stored bundle re-verified). Floor: the
   bundle's 2 verifies, its SHA-256, one ``cbor2.loads`` of the state file.
4. ``accept``: ``Client.accept`` of the package on that directory (lock, load, decide; the
   state is unchanged, so nothing is written). Floor: the held floor plus the load's.

    .venv/bin/python bench/bench_universal.py [--number 300] [--profile held|fresh|...]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cbor2  # noqa: E402
from nacl.bindings import crypto_sign_open  # noqa: E402

from keybundle import cose, signed_trust_root  # noqa: E402
from keybundle.client import verify_package  # noqa: E402
from keybundle.countersignature import countersign_structure  # noqa: E402
from keybundle.embedded import Client  # noqa: E402
from keybundle.package import Package, parse_unverified_package  # noqa: E402
from keybundle.signed_trust_root import parse_unverified_signed_trust_root  # noqa: E402
from keybundle.signers import Signer  # noqa: E402
from keybundle.state import STATE_FILE, ClientState, StateDir  # noqa: E402
from keybundle.trustroot import TrustRoot  # noqa: E402
from tests.keybundle.world import OPERATOR_ORG, World, role_signer  # noqa: E402
from transparency_log import note  # noqa: E402
from transparency_log.cosignature import cosigned_message  # noqa: E402

FILLER = 1000
"""Entries logged before the chain, so that each inclusion proof has about 10 hashes."""


class Universal:
    """A log with fleet-a (v1 keys), rotation v2, rotation v3, then fleet-c (v3 keys)."""

    def __init__(self) -> None:
        self.w = w = World()
        self.op2, self.op3 = role_signer("operator v2"), role_signer("operator v3")
        self.v2 = w.sign_root(
            w.make_root(2, operator=[(OPERATOR_ORG, self.op2)]),
            [w.independent, w.operator, self.op2],
        )
        self.v3 = w.sign_root(
            w.make_root(3, operator=[(OPERATOR_ORG, self.op3)]),
            [w.independent, self.op2, self.op3],
        )
        for n in range(FILLER):
            w.append(b"filler %d" % n)
        i2 = w.append(self.v2)
        i3 = w.append(self.v3)
        self.c = w.countersign(w.sign(w.bundle("fleet-c")), self.op3)
        ic = w.append(self.c)
        self.package = w.package(
            self.c, ic, w.checkpoint(), rotations=[(self.v2, i2), (self.v3, i3)]
        )
        self.pinned: TrustRoot = w.pinned


def _proof_nodes(pkg: Package) -> list[bytes]:
    """The leaf and node preimages of the package's inclusion proofs (SHA-256 each)."""
    nodes = [b"\x00" + pkg.signed_bundle]
    nodes += [b"\x01" + h + h for h in pkg.proof.hashes]
    for entry in pkg.rotations:
        nodes.append(b"\x00" + entry.signed_trust_root)
        nodes += [b"\x01" + h + h for h in entry.hashes]
    return nodes


def _bundle_checks(signed_bundle: bytes, operator: Signer, w: World) -> list[tuple[bytes, bytes]]:
    sign1 = cose.parse_unverified_sign1(signed_bundle)
    (cs,) = sign1.countersignatures
    return [
        (
            sign1.signature + cose.sig_structure(sign1.protected, sign1.payload),
            w.independent.public_key().raw,
        ),
        (cs.signature + countersign_structure(sign1, cs.protected), operator.public_key().raw),
    ]


def _rotation_checks(u: Universal) -> list[tuple[bytes, bytes]]:
    """The 6 signatures of the two rotations, over their Sig_structures (SPEC §5.2)."""
    keys = {s.kid: s.public_key().raw for s in (u.w.independent, u.w.operator, u.op2, u.op3)}
    checks = []
    for signed in (u.v2, u.v3):
        parsed = parse_unverified_signed_trust_root(signed)
        for sig in parsed.signatures:
            message = signed_trust_root._sig_structure(sig.protected, parsed.payload)
            checks.append((sig.signature + message, keys[sig.kid]))
    if len(checks) != 6:
        raise AssertionError("bad bench: expected 3 signatures per rotation")
    return checks


def floors(u: Universal, state_bytes: bytes) -> dict[str, Callable[[], None]]:
    pkg = parse_unverified_package(u.package)
    text, sigs = note.parse_unverified(pkg.proof.checkpoint_note)
    body = text.encode()
    log_checks = [(sigs[0].signature + body, u.w.log_signer.public_key)]
    for sig, witness in zip(sigs[1:], u.w.witnesses, strict=True):
        timestamp = int.from_bytes(sig.signature[:8], "big")
        log_checks.append(
            (sig.signature[8:] + cosigned_message(body, timestamp), witness.public_key)
        )
    bundle = _bundle_checks(u.c, u.op3, u.w)
    held_checks = bundle + log_checks
    fresh_checks = held_checks + _rotation_checks(u)
    nodes = _proof_nodes(pkg)
    sha256, loads, package = hashlib.sha256, cbor2.loads, u.package

    def make(
        checks: list[tuple[bytes, bytes]], hashed: list[bytes], decoded: list[bytes]
    ) -> Callable[[], None]:
        def floor() -> None:
            for signed_message, key in checks:
                crypto_sign_open(signed_message, key)
            for node in hashed:
                sha256(node).digest()
            for data in decoded:
                loads(data)

        floor()
        return floor

    return {
        "held": make(held_checks, nodes, [package]),
        "fresh": make(fresh_checks, nodes, [package]),
        "fresh_cold": make(fresh_checks, nodes, [package]),
        "current_keys": make(bundle, [u.c], [state_bytes]),
        "accept": make(held_checks + bundle, [*nodes, u.c], [package, state_bytes]),
    }


def cold(decide: Callable[[], object]) -> object:
    """``decide`` with the in-process trust-root caches emptied first (a process's first
    decision); without the caches of signed_trust_root, a no-op."""
    clear = getattr(signed_trust_root, "clear_caches", None)
    if clear is not None:
        clear()
    return decide()


def per_call(fns: list[Callable[[], object]], number: int, repeat: int = 9) -> list[float]:
    """CPU seconds per call of each of ``fns``: best of ``repeat`` interleaved rounds."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            seconds = timeit.timeit(fn, number=number, timer=time.process_time)
            best[i] = min(best[i], seconds / number)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description="Benchmark the universal package's chain.")
    p.add_argument("--number", type=int, default=200, help="calls per timed round")
    p.add_argument("--profile", choices=["held", "fresh", "fresh_cold", "current_keys", "accept"])
    args = p.parse_args()

    u = Universal()
    pinned, now, package = u.pinned, u.w.now, u.package
    held = verify_package(package, pinned, ClientState(), now).state
    if [r.index for r in held.rotations] != [FILLER, FILLER + 1]:
        raise AssertionError("bad bench: the fresh client did not adopt both rotations")
    with tempfile.TemporaryDirectory() as tmp:
        StateDir(tmp).save(held)
        state_bytes = (Path(tmp) / STATE_FILE).read_bytes()
        client = Client(u.w.signed_root, tmp)
        ours: dict[str, Callable[[], object]] = {
            "held": lambda: verify_package(package, pinned, held, now),
            "fresh": lambda: verify_package(package, pinned, ClientState(), now),
            "fresh_cold": lambda: cold(lambda: verify_package(package, pinned, ClientState(), now)),
            "current_keys": lambda: client.current_keys("fleet-c", now=now),
            "accept": lambda: client.accept(package, now=now),
        }
        floor = floors(u, state_bytes)
        for fn in ours.values():
            fn()
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.number * 5):
                ours[args.profile]()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            return 0
        names = list(ours)
        times = per_call([f for n in names for f in (ours[n], floor[n])], args.number)
    print(f"package: {len(package)} bytes, chain of 2 rotations, log of {FILLER + 3} entries")
    print("| figure | ours | floor | ratio |")
    print("|---|---|---|---|")
    for k, name in enumerate(names):
        t_ours, t_floor = times[2 * k], times[2 * k + 1]
        print(f"| {name} | {t_ours * 1e6:.0f} µs | {t_floor * 1e6:.0f} µs | "
              f"{t_ours / t_floor:.2f}x |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
