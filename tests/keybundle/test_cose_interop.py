"""Interoperability: our COSE bytes checked by code that is not ours (SPEC §4.1, §4.2).

* The COSE_Sign1 (independent signature) is verified by pycose and python-cwt, run in their
  own virtual environment (their pins may differ from ours) through a subprocess. The
  session fixture creates that environment with pip on first use, in a fresh directory of
  its own under the system temporary directory, and reuses it later; it skips only when pip
  cannot install the two libraries (no registry). It never deletes a directory it did not
  create in the same call.
* The countersignature is checked against the COSE working group's published example
  (cose-wg/Examples countersign-v2/signed1-01.json, the RFC 9338 vector): our
  Countersign_structure builder must reproduce its ToBeSign bytes, and its P-521
  countersignature must verify over them. (No Python library implements RFC 9338 V2 as
  published: python-cwt 3.3 appends other_fields' elements flat instead of as the
  ``[+ bstr]`` array that the WG example and RFC 9338 §3.3 have; pycose has no V2.)
  tests/keybundle/test_countersignature.py also rebuilds the structure by hand with cbor2.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keybundle import dcbor
from keybundle.cose import countersign, encode_sign1, parse_unverified_sign1, sig_structure, sign1
from keybundle.countersignature import countersign_structure
from keybundle.signers import Ed25519Signer, P256Signer, Signer

INTEROP_REQUIREMENTS = ("pycose==1.1.0", "cwt==3.3.0")
HELPER = Path(__file__).parent / "interop" / "verify_cose_sign1.py"
PAYLOAD = bytes.fromhex("a40101026d6578616d706c652d666c65657403010480")
_MARKER = ".keybundle-interop-ready"


def _build_venv(venv: Path) -> None:
    """Create ``venv`` (which must not exist) and install the interop libraries into it."""
    venv.mkdir()  # fails if it exists: we only ever fill (and remove) our own directory
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", *INTEROP_REQUIREMENTS],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(venv)  # the directory this function created, nothing else
        tail = str(getattr(e, "stderr", "") or "").strip().splitlines()[-3:]
        pytest.skip(f"pip could not install {INTEROP_REQUIREMENTS} (no registry?): {tail}")
    (venv / _MARKER).write_text("ok\n")


@pytest.fixture(scope="session")
def interop_python() -> Path:
    """The python of a venv holding pycose and python-cwt, created with pip if needed."""
    override = os.environ.get("KEYBUNDLE_INTEROP_VENV")
    if override:
        venv = Path(override)
    else:
        digest = hashlib.sha256("\n".join(INTEROP_REQUIREMENTS).encode()).hexdigest()[:12]
        venv = Path(tempfile.gettempdir()) / f"keybundle-interop-{digest}"
    if not (venv / _MARKER).exists():
        if venv.exists():
            # Someone else's or a half-made directory: leave it alone, build beside it.
            venv = Path(tempfile.mkdtemp(prefix="keybundle-interop-")) / "venv"
        _build_venv(venv)
    return venv / "bin" / "python"


def _case(name: str, data: bytes, signer: Signer, payload: bytes = PAYLOAD) -> dict[str, Any]:
    return {
        "name": name,
        "cose_hex": data.hex(),
        "payload_hex": payload.hex(),
        "spki_pem": signer.public_key().spki_pem().decode(),
        "kid_hex": signer.kid.hex(),
        "alg": "EdDSA" if signer.algorithm == "ed25519" else "ES256",
    }


def test_pycose_and_cwt_verify_our_cose_sign1(interop_python: Path) -> None:
    ed = Ed25519Signer(bytes(range(32)))
    p256 = P256Signer.generate()
    operator = Ed25519Signer(bytes(range(32, 64)))
    signed_ed = sign1(PAYLOAD, ed)
    parsed = parse_unverified_sign1(signed_ed)
    tampered = encode_sign1(replace(parsed, payload=PAYLOAD + b"\x00"))
    other_key = sign1(PAYLOAD, Ed25519Signer(bytes(range(64, 96))))
    twice = countersign(countersign(sign1(PAYLOAD, p256), operator), P256Signer.generate())
    cases = [
        _case("ed25519", signed_ed, ed),
        _case("es256", sign1(PAYLOAD, p256), p256),
        _case("ed25519 countersigned", countersign(signed_ed, operator), ed),
        _case("es256 countersigned twice", twice, p256),
        _case("ed25519 large payload", sign1(b"\x5a" * 4000, ed), ed, b"\x5a" * 4000),
        _case("tampered payload", tampered, ed, PAYLOAD + b"\x00"),
        _case("signed by another key", other_key, ed),
    ]
    out = subprocess.run(
        [str(interop_python), str(HELPER)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    results = json.loads(out.stdout)
    valid = ("ed25519", "es256", "ed25519 countersigned", "es256 countersigned twice",
             "ed25519 large payload")  # fmt: skip
    for name in valid:
        assert results[name] == {"pycose": "valid", "cwt": "valid"}, (name, results[name])
    for name in ("tampered payload", "signed by another key"):
        assert results[name] == {"pycose": "invalid", "cwt": "invalid"}, (name, results[name])


# -- RFC 9338 countersignature: the COSE WG's published example ------------------------------

# cose-wg/Examples, countersign-v2/signed1-01.json ("Sign 1 structure w/ one counter
# signature version 2"): a COSE_Sign1 by ES256 key "11", countersigned with ES512.
WG_SIGN1_HEX = (
    "d28445a201260300a2046231310b8344a1013823a104781e62696c626f2e62616767696e7340686f6262"
    "69746f6e2e6578616d706c65588401b1291b0e60a79c459a4a9184a0d393e034b34af069a1cca34f5a91"
    "3affff698002295fa9f8fcbfb6fdff59132fc0c406e98754a98f1fbfe81c03095f481856bc4701702272"
    "06fa5bee3c0431c56a66824e7aaf692985952e31271434b2ba2e47a335c658b5e995aeb5d63cf2d0ced3"
    "67d3e4cc8fffd53b70d115baa9e86961fbd1a5cf54546869732069732074686520636f6e74656e742e58"
    "40bb587d6b15f47bfd54d2cbfcecef75451e92b08a514bd439fa3aa65c6ac92df0d7328c4a47529b32ad"
    "d3dd1b4e940071c021e9a8f2641f1d8e3b053ddd65ae52"
)
WG_SIGN1_TBS_HEX = (
    "846a5369676e61747572653145a2012603004054546869732069732074686520636f6e74656e742e"
)
WG_COUNTERSIGN_TBS_HEX = (
    "8672436f756e7465725369676e6174757265563245a20126030044a10138234054546869732069732074"
    "686520636f6e74656e742e815840bb587d6b15f47bfd54d2cbfcecef75451e92b08a514bd439fa3aa65c"
    "6ac92df0d7328c4a47529b32add3dd1b4e940071c021e9a8f2641f1d8e3b053ddd65ae52"
)
WG_P256 = (
    "bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff",
    "20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e",
)
WG_P521 = (
    "0072992cb3ac08ecf3e5c63dedec0d51a8c1f79ef2f82f94f3c737bf5de7986671eac625fe8257bbd039"
    "4644caaa3aaf8f27a4585fbbcad0f2457620085e5c8f42ad",
    "01dca6947bce88bc5790485ac97427342bc35f887d86d65a089377e247e60baa55e4e8501e2ada5724ac"
    "51d6909008033ebc10ac999b9d7f5cc2519f3fe1ea1d9475",
)


class _WgTarget:
    """The fields of the WG example's COSE_Sign1 that RFC 9338 signs."""

    def __init__(self, protected: bytes, payload: bytes, signature: bytes) -> None:
        self.protected = protected
        self.payload = payload
        self.signature = signature


def _ecdsa_verify(curve: ec.EllipticCurve, xy: tuple[str, str], sig: bytes, message: bytes) -> None:
    key = ec.EllipticCurvePublicNumbers(int(xy[0], 16), int(xy[1], 16), curve).public_key()
    size = len(sig) // 2
    r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
    digest = hashes.SHA256() if isinstance(curve, ec.SECP256R1) else hashes.SHA512()
    key.verify(encode_dss_signature(r, s), message, ec.ECDSA(digest))


def test_our_structures_reproduce_the_cose_wg_countersignature_example() -> None:
    value = dcbor.decode(bytes.fromhex(WG_SIGN1_HEX), tags=frozenset({18}))
    assert isinstance(value, dcbor.Tag)
    assert isinstance(value.value, list)
    protected, unprotected, payload, signature = value.value
    assert isinstance(protected, bytes)
    assert isinstance(payload, bytes)
    assert isinstance(signature, bytes)
    assert isinstance(unprotected, dict)
    cs = unprotected[11]
    assert isinstance(cs, list)
    cs_protected, _, cs_signature = cs
    assert isinstance(cs_protected, bytes)
    assert isinstance(cs_signature, bytes)

    # RFC 9052 §4.4 Sig_structure: our builder gives the WG's ToBeSign bytes ...
    assert sig_structure(protected, payload).hex() == WG_SIGN1_TBS_HEX
    _ecdsa_verify(ec.SECP256R1(), WG_P256, signature, bytes.fromhex(WG_SIGN1_TBS_HEX))

    # ... and RFC 9338 §3.3 Countersign_structure, with other_fields = [signature], too.
    target = _WgTarget(protected, payload, signature)
    assert countersign_structure(target, cs_protected).hex() == WG_COUNTERSIGN_TBS_HEX
    _ecdsa_verify(ec.SECP521R1(), WG_P521, cs_signature, bytes.fromhex(WG_COUNTERSIGN_TBS_HEX))
