"""Client state (SPEC §7.2): what a client remembers between packages, as a cache.

Per fleet the highest accepted epoch, the digest of that signed bundle, the signed bundle
itself and its log index (so that the app can read its keys after a restart); the largest
verified checkpoint (as the signed note received, so it can serve as evidence); and the
trust-root rotations adopted since the pinned root, each with its log index. The state is a
cache, not a trust anchor: nothing in it widens trust by being there. The rotation chain is
re-verified from the pinned root on every load (:mod:`keybundle.trustchain`) and a stored
bundle is re-verified before its keys are handed out (:mod:`keybundle.embedded`).

The verifier never writes it: it returns a new value, and the caller persists it with
:class:`StateDir` only after an acceptance (SPEC §7.4).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from transparency_log import durable
from transparency_log._frozen import Frozen
from transparency_log.checkpoint import Checkpoint, parse_checkpoint
from transparency_log.errors import VerificationError
from transparency_log.hashing import sha256
from transparency_log.note import parse_unverified

from . import dcbor
from .errors import CorruptStateError
from .signed_trust_root import parse_unverified_signed_trust_root

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "LOCK_FILE",
    "MAX_STATE_BYTES",
    "MAX_STATE_DEPTH",
    "MAX_STATE_FLEETS",
    "MAX_STATE_ITEMS",
    "MAX_STATE_ROTATIONS",
    "STATE_FILE",
    "STATE_FORMAT_VERSION",
    "STATE_LOCK_TIMEOUT_SECONDS",
    "ClientState",
    "CorruptStateError",
    "FleetState",
    "StateDir",
    "StoredRotation",
    "parse_state",
]

STATE_FORMAT_VERSION: Final = 2
"""Field 1 of the state this code writes (SPEC §7.2). Version 1 is read and migrated."""
_LEGACY_FORMAT_VERSION: Final = 1
STATE_FILE: Final = "state.cbor"
"""The state's file name in its directory (SPEC §7.2)."""
LOCK_FILE: Final = "state.lock"
"""The lock file beside the state (``flock``; SPEC §7.4): writers serialize on it."""
MAX_STATE_BYTES: Final = 16 * 1024 * 1024
"""Largest state file read (SPEC §11)."""
MAX_STATE_FLEETS: Final = 65_536
"""Most fleets one state holds (SPEC §11): at about 250 bytes per small fleet entry (its
signed bundle included), the fleets of a full :data:`MAX_STATE_BYTES` file."""
MAX_STATE_ROTATIONS: Final = 64
"""Most trust-root rotations one state holds (SPEC §11): each is re-verified on every load,
so the chain is bounded; a client further than this past its pinned root needs an app
update that pins a newer root."""
MAX_STATE_DEPTH: Final = 3
"""CBOR nesting of a state (SPEC §11): map 0, fleets or rotations array 1, an entry 2, its
items 3."""
MAX_STATE_ITEMS: Final = 1 + 2 * 4 + 6 * MAX_STATE_FLEETS + 3 * MAX_STATE_ROTATIONS
"""CBOR data items of a state (SPEC §11): the map, its four keys and values, six items per
fleet entry (the array and its five items) and three per rotation."""
_DIGEST_SIZE: Final = 32
_MAX_INDEX: Final = 2**63 - 2
"""The largest leaf index of a tree of at most 2^63 - 1 leaves (SPEC §2.1)."""
STATE_LOCK_TIMEOUT_SECONDS: Final = 10
"""How long a writer waits for another process's state lock (SPEC §7.4, §11)."""


class FleetState(Frozen):
    """One fleet's accepted bundle (SPEC §7.2): its epoch, SHA-256 of the signed bundle, and
    the signed bundle with its log index.

    ``signed_bundle`` and ``index`` are None only for a fleet migrated from a version-1 state,
    which did not keep the bundle; the next acceptance of the fleet stores them.
    """

    epoch: int
    digest: bytes
    signed_bundle: bytes | None = None
    index: int | None = None

    def __init__(
        self,
        epoch: int,
        digest: bytes,
        signed_bundle: bytes | None = None,
        index: int | None = None,
    ) -> None:
        self._freeze(epoch=epoch, digest=digest, signed_bundle=signed_bundle, index=index)
        self.__post_init__()

    def __post_init__(self) -> None:
        if type(self.epoch) is not int or self.epoch < 1:
            raise ValueError(f"a fleet's epoch is an int >= 1, not {self.epoch!r}")
        if type(self.digest) is not bytes or len(self.digest) != _DIGEST_SIZE:
            raise ValueError(f"a fleet's digest is {_DIGEST_SIZE} bytes (SHA-256)")
        if (self.signed_bundle is None) != (self.index is None):
            raise ValueError("a fleet's signed bundle and index are both given or both None")
        if self.signed_bundle is not None:
            if type(self.signed_bundle) is not bytes or not self.signed_bundle:
                raise ValueError("a fleet's signed bundle is non-empty bytes")
            if type(self.index) is not int or not 0 <= self.index <= _MAX_INDEX:
                raise ValueError(f"a fleet's index is an int from 0 to {_MAX_INDEX}")
            if sha256(self.signed_bundle).digest() != self.digest:
                raise ValueError("a fleet's digest must be SHA-256 of its signed bundle")


class StoredRotation(Frozen):
    """A trust-root rotation the client adopted: the signed trust root and its log index."""

    signed_trust_root: bytes
    index: int

    def __init__(self, signed_trust_root: bytes, index: int) -> None:
        self._freeze(signed_trust_root=signed_trust_root, index=index)
        if type(signed_trust_root) is not bytes or not signed_trust_root:
            raise ValueError("a stored rotation's signed trust root is non-empty bytes")
        if type(index) is not int or not 0 <= index <= _MAX_INDEX:
            raise ValueError(f"a stored rotation's index is an int from 0 to {_MAX_INDEX}")


def _freeze(fleets: Mapping[str, FleetState]) -> Mapping[str, FleetState]:
    for fleet_id, entry in fleets.items():
        if type(fleet_id) is not str or type(entry) is not FleetState:
            raise TypeError("fleets maps fleet ids (str) to FleetState")
    return MappingProxyType(dict(sorted(fleets.items())))


_NO_FLEETS: Final[Mapping[str, FleetState]] = MappingProxyType({})


class ClientState(Frozen):
    """A client's state (SPEC §7.2). ``ClientState()`` is a fresh client. Immutable: the
    verifier returns a new one and never changes the one it was given.

    ``rotations`` is the adopted rotation chain in ascending versions, as stored; it is
    trusted only after :func:`keybundle.trustchain.trusted_chain` re-verified it from the
    pinned root. ``legacy_trust_root`` is field 4 of a version-1 state (one signed trust
    root, no index), kept only until the chain is re-verified (SPEC §7.2 migration); it is
    never written.
    """

    checkpoint_note: bytes | None = None
    fleets: Mapping[str, FleetState] = _NO_FLEETS
    rotations: tuple[StoredRotation, ...] = ()
    legacy_trust_root: bytes | None = None

    def __init__(
        self,
        checkpoint_note: bytes | None = None,
        fleets: Mapping[str, FleetState] = _NO_FLEETS,
        rotations: tuple[StoredRotation, ...] = (),
        legacy_trust_root: bytes | None = None,
    ) -> None:
        self._freeze(
            checkpoint_note=checkpoint_note,
            fleets=fleets,
            rotations=tuple(rotations),
            legacy_trust_root=legacy_trust_root,
        )
        self.__post_init__()

    def __post_init__(self) -> None:
        for name in ("checkpoint_note", "legacy_trust_root"):
            value = getattr(self, name)
            if value is not None and type(value) is not bytes:
                raise TypeError(f"ClientState.{name} must be bytes or None")
        if any(type(r) is not StoredRotation for r in self.rotations):
            raise TypeError("ClientState.rotations holds StoredRotation values")
        object.__setattr__(self, "fleets", _freeze(self.fleets))

    def checkpoint(self) -> Checkpoint | None:
        """The stored checkpoint's body, parsed (it was verified when it was stored)."""
        return self._checkpoint

    @cached_property
    def _checkpoint(self) -> Checkpoint | None:
        # Parsed once per state value: the verifier reads it for every package (SPEC §7.3
        # step 11), and parse_state has parsed it already to check it.
        if self.checkpoint_note is None:
            return None
        text, _ = parse_unverified(self.checkpoint_note)
        checkpoint: Checkpoint = parse_checkpoint(text)
        return checkpoint

    def encode(self) -> bytes:
        """The state's deterministic CBOR (SPEC §7.2), always in format version 2."""
        rows: list[dcbor.CborValue] = []
        for fid, fs in self.fleets.items():
            if fs.signed_bundle is None:
                rows.append([fid, fs.epoch, fs.digest])
            else:
                rows.append([fid, fs.epoch, fs.digest, fs.signed_bundle, fs.index])
        value: dict[int | str, dcbor.CborValue] = {1: STATE_FORMAT_VERSION, 3: rows}
        if self.checkpoint_note is not None:
            value[2] = self.checkpoint_note
        if self.rotations:
            value[4] = [[r.signed_trust_root, r.index] for r in self.rotations]
        return dcbor.encode(value)


def _uint_index(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX_INDEX


def _parse_fleets(rows: object, version: int) -> dict[str, FleetState]:
    if type(rows) is not list:
        raise CorruptStateError("state field 3 (fleets) must be an array")
    if len(rows) > MAX_STATE_FLEETS:
        raise CorruptStateError(f"the state holds {len(rows)} fleets; at most {MAX_STATE_FLEETS}")
    shape = (
        "[fleet_id, epoch >= 1, digest(32)]"
        if version == _LEGACY_FORMAT_VERSION
        else "[fleet_id, epoch >= 1, digest(32), signed_bundle, index] (or, migrated from "
        "version 1, its first three items)"
    )
    fleets: dict[str, FleetState] = {}
    previous: str | None = None
    for row in rows:
        lengths = (3,) if version == _LEGACY_FORMAT_VERSION else (3, 5)
        if (
            type(row) is not list
            or len(row) not in lengths
            or type(row[0]) is not str
            or type(row[1]) is not int
            or row[1] < 1
            or type(row[2]) is not bytes
            or len(row[2]) != _DIGEST_SIZE
        ):
            raise CorruptStateError(f"each fleet entry must be {shape}")
        if len(row) == 5:
            if type(row[3]) is not bytes or not row[3] or not _uint_index(row[4]):
                raise CorruptStateError(f"each fleet entry must be {shape}")
            if sha256(row[3]).digest() != row[2]:
                raise CorruptStateError(
                    f"fleet {row[0]!r}: the stored digest is not SHA-256 of the stored signed "
                    "bundle; the state was edited"
                )
        if previous is not None and row[0] <= previous:
            raise CorruptStateError("fleet entries must be sorted by fleet id, without repeats")
        previous = row[0]
        fleets[row[0]] = FleetState(row[1], row[2], *(row[3:5] if len(row) == 5 else ()))
    return fleets


def _parse_rotations(value: object) -> tuple[StoredRotation, ...]:
    if type(value) is not list or not value:
        raise CorruptStateError("state field 4 (rotations) must be a non-empty array")
    if len(value) > MAX_STATE_ROTATIONS:
        raise CorruptStateError(
            f"the state holds {len(value)} rotations; at most {MAX_STATE_ROTATIONS}"
        )
    out = []
    previous: int | None = None
    for row in value:
        if (
            type(row) is not list
            or len(row) != 2
            or type(row[0]) is not bytes
            or not row[0]
            or not _uint_index(row[1])
        ):
            raise CorruptStateError("each rotation must be [signed_trust_root, index]")
        try:
            version = parse_unverified_signed_trust_root(row[0]).root.version
        except VerificationError as e:
            raise CorruptStateError(f"a stored rotation does not parse: {e.message}") from e
        if previous is not None and version != previous + 1:
            raise CorruptStateError(
                f"stored rotations must be in ascending contiguous versions; version {version} "
                f"follows {previous}"
            )
        previous = version
        out.append(StoredRotation(row[0], row[1]))
    return tuple(out)


def parse_state(data: bytes) -> ClientState:
    """Parse a stored state strictly (SPEC §7.2); raise :class:`CorruptStateError` naming the
    problem.

    Reads format version 2 and version 1 (whose field 4, one signed trust root, becomes
    ``legacy_trust_root``, migrated when the chain is re-verified). Besides the map's shape,
    the stored checkpoint must parse as a signed note holding a checkpoint, each stored
    rotation as a signed trust root, and each stored digest must be SHA-256 of the stored
    signed bundle. No signature is checked here: :mod:`keybundle.trustchain` re-verifies the
    rotations from the pinned root, and a stored bundle is re-verified before use.
    """
    try:
        value = dcbor.decode(
            data, max_size=MAX_STATE_BYTES, max_depth=MAX_STATE_DEPTH, max_items=MAX_STATE_ITEMS
        )
    except VerificationError as e:
        raise CorruptStateError(f"the state is not valid deterministic CBOR: {e.message}") from e
    if type(value) is not dict or set(value) - {1, 2, 3, 4} or not {1, 3} <= set(value):
        raise CorruptStateError("the state is not a map with fields 1 and 3 (and optionally 2, 4)")
    version = value[1]
    if type(version) is not int or version not in (_LEGACY_FORMAT_VERSION, STATE_FORMAT_VERSION):
        raise CorruptStateError(
            f"unknown state format version {version!r}; this verifier reads versions "
            f"{_LEGACY_FORMAT_VERSION} and {STATE_FORMAT_VERSION}"
        )
    checkpoint_note = value.get(2)
    if checkpoint_note is not None and type(checkpoint_note) is not bytes:
        raise CorruptStateError("state field 2 (checkpoint) must be a byte string")
    fleets = _parse_fleets(value[3], version)
    rotations: tuple[StoredRotation, ...] = ()
    legacy: bytes | None = None
    if version == _LEGACY_FORMAT_VERSION:
        field4 = value.get(4)
        if field4 is not None:
            if type(field4) is not bytes:
                raise CorruptStateError("state field 4 (trust root) must be a byte string")
            legacy = field4
            try:
                parse_unverified_signed_trust_root(field4)
            except VerificationError as e:
                raise CorruptStateError(f"the stored trust root does not parse: {e.message}") from e
    elif 4 in value:
        rotations = _parse_rotations(value[4])
    state = ClientState(checkpoint_note, fleets, rotations, legacy)
    if checkpoint_note is not None:
        try:
            state.checkpoint()
        except VerificationError as e:
            raise CorruptStateError(f"the stored checkpoint does not parse: {e.message}") from e
    return state


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"


class StateDir:
    """A client state kept in a directory as ``state.cbor`` (SPEC §7.2).

    The directory must exist; an empty one is a fresh client. Saving writes a new temporary
    file (mode 0600), fsyncs it, renames it over ``state.cbor`` and fsyncs the directory, so
    a crash leaves either the old or the new state, never a torn one. A writer holds
    :meth:`lock` from load to save (SPEC §7.4), so that two processes verifying on one
    directory serialize and neither saves a state computed from one the other replaced:
    the state never moves backwards.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.directory: str = os.fspath(path)
        """The state directory, as given. Handled with ``os.path``, not ``pathlib``, which
        would cost a fresh ``keybundle verify`` the import of ``pathlib``, ``urllib.parse``
        and ``ipaddress`` (bench/bench_verify.py)."""
        self._last: tuple[bytes, ClientState] | None = None
        """The bytes last loaded and their parse: a client loads the same state over and over
        (each ``Client.accept`` and ``current_keys``), and parsing is a pure function of
        the bytes, so equal bytes give the same (immutable) state. The file is read every
        time; only the parse is skipped, never a change made by another process."""

    @property
    def path(self) -> Path:
        """The state directory as a :class:`pathlib.Path` (:attr:`directory` as a string)."""
        from pathlib import Path

        return Path(self.directory)

    @contextmanager
    def lock(self, timeout: float = STATE_LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """Hold the exclusive ``flock`` on ``state.lock`` (created, mode 0600) for the block.

        Waits up to ``timeout`` seconds for another holder, then raises ``TimeoutError``. The
        lock is released when the block ends or the process dies. Raises
        ``FileNotFoundError`` when the directory does not exist, ``NotADirectoryError`` when
        the path is not a directory.
        """
        self._require_directory()

        def refuse(holder: str) -> TimeoutError:
            return TimeoutError(
                f"another process (pid {holder}) holds the client state lock in "
                f"{self.directory!r} for more than {timeout} s"
            )

        fd = durable.lock(
            os.path.join(self.directory, LOCK_FILE), refuse, timeout=timeout, mode=0o600
        )
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def load(self) -> ClientState:
        """The stored state, or a fresh one if the directory holds none.

        Raises ``FileNotFoundError`` when the directory does not exist (a missing directory
        is not a fresh client: it may be a wrong path), ``NotADirectoryError`` when the path
        is not a directory, ``OSError`` when the file cannot be read and
        :class:`CorruptStateError` when it does not parse.
        """
        self._require_directory()
        file = os.path.join(self.directory, STATE_FILE)
        try:
            # Non-blocking, so that a FIFO (or a device) put at the state's path is refused
            # below instead of hanging the open until some writer appears (SPEC §7.2).
            fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return ClientState()
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(f"{file!r} is not a regular file ({_kind(mode)})")
            data = f.read(MAX_STATE_BYTES + 1)
        last = self._last
        if last is not None and last[0] == data:
            return last[1]
        state = parse_state(data)
        self._last = (data, state)
        return state

    def _require_directory(self) -> None:
        """``FileNotFoundError`` for a missing directory, ``NotADirectoryError`` for a path
        that is something else (a file given by mistake is not "missing")."""
        if os.path.isdir(self.directory):
            return
        if os.path.exists(self.directory):
            raise NotADirectoryError(f"state directory {self.directory!r} is not a directory")
        raise FileNotFoundError(f"state directory {self.directory!r} does not exist")

    def save(self, state: ClientState) -> None:
        """Replace the stored state atomically and durably (mode 0600), with
        :func:`transparency_log.durable.replace`: temporary file, flush, rename, directory
        flush, so a crash leaves the old state or the new one (SPEC §7.2, §7.4)."""
        durable.replace(os.path.join(self.directory, STATE_FILE), state.encode(), mode=0o600)
