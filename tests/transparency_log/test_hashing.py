"""transparency_log.hashing: one SHA-256, OpenSSL's when the process has loaded it already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

_PROBE = """
import sys
if sys.argv[1] == "hashlib-first":
    import hashlib
from transparency_log.hashing import sha256
assert sha256(b"abc").hexdigest() == (
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
)  # FIPS 180-4 example
print(sha256.__module__, "hashlib" in sys.modules)
"""


def _probe(mode: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def test_without_hashlib_the_builtin_sha256_is_used_and_openssl_not_loaded() -> None:
    # The fresh `keybundle verify` relies on it: importing hashlib loads libcrypto (~3 ms).
    module, loaded = _probe("alone").split()
    assert module in {"_sha256", "_sha2"}
    assert loaded == "False"


def test_with_hashlib_loaded_openssls_sha256_is_used() -> None:
    # A process that holds libcrypto already gets the faster hash (issue 18).
    module, loaded = _probe("hashlib-first").split()
    assert module == "_hashlib"
    assert loaded == "True"
