"""A real directory log holding several fleets and trust-root rotations, for the tests.

:class:`FleetLog` drives a log opened with admission from the World's trust root (SPEC §6.3):
bundles chained per fleet, rotations v1 -> v2 -> v3 that replace both roles' keys (each
signed by the old and the new keys, SPEC §5.3), and cosignatures added to the published
checkpoint at a chosen time, as a cosigning log publishes them (OPS §6.5.3). The World's
in-memory tree mirrors every entry, so a test can also forge what a misbehaving log would
sign (``World.checkpoint``, ``World.package``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from keybundle.admission import BundleAdmission
from keybundle.signed_trust_root import verify_self_signed
from keybundle.signers import Signer
from keybundle.trustroot import TrustRoot
from tests.keybundle.world import INDEPENDENT_ORG, LOG_ORIGIN, OPERATOR_ORG, World, role_signer
from transparency_log import note
from transparency_log.appender import open_directory_log
from transparency_log.fetcher import DirectoryFetcher


class FleetLog:
    """A World whose log is a directory (``root``) with admission; see the module doc."""

    def __init__(self, root: Path, world: World | None = None) -> None:
        self.world = world or World()
        self.root = root
        self.signed_roots: dict[int, bytes] = {1: self.world.signed_root}
        self.roots: dict[int, TrustRoot] = {1: self.world.pinned}
        self.keys: dict[int, tuple[Signer, Signer]] = {
            1: (self.world.independent, self.world.operator)
        }
        self.rotation_index: dict[int, int] = {}
        self.digests: dict[tuple[str, int], bytes] = {}
        self.heads: dict[str, int] = {}
        self.indices: dict[tuple[str, int], int] = {}
        """(fleet, epoch) -> log index of the bundles appended with :meth:`add_bundle`."""
        self.version = 1
        self._append([])

    def _append(self, entries: list[bytes]) -> list[int]:
        log = open_directory_log(
            self.root,
            origin=LOG_ORIGIN,
            signer=self.world.log_signer,
            verifier=self.world.log_signer.verifier(),
            fsync=False,
            admission=BundleAdmission(self.world.signed_root),
            batch_max_age=0,
        )
        try:
            indices = log.add_many(entries) if entries else []
        finally:
            log.close()
        for entry, index in zip(entries, indices, strict=True):
            if self.world.append(entry) != index:
                raise AssertionError("the World's mirror and the log disagree")
        return indices

    def fetcher(self) -> DirectoryFetcher:
        return DirectoryFetcher(self.root)

    def bundle(
        self,
        fleet: str,
        epoch: int | None = None,
        *,
        version: int | None = None,
        not_after: int | None = None,
    ) -> bytes:
        """The fleet's next bundle (or ``epoch``), chained, signed by ``version``'s keys."""
        epoch = self.heads.get(fleet, 0) + 1 if epoch is None else epoch
        previous = self.digests.get((fleet, epoch - 1)) if epoch > 1 else None
        payload = self.world.bundle(fleet, epoch, previous=previous, not_after=not_after)
        independent, operator = self.keys[self.version if version is None else version]
        return self.world.countersign(self.world.sign(payload, independent), operator)

    def add_bundle(self, fleet: str, **kwargs: int | None) -> tuple[bytes, int]:
        """Append the fleet's next bundle under the current keys; (bytes, index)."""
        signed = self.bundle(fleet, **kwargs)
        (index,) = self._append([signed])
        payload_epoch = self.heads.get(fleet, 0) + 1
        self.heads[fleet] = payload_epoch
        self.digests[(fleet, payload_epoch)] = hashlib.sha256(signed).digest()
        self.indices[(fleet, payload_epoch)] = index
        return signed, index

    def rotation(self, version: int) -> bytes:
        """The signed trust root ``version`` (new keys for both roles), signed by the keys
        of ``version - 1`` and its own."""
        if version in self.signed_roots:
            return self.signed_roots[version]
        independent = role_signer(f"independent v{version}")
        operator = role_signer(f"operator v{version}", "p256")
        root = self.world.make_root(
            version,
            independent=[(INDEPENDENT_ORG, independent)],
            operator=[(OPERATOR_ORG, operator)],
        )
        old_independent, old_operator = self.keys[version - 1]
        signed = self.world.sign_root(root, [old_independent, old_operator, independent, operator])
        self.signed_roots[version] = signed
        self.roots[version] = root
        self.keys[version] = (independent, operator)
        return signed

    def rotate(self) -> int:
        """Append the rotation to the next version; its index."""
        signed = self.rotation(self.version + 1)
        (index,) = self._append([signed])
        self.version += 1
        self.rotation_index[self.version] = index
        return index

    def pinned(self, version: int) -> TrustRoot:
        """The trust root of ``version`` as an app that pins it loads it (self-signed)."""
        return verify_self_signed(self.rotation(version))

    def cosign(self, at: int | None = None) -> bytes:
        """Re-publish the checkpoint with both witnesses' cosignatures dated ``at``."""
        path = self.root / "checkpoint"
        text, _ = note.parse_unverified(path.read_bytes())
        signed = note.sign(text, self.world.log_signer).encode()
        when = self.world.now if at is None else at
        for witness in self.world.witnesses:
            line = note.Signature(
                witness.name, witness.key_hash, witness.sign_at(text.encode(), when)
            )
            signed += line.to_line().encode()
        tmp = path.with_name(".checkpoint.test.tmp")
        tmp.write_bytes(signed)
        tmp.replace(path)
        return signed
