"""Benchmark the client decision (SPEC §7.3) against its floors and against sigstore-python.

The three figures of the README's "Performance" table (issue 18), each with its floor:

1. In process: ``verify_package`` on a package with 2 bundle signatures (independent +
   operator countersignature), 1 log signature, 2 witness cosignatures and a 20-hash
   inclusion proof, for a state that has not seen the bundle's keys. Floor: the raw work
   the decision cannot avoid, timed in the same process, interleaved: the same 5 libsodium
   verifies (PyNaCl, over the exact signed messages), the 20 SHA-256 node hashes, one
   ``cbor2.loads`` of the package, and libsodium's point validation of each Ed25519 fleet key
   of the bundle (SPEC §3.3). Target: <= 1.15x. The process's memory of fleet-key verdicts
   is cleared before each call, so that every call validates the keys as the floor does;
   the figure with the verdicts remembered (the floor then without the validations) is
   printed too.
2. Fresh process: ``keybundle verify`` (which also writes the state) against
   ``python -c "import nacl.signing, cbor2"``, medians of interleaved runs of the children's
   CPU time (user + system; the wall-clock ratio is printed too). Target: <= 1.3x.
   Both sides run from compiled bytecode, as after ``pip install``: the bench compiles the
   project's modules first (``compileall``), since an editable install under
   ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module on every run.
3. Side by side: sigstore-python 4.x verifying a public Sigstore bundle offline
   (bench/peers/sigstore/, parse + verify, in a venv of its own) against ``verify_package``
   (parse + verify), in the same run. Target: keybundle at least 3x faster. Set the venv up
   once with ``--setup-sigstore`` (needs PyPI); later runs are offline.

All in-process figures are CPU time of the process, best of interleaved rounds: on a shared
machine the wall clock also counts the waits for a core. Prints one Markdown table row per
figure, the rows of the README's table, then the machine.

    .venv/bin/python bench/bench_verify.py [--profile] [--breakdown] [--runs 30] [--setup-sigstore]

``--breakdown`` prints the README's profile of the decision: the CPU time of each step of
SPEC §7.3 run apart, and of the whole decision, with libsodium's calls replaced by no-ops
(what remains is the Python around them, and the hashes and decode the floor also counts).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cbor2  # noqa: E402
from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open  # noqa: E402

from keybundle import cose, dcbor, fleetkeys  # noqa: E402
from keybundle.client import verify_package  # noqa: E402
from keybundle.countersignature import countersign_structure  # noqa: E402
from keybundle.package import parse_unverified_package  # noqa: E402
from keybundle.payload import parse_payload  # noqa: E402
from keybundle.state import ClientState  # noqa: E402
from tests.keybundle.world import World  # noqa: E402
from transparency_log import note  # noqa: E402
from transparency_log.cosignature import cosigned_message  # noqa: E402
from transparency_log.merkle import leaf_hash  # noqa: E402
from transparency_log.proof import root_from_inclusion_proof  # noqa: E402

SIZE = 1 << 20
INDEX = 654_321
COMMAND = ".venv/bin/python bench/bench_verify.py"
SIGSTORE_ASSETS = REPO / "bench" / "peers" / "sigstore"
SIGSTORE_VENV = REPO / ".bench-venvs" / "sigstore"
SIGSTORE_REQUIREMENT = "sigstore>=4,<5"


def build() -> tuple[World, bytes]:
    """The benchmark package: a bundle at INDEX of a 2^20-entry log (20 proof hashes)."""
    w = World()
    signed = w.signed_bundle()
    siblings = [hashlib.sha256(b"sibling %d" % i).digest() for i in range(20)]
    root = root_from_inclusion_proof(INDEX, SIZE, leaf_hash(signed), siblings)
    checkpoint = w.checkpoint(size=SIZE, root_hash=root)
    return w, w.package(signed, INDEX, checkpoint, hashes=siblings)


def floor_work(w: World, package: bytes) -> Callable[[], None]:
    """The raw work the decision cannot avoid, prepared outside the timed function.

    Signatures, hashes and one decode; the fleet keys' point validation is
    :func:`fleet_key_checks`, timed apart so that both ratios can be shown.
    """
    pkg = parse_unverified_package(package)
    sign1 = cose.parse_unverified_sign1(pkg.signed_bundle)
    (cs,) = sign1.countersignatures
    text, sigs = note.parse_unverified(pkg.proof.checkpoint_note)
    body = text.encode()
    ind, op = w.independent.public_key().raw, w.operator.public_key().raw
    checks = [
        (sign1.signature + cose.sig_structure(sign1.protected, sign1.payload), ind),
        (cs.signature + countersign_structure(sign1, cs.protected), op),
        (sigs[0].signature + body, w.log_signer.public_key),
    ]
    for sig, witness in zip(sigs[1:], w.witnesses, strict=True):
        timestamp = int.from_bytes(sig.signature[:8], "big")
        checks.append((sig.signature[8:] + cosigned_message(body, timestamp), witness.public_key))
    nodes = [b"\x01" + h + h for h in pkg.proof.hashes]
    sha256 = hashlib.sha256
    loads = cbor2.loads

    def floor() -> None:
        for signed_message, key in checks:
            crypto_sign_open(signed_message, key)
        for node in nodes:
            sha256(node).digest()
        loads(package)

    floor()
    return floor


def fleet_key_checks(package: bytes) -> tuple[int, Callable[[], None]]:
    """libsodium's point validation of each Ed25519 fleet key of the bundle (SPEC §3.3)."""
    sign1 = cose.parse_unverified_sign1(parse_unverified_package(package).signed_bundle)
    keys = [k.public_key for k in parse_payload(sign1.payload).keys if k.algorithm == "ed25519"]

    def check() -> None:
        for key in keys:
            crypto_core_ed25519_is_valid_point(key)

    return len(keys), check


def per_call(fns: list[Callable[[], object]], number: int, repeat: int = 15) -> list[float]:
    """CPU seconds per call of each of ``fns``: the best of ``repeat`` rounds of ``number``.

    CPU time of this process, not wall time: on a shared machine the wall clock also counts
    the time the process waited for a core. The functions take turns within each round, so
    that what load remains (caches, the sibling core) hits them alike; the minimum is the
    round least disturbed by it.
    """
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            seconds = timeit.timeit(fn, number=number, timer=time.process_time)
            best[i] = min(best[i], seconds / number)
    return best


def row(figure: str, ours: str, floor: str, ratio: str, target: str) -> str:
    return f"| {figure} | {ours} | {floor} | {ratio} | {target} | `{COMMAND}` |"


def forget_fleet_keys() -> None:
    """Forget every fleet-key verdict of this process: the next decision validates its keys.

    ``keybundle.fleetkeys`` remembers libsodium's verdict per key, so a loop over one package
    would validate its keys once and then never again, while the floor counts a validation
    of each key on every call. A client decides once for the keys its state has not seen:
    the headline figure clears the memory before each call (about 0.1 µs, timed with it).
    """
    fleetkeys.forget_verdicts()


def in_process(profile: bool) -> tuple[float, str]:
    w, package = build()
    root, state, now = w.pinned, ClientState(), w.now
    accepted = verify_package(package, root, state, now)
    if accepted.epoch != 1:
        raise AssertionError("bad bench: the package was not accepted at epoch 1")
    floor = floor_work(w, package)
    n_keys, keys = fleet_key_checks(package)

    def verify() -> None:  # the headline: a state that has not seen the bundle's keys
        forget_fleet_keys()
        verify_package(package, root, state, now)

    def verify_cached() -> None:  # the same package again, its keys' verdicts remembered
        verify_package(package, root, state, now)

    for _ in range(200):
        verify()
        floor()
    t_floor, t_keys, t_verify, t_cached = per_call([floor, keys, verify, verify_cached], 500)
    full_floor = t_floor + t_keys
    ratio = t_verify / full_floor
    print(f"== in process (package of {len(package)} bytes)")
    print(f"floor: 5 raw Ed25519 verifies, 20 SHA-256, 1 cbor2.loads: {t_floor * 1e6:7.1f} µs")
    print(
        f"floor: libsodium point validation of {n_keys} Ed25519 fleet keys: {t_keys * 1e6:7.1f} µs"
    )
    print(f"verify_package, fleet keys not seen before:               {t_verify * 1e6:7.1f} µs")
    print(f"ratio: {ratio:.3f}x (target <= 1.15x)")
    print(f"verify_package, fleet-key verdicts remembered:            {t_cached * 1e6:7.1f} µs")
    print(f"ratio against the floor without the fleet-key checks: {t_cached / t_floor:.3f}x")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(3000):
            verify()
        profiler.disable()
        print("\n== profile of 3000 verifications (top 25 by own time)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    line = row(
        "client decision in process (`verify_package`)",
        f"{t_verify * 1e6:.0f} µs",
        f"{full_floor * 1e6:.0f} µs: 5 Ed25519 verifies, 20 SHA-256, 1 `cbor2.loads`, "
        f"{n_keys} fleet-key point validations (keys not seen before)",
        f"{ratio:.2f}x",
        "<= 1.15x",
    )
    return ratio, line


def breakdown(rounds: int = 5) -> None:
    """The CPU time of each step of the decision apart, libsodium's calls replaced by no-ops.

    Each figure is the best of ``rounds`` rounds of 2,000 calls. The steps run apart sum to
    less than the whole decision: the same instructions (callgrind counts them within 2%)
    run faster in a tight loop of one step than along the whole path.
    """
    import nacl.bindings

    from keybundle import client, signers
    from keybundle.payload import parse_payload
    from keybundle.roles import verify_signed_bundle
    from transparency_log.hashing import sha256
    from transparency_log.merkle import leaf_hash
    from transparency_log.proof import verify_inclusion

    w, package = build()
    root, state, now = w.pinned, ClientState(), w.now
    # libsodium's entry points as the decision reaches them, each replaced by a no-op that
    # accepts (the message behind a signature; every key a valid point).
    stubs: list[tuple[object, str, Callable[..., object]]] = [
        (nacl.bindings, "crypto_sign_open", lambda signed_message, key: signed_message[64:]),
        (signers, "crypto_sign_open", lambda signed_message, key: signed_message[64:]),
        (fleetkeys, "_sodium_is_valid_point", lambda key: True),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in stubs]
    for module, name, stub in stubs:
        setattr(module, name, stub)
    try:
        pkg = parse_unverified_package(package)
        verified = client._checkpoint_verifier(root).verify(pkg.proof.checkpoint_note)
        cp = verified.checkpoint
        signed = verify_signed_bundle(pkg.signed_bundle, root)

        def whole() -> None:
            forget_fleet_keys()
            verify_package(package, root, state, now)

        def payload() -> None:
            forget_fleet_keys()
            parse_payload(signed.payload)

        def inclusion() -> None:
            proof = pkg.proof
            verify_inclusion(
                leaf_hash(pkg.signed_bundle), proof.index, cp.size, proof.hashes, cp.root_hash
            )
            sha256(pkg.signed_bundle).digest()

        steps: list[tuple[str, Callable[[], object]]] = [
            ("the whole decision", whole),
            ("step 2: package and tlog-proof (SPEC §7.1, §2.7, §3.1)",
             lambda: parse_unverified_package(package)),
            ("step 3: checkpoint note (SPEC §2.4-§2.6)",
             lambda: client._checkpoint_verifier(root).verify(pkg.proof.checkpoint_note)),
            ("step 4: witness quorum (SPEC §2.8)",
             lambda: client._check_quorum(verified, root, now)),
            ("step 6: inclusion, leaf hash and bundle digest (SPEC §2.1-§2.2)", inclusion),
            ("steps 7-8: COSE_Sign1, countersignature, roles (SPEC §4, §5.4)",
             lambda: verify_signed_bundle(pkg.signed_bundle, root)),
            ("step 9: payload and fleet keys (SPEC §3.2, §3.3)", payload),
        ]  # fmt: skip
        best = per_call([fn for _, fn in steps], 2000, repeat=rounds)
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
    print("\n== the decision's Python, libsodium stubbed (CPU time, best of rounds)")
    for (name, _), seconds in zip(steps, best, strict=True):
        print(f"{name:66s} {seconds * 1e6:6.1f} µs")
    apart = sum(best[1:])
    print(f"{'the steps apart, summed':66s} {apart * 1e6:6.1f} µs")
    print(f"{'steps 1, 5, 10-12 and the path as a whole (the difference)':66s} "
          f"{(best[0] - apart) * 1e6:6.1f} µs")  # fmt: skip


def compile_bytecode() -> None:
    """Compile the project's modules, as ``pip install`` does for an installed package."""
    folders = [str(REPO / name) for name in ("keybundle", "transparency_log", "cli")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)


def fresh_process(runs: int) -> tuple[float, str]:
    compile_bytecode()
    w, package = build()
    folder = Path(tempfile.mkdtemp(prefix="keybundle-bench-"))
    try:
        (folder / "root").write_bytes(w.signed_root)
        (folder / "package").write_bytes(package)
        (folder / "state").mkdir()
        keybundle = Path(sys.executable).parent / "keybundle"
        verify_cmd = [
            str(keybundle), "verify", "--trust-root", str(folder / "root"),
            "--state", str(folder / "state"), "--now", str(w.now), str(folder / "package"),
        ]  # fmt: skip
        base_cmd = [sys.executable, "-c", "import nacl.signing, cbor2"]
        for cmd in (verify_cmd, base_cmd):
            subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache

        def timed(cmd: list[str]) -> tuple[float, float]:
            """(CPU seconds of the child, user + system; wall seconds)."""
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            return cpu, wall

        t_verify: list[tuple[float, float]] = []
        t_base: list[tuple[float, float]] = []
        for _ in range(runs):  # interleaved, so drift hits both alike
            t_base.append(timed(base_cmd))
            t_verify.append(timed(verify_cmd))
        verify_ms = statistics.median(cpu for cpu, _ in t_verify) * 1e3
        base_ms = statistics.median(cpu for cpu, _ in t_base) * 1e3
        verify_wall = statistics.median(wall for _, wall in t_verify) * 1e3
        base_wall = statistics.median(wall for _, wall in t_base) * 1e3
        ratio = verify_ms / base_ms
        print(
            f"\n== fresh process (medians of {runs} interleaved runs; CPU time, wall in brackets)"
        )
        print(f'python -c "import nacl.signing, cbor2": {base_ms:6.1f} ms ({base_wall:6.1f} ms)')
        print(
            f"keybundle verify (accept + save state): {verify_ms:6.1f} ms ({verify_wall:6.1f} ms)"
        )
        print(
            f"ratio: {ratio:.3f}x (target <= 1.3x); wall-clock ratio {verify_wall / base_wall:.3f}x"
        )
        if shutil.which("hyperfine"):
            base = f'{sys.executable} -c "import nacl.signing, cbor2"'
            hyperfine = ["hyperfine", "-N", "--warmup", "3", base, " ".join(verify_cmd)]
            subprocess.run(hyperfine, check=False)
    finally:
        shutil.rmtree(folder)
    line = row(
        "`keybundle verify` as a fresh process (accept + save state)",
        f"{verify_ms:.0f} ms CPU",
        f'{base_ms:.0f} ms CPU: `python -c "import nacl.signing, cbor2"`',
        f"{ratio:.2f}x",
        "<= 1.3x",
    )
    return ratio, line


# Runs in sigstore's own venv: parse + verify of the bundle, as keybundle's figure is parse +
# verify of the package. Prints the best per-call time of each round, one per line.
SIGSTORE_SNIPPET = """
import logging, sys, time, timeit
from pathlib import Path
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy

logging.disable(logging.WARNING)  # UnsafeNoOp warns on every call
assets = Path(sys.argv[1])
rounds, number = int(sys.argv[2]), int(sys.argv[3])
artifact = (assets / "bundle_v3.txt").read_bytes()
bundle_json = (assets / "bundle_v3.txt.sigstore").read_text()
verifier = Verifier(trusted_root=TrustedRoot.from_file(str(assets / "staging-trusted-root.json")))
noop = policy.UnsafeNoOp()

def parse_and_verify():
    verifier.verify_artifact(artifact, Bundle.from_json(bundle_json), noop)

parse_and_verify()  # raises if the bundle does not verify
for _ in range(rounds):  # CPU time, as for keybundle's side
    print(timeit.timeit(parse_and_verify, number=number, timer=time.process_time) / number)
"""


def setup_sigstore() -> None:
    """Create .bench-venvs/sigstore and install sigstore-python there (needs PyPI, once)."""
    python = SIGSTORE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SIGSTORE_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", SIGSTORE_REQUIREMENT], check=True)


def sigstore_side_by_side(rounds: int = 5) -> tuple[float | None, str]:
    python = SIGSTORE_VENV / "bin" / "python"
    figure = "client decision vs sigstore-python 4.x, offline, parse + verify"
    if not python.exists():
        print(f"\n== sigstore-python: not measured; run once with --setup-sigstore ({python})")
        return None, row(figure, "not measured", "no venv", "", ">= 3x faster")
    w, package = build()
    root, state, now = w.pinned, ClientState(), w.now

    def ours() -> None:
        verify_package(package, root, state, now)

    ours()
    theirs: list[float] = []
    t_ours: list[float] = []
    for _ in range(rounds):  # alternate: one round of ours, one child round of theirs
        t_ours.extend(per_call([ours], 300, repeat=3))
        out = subprocess.run(
            [str(python), "-c", SIGSTORE_SNIPPET, str(SIGSTORE_ASSETS), "3", "100"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if out.returncode != 0:
            reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"\n== sigstore-python: not measured: {reason}")
            return None, row(figure, "not measured", reason, "", ">= 3x faster")
        theirs.extend(float(line) for line in out.stdout.split())
    mine, peer = min(t_ours), min(theirs)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('sigstore'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    ratio = peer / mine
    print(f"\n== side by side, parse + verify, offline (best of {rounds} alternating rounds)")
    print(f"sigstore-python {version}: bundle_v3.txt.sigstore: {peer * 1e6:8.1f} µs")
    print(f"keybundle verify_package:                     {mine * 1e6:8.1f} µs")
    print(f"keybundle is {ratio:.1f}x faster (target >= 3x)")
    line = row(
        f"client decision vs sigstore-python {version}, offline, parse + verify",
        f"{mine * 1e6:.0f} µs",
        f"{peer * 1e6:.0f} µs: sigstore-python on its test bundle (bench/peers/sigstore)",
        f"{ratio:.1f}x faster",
        ">= 3x faster",
    )
    return ratio, line


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, cbor2 {dcbor._cbor2_release()}, "
        f"1-minute load average {load:.1f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description="Benchmark keybundle's client verifier.")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the verifier")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="print the CPU time of each step with libsodium stubbed out, then stop",
    )
    p.add_argument("--runs", type=int, default=30, help="fresh-process runs of each command")
    p.add_argument(
        "--setup-sigstore",
        action="store_true",
        help=f"first create {SIGSTORE_VENV.relative_to(REPO)} with {SIGSTORE_REQUIREMENT} "
        "(needs PyPI; later runs are offline)",
    )
    p.add_argument("--no-sigstore", action="store_true", help="skip the side-by-side figure")
    args = p.parse_args()
    if args.setup_sigstore:
        setup_sigstore()
    if args.breakdown:
        breakdown()
        return 0
    rows = [in_process(args.profile)[1]]
    if not args.no_sigstore:
        rows.append(sigstore_side_by_side()[1])
    rows.append(fresh_process(args.runs)[1])
    print("\n| figure | keybundle | floor | ratio | target | command |")
    print("|---|---|---|---|---|---|")
    for line in rows:
        print(line)
    print(f"\nmachine: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
