"""Benchmark of deterministic-CBOR decoding designs (keybundle.dcbor, SPEC §3.1).

Run: ``.venv/bin/python bench/bench_dcbor.py [--quick]``

Compares, on the objects the client verifier decodes, the floor (a bare ``cbor2.loads``, which
checks nothing of our profile) with:

* ``dcbor.decode``: the shipped design, cbor2's decode and one walk over the value that checks
  types and key order and sums the shortest encoding's size (issue 18), falling back to the
  strict decoder (the module docstring explains it);
* ``decode + re-encode (previous)``: the design it replaced, cbor2 + object hook + plain
  ``cbor2.dumps`` compared with the input (kept in tests/keybundle/dcbor_reencode.py);
* ``strict (pure Python)``: ``dcbor._StrictDecoder`` alone, design (a) of the issue;
* ``cbor2 canonical re-encode``: ``cbor2.loads`` + ``cbor2.dumps(canonical=True)`` + compare,
  the other cbor2-based design (not exact by itself: no float/tag/key-order checks, and
  length-first key order), to show its cost;
* the naive reference decoder of the tests (correctness oracle; slow on purpose).

Prints microseconds per call (best of several runs) and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keybundle import dcbor
from keybundle.payload import BundlePayload, FleetKey, parse_payload
from tests.keybundle.dcbor_reencode import decode_reencode
from tests.keybundle.dcbor_reference import reference_decode


def _payload(keys: int) -> BundlePayload:
    kinds = [
        ("x25519", "key-agreement"),
        ("ed25519", "signing"),
        ("p256-ecdh", "key-agreement"),
        ("p256-ecdsa", "signing"),
    ]
    fleet_keys = []
    for index in range(keys):
        algorithm, usage = kinds[index % 4]
        if algorithm == "x25519":
            public = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
        elif algorithm == "ed25519":
            public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        else:
            public = (
                ec.generate_private_key(ec.SECP256R1())
                .public_key()
                .public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
            )
        fleet_keys.append(FleetKey(f"hsm-{index:02d}.{algorithm}", algorithm, public, usage))
    return BundlePayload(
        1,
        "prod-eu-west-1.vault",
        42,
        bytes(32),
        1_750_000_000,
        1_750_000_000,
        1_781_536_000,
        tuple(sorted(fleet_keys, key=lambda k: k.key_id)),
    )


def _inputs() -> dict[str, tuple[bytes, frozenset[int]]]:
    payload = _payload(8).encode()
    signature = bytes(64)
    protected = dcbor.encode({1: -8, 3: "application/keybundle+cbor", 4: b"independent-1"})
    countersignature: list[dcbor.CborValue] = [
        dcbor.encode({1: -8, 4: b"operator-1"}),
        {},
        signature,
    ]
    cose_sign1 = dcbor.encode(
        dcbor.Tag(18, [protected, {11: countersignature}, payload, signature])
    )
    proof = "c2sp.org/tlog-proof@v1\nindex 12345\n" + "A" * 44 * 10 + "\n\n" + "B" * 300
    package = dcbor.encode({1: 1, 2: cose_sign1, 3: proof})
    return {
        f"payload, 8 keys ({len(payload)} B)": (payload, frozenset()),
        f"COSE_Sign1, tag 18 ({len(cose_sign1)} B)": (cose_sign1, frozenset({18})),
        f"OTA package ({len(package)} B)": (package, frozenset()),
        f"payload, 64 keys ({len(_payload(64).encode())} B)": (
            _payload(64).encode(),
            frozenset(),
        ),
    }


def _candidates(
    data: bytes, tags: frozenset[int], is_payload: bool
) -> dict[str, Callable[[], object]]:
    def floor() -> object:
        return cbor2.loads(data)

    def shipped() -> object:
        return dcbor.decode(data, tags=tags)

    def previous() -> object:
        return decode_reencode(data, dcbor.DEFAULT_MAX_DEPTH, dcbor.DEFAULT_MAX_ITEMS, tags)

    def strict() -> object:
        limits = (dcbor.DEFAULT_MAX_DEPTH, dcbor.DEFAULT_MAX_ITEMS)
        return dcbor._StrictDecoder(data, *limits, tags).decode()

    def canonical_reencode() -> object:
        return cbor2.dumps(cbor2.loads(data), canonical=True) == data

    def reference() -> object:
        return reference_decode(
            data,
            max_size=dcbor.DEFAULT_MAX_SIZE,
            max_depth=dcbor.DEFAULT_MAX_DEPTH,
            max_items=dcbor.DEFAULT_MAX_ITEMS,
            tags=tags,
        )

    def payload() -> object:
        return parse_payload(data)

    candidates: dict[str, Callable[[], object]] = {
        "floor: cbor2.loads": floor,
        "dcbor.decode (shipped)": shipped,
        "decode + re-encode (previous)": previous,
        "strict (pure Python)": strict,
        "cbor2 canonical re-encode": canonical_reencode,
        "reference (tests)": reference,
    }
    if is_payload:
        candidates["parse_payload (+ key checks)"] = payload
    return candidates


def _time(function: Callable[[], object], quick: bool) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    runs = timer.repeat(repeat=3 if quick else 7, number=number)
    return min(runs) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    release = importlib.metadata.version("cbor2")
    print(f"cbor2 {release}, dcbor fast path enabled: {dcbor._FAST_PATH}")
    for name, (data, tags) in _inputs().items():
        candidates = _candidates(data, tags, name.startswith("payload"))
        print(f"\n{name}")
        floor = 0.0
        for label, function in candidates.items():
            micros = _time(function, args.quick)
            floor = floor or micros
            print(f"  {label:32s} {micros:9.2f} µs  {micros / floor:6.2f}x floor")
    value = dcbor.decode(_payload(8).encode())
    print(f"\nencode, payload 8 keys: {_time(lambda: dcbor.encode(value), args.quick):.2f} µs")


if __name__ == "__main__":
    main()
