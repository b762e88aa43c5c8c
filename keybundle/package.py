"""keybundle OTA package (SPEC §7.1): what the service sends a client, self-contained.

One deterministic-CBOR map carries the countersigned bundle exactly as logged, the C2SP
tlog-proof of its inclusion (with the signed, cosigned checkpoint), optionally a consistency
proof from the size the client reported, and optionally a chain of trust-root rotations
proven in the same checkpoint. Parsing here is shape only (``parse_unverified_package``);
:mod:`keybundle.client` verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from transparency_log._frozen import Frozen
from transparency_log.errors import VerificationError
from transparency_log.merkle import HASH_SIZE
from transparency_log.tlog_proof import TlogProof, parse_tlog_proof

from . import dcbor
from .errors import Reason

__all__ = [
    "MAX_PACKAGE_BYTES",
    "MAX_PACKAGE_PROOF_HASHES",
    "MAX_ROTATIONS",
    "PACKAGE_FORMAT_VERSION",
    "ConsistencyProof",
    "Package",
    "RotationEntry",
    "build_package",
    "parse_unverified_package",
]

PACKAGE_FORMAT_VERSION: Final = 1
"""Field 1 of every package (SPEC §7.1); the only version this code reads."""
MAX_PACKAGE_BYTES: Final = 256 * 1024
"""Absolute cap on a package (SPEC §7.3 step 1, §11); a trust root may set a lower one."""
MAX_PACKAGE_PROOF_HASHES: Final = 64
"""Most hashes of a consistency proof or a rotation's inclusion proof in a package (SPEC §11).

Trees have at most 2^63 - 1 leaves, so an inclusion proof has at most 63 hashes and a
consistency proof at most 64 (its seed, then at most 63); a longer array cannot verify and
is rejected before any hashing."""
MAX_ROTATIONS: Final = 16
"""Absolute cap on the trust-root rotations one package carries (SPEC §7.1, §11); it equals
the largest ``max_rotation_chain`` a trust root may set (SPEC §5.1)."""
_MAX_DEPTH: Final = 4
"""Package map 0, rotations array 1, a rotation 2, its hashes 3, a hash 4."""
_MAX_ITEMS: Final = 2_048
"""Enough for every field at its cap: 16 rotations of 3 + 64 items, a 64-hash consistency
proof, the map itself."""

_KEY_VERSION: Final = 1
_KEY_BUNDLE: Final = 2
_KEY_PROOF: Final = 3
_KEY_CONSISTENCY: Final = 4
_KEY_ROTATIONS: Final = 5
_KNOWN_KEYS: Final = frozenset(
    {_KEY_VERSION, _KEY_BUNDLE, _KEY_PROOF, _KEY_CONSISTENCY, _KEY_ROTATIONS}
)


class ConsistencyProof(Frozen):
    """A consistency proof from ``old_size`` to the package checkpoint's size (SPEC §2.3)."""

    old_size: int
    hashes: tuple[bytes, ...]

    def __init__(self, old_size: int, hashes: tuple[bytes, ...]) -> None:
        self._freeze(old_size=old_size, hashes=hashes)


class RotationEntry(Frozen):
    """A signed trust root and its inclusion proof under the package checkpoint (SPEC §7.3
    step 5)."""

    signed_trust_root: bytes
    index: int
    hashes: tuple[bytes, ...]

    def __init__(self, signed_trust_root: bytes, index: int, hashes: tuple[bytes, ...]) -> None:
        self._freeze(signed_trust_root=signed_trust_root, index=index, hashes=hashes)


class Package(Frozen):
    """An OTA package as parsed, not yet verified (SPEC §7.1)."""

    signed_bundle: bytes
    proof: TlogProof
    consistency: ConsistencyProof | None = None
    rotations: tuple[RotationEntry, ...] = ()

    def __init__(
        self,
        signed_bundle: bytes,
        proof: TlogProof,
        consistency: ConsistencyProof | None = None,
        rotations: tuple[RotationEntry, ...] = (),
    ) -> None:
        self._freeze(
            signed_bundle=signed_bundle,
            proof=proof,
            consistency=consistency,
            rotations=rotations,
        )

    def encode(self) -> bytes:
        """The package's deterministic CBOR (SPEC §7.1)."""
        value: dict[int | str, dcbor.CborValue] = {
            _KEY_VERSION: PACKAGE_FORMAT_VERSION,
            _KEY_BUNDLE: self.signed_bundle,
            _KEY_PROOF: self.proof.format(),
        }
        if self.consistency is not None:
            value[_KEY_CONSISTENCY] = [self.consistency.old_size, list(self.consistency.hashes)]
        if self.rotations:
            value[_KEY_ROTATIONS] = [
                [r.signed_trust_root, r.index, list(r.hashes)] for r in self.rotations
            ]
        return dcbor.encode(value)


def _bad(message: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED_PACKAGE, message)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if type(value) is int:
        return "a negative integer" if value < 0 else "an integer"
    if value is None:
        return "null"
    names: dict[type, str] = {bytes: "a byte string", str: "a text string", list: "an array"}
    names[dict] = "a map"
    return names.get(type(value), "a tag")


def _uint(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _bad(f"{what} must be an unsigned integer, found {_kind(value)}")
    return value


def _hashes(value: object, what: str) -> tuple[bytes, ...]:
    if type(value) is not list:
        raise _bad(f"{what} must be an array of {HASH_SIZE}-byte hashes, found {_kind(value)}")
    if len(value) > MAX_PACKAGE_PROOF_HASHES:
        raise _bad(
            f"{what} has {len(value)} hashes; at most {MAX_PACKAGE_PROOF_HASHES} can be needed"
        )
    for h in value:
        if type(h) is not bytes or len(h) != HASH_SIZE:
            raise _bad(f"{what} must hold byte strings of exactly {HASH_SIZE} bytes")
    return tuple(value)


_NO_TAGS: Final = dcbor.semantic_decoders(frozenset())
_PLAIN_FIELDS: Final = (_KEY_VERSION, _KEY_BUNDLE, _KEY_PROOF)


def _string_size(n: int) -> int:
    """Bytes of a string item of ``n`` bytes in deterministic CBOR: the shortest head, as
    the one encoder writes it, and the content."""
    return len(dcbor.encode_head(2, n)) + n


def _decode_plain_package(data: bytes) -> tuple[bytes, bytes] | None:
    """The hot path of :func:`parse_unverified_package`: (signed bundle, UTF-8 proof text) of
    a package of fields 1-3 only, as SPEC §7.1 and §3.1 require them; None for anything
    else, which the full parse then judges with its reasons.

    cbor2's value must be exactly the map {1: 1, 2: non-empty bytes, 3: text} in key order,
    and the size of its deterministic encoding must equal ``len(data)``, which proves every
    head shortest and nothing trailing (as ``dcbor._measure`` does).
    tests/keybundle/test_package.py compares both paths on mutated packages.
    """
    if len(data) > MAX_PACKAGE_BYTES:
        return None
    value = dcbor.decode_unproven(data, max_depth=_MAX_DEPTH, decoders=_NO_TAGS)
    if type(value) is not dict or tuple(value) != _PLAIN_FIELDS:
        return None
    version, bundle, proof_text = value.values()
    if (
        type(version) is not int
        or version != PACKAGE_FORMAT_VERSION
        or type(bundle) is not bytes
        or not bundle
        or type(proof_text) is not str
    ):
        return None
    try:
        proof = proof_text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    size = 1 + 3 + 1 + _string_size(len(bundle)) + _string_size(len(proof))
    return (bundle, proof) if size == len(data) else None


def parse_unverified_package(data: bytes) -> Package:
    """Parse the shape of a package (SPEC §7.3 step 2), checking no signature or proof.

    Raises ``VerificationError`` with ``MALFORMED_CBOR``, ``MALFORMED_PACKAGE``,
    ``MALFORMED_PROOF`` (the tlog-proof text), or ``TRUST_ROOT_CHAIN_TOO_LONG`` (more than
    :data:`MAX_ROTATIONS` rotations). The caller applies the size cap (step 1) first.
    """
    if type(data) is not bytes:
        raise TypeError(f"a package is bytes, not {type(data).__name__}")
    plain = _decode_plain_package(data)
    if plain is not None:
        return Package(plain[0], parse_tlog_proof(plain[1]))
    value = dcbor.decode(
        data, max_size=MAX_PACKAGE_BYTES, max_depth=_MAX_DEPTH, max_items=_MAX_ITEMS
    )
    if type(value) is not dict:
        raise _bad(f"a package must be a CBOR map, found {_kind(value)}")
    unknown = [k for k in value if k not in _KNOWN_KEYS]
    if unknown:
        raise _bad(f"unknown package field(s) {unknown!r}; SPEC §7.1 defines fields 1 to 5")
    for key in (_KEY_VERSION, _KEY_BUNDLE, _KEY_PROOF):
        if key not in value:
            raise _bad(f"required package field {key} is missing (SPEC §7.1)")
    version = value[_KEY_VERSION]
    if type(version) is not int or version != PACKAGE_FORMAT_VERSION:
        raise _bad(
            f"package format version must be {PACKAGE_FORMAT_VERSION}, found {version!r}; "
            "this verifier reads only version 1"
        )
    bundle = value[_KEY_BUNDLE]
    if type(bundle) is not bytes or not bundle:
        raise _bad(
            f"package field 2 (signed bundle) must be a non-empty byte string, found "
            f"{'an empty byte string' if bundle == b'' else _kind(bundle)}"
        )
    proof_text = value[_KEY_PROOF]
    if type(proof_text) is not str:
        raise _bad(
            f"package field 3 (proof of logging) must be a text string, found {_kind(proof_text)}"
        )
    proof = parse_tlog_proof(proof_text)

    consistency = None
    if _KEY_CONSISTENCY in value:
        c = value[_KEY_CONSISTENCY]
        if type(c) is not list or len(c) != 2:
            raise _bad("package field 4 (consistency proof) must be the array [old_size, hashes]")
        consistency = ConsistencyProof(
            _uint(c[0], "the consistency proof's old_size"),
            _hashes(c[1], "the consistency proof"),
        )

    rotations: list[RotationEntry] = []
    if _KEY_ROTATIONS in value:
        rs = value[_KEY_ROTATIONS]
        if type(rs) is not list or not rs:
            raise _bad("package field 5 (trust-root rotations) must be a non-empty array")
        if len(rs) > MAX_ROTATIONS:
            raise VerificationError(
                Reason.TRUST_ROOT_CHAIN_TOO_LONG,
                f"the package carries {len(rs)} trust-root rotations; at most "
                f"{MAX_ROTATIONS} are ever allowed. Update the pinned trust root",
            )
        for i, r in enumerate(rs):
            if type(r) is not list or len(r) != 3 or type(r[0]) is not bytes or not r[0]:
                raise _bad(
                    f"rotation {i} must be the array [signed_trust_root (non-empty byte "
                    "string), index, hashes]"
                )
            rotations.append(
                RotationEntry(
                    r[0],
                    _uint(r[1], f"the index of rotation {i}"),
                    _hashes(r[2], f"the inclusion proof of rotation {i}"),
                )
            )
    return Package(bundle, proof, consistency, tuple(rotations))


def build_package(
    signed_bundle: bytes,
    proof: TlogProof,
    *,
    consistency: ConsistencyProof | None = None,
    rotations: Sequence[RotationEntry] = (),
) -> bytes:
    """Assemble a package's bytes (the operator side; SPEC §7.1).

    The result is what :func:`parse_unverified_package` reads back; a value it would reject
    (an empty bundle, a wrong-sized hash, too many rotations) is the caller's ``ValueError``.
    """
    if type(signed_bundle) is not bytes or not signed_bundle:
        raise ValueError("signed_bundle must be non-empty bytes")
    if not isinstance(proof, TlogProof):
        raise TypeError("proof must be a transparency_log.tlog_proof.TlogProof")
    rotations = tuple(rotations)
    if len(rotations) > MAX_ROTATIONS:
        raise ValueError(f"{len(rotations)} rotations; a package carries at most {MAX_ROTATIONS}")
    hash_lists = [r.hashes for r in rotations]
    if consistency is not None:
        if type(consistency.old_size) is not int or consistency.old_size < 0:
            raise ValueError("the consistency proof's old_size must be a non-negative int")
        hash_lists.append(consistency.hashes)
    for r in rotations:
        if type(r.signed_trust_root) is not bytes or not r.signed_trust_root:
            raise ValueError("a rotation's signed trust root must be non-empty bytes")
        if type(r.index) is not int or r.index < 0:
            raise ValueError("a rotation's index must be a non-negative int")
    for hashes in hash_lists:
        if len(hashes) > MAX_PACKAGE_PROOF_HASHES or any(
            type(h) is not bytes or len(h) != HASH_SIZE for h in hashes
        ):
            raise ValueError(
                f"a proof in a package holds at most {MAX_PACKAGE_PROOF_HASHES} hashes of "
                f"{HASH_SIZE} bytes"
            )
    return Package(signed_bundle, proof, consistency, rotations).encode()
