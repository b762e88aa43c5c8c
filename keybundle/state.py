"""Client state (SPEC §7.2): what a client remembers between packages.

Per fleet the highest accepted epoch and the digest of that signed bundle; the largest
verified checkpoint (as the signed note received, so it can serve as evidence); and the trust
root adopted by the last rotation. The verifier never writes it: it returns a new value, and
the caller persists it with :class:`StateDir` only after an acceptance (SPEC §7.4).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Final

from transparency_log._frozen import Frozen
from transparency_log.checkpoint import Checkpoint, parse_checkpoint
from transparency_log.errors import VerificationError
from transparency_log.note import parse_unverified

from . import dcbor
from .trustroot import parse_unverified_signed_trust_root

__all__ = [
    "MAX_STATE_BYTES",
    "STATE_FILE",
    "STATE_FORMAT_VERSION",
    "ClientState",
    "CorruptStateError",
    "FleetState",
    "StateDir",
    "parse_state",
]

STATE_FORMAT_VERSION: Final = 1
"""Field 1 of the state (SPEC §7.2); the only version this code reads."""
STATE_FILE: Final = "state.cbor"
"""The state's file name in its directory (SPEC §7.2)."""
MAX_STATE_BYTES: Final = 16 * 1024 * 1024
"""Largest state file read (SPEC §11): room for about 200,000 fleets."""
_MAX_STATE_ITEMS: Final = 1_000_000
_DIGEST_SIZE: Final = 32
_TEMPORARY_FLAGS: Final = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_TEMPORARY_ATTEMPTS: Final = 100


class CorruptStateError(Exception):
    """The stored state does not parse. Never reset silently: that would re-open the client
    to rollback (SPEC §7.2). The operator of the client must restore or re-provision it."""


class FleetState(Frozen):
    """The accepted epoch of one fleet and SHA-256 of that signed bundle (SPEC §7.2)."""

    epoch: int
    digest: bytes

    def __init__(self, epoch: int, digest: bytes) -> None:
        self._freeze(epoch=epoch, digest=digest)
        self.__post_init__()

    def __post_init__(self) -> None:
        if type(self.epoch) is not int or self.epoch < 1:
            raise ValueError(f"a fleet's epoch is an int >= 1, not {self.epoch!r}")
        if type(self.digest) is not bytes or len(self.digest) != _DIGEST_SIZE:
            raise ValueError(f"a fleet's digest is {_DIGEST_SIZE} bytes (SHA-256)")


def _freeze(fleets: Mapping[str, FleetState]) -> Mapping[str, FleetState]:
    for fleet_id, entry in fleets.items():
        if type(fleet_id) is not str or type(entry) is not FleetState:
            raise TypeError("fleets maps fleet ids (str) to FleetState")
    return MappingProxyType(dict(sorted(fleets.items())))


_NO_FLEETS: Final[Mapping[str, FleetState]] = MappingProxyType({})


class ClientState(Frozen):
    """A client's state (SPEC §7.2). ``ClientState()`` is a fresh client. Immutable: the
    verifier returns a new one and never changes the one it was given."""

    checkpoint_note: bytes | None = None
    fleets: Mapping[str, FleetState] = _NO_FLEETS
    trust_root: bytes | None = None

    def __init__(
        self,
        checkpoint_note: bytes | None = None,
        fleets: Mapping[str, FleetState] = _NO_FLEETS,
        trust_root: bytes | None = None,
    ) -> None:
        self._freeze(checkpoint_note=checkpoint_note, fleets=fleets, trust_root=trust_root)
        self.__post_init__()

    def __post_init__(self) -> None:
        for name in ("checkpoint_note", "trust_root"):
            value = getattr(self, name)
            if value is not None and type(value) is not bytes:
                raise TypeError(f"ClientState.{name} must be bytes or None")
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
        """The state's deterministic CBOR (SPEC §7.2)."""
        value: dict[int | str, dcbor.CborValue] = {
            1: STATE_FORMAT_VERSION,
            3: [[fid, fs.epoch, fs.digest] for fid, fs in self.fleets.items()],
        }
        if self.checkpoint_note is not None:
            value[2] = self.checkpoint_note
        if self.trust_root is not None:
            value[4] = self.trust_root
        return dcbor.encode(value)


def parse_state(data: bytes) -> ClientState:
    """Parse a stored state strictly (SPEC §7.2); raise :class:`CorruptStateError` naming the
    problem.

    Besides the map's shape, the stored checkpoint must parse as a signed note holding a
    checkpoint, and the stored trust root as a signed trust root: the verifier relies on both.
    """
    try:
        value = dcbor.decode(data, max_size=MAX_STATE_BYTES, max_items=_MAX_STATE_ITEMS)
    except VerificationError as e:
        raise CorruptStateError(f"the state is not valid deterministic CBOR: {e.message}") from e
    if type(value) is not dict or set(value) - {1, 2, 3, 4} or not {1, 3} <= set(value):
        raise CorruptStateError("the state is not a map with fields 1 and 3 (and optionally 2, 4)")
    if type(value[1]) is not int or value[1] != STATE_FORMAT_VERSION:
        raise CorruptStateError(
            f"unknown state format version {value[1]!r}; this verifier reads version "
            f"{STATE_FORMAT_VERSION}"
        )
    checkpoint_note = value.get(2)
    trust_root = value.get(4)
    if checkpoint_note is not None and type(checkpoint_note) is not bytes:
        raise CorruptStateError("state field 2 (checkpoint) must be a byte string")
    if trust_root is not None and type(trust_root) is not bytes:
        raise CorruptStateError("state field 4 (trust root) must be a byte string")
    rows = value[3]
    if type(rows) is not list:
        raise CorruptStateError("state field 3 (fleets) must be an array")
    fleets: dict[str, FleetState] = {}
    previous: str | None = None
    for row in rows:
        if (
            type(row) is not list
            or len(row) != 3
            or type(row[0]) is not str
            or type(row[1]) is not int
            or row[1] < 1
            or type(row[2]) is not bytes
            or len(row[2]) != _DIGEST_SIZE
        ):
            raise CorruptStateError("each fleet entry must be [fleet_id, epoch >= 1, digest(32)]")
        if previous is not None and row[0] <= previous:
            raise CorruptStateError("fleet entries must be sorted by fleet id, without repeats")
        previous = row[0]
        fleets[row[0]] = FleetState(row[1], row[2])
    state = ClientState(checkpoint_note, fleets, trust_root)
    if checkpoint_note is not None:
        try:
            state.checkpoint()
        except VerificationError as e:
            raise CorruptStateError(f"the stored checkpoint does not parse: {e.message}") from e
    if trust_root is not None:
        try:
            parse_unverified_signed_trust_root(trust_root)
        except VerificationError as e:
            raise CorruptStateError(f"the stored trust root does not parse: {e.message}") from e
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
    a crash leaves either the old or the new state, never a torn one. Two processes saving
    at once each write their own temporary file; the last rename wins whole.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> ClientState:
        """The stored state, or a fresh one if the directory holds none.

        Raises ``FileNotFoundError`` when the directory does not exist (a missing directory
        is not a fresh client: it may be a wrong path), ``OSError`` when the file cannot be
        read and :class:`CorruptStateError` when it does not parse.
        """
        if not self.path.is_dir():
            raise FileNotFoundError(f"state directory {str(self.path)!r} does not exist")
        file = self.path / STATE_FILE
        try:
            # Non-blocking, so that a FIFO (or a device) put at the state's path is refused
            # below instead of hanging the open until some writer appears (SPEC §7.2).
            fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return ClientState()
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(f"{str(file)!r} is not a regular file ({_kind(mode)})")
            data = f.read(MAX_STATE_BYTES + 1)
        return parse_state(data)

    def save(self, state: ClientState) -> None:
        """Replace the stored state atomically and durably."""
        data = state.encode()
        fd, tmp = self._create_temporary()
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path / STATE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dfd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _create_temporary(self) -> tuple[int, str]:
        """A new file ``.state.cbor.<random>.tmp``, mode 0600, opened for writing.

        What ``tempfile.mkstemp`` does (exclusive creation, no symlink followed, a fresh
        random name on a collision), without importing ``tempfile`` and ``random`` into a
        fresh ``keybundle verify``.
        """
        for _ in range(_TEMPORARY_ATTEMPTS):
            tmp = os.path.join(self.path, f".{STATE_FILE}.{os.urandom(6).hex()}.tmp")
            try:
                return os.open(tmp, _TEMPORARY_FLAGS, 0o600), tmp
            except FileExistsError:
                continue
        raise FileExistsError(f"no unused temporary file name in {str(self.path)!r}")
