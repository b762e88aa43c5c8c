"""SPEC §5.2–§5.3 signed trust root: an RFC 9052 §4.1 COSE_Sign, rotated like TUF §5.3.4.

A trust root (SPEC §5.1, :mod:`keybundle.trustroot`) is distributed as a COSE_Sign (CBOR tag
98) with one COSE_Signature per signer (SPEC §5.2). The Sig_structure context ``"Signature"``
and the content type ``application/keybundle-trust-root+cbor`` keep a trust-root signature and
a bundle signature (COSE_Sign1, context ``"Signature1"``, SPEC §4.1) from ever standing for
each other.

Rotation follows TUF's root rotation (TUF specification §5.3.4, SPEC §5.3): version N+1 is
accepted from version N only if its version is exactly N+1 and it carries the thresholds of
both roles under version N's keys *and* under its own keys; a chain of rotations is capped.
Whether the new root is in the log is the client's check (SPEC §7.3), not this module's.

Parsing (``parse_*``) checks shape only; ``verify_*`` check signatures against keys the
caller already trusts, never keys taken from the data being verified.

Results are remembered in process, in bounded LRU caches keyed by SHA-256 (SPEC §7.2): a
client meets the same signed roots in every universal package (SPEC §7, the chain from the
oldest supported version) and in every state load, and re-parsing and re-verifying them
was most of a decision (bench/bench_universal.py). A cache cannot change a verdict: parsing
and verification are pure functions of their inputs, the keys are the full SHA-256 of the
exact bytes (of the signed root, and for a rotation of the previous root's §5.1 payload,
which determines the :class:`TrustRoot` entirely), only successes are stored, and what is
stored is immutable. A failure is recomputed each time, and raises exactly as before.
"""

from __future__ import annotations

from _thread import allocate_lock
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Final, Generic, TypeVar

from transparency_log._frozen import Frozen
from transparency_log.hashing import sha256

from . import dcbor
from .cose import COSE_SIGN1_TAG
from .cose_check import sign_checked, verify_cose_signature
from .errors import Reason, VerificationError
from .signers import (
    COSE_ALG_EDDSA,
    COSE_ALG_ES256,
    KID_LENGTH,
    SIGNATURE_LENGTH,
    PublicKey,
    Signer,
)
from .trustroot import MAX_ROLE_KEYS, MAX_TRUST_ROOT_BYTES, TrustRoot, parse_trust_root

__all__ = [
    "CONTENT_TYPE",
    "COSE_SIGN_TAG",
    "MAX_CACHED_TRUST_ROOTS",
    "MAX_SIGNED_TRUST_ROOT_BYTES",
    "MAX_TRUST_ROOT_SIGNATURES",
    "SIGNATURE_CONTEXT",
    "TrustRootSignature",
    "UnverifiedSignedTrustRoot",
    "add_signatures",
    "clear_caches",
    "parse_unverified_signed_trust_root",
    "sign_trust_root",
    "verify_rotation",
    "verify_rotation_chain",
    "verify_self_signed",
]

COSE_SIGN_TAG: Final = 98
"""RFC 9052 §2: CBOR tag of COSE_Sign_Tagged."""
SIGNATURE_CONTEXT: Final = "Signature"
"""RFC 9052 §4.4: context string of a COSE_Sign Sig_structure."""
CONTENT_TYPE: Final = "application/keybundle-trust-root+cbor"
"""Body protected header 3 (content type) of every signed trust root (SPEC §5.2)."""

MAX_TRUST_ROOT_SIGNATURES: Final = 4 * MAX_ROLE_KEYS
"""Most signatures on one signed trust root: every key of both roles of two versions."""
MAX_SIGNED_TRUST_ROOT_BYTES: Final = MAX_TRUST_ROOT_BYTES + 16_384
"""Largest encoded signed trust root: the payload plus room for every signature (SPEC §11)."""

# Signed: tag 0, COSE_Sign array 1, signatures array 2, COSE_Signature 3, its fields 4.
_SIGNED_DEPTH: Final = 4
_SIGNED_ITEMS: Final = 6 + 4 * MAX_TRUST_ROOT_SIGNATURES

# COSE header labels (RFC 9052 §3.1).
_LABEL_ALG, _LABEL_CONTENT_TYPE, _LABEL_KID = 1, 3, 4
_ALGS: Final = (COSE_ALG_EDDSA, COSE_ALG_ES256)
_BODY_PROTECTED: Final = dcbor.encode({_LABEL_CONTENT_TYPE: CONTENT_TYPE})

_ROLE_NAMES: Final = ("independent", "operator")


def _malformed(message: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED_TRUST_ROOT, message)


# ---------------------------------------------------------------------------------------------
# In-process caches of verified results (module docstring)

MAX_CACHED_TRUST_ROOTS: Final = 128
"""How many parsed signed roots, and how many verified rotation steps, are remembered: a
state's whole chain (``MAX_STATE_ROTATIONS``, SPEC §11) and a package's, twice over."""
_MAX_CACHED_PINNED: Final = 16

_K = TypeVar("_K")
_V = TypeVar("_V")


class _LRU(Generic[_K, _V]):
    """A bounded least-recently-used map, safe across threads (``_thread`` lock: no
    ``threading`` import for an embedded client)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[_K, _V] = OrderedDict()
        self._lock = allocate_lock()

    def get(self, key: _K) -> _V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_parsed: _LRU[bytes, UnverifiedSignedTrustRoot] = _LRU(MAX_CACHED_TRUST_ROOTS)
"""SHA-256 of a signed root's bytes -> its parse."""
_rotations: _LRU[tuple[bytes, bytes], TrustRoot] = _LRU(MAX_CACHED_TRUST_ROOTS)
"""(SHA-256 of the current root's payload, SHA-256 of the next signed root) -> the next
root, for each rotation step :func:`verify_rotation` accepted."""
_self_signed: _LRU[bytes, TrustRoot] = _LRU(_MAX_CACHED_PINNED)
"""SHA-256 of a signed root -> the root, for each one :func:`verify_self_signed` accepted."""


def clear_caches() -> None:
    """Forget every remembered parse and verdict (tests and benchmarks measure cold runs)."""
    for cache in (_parsed, _rotations, _self_signed):
        cache.clear()


def _sha256(data: bytes) -> bytes:
    return sha256(data).digest()


# ---------------------------------------------------------------------------------------------
# The signed trust root: a COSE_Sign (SPEC §5.2, RFC 9052 §4.1)


class TrustRootSignature(Frozen):
    """One COSE_Signature of a signed trust root, shape-checked but not verified."""

    alg: int
    kid: bytes
    signature: bytes
    protected: bytes
    """The exact serialized protected header ``{1: alg, 4: kid}``, as signed."""

    def __init__(self, alg: int, kid: bytes, signature: bytes, protected: bytes) -> None:
        self._freeze(alg=alg, kid=kid, signature=signature, protected=protected)


class UnverifiedSignedTrustRoot(Frozen):
    """A signed trust root whose shape matches SPEC §5.2; no signature has been checked.

    ``payload`` is the exact signed payload; ``root`` its parse. Signatures are sorted by kid.
    """

    root: TrustRoot
    payload: bytes
    signatures: tuple[TrustRootSignature, ...]

    def __init__(
        self,
        root: TrustRoot,
        payload: bytes,
        signatures: tuple[TrustRootSignature, ...],
    ) -> None:
        self._freeze(root=root, payload=payload, signatures=signatures)


def _sig_structure(sign_protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4: ``["Signature", body_protected, sign_protected, h'', payload]``."""
    return dcbor.encode([SIGNATURE_CONTEXT, _BODY_PROTECTED, sign_protected, b"", payload])


def _parse_signature(value: object, index: int) -> TrustRootSignature:
    where = f"trust-root signature {index}"
    if not isinstance(value, list) or len(value) != 3:
        raise _malformed(f"{where} must be a COSE_Signature [protected, unprotected, signature]")
    protected, unprotected, signature = value
    if type(protected) is not bytes:
        raise _malformed(f"the protected header of {where} must be a byte string")
    try:
        header = dcbor.decode(protected, max_size=64, max_depth=1, max_items=9)
    except VerificationError as e:
        raise _malformed(
            f"the protected header of {where} is not deterministic CBOR: {e.message}"
        ) from None
    if not isinstance(header, dict) or set(header) != {_LABEL_ALG, _LABEL_KID}:
        raise _malformed(
            f"the protected header of {where} must be exactly {{1: alg, 4: kid}}; found {header!r}"
        )
    alg, kid = header[_LABEL_ALG], header[_LABEL_KID]
    if type(alg) is not int or alg not in _ALGS:
        raise _malformed(f"{where}: alg must be -8 (EdDSA) or -7 (ES256), not {alg!r}")
    if type(kid) is not bytes or len(kid) != KID_LENGTH:
        raise _malformed(f"{where}: kid must be a {KID_LENGTH}-byte string, not {kid!r}")
    if unprotected != {}:
        raise _malformed(f"the unprotected header of {where} must be an empty map")
    if type(signature) is not bytes or len(signature) != SIGNATURE_LENGTH:
        raise _malformed(f"{where}: the signature must be a {SIGNATURE_LENGTH}-byte string")
    return TrustRootSignature(alg, kid, signature, protected)


def parse_unverified_signed_trust_root(data: bytes) -> UnverifiedSignedTrustRoot:
    """Parse a signed trust root's shape (SPEC §5.2) and its payload (SPEC §5.1).

    Raises MALFORMED_TRUST_ROOT for anything off the profile, including a COSE_Sign1 (a
    signed bundle) or a COSE_Sign of another content type. No signature is checked. A parse
    of the same bytes is remembered (by SHA-256, module docstring).
    """
    return _parse_remembered(data)[1]


def _parse_remembered(data: bytes) -> tuple[bytes, UnverifiedSignedTrustRoot]:
    """SHA-256 of ``data`` and its parse, remembered under that digest."""
    if type(data) is not bytes:
        raise TypeError(f"a signed trust root is bytes, not {type(data).__name__}")
    digest = _sha256(data)
    parsed = _parsed.get(digest)
    if parsed is None:
        parsed = _parse_signed(data)
        _parsed.put(digest, parsed)
    return digest, parsed


def _parse_signed(data: bytes) -> UnverifiedSignedTrustRoot:
    try:
        value = dcbor.decode(
            data,
            max_size=MAX_SIGNED_TRUST_ROOT_BYTES,
            max_depth=_SIGNED_DEPTH,
            max_items=_SIGNED_ITEMS,
            tags=frozenset((COSE_SIGN_TAG, COSE_SIGN1_TAG)),
        )
    except VerificationError as e:
        raise _malformed(
            f"the signed trust root is not deterministic CBOR of the expected size: {e.message}"
        ) from None
    if isinstance(value, dcbor.Tag) and value.tag == COSE_SIGN1_TAG:
        raise _malformed(
            "this is a COSE_Sign1 (tag 18), the form of a signed bundle; a signed trust root "
            "is a COSE_Sign (tag 98)"
        )
    if not isinstance(value, dcbor.Tag) or value.tag != COSE_SIGN_TAG:
        raise _malformed("a signed trust root must be a COSE_Sign with CBOR tag 98")
    body = value.value
    if not isinstance(body, list) or len(body) != 4:
        raise _malformed("a COSE_Sign is the array [protected, unprotected, payload, signatures]")
    protected, unprotected, payload, signatures = body
    if protected != _BODY_PROTECTED:
        raise _malformed(
            f"the COSE_Sign protected header must be exactly {{3: {CONTENT_TYPE!r}}}; this is "
            "not a signed trust root"
        )
    if unprotected != {}:
        raise _malformed("the COSE_Sign unprotected header must be an empty map")
    if type(payload) is not bytes:
        raise _malformed("the COSE_Sign payload must be an attached byte string")
    if not isinstance(signatures, list) or not 1 <= len(signatures) <= MAX_TRUST_ROOT_SIGNATURES:
        raise _malformed(
            f"a signed trust root carries an array of 1 to {MAX_TRUST_ROOT_SIGNATURES} signatures"
        )
    parsed = tuple(_parse_signature(s, i) for i, s in enumerate(signatures))
    if any(a.kid >= b.kid for a, b in pairwise(parsed)):
        raise _malformed(
            "the signatures must be sorted by kid, one per key (one root, one encoding)"
        )
    return UnverifiedSignedTrustRoot(parse_trust_root(payload), payload, parsed)


def _encode_signed(payload: bytes, signatures: Sequence[TrustRootSignature]) -> bytes:
    ordered = sorted(signatures, key=_sig_kid)
    out = dcbor.encode(
        dcbor.Tag(
            COSE_SIGN_TAG,
            [_BODY_PROTECTED, {}, payload, [[s.protected, {}, s.signature] for s in ordered]],
        )
    )
    if len(out) > MAX_SIGNED_TRUST_ROOT_BYTES:
        raise ValueError(
            f"the signed trust root would be {len(out)} bytes; the limit is "
            f"{MAX_SIGNED_TRUST_ROOT_BYTES}"
        )
    return out


def _sig_kid(signature: TrustRootSignature) -> bytes:
    return signature.kid


def _sign(payload: bytes, signer: Signer) -> TrustRootSignature:
    protected = dcbor.encode({_LABEL_ALG: signer.cose_alg, _LABEL_KID: signer.kid})
    message = _sig_structure(protected, payload)
    signature = sign_checked(signer, message)
    return TrustRootSignature(signer.cose_alg, signer.kid, signature, protected)


def _add(
    payload: bytes, existing: Sequence[TrustRootSignature], signers: Sequence[Signer]
) -> bytes:
    signatures = list(existing)
    seen = {s.kid for s in signatures}
    for signer in signers:
        if signer.kid in seen:
            raise ValueError(f"the trust root is already signed by key {signer.kid.hex()}")
        seen.add(signer.kid)
        signatures.append(_sign(payload, signer))
    if len(signatures) > MAX_TRUST_ROOT_SIGNATURES:
        raise ValueError(
            f"{len(signatures)} signatures; a signed trust root carries at most "
            f"{MAX_TRUST_ROOT_SIGNATURES}"
        )
    return _encode_signed(payload, signatures)


def sign_trust_root(root: TrustRoot, signers: Sequence[Signer]) -> bytes:
    """Sign ``root`` with each of ``signers`` (SPEC §5.2); return the COSE_Sign bytes.

    For a rotation the signers are holders of the old root's keys and of the new root's
    keys; each role's holders may also sign in turn with :func:`add_signatures`. Every new
    signature is checked against its signer's public key before it is returned.
    """
    if not signers:
        raise ValueError("a signed trust root needs at least one signer")
    return _add(root.encode(), (), signers)


def add_signatures(signed: bytes, signers: Sequence[Signer]) -> bytes:
    """Return ``signed`` with a signature by each of ``signers`` added (SPEC §5.2).

    The payload bytes are signed as they are (never re-encoded). A key that already signed
    is the caller's ``ValueError``; a malformed ``signed`` raises MALFORMED_TRUST_ROOT.
    """
    parsed = parse_unverified_signed_trust_root(signed)
    return _add(parsed.payload, parsed.signatures, signers)


# ---------------------------------------------------------------------------------------------
# Verification (SPEC §5.3)


def _verify_signatures(
    signed: UnverifiedSignedTrustRoot, keys: Mapping[bytes, PublicKey]
) -> frozenset[bytes]:
    """Verify every signature by a key in ``keys``; return their kids.

    Signatures by other keys are skipped: a root of version N+1 carries signatures by keys
    of version N that a verifier holding only N+1 cannot check, and they count for nothing.
    A signature by a key in ``keys`` that fails is a rejection, never skipped.
    """
    verified: set[bytes] = set()
    for sig in signed.signatures:
        key = keys.get(sig.kid)
        if key is None:
            continue
        verify_cose_signature(
            key,
            sig.alg,
            _sig_structure(sig.protected, signed.payload),
            sig.signature,
            what="the trust-root signature",
            over="this trust root",
            bad=Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
            advice="the root or the signature was altered, or the signature was made for "
            "something else",
        )
        verified.add(sig.kid)
    return frozenset(verified)


def _root_threshold_explainer(
    root: TrustRoot, name: str, which: str
) -> Callable[[frozenset[str], list[str]], str]:
    threshold = root.role(name).threshold

    def explain(signed_by: frozenset[str], missing: list[str]) -> str:
        return (
            f"the {name} role of {which} (trust-root version {root.version}) needs "
            f"signatures from {threshold} organisation(s); valid signatures came "
            f"from {len(signed_by)} ({', '.join(sorted(signed_by)) or 'none'}). Collect "
            f"signatures from the {name} keys of {', '.join(missing)} "
            "(`keybundle trust-root sign`)"
        )

    return explain


def _check_thresholds(root: TrustRoot, verified: frozenset[bytes], which: str) -> None:
    """Both roles of ``root`` must be met by the organisations behind ``verified``."""
    for name in _ROLE_NAMES:
        role = root.role(name)
        role.require_threshold(
            verified,
            Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
            _root_threshold_explainer(root, name, which),
        )


def _key_union(a: TrustRoot, b: TrustRoot) -> dict[bytes, PublicKey]:
    keys: dict[bytes, PublicKey] = {}
    for root in (a, b):
        for role_keys in (root.independent_keys, root.operator_keys):
            for kid, key in role_keys.items():
                if keys.setdefault(kid, key) != key:
                    raise _malformed(
                        f"key id {kid.hex()} names two different keys in versions "
                        f"{a.version} and {b.version}"
                    )
    return keys


def verify_self_signed(signed: bytes) -> TrustRoot:
    """Verify a root that is pinned out of band (SPEC §5.3): its own thresholds, both roles.

    This checks that the root is complete and that its key holders agree with it; it does
    not make it trusted: trust in a pinned root comes from how it was delivered (the app,
    a provisioning step). Any version is accepted here. An accepted root is remembered by
    the SHA-256 of ``signed`` (module docstring): the same bytes give the same root object.
    """
    digest, parsed = _parse_remembered(signed)
    root = _self_signed.get(digest)
    if root is not None:
        return root
    root = parsed.root
    own = {**root.independent_keys, **root.operator_keys}
    _check_thresholds(root, _verify_signatures(parsed, own), "this root")
    _self_signed.put(digest, root)
    return root


def verify_rotation(current: TrustRoot, signed_next: bytes) -> TrustRoot:
    """Accept the next trust root from ``current`` (SPEC §5.3), or raise.

    Rules: (a) the next root's version is exactly ``current.version + 1``
    (TRUST_ROOT_VERSION); (b) its signatures meet the thresholds of both roles under
    ``current``'s keys and under its own keys (TRUST_ROOT_THRESHOLD_NOT_MET). Whether it is
    in the log is the client's check (SPEC §7.3 step 5).
    """
    if not isinstance(current, TrustRoot):
        raise TypeError("current must be a TrustRoot")
    digest, parsed = _parse_remembered(signed_next)
    try:
        key: tuple[bytes, bytes] | None = (current.digest, digest)
    except ValueError:  # a root built in memory too large to encode: nothing to name it by
        key = None
    remembered = _rotations.get(key) if key is not None else None
    if remembered is not None:
        return remembered
    nxt = parsed.root
    if nxt.version != current.version + 1:
        raise VerificationError(
            Reason.TRUST_ROOT_VERSION,
            f"a rotation from trust-root version {current.version} must carry version "
            f"{current.version + 1}; found version {nxt.version}. Apply the rotations in "
            "order, one version at a time",
        )
    verified = _verify_signatures(parsed, _key_union(current, nxt))
    _check_thresholds(current, verified, "the current root")
    _check_thresholds(nxt, verified, "the new root")
    if key is not None:
        _rotations.put(key, nxt)
    return nxt


def verify_rotation_chain(
    current: TrustRoot, chain: Sequence[bytes], cap: int | None = None
) -> TrustRoot:
    """Apply the rotations of ``chain`` in order (SPEC §5.3); return the last root.

    The chain's length is capped (TRUST_ROOT_CHAIN_TOO_LONG) before any entry is parsed:
    the cap is ``current.limits.max_rotation_chain``, or ``cap`` when the caller gives a
    smaller one (a caller can tighten the signed limit, never loosen it). An empty chain
    returns ``current``.
    """
    limit = current.limits.max_rotation_chain
    if cap is not None:
        if type(cap) is not int or cap < 0:
            raise ValueError(f"cap must be a non-negative int, not {cap!r}")
        limit = min(limit, cap)
    if isinstance(chain, bytes | str):
        raise TypeError("chain is a sequence of signed trust roots, not one")
    if len(chain) > limit:
        raise VerificationError(
            Reason.TRUST_ROOT_CHAIN_TOO_LONG,
            f"{len(chain)} trust-root rotations, from version {current.version}; at most "
            f"{limit} are allowed at once. Update the pinned trust root",
        )
    root = current
    for signed in chain:
        root = verify_rotation(root, signed)
    return root
