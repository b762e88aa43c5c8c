"""FIPS 180-4 SHA-256: the one hash of the formats here (RFC 9162 §2.1, C2SP key IDs, SPEC §3.3).

``import hashlib`` loads OpenSSL's libcrypto, about 3 ms of a fresh ``keybundle verify``
(bench/bench_verify.py: a tenth of what the command may add to importing PyNaCl and cbor2).
The interpreter's built-in SHA-256 module (``_sha2`` since CPython 3.12, ``_sha256``
before) computes the same digests without it; CPython's own ``random`` module imports its
built-in SHA-512 first for the same reason. Where there is none (another interpreter, a
build without it), this is ``hashlib``'s.

OpenSSL's is faster on long inputs (about 4x on 1 KiB, with the CPU's SHA extensions); on
the short strings a client hashes (node hashes, keys, one bundle per decision) the two are
within a microsecond. The log writer, which hashes every entry it appends, uses
``hashlib`` directly (:mod:`transparency_log.appender`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["sha256"]

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha2 import sha256  # CPython 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # CPython 3.11
        except ImportError:
            from hashlib import sha256
