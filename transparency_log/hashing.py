"""FIPS 180-4 SHA-256: the one hash of the formats here (RFC 9162 §2.1, C2SP key IDs, SPEC §3.3).

``import hashlib`` loads OpenSSL's libcrypto, about 3 ms of a fresh ``keybundle verify``
(bench/bench_verify.py: a tenth of what the command may add to importing PyNaCl and cbor2).
The interpreter's built-in SHA-256 module (``_sha2`` since CPython 3.12, ``_sha256``
before) computes the same digests without it; CPython's own ``random`` module imports its
built-in SHA-512 first for the same reason. Where there is none (another interpreter, a
build without it), this is ``hashlib``'s.

OpenSSL's is faster (about 4x on 1 KiB with the CPU's SHA extensions, a third faster on a
65-byte node): in a process that has imported ``hashlib`` already (an application that
talks TLS or HTTP, the benches), libcrypto is loaded and costs nothing more, so it is
OpenSSL's; a client decision hashes its bundle twice and 20-odd nodes, about 6 µs less
with it (bench/bench_verify.py, issue 18). The log writer, which hashes every entry it
appends, uses ``hashlib`` directly (:mod:`transparency_log.appender`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

__all__ = ["sha256"]

if TYPE_CHECKING or "hashlib" in sys.modules:
    from hashlib import sha256
else:
    try:
        from _sha2 import sha256  # CPython 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # CPython 3.11
        except ImportError:
            from hashlib import sha256
