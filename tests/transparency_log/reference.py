"""A naive reference implementation, written straight from RFC 9162 §2.1, for differential tests.

Recursive MTH, PATH and PROOF/SUBPROOF exactly as the RFC defines them (memoised, so that
every (index, size) pair up to a few hundred leaves stays cheap), and the RFC's own
verification algorithms of §2.1.3.2 and §2.1.4.2. Deliberately shares no code with
``transparency_log``: it hashes with hashlib directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``MTH({d(0)}) = SHA-256(0x00 || d(0))``."""
    return _hash(b"\x00" + data)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class ReferenceTree:
    """The Merkle tree over a fixed list of leaf hashes, with RFC 9162's recursive definitions.

    Ranges are ``[start, end)`` of leaf positions, so ``D[k:n]`` is ``(k, n)``.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.leaves = tuple(leaf_hashes)
        self.mth = lru_cache(maxsize=None)(self._mth)
        self._path = lru_cache(maxsize=None)(self._path_uncached)
        self._subproof = lru_cache(maxsize=None)(self._subproof_uncached)

    def _mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) (RFC 9162 §2.1.1)."""
        n = end - start
        if n == 0:
            return _hash(b"")
        if n == 1:
            return self.leaves[start]
        k = _split(n)
        return _hash(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def root(self, size: int) -> bytes:
        """MTH of the first ``size`` leaves."""
        return self.mth(0, size)

    def _path_uncached(self, m: int, start: int, end: int) -> tuple[bytes, ...]:
        """PATH(m, D[start:end]) (RFC 9162 §2.1.3.1)."""
        n = end - start
        if n == 1:
            return ()
        k = _split(n)
        if m < k:
            return (*self._path(m, start, start + k), self.mth(start + k, end))
        return (*self._path(m - k, start + k, end), self.mth(start, start + k))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size])."""
        return list(self._path(index, 0, size))

    def _subproof_uncached(self, m: int, start: int, end: int, b: bool) -> tuple[bytes, ...]:
        """SUBPROOF(m, D[start:end], b) (RFC 9162 §2.1.4.1)."""
        n = end - start
        if m == n:
            return () if b else (self.mth(start, end),)
        k = _split(n)
        if m <= k:
            return (*self._subproof(m, start, start + k, b), self.mth(start + k, end))
        return (*self._subproof(m - k, start + k, end, False), self.mth(start, start + k))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """PROOF(size1, D[0:size2]) for 0 < size1 < size2; empty at the edges (SPEC §2.3)."""
        if size1 in (0, size2):
            return []
        return list(self._subproof(size1, 0, size2, True))


def rfc_verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _hash(b"\x01" + p + r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _hash(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc_verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """RFC 9162 §2.1.4.2, step by step (defined for 0 < size1 < size2)."""
    if not 0 < size1 < size2:
        raise ValueError("the RFC algorithm is for 0 < size1 < size2")
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _hash(b"\x01" + c + fr)
            sr = _hash(b"\x01" + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _hash(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0
