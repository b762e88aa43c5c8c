"""The client an app embeds (SPEC §7.4, §7.6): verify packages into a state directory, and
read the accepted keys back after a restart.

:class:`Client` wraps the pure decision (:func:`keybundle.client.verify_package`, SPEC §7.3)
with the state's storage: :meth:`Client.accept` takes the state directory's exclusive lock,
loads the state (re-verifying its rotation chain from the pinned root), decides, and saves
the new state atomically before it returns the keys; a rejection raises
:class:`~transparency_log.errors.VerificationError` and leaves the state untouched. Two
processes accepting on one directory serialize on the lock, so the state never moves
backwards. :meth:`Client.current_keys` answers from the state alone, re-verifying the stored
signed bundle: editing the state cannot install keys.

This module imports neither ``requests`` nor ``click`` (tests/keybundle/test_embedding.py);
online consistency (SPEC §7.5) is imported only when a fetcher is passed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from transparency_log._frozen import Frozen
from transparency_log.hashing import sha256

from .client import Accepted, check_validity, verify_package
from .errors import UnknownFleetError
from .payload import FleetKey, parse_payload
from .roles import verify_signed_bundle
from .signed_trust_root import verify_self_signed
from .state import STATE_FILE, ClientState, CorruptStateError, StateDir, parse_state
from .trustchain import trusted_chain
from .trustroot import TrustRoot

if TYPE_CHECKING:
    from transparency_log.fetcher import Fetcher

__all__ = ["Client", "UnknownFleetError", "VerifiedKeys"]


class VerifiedKeys(Frozen):
    """A fleet's keys from a verified bundle. Only :class:`Client` makes one."""

    fleet_id: str
    epoch: int
    keys: tuple[FleetKey, ...]
    not_before: int
    not_after: int
    digest: bytes
    """SHA-256 of the signed bundle the keys come from."""
    index: int
    """The signed bundle's index in the log."""

    def __init__(  # noqa: PLR0917 (positional, as the dataclass's)
        self,
        fleet_id: str,
        epoch: int,
        keys: tuple[FleetKey, ...],
        not_before: int,
        not_after: int,
        digest: bytes,
        index: int,
    ) -> None:
        self._freeze(
            fleet_id=fleet_id,
            epoch=epoch,
            keys=keys,
            not_before=not_before,
            not_after=not_after,
            digest=digest,
            index=index,
        )


def _keys_of(accepted: Accepted) -> VerifiedKeys:
    return VerifiedKeys(
        accepted.fleet_id,
        accepted.epoch,
        accepted.keys,
        accepted.payload.not_before,
        accepted.payload.not_after,
        sha256(accepted.signed_bundle).digest(),
        accepted.index,
    )


def _now(now: int | None) -> int:
    if now is None:
        return int(time.time())
    if type(now) is not int or now < 0:
        raise ValueError("now must be a non-negative int of Unix seconds")
    return now


class Client:
    """A client of one pinned trust root with its state in ``state_dir`` (SPEC §7.6).

    ``trust_root`` is the pinned signed trust root (bytes, verified here as self-signed,
    SPEC §5.3: ``VerificationError`` otherwise) or a :class:`TrustRoot` the caller verified
    so. ``state_dir`` MUST exist; an empty one is a fresh client. ``floor`` is an initial
    state shipped with the app (made by ``keybundle client bootstrap``, CLI §10.12): a
    directory without a state starts from it instead of from nothing, so a fresh install
    never accepts epochs older than those current at release.
    """

    def __init__(
        self,
        trust_root: bytes | TrustRoot,
        state_dir: str | os.PathLike[str],
        *,
        floor: bytes | None = None,
    ) -> None:
        if isinstance(trust_root, TrustRoot):
            self.trust_root = trust_root
        elif type(trust_root) is bytes:
            self.trust_root = verify_self_signed(trust_root)
        else:
            raise TypeError("trust_root is the signed trust root's bytes or a TrustRoot")
        self._store = StateDir(state_dir)
        self._floor: ClientState | None = None
        if floor is not None:
            self._floor = parse_state(floor)
            trusted_chain(self.trust_root, self._floor)

    @property
    def state_dir(self) -> StateDir:
        """The state directory."""
        return self._store

    def load(self) -> ClientState:
        """The stored state (or the floor, or a fresh one), its chain re-verified.

        Raises ``FileNotFoundError`` for a missing directory, ``NotADirectoryError`` for a
        path that is not one, and :class:`~keybundle.state.CorruptStateError` for a state
        that does not parse or whose rotation chain does not verify from the pinned root.
        """
        if (
            self._floor is not None
            and os.path.isdir(self._store.directory)
            and not self._has_state()
        ):
            state = self._floor
        else:
            state = self._store.load()
        trusted_chain(self.trust_root, state)
        return state

    def _has_state(self) -> bool:
        return os.path.exists(os.path.join(self._store.directory, STATE_FILE))

    def accept(
        self,
        package: bytes,
        *,
        now: int | None = None,
        fleet: str | None = None,
        fetcher: Fetcher | None = None,
    ) -> VerifiedKeys:
        """Verify ``package`` (SPEC §7.3) and persist the new state (SPEC §7.4).

        Under the state directory's lock: load, (with ``fetcher``, fill in the consistency
        proof from the log, SPEC §7.5), decide, save atomically, then return the keys. A
        rejection raises ``VerificationError`` with its reason code and changes nothing; so
        do ``CorruptStateError``, ``OSError`` (``TimeoutError`` when another process holds
        the lock too long) and, with ``fetcher``, ``LogUnreachableError``. A state that the
        package leaves byte for byte as it was is not rewritten.
        """
        at = _now(now)
        with self._store.lock():
            state = self.load()
            if fetcher is not None:
                from .online import with_consistency  # online mode only: it imports the log client

                package = with_consistency(package, state, self.trust_root, fetcher)
            accepted = verify_package(package, self.trust_root, state, at, fleet=fleet)
            if accepted.state != state or not self._has_state():
                self._store.save(accepted.state)
        return _keys_of(accepted)

    def bootstrap(self, packages: Sequence[bytes], *, now: int | None = None) -> ClientState:
        """Verify ``packages`` in order as a fresh client and write the initial state.

        The state directory MUST hold no state yet (``FileExistsError``). Every package
        must be accepted; the first rejection raises and nothing is written (CLI §10.12).
        """
        at = _now(now)
        with self._store.lock():
            if self._has_state():
                raise FileExistsError(
                    f"{self._store.directory!r} already holds a client state; bootstrap writes "
                    "the initial state of a fresh client"
                )
            state = ClientState()
            for package in packages:
                state = verify_package(package, self.trust_root, state, at).state
            self._store.save(state)
        return state

    def current_keys(self, fleet: str, *, now: int | None = None) -> VerifiedKeys:
        """The keys of ``fleet`` accepted last, from the state alone (SPEC §7.6).

        The stored signed bundle is verified again under the trust root in force at its log
        index (its SHA-256 MUST be the stored digest, its signatures MUST verify, its payload
        MUST be the stored fleet and epoch) and its validity window is checked at ``now``:
        ``EXPIRED`` past ``not_after`` plus the clock skew. Raises
        :class:`UnknownFleetError` when no bundle of ``fleet`` is stored,
        ``VerificationError`` with the reason code when the bundle no longer verifies or is
        outside its window, and ``CorruptStateError`` when the state contradicts itself.
        """
        at = _now(now)
        state = self.load()
        row = state.fleets.get(fleet)
        if row is None or row.signed_bundle is None or row.index is None:
            raise UnknownFleetError(
                f"the client state holds no accepted bundle of fleet {fleet!r}"
                + ("" if row is None else " (migrated from a version-1 state; accept a package)")
            )
        if sha256(row.signed_bundle).digest() != row.digest:
            raise CorruptStateError(f"fleet {fleet!r}: the stored digest does not match its bundle")
        chain = trusted_chain(self.trust_root, state)
        signed = verify_signed_bundle(row.signed_bundle, chain.root_at(row.index))
        payload = parse_payload(signed.payload)
        if payload.fleet_id != fleet or payload.epoch != row.epoch:
            raise CorruptStateError(
                f"fleet {fleet!r}: the stored bundle is fleet {payload.fleet_id!r} epoch "
                f"{payload.epoch}, not epoch {row.epoch}; the state was edited"
            )
        check_validity(payload, at, chain.effective.limits.clock_skew)
        return VerifiedKeys(
            fleet,
            row.epoch,
            payload.keys,
            payload.not_before,
            payload.not_after,
            row.digest,
            row.index,
        )
