"""SPEC §8.4 evidence files: self-contained, offline re-checkable proof of a log's misbehaviour.

When the auditor (:mod:`keybundle.monitor`) sees misbehaviour it writes an *evidence file*:
one canonical JSON object (RFC 8785 JCS, then one LF) that carries every signed object and
every hash a third party needs to reach the same conclusion with nothing but the trust root
(SPEC §8.4). :func:`verify_evidence` is that third party: it trusts nothing in the file, redoes
every check, and returns a :class:`Finding` only when the file really shows what it claims.

Four kinds (SPEC §8.4.2):

- ``split_view``: two checkpoints signed by the log, same size, different roots.
- ``inconsistent_checkpoints``: two signed checkpoints of sizes S < s, and the S-leaf prefix
  of the larger tree (its compact range plus a consistency proof to the larger root), whose
  root is not the smaller checkpoint's root. The log rewrote history (or forked).
- ``entries``: entries of the log, each range proven under a signed checkpoint, that break the
  log's admission rules (SPEC §6.3, as replayed by §8.2): an entry that is neither a valid
  signed bundle nor a valid trust-root rotation, two bundles for one fleet epoch, a rollback,
  a broken chain, an epoch gap (a contiguous range, so that the absence of the missing epoch
  is shown too), or a key that is not on the auditor's allow-list.
- ``tile_mismatch``: the resources a log served for one read, which do not authenticate
  against its signed checkpoint. Tiles carry no signature, so this kind records what the
  server sent (anyone could write such a file); the other kinds are proofs.

The replay rules of SPEC §8.2 (:func:`~keybundle.history.judge_bundle`,
:class:`~keybundle.history.FleetHistory`) are :mod:`keybundle.history`, shared by the monitor
that writes evidence and this verifier that checks it, so both judge entries with one piece of
code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final, NoReturn

from transparency_log.checkpoint import VerifiedCheckpoint, verify_checkpoint
from transparency_log.entry_bundle import MAX_ENTRY_SIZE
from transparency_log.errors import LogReason
from transparency_log.fetcher import NotFoundError, validate_fetch_path
from transparency_log.merkle import HASH_SIZE, CompactRange, leaf_hash
from transparency_log.note import MAX_NOTE_BYTES
from transparency_log.proof import verify_consistency
from transparency_log.tile import parse_tile_path
from transparency_log.tlog_client import LogClient

from .errors import Reason, VerificationError
from .history import BundleInfo, FleetHistory, is_rotation, judge_bundle
from .signed_trust_root import verify_rotation
from .trustroot import TrustRoot

__all__ = [
    "ENTRY_REASONS",
    "EVIDENCE_FORMAT",
    "HISTORY_REASONS",
    "KINDS",
    "MAX_EVIDENCE_BYTES",
    "MAX_EVIDENCE_ENTRIES",
    "MAX_EVIDENCE_RESOURCES",
    "EntryRange",
    "Finding",
    "canonical_json",
    "encode_evidence",
    "entries_evidence",
    "inconsistency_evidence",
    "parse_unverified_evidence",
    "split_view_evidence",
    "tile_evidence",
    "verify_evidence",
]

EVIDENCE_FORMAT: Final = "keybundle-evidence/v1"
"""The ``format`` member of every evidence file (SPEC §8.4)."""
MAX_EVIDENCE_BYTES: Final = 64 << 20
"""Largest evidence file read or written, in bytes (SPEC §11)."""
MAX_EVIDENCE_ENTRIES: Final = 65_536
"""Most log entries one evidence file carries, all ranges together (SPEC §11)."""
MAX_EVIDENCE_RESOURCES: Final = 1_024
"""Most served resources one ``tile_mismatch`` file carries (SPEC §11)."""

KINDS: Final = ("split_view", "inconsistent_checkpoints", "entries", "tile_mismatch")
"""The evidence kinds of SPEC §8.4.2."""

HISTORY_REASONS: Final = frozenset(
    {Reason.EPOCH_CONFLICT, Reason.ROLLBACK, Reason.BROKEN_CHAIN, Reason.EPOCH_GAP}
)
"""Fleet-history claims of ``entries`` evidence (SPEC §6.3 rule 1.3, §8.2)."""

ENTRY_REASONS: Final = frozenset(
    {
        Reason.MALFORMED_COSE,
        Reason.UNKNOWN_KEY,
        Reason.ALG_MISMATCH,
        Reason.BAD_INDEPENDENT_SIGNATURE,
        Reason.INDEPENDENT_THRESHOLD_NOT_MET,
        Reason.BAD_COUNTERSIGNATURE,
        Reason.COUNTERSIGNATURE_THRESHOLD_NOT_MET,
        Reason.MALFORMED_CBOR,
        Reason.MALFORMED_BUNDLE,
        Reason.INVALID_FLEET_KEY,
        Reason.MALFORMED_TRUST_ROOT,
        Reason.TRUST_ROOT_VERSION,
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    }
)
"""Codes of an entry the log must not hold at all (SPEC §6.3 rules 1.1, 1.2 and 2)."""

_MAX_INT: Final = 2**63 - 1
_QUOTE: Final = 80


# --- canonical JSON (RFC 8785) -------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """RFC 8785 JCS of ``value`` (integers, strings, lists, dicts, bools, None), then LF.

    For our values (no floats, ASCII member names) JCS is: members sorted by name, no
    whitespace, strings as UTF-8 with only ``"``, ``\\`` and U+0000..U+001F escaped (``\\b``
    ``\\t`` ``\\n`` ``\\f`` ``\\r`` short, the rest ``\\u00xx``): exactly Python's
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
    """
    return (_CANONICAL.encode(value) + "\n").encode("utf-8")


_CANONICAL: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
"""The encoder of :func:`canonical_json`, made once: the monitor writes a record per epoch of a
backfill, and ``json.dumps`` with options builds an encoder per call. ``encode`` keeps no
state between calls."""


def _malformed(message: str) -> NoReturn:
    raise VerificationError(Reason.MALFORMED_EVIDENCE, message)


def _unfounded(message: str) -> NoReturn:
    raise VerificationError(Reason.UNFOUNDED_EVIDENCE, message)


def _reject_float(text: str) -> NoReturn:
    _malformed(f"the evidence holds the number {text[:_QUOTE]}; only integers are allowed")


def _reject_constant(text: str) -> NoReturn:
    _malformed(f"the evidence holds {text}, which is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            _malformed(f"the member {key[:_QUOTE]!r} appears twice in one object")
        out[key] = value
    return out


def parse_unverified_evidence(data: bytes) -> dict[str, Any]:
    """Parse an evidence file's JSON strictly (SPEC §8.4.1); shape of the envelope only.

    The bytes must be at most :data:`MAX_EVIDENCE_BYTES`, UTF-8, one JSON object with no
    duplicate member, no float, and exactly the canonical encoding (:func:`canonical_json`):
    anything else is MALFORMED_EVIDENCE. Nothing is verified here.
    """
    if type(data) is not bytes:
        raise TypeError(f"evidence is bytes, not {type(data).__name__}")
    if len(data) > MAX_EVIDENCE_BYTES:
        _malformed(f"the file is {len(data)} bytes; evidence is at most {MAX_EVIDENCE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        _malformed(f"the file is not UTF-8 (byte {e.start}: {e.reason})")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as e:
        _malformed(f"the file is not JSON: {e.msg} (line {e.lineno}, column {e.colno})")
    except RecursionError:
        _malformed("the JSON is nested too deeply")
    if type(value) is not dict:
        _malformed("evidence is one JSON object")
    try:
        canonical = canonical_json(value)
    except (ValueError, UnicodeEncodeError):
        _malformed("the evidence holds a string that is not valid Unicode")
    if canonical != data:
        _malformed(
            "the file is not in canonical form (RFC 8785: sorted members, no whitespace, one "
            "final LF); it was edited or written by another tool"
        )
    if value.get("format") != EVIDENCE_FORMAT:
        _malformed(f"the format member must be {EVIDENCE_FORMAT!r}")
    kind = value.get("kind")
    if kind not in KINDS:
        _malformed(f"the kind {str(kind)[:_QUOTE]!r} is not one of {', '.join(KINDS)}")
    return value


def encode_evidence(evidence: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an evidence object built by one of the ``*_evidence`` helpers."""
    data = canonical_json(dict(evidence))
    if len(data) > MAX_EVIDENCE_BYTES:
        raise ValueError(f"the evidence would be {len(data)} bytes, over {MAX_EVIDENCE_BYTES}")
    return data


# --- field readers -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _get(obj: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in obj:
        _malformed(f"{where} has no {name!r} member")
    value = obj[name]
    if kind is int:
        if type(value) is not int or not 0 <= value <= _MAX_INT:
            _malformed(f"{where}.{name} must be an integer in 0..2^63-1")
    elif type(value) is not kind:
        _malformed(f"{where}.{name} must be a JSON {kind.__name__}")
    return value


def _exact(obj: Mapping[str, Any], names: Iterable[str], where: str) -> None:
    extra = sorted(set(obj) - set(names))
    if extra:
        _malformed(f"{where} has unknown member(s) {', '.join(extra)[:200]}")


def _bytes(
    value: object, where: str, *, size: int | None = None, limit: int | None = None
) -> bytes:
    if type(value) is not str:
        _malformed(f"{where} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _malformed(f"{where} is not base64")
    if _b64(raw) != value:
        _malformed(f"{where} is not canonical base64 (RFC 4648 §4, padded)")
    if size is not None and len(raw) != size:
        _malformed(f"{where} must decode to {size} bytes, not {len(raw)}")
    if limit is not None and len(raw) > limit:
        _malformed(f"{where} decodes to {len(raw)} bytes, over {limit}")
    return raw


def _hashes(value: object, where: str) -> list[bytes]:
    if type(value) is not list or len(value) > 64:
        _malformed(f"{where} must be an array of at most 64 base64 hashes")
    return [_bytes(h, f"{where}[{i}]", size=HASH_SIZE) for i, h in enumerate(value)]


def _note(value: object, where: str) -> bytes:
    if type(value) is not str:
        _malformed(f"{where} must be the signed checkpoint note as a string")
    data = value.encode("utf-8")
    if len(data) > MAX_NOTE_BYTES:
        _malformed(f"{where} is {len(data)} bytes, over {MAX_NOTE_BYTES}")
    return data


def _envelope(
    kind: str, reason: str, origin: str, observed_at: int, message: str
) -> dict[str, Any]:
    return {
        "format": EVIDENCE_FORMAT,
        "kind": kind,
        "reason": str(reason),
        "origin": origin,
        "observed_at": observed_at,
        "message": message,
    }


_ENVELOPE = ("format", "kind", "reason", "origin", "observed_at", "message")


# --- the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Misbehaviour that an evidence file shows (returned by :func:`verify_evidence`)."""

    kind: str
    """One of :data:`KINDS`."""
    reason: str
    """The SPEC §9 code of the claim, e.g. INCONSISTENT_CHECKPOINT or EPOCH_GAP."""
    origin: str
    """The log's origin."""
    message: str
    """What the recomputation showed, as a sentence."""
    index: int | None = None
    """The log entry the claim is about (``entries`` evidence), else None."""
    sizes: tuple[int, ...] = ()
    """The sizes of the signed checkpoints involved."""
    proven: bool = True
    """False for ``tile_mismatch``: it shows what was served, not what the log signed."""


# --- building evidence ---------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRange:
    """Consecutive log entries ``start..start+len(entries)-1`` proven under one checkpoint.

    ``left`` is the compact range of the first ``start`` leaves (one hash per set bit of
    ``start``, largest subtree first); ``right`` the RFC 9162 consistency proof from
    ``start + len(entries)`` to the checkpoint's size. The root of ``left`` extended with the
    entries' leaf hashes, proven consistent by ``right`` with the signed root, pins each entry
    at its index (SPEC §8.4.3).
    """

    start: int
    entries: tuple[bytes, ...]
    left: tuple[bytes, ...]
    right: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of SPEC §8.4.3."""
        return {
            "start": self.start,
            "entries": [_b64(e) for e in self.entries],
            "left": [_b64(h) for h in self.left],
            "right": [_b64(h) for h in self.right],
        }


def split_view_evidence(
    first: bytes, second: bytes, *, origin: str, observed_at: int, message: str
) -> dict[str, Any]:
    """Evidence that the log signed two checkpoints of one size with different roots."""
    out = _envelope("split_view", Reason.INCONSISTENT_CHECKPOINT, origin, observed_at, message)
    out["checkpoints"] = [first.decode("utf-8"), second.decode("utf-8")]
    return out


def inconsistency_evidence(
    old: bytes,
    new: bytes,
    prefix: Sequence[bytes],
    proof: Sequence[bytes],
    *,
    origin: str,
    observed_at: int,
    message: str,
) -> dict[str, Any]:
    """Evidence that checkpoint ``new`` does not extend the smaller checkpoint ``old``.

    ``prefix`` is the compact range of ``old``'s size in ``new``'s tree and ``proof`` the
    consistency proof from that size to ``new``, both read from tiles authenticated
    against ``new``'s root.
    """
    out = _envelope(
        "inconsistent_checkpoints", LogReason.BAD_CONSISTENCY_PROOF, origin, observed_at, message
    )
    out["old_checkpoint"] = old.decode("utf-8")
    out["new_checkpoint"] = new.decode("utf-8")
    out["prefix"] = [_b64(h) for h in prefix]
    out["consistency_proof"] = [_b64(h) for h in proof]
    return out


def entries_evidence(
    checkpoint: bytes,
    ranges: Sequence[EntryRange],
    *,
    reason: str,
    index: int,
    related: int | None,
    fingerprints: Sequence[str] = (),
    origin: str,
    observed_at: int,
    message: str,
) -> dict[str, Any]:
    """Evidence that entry ``index`` breaks SPEC §8.2 (see the module doc)."""
    out = _envelope("entries", reason, origin, observed_at, message)
    out["checkpoint"] = checkpoint.decode("utf-8")
    out["ranges"] = [r.to_json() for r in sorted(ranges, key=lambda r: r.start)]
    out["index"] = index
    out["related"] = related
    out["fingerprints"] = sorted(fingerprints)
    return out


def tile_evidence(
    checkpoint: bytes,
    operation: Mapping[str, int],
    resources: Mapping[str, bytes],
    *,
    origin: str,
    observed_at: int,
    message: str,
) -> dict[str, Any]:
    """Evidence that what the log served for ``operation`` does not match its checkpoint.

    ``operation`` is ``{"start": a, "stop": b}`` (reading entries a..b-1) or
    ``{"old_size": n}`` (the consistency proof from n); ``resources`` every path fetched for
    it, with the bytes the server sent.
    """
    out = _envelope("tile_mismatch", LogReason.MALFORMED_TILE, origin, observed_at, message)
    out["checkpoint"] = checkpoint.decode("utf-8")
    out["operation"] = dict(operation)
    out["resources"] = {p: _b64(d) for p, d in sorted(resources.items())}
    return out


# --- verification --------------------------------------------------------------------------


def _verify_note(note_bytes: bytes, root: TrustRoot) -> VerifiedCheckpoint:
    """The log's signature on a checkpoint (SPEC §2.6), under the trust root's log."""
    log = root.log
    return verify_checkpoint(note_bytes, log.verifier(), origin=log.origin)


def _check_origin(evidence: Mapping[str, Any], root: TrustRoot) -> str:
    origin = str(_get(evidence, "origin", str, "evidence"))
    if origin != root.log.origin:
        raise VerificationError(
            LogReason.WRONG_ORIGIN,
            f"the evidence is about log {origin[:_QUOTE]!r}, but the trust root's log is "
            f"{root.log.origin!r}; verify it with the trust root of that log",
        )
    return origin


def verify_evidence(data: bytes, trust_root: TrustRoot) -> Finding:
    """Re-check an evidence file offline (SPEC §8.4); return what it shows, or raise.

    ``trust_root`` is the root the auditor was started with (``--trust-root``): checkpoints
    are verified under its log key and origin, and ``entries`` evidence applies the trust-root
    rotations it carries from it. Rejections: MALFORMED_EVIDENCE (not the format),
    WRONG_ORIGIN, the note codes of SPEC §2.6 (a checkpoint the log did not sign), and
    UNFOUNDED_EVIDENCE (well formed and signed, but the objects do not show the claim:
    e.g. a tampered entry, hash or root).
    """
    if not isinstance(trust_root, TrustRoot):
        raise TypeError("trust_root must be a keybundle.trustroot.TrustRoot")
    evidence = parse_unverified_evidence(data)
    kind = evidence["kind"]
    for name in ("reason", "message"):
        _get(evidence, name, str, "evidence")
    _get(evidence, "observed_at", int, "evidence")
    origin = _check_origin(evidence, trust_root)
    if kind == "split_view":
        return _verify_split_view(evidence, trust_root, origin)
    if kind == "inconsistent_checkpoints":
        return _verify_inconsistency(evidence, trust_root, origin)
    if kind == "entries":
        return _verify_entries(evidence, trust_root, origin)
    return _verify_tiles(evidence, trust_root, origin)


def _verify_split_view(ev: Mapping[str, Any], root: TrustRoot, origin: str) -> Finding:
    _exact(ev, (*_ENVELOPE, "checkpoints"), "evidence")
    if ev["reason"] != Reason.INCONSISTENT_CHECKPOINT:
        _malformed("split_view evidence has reason INCONSISTENT_CHECKPOINT")
    notes = _get(ev, "checkpoints", list, "evidence")
    if len(notes) != 2:
        _malformed("split_view evidence holds exactly two checkpoints")
    first, second = _note(notes[0], "checkpoints[0]"), _note(notes[1], "checkpoints[1]")
    a = _verify_note(first, root).checkpoint
    b = _verify_note(second, root).checkpoint
    if a.size != b.size:
        _unfounded(f"the checkpoints have sizes {a.size} and {b.size}; a split view is one size")
    if a.root_hash == b.root_hash:
        _unfounded(f"both checkpoints of size {a.size} have the same root: no split view")
    return Finding(
        "split_view",
        Reason.INCONSISTENT_CHECKPOINT,
        origin,
        f"the log signed two checkpoints of size {a.size} with different roots "
        f"{a.root_hash.hex()} and {b.root_hash.hex()}: a split view",
        sizes=(a.size, b.size),
    )


def _verify_inconsistency(ev: Mapping[str, Any], root: TrustRoot, origin: str) -> Finding:
    _exact(ev, (*_ENVELOPE, "old_checkpoint", "new_checkpoint", "prefix", "consistency_proof"),
           "evidence")  # fmt: skip
    if ev["reason"] != LogReason.BAD_CONSISTENCY_PROOF:
        _malformed("inconsistent_checkpoints evidence has reason BAD_CONSISTENCY_PROOF")
    # The whole format before any checkpoint (SPEC §8.4.3).
    old_note = _note(ev.get("old_checkpoint"), "old_checkpoint")
    new_note = _note(ev.get("new_checkpoint"), "new_checkpoint")
    prefix = _hashes(ev.get("prefix"), "prefix")
    proof = _hashes(ev.get("consistency_proof"), "consistency_proof")
    old = _verify_note(old_note, root).checkpoint
    new = _verify_note(new_note, root).checkpoint
    if not 0 < old.size < new.size:
        _unfounded(
            f"the old checkpoint has size {old.size} and the new one {new.size}; this kind "
            "needs 0 < old size < new size"
        )
    try:
        claimed = CompactRange(old.size, prefix).root()
    except ValueError as e:
        _unfounded(f"the prefix is not the compact range of size {old.size}: {e}")
    try:
        verify_consistency(old.size, new.size, proof, claimed, new.root_hash)
    except VerificationError as e:
        _unfounded(
            f"the prefix and proof do not lead to the new checkpoint's root ({e.reason}: "
            f"{e.message})"
        )
    if claimed == old.root_hash:
        _unfounded(
            f"the new tree's first {old.size} leaves have the old checkpoint's root: the "
            "checkpoints are consistent"
        )
    return Finding(
        "inconsistent_checkpoints",
        LogReason.BAD_CONSISTENCY_PROOF,
        origin,
        f"the log signed a tree of size {old.size} with root {old.root_hash.hex()} and a tree "
        f"of size {new.size} whose first {old.size} leaves have root {claimed.hex()}: the log "
        "changed entries it had published (a fork)",
        sizes=(old.size, new.size),
    )


def _parse_range(value: object, where: str) -> EntryRange:
    if type(value) is not dict:
        _malformed(f"{where} must be an object")
    _exact(value, ("start", "entries", "left", "right"), where)
    start = _get(value, "start", int, where)
    raw = _get(value, "entries", list, where)
    if not 1 <= len(raw) <= MAX_EVIDENCE_ENTRIES:
        _malformed(f"{where}.entries holds 1 to {MAX_EVIDENCE_ENTRIES} entries")
    entries = tuple(
        _bytes(e, f"{where}.entries[{i}]", limit=MAX_ENTRY_SIZE) for i, e in enumerate(raw)
    )
    left = tuple(_hashes(value.get("left"), f"{where}.left"))
    right = tuple(_hashes(value.get("right"), f"{where}.right"))
    return EntryRange(start, entries, left, right)


def _prove_range(r: EntryRange, size: int, root_hash: bytes, where: str) -> None:
    end = r.start + len(r.entries)
    if end > size:
        _unfounded(f"{where} ends at entry {end - 1}, beyond the checkpoint's size {size}")
    try:
        tree = CompactRange(r.start, r.left)
    except ValueError as e:
        _unfounded(f"{where}.left is not the compact range of size {r.start}: {e}")
    for entry in r.entries:
        tree.append(leaf_hash(entry))
    try:
        verify_consistency(end, size, r.right, tree.root(), root_hash)
    except VerificationError as e:
        _unfounded(
            f"{where} is not entries {r.start}..{end - 1} of the signed tree (its proof fails: "
            f"{e.message})"
        )


class _Replay:
    """The proven entries, and the trust root in force at each index (rotations applied)."""

    def __init__(self, entries: Mapping[int, bytes], pinned: TrustRoot) -> None:
        self.entries = entries
        self._roots: list[tuple[int, TrustRoot]] = [(-1, pinned)]
        root = pinned
        for index in sorted(entries):
            entry = entries[index]
            if not is_rotation(entry):
                continue
            try:
                nxt = verify_rotation(root, entry)
            except VerificationError:
                continue  # not admitted: judged as an entry if the claim is about it
            root = nxt
            self._roots.append((index, root))

    def root_at(self, index: int) -> TrustRoot:
        """The trust root in force for entry ``index``: after rotations at lower indices."""
        found = self._roots[0][1]
        for at, root in self._roots:
            if at < index:
                found = root
        return found

    def bundle(self, index: int, what: str) -> BundleInfo:
        entry = self.entries.get(index)
        if entry is None:
            _unfounded(f"the evidence does not carry the {what} (entry {index})")
        try:
            return judge_bundle(entry, self.root_at(index))
        except VerificationError as e:
            _unfounded(f"the {what} (entry {index}) is not a valid bundle: {e.reason}: {e.message}")


def _verify_entries(ev: Mapping[str, Any], root: TrustRoot, origin: str) -> Finding:
    _exact(ev, (*_ENVELOPE, "checkpoint", "ranges", "index", "related", "fingerprints"),
           "evidence")  # fmt: skip
    reason = ev["reason"]
    if reason not in HISTORY_REASONS | ENTRY_REASONS | {Reason.UNEXPECTED_KEY}:
        _malformed(f"entries evidence cannot claim {reason[:_QUOTE]!r}")
    index = _get(ev, "index", int, "evidence")
    related = ev.get("related")
    if related is not None and (type(related) is not int or not 0 <= related < index):
        _malformed("evidence.related must be null or an entry index below evidence.index")
    raw_fps = _get(ev, "fingerprints", list, "evidence")
    if any(type(f) is not str for f in raw_fps) or raw_fps != sorted(set(raw_fps)):
        _malformed("evidence.fingerprints must be sorted distinct strings")
    if raw_fps and reason != Reason.UNEXPECTED_KEY:
        _malformed("evidence.fingerprints is empty unless the claim is UNEXPECTED_KEY")
    raw_ranges = _get(ev, "ranges", list, "evidence")
    if not raw_ranges:
        _malformed("entries evidence carries at least one range")
    ranges = [_parse_range(r, f"ranges[{i}]") for i, r in enumerate(raw_ranges)]
    if sum(len(r.entries) for r in ranges) > MAX_EVIDENCE_ENTRIES:
        _malformed(f"the ranges hold more than {MAX_EVIDENCE_ENTRIES} entries")
    for a, b in pairwise(ranges):
        if b.start < a.start + len(a.entries):
            _malformed("the ranges must be sorted by start and must not overlap")
    cp = _verify_note(_note(ev.get("checkpoint"), "checkpoint"), root).checkpoint
    entries: dict[int, bytes] = {}
    for i, r in enumerate(ranges):
        _prove_range(r, cp.size, cp.root_hash, f"ranges[{i}]")
        for offset, entry in enumerate(r.entries):
            entries[r.start + offset] = entry
    replay = _Replay(entries, root)
    if index not in entries:
        _unfounded(f"the evidence does not carry entry {index}, which its claim is about")
    entry = entries[index]

    def found(message: str) -> Finding:
        return Finding("entries", reason, origin, message, index=index, sizes=(cp.size,))

    if reason in ENTRY_REASONS:
        try:
            if is_rotation(entry):
                verify_rotation(replay.root_at(index), entry)
            else:
                judge_bundle(entry, replay.root_at(index))
        except VerificationError as e:
            if e.reason != reason:
                _unfounded(f"entry {index} is rejected with {e.reason}, not {reason}")
            return found(f"the log holds entry {index}, which it must not admit: {e.message}")
        _unfounded(f"entry {index} is a valid {'rotation' if is_rotation(entry) else 'bundle'}")

    info = replay.bundle(index, "entry the claim is about")
    if reason == Reason.UNEXPECTED_KEY:
        have = {k.fingerprint for k in info.keys}
        if not raw_fps or not set(raw_fps) <= have:
            _unfounded(f"entry {index} does not carry every key the evidence names")
        return found(
            f"entry {index} (fleet {info.fleet!r} epoch {info.epoch}) carries key(s) "
            f"{', '.join(raw_fps)}, which the auditor's allow-list does not hold"
        )
    if reason == Reason.EPOCH_GAP:
        return found(_replay_gap(replay, entries, info, index, related))
    if related is None:
        _malformed(f"{reason} evidence names the earlier entry in evidence.related")
    earlier = replay.bundle(related, "earlier entry")
    if earlier.fleet != info.fleet:
        _unfounded(f"entries {related} and {index} are bundles of different fleets")
    claim_holds = {
        Reason.EPOCH_CONFLICT: earlier.epoch == info.epoch and earlier.digest != info.digest,
        Reason.ROLLBACK: earlier.epoch > info.epoch,
        Reason.BROKEN_CHAIN: earlier.epoch + 1 == info.epoch and info.previous != earlier.digest,
    }[reason]
    if not claim_holds:
        _unfounded(
            f"entry {related} (epoch {earlier.epoch}) and entry {index} (epoch {info.epoch}) of "
            f"fleet {info.fleet!r} do not show {reason}"
        )
    return found(
        f"the log holds fleet {info.fleet!r} epoch {earlier.epoch} at entry {related} and "
        f"epoch {info.epoch} at entry {index}, which breaks its history ({reason})"
    )


def _replay_gap(
    replay: _Replay, entries: Mapping[int, bytes], info: BundleInfo, index: int, related: int | None
) -> str:
    """EPOCH_GAP: replay the fleet over the contiguous range from ``related`` (or 0)."""
    start = 0 if related is None else related
    missing = [i for i in range(start, index) if i not in entries]
    if missing:
        _unfounded(
            f"an epoch gap is shown by every entry from {start} to {index}; entry {missing[0]} "
            "is not in the evidence"
        )
    history = FleetHistory()
    if related is not None:
        head = replay.bundle(related, "fleet's previous bundle")
        if head.fleet != info.fleet:
            _unfounded(f"entry {related} is a bundle of another fleet ({head.fleet!r})")
        history.admit(head, related)
    for i in range(start + (related is not None), index):
        entry = entries[i]
        if is_rotation(entry):
            continue
        try:
            other = judge_bundle(entry, replay.root_at(i))
        except VerificationError:
            continue
        if other.fleet != info.fleet:
            continue
        try:
            history.check(other, i)
        except VerificationError:
            continue
        history.admit(other, i)
    try:
        history.check(info, index)
    except VerificationError as e:
        if e.reason != Reason.EPOCH_GAP:
            _unfounded(f"replaying fleet {info.fleet!r} gives {e.reason}, not EPOCH_GAP")
        return str(e.message)
    _unfounded(f"replaying fleet {info.fleet!r} admits entry {index}: there is no gap")


class _MemoryFetcher:
    """The resources of a ``tile_mismatch`` file, served as a fetcher would serve them.

    A resource longer than the reader's cap is served whole, never refused: the bytes are
    already in memory (the file is at most :data:`MAX_EVIDENCE_BYTES`), and a tile or bundle
    of the wrong length is exactly what the reader rejects with MALFORMED_TILE (SPEC §2.9
    rule 1), which is what the evidence shows.
    """

    def __init__(self, resources: Mapping[str, bytes]) -> None:
        self._resources = resources

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes served at ``path``, whole: ``max_bytes`` caps a read from a network,
        and these bytes are already read (the file is within ``MAX_EVIDENCE_BYTES``). A tile
        or bundle longer than its width allows is then the reader's ``MALFORMED_TILE`` (SPEC
        §2.9 rule 1, §6.1), not a fetch failure that would escape as an error (SPEC §8.4.2:
        the claim is what a reader served only these resources concludes)."""
        data = self._resources.get(validate_fetch_path(path))
        if data is None:
            raise NotFoundError(path, f"the evidence does not carry {path!r}")
        return data


def _verify_tiles(ev: Mapping[str, Any], root: TrustRoot, origin: str) -> Finding:
    _exact(ev, (*_ENVELOPE, "checkpoint", "operation", "resources"), "evidence")
    if ev["reason"] != LogReason.MALFORMED_TILE:
        _malformed("tile_mismatch evidence has reason MALFORMED_TILE")
    # The whole format before the checkpoint; the operation's bounds are a claim about the
    # signed tree, so beyond it is UNFOUNDED_EVIDENCE (SPEC §8.4.3).
    note_bytes = _note(ev.get("checkpoint"), "checkpoint")
    operation = _get(ev, "operation", dict, "evidence")
    raw = _get(ev, "resources", dict, "evidence")
    if len(raw) > MAX_EVIDENCE_RESOURCES:
        _malformed(f"the evidence carries more than {MAX_EVIDENCE_RESOURCES} resources")
    resources: dict[str, bytes] = {}
    for path, value in raw.items():
        try:
            parse_tile_path(path)  # SPEC §8.4.3: a path outside §2.9's grammar is format
        except VerificationError:
            _malformed(f"resource path {path[:_QUOTE]!r} is not a tile or entry-bundle path")
        resources[path] = _bytes(value, f"resources[{path!r}]")
    if set(operation) == {"start", "stop"}:
        start = _get(operation, "start", int, "operation")
        stop = _get(operation, "stop", int, "operation")
        if not start < stop:
            _malformed(f"operation reads entries {start}..{stop - 1}, an empty range")
        end, what = stop, f"entries {start}..{stop - 1}"
    elif set(operation) == {"old_size"}:
        old_size = _get(operation, "old_size", int, "operation")
        end, what = old_size, f"the consistency proof from size {old_size}"
    else:
        _malformed('operation is {"start": a, "stop": b} or {"old_size": n}')
    verified = _verify_note(note_bytes, root)
    size = verified.checkpoint.size
    if end > size:
        _unfounded(f"the operation reads {what}, beyond the checkpoint's tree of size {size}")
    client = LogClient(_MemoryFetcher(resources), root.log.verifier(), origin=root.log.origin)
    try:
        if "start" in operation:
            for _ in client.entries(start, stop, verified):
                pass
        else:
            client.consistency_proof(old_size, verified)
    except NotFoundError as e:
        _unfounded(f"the evidence is incomplete: {e.message}")
    except VerificationError as e:
        if e.reason != LogReason.MALFORMED_TILE:
            raise
        return Finding(
            "tile_mismatch",
            LogReason.MALFORMED_TILE,
            origin,
            f"the resources served for {what} do not match the checkpoint of size {size}: "
            f"{e.message}",
            sizes=(size,),
            proven=False,
        )
    _unfounded(f"the resources served for {what} match the signed checkpoint of size {size}")
