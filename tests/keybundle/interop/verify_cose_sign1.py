"""Verify COSE_Sign1 objects with independent libraries (pycose and python-cwt).

Runs in its own virtual environment (tests/keybundle/test_cose_interop.py makes it), never
imports keybundle, and reads its cases as JSON on stdin:

    [{"name": ..., "cose_hex": ..., "payload_hex": ..., "spki_pem": ..., "kid_hex": ...,
      "alg": "EdDSA" | "ES256"}]

and prints, as JSON, for each case and library "valid" or "invalid" (or "error: ..." when
the library's answer makes no sense); any crash ends the script with a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import cwt  # type: ignore[import-not-found, unused-ignore]
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pycose.exceptions import CoseException  # type: ignore[import-not-found, unused-ignore]
from pycose.keys import EC2Key, OKPKey  # type: ignore[import-not-found, unused-ignore]
from pycose.messages import Sign1Message  # type: ignore[import-not-found, unused-ignore]


def with_pycose(case: dict[str, Any]) -> str:
    public = serialization.load_pem_public_key(case["spki_pem"].encode())
    message = Sign1Message.decode(bytes.fromhex(case["cose_hex"]))
    if isinstance(public, ed25519.Ed25519PublicKey):
        message.key = OKPKey(crv="Ed25519", x=public.public_bytes_raw())
    elif isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        message.key = EC2Key(
            crv="P_256", x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big")
        )
    else:
        return "error: unsupported key"
    try:
        return "valid" if message.verify_signature() else "invalid"
    except (CoseException, InvalidSignature):
        return "invalid"


def with_cwt(case: dict[str, Any]) -> str:
    key = cwt.COSEKey.from_pem(
        case["spki_pem"].encode(), alg=case["alg"], kid=bytes.fromhex(case["kid_hex"])
    )
    try:
        payload = cwt.COSE.new().decode(bytes.fromhex(case["cose_hex"]), key)
    except (cwt.VerifyError, ValueError):  # ValueError: no key with the message's kid
        return "invalid"
    return "valid" if payload == bytes.fromhex(case["payload_hex"]) else "error: payload"


def main() -> None:
    cases = json.load(sys.stdin)
    results = {}
    for case in cases:
        results[case["name"]] = {"pycose": with_pycose(case), "cwt": with_cwt(case)}
    json.dump(results, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
