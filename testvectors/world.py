"""A deterministic keybundle world: role keys, a log, witnesses, a trust root, packages.

Everything the conformance-vector generator (testvectors/generate.py) and the client tests
need to build real OTA packages (SPEC §7.1) without a network, a clock or randomness: every
key comes from a fixed seed, every time from the world's clock, and P-256 signatures are
RFC 6979 deterministic, so the same calls give the same bytes, run after run. The published
vectors depend on those bytes: a change here changes the vectors, and
``keybundle vectors generate --check`` (CI) says so.

It lives beside the generator, not under tests/, because ``keybundle vectors generate`` runs
it from the command line; tests/keybundle/world.py re-exports it for the tests.

Typical use::

    w = World()
    signed, index = w.publish("prod-eu.vault", 1)       # build, sign, countersign, append
    note = w.checkpoint()                               # log-signed, cosigned by both witnesses
    package = w.package(signed, index, note)
    accepted = verify_package(package, w.pinned, ClientState(), w.now)

The lower-level steps are there to build attacks: :meth:`World.bundle` (payload bytes),
:meth:`World.sign` and :meth:`World.countersign` with any signer, :meth:`World.append` of any
bytes, :meth:`World.checkpoint` of any size with any signers, cosignature times, origin or
root, and :meth:`World.package` with any proof hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.bindings import crypto_scalarmult_base, crypto_scalarmult_ed25519_base_noclamp
from nacl.signing import SigningKey

from keybundle import cose
from keybundle.errors import VerificationError
from keybundle.package import ConsistencyProof, RotationEntry, build_package
from keybundle.payload import BundlePayload, FleetKey, parse_payload, signed_bundle_digest
from keybundle.signed_trust_root import sign_trust_root, verify_self_signed
from keybundle.signers import (
    COSE_ALG_ES256,
    Algorithm,
    Ed25519Signer,
    PublicKey,
    Signer,
    es256_signature_from_der,
)
from keybundle.trustroot import Limits, Role, RoleKey, TrustRoot
from transparency_log import note
from transparency_log.checkpoint import Checkpoint, parse_checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.merkle import leaf_hash, node_hash
from transparency_log.policy import Policy, parse_policy
from transparency_log.proof import (
    MemoryHashStore,
    NodeId,
    consistency_proof,
    inclusion_proof,
    tree_root,
)
from transparency_log.tlog_proof import TlogProof

__all__ = [
    "DAY",
    "DEFAULT_FLEET",
    "DEFAULT_LIMITS",
    "ED25519_IDENTITY",
    "ED25519_ORDER_8_POINT",
    "INDEPENDENT_ORG",
    "LOG_ORIGIN",
    "OPERATOR_ORG",
    "T0",
    "WITNESS_NAMES",
    "DeterministicP256Signer",
    "SparseTree",
    "World",
    "crafted_ed25519_signature",
    "ed_add",
    "fleet_keys",
    "role_signer",
    "seed",
]

T0 = 1_767_225_600
"""The world's clock at start: 2026-01-01T00:00:00Z."""
DAY = 86_400
LOG_ORIGIN = "log.example/keybundle"
"""The log's origin, which is also its note key's name (C2SP tlog-policy)."""
WITNESS_NAMES = ("witness.example/w1", "witness.example/w2")
"""Key names of the two witnesses; their local policy names are ``w1`` and ``w2``."""
INDEPENDENT_ORG = "Independent Org"
OPERATOR_ORG = "Operator Org"
DEFAULT_FLEET = "prod-eu.vault"
DEFAULT_LIMITS = Limits(
    clock_skew=300,
    max_cosignature_age=DAY,
    max_package_bytes=65_536,
    max_rotation_chain=4,
    max_epoch_jump=10,
)
"""Limits of the world's trust root; tests change them with ``World(limits=...)``."""
_EMPTY_ROOT = hashlib.sha256(b"").digest()


def seed(label: str) -> bytes:
    """The 32-byte seed of the world's key called ``label``: SHA-256 of a fixed prefix and it."""
    return hashlib.sha256(b"keybundle test world\n" + label.encode()).digest()


ED25519_ORDER_8_POINT = bytes.fromhex(
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
)
"""An Ed25519 point of order 8 (SPEC §3.3's example)."""
ED25519_IDENTITY = b"\x01" + bytes(31)
"""The encoding of the Ed25519 identity point (order 1: a small-order point)."""
_ED_L = 2**252 + 27742317777372353535851937790883648493


def ed_add(a: bytes, b: bytes) -> bytes:
    """The Edwards sum of two encoded Ed25519 points (for mixed-order points)."""
    p = 2**255 - 19
    d = -121665 * pow(121666, p - 2, p) % p

    def decode(s: bytes) -> tuple[int, int]:
        y = int.from_bytes(s, "little") & ((1 << 255) - 1)
        sign = s[31] >> 7
        xx = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
        xr = pow(xx, (p + 3) // 8, p)
        if (xr * xr - xx) % p:
            xr = xr * pow(2, (p - 1) // 4, p) % p
        if xr & 1 != sign:
            xr = p - xr
        return xr, y

    (x1, y1), (x2, y2) = decode(a), decode(b)
    t = d * x1 * x2 * y1 * y2 % p
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, p - 2, p) % p
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, p - 2, p) % p
    return (y3 | ((x3 & 1) << 255)).to_bytes(32, "little")


def crafted_ed25519_signature(key_seed: bytes, message: bytes, r_kind: str) -> bytes:
    """An Ed25519 signature of ``message`` by the key of ``key_seed`` with a chosen ``R``.

    ``r_kind`` ``"small-order"``: R is the identity and S = k·a, so the cofactorless
    equation [S]B = R + [k]A holds and only the small-order-R rule rejects it.
    ``"mixed-order"``: R = [r]B + T with T of order 8 and S = r + k·a, so [S]B = R - T + [k]A:
    the cofactored equation (times 8) holds, the cofactorless one does not (SPEC §2.4.5).
    """
    h = hashlib.sha512(key_seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    public = bytes(SigningKey(key_seed).verify_key)
    r = int.from_bytes(hashlib.sha512(b"crafted R\n" + key_seed + message).digest(), "little")
    r %= _ED_L
    if r_kind == "small-order":
        big_r, r = ED25519_IDENTITY, 0
    elif r_kind == "mixed-order":
        big_r = ed_add(crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little")),
                       ED25519_ORDER_8_POINT)  # fmt: skip
    else:
        raise ValueError(f"unknown r_kind {r_kind!r}")
    k = int.from_bytes(hashlib.sha512(big_r + public + message).digest(), "little") % _ED_L
    return big_r + ((r + k * a) % _ED_L).to_bytes(32, "little")


class DeterministicP256Signer:
    """An ES256 signer with RFC 6979 deterministic nonces (low-S, SPEC §4.3).

    ``keybundle.signers.P256Signer`` draws a random nonce for each signature; vectors need
    the same bytes every run, and deterministic ECDSA is equally valid to any verifier.
    """

    algorithm: Algorithm = "p256"
    cose_alg: int = COSE_ALG_ES256

    def __init__(self, label: str) -> None:
        scalar = int.from_bytes(seed(label), "big") % (2**255) + 1
        self._key = ec.derive_private_key(scalar, ec.SECP256R1())
        point = self._key.public_key().public_numbers()
        raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
        self._public = PublicKey("p256", raw)

    @property
    def kid(self) -> bytes:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        return es256_signature_from_der(self._key.sign(message, algorithm))

    def __repr__(self) -> str:
        return f"DeterministicP256Signer(kid={self.kid.hex()})"


def role_signer(label: str, algorithm: Algorithm = "ed25519") -> Signer:
    """The world's role key called ``label`` (any label gives a distinct, fixed key)."""
    if algorithm == "ed25519":
        return Ed25519Signer(seed(label))
    return DeterministicP256Signer(label)


def fleet_keys(fleet: str, epoch: int, count: int = 2) -> tuple[FleetKey, ...]:
    """``count`` HSMs' keys for ``fleet`` at ``epoch``: an X25519 and an Ed25519 key each.

    The keys change with the epoch (a rotation hands out new keys), sorted by key id.
    """
    keys = []
    for n in range(1, count + 1):
        base = f"fleet {fleet} epoch {epoch} hsm {n}"
        x25519 = crypto_scalarmult_base(seed(base + " x25519"))
        ed25519 = bytes(SigningKey(seed(base + " ed25519")).verify_key)
        keys.append(FleetKey(f"hsm-{n:02d}.ed25519", "ed25519", ed25519, "signing"))
        keys.append(FleetKey(f"hsm-{n:02d}.x25519", "x25519", x25519, "key-agreement"))
    return tuple(sorted(keys, key=lambda k: k.key_id))


def _policy_text(
    log: note.Ed25519Signer, witnesses: Sequence[CosignatureV1Signer], quorum: str
) -> str:
    lines = [f"log {log.verifier().verifier_key}"]
    names = [f"w{i}" for i in range(1, len(witnesses) + 1)]
    for name, witness in zip(names, witnesses, strict=True):
        lines.append(f"witness {name} {witness.verifier().verifier_key}")
    if quorum == "none":
        lines.append("quorum none")
    elif quorum in names:
        lines.append(f"quorum {quorum}")
    else:
        lines.append(f"group witnesses {quorum} {' '.join(names)}")
        lines.append("quorum witnesses")
    return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class _Published:
    fleet: str
    epoch: int
    digest: bytes


class SparseTree:
    """A real RFC 9162 tree of any size up to MAX_TREE_SIZE, held in O(63 * special) hashes.

    Leaves ``first`` onwards are ``special`` (in order), every other leaf is the entry
    ``filler``: a perfect subtree without a special leaf has the hash of ``filler``'s subtree
    of its height, any other is hashed from its children. A
    :class:`~transparency_log.proof.HashReader`, so the library's own proof and tile
    generators serve trees that no store could hold.
    """

    def __init__(self, filler: bytes, first: int, special: Sequence[bytes]) -> None:
        self.filler = filler
        self.first = first
        self.special = tuple(special)
        self._uniform = [leaf_hash(filler)]
        for _ in range(63):
            self._uniform.append(node_hash(self._uniform[-1], self._uniform[-1]))
        self._known: dict[NodeId, bytes] = {}

    def entry(self, index: int) -> bytes:
        """Leaf ``index``'s entry."""
        offset = index - self.first
        return self.special[offset] if 0 <= offset < len(self.special) else self.filler

    def _node(self, level: int, index: int) -> bytes:
        if (index + 1) << level <= self.first or index << level >= self.first + len(self.special):
            return self._uniform[level]
        if level == 0:
            return leaf_hash(self.entry(index))
        known = self._known.get((level, index))
        if known is None:
            left, right = self._node(level - 1, 2 * index), self._node(level - 1, 2 * index + 1)
            known = node_hash(left, right)
            self._known[(level, index)] = known
        return known

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """The hash of each node (every node of the tree exists: no size is checked)."""
        return [self._node(level, index) for level, index in ids]


class World:
    """One deterministic deployment: two roles, a log with two witnesses, a pinned root.

    ``algorithm`` is the role keys' algorithm (``"ed25519"`` or ``"p256"``); ``quorum`` the
    witness quorum of the policy: ``"all"`` (both witnesses), ``"any"`` (1 of 2), ``"1"`` or
    ``"2"``, a single witness ``"w1"``/``"w2"``, or ``"none"``; ``limits`` the trust root's
    limits. The world's clock is :attr:`now` (T0 unless given); tests move it by assigning.
    """

    def __init__(
        self,
        *,
        algorithm: Algorithm = "ed25519",
        quorum: str = "all",
        limits: Limits = DEFAULT_LIMITS,
        now: int = T0,
    ) -> None:
        self.now = now
        self.algorithm: Algorithm = algorithm
        self.independent = role_signer("independent", algorithm)
        self.operator = role_signer("operator", algorithm)
        self.log_signer = note.Ed25519Signer(LOG_ORIGIN, seed("log"))
        self.witnesses = tuple(
            CosignatureV1Signer(name, seed(f"witness {name}")) for name in WITNESS_NAMES
        )
        self.policy_text = _policy_text(self.log_signer, self.witnesses, quorum)
        self.policy: Policy = parse_policy(self.policy_text)
        if self.policy.format() != self.policy_text:
            raise AssertionError("bad math in World: the policy text is not canonical")
        self.limits = limits
        self.root = self.make_root(1)
        self.signed_root = sign_trust_root(self.root, [self.independent, self.operator])
        self.pinned = verify_self_signed(self.signed_root)
        """The trust root as a client loads it (verified as self-signed)."""
        self.store = MemoryHashStore()
        self.entries: list[bytes] = []
        self._published: dict[tuple[str, int], _Published] = {}

    # -- trust roots -----------------------------------------------------------------------

    def make_root(
        self,
        version: int,
        *,
        independent: Sequence[tuple[str, Signer]] | None = None,
        operator: Sequence[tuple[str, Signer]] | None = None,
        independent_threshold: int = 1,
        operator_threshold: int = 1,
        policy: Policy | None = None,
        limits: Limits | None = None,
    ) -> TrustRoot:
        """A trust root of ``version``; by default the world's keys, policy and limits."""
        independent = independent or [(INDEPENDENT_ORG, self.independent)]
        operator = operator or [(OPERATOR_ORG, self.operator)]
        return TrustRoot(
            version,
            Role(
                independent_threshold,
                tuple(RoleKey(org, s.public_key()) for org, s in independent),
            ),
            Role(operator_threshold, tuple(RoleKey(org, s.public_key()) for org, s in operator)),
            policy or self.policy,
            limits or self.limits,
        )

    def sign_root(self, root: TrustRoot, signers: Sequence[Signer]) -> bytes:
        """``root`` signed by ``signers`` (SPEC §5.2)."""
        return sign_trust_root(root, signers)

    # -- bundles ---------------------------------------------------------------------------

    def bundle(
        self,
        fleet: str = DEFAULT_FLEET,
        epoch: int = 1,
        keys: Iterable[FleetKey] | None = None,
        *,
        previous: bytes | str | None = "auto",
        issued_at: int | None = None,
        not_before: int | None = None,
        not_after: int | None = None,
    ) -> bytes:
        """The payload bytes (SPEC §3.2) of ``fleet`` at ``epoch``.

        ``previous="auto"`` names the digest of the bundle this world appended to the log for
        ``epoch - 1`` (none at epoch 1). Times default to: issued now, valid from a day ago
        to a year from now.
        """
        if previous == "auto":
            if epoch == 1:
                previous = None
            else:
                published = self._published.get((fleet, epoch - 1))
                if published is None:
                    raise ValueError(
                        f"no bundle of {fleet!r} epoch {epoch - 1} was appended; pass previous="
                    )
                previous = published.digest
        if isinstance(previous, str):
            raise ValueError("previous is 'auto', None or a 32-byte digest")
        payload = BundlePayload(
            version=1,
            fleet_id=fleet,
            epoch=epoch,
            previous_digest=previous,
            issued_at=self.now if issued_at is None else issued_at,
            not_before=self.now - DAY if not_before is None else not_before,
            not_after=self.now + 365 * DAY if not_after is None else not_after,
            keys=tuple(fleet_keys(fleet, epoch) if keys is None else keys),
        )
        return payload.encode()

    def sign(self, payload: bytes, signer: Signer | None = None) -> bytes:
        """The independent party's COSE_Sign1 over ``payload`` (SPEC §4.1)."""
        return cose.sign1(payload, signer or self.independent)

    def countersign(self, signed: bytes, signer: Signer | None = None) -> bytes:
        """``signed`` with the operator's countersignature added (SPEC §4.2)."""
        return cose.countersign(signed, signer or self.operator)

    def signed_bundle(self, fleet: str = DEFAULT_FLEET, epoch: int = 1, **kwargs: object) -> bytes:
        """A payload (``bundle(**kwargs)``), signed and countersigned by the world's keys."""
        return self.countersign(self.sign(self.bundle(fleet, epoch, **kwargs)))  # type: ignore[arg-type]

    # -- the log ---------------------------------------------------------------------------

    def append(self, entry: bytes) -> int:
        """Append ``entry`` to the log; return its index.

        A signed bundle appended is remembered as its fleet's bundle at its epoch (the first
        one wins), for ``bundle(previous="auto")``.
        """
        index = len(self.entries)
        self.entries.append(entry)
        self.store.append(leaf_hash(entry))
        try:
            payload = parse_payload(cose.parse_unverified_sign1(entry).payload)
        except VerificationError:
            return index
        self._published.setdefault(
            (payload.fleet_id, payload.epoch),
            _Published(payload.fleet_id, payload.epoch, signed_bundle_digest(entry)),
        )
        return index

    def publish(
        self, fleet: str = DEFAULT_FLEET, epoch: int = 1, **kwargs: object
    ) -> tuple[bytes, int]:
        """Build, sign, countersign and append a bundle; return it and its index."""
        signed = self.signed_bundle(fleet, epoch, **kwargs)
        return signed, self.append(signed)

    @property
    def size(self) -> int:
        """The log's size."""
        return len(self.entries)

    def root_hash(self, size: int | None = None) -> bytes:
        """The RFC 9162 root of the first ``size`` entries (default: all)."""
        size = self.size if size is None else size
        return tree_root(size, self.store) if size else _EMPTY_ROOT

    def checkpoint(
        self,
        size: int | None = None,
        *,
        cosign_at: int | Mapping[str, int] | None = None,
        witnesses: Iterable[CosignatureV1Signer] | None = None,
        log_signer: note.Signer | None = None,
        origin: str = LOG_ORIGIN,
        root_hash: bytes | None = None,
    ) -> bytes:
        """A signed checkpoint note of the log at ``size`` (default: now), as a log publishes.

        Signed by ``log_signer`` (default the log's key), then cosigned by ``witnesses``
        (default both) at ``cosign_at`` (one time for all, or witness key name -> time;
        default :attr:`now`). ``origin`` and ``root_hash`` override the body to forge
        checkpoints.
        """
        size = self.size if size is None else size
        body = Checkpoint(origin, size, root_hash or self.root_hash(size)).body()
        signed = note.sign(body, log_signer or self.log_signer)
        text = body.encode()
        for witness in self.witnesses if witnesses is None else witnesses:
            if isinstance(cosign_at, Mapping):
                at = cosign_at[witness.name]
            else:
                at = self.now if cosign_at is None else cosign_at
            line = note.Signature(witness.name, witness.key_hash, witness.sign_at(text, at))
            signed += line.to_line()
        return signed.encode()

    # -- packages --------------------------------------------------------------------------

    def tlog_proof(
        self, index: int, checkpoint_note: bytes, *, hashes: Sequence[bytes] | None = None
    ) -> TlogProof:
        """The C2SP tlog-proof of entry ``index`` under ``checkpoint_note`` (SPEC §2.7)."""
        if hashes is None:
            size = _checkpoint_size(checkpoint_note)
            hashes = inclusion_proof(index, size, self.store) if index < size else []
        return TlogProof(index, tuple(hashes), checkpoint_note)

    def package(
        self,
        signed_bundle: bytes,
        index: int,
        checkpoint_note: bytes,
        *,
        consistency_from: int | None = None,
        rotations: Sequence[tuple[bytes, int]] = (),
        hashes: Sequence[bytes] | None = None,
    ) -> bytes:
        """The OTA package (SPEC §7.1) of ``signed_bundle`` at ``index``.

        Proofs are computed under ``checkpoint_note``'s size: the inclusion proof (or
        ``hashes`` instead), a consistency proof from ``consistency_from``, and each rotation
        ``(signed trust root, its index)``'s inclusion proof.
        """
        size = _checkpoint_size(checkpoint_note) if consistency_from is not None or rotations else 0
        consistency = None
        if consistency_from is not None:
            consistency = ConsistencyProof(
                consistency_from, tuple(consistency_proof(consistency_from, size, self.store))
            )
        entries = [
            RotationEntry(signed_root, i, tuple(inclusion_proof(i, size, self.store)))
            for signed_root, i in rotations
        ]
        return build_package(
            signed_bundle,
            self.tlog_proof(index, checkpoint_note, hashes=hashes),
            consistency=consistency,
            rotations=entries,
        )

    def fresh_package(self, fleet: str = DEFAULT_FLEET, epoch: int = 1, **kwargs: object) -> bytes:
        """Publish a bundle and package it under a fresh checkpoint of the whole log."""
        signed, index = self.publish(fleet, epoch, **kwargs)
        return self.package(signed, index, self.checkpoint())


def _checkpoint_size(checkpoint_note: bytes) -> int:
    text, _ = note.parse_unverified(checkpoint_note)
    return parse_checkpoint(text).size
