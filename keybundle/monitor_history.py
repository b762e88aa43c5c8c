"""OPS §8.5: the monitor's history file (``history.jsonl``), what the auditor's report shows.

The state file (:mod:`keybundle.monitor_state`) keeps only what the next pass needs: each
fleet's head, the compact range. An auditor's report needs what happened over time: every
epoch of every fleet with its date, signers and key changes; rotations; misbehaviour; and
the log's size and checkpoint and witness freshness pass after pass. That is this file: one
canonical-JSON record a line (RFC 8785, as the state file), appended, never rewritten.

Bounded: ``pass`` records are written only when something changed since the last one (status,
log size, verified size, missing or stale witnesses) or :data:`HEARTBEAT_SECONDS` after it, so
a daemon polling every minute writes a few hundred a day; the file is rotated to
``history.1.jsonl`` when it would grow past :data:`MAX_HISTORY_BYTES`, so the two files never
hold more than twice that. Durable: records are appended (:func:`transparency_log.durable.
append`) before each save of the state, so the history never lags the state it describes;
after a crash, events re-reported from the last saved index appear twice, and a reader keeps
the last record of each ``(fleet, epoch, index)``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, Final

from transparency_log import durable

from .errors import CorruptStateError
from .evidence import canonical_json
from .history import KeyInfo

__all__ = [
    "HEARTBEAT_SECONDS",
    "HISTORY_FILE",
    "HISTORY_OLD_FILE",
    "MAX_HISTORY_BYTES",
    "MAX_HISTORY_LINE_BYTES",
    "RECORD_KINDS",
    "History",
    "read_history",
]

HISTORY_FILE: Final = "history.jsonl"
HISTORY_OLD_FILE: Final = "history.1.jsonl"
MAX_HISTORY_BYTES: Final = 32 << 20
"""Largest history file; the writer rotates before passing it, a reader refuses more (§11)."""
MAX_HISTORY_LINE_BYTES: Final = 1 << 20
"""Largest record; an epoch of MAX_KEYS keys stays well below it."""
HEARTBEAT_SECONDS: Final = 600
"""A ``pass`` record is written at least this often even when nothing changed."""
_FLUSH_BYTES: Final = 1 << 20
"""Buffered records appended early, during a long backfill, once they reach this size."""
_KEY_OBJECTS_CACHED: Final = 8192
"""How many fleet keys' JSON objects are remembered (a few hundred bytes each)."""
RECORD_KINDS: Final = frozenset({"pass", "epoch", "trust_root", "misbehaviour"})
"""The ``record`` member of each line (OPS §8.5)."""


@functools.lru_cache(maxsize=_KEY_OBJECTS_CACHED)
def _key_object(key: KeyInfo) -> str:
    """A fleet key of an ``epoch`` record, as canonical JSON (its members in name order).

    Remembered (a bounded LRU cache): a key is written when its fleet adds it and again
    when the fleet removes it, usually a few thousand records later in a backfill.
    """
    key_id, algorithm, usage, fingerprint = key
    string = encode_basestring  # the string encoder of canonical_json (ensure_ascii=False)
    return (
        f'{{"algorithm":{string(algorithm)},"fingerprint":{string(fingerprint)},'
        f'"id":{string(key_id)},"usage":{string(usage)}}}'
    )


def _corrupt(path: Path, line: int, why: str) -> CorruptStateError:
    return CorruptStateError(
        f"the monitor history {path} is corrupt at line {line}: {why}. Move the file aside "
        "(the monitor starts a new one; the report then shows only later passes)"
    )


class History:
    """Buffers records and appends them durably to the history file of a state directory.

    Not thread-safe; used under the state directory's lock (one writer).
    """

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self._dir = directory
        self._fsync = fsync
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._last_pass: Mapping[str, Any] | None = None

    def record(self, kind: str, time: int, fields: Mapping[str, Any]) -> None:
        """Buffer one record (``kind`` one of :data:`RECORD_KINDS`); :meth:`flush` writes it."""
        if kind not in RECORD_KINDS:
            raise ValueError(f"unknown history record kind {kind!r}")
        self._append(canonical_json({**fields, "record": kind, "time": time}))

    def record_epoch(
        self,
        time: int,
        event: Mapping[str, Any],
        added: Sequence[KeyInfo],
        removed: Sequence[KeyInfo],
        kept: int,
    ) -> None:
        """Buffer the ``epoch`` record of an ``epoch`` event (OPS §8.5): the event without its
        ``event`` member, ``kept`` as a count, its keys ``added`` and ``removed``.

        The same bytes as :meth:`record` with those fields (tests/keybundle/
        test_monitor_history.py compares both), written from the keys without building and
        sorting their JSON objects: a backfill writes one record per entry, and encoding it
        through the generic encoder was the monitor process's largest cost (issue 18).
        """
        fleet, epoch, index = event["fleet"], event["epoch"], event["index"]
        issued_at, digest, signers = event["issued_at"], event["digest"], event["signers"]
        if not (
            type(epoch) is int
            and type(index) is int
            and type(issued_at) is int
            and type(time) is int
            and type(kept) is int
            and type(fleet) is str
            and type(digest) is str
        ):  # anything unusual takes the generic encoder (same bytes, slower)
            fields = {k: v for k, v in event.items() if k not in ("event", "kept")}
            self.record("epoch", time, {**fields, "kept": kept})
            return
        string = encode_basestring
        line = (
            f'{{"added":[{",".join(map(_key_object, added))}],"digest":{string(digest)},'
            f'"epoch":{epoch},"fleet":{string(fleet)},"index":{index},'
            f'"issued_at":{issued_at},"kept":{kept},"record":"epoch",'
            f'"removed":[{",".join(map(_key_object, removed))}],'
            f'"signers":[{",".join(map(string, signers))}],"time":{time}}}\n'
        )
        self._append(line.encode("utf-8"))

    def _append(self, line: bytes) -> None:
        if len(line) > MAX_HISTORY_LINE_BYTES:
            raise ValueError(f"a history record of {len(line)} bytes is over the limit")
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= _FLUSH_BYTES:
            # Ahead of the state is harmless (a reader drops repeats); memory stays bounded.
            self.flush()

    def record_pass(self, time: int, fields: Mapping[str, Any]) -> None:
        """Buffer a ``pass`` record unless it repeats the last one within the heartbeat."""
        keys = ("status", "size", "verified_size", "missing_witnesses", "stale_witnesses")
        last = self._last_pass
        if (
            last is not None
            and all(last.get(k) == fields.get(k) for k in keys)
            and time - int(last["time"]) < HEARTBEAT_SECONDS
        ):
            return
        self._last_pass = {**fields, "time": time}
        self.record("pass", time, fields)

    def flush(self) -> None:
        """Append the buffered records (rotating the file first if it would grow too big)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / HISTORY_FILE
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > MAX_HISTORY_BYTES:
            os.replace(path, self._dir / HISTORY_OLD_FILE)
            if self._fsync:
                durable.fsync_directory(self._dir)
        durable.append(path, data, fsync=self._fsync)
        self._pending.clear()
        self._pending_bytes = 0


def _read_one(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_HISTORY_BYTES + 1)
    except FileNotFoundError:
        return []
    if len(data) > MAX_HISTORY_BYTES:
        raise CorruptStateError(f"the monitor history {path} is over {MAX_HISTORY_BYTES} bytes")
    lines = data.split(b"\n")
    # The last piece is empty, or a record being appended right now: not yet a record.
    out = []
    for number, line in enumerate(lines[:-1], 1):
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise _corrupt(path, number, f"not JSON ({e})") from None
        if not isinstance(obj, dict) or obj.get("record") not in RECORD_KINDS:
            raise _corrupt(path, number, "not a history record")
        if type(obj.get("time")) is not int or canonical_json(obj) != line + b"\n":
            raise _corrupt(path, number, "not in the canonical form the monitor writes")
        out.append(_upgrade(obj))
    return out


def _upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A record as this version writes it, from one an earlier version wrote (OPS §8.5).

    Before issue 13 the fleet keys of an ``epoch`` record named their id ``key_id``; they
    now name it ``id``, as every fleet key of the CLI's JSON does (CLI §10.1). A history
    file is never rewritten, so the reader renames, after the canonical-form check (which
    holds for the record as it was written).
    """
    if record["record"] != "epoch":
        return record
    for member in ("added", "removed"):
        keys = record.get(member)
        if isinstance(keys, list):
            record[member] = [
                {("id" if name == "key_id" else name): value for name, value in key.items()}
                if isinstance(key, dict)
                else key
                for key in keys
            ]
    return record


def read_history(directory: Path) -> list[dict[str, Any]]:
    """Every record of a state directory's history, oldest first (OPS §8.5).

    Strict: a line that is not a record exactly as :class:`History` writes it is a
    :class:`~keybundle.errors.CorruptStateError` naming the line; only an unterminated last
    line (an append in progress) is not read.
    """
    return _read_one(directory / HISTORY_OLD_FILE) + _read_one(directory / HISTORY_FILE)
