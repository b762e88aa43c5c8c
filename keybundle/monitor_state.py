"""OPS §8.1: the monitor's state directory and its state file (``state.json``).

:class:`MonitorState` is what the monitor knows (the checkpoint checked, the target being
followed, the compact range, rotations and fleet heads); :func:`parse_state` reads only
exactly what :meth:`MonitorState.encode` writes; :class:`StateDir` locks the directory and
replaces its files durably (:mod:`transparency_log.durable`). The monitor itself is
:mod:`keybundle.monitor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from transparency_log import durable
from transparency_log.checkpoint import parse_checkpoint
from transparency_log.merkle import HASH_SIZE, CompactRange
from transparency_log.note import parse_unverified

from .errors import CorruptStateError, MonitorLockedError, VerificationError
from .evidence import canonical_json, encode_evidence
from .history import FleetHead, KeyInfo
from .monitor_history import History

__all__ = [
    "MAX_MONITOR_STATE_BYTES",
    "STATE_FORMAT",
    "CorruptStateError",
    "MonitorLockedError",
    "MonitorState",
    "StateDir",
    "parse_state",
]

STATE_FORMAT: Final = "keybundle-monitor-state/v1"
"""The ``format`` member of the monitor's state file (OPS §8.1)."""
MAX_MONITOR_STATE_BYTES: Final = 64 << 20
"""Largest monitor state file read (OPS §8.1, SPEC §11); not the client's ``MAX_STATE_BYTES``."""
STATE_FILE: Final = "state.json"
LOCK_FILE: Final = "lock"
EVIDENCE_DIR: Final = "evidence"
TILE_CACHE_DIR: Final = "tiles"
COSIGNED_FILE: Final = "cosigned-checkpoint"
WITNESS_DIR: Final = "witness"


@dataclass(frozen=True)
class MonitorState:
    """What the monitor knows (OPS §8.1): everything checked up to entry ``size``.

    ``checkpoint`` is the largest checkpoint all of whose entries were checked; ``target``,
    when set, the larger one being followed (signed, with quorum, and consistent). Then
    ``checkpoint.size <= size <= target.size``; otherwise ``size == checkpoint.size``.
    ``compact`` is the compact range of the first ``size`` leaves.
    """

    checkpoint: bytes | None = None
    target: bytes | None = None
    size: int = 0
    compact: tuple[bytes, ...] = ()
    rotations: tuple[tuple[int, bytes], ...] = ()
    """(index, signed trust root) of each rotation applied, in log order."""
    fleets: Mapping[str, FleetHead] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The state file: canonical JSON (RFC 8785) and one LF."""
        fleets = {
            name: {
                "epoch": h.epoch,
                "digest": h.digest.hex(),
                "index": h.index,
                "keys": [[k.key_id, k.algorithm, k.usage, k.fingerprint] for k in h.keys],
            }
            for name, h in self.fleets.items()
        }
        return canonical_json(
            {
                "format": STATE_FORMAT,
                "checkpoint": None if self.checkpoint is None else self.checkpoint.decode(),
                "target": None if self.target is None else self.target.decode(),
                "size": self.size,
                "compact": [base64.b64encode(h).decode() for h in self.compact],
                "rotations": [[i, base64.b64encode(r).decode()] for i, r in self.rotations],
                "fleets": fleets,
            }
        )


def _corrupt(message: str) -> CorruptStateError:
    return CorruptStateError(
        f"the monitor state is corrupt: {message}. Restore it from a backup or start a new "
        "state directory (a new one re-checks the whole log)"
    )


def parse_state(data: bytes) -> MonitorState:
    """Parse a state file; :class:`CorruptStateError` unless it is exactly what we write."""
    try:
        obj = json.loads(data.decode("utf-8"))
        checkpoint = obj["checkpoint"]
        target = obj["target"]
        size = obj["size"]
        compact = tuple(base64.b64decode(h, validate=True) for h in obj["compact"])
        rotations = tuple((int(i), base64.b64decode(r, validate=True)) for i, r in obj["rotations"])
        fleets = {
            str(name): FleetHead(
                int(h["epoch"]),
                bytes.fromhex(h["digest"]),
                int(h["index"]),
                tuple(KeyInfo(*map(str, k)) for k in h["keys"]),
            )
            for name, h in obj["fleets"].items()
        }
        state = MonitorState(
            None if checkpoint is None else checkpoint.encode(),
            None if target is None else target.encode(),
            size,
            compact,
            rotations,
            MappingProxyType(fleets),
        )
        if obj["format"] != STATE_FORMAT:
            raise _corrupt(f"format {obj['format']!r}, expected {STATE_FORMAT!r}")
    except CorruptStateError:
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise _corrupt(f"{type(e).__name__}: {e}") from None
    except binascii.Error as e:  # pragma: no cover - a ValueError subclass, kept explicit
        raise _corrupt(str(e)) from None
    if state.encode() != data:
        raise _corrupt("it is not in the canonical form the monitor writes")
    if type(size) is not int or size < 0 or any(len(h) != HASH_SIZE for h in compact):
        raise _corrupt("bad size or compact range")
    try:
        tree = CompactRange(size, compact)
        done = _unverified_size_root(state.checkpoint)
        target = _unverified_size_root(state.target)
    except (ValueError, VerificationError) as e:
        raise _corrupt(str(e)) from None
    # The invariants of MonitorState: the compact range is the checkpoint's tree when no
    # target is pending, and lies between the checkpoint and the target when one is.
    if target is None and done is not None and (size, tree.root()) != done:
        raise _corrupt(f"the compact range of size {size} is not the checkpoint's tree")
    if target is None and done is None and size != 0:
        raise _corrupt(f"size {size} without a checkpoint")
    if target is not None and not (done[0] if done else 0) <= size <= target[0]:
        raise _corrupt(f"size {size} is not between the checkpoint and the target")
    return state


def _unverified_size_root(note_bytes: bytes | None) -> tuple[int, bytes] | None:
    """Size and root of a checkpoint note the monitor itself stored (no signature check)."""
    if note_bytes is None:
        return None
    text, _ = parse_unverified(note_bytes)
    cp = parse_checkpoint(text)
    return cp.size, cp.root_hash


class StateDir:
    """The monitor's directory: ``state.json``, ``history.jsonl``, ``lock``, ``evidence/``,
    ``tiles/``, ``witness/``.

    :meth:`lock` takes an exclusive ``flock`` so that two monitors never share one state;
    :meth:`save` replaces the state atomically.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._lock_fd: int | None = None
        self.history = History(self.path, fsync=fsync)
        """The history file (OPS §8.5), flushed before every save of the state."""

    def lock(self) -> None:
        """Create the directory if needed and lock it (MonitorLockedError if held)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = durable.lock(self.path / LOCK_FILE, self._refuse)

    def _refuse(self, holder: str) -> MonitorLockedError:
        return MonitorLockedError(
            f"another monitor (pid {holder}) is using {self.path}; one monitor per state "
            "directory"
        )

    def unlock(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> MonitorState:
        """The saved state; a fresh one if there is none."""
        try:
            with open(self.path / STATE_FILE, "rb") as f:
                data = f.read(MAX_MONITOR_STATE_BYTES + 1)
        except FileNotFoundError:
            return MonitorState()
        if len(data) > MAX_MONITOR_STATE_BYTES:
            raise _corrupt(f"the file is over {MAX_MONITOR_STATE_BYTES} bytes")
        return parse_state(data)

    def save(self, state: MonitorState) -> None:
        """Replace the state atomically, after appending the history that led to it."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.history.flush()
        durable.replace(self.path / STATE_FILE, state.encode(), fsync=self._fsync)

    def write_evidence(self, evidence: Mapping[str, Any]) -> Path:
        """Write an evidence file, named by its kind, reason and the digest of its claim.

        The name ignores ``observed_at`` and ``message``, so that seeing the same
        misbehaviour again (after a crash, or on every pass) keeps one file.
        """
        claim = {k: v for k, v in evidence.items() if k not in ("observed_at", "message")}
        digest = hashlib.sha256(canonical_json(claim)).hexdigest()[:16]
        directory = self.path / EVIDENCE_DIR
        directory.mkdir(exist_ok=True)
        path = directory / f"{evidence['kind']}-{evidence['reason']}-{digest}.json"
        if not path.exists():
            durable.replace(path, encode_evidence(evidence), fsync=self._fsync)
        return path

    def write_cosigned(self, data: bytes) -> Path:
        """Write the checkpoint the monitor cosigned (witness mode)."""
        path = self.path / COSIGNED_FILE
        durable.replace(path, data, fsync=self._fsync)
        return path

    @property
    def witness_state(self) -> Path:
        """Where the monitor's witness keeps its state (OPS §6.4.3), in witness mode."""
        return self.path / WITNESS_DIR

    @property
    def tile_cache(self) -> Path:
        """Where authenticated full tiles above level 0 are kept."""
        return self.path / TILE_CACHE_DIR
