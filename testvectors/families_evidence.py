"""Vectors of evidence files (SPEC §8.4): misbehaviour anyone can re-check offline.

A log that misbehaves is played by worlds that share the log's key: a fork signs two
histories, and a log that skipped its admission holds entries it must have refused. Each
vector gives the trust root and an evidence file; the verifier answers what the file shows
(kind, claimed reason, entry index, checkpoint sizes) or why it shows nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from keybundle.evidence import (
    EntryRange,
    encode_evidence,
    entries_evidence,
    inconsistency_evidence,
    split_view_evidence,
    tile_evidence,
)
from keybundle.payload import parse_payload, signed_bundle_digest
from transparency_log import note
from transparency_log.checkpoint import verify_checkpoint
from transparency_log.entry_bundle import MAX_ENTRY_SIZE, encode_entry_bundle
from transparency_log.merkle import MAX_TREE_SIZE, leaf_hash
from transparency_log.proof import compact_range, consistency_proof, tree_root
from transparency_log.tile import EntryBundle, Tile, entries_path, parse_tile_path, tile_data
from transparency_log.tlog_client import LogClient

from .vectorset import ACCEPT, VectorMismatchError, VectorSet, Want, b64, reject
from .world import DEFAULT_FLEET, LOG_ORIGIN, OPERATOR_ORG, T0, SparseTree, World, role_signer

__all__ = ["add_evidence_family"]

_SEEN: dict[str, Any] = {"observed_at": T0, "message": "conformance vector"}


def _range(w: World, start: int, stop: int, size: int) -> EntryRange:
    """Entries ``start..stop-1`` of ``w``'s log, proven under its tree of ``size``."""
    return EntryRange(
        start,
        tuple(w.entries[start:stop]),
        compact_range(start, w.store).hashes,
        tuple(consistency_proof(stop, size, w.store)),
    )


class _SparseLog:
    """Serves a :class:`SparseTree`'s tiles and entry bundles (SPEC §2.9, §6.1), recording
    every resource fetched, as the auditor's recorder does for a tile_mismatch file."""

    def __init__(self, tree: SparseTree) -> None:
        self.tree = tree
        self.served: dict[str, bytes] = {}

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        parsed = parse_tile_path(path)
        if isinstance(parsed, EntryBundle):
            first = parsed.index * 256
            data = encode_entry_bundle(
                self.tree.entry(i) for i in range(first, first + parsed.width)
            )
        else:
            data = tile_data(parsed, self.tree)
        self.served[path] = data
        return data


def _sparse_reading(
    w: World, tree: SparseTree, size: int, start: int, stop: int | None = None
) -> tuple[bytes, dict[str, bytes]]:
    """A checkpoint of ``tree`` at ``size`` and what a tile_mismatch operation fetches:
    reading entries ``start..stop-1``, or (``stop`` None) the consistency proof from
    ``start`` (SPEC §8.4.2)."""
    checkpoint = w.checkpoint(size, root_hash=tree_root(size, tree))
    log = _SparseLog(tree)
    verifier = w.log_signer.verifier()
    verified = verify_checkpoint(checkpoint, verifier, origin=LOG_ORIGIN)
    client = LogClient(log, verifier, origin=LOG_ORIGIN)
    if stop is None:
        client.consistency_proof(start, verified)
    else:
        for _ in client.entries(start, stop, verified):
            pass
    return checkpoint, log.served


def _forge_log_signature(signed_note: bytes) -> bytes:
    text, sigs = note.parse_unverified(signed_note)
    lines = []
    for sig in sigs:
        if sig.name == LOG_ORIGIN:
            flipped = sig.signature[:-1] + bytes([sig.signature[-1] ^ 1])
            sig = note.Signature(sig.name, sig.key_hash, flipped)  # noqa: PLW2901 (the forgery)
        lines.append(sig.to_line())
    return (text + "\n" + "".join(lines)).encode()


def add_evidence_family(vs: VectorSet) -> None:
    """Add the evidence vectors to ``vs``."""
    fam = "evidence"
    w = World()

    def add(
        name: str,
        description: str,
        data: bytes,
        want: Want,
        spec: Sequence[str] = (),
        *,
        repaired: bytes | None = None,
        no_twin: str | None = None,
        alone: Sequence[bytes] | None = None,
    ) -> None:
        pinned = b64(w.signed_root)
        vs.add(
            fam,
            name,
            description,
            ["§8.4", *spec],
            {"trust_root_b64": pinned, "evidence_b64": b64(data)},
            want,
            repaired=None
            if repaired is None
            else {"trust_root_b64": pinned, "evidence_b64": b64(repaired)},
            no_twin=no_twin,
            alone=None
            if alone is None
            else [{"trust_root_b64": pinned, "evidence_b64": b64(a)} for a in alone],
        )

    def enc(evidence: dict[str, Any]) -> bytes:
        return encode_evidence(evidence)

    # Two histories under one log key.
    signed, _ = w.publish()
    w.append(b"filler")
    fork = World()
    fork.append(signed)
    fork.append(b"another filler")
    fork.append(b"more")
    ours, theirs = w.checkpoint(), fork.checkpoint(2)
    split = split_view_evidence(ours, theirs, origin=LOG_ORIGIN, **_SEEN)
    add(
        "split-view",
        "Two log-signed checkpoints of size 2 with different roots.",
        enc(split),
        ACCEPT,
        ["§8.4.2"],
    )
    add(
        "split-view-same-checkpoint-twice",
        "The same checkpoint twice shows no split view.",
        enc(split_view_evidence(ours, ours, origin=LOG_ORIGIN, **_SEEN)),
        reject("UNFOUNDED_EVIDENCE"),
        repaired=enc(split),
    )
    add(
        "split-view-different-sizes",
        "Checkpoints of sizes 1 and 2 are not a split view.",
        enc(split_view_evidence(w.checkpoint(1), ours, origin=LOG_ORIGIN, **_SEEN)),
        reject("UNFOUNDED_EVIDENCE"),
        repaired=enc(split),
    )
    add(
        "split-view-forged-checkpoint",
        "The second checkpoint's log signature does not verify: the log did not sign it.",
        enc(split_view_evidence(ours, _forge_log_signature(theirs), origin=LOG_ORIGIN, **_SEEN)),
        reject("BAD_NOTE_SIGNATURE"),
        repaired=enc(split),
    )
    other_origin = {**split, "origin": "other.example/log"}
    add(
        "split-view-of-another-log",
        "Evidence about another log than the trust root's.",
        enc(other_origin),
        reject("WRONG_ORIGIN"),
        repaired=enc(split),
    )

    prefix = compact_range(2, fork.store).hashes
    fork_proof = consistency_proof(2, 3, fork.store)
    inconsistent = inconsistency_evidence(
        ours, fork.checkpoint(), prefix, fork_proof, origin=LOG_ORIGIN, **_SEEN
    )
    add(
        "inconsistent-checkpoints",
        "A checkpoint of size 2 and one of size 3 whose first 2 leaves have another root.",
        enc(inconsistent),
        ACCEPT,
        ["§8.4.2"],
    )
    w.append(b"third")
    consistent = inconsistency_evidence(
        ours,
        w.checkpoint(),
        compact_range(2, w.store).hashes,
        consistency_proof(2, 3, w.store),
        origin=LOG_ORIGIN,
        **_SEEN,
    )
    add(
        "inconsistent-checkpoints-that-are-consistent",
        "Two checkpoints of one history.",
        enc(consistent),
        reject("UNFOUNDED_EVIDENCE"),
        repaired=enc(inconsistent),
    )
    tampered = dict(inconsistent)
    tampered["prefix"] = [b64(bytes(32)) for _ in prefix]
    add(
        "inconsistent-checkpoints-prefix-replaced",
        "A prefix that the proof does not lead from.",
        enc(tampered),
        reject("UNFOUNDED_EVIDENCE"),
        repaired=enc(inconsistent),
    )

    # Each part of the inconsistent_checkpoints claim false alone (SPEC §8.4.2).
    claim_false = [
        (
            "inconsistent-checkpoints-sizes-swapped",
            "The new checkpoint as the old one and the old as the new: m < n is false.",
            {
                **inconsistent,
                "old_checkpoint": inconsistent["new_checkpoint"],
                "new_checkpoint": inconsistent["old_checkpoint"],
            },
        ),
        (
            "inconsistent-checkpoints-proof-hash-replaced",
            "One hash of the consistency proof replaced: the proof does not verify.",
            {
                **inconsistent,
                "consistency_proof": [
                    b64(bytes(32)),
                    *inconsistent["consistency_proof"][1:],
                ],
            },
        ),
        (
            "inconsistent-checkpoints-prefix-one-hash-short",
            "A prefix with one hash fewer than the compact range of the old size.",
            {**inconsistent, "prefix": inconsistent["prefix"][:-1]},
        ),
    ]
    for name, description, value in claim_false:
        add(
            name,
            description,
            enc(value),
            reject("UNFOUNDED_EVIDENCE"),
            ["§8.4.2"],
            repaired=enc(inconsistent),
        )

    # A log that admitted what it must have refused.
    bad = World()
    bad.publish(DEFAULT_FLEET, 1)
    bad.append(bad.signed_bundle(DEFAULT_FLEET, 3, previous=b"\x33" * 32))
    other1 = bad.signed_bundle(DEFAULT_FLEET, 1, not_after=bad.now + 400 * 86400)
    bad.append(other1)
    forged = bytearray(bad.signed_bundle("other-fleet", 1))
    forged[-1] ^= 1
    bad.append(bytes(forged))
    size = bad.size
    cp = bad.checkpoint()

    def entries(  # noqa: PLR0917 (the members of an entries claim, in SPEC §8.4.2 order)
        name: str,
        description: str,
        reason: str,
        index: int,
        related: int | None,
        ranges: Sequence[EntryRange],
        want: Want,
        fingerprints: Sequence[str] = (),
        *,
        repaired: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        evidence = entries_evidence(
            cp,
            ranges,
            reason=reason,
            index=index,
            related=related,
            fingerprints=fingerprints,
            origin=LOG_ORIGIN,
            **_SEEN,
        )
        add(
            name,
            description,
            enc(evidence),
            want,
            ["§8.2", "§8.4.2"],
            repaired=None if repaired is None else enc(repaired),
        )
        return dict(evidence)

    gap = entries(
        "entries-epoch-gap",
        "Epoch 1 at entry 0, epoch 3 at entry 1: epoch 2 is shown absent.",
        "EPOCH_GAP",
        1,
        0,
        [_range(bad, 0, 2, size)],
        ACCEPT,
    )
    conflict = entries(
        "entries-epoch-conflict",
        "Entries 0 and 2 are two bundles for epoch 1.",
        "EPOCH_CONFLICT",
        2,
        0,
        [_range(bad, 0, 1, size), _range(bad, 2, 3, size)],
        ACCEPT,
    )
    # The shape of the ranges is format (MALFORMED_EVIDENCE), their relation to the signed
    # tree is the claim (UNFOUNDED_EVIDENCE): SPEC §8.4.3. Each twin is entries-epoch-conflict.
    first, second = conflict["ranges"]
    overlapping = entries_evidence(
        cp,
        [_range(bad, 0, 2, size), _range(bad, 1, 3, size)],
        reason="EPOCH_CONFLICT",
        index=2,
        related=0,
        origin=LOG_ORIGIN,
        **_SEEN,
    )
    short_right = [first["right"][0][:-4] + "AA==", *first["right"][1:]]
    shape = [
        (
            "entries-ranges-unsorted",
            "The two ranges of entries-epoch-conflict in descending order of start.",
            {**conflict, "ranges": [second, first]},
            "MALFORMED_EVIDENCE",
        ),
        (
            "entries-ranges-overlapping",
            "Ranges 0..1 and 1..2: entry 1 in both.",
            dict(overlapping),
            "MALFORMED_EVIDENCE",
        ),
        (
            "entries-right-hash-of-31-bytes",
            "A consistency hash of a range that decodes to 31 bytes.",
            {**conflict, "ranges": [{**first, "right": short_right}, second]},
            "MALFORMED_EVIDENCE",
        ),
        (
            "entries-left-one-hash-too-many",
            "A range's left holds one hash more than the compact range of its start.",
            {**conflict, "ranges": [first, {**second, "left": [*second["left"], b64(bytes(32))]}]},
            "UNFOUNDED_EVIDENCE",
        ),
        (
            "entries-range-beyond-the-checkpoint",
            "A range whose start is moved past the checkpoint's size.",
            {**conflict, "ranges": [first, {**second, "start": size}]},
            "UNFOUNDED_EVIDENCE",
        ),
    ]
    for name, description, value, code in shape:
        add(
            name,
            description,
            enc(value),
            reject(code),
            ["§8.4.2", "§8.4.3"],
            repaired=enc(conflict),
        )
    bad_signature = entries(
        "entries-bad-independent-signature",
        "Entry 3's independent signature does not verify: the log must not hold it.",
        "BAD_INDEPENDENT_SIGNATURE",
        3,
        None,
        [_range(bad, 3, 4, size)],
        ACCEPT,
    )
    # A range's left is the compact range of its start (SPEC §8.4.2): one hash per set bit.
    # Start 3 has two; with one, appending entry 3 would merge with a hash that is not there.
    (third,) = bad_signature["ranges"]
    add(
        "entries-left-one-hash-too-few",
        "A range starting at entry 3 whose left holds one hash, not the two of the compact "
        "range of size 3.",
        enc({**bad_signature, "ranges": [{**third, "left": third["left"][:-1]}]}),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2"],
        repaired=enc(bad_signature),
    )
    entries(
        "entries-claim-of-another-code",
        "Entry 3 is refused with BAD_INDEPENDENT_SIGNATURE, not the claimed BAD_COUNTERSIGNATURE.",
        "BAD_COUNTERSIGNATURE",
        3,
        None,
        [_range(bad, 3, 4, size)],
        reject("UNFOUNDED_EVIDENCE"),
        repaired=bad_signature,
    )
    keys = parse_payload(bad.bundle(DEFAULT_FLEET, 1)).keys
    fingerprint = keys[0].fingerprint
    unexpected = entries(
        "entries-unexpected-key",
        "Entry 0 carries a key the auditor's allow-list does not hold.",
        "UNEXPECTED_KEY",
        0,
        None,
        [_range(bad, 0, 1, size)],
        ACCEPT,
        [fingerprint],
    )
    two = sorted(k.fingerprint for k in parse_payload(bad.bundle(DEFAULT_FLEET, 1)).keys[:2])
    entries(
        "entries-unexpected-keys-of-a-later-entry",
        "Entry 2 (proven alone) carries two keys the allow-list does not hold.",
        "UNEXPECTED_KEY",
        2,
        None,
        [_range(bad, 2, 3, size)],
        ACCEPT,
        two,
    )
    entries(
        "entries-unexpected-key-not-carried",
        "Entry 0 does not carry the named key.",
        "UNEXPECTED_KEY",
        0,
        None,
        [_range(bad, 0, 1, size)],
        reject("UNFOUNDED_EVIDENCE"),
        ["00" * 32],
        repaired=unexpected,
    )
    entries(
        "entries-rollback-claim-without-rollback",
        "Entries 0 and 1 are epochs 1 and 3: no rollback.",
        "ROLLBACK",
        1,
        0,
        [_range(bad, 0, 2, size)],
        reject("UNFOUNDED_EVIDENCE"),
        repaired=gap,
    )
    broken = _range(bad, 0, 2, size)
    altered = EntryRange(
        broken.start, (broken.entries[0], broken.entries[1] + b"\x00"), broken.left, broken.right
    )
    entries(
        "entries-range-not-in-the-log",
        "An entry changed after it was proven: the range's proof fails.",
        "EPOCH_GAP",
        1,
        0,
        [altered],
        reject("UNFOUNDED_EVIDENCE"),
        repaired=gap,
    )
    # A true gap with an entry of another fleet between (issue 17: one fault): epoch 1 at 0,
    # another fleet at 1, epoch 3 at 2. The vector leaves entry 1 out; its twin carries it.
    gapped = World()
    gapped.publish(DEFAULT_FLEET, 1)
    gapped.publish("other-fleet", 1)
    gapped.append(gapped.signed_bundle(DEFAULT_FLEET, 3, previous=b"\x33" * 32))

    def gap_claim(ranges: Sequence[EntryRange]) -> bytes:
        return enc(
            entries_evidence(
                gapped.checkpoint(),
                ranges,
                reason="EPOCH_GAP",
                index=2,
                related=0,
                origin=LOG_ORIGIN,
                **_SEEN,
            )
        )

    add(
        "entries-gap-without-the-entries-between",
        "An epoch-gap claim (epoch 1 at entry 0, epoch 3 at entry 2) must carry every entry "
        "from related to index; entry 1, of another fleet, is left out.",
        gap_claim([_range(gapped, 0, 1, 3), _range(gapped, 2, 3, 3)]),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.2", "§8.4.2"],
        repaired=gap_claim([_range(gapped, 0, 3, 3)]),
    )

    # A range of five entries from 0: rebuilding its tree from the range (SPEC §8.4.2) merges
    # two levels at the fourth entry and appends the fifth beside them, as RFC 9162 hashes.
    five = World()
    for epoch in range(1, 6):
        five.publish(DEFAULT_FLEET, epoch)
    evidence = entries_evidence(
        five.checkpoint(),
        [_range(five, 0, 5, five.size)],
        reason="UNEXPECTED_KEY",
        index=4,
        related=None,
        fingerprints=[parse_payload(five.bundle(DEFAULT_FLEET, 5)).keys[0].fingerprint],
        origin=LOG_ORIGIN,
        **_SEEN,
    )
    add(
        "entries-unexpected-key-in-a-range-of-five",
        "Entry 4 carries a key the allow-list does not hold, proven by one range of entries "
        "0 to 4.",
        enc(evidence),
        ACCEPT,
        ["§8.2", "§8.4.2"],
    )

    # MAX_ENTRY_SIZE (SPEC §11): the largest entry a log can hold, and one byte more, which
    # no log can hold, so a range carrying it is format (issue 17).
    def largest(size: int) -> bytes:
        big = World()
        big.append(b"\x00" * size)
        evidence = entries_evidence(
            big.checkpoint(),
            [_range(big, 0, 1, 1)],
            reason="MALFORMED_COSE",
            index=0,
            related=None,
            origin=LOG_ORIGIN,
            **_SEEN,
        )
        return enc(evidence)

    add(
        "entries-entry-of-max-entry-size",
        "Entry 0 is 65535 zero bytes (MAX_ENTRY_SIZE, the most a bundle's u16 length prefix "
        "can say), which is not a COSE_Sign1: the claim holds.",
        largest(MAX_ENTRY_SIZE),
        ACCEPT,
        ["§8.4.3", "§11"],
    )
    add(
        "entries-entry-one-byte-over-max-entry-size",
        "The same claim with entry 0 of 65536 bytes, one more than a log can hold: a range's "
        "entry is at most MAX_ENTRY_SIZE bytes (MALFORMED_EVIDENCE).",
        largest(MAX_ENTRY_SIZE + 1),
        reject("MALFORMED_EVIDENCE"),
        ["§8.4.3", "§11"],
        repaired=largest(MAX_ENTRY_SIZE),
    )

    # Evidence that the only piece of data the log vouches for, tiles, was served wrong.
    small = World()
    for n in range(3):
        small.append(b"tile entry %d" % n)
    served = {
        Tile(0, 0, 3).path(): tile_data(Tile(0, 0, 3), small.store),
        entries_path(0, 3): encode_entry_bundle(
            [small.entries[0], b"not entry 1", small.entries[2]]
        ),
    }
    tiles = tile_evidence(
        small.checkpoint(), {"start": 0, "stop": 3}, served, origin=LOG_ORIGIN, **_SEEN
    )
    add(
        "tile-mismatch",
        "An entry bundle whose entry 1 does not hash to the log's level-0 tile.",
        enc(tiles),
        ACCEPT,
        ["§8.4.2"],
    )
    add(
        "tile-mismatch-missing-resource",
        "The tile-mismatch file without the level-0 tile its reading needs: a needed resource "
        "that is absent (SPEC §8.4.2).",
        enc({**tiles, "resources": {entries_path(0, 3): tiles["resources"][entries_path(0, 3)]}}),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2"],
        repaired=enc(tiles),
    )
    add(
        "tile-mismatch-operation-beyond-the-checkpoint",
        "The tile-mismatch file with stop one past the checkpoint's size: the operation is a "
        "claim about the signed tree (UNFOUNDED_EVIDENCE).",
        enc({**tiles, "operation": {"start": 0, "stop": 4}}),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§8.4.3"],
        repaired=enc(tiles),
    )
    add(
        "tile-mismatch-empty-operation",
        "The tile-mismatch file with start equal to stop: format (MALFORMED_EVIDENCE).",
        enc({**tiles, "operation": {"start": 3, "stop": 3}}),
        reject("MALFORMED_EVIDENCE"),
        ["§8.4.2", "§8.4.3"],
        repaired=enc(tiles),
    )
    honest = dict(served)
    honest[entries_path(0, 3)] = encode_entry_bundle(small.entries)
    add(
        "tile-mismatch-honest-resources",
        "Resources that authenticate against the checkpoint show nothing.",
        enc(
            tile_evidence(
                small.checkpoint(), {"start": 0, "stop": 3}, honest, origin=LOG_ORIGIN, **_SEEN
            )
        ),
        reject("UNFOUNDED_EVIDENCE"),
        repaired=enc(tiles),
    )

    add(
        "tile-mismatch-resource-path-not-a-tile",
        "The tile-mismatch file with one more resource, at path checkpoint: a safe relative "
        "path, but not a tile or entry-bundle path of SPEC §2.9 (MALFORMED_EVIDENCE).",
        enc({**tiles, "resources": {**tiles["resources"], "checkpoint": b64(b"x")}}),
        reject("MALFORMED_EVIDENCE"),
        ["§8.4.3", "§2.9"],
        repaired=enc(tiles),
    )
    long_tile = dict(honest)
    long_tile[Tile(0, 0, 3).path()] += b"\x00"
    add(
        "tile-mismatch-tile-one-byte-too-long",
        "Honest entries, but the level-0 tile served with 97 bytes, one more than its 3 hashes: "
        "a tile of the wrong length is MALFORMED_TILE (SPEC §2.9), so the claim holds.",
        enc(
            tile_evidence(
                small.checkpoint(), {"start": 0, "stop": 3}, long_tile, origin=LOG_ORIGIN, **_SEEN
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    _bundle_limits(add, small)
    forged_pair = dict(honest)
    forged_pair[entries_path(0, 3)] = encode_entry_bundle(
        [small.entries[0], b"not entry 1", small.entries[2]]
    )
    forged_pair[Tile(0, 0, 3).path()] = b"".join(
        leaf_hash(e) for e in (small.entries[0], b"not entry 1", small.entries[2])
    )
    add(
        "tile-mismatch-bundle-and-tile-forged-together",
        "Entry 1 replaced in the bundle and its leaf hash in the level-0 tile: they agree, but "
        "the right-edge tile no longer reproduces the checkpoint's root (SPEC §2.9 rule 2).",
        enc(
            tile_evidence(
                small.checkpoint(), {"start": 0, "stop": 3}, forged_pair, origin=LOG_ORIGIN, **_SEEN
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    # A partial tile or bundle that is not served is replaced by the first W hashes or
    # entries of the full one when that is served (SPEC §8.4.2: §2.9's MAY is a MUST here).
    # The full one's other hashes and entries belong to a larger tree: only W of them count.
    small_tile = Tile(0, 0, 3).path()
    filler_hashes = bytes(range(32)) * 253
    filler_entries = [b"later entry %d" % n for n in range(3, 256)]

    def full_tile(first_three: bytes, bundle: list[bytes]) -> bytes:
        resources = {
            Tile(0, 0).path(): first_three + filler_hashes,
            entries_path(0): encode_entry_bundle([*bundle, *filler_entries]),
        }
        return enc(
            tile_evidence(
                small.checkpoint(), {"start": 0, "stop": 3}, resources, origin=LOG_ORIGIN, **_SEEN
            )
        )

    honest_hashes = honest[small_tile]
    wrong_entries = [small.entries[0], b"not entry 1", small.entries[2]]
    add(
        "tile-mismatch-partial-tile-and-bundle-replaced-by-full-ones",
        "The tile-mismatch file with only the full level-0 tile and the full entry bundle 0 "
        "served: their first 3 hashes and entries stand for the partial ones, and entry 1 "
        "does not hash to its leaf (SPEC §8.4.2).",
        full_tile(honest_hashes, wrong_entries),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    add(
        "tile-mismatch-honest-full-tile-and-bundle-for-partial-ones",
        "Only the full level-0 tile and the full entry bundle 0 served, whose first 3 hashes "
        "and entries are the tree's: they authenticate, so the evidence shows nothing.",
        full_tile(honest_hashes, list(small.entries)),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§2.9"],
        repaired=full_tile(honest_hashes, wrong_entries),
    )
    short_full = {
        Tile(0, 0).path(): honest_hashes + filler_hashes[:-32],
        entries_path(0, 3): honest[entries_path(0, 3)],
    }
    add(
        "tile-mismatch-full-tile-one-hash-short",
        "Honest entries, and in place of the partial level-0 tile a full tile/0/000 of 255 "
        "hashes: a full tile of the wrong length is MALFORMED_TILE even though its first 3 "
        "hashes are right (SPEC §2.9 rule 1).",
        enc(
            tile_evidence(
                small.checkpoint(), {"start": 0, "stop": 3}, short_full, origin=LOG_ORIGIN, **_SEEN
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    # An operation that reads no node (the consistency proof from 0 or from the tree's own
    # size) reads no resource, so even a wrong tile served beside it shows nothing.
    wrong_tile = bytearray(honest_hashes)
    wrong_tile[0] ^= 1

    def proving_small(old_size: int) -> bytes:
        resources = {small_tile: bytes(wrong_tile)}
        operation = {"old_size": old_size}
        return enc(
            tile_evidence(small.checkpoint(), operation, resources, origin=LOG_ORIGIN, **_SEEN)
        )

    for old_size, repaired_size, why in ((3, 2, "the tree's own size"), (0, 1, "0")):
        add(
            f"tile-mismatch-consistency-from-{old_size}-of-3",
            f"The consistency proof from {why} to 3 entries is empty: it reads no tile, so the "
            f"wrong {small_tile} served beside it shows nothing (SPEC §8.4.2).",
            proving_small(old_size),
            reject("UNFOUNDED_EVIDENCE"),
            ["§8.4.2", "§2.3"],
            repaired=proving_small(repaired_size),
        )
    # Tiles of a large tree: the x-path spelling of an index (SPEC §2.9) at every level.
    bundle = 500_499  # x500/499: every digit group differs from what 999 or 1001 would give
    sparse = SparseTree(b"filler", bundle * 256, [b"sparse entry %d" % n for n in range(5)])
    size = bundle * 256 + 5
    checkpoint, served = _sparse_reading(w, sparse, size, size - 5, size)
    path = entries_path(bundle, 5)
    wrong = [sparse.entry(i) for i in range(size - 5, size)]
    wrong[1] = b"not sparse entry 1"
    add(
        "tile-mismatch-in-bundle-500499",
        f"Entry bundle 500499 (path {path}) of a tree of {size} entries, whose entry 1 does "
        "not hash to the level-0 tile: every tile is read by its x-path.",
        enc(
            tile_evidence(
                checkpoint,
                {"start": size - 5, "stop": size},
                {**served, path: encode_entry_bundle(wrong)},
                origin=LOG_ORIGIN,
                **_SEEN,
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    # Full tiles are authenticated through their parents (SPEC §2.9 rule 3): the tree of
    # 70000 entries of C2SP tlog-tiles' example, read at entry 300 (full bundle 1).
    sparse = SparseTree(b"filler", 0, [b"entry %d" % n for n in range(70_000)])
    # Entries 69887 and 69888: the last full bundle (272), then the right-edge one (273, of
    # width 112), whose tiles the first reading authenticated and the second uses again.
    checkpoint, served = _sparse_reading(w, sparse, 70_000, 69_887, 69_889)
    second = entries_path(273, 112)
    changed_bundle = encode_entry_bundle(
        [b"not entry 69888", *(sparse.entry(n) for n in range(69_889, 70_000))]
    )
    add(
        "tile-mismatch-across-two-bundles",
        "Reading entries 69887 and 69888 of a tree of 70000 entries, the second in the "
        f"right-edge bundle {second}, served with entry 69888 changed.",
        enc(
            tile_evidence(
                checkpoint,
                {"start": 69_887, "stop": 69_889},
                {**served, second: changed_bundle},
                origin=LOG_ORIGIN,
                **_SEEN,
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    # The consistency proof from 300 reads inner nodes of full tiles (its seed is node (2, 74)
    # of tile/0/001): a full tile that is not its parent's hash fails that reading too.
    checkpoint, served = _sparse_reading(w, sparse, 70_000, 300)
    full = Tile(0, 1).path()
    changed = bytearray(served[full])
    changed[7 * 32] ^= 1
    add(
        "tile-mismatch-consistency-full-tile-not-its-parents-hash",
        f"The consistency proof from 300 to 70000 entries, {full} served with its hash 7 "
        "changed: it no longer hashes to its entry in its parent tile (SPEC §2.9 rule 3).",
        enc(
            tile_evidence(
                checkpoint,
                {"old_size": 300},
                {**served, full: bytes(changed)},
                origin=LOG_ORIGIN,
                **_SEEN,
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    # The consistency proof from 256 reads no level-0 node (its old tree is node (8, 0)),
    # while the inclusion proof of entry 256 would read tile/0/001: served wrong, it shows
    # nothing here.
    checkpoint, served = _sparse_reading(w, sparse, 70_000, 256)
    _, beside = _sparse_reading(w, sparse, 70_000, 256, 257)
    unneeded = bytearray(beside[full])
    unneeded[7 * 32] ^= 1
    needed = Tile(1, 0).path()
    if full in served or needed not in served:
        raise VectorMismatchError("the consistency proof from 256 reads other tiles")
    needed_wrong = bytearray(served[needed])
    needed_wrong[0] ^= 1

    def proving_256(resources: dict[str, bytes]) -> bytes:
        return enc(
            tile_evidence(checkpoint, {"old_size": 256}, resources, origin=LOG_ORIGIN, **_SEEN)
        )

    add(
        "tile-mismatch-consistency-beside-an-unneeded-wrong-tile",
        f"Honest tiles for the consistency proof from 256 to 70000 entries, and {full} with "
        "its hash 7 changed, which that proof does not read (an inclusion proof of entry 256 "
        "would): the evidence shows nothing (SPEC §8.4.2).",
        proving_256({**served, full: bytes(unneeded)}),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§2.3"],
        repaired=proving_256({**served, full: bytes(unneeded), needed: bytes(needed_wrong)}),
    )
    checkpoint, served = _sparse_reading(w, sparse, 70_000, 300, 301)
    full = Tile(0, 1).path()
    changed = bytearray(served[full])
    changed[7 * 32] ^= 1  # hash 7 (entry 263), which reading entry 300 does not use
    add(
        "tile-mismatch-full-tile-not-its-parents-hash",
        f"Reading entry 300 of a tree of 70000 entries, {full} served with its hash 7 changed: "
        "the full tile no longer hashes to its entry in its parent tile (SPEC §2.9 rule 3).",
        enc(
            tile_evidence(
                checkpoint,
                {"start": 300, "stop": 301},
                {**served, full: bytes(changed)},
                origin=LOG_ORIGIN,
                **_SEEN,
            )
        ),
        ACCEPT,
        ["§8.4.2", "§2.9"],
    )
    # The last entry of the largest tree (MAX_TREE_SIZE = 2^63 - 1): its bundle and every
    # right-edge tile are partial and end exactly at the limit. The answer of an accepted file
    # would carry the size, above 2^53 (SPEC §12.3), so the vector is the honest reading,
    # and its twin (one entry changed) is accepted.
    last = (MAX_TREE_SIZE >> 8) * 256
    sparse_max = SparseTree(b"filler", last, [b"e%d" % n for n in range(255)])
    checkpoint, served = _sparse_reading(
        w, sparse_max, MAX_TREE_SIZE, MAX_TREE_SIZE - 1, MAX_TREE_SIZE
    )
    path = entries_path(MAX_TREE_SIZE >> 8, 255)
    wrong = [sparse_max.entry(i) for i in range(last, MAX_TREE_SIZE)]
    wrong[-1] = b"not e254"

    def reading(resources: dict[str, bytes]) -> bytes:
        operation = {"start": MAX_TREE_SIZE - 1, "stop": MAX_TREE_SIZE}
        return enc(tile_evidence(checkpoint, operation, resources, origin=LOG_ORIGIN, **_SEEN))

    # The consistency proof from 2^62 + 1 to MAX_TREE_SIZE reads node (62, 0), the largest
    # in any tree, from the level-7 tile.
    old_size = 2**62 + 1
    checkpoint_max, served_max = _sparse_reading(w, sparse_max, MAX_TREE_SIZE, old_size)
    top = Tile(7, 0, 127).path()
    changed = bytearray(served_max[top])
    changed[0] ^= 1  # node (56, 0), under node (62, 0): the right-edge check fails

    def proving(resources: dict[str, bytes]) -> bytes:
        operation = {"old_size": old_size}
        return enc(tile_evidence(checkpoint_max, operation, resources, origin=LOG_ORIGIN, **_SEEN))

    add(
        "tile-mismatch-honest-consistency-to-max-tree-size",
        "Honest tiles for the consistency proof from size 2^62 + 1 to MAX_TREE_SIZE, which "
        "holds node (62, 0): they authenticate, so the evidence shows nothing.",
        proving(served_max),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§2.9"],
        repaired=proving({**served_max, top: bytes(changed)}),
    )
    add(
        "tile-mismatch-honest-resources-of-max-tree-size",
        "Honest tiles and bundle for the last entry of a tree of MAX_TREE_SIZE entries (its "
        f"bundle is {path}): they authenticate, so the evidence shows nothing.",
        reading(served),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§2.9"],
        repaired=reading({**served, path: encode_entry_bundle(wrong)}),
    )

    # The file format (SPEC §8.4.1).
    canonical = enc(split)
    value = json.loads(canonical)
    malformed = [
        (
            "evidence-pretty-printed",
            "The object with whitespace between members.",
            (json.dumps(value, sort_keys=True, indent=1) + "\n").encode(),
        ),
        (
            "evidence-without-final-newline",
            "The canonical JSON without its final LF.",
            canonical[:-1],
        ),
        (
            "evidence-members-unsorted",
            "Members not in sorted order.",
            (
                json.dumps(dict(reversed(list(value.items()))), separators=(",", ":")) + "\n"
            ).encode(),
        ),
        (
            "evidence-duplicate-member",
            "The kind member twice.",
            canonical.replace(b'{"checkpoints"', b'{"checkpoints"', 1).replace(
                b'"kind":', b'"kind":"split_view","kind":', 1
            ),
        ),
        (
            "evidence-float-timestamp",
            "observed_at as 1.5.",
            canonical.replace(b'"observed_at":' + str(T0).encode(), b'"observed_at":1.5', 1),
        ),
        (
            "evidence-unknown-kind",
            "A kind the format does not define.",
            enc({**split, "kind": "gossip"}),
        ),
        (
            "evidence-other-format",
            "Format keybundle-evidence/v2.",
            enc({**split, "format": "keybundle-evidence/v2"}),
        ),
        (
            "evidence-extra-member",
            "A member the kind does not define.",
            enc({**split, "note": "x"}),
        ),
        ("evidence-not-json", "Not JSON at all.", b"split view!\n"),
        (
            "evidence-reason-not-the-kinds",
            "A split_view claiming BAD_CONSISTENCY_PROOF.",
            enc({**split, "reason": "BAD_CONSISTENCY_PROOF"}),
        ),
    ]
    for name, description, data in malformed:
        add(name, description, data, reject("MALFORMED_EVIDENCE"), ["§8.4.1"], repaired=canonical)
    # Integers are exact up to 2^63 - 1 (SPEC §8.4.1): beyond 2^53 doubles would round them.
    for name, description, at in (
        ("evidence-observed-at-2-53-plus-1", "observed_at 2^53 + 1, exact only as an integer.",
         2**53 + 1),
        ("evidence-observed-at-max", "observed_at 2^63 - 1, the largest integer.", 2**63 - 1),
    ):  # fmt: skip
        add(name, description, enc({**split, "observed_at": at}), ACCEPT, ["§8.4.1"])
    add(
        "evidence-observed-at-2-63",
        "observed_at 2^63, one past the largest integer.",
        enc({**split, "observed_at": 2**63}),
        reject("MALFORMED_EVIDENCE"),
        ["§8.4.1"],
        repaired=enc({**split, "observed_at": 2**63 - 1}),
    )
    # The format is judged before any checkpoint (SPEC §8.4.3): a forged checkpoint and a
    # malformed prefix hash is MALFORMED_EVIDENCE. (A precedence case: two faults by design.)
    forged_old = {
        **inconsistent,
        "old_checkpoint": _forge_log_signature(ours).decode(),
        "prefix": [inconsistent["prefix"][0][:-4] + "AA==", *inconsistent["prefix"][1:]],
    }
    add(
        "inconsistent-checkpoints-format-before-checkpoint",
        "A forged old checkpoint and a prefix hash of 31 bytes: the format is judged first.",
        enc(forged_old),
        reject("MALFORMED_EVIDENCE"),
        ["§8.4.3"],
        no_twin="precedence: a forged checkpoint and a malformed hash (format first)",
        alone=[
            enc({**inconsistent, "prefix": forged_old["prefix"]}),
            enc({**inconsistent, "old_checkpoint": forged_old["old_checkpoint"]}),
        ],
    )
    _evidence_rules(vs)


# --- every rule of §8.4 broken alone (issue 17) ---------------------------------------------


def _evidence_rules(vs: VectorSet) -> None:
    """The rules of SPEC §8.4 that the vectors above leave open, each broken alone.

    Every negative vector's repaired twin is the valid evidence it was edited from or, for a
    claim the log's data makes false, the same claim over a log with the one entry changed
    that makes it true (or about the entry that shows it), except where no valid evidence
    can sit on the other side of the rule (the 64-hash cap of a consistency proof: a 64-hash
    proof is well formed but shows nothing).
    """
    fam = "evidence"
    w = World()
    pinned = b64(w.signed_root)

    def add(  # noqa: PLR0917 (the parts of a vector, in the order a case states them)
        name: str,
        description: str,
        evidence: dict[str, Any] | bytes,
        want: Want,
        spec: Sequence[str],
        twin: dict[str, Any] | None = None,
        no_twin: str | None = None,
    ) -> None:
        data = evidence if isinstance(evidence, bytes) else encode_evidence(evidence)
        vs.add(
            fam,
            name,
            description,
            ["§8.4", *spec],
            {"trust_root_b64": pinned, "evidence_b64": b64(data)},
            want,
            repaired=None
            if twin is None
            else {"trust_root_b64": pinned, "evidence_b64": b64(encode_evidence(twin))},
            no_twin=no_twin,
        )

    malformed, unfounded = reject("MALFORMED_EVIDENCE"), reject("UNFOUNDED_EVIDENCE")

    # The envelope (SPEC §8.4.1), on the split view of add_evidence_family.
    signed, _ = w.publish()
    w.append(b"filler")
    fork = World()
    fork.append(signed)
    fork.append(b"another filler")
    fork.append(b"more")
    ours, theirs = w.checkpoint(), fork.checkpoint(2)
    split = split_view_evidence(ours, theirs, origin=LOG_ORIGIN, **_SEEN)
    canonical = encode_evidence(split)
    add("evidence-not-an-object", "A JSON array, not an object.", b"[]\n", malformed,
        ["§8.4.1"], split)  # fmt: skip
    add(
        "evidence-not-utf-8",
        "The message holds the byte ff: not UTF-8.",
        canonical.replace(b"conformance vector", b"conformance \xff vector", 1),
        malformed,
        ["§8.4.1"],
        split,
    )
    add(
        "evidence-lone-surrogate",
        "The message holds the escape \\ud800, a lone surrogate: not Unicode text.",
        canonical.replace(b"conformance vector", b"conformance \\ud800 vector", 1),
        malformed,
        ["§8.4.1"],
        split,
    )
    add("evidence-observed-at-0", "observed_at 0, the smallest.", {**split, "observed_at": 0},
        ACCEPT, ["§8.4.1"])  # fmt: skip
    add(
        "evidence-observed-at-minus-1",
        "observed_at -1, below the smallest.",
        {**split, "observed_at": -1},
        malformed,
        ["§8.4.1"],
        {**split, "observed_at": 0},
    )
    add("evidence-message-not-a-string", "The message is the number 1.", {**split, "message": 1},
        malformed, ["§8.4.1"], split)  # fmt: skip
    without_message = {k: v for k, v in split.items() if k != "message"}
    add("evidence-without-message", "No message member.", without_message, malformed,
        ["§8.4.1"], split)  # fmt: skip
    add("evidence-origin-not-a-string", "The origin is the number 0.", {**split, "origin": 0},
        malformed, ["§8.4.1"], split)  # fmt: skip

    # split_view (SPEC §8.4.2).
    add(
        "split-view-three-checkpoints",
        "Three checkpoints: the two of the split view and the first again.",
        {**split, "checkpoints": [*split["checkpoints"], split["checkpoints"][0]]},
        malformed,
        ["§8.4.2"],
        split,
    )
    add(
        "split-view-checkpoint-not-a-string",
        "The second checkpoint is the number 2.",
        {**split, "checkpoints": [split["checkpoints"][0], 2]},
        malformed,
        ["§8.4.2"],
        split,
    )

    # inconsistent_checkpoints (SPEC §8.4.2, §8.4.3).
    inconsistent = inconsistency_evidence(
        ours,
        fork.checkpoint(),
        compact_range(2, fork.store).hashes,
        consistency_proof(2, 3, fork.store),
        origin=LOG_ORIGIN,
        **_SEEN,
    )
    add(
        "inconsistent-checkpoints-other-reason",
        "inconsistent_checkpoints evidence claiming INCONSISTENT_CHECKPOINT.",
        {**inconsistent, "reason": "INCONSISTENT_CHECKPOINT"},
        malformed,
        ["§8.4.2"],
        inconsistent,
    )
    first_hash = inconsistent["prefix"][0]
    # A hash's base64 ends in one '=': its last letter carries 4 bits of the hash and 2 zero
    # bits; setting those gives another string of the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    loose = first_hash[:-2] + alphabet[alphabet.index(first_hash[-2]) | 1] + "="
    for name, description, value in (
        ("inconsistent-checkpoints-prefix-hash-not-base64", "A prefix hash of 44 '!'.", "!" * 44),
        (
            "inconsistent-checkpoints-prefix-hash-non-canonical-base64",
            "A prefix hash whose base64 has a padding bit set (RFC 4648 §3.5: not canonical).",
            loose,
        ),
        ("inconsistent-checkpoints-prefix-hash-not-a-string", "A prefix hash that is 0.", 0),
    ):
        add(
            name,
            description,
            {**inconsistent, "prefix": [value, *inconsistent["prefix"][1:]]},
            malformed,
            ["§8.4.3"],
            inconsistent,
        )
    add(
        "inconsistent-checkpoints-prefix-not-an-array",
        "The prefix is one string, not an array.",
        {**inconsistent, "prefix": first_hash},
        malformed,
        ["§8.4.3"],
        inconsistent,
    )
    # 0 < m < n (SPEC §8.4.2) at each end: equal sizes (a split view, not this kind) and m = 1.
    add(
        "inconsistent-checkpoints-of-equal-sizes",
        "Two different checkpoints of size 2, the prefix the second's whole tree, no proof.",
        inconsistency_evidence(
            ours, theirs, compact_range(2, fork.store).hashes, [], origin=LOG_ORIGIN, **_SEEN
        ),
        unfounded,
        ["§8.4.2"],
        inconsistent,  # the new checkpoint of the fork at size 3, with its proof from 2
    )
    three = World()
    for n in range(3):
        three.append(b"entry %d" % n)
    add(
        "inconsistent-checkpoints-old-of-size-0",
        "A log-signed checkpoint of size 0 whose root is not the empty tree's, and one of size "
        "3: m = 0 is outside this kind (0 < m < n), whatever the roots.",
        inconsistency_evidence(
            three.checkpoint(0, root_hash=b"\x01" * 32),
            three.checkpoint(),
            [],
            [],
            origin=LOG_ORIGIN,
            **_SEEN,
        ),
        unfounded,
        ["§8.4.2"],
        # m = 1: the old checkpoint of size 1 with a root that is not the first leaf's.
        inconsistency_evidence(
            three.checkpoint(1, root_hash=b"\x01" * 32),
            three.checkpoint(),
            compact_range(1, three.store).hashes,
            consistency_proof(1, 3, three.store),
            origin=LOG_ORIGIN,
            **_SEEN,
        ),
    )
    other = World()
    other.append(b"another first entry")
    other.append(b"a second entry")
    add(
        "inconsistent-checkpoints-old-of-size-1",
        "A checkpoint of size 1 and one of size 2 whose first leaf is another entry.",
        inconsistency_evidence(
            w.checkpoint(1),
            other.checkpoint(),
            compact_range(1, other.store).hashes,
            consistency_proof(1, 2, other.store),
            origin=LOG_ORIGIN,
            **_SEEN,
        ),
        ACCEPT,
        ["§8.4.2"],
    )
    zero = b64(bytes(32))
    add(
        "inconsistent-checkpoints-proof-of-64-hashes",
        "A consistency proof of 64 hashes, the most allowed: well formed, it shows nothing.",
        {**inconsistent, "consistency_proof": [zero] * 64},
        unfounded,
        ["§8.4.3"],
        no_twin="no-neighbour: only a tree of 2^63 leaves or more has a proof this long",
    )
    add(
        "inconsistent-checkpoints-proof-of-65-hashes",
        "A consistency proof of 65 hashes, one past the most allowed.",
        {**inconsistent, "consistency_proof": [zero] * 65},
        malformed,
        ["§8.4.3"],
        no_twin="no-neighbour: only a tree of 2^63 leaves or more has a proof this long",
    )

    # entries (SPEC §8.2, §8.4.2): the log of add_evidence_family, and a second one.
    def bad_log(*, forge_first: bool = False) -> World:
        """Epoch 1, epoch 3 (a gap), another epoch 1; ``forge_first``: entry 0's independent
        signature broken (the twin of a claim about a valid bundle)."""
        log = World()
        first = bytearray(log.signed_bundle(DEFAULT_FLEET, 1))
        if forge_first:
            first[-1] ^= 1
        log.append(bytes(first))
        log.append(log.signed_bundle(DEFAULT_FLEET, 3, previous=b"\x33" * 32))
        log.append(log.signed_bundle(DEFAULT_FLEET, 1, not_after=log.now + 400 * 86400))
        return log

    bad = bad_log()
    cp = bad.checkpoint()

    def claim(  # noqa: PLR0917 (the members of an entries claim, in SPEC §8.4.2 order)
        log: World,
        checkpoint: bytes,
        reason: str,
        index: int,
        related: int | None,
        spans: Sequence[tuple[int, int]],
        fingerprints: Sequence[str] = (),
    ) -> dict[str, Any]:
        return entries_evidence(
            checkpoint,
            [_range(log, a, b, log.size) for a, b in spans],
            reason=reason,
            index=index,
            related=related,
            fingerprints=fingerprints,
            origin=LOG_ORIGIN,
            **_SEEN,
        )

    conflict = claim(bad, cp, "EPOCH_CONFLICT", 2, 0, [(0, 1), (2, 3)])
    rollback = claim(bad, cp, "ROLLBACK", 2, 1, [(1, 3)])
    add("entries-rollback", "Epoch 3 at entry 1, then epoch 1 at entry 2.", rollback, ACCEPT,
        ["§8.2", "§8.4.2"])  # fmt: skip
    add(
        "entries-epoch-gap-from-the-log-start",
        "An epoch gap without related: the fleet is replayed from entry 0.",
        claim(bad, cp, "EPOCH_GAP", 1, None, [(0, 2)]),
        ACCEPT,
        ["§8.2", "§8.4.2"],
    )
    shape = [
        ("entries-claim-of-another-kind", "entries evidence claiming WRONG_ORIGIN.",
         {**conflict, "reason": "WRONG_ORIGIN"}),
        ("entries-related-equal-to-index", "related equal to index.", {**conflict, "related": 2}),
        ("entries-related-negative", "related -1.", {**conflict, "related": -1}),
        ("entries-related-not-an-integer", "related the string \"0\".",
         {**conflict, "related": "0"}),
        ("entries-conflict-without-related", "An EPOCH_CONFLICT claim with related null.",
         {**conflict, "related": None}),
        ("entries-without-ranges", "An empty ranges array.", {**conflict, "ranges": []}),
        ("entries-range-not-an-object", "A range that is an array.",
         {**conflict, "ranges": [conflict["ranges"][0], list(conflict["ranges"][1].values())]}),
        ("entries-range-extra-member", "A range with a member it does not define.",
         {**conflict, "ranges": [conflict["ranges"][0], {**conflict["ranges"][1], "size": 3}]}),
        ("entries-range-without-entries", "A range whose entries array is empty.",
         {**conflict, "ranges": [conflict["ranges"][0], {**conflict["ranges"][1], "entries": []}]}),
        ("entries-fingerprints-not-strings", "fingerprints holding a number.",
         {**conflict, "fingerprints": [1]}),
        ("entries-fingerprints-on-a-conflict-claim",
         "An EPOCH_CONFLICT claim naming a fingerprint: only UNEXPECTED_KEY names keys.",
         {**conflict, "fingerprints": ["00" * 32]}),
    ]  # fmt: skip
    for name, description, value in shape:
        add(name, description, value, malformed, ["§8.4.2", "§8.4.3"], conflict)

    # MAX_EVIDENCE_ENTRIES (65536) in all ranges: at the cap the file is well formed (its
    # range runs past the checkpoint: UNFOUNDED), one past it is format.
    def empty_entries(start: int, count: int) -> dict[str, Any]:
        return {"start": start, "entries": [""] * count, "left": [], "right": []}

    for name, description, ranges, code in (
        ("entries-65536-entries", "One range of MAX_EVIDENCE_ENTRIES (65536) empty entries.",
         [empty_entries(0, 65536)], unfounded),
        ("entries-65537-entries", "One range of 65537 empty entries.",
         [empty_entries(0, 65537)], malformed),
        ("entries-65537-entries-in-two-ranges", "Ranges of 65536 and 1 empty entries.",
         [empty_entries(0, 65536), empty_entries(65536, 1)], malformed),
    ):  # fmt: skip
        add(name, description, {**conflict, "ranges": ranges}, code, ["§8.4.3", "§11"],
            no_twin="no-neighbour: a limit no valid input reaches (an accepted claim over "
            "65536 entries needs a log of that size)")  # fmt: skip
    # MAX_ENTRY_SIZE (65535): an entry at the cap is well formed (not the log's: UNFOUNDED).
    for name, description, length, code in (
        ("entries-entry-of-65535-bytes", "A range whose entry is MAX_ENTRY_SIZE (65535) bytes.",
         65535, unfounded),
        ("entries-entry-of-65536-bytes", "A range whose entry is 65536 bytes.", 65536,
         malformed),
    ):  # fmt: skip
        ranges = [conflict["ranges"][0], {**conflict["ranges"][1], "entries": [b64(bytes(length))]}]
        add(name, description, {**conflict, "ranges": ranges}, code, ["§8.4.3", "§11"],
            no_twin="no-neighbour: a founded claim needs a bundle of exactly 65535 bytes in "
            "a log, which no generated bundle comes near")  # fmt: skip
    add(
        "entries-index-not-carried",
        "An EPOCH_CONFLICT claim about entry 3, which no range carries.",
        {**conflict, "index": 3},
        unfounded,
        ["§8.4.2"],
        conflict,
    )
    add(
        "entries-adjacent-ranges",
        "The epoch gap of entries 0 and 1 proven as two adjacent ranges, 0..0 and 1..1.",
        claim(bad, cp, "EPOCH_GAP", 1, 0, [(0, 1), (1, 2)]),
        ACCEPT,
        ["§8.4.2"],
    )
    add(
        "entries-rollback-claim-on-equal-epochs",
        "A ROLLBACK claim about entries 0 and 2, both epoch 1.",
        claim(bad, cp, "ROLLBACK", 2, 0, [(0, 1), (2, 3)]),
        unfounded,
        ["§8.4.2"],
        rollback,  # related 1, the entry of epoch 3 before entry 2
    )
    every = sorted(k.fingerprint for k in parse_payload(bad.bundle(DEFAULT_FLEET, 1)).keys)
    add(
        "entries-unexpected-key-every-key",
        "An UNEXPECTED_KEY claim naming every key entry 0 carries.",
        claim(bad, cp, "UNEXPECTED_KEY", 0, None, [(0, 1)], every),
        ACCEPT,
        ["§8.4.2"],
    )
    keys = sorted(k.fingerprint for k in parse_payload(bad.bundle(DEFAULT_FLEET, 1)).keys[:2])
    unexpected = claim(bad, cp, "UNEXPECTED_KEY", 0, None, [(0, 1)], keys)
    for name, description, fingerprints, code in (
        ("entries-fingerprints-unsorted", "The two fingerprints in descending order.",
         keys[::-1], malformed),
        ("entries-fingerprints-repeated", "One fingerprint twice.", [keys[0], keys[0]], malformed),
        ("entries-unexpected-key-without-fingerprints", "An UNEXPECTED_KEY claim naming no key.",
         [], unfounded),
    ):  # fmt: skip
        add(name, description, {**unexpected, "fingerprints": fingerprints}, code,
            ["§8.4.2"], unexpected)  # fmt: skip
    forged = bad_log(forge_first=True)
    add(
        "entries-claim-about-a-valid-bundle",
        "A BAD_INDEPENDENT_SIGNATURE claim about entry 0, a valid bundle.",
        claim(bad, cp, "BAD_INDEPENDENT_SIGNATURE", 0, None, [(0, 1)]),
        unfounded,
        ["§8.4.2"],
        # Entry 0 with its independent signature broken.
        claim(forged, forged.checkpoint(), "BAD_INDEPENDENT_SIGNATURE", 0, None, [(0, 1)]),
    )

    # A second log: a broken chain, a repeated entry, rotations. Its arguments change one
    # entry each, to build the repaired twins of the claims the default log makes false.
    def second_log(
        *,
        second_epoch: int = 2,
        third_epoch: int = 2,
        repeat: bool = True,
        rotation_version: int = 2,
        staging_payload: Callable[[World], bytes] = lambda log: log.bundle("staging.vault", 1),
    ) -> tuple[World, bytes]:
        log = World()
        a1, _ = log.publish(DEFAULT_FLEET, 1)
        # 1: epoch 2 (by default) naming another previous bundle: a broken chain
        log.append(log.signed_bundle(DEFAULT_FLEET, second_epoch, previous=b"\x77" * 32))
        log.publish(DEFAULT_FLEET, third_epoch)  # 2: epoch 2 (by default) after epoch 1
        # 3: entry 0 again, or another bundle of epoch 1
        log.append(
            a1 if repeat else log.signed_bundle(DEFAULT_FLEET, 1, not_after=log.now + 400 * 86400)
        )
        op2 = role_signer("operator v2")
        log.append(  # 4: a valid rotation to a new operator key
            log.sign_root(
                log.make_root(rotation_version, operator=[(OPERATOR_ORG, op2)]),
                [log.independent, log.operator, op2],
            )
        )
        staging = log.sign(staging_payload(log))
        log.append(log.countersign(staging))  # 5: countersigned by the retired operator key
        log.append(log.countersign(staging, op2))  # 6: countersigned by the new one
        log.append(  # 7: version 3 signed by the new keys only
            log.sign_root(
                log.make_root(3, operator=[(OPERATOR_ORG, role_signer("operator v3"))]),
                [role_signer("operator v3")],
            )
        )
        return log, log.checkpoint()

    log, lcp = second_log()
    whole = [(0, log.size)]

    def twin(reason: str, index: int, related: int | None, **change: Any) -> dict[str, Any]:
        """The claim over the whole of ``second_log(**change)``: the default log with the one
        entry changed that makes the claim true (or, without ``change``, the default log)."""
        other, other_cp = second_log(**change)
        return claim(other, other_cp, reason, index, related, whole)

    def default_fleet_bundle(epoch: int, **kwargs: object) -> Callable[[World], bytes]:
        return lambda log: log.bundle(DEFAULT_FLEET, epoch, **kwargs)  # type: ignore[arg-type]

    later = default_fleet_bundle(1, not_after=T0 + 400 * 86400)
    cases = [
        ("entries-broken-chain", "Epoch 2 at entry 1 names another previous bundle than entry 0.",
         ("BROKEN_CHAIN", 1, 0, whole), ACCEPT, None),
        ("entries-broken-chain-claim-on-a-linked-epoch",
         "A BROKEN_CHAIN claim about entry 2, which names entry 0.",
         ("BROKEN_CHAIN", 2, 0, whole), unfounded,
         twin("BROKEN_CHAIN", 1, 0)),  # about entry 1, whose epoch is not linked
        ("entries-epoch-conflict-with-the-same-bundle",
         "An EPOCH_CONFLICT claim about entry 3, the same bundle as entry 0.",
         ("EPOCH_CONFLICT", 3, 0, whole), unfounded,
         twin("EPOCH_CONFLICT", 3, 0, repeat=False)),  # entry 3 another bundle of epoch 1
        ("entries-epoch-conflict-of-two-fleets",
         "An EPOCH_CONFLICT claim between epoch 1 of two fleets (entries 0 and 6).",
         ("EPOCH_CONFLICT", 6, 0, whole), unfounded,
         twin("EPOCH_CONFLICT", 6, 0, staging_payload=later)),  # entry 6 of entry 0's fleet
        ("entries-unknown-key-after-rotation",
         "Entry 5 is countersigned by the operator key that the rotation at entry 4 retired.",
         ("UNKNOWN_KEY", 5, None, whole), ACCEPT, None),
        ("entries-claim-about-a-bundle-valid-after-rotation",
         "An UNKNOWN_KEY claim about entry 6, countersigned by the rotated-in key.",
         ("UNKNOWN_KEY", 6, None, whole), unfounded,
         twin("UNKNOWN_KEY", 5, None)),  # about entry 5: the same bundle, the retired key
        ("entries-rotation-below-the-threshold",
         "Entry 7 rotates to version 3 signed by the new operator key only.",
         ("TRUST_ROOT_THRESHOLD_NOT_MET", 7, None, whole), ACCEPT, None),
        ("entries-claim-about-a-valid-rotation",
         "A TRUST_ROOT_VERSION claim about entry 4, a valid rotation from version 1.",
         ("TRUST_ROOT_VERSION", 4, None, whole), unfounded,
         twin("TRUST_ROOT_VERSION", 4, None, rotation_version=3)),  # from version 1 to 3
        ("entries-epoch-gap-claim-on-a-broken-chain",
         "An EPOCH_GAP claim about entry 1, whose replay gives BROKEN_CHAIN.",
         ("EPOCH_GAP", 1, 0, whole), unfounded,
         twin("EPOCH_GAP", 1, 0, second_epoch=3)),  # entry 1 of epoch 3
        ("entries-epoch-gap-claim-without-a-gap",
         "An EPOCH_GAP claim about entry 2: the replay admits it.",
         ("EPOCH_GAP", 2, 0, whole), unfounded,
         twin("EPOCH_GAP", 2, 0, third_epoch=3)),  # entry 2 of epoch 3
        ("entries-epoch-gap-from-another-fleet",
         "An EPOCH_GAP claim about entry 6 from entry 0, a bundle of another fleet.",
         ("EPOCH_GAP", 6, 0, whole), unfounded,
         # entry 6 of entry 0's fleet, at epoch 4
         twin("EPOCH_GAP", 6, 0, staging_payload=default_fleet_bundle(4, previous=b"\x77" * 32))),
    ]  # fmt: skip
    for name, description, (reason, index, related, spans), want, repaired in cases:
        add(name, description, claim(log, lcp, reason, index, related, spans), want,
            ["§8.2", "§8.4.2"], repaired)  # fmt: skip

    # A fleet's whole chain, epochs 1, 2 and 3: an epoch-gap claim must replay every entry
    # between (SPEC §8.4.2), from `related` or from entry 0.
    chain = World()
    for epoch in (1, 2, 3):
        chain.publish(DEFAULT_FLEET, epoch)
    ccp = chain.checkpoint()
    # The twins: the same claims where entry 1 is a bundle of another fleet, not epoch 2.
    holed = World()
    holed.publish(DEFAULT_FLEET, 1)
    holed.publish("other-fleet", 1)
    holed.append(
        holed.signed_bundle(DEFAULT_FLEET, 3, previous=signed_bundle_digest(holed.entries[0]))
    )
    hcp = holed.checkpoint()
    for name, description, related in (
        ("entries-epoch-gap-claim-on-a-chain",
         "An EPOCH_GAP claim about epoch 3 (entry 2) from epoch 1 (entry 0): entry 1 is epoch 2.",
         0),
        ("entries-epoch-gap-claim-on-a-chain-from-the-start",
         "An EPOCH_GAP claim about epoch 3 (entry 2) without related: the replay from entry 0 "
         "admits it.",
         None),
    ):  # fmt: skip
        add(name, description, claim(chain, ccp, "EPOCH_GAP", 2, related, [(0, 3)]), unfounded,
            ["§8.2", "§8.4.2"], claim(holed, hcp, "EPOCH_GAP", 2, related, [(0, 3)]))  # fmt: skip

    # A replay past a bundle behind the fleet's head (SPEC §8.2: a refused bundle is skipped,
    # never a head): epochs 1 and 2, another bundle of epoch 1 (a ROLLBACK), then epoch 4.
    # The replay without a log's index lookup must skip the rollback, not fail on it (issue
    # 17, `keybundle.admission:139:cmp`).
    back = World()
    back.publish(DEFAULT_FLEET, 1)
    back.publish(DEFAULT_FLEET, 2)
    back.append(back.signed_bundle(DEFAULT_FLEET, 1, not_after=back.now + 400 * 86400))
    back.append(
        back.signed_bundle(DEFAULT_FLEET, 4, previous=signed_bundle_digest(back.entries[1]))
    )
    add(
        "entries-epoch-gap-replay-past-a-rollback",
        "An EPOCH_GAP claim about epoch 4 (entry 3) without related: the replay from entry 0 "
        "skips entry 2, another bundle of epoch 1 behind epoch 2.",
        claim(back, back.checkpoint(), "EPOCH_GAP", 3, None, [(0, 4)]),
        ACCEPT,
        ["§8.2", "§8.4.2"],
    )

    # tile_mismatch (SPEC §8.4.2, §8.4.3).
    small = World()
    for n in range(3):
        small.append(b"tile entry %d" % n)
    served = {
        Tile(0, 0, 3).path(): tile_data(Tile(0, 0, 3), small.store),
        entries_path(0, 3): encode_entry_bundle(
            [small.entries[0], b"not entry 1", small.entries[2]]
        ),
    }
    tiles = tile_evidence(
        small.checkpoint(), {"start": 0, "stop": 3}, served, origin=LOG_ORIGIN, **_SEEN
    )

    def with_resources(count: int) -> dict[str, Any]:
        """``tiles`` plus unused level-1 tiles, to ``count`` resources in all."""
        extra = {Tile(1, i, 256).path(): b64(bytes(32)) for i in range(count - 2)}
        return {**tiles, "resources": {**tiles["resources"], **extra}}

    add(
        "tile-mismatch-1024-resources",
        "The tile-mismatch file with 1022 unused tiles: MAX_EVIDENCE_RESOURCES resources.",
        with_resources(1024),
        ACCEPT,
        ["§8.4.2", "§11"],
    )
    add(
        "tile-mismatch-1025-resources",
        "The tile-mismatch file with 1023 unused tiles: one past MAX_EVIDENCE_RESOURCES.",
        with_resources(1025),
        malformed,
        ["§8.4.2", "§11"],
        with_resources(1024),
    )
    for name, description, value in (
        ("tile-mismatch-other-reason", "tile_mismatch evidence claiming BAD_INCLUSION_PROOF.",
         {**tiles, "reason": "BAD_INCLUSION_PROOF"}),
        ("tile-mismatch-resource-path-escapes", "A resource at the path ../tile/0/000.",
         {**tiles, "resources": {**tiles["resources"], "../tile/0/000": b64(b"x")}}),
        ("tile-mismatch-operation-extra-member", "The operation {start, stop, old_size}.",
         {**tiles, "operation": {"start": 0, "stop": 3, "old_size": 1}}),
        ("tile-mismatch-operation-start-only", "The operation {start} without stop.",
         {**tiles, "operation": {"start": 0}}),
        ("tile-mismatch-resource-not-base64", "A resource whose value is not base64.",
         {**tiles, "resources": {**tiles["resources"], Tile(1, 0, 256).path(): "!"}}),
    ):  # fmt: skip
        add(name, description, value, malformed, ["§8.4.2", "§8.4.3"], tiles)
    # A resource longer than its reader's cap is of the wrong length: MALFORMED_TILE (§2.9
    # rule 1), shown, never a failure to read it.
    honest_bundle = encode_entry_bundle(small.entries)
    level0 = tile_data(Tile(0, 0, 3), small.store)
    for name, description, tile_bytes, bundle_bytes in (
        ("tile-mismatch-tile-one-byte-long",
         "The level-0 tile served with one byte more than its 3 hashes; the bundle honest.",
         level0 + b"\x00", honest_bundle),
        ("tile-mismatch-bundle-two-bytes-long",
         "The entry bundle served with two bytes after its 3 entries; the tile honest.",
         level0, honest_bundle + b"\x00\x00"),
    ):  # fmt: skip
        add(
            name,
            description,
            tile_evidence(
                small.checkpoint(),
                {"start": 0, "stop": 3},
                {Tile(0, 0, 3).path(): tile_bytes, entries_path(0, 3): bundle_bytes},
                origin=LOG_ORIGIN,
                **_SEEN,
            ),
            ACCEPT,
            ["§2.9", "§8.4.2"],
        )
    # The consistency-proof reading (operation old_size).
    bent = bytearray(tile_data(Tile(0, 0, 3), small.store))
    bent[0] ^= 1
    proof_tiles = tile_evidence(
        small.checkpoint(),
        {"old_size": 1},
        {Tile(0, 0, 3).path(): bytes(bent)},
        origin=LOG_ORIGIN,
        **_SEEN,
    )
    add(
        "tile-mismatch-consistency-proof",
        "The level-0 tile served for the consistency proof from size 1 has a changed hash.",
        proof_tiles,
        ACCEPT,
        ["§8.4.2"],
    )
    add(
        "tile-mismatch-consistency-proof-beyond-the-checkpoint",
        "The consistency proof from size 4, past the checkpoint's size 3.",
        {**proof_tiles, "operation": {"old_size": 4}},
        unfounded,
        ["§8.4.2", "§8.4.3"],
        proof_tiles,
    )


def _bundle_limits(add: Callable[..., None], small: World) -> None:
    """Entry bundles at the parser's limits (SPEC §6.1; issue 17), read by a tile_mismatch
    file: a malformed bundle is MALFORMED_TILE, so the claim holds (ACCEPT), and an honest
    one at a limit authenticates, so the file shows nothing (UNFOUNDED_EVIDENCE)."""

    def reading(w: World, bundle: bytes) -> bytes:
        size = w.size
        resources = {
            Tile(0, 0, size).path(): tile_data(Tile(0, 0, size), w.store),
            entries_path(0, size): bundle,
        }
        operation = {"start": 0, "stop": size}
        evidence = tile_evidence(w.checkpoint(), operation, resources, origin=LOG_ORIGIN, **_SEEN)
        return encode_evidence(evidence)

    entries = small.entries
    add(
        "tile-mismatch-bundle-one-entry-short",
        "The bundle of width 3 holding only the first 2 of its entries, each authentic: a "
        "bundle with fewer entries than its width is MALFORMED_TILE (SPEC §6.1).",
        reading(small, encode_entry_bundle(entries[:2])),
        ACCEPT,
        ["§8.4.2", "§6.1"],
    )
    long_prefix = encode_entry_bundle(entries)
    cut = len(long_prefix) - len(entries[2]) - 2
    last = (len(entries[2]) + 1).to_bytes(2, "big")
    add(
        "tile-mismatch-bundle-last-entry-one-byte-short",
        "The honest bundle of width 3 whose last length prefix says one byte more than follows: "
        "the entry is cut short (MALFORMED_TILE), though the bytes there are the authentic entry.",
        reading(small, long_prefix[:cut] + last + entries[2]),
        ACCEPT,
        ["§8.4.2", "§6.1"],
    )
    empty_last = World()
    empty_last.append(b"tile entry 0")
    empty_last.append(b"")
    add(
        "tile-mismatch-honest-bundle-ending-in-an-empty-entry",
        "Honest resources of a log whose last entry is empty: the bundle ends with the length "
        "prefix 0x0000 and nothing after it, which is a complete entry.",
        reading(empty_last, encode_entry_bundle(empty_last.entries)),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§6.1"],
        repaired=reading(empty_last, encode_entry_bundle([b"tile entry 0", b"x"])),
    )
    one = World()
    one.append(b"the only entry")
    add(
        "tile-mismatch-honest-bundle-of-width-1",
        "Honest resources of a log of one entry: the partial bundle of width 1 (path "
        f"{entries_path(0, 1)}), the smallest width.",
        reading(one, encode_entry_bundle(one.entries)),
        reject("UNFOUNDED_EVIDENCE"),
        ["§8.4.2", "§6.1"],
        repaired=reading(one, encode_entry_bundle([b"not the only entry"])),
    )
