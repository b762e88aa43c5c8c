"""The client's trusted roots (SPEC §7.2, §7.3 steps 5 and 7): the pinned trust root, the
rotation chain re-verified from it, and the root in force at a log position.

The state stores the rotations a client adopted (each a signed trust root and its log index),
but the state is a cache, not a trust anchor: :func:`trusted_chain` re-verifies every stored
rotation from the pinned root (SPEC §5.3) before any of it is used, so a state edited to hold
an unsigned root, or a root the pinned keys did not approve, is a :class:`CorruptStateError`
and never widens trust. Inclusion in the log was checked when the rotation was adopted (SPEC
§7.3 step 5) and is not re-checked. Within a process the verification of each stored step is
remembered by SHA-256 of its bytes (:mod:`keybundle.signed_trust_root`), so a reload of an
unchanged chain checks no signature again, with the same verdict (SPEC §7.2).

A bundle is judged under the root in force at its position in the log (SPEC §7.3 step 7):
the trusted root of highest version whose rotation index is below the bundle's index, or the
pinned root when there is none (a bundle logged before the pinned root existed is judged
under the pinned root, whose keys the client trusts).
"""

from __future__ import annotations

from typing import Final

from transparency_log._frozen import Frozen
from transparency_log.errors import VerificationError

from .signed_trust_root import parse_unverified_signed_trust_root, verify_rotation
from .state import MAX_STATE_ROTATIONS, ClientState, CorruptStateError, StoredRotation
from .trustroot import TrustRoot

__all__ = ["TrustChain", "TrustedRotation", "trusted_chain"]

_LEGACY_INDEX: Final = 0
"""The index recorded for a rotated root migrated from a version-1 state, which kept no
index: 0 puts it in force over the whole log, so every bundle is judged under the newest root
(the strictest choice; SPEC §7.2 migration)."""


class TrustedRotation(Frozen):
    """A rotation verified from the pinned root: its version, log index, signed bytes and
    root."""

    version: int
    index: int
    signed_trust_root: bytes
    root: TrustRoot

    def __init__(self, version: int, index: int, signed_trust_root: bytes, root: TrustRoot) -> None:
        self._freeze(version=version, index=index, signed_trust_root=signed_trust_root, root=root)


class TrustChain(Frozen):
    """The pinned root and the rotations above it that the client trusts.

    ``stored`` is the rotation list to persist: the state's list as it was (entries at or
    below the pinned version are kept but never trusted) with the rotations adopted since
    appended, so that re-accepting a package leaves the state byte for byte as it was.
    """

    pinned: TrustRoot
    trusted: tuple[TrustedRotation, ...]
    stored: tuple[StoredRotation, ...]

    def __init__(
        self,
        pinned: TrustRoot,
        trusted: tuple[TrustedRotation, ...],
        stored: tuple[StoredRotation, ...],
    ) -> None:
        self._freeze(pinned=pinned, trusted=trusted, stored=stored)

    @property
    def effective(self) -> TrustRoot:
        """The trust root in force for the next package (SPEC §7.2): the newest trusted one."""
        return self.trusted[-1].root if self.trusted else self.pinned

    def held(self, version: int) -> TrustedRotation | None:
        """The trusted rotation of ``version`` (above the pinned version), if held."""
        position = version - self.pinned.version - 1
        if 0 <= position < len(self.trusted):
            return self.trusted[position]
        return None

    def root_at(self, index: int) -> TrustRoot:
        """The trust root in force at log position ``index`` (SPEC §7.3 step 7)."""
        for rotation in reversed(self.trusted):
            if rotation.index < index:
                return rotation.root
        return self.pinned

    def adopt(self, signed_trust_root: bytes, index: int, root: TrustRoot) -> TrustChain:
        """This chain with a newly verified rotation appended (SPEC §7.3 step 5)."""
        return TrustChain(
            self.pinned,
            (*self.trusted, TrustedRotation(root.version, index, signed_trust_root, root)),
            (*self.stored, StoredRotation(signed_trust_root, index)),
        )


# The chain of the last (pinned root, stored rotations) verified. A client verifies package
# after package against one pinned root and a state whose chain rarely changes; re-verifying
# its signatures each time would cost more than the package's own checks.
_cache: tuple[TrustRoot, tuple[StoredRotation, ...], bytes | None, TrustChain] | None = None


def trusted_chain(pinned: TrustRoot, state: ClientState) -> TrustChain:
    """Re-verify the state's rotation chain from ``pinned`` (SPEC §7.2).

    Stored rotations of a version at or below the pinned one are ignored. The others MUST
    start at the pinned version + 1 and each MUST be a valid rotation of the previous (SPEC
    §5.3), else :class:`CorruptStateError`. A version-1 state's single rotated root is kept
    (at index 0) only if it is a valid rotation of the pinned root, and dropped otherwise:
    the next package carries the chain again.
    """
    global _cache  # noqa: PLW0603 (a one-entry cache keyed by identity and value)
    cached = _cache
    if (
        cached is not None
        and cached[0] is pinned
        and cached[1] == state.rotations
        and cached[2] == state.legacy_trust_root
    ):
        return cached[3]
    if state.legacy_trust_root is not None:
        chain = _migrate(pinned, state.legacy_trust_root)
    else:
        chain = _verify_stored(pinned, state.rotations)
    _cache = (pinned, state.rotations, state.legacy_trust_root, chain)
    return chain


def _verify_stored(pinned: TrustRoot, stored: tuple[StoredRotation, ...]) -> TrustChain:
    if len(stored) > MAX_STATE_ROTATIONS:
        raise CorruptStateError(
            f"the state holds {len(stored)} rotations; at most {MAX_STATE_ROTATIONS}"
        )
    trusted: list[TrustedRotation] = []
    current = pinned
    for entry in stored:
        try:
            version = parse_unverified_signed_trust_root(entry.signed_trust_root).root.version
            if version <= pinned.version:
                continue  # older than the pinned root: never trusted, never used
            current = verify_rotation(current, entry.signed_trust_root)
        except VerificationError as e:
            raise CorruptStateError(
                f"the state's trust-root rotation chain does not verify from the pinned root "
                f"(version {pinned.version}) at index {entry.index} ({e.reason}): {e.message}. "
                "The state was edited or belongs to another trust root; restore it"
            ) from e
        trusted.append(
            TrustedRotation(current.version, entry.index, entry.signed_trust_root, current)
        )
    return TrustChain(pinned, tuple(trusted), stored)


def _migrate(pinned: TrustRoot, legacy: bytes) -> TrustChain:
    try:
        root = verify_rotation(pinned, legacy)
    except VerificationError:
        return TrustChain(pinned, (), ())
    entry = StoredRotation(legacy, _LEGACY_INDEX)
    return TrustChain(
        pinned,
        (TrustedRotation(root.version, _LEGACY_INDEX, legacy, root),),
        (entry,),
    )
