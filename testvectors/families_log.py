"""Vectors of the transparency-log primitives (SPEC §2): merkle, note, checkpoint, tlog-proof,
policy and tiles.

Published known answers (testvectors/published.py) are carried with their ``source``; every
other case is built here from fixed keys, named for what it breaks.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.signing import SigningKey

from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.cosignature import CosignatureV1Signer, cosigned_message
from transparency_log.merkle import EMPTY_ROOT, MAX_TREE_SIZE, leaf_hash
from transparency_log.proof import (
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    root_from_inclusion_proof,
    tree_root,
)
from transparency_log.tlog_proof import MAX_TLOG_PROOF_BYTES, TLOG_PROOF_HEADER, TlogProof

from . import published as pub
from .vectorset import ACCEPT, VectorMismatchError, VectorSet, Want, b64, reject
from .world import LOG_ORIGIN, SparseTree, World, crafted_ed25519_signature, seed

__all__ = ["add_log_families"]

_L = 2**252 + 27742317777372353535851937790883648493
"""The order of the Ed25519 base point (RFC 8032): S + L is the malleated signature."""


def _flip(data: bytes, position: int = -1, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


def _sign_line(text: str, w: World) -> note.Signature:
    """The log's signature of any ``text`` (note.sign refuses texts that are not notes')."""
    raw = SigningKey(seed("log")).sign(text.encode()).signature
    key = w.log_signer.verifier()
    return note.Signature(key.name, key.key_hash, raw)


def _lines(text: str, sigs: Sequence[note.Signature]) -> bytes:
    return (text + "\n" + "".join(s.to_line() for s in sigs)).encode()


# --- merkle (SPEC §2.1-§2.3) -----------------------------------------------------------------


def _forge_all(signed_note: bytes) -> bytes:
    """``signed_note`` with one bit of every signature changed."""
    text, sigs = note.parse_unverified(signed_note)
    return _lines(text, [note.Signature(x.name, x.key_hash, _flip(x.signature)) for x in sigs])


def _merkle(vs: VectorSet) -> None:
    fam, src = "merkle", pub.RFC9162_SOURCE
    entries = [bytes.fromhex(h) for h in pub.RFC9162_LEAF_INPUTS_HEX]
    roots = [bytes.fromhex(h) for h in pub.RFC9162_ROOT_BY_SIZE]
    store = MemoryHashStore([leaf_hash(e) for e in entries])

    for n, root in enumerate(roots):
        expect = vs.add(
            fam,
            f"root-of-rfc9162-test-tree-size-{n}",
            f"The root (MTH) of the first {n} entries of the RFC 9162 test tree.",
            ["§2.1"],
            {"op": "root", "entries_hex": [e.hex() for e in entries[:n]]},
            ACCEPT,
            source=src,
        )
        if expect["root_hex"] != root.hex():
            raise VectorMismatchError(f"size {n}: root {expect['root_hex']} is not the published")
    entry, want = pub.RFC9162_LEAF_HASH_KAT
    expect = vs.add(
        fam,
        "root-of-one-entry-is-its-leaf-hash",
        "The root of a one-entry tree is SHA-256(0x00 || entry): the leaf prefix is hashed in.",
        ["§2.1"],
        {"op": "root", "entries_hex": [entry.encode().hex()]},
        ACCEPT,
        source=src,
    )
    if expect["root_hex"] != want:
        raise VectorMismatchError("the leaf-hash known answer does not match")

    def inclusion(
        index: int, size: int, proof: Sequence[bytes], root: bytes, leaf: bytes
    ) -> dict[str, Any]:
        return {
            "op": "inclusion",
            "leaf_hash_hex": leaf.hex(),
            "index": index,
            "size": size,
            "proof_hex": [h.hex() for h in proof],
            "root_hex": root.hex(),
        }

    for index, size, proof_hex in pub.RFC9162_INCLUSION:
        vs.add(
            fam,
            f"inclusion-rfc9162-index-{index}-size-{size}",
            f"The published inclusion proof of entry {index} in the test tree of size {size}.",
            ["§2.2"],
            inclusion(
                index,
                size,
                [bytes.fromhex(h) for h in proof_hex],
                roots[size],
                leaf_hash(entries[index]),
            ),
            ACCEPT,
            source=src,
        )
    p58 = inclusion_proof(5, 8, store)
    leaf5 = leaf_hash(entries[5])
    bad_inclusion = [
        (
            "inclusion-index-equal-to-size",
            "A leaf index equal to the tree size is outside the tree, whatever the proof.",
            inclusion(7, 7, [], roots[7], leaf_hash(entries[7])),
            "BAD_INCLUSION_PROOF",
            inclusion(7, 8, inclusion_proof(7, 8, store), roots[8], leaf_hash(entries[7])),
        ),
        (
            "inclusion-in-empty-tree",
            "Nothing is included in the tree of size 0.",
            inclusion(0, 0, [], EMPTY_ROOT, leaf_hash(entries[0])),
            "BAD_INCLUSION_PROOF",
            inclusion(0, 1, [], roots[1], leaf_hash(entries[0])),
        ),
        (
            "inclusion-proof-one-hash-too-many",
            "A proof one hash longer than index and size allow is rejected, not truncated.",
            inclusion(5, 8, [*p58, bytes(32)], roots[8], leaf5),
            "MALFORMED_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-proof-one-hash-too-few",
            "A proof one hash shorter than index and size require.",
            inclusion(5, 8, p58[:-1], roots[8], leaf5),
            "MALFORMED_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-proof-hash-of-31-bytes",
            "A proof hash that is not exactly 32 bytes.",
            inclusion(5, 8, [p58[0][:31], *p58[1:]], roots[8], leaf5),
            "MALFORMED_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-single-leaf-tree-with-a-hash",
            "The proof of the only leaf of a tree of size 1 is empty; one hash is too many.",
            inclusion(0, 1, [roots[1]], roots[1], leaf_hash(entries[0])),
            "MALFORMED_PROOF",
            inclusion(0, 1, [], roots[1], leaf_hash(entries[0])),
        ),
        (
            "inclusion-proof-hashes-reversed",
            "The right hashes in the wrong order lead to another root.",
            inclusion(5, 8, list(reversed(p58)), roots[8], leaf5),
            "BAD_INCLUSION_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-proof-of-sibling-index",
            "The proof of entry 4 (same length) does not prove entry 5.",
            inclusion(5, 8, inclusion_proof(4, 8, store), roots[8], leaf5),
            "BAD_INCLUSION_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-leaf-of-another-entry",
            "Entry 4's leaf hash with entry 5's proof and index.",
            inclusion(5, 8, p58, roots[8], leaf_hash(entries[4])),
            "BAD_INCLUSION_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-root-of-another-size",
            "A proof in the tree of size 8 checked against the root of size 7.",
            inclusion(5, 8, p58, roots[7], leaf5),
            "BAD_INCLUSION_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-entry-hash-without-leaf-prefix",
            "SHA-256 of the entry without the 0x00 leaf prefix is not its leaf hash.",
            inclusion(5, 8, p58, roots[8], hashlib.sha256(entries[5]).digest()),
            "BAD_INCLUSION_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
        (
            "inclusion-proof-hash-flipped",
            "One bit of one proof hash changed.",
            inclusion(5, 8, [p58[0], _flip(p58[1]), p58[2]], roots[8], leaf5),
            "BAD_INCLUSION_PROOF",
            inclusion(5, 8, p58, roots[8], leaf5),
        ),
    ]
    for name, description, inp, reason, twin in bad_inclusion:
        vs.add(fam, name, description, ["§2.2"], inp, reject(reason), repaired=twin)

    def consistency(m: int, n: int, proof: Sequence[bytes], r1: bytes, r2: bytes) -> dict[str, Any]:
        return {
            "op": "consistency",
            "size1": m,
            "size2": n,
            "proof_hex": [h.hex() for h in proof],
            "root1_hex": r1.hex(),
            "root2_hex": r2.hex(),
        }

    for m, n, proof_hex in pub.RFC9162_CONSISTENCY:
        vs.add(
            fam,
            f"consistency-rfc9162-size-{m}-to-{n}",
            f"The published consistency proof from size {m} to size {n} of the test tree.",
            ["§2.3"],
            consistency(m, n, [bytes.fromhex(h) for h in proof_hex], roots[m], roots[n]),
            ACCEPT,
            source=src,
        )
    witness_roots = {
        int(text.split("\n")[1]): base64.b64decode(text.split("\n")[2])
        for text in pub.WITNESS_CHECKPOINTS
    }
    for m, n, proof_b64 in pub.WITNESS_CONSISTENCY:
        vs.add(
            fam,
            f"consistency-tlog-witness-size-{m}-to-{n}",
            f"A witness conversation's consistency proof from size {m} to {n} between the "
            "roots of two log-signed checkpoints.",
            ["§2.3"],
            consistency(
                m, n, [base64.b64decode(h) for h in proof_b64], witness_roots[m], witness_roots[n]
            ),
            ACCEPT,
            source=pub.WITNESS_SOURCE,
        )
    p38 = consistency_proof(3, 8, store)
    p48 = consistency_proof(4, 8, store)
    bad_consistency = [
        (
            "consistency-old-size-larger-than-new",
            "A log never shrinks: size 5 to size 3 is rejected whatever the proof.",
            consistency(5, 3, [], roots[5], roots[3]),
            "BAD_CONSISTENCY_PROOF",
            consistency(3, 5, consistency_proof(3, 5, store), roots[3], roots[5]),
        ),
        (
            "consistency-from-size-0-with-a-hash",
            "From size 0 the proof is empty; one hash is malformed.",
            consistency(0, 5, [roots[5]], EMPTY_ROOT, roots[5]),
            "MALFORMED_PROOF",
            consistency(0, 5, [], EMPTY_ROOT, roots[5]),
        ),
        (
            "consistency-equal-sizes-different-roots",
            "Two roots for one size are a split view.",
            consistency(3, 3, [], roots[3], roots[4]),
            "BAD_CONSISTENCY_PROOF",
            consistency(3, 3, [], roots[3], roots[3]),
        ),
        (
            "consistency-empty-trees-different-roots",
            "Two roots for size 0 are a split view too (only SHA-256 of the empty string is "
            "the empty tree's root).",
            consistency(0, 0, [], EMPTY_ROOT, bytes(32)),
            "BAD_CONSISTENCY_PROOF",
            consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT),
        ),
        (
            "consistency-equal-sizes-with-a-hash",
            "Between equal sizes the proof is empty; one hash is malformed.",
            consistency(3, 3, [roots[3]], roots[3], roots[3]),
            "MALFORMED_PROOF",
            consistency(3, 3, [], roots[3], roots[3]),
        ),
        (
            "consistency-power-of-two-with-seed-included",
            "From a power-of-two size the old root is the seed and is left out; a proof that "
            "includes it is one hash too long.",
            consistency(4, 8, [roots[4], *p48], roots[4], roots[8]),
            "MALFORMED_PROOF",
            consistency(4, 8, p48, roots[4], roots[8]),
        ),
        (
            "consistency-one-hash-too-few",
            "A consistency proof one hash shorter than the sizes require.",
            consistency(3, 8, p38[:-1], roots[3], roots[8]),
            "MALFORMED_PROOF",
            consistency(3, 8, p38, roots[3], roots[8]),
        ),
        (
            "consistency-hash-of-33-bytes",
            "A consistency proof hash that is not exactly 32 bytes.",
            consistency(3, 8, [p38[0] + b"\x00", *p38[1:]], roots[3], roots[8]),
            "MALFORMED_PROOF",
            consistency(3, 8, p38, roots[3], roots[8]),
        ),
        (
            "consistency-proof-hash-flipped",
            "One bit of the proof's first hash changed.",
            consistency(3, 8, [_flip(p38[0]), *p38[1:]], roots[3], roots[8]),
            "BAD_CONSISTENCY_PROOF",
            consistency(3, 8, p38, roots[3], roots[8]),
        ),
        (
            "consistency-wrong-old-root",
            "A valid proof from size 3 checked against the root of size 4 as the old root.",
            consistency(3, 8, p38, roots[4], roots[8]),
            "BAD_CONSISTENCY_PROOF",
            consistency(3, 8, p38, roots[3], roots[8]),
        ),
        (
            "consistency-wrong-new-root",
            "A valid proof to size 8 checked against the root of size 7 as the new root.",
            consistency(3, 8, p38, roots[3], roots[7]),
            "BAD_CONSISTENCY_PROOF",
            consistency(3, 8, p38, roots[3], roots[8]),
        ),
    ]
    for name, description, inp, reason, twin in bad_consistency:
        vs.add(fam, name, description, ["§2.3"], inp, reject(reason), repaired=twin)
    vs.add(
        fam,
        "consistency-from-size-0-any-new-root",
        "Every tree extends the empty tree: from size 0 with an empty proof, the old root is "
        "not consulted.",
        ["§2.3"],
        consistency(0, 8, [], bytes(32), roots[8]),
        ACCEPT,
    )


# --- signed notes (SPEC §2.4, §2.5) ----------------------------------------------------------


_NOTE_KEY = note.Ed25519Signer("example.com/keybundle-note", seed("note key"))
_OTHER_KEY = note.Ed25519Signer("example.com/other", seed("other note key"))
_TEXT = "keybundle conformance vectors\nsigned-note family\n"


def _note(vs: VectorSet) -> None:
    fam = "note"
    spec = ["§2.4"]
    vkey = _NOTE_KEY.verifier().verifier_key
    signed = note.sign(_TEXT, _NOTE_KEY).encode()
    _, (sig,) = note.parse_unverified(signed)

    def add(
        name: str,
        description: str,
        data: bytes,
        keys: Sequence[str],
        want: Want,
        *,
        repaired: bytes | None = None,
    ) -> None:
        twin = None if repaired is None else {"note_b64": b64(repaired), "vkeys": list(keys)}
        vs.add(
            fam,
            name,
            description,
            spec,
            {"note_b64": b64(data), "vkeys": list(keys)},
            want,
            repaired=twin,
        )

    def signed_raw(text: bytes, signature: bytes | None = None) -> bytes:
        """``text`` signed by the note key, whatever it holds (note.sign refuses bad text)."""
        raw = SigningKey(seed("note key")).sign(text).signature if signature is None else signature
        return text + b"\n" + note.Signature(sig.name, sig.key_hash, raw).to_line().encode()

    vs.add(
        fam,
        "c2sp-example-note",
        "The C2SP signed-note example verifies under its key.",
        spec,
        {"note_b64": b64(pub.NOTE_C2SP_EXAMPLE.encode()), "vkeys": [pub.NOTE_C2SP_EXAMPLE_VKEY]},
        ACCEPT,
        source=pub.NOTE_SOURCE_C2SP,
    )
    two = pub.NOTE_GO_TWO_SIGNERS.encode()
    vs.add(
        fam,
        "go-note-one-known-one-unknown-signer",
        "Of two signature lines, the known key's verifies and the other is recorded unverified.",
        spec,
        {"note_b64": b64(two), "vkeys": [pub.NOTE_GO_PETER_VKEY]},
        ACCEPT,
        source=pub.NOTE_SOURCE_GO,
    )
    vs.add(
        fam,
        "go-note-two-known-signers",
        "Both signature lines verify under their keys, in note order.",
        spec,
        {"note_b64": b64(two), "vkeys": [pub.NOTE_GO_PETER_VKEY, pub.NOTE_GO_ENOCH_VKEY]},
        ACCEPT,
        source=pub.NOTE_SOURCE_GO,
    )
    vs.add(
        fam,
        "go-note-no-known-key",
        "A note none of whose signatures is by a known key is untrusted.",
        spec,
        {"note_b64": b64(two), "vkeys": []},
        reject("UNTRUSTED_NOTE"),
        source=pub.NOTE_SOURCE_GO,
        repaired={"note_b64": b64(two), "vkeys": [pub.NOTE_GO_PETER_VKEY]},
    )
    go_text = pub.NOTE_GO_TWO_SIGNERS[: pub.NOTE_GO_TWO_SIGNERS.index("\n\n") + 1]
    vs.add(
        fam,
        "go-note-101-signature-lines",
        "A note with 101 signature lines (all by one known key) exceeds MAX_NOTE_SIGNATURES.",
        [*spec, "§11"],
        {
            "note_b64": b64((go_text + "\n" + pub.NOTE_GO_PETER_LINE * 101).encode()),
            "vkeys": [pub.NOTE_GO_PETER_VKEY],
        },
        reject("MALFORMED_NOTE"),
        source=pub.NOTE_SOURCE_GO,
        repaired={
            "note_b64": b64((go_text + "\n" + pub.NOTE_GO_PETER_LINE * 100).encode()),
            "vkeys": [pub.NOTE_GO_PETER_VKEY],
        },
    )
    vs.add(
        fam,
        "go-note-100-signature-lines",
        "A note with exactly MAX_NOTE_SIGNATURES lines; repeated lines of a verified key are "
        "ignored.",
        [*spec, "§11"],
        {
            "note_b64": b64((go_text + "\n" + pub.NOTE_GO_PETER_LINE * 100).encode()),
            "vkeys": [pub.NOTE_GO_PETER_VKEY],
        },
        ACCEPT,
        source=pub.NOTE_SOURCE_GO,
    )

    add("note-signed-by-known-key", "A note signed by the one known key.", signed, [vkey], ACCEPT)
    blank = "first paragraph\n\nsecond paragraph\n"
    add(
        "note-text-with-a-blank-line",
        "The last blank line separates text and signatures; earlier blank lines are text.",
        note.sign(blank, _NOTE_KEY).encode(),
        [vkey],
        ACCEPT,
    )
    forged = note.Signature(sig.name, sig.key_hash, _flip(sig.signature))
    add(
        "note-signature-does-not-verify",
        "The known key's signature with one bit changed.",
        _lines(_TEXT, [forged]),
        [vkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=signed,
    )
    add(
        "note-text-changed-after-signing",
        "One character of the text changed after signing.",
        _lines(_TEXT.replace("family", "familY"), [sig]),
        [vkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=signed,
    )
    s = int.from_bytes(sig.signature[32:], "little") + _L
    malleated = note.Signature(
        sig.name, sig.key_hash, sig.signature[:32] + s.to_bytes(32, "little")
    )
    add(
        "note-ed25519-signature-s-plus-l",
        "The same Ed25519 signature with S + L (non-canonical S) is rejected.",
        _lines(_TEXT, [malleated]),
        [vkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=signed,
    )
    renamed = note.Signature(sig.name, sig.key_hash ^ 1, sig.signature)
    add(
        "note-known-name-other-key-hash",
        "A line with the known key's name but another key hash is by an unknown key.",
        _lines(_TEXT, [renamed]),
        [vkey],
        reject("UNTRUSTED_NOTE"),
        repaired=signed,
    )
    (other,) = note.parse_unverified(note.sign(_TEXT, _OTHER_KEY).encode())[1]
    add(
        "note-unknown-signer-recorded-once",
        "Identical lines by an unknown key are recorded once as unverified.",
        _lines(_TEXT, [other, sig, other]),
        [vkey],
        ACCEPT,
    )
    add(
        "note-unknown-signer-two-signatures-recorded-twice",
        "Two lines by one unknown key with different signature bytes are not identical: both "
        "are recorded as unverified.",
        _lines(
            _TEXT, [other, sig, note.Signature(other.name, other.key_hash, _flip(other.signature))]
        ),
        [vkey],
        ACCEPT,
    )
    add(
        "note-second-line-of-verified-key-ignored",
        "After a key's first line verifies, later lines of that key are ignored, even bad ones.",
        _lines(_TEXT, [sig, forged]),
        [vkey],
        ACCEPT,
    )
    add(
        "note-first-line-of-known-key-bad",
        "The first line of a known key decides: a bad one rejects the note even if a later "
        "line of that key is good.",
        _lines(_TEXT, [forged, sig]),
        [vkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=_lines(_TEXT, [sig, sig]),
    )
    # Strict Ed25519 (SPEC §2.4.5): each rule alone, the twin is the honest signature.
    for r_kind, rule in (
        ("small-order", "R is the identity (small order) and the cofactorless equation holds"),
        ("mixed-order", "R has a component of order 8: only the cofactored equation holds"),
    ):
        crafted = crafted_ed25519_signature(seed("note key"), _TEXT.encode(), r_kind)
        add(
            f"note-ed25519-signature-{r_kind}-r",
            f"An Ed25519 signature whose {rule}: strict verification rejects it.",
            signed_raw(_TEXT.encode(), crafted),
            [vkey],
            reject("BAD_NOTE_SIGNATURE"),
            repaired=signed,
        )
    add(
        "note-ed25519-signature-of-63-bytes",
        "The known key's line with its signature's last byte dropped: 63 bytes, not 64.",
        signed_raw(_TEXT.encode(), sig.signature[:63]),
        [vkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=signed,
    )
    # Control characters (SPEC §2.4.1 rule 2), each in a text the key did sign: the twin has
    # a space in its place.
    for char, what in (
        ("\t", "a TAB (U+0009)"),
        ("\x0b", "a vertical tab (U+000B)"),
        ("\r", "a CR (U+000D)"),
        ("\x1f", "U+001F, the last control character below U+0020"),
    ):
        bad = _TEXT.replace(" ", char, 1).encode()
        add(
            f"note-control-u{ord(char):04x}-in-signed-text",
            f"The signed text holds {what}: MALFORMED_NOTE though the signature is good.",
            signed_raw(bad),
            [vkey],
            reject("MALFORMED_NOTE"),
            repaired=signed_raw(_TEXT.encode()),
        )
    add(
        "note-delete-character-in-text",
        "U+007F (DEL) is not below U+0020: a note may hold it.",
        signed_raw(_TEXT.replace(" ", "\x7f", 1).encode()),
        [vkey],
        ACCEPT,
    )

    # MAX_NOTE_BYTES at the limit and one past it: the bulk is one line by an unknown key.
    def sized(total: int, name: str) -> bytes:
        head = signed
        fixed = len(head) + len(f"\u2014 {name} ".encode()) + 1
        room = total - fixed  # base64 characters available; a multiple of 4
        if room % 4:
            raise VectorMismatchError("the padding key name does not align the note")
        blob = b64(bytes(room // 4 * 3))
        out = head + f"\u2014 {name} {blob}\n".encode()
        if len(out) != total:
            raise VectorMismatchError(f"sized note is {len(out)} bytes, not {total}")
        return out

    def aligned(total: int) -> str:
        """A key name that makes the bulk line's base64 a whole number of groups."""
        for i in range(4):
            name = "bulk.example/a" + "a" * i
            if (total - len(signed) - len(f"\u2014 {name} ".encode()) - 1) % 4 == 0:
                return name
        raise VectorMismatchError("no key name aligns the note")

    pad_name, over_name = aligned(2**20), aligned(2**20 + 1)
    add(
        "note-of-max-note-bytes",
        "A note of exactly MAX_NOTE_BYTES (2^20) bytes, most of it a line by an unknown key.",
        sized(2**20, pad_name),
        [vkey],
        ACCEPT,
    )
    add(
        "note-one-byte-over-max-note-bytes",
        "A note of MAX_NOTE_BYTES + 1 bytes, otherwise like note-of-max-note-bytes.",
        sized(2**20 + 1, over_name),
        [vkey],
        reject("MALFORMED_NOTE"),
        repaired=sized(2**20, pad_name),
    )
    add(
        "note-text-of-one-empty-line",
        "A text that is one newline: the note starts with the separating blank line's pair.",
        signed_raw(b"\n"),
        [vkey],
        ACCEPT,
    )
    five = b64(bytes(5))

    def extra_line(key_name: str) -> bytes:
        return signed + f"\u2014 {key_name} {five}\n".encode()

    add(
        "note-unknown-signature-of-five-bytes",
        "A line by an unknown key decoding to exactly 5 bytes (key hash and one byte): "
        "well formed, recorded unverified.",
        extra_line("unknown.example/k"),
        [vkey],
        ACCEPT,
    )
    for char, code, want in (
        ("\u2000", "u2000", reject("MALFORMED_NOTE")),
        ("\u200a", "u200a", reject("MALFORMED_NOTE")),
        ("\u1fff", "u1fff", ACCEPT),
        ("\u200b", "u200b", ACCEPT),
    ):
        white = want.reason is not None
        add(
            f"note-key-name-with-{code}",
            f"A line by an unknown key whose name holds U+{code[1:].upper()}, "
            + ("Unicode White_Space: not a key name." if white else "not White_Space."),
            extra_line(f"unknown.example/k{char}x"),
            [vkey],
            want,
            repaired=extra_line("unknown.example/kx") if white else None,
        )
    line = sig.to_line()
    malformed = [
        ("note-without-blank-line", "No blank line before the signatures.", _TEXT + line),
        (
            "note-missing-final-newline",
            "The last signature line has no newline.",
            _TEXT + "\n" + line[:-1],
        ),
        ("note-empty-signature-block", "Nothing follows the blank line.", _TEXT + "\n"),
        (
            "note-signature-base64-unpadded",
            "The signature's base64 without its padding.",
            _TEXT + "\n" + line.replace("=\n", "\n"),
        ),
        (
            "note-signature-line-with-hyphen",
            "A signature line that starts with '-' instead of an em dash.",
            _TEXT + "\n" + line.replace("\u2014", "-", 1),
        ),
        (
            "note-key-name-with-plus",
            "A key name containing '+'.",
            _TEXT + "\n" + line.replace("keybundle-note", "keybundle+note"),
        ),
        (
            "note-signature-of-four-bytes",
            "A signature line holding a key hash and no signature bytes.",
            _TEXT + "\n" + f"\u2014 {sig.name} {b64(sig.key_hash.to_bytes(4, 'big'))}\n",
        ),
    ]
    for name, description, text in malformed:
        add(name, description, text.encode(), [vkey], reject("MALFORMED_NOTE"), repaired=signed)
    raw = sig.key_hash.to_bytes(4, "big") + sig.signature  # 68 bytes: one '=' of padding
    encoded = b64(raw)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(encoded[-2]) | 1]  # a trailing bit that must be zero
    add(
        "note-signature-base64-nonzero-trailing-bits",
        "The signature's base64 with a non-zero trailing bit: a second spelling of the bytes.",
        (_TEXT + "\n" + f"\u2014 {sig.name} {encoded[:-2]}{last}=\n").encode(),
        [vkey],
        reject("MALFORMED_NOTE"),
        repaired=signed,
    )
    add(
        "note-invalid-utf8",
        "A byte 0xff in the text the key did sign: not UTF-8.",
        signed_raw(_TEXT.encode()[:-1] + b"\xff\n"),
        [vkey],
        reject("MALFORMED_NOTE"),
        repaired=signed,
    )

    # Cosignatures (SPEC §2.5).
    cosigned = (pub.COSIGNATURE_KAT_CHECKPOINT + pub.COSIGNATURE_KAT_LINE).encode()
    vs.add(
        fam,
        "cosignature-v1-published-line",
        "A published cosignature/v1 line on a log-signed checkpoint verifies under the witness "
        "key; the log's line is by an unknown key here.",
        ["§2.4", "§2.5"],
        {"note_b64": b64(cosigned), "vkeys": [pub.WITNESS_VKEY]},
        ACCEPT,
        source=pub.WITNESS_SOURCE,
    )
    vs.add(
        fam,
        "cosignature-v1-published-line-and-log-key",
        "The same note with the log's and the witness's keys: both verify.",
        ["§2.4", "§2.5"],
        {"note_b64": b64(cosigned), "vkeys": [pub.WITNESS_LOG_VKEY, pub.WITNESS_VKEY]},
        ACCEPT,
        source=pub.WITNESS_SOURCE,
    )
    witness = CosignatureV1Signer("example.com/keybundle-witness", seed("note witness"))
    wkey = witness.verifier().verifier_key
    body = Checkpoint("example.com/keybundle-log", 5, bytes(range(32))).body()
    at = 1_767_225_600
    good = note.Signature(witness.name, witness.key_hash, witness.sign_at(body.encode(), at))
    add(
        "cosignature-v1-over-checkpoint",
        "A cosignature/v1 over a checkpoint text (its timestamp is 2026-01-01).",
        _lines(body, [good]),
        [wkey],
        ACCEPT,
    )
    raw_key = SigningKey(seed("note witness"))
    not_checkpoint = "hello\n"
    signature = raw_key.sign(cosigned_message(not_checkpoint.encode(), at)).signature
    add(
        "cosignature-v1-over-non-checkpoint-text",
        "A well-formed cosignature/v1 over a one-line text: cosignatures sign checkpoints only.",
        _lines(
            not_checkpoint,
            [note.Signature(witness.name, witness.key_hash, at.to_bytes(8, "big") + signature)],
        ),
        [wkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=_lines(body, [good]),
    )
    add(
        "cosignature-v1-of-71-bytes",
        "A cosignature line whose signature bytes are 71, not 72.",
        _lines(body, [note.Signature(good.name, good.key_hash, good.signature[:71])]),
        [wkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=_lines(body, [good]),
    )
    plain = raw_key.sign(body.encode()).signature
    add(
        "cosignature-v1-key-with-plain-signature",
        "A plain Ed25519 signature of the text under the cosignature key's name and hash: "
        "without the cosignature/v1 header and timestamp it does not verify.",
        _lines(body, [note.Signature(witness.name, witness.key_hash, bytes(8) + plain)]),
        [wkey],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=_lines(body, [good]),
    )


# --- checkpoints (SPEC §2.6) -----------------------------------------------------------------


def _checkpoint(vs: VectorSet) -> None:
    fam, spec = "checkpoint", ["§2.6"]
    w = World()
    for n in range(3):
        w.append(b"checkpoint family entry %d" % n)
    log_vkey = w.log_signer.verifier().verifier_key
    witness_vkeys = [x.verifier().verifier_key for x in w.witnesses]

    def add(
        name: str,
        description: str,
        data: bytes,
        want: Want,
        *,
        log: str = log_vkey,
        origin: str | None = None,
        witnesses: Sequence[str] = tuple(witness_vkeys),
        source: str | None = None,
        repaired: bytes | None = None,
        repaired_origin: str | None = None,
    ) -> None:
        def inp(note_bytes: bytes, expected_origin: str | None) -> dict[str, Any]:
            return {
                "note_b64": b64(note_bytes),
                "log_vkey": log,
                "origin": expected_origin,
                "witness_vkeys": list(witnesses),
            }

        twin = None if repaired is None else inp(repaired, repaired_origin)
        vs.add(fam, name, description, spec, inp(data, origin), want, source=source, repaired=twin)

    published = pub.CHECKPOINT_NOTE
    add(
        "sigsum-checkpoint",
        "A published checkpoint of size 10 signed by its log key.",
        published.encode(),
        ACCEPT,
        log=pub.CHECKPOINT_VKEY,
        witnesses=(),
        source=pub.CHECKPOINT_SOURCE,
    )
    text, (log_sig,) = note.parse_unverified(published.encode())
    origin_line, size_line, root_line = text.split("\n")[:3]
    raw = bytearray(log_sig.key_hash.to_bytes(4, "big") + log_sig.signature)
    raw[2] ^= 1
    line = f"\u2014 {log_sig.name} {b64(bytes(raw))}\n"
    mutations = [
        (
            "sigsum-checkpoint-origin-appended-x",
            "The published checkpoint with 'x' appended to the origin line.",
            _lines(text.replace(origin_line, origin_line + "x", 1), [log_sig]),
            "BAD_NOTE_SIGNATURE",
        ),
        (
            "sigsum-checkpoint-key-hash-changed",
            "The published checkpoint with byte 2 of the key hash xored with 1: no known key.",
            (text + "\n" + line).encode(),
            "UNTRUSTED_NOTE",
        ),
        (
            "sigsum-checkpoint-size-plus-one",
            "The published checkpoint with its size increased by one.",
            _lines(text.replace(f"\n{size_line}\n", f"\n{int(size_line) + 1}\n", 1), [log_sig]),
            "BAD_NOTE_SIGNATURE",
        ),
        (
            "sigsum-checkpoint-root-byte-changed",
            "The published checkpoint with byte 3 of the root hash xored with 1.",
            _lines(
                text.replace(root_line, b64(_flip(base64.b64decode(root_line), 3)), 1), [log_sig]
            ),
            "BAD_NOTE_SIGNATURE",
        ),
    ]
    for name, description, data, reason in mutations:
        add(
            name,
            description,
            data,
            reject(reason),
            log=pub.CHECKPOINT_VKEY,
            witnesses=(),
            source=pub.CHECKPOINT_SOURCE,
            repaired=published.encode(),
        )
    add(
        "cosignature-v1-published-checkpoint",
        "The published checkpoint with a published cosignature/v1: the witness's timestamp "
        "is reported.",
        (pub.COSIGNATURE_KAT_CHECKPOINT + pub.COSIGNATURE_KAT_LINE).encode(),
        ACCEPT,
        log=pub.WITNESS_LOG_VKEY,
        witnesses=(pub.WITNESS_VKEY,),
        source=pub.WITNESS_SOURCE,
    )

    add(
        "checkpoint-cosigned-by-two-witnesses",
        "A checkpoint signed by the log and cosigned by both witnesses.",
        w.checkpoint(),
        ACCEPT,
    )
    body = Checkpoint(LOG_ORIGIN, w.size, w.root_hash(), ("ext one", "ext two")).body()
    add(
        "checkpoint-with-extension-lines",
        "Extension lines after the root are kept in order.",
        note.sign(body, w.log_signer).encode(),
        ACCEPT,
    )
    add(
        "checkpoint-of-another-origin",
        "A checkpoint signed by the log's key but naming another origin.",
        w.checkpoint(origin="other.example/log"),
        reject("WRONG_ORIGIN"),
        repaired=w.checkpoint(),
    )
    add(
        "checkpoint-origin-configured-explicitly",
        "An expected origin configured explicitly replaces the key name as the origin.",
        w.checkpoint(origin="log.example/configured"),
        ACCEPT,
        origin="log.example/configured",
    )
    add(
        "checkpoint-key-name-origin-when-another-is-configured",
        "With an origin configured, a checkpoint naming the key's name is of another log.",
        w.checkpoint(),
        reject("WRONG_ORIGIN"),
        origin="log.example/configured",
        repaired=w.checkpoint(),
    )
    plain = Checkpoint(LOG_ORIGIN, w.size, w.root_hash()).body()
    cosigs = [
        note.Signature(x.name, x.key_hash, x.sign_at(plain.encode(), w.now)) for x in w.witnesses
    ]
    add(
        "checkpoint-cosigned-but-not-log-signed",
        "Witness cosignatures alone never make a checkpoint.",
        _lines(plain, cosigs),
        reject("UNTRUSTED_NOTE"),
        repaired=w.checkpoint(),
    )
    _, sigs = note.parse_unverified(w.checkpoint())
    bad_witness = [
        *sigs[:2],
        note.Signature(sigs[2].name, sigs[2].key_hash, _flip(sigs[2].signature)),
    ]
    add(
        "checkpoint-with-bad-witness-cosignature",
        "A cosignature by a configured witness that does not verify rejects the note.",
        _lines(plain, bad_witness),
        reject("BAD_NOTE_SIGNATURE"),
        repaired=_lines(plain, sigs),
    )
    stranger = CosignatureV1Signer("witness.example/w3", seed("witness witness.example/w3"))
    extra = note.Signature(
        stranger.name, stranger.key_hash, _flip(stranger.sign_at(plain.encode(), w.now))
    )
    add(
        "checkpoint-cosignature-by-unknown-witness-ignored",
        "A (bad) cosignature by a witness that is not configured is ignored.",
        _lines(plain, [*sigs, extra]),
        ACCEPT,
    )
    add(
        "checkpoint-without-witness-keys",
        "Without witness keys configured, cosignature lines are lines by unknown keys.",
        w.checkpoint(),
        ACCEPT,
        witnesses=(),
    )

    def log_signed(text: str) -> bytes:
        return note.sign(text, w.log_signer).encode()

    root_b64 = b64(w.root_hash())
    honest = f"{LOG_ORIGIN}\n3\n{root_b64}\n"  # each body's twin, unless the row names one
    bodies = [
        (
            "checkpoint-text-not-a-checkpoint",
            "A log-signed text that is not a checkpoint.",
            f"{LOG_ORIGIN}\n3\nnot base64\n",
        ),
        ("checkpoint-two-lines", "A log-signed text of two lines.", f"{LOG_ORIGIN}\n3\n"),
        (
            "checkpoint-size-with-leading-zero",
            "The size 3 written as 03.",
            f"{LOG_ORIGIN}\n03\n{root_b64}\n",
        ),
        (
            "checkpoint-size-with-plus-sign",
            "The size written +3.",
            f"{LOG_ORIGIN}\n+3\n{root_b64}\n",
        ),
        (
            "checkpoint-size-above-max-tree-size",
            "The size 2^63, one above MAX_TREE_SIZE.",
            f"{LOG_ORIGIN}\n{2**63}\n{root_b64}\n",
            f"{LOG_ORIGIN}\n{2**63 - 1}\n{root_b64}\n",
        ),
        (
            "checkpoint-root-of-31-bytes",
            "A root hash of 31 bytes.",
            f"{LOG_ORIGIN}\n3\n{b64(w.root_hash()[:31])}\n",
        ),
        (
            "checkpoint-root-unpadded",
            "The root hash's base64 without padding.",
            f"{LOG_ORIGIN}\n3\n{root_b64.rstrip('=')}\n",
        ),
        (
            "checkpoint-empty-extension-line",
            "An empty line between the root and an extension line.",
            f"{LOG_ORIGIN}\n3\n{root_b64}\n\next\n",
            f"{LOG_ORIGIN}\n3\n{root_b64}\next\n",
        ),
    ]
    for name, description, text, *fixed in bodies:
        add(
            name,
            description,
            log_signed(text),
            reject("MALFORMED_CHECKPOINT"),
            repaired=log_signed(fixed[0] if fixed else honest),
        )
    # MAX_CHECKPOINT_BYTES at the limit and one past it (the bulk is one extension line).
    head = f"{LOG_ORIGIN}\n3\n{root_b64}\n"
    at_limit = head + "x" * (16384 - len(head) - 1) + "\n"
    add(
        "checkpoint-of-max-checkpoint-bytes",
        "A body of exactly MAX_CHECKPOINT_BYTES (16384) bytes: one long extension line.",
        log_signed(at_limit),
        ACCEPT,
    )
    add(
        "checkpoint-one-byte-over-max-checkpoint-bytes",
        "A body of MAX_CHECKPOINT_BYTES + 1 bytes, otherwise like the one at the limit.",
        log_signed(head + "x" * (16384 - len(head)) + "\n"),
        reject("MALFORMED_CHECKPOINT"),
        repaired=log_signed(at_limit),
    )
    # MAX_TREE_SIZE is 2^63 - 1: a vector cannot carry that size in its answer (SPEC §12.3
    # keeps vector integers below 2^53), so the size is parsed and a later step rejects.
    largest = log_signed(f"{LOG_ORIGIN}\n{2**63 - 1}\n{root_b64}\n")
    add(
        "checkpoint-size-max-tree-size-of-another-origin",
        "A checkpoint of size 2^63 - 1 (MAX_TREE_SIZE, valid) whose origin is not the one "
        "configured: step 3 parses the size, step 4 rejects the origin (WRONG_ORIGIN).",
        largest,
        reject("WRONG_ORIGIN"),
        origin="other.example/log",
        repaired=largest,
    )


# --- tlog-proof (SPEC §2.7) --------------------------------------------------------------------


def _tlog_proof(vs: VectorSet) -> None:
    fam, spec = "tlog-proof", ["§2.7"]
    w = World()
    entries = [b"tlog-proof family entry %d" % n for n in range(7)]
    for e in entries:
        w.append(e)
    cp = w.checkpoint()
    log_vkey = w.log_signer.verifier().verifier_key
    witnesses = [x.verifier().verifier_key for x in w.witnesses]

    def add(  # noqa: PLR0917 (a case's parts, in the order it states them)
        name: str,
        description: str,
        proof: bytes | str,
        entry: bytes,
        want: Want,
        repaired: bytes | str | None = None,
        repaired_entry: bytes | None = None,
        no_twin: str | None = None,
    ) -> None:
        def inp(proof: bytes | str, entry: bytes) -> dict[str, Any]:
            return {
                "proof_b64": b64(proof if isinstance(proof, bytes) else proof.encode()),
                "entry_b64": b64(entry),
                "log_vkey": log_vkey,
                "origin": None,
                "witness_vkeys": witnesses,
            }

        twin = (
            None
            if repaired is None and repaired_entry is None
            else inp(proof if repaired is None else repaired, repaired_entry or entry)
        )
        vs.add(
            fam, name, description, spec, inp(proof, entry), want, repaired=twin, no_twin=no_twin
        )

    good = w.tlog_proof(3, cp)
    text = good.format()
    add(
        "tlog-proof-entry-3-of-7",
        "Entry 3 of a log of 7 under a cosigned checkpoint.",
        text,
        entries[3],
        ACCEPT,
    )
    one = World()
    one.append(entries[0])
    one_proof = one.tlog_proof(0, one.checkpoint()).format()
    add(
        "tlog-proof-only-entry",
        "The only entry of a log of size 1: no hash lines.",
        one_proof,
        entries[0],
        ACCEPT,
    )
    add(
        "tlog-proof-with-extra-line",
        "An extra line carries unauthenticated data and does not change the verdict.",
        TlogProof(3, good.hashes, cp, extra=b"unauthenticated").format(),
        entries[3],
        ACCEPT,
    )
    add(
        "tlog-proof-of-another-entry",
        "Entry 4's bytes with entry 3's proof.",
        text,
        entries[4],
        reject("BAD_INCLUSION_PROOF"),
        repaired_entry=entries[3],
    )
    add(
        "tlog-proof-index-not-below-size",
        "An index equal to the checkpoint's size.",
        TlogProof(7, (), cp).format(),
        entries[3],
        reject("BAD_INCLUSION_PROOF"),
        repaired=w.tlog_proof(6, cp).format(),
        repaired_entry=entries[6],
    )
    add(
        "tlog-proof-one-hash-too-many",
        "One hash line more than index and size require.",
        TlogProof(3, (*good.hashes, bytes(32)), cp).format(),
        entries[3],
        reject("MALFORMED_PROOF"),
        repaired=text,
    )
    header_end = text.index("\nindex ")
    # Entry 3's proof with its 3 hash lines and 61 more: exactly 64.
    sixty_four = text.replace("\nindex 3\n", "\nindex 3\n" + (b64(bytes(32)) + "\n") * 61)
    malformed = [
        (
            "tlog-proof-wrong-header",
            "The first line names another format.",
            "c2sp.org/tlog-proof@v2" + text[header_end:],
        ),
        (
            "tlog-proof-index-with-leading-zero",
            "The index 3 written as 03.",
            text.replace("\nindex 3\n", "\nindex 03\n"),
        ),
        (
            "tlog-proof-empty-extra-line",
            "An extra line with no data.",
            text.replace("\nindex 3\n", "\nextra \nindex 3\n"),
        ),
        (
            "tlog-proof-without-checkpoint",
            "Nothing after the empty line.",
            text[: text.index("\n\n") + 2],
        ),
        (
            "tlog-proof-hash-unpadded",
            "A hash line in base64 without padding.",
            text.replace(b64(good.hashes[0]) + "\n", b64(good.hashes[0]).rstrip("=") + "\n", 1),
        ),
        (
            "tlog-proof-64-hash-lines",
            "64 hash lines, one more than MAX_PROOF_HASHES (63).",
            sixty_four,
        ),
        (
            "tlog-proof-crlf-lines",
            "Lines ending in CR LF.",
            text[: text.index("\n\n")].replace("\n", "\r\n") + text[text.index("\n\n") :],
        ),
    ]
    for name, description, proof_text in malformed:
        add(name, description, proof_text, entries[3], reject("MALFORMED_PROOF"), repaired=text)
    _, sigs = note.parse_unverified(cp)
    cp_text = note.parse_unverified(cp)[0]
    forged = _lines(
        cp_text,
        [note.Signature(sigs[0].name, sigs[0].key_hash, _flip(sigs[0].signature)), *sigs[1:]],
    )
    add(
        "tlog-proof-checkpoint-forged",
        "The checkpoint's log signature does not verify.",
        TlogProof(3, good.hashes, forged).format(),
        entries[3],
        reject("BAD_NOTE_SIGNATURE"),
        repaired=text,
    )
    add(
        "tlog-proof-checkpoint-of-another-origin",
        "The checkpoint is signed by the log's key for another origin.",
        TlogProof(3, good.hashes, w.checkpoint(origin="other.example/log")).format(),
        entries[3],
        reject("WRONG_ORIGIN"),
        repaired=text,
    )
    add(
        "tlog-proof-checkpoint-without-signatures",
        "The checkpoint note has no signature lines.",
        TlogProof(3, good.hashes, (cp_text + "\n").encode()).format(),
        entries[3],
        reject("MALFORMED_NOTE"),
        repaired=text,
    )
    add(
        "tlog-proof-checkpoint-only-cosigned",
        "The checkpoint carries only the witnesses' cosignatures.",
        TlogProof(3, good.hashes, _lines(cp_text, sigs[1:])).format(),
        entries[3],
        reject("UNTRUSTED_NOTE"),
        repaired=text,
    )

    def add_one_fault(
        name: str, description: str, proof: bytes, entry: bytes, want: Want, *, repaired: bytes
    ) -> None:
        inp = {
            "proof_b64": b64(proof),
            "entry_b64": b64(entry),
            "log_vkey": log_vkey,
            "origin": None,
            "witness_vkeys": witnesses,
        }
        twin = {**inp, "proof_b64": b64(repaired)}
        vs.add(fam, name, description, spec, inp, want, repaired=twin)

    # MAX_TLOG_PROOF_BYTES at the limit and one past it, reached with an extra line (any
    # size of opaque data): base64 grows in steps of 4, so the checkpoint's size and the
    # entry (and with them the number of hash lines, 45 bytes each) are chosen to make each
    # total exact.
    def padded(total: int) -> tuple[bytes, bytes, str]:
        for size, index in ((n, i) for n in range(7, 0, -1) for i in range(n)):
            plain = w.tlog_proof(index, w.checkpoint(size)).format().encode()
            room = total - len(plain) - len(b"extra \n")
            if room > 0 and room % 4 == 0:
                extra = b"extra " + b64(bytes(3 * room // 4)).encode() + b"\n"
                head = TLOG_PROOF_HEADER.encode() + b"\n"
                proof = head + extra + plain[len(head) :]
                if len(proof) != total:
                    raise VectorMismatchError("the padded proof is not of the size asked")
                return proof, entries[index], f"entry {index} of {size}"
        raise VectorMismatchError(f"no entry gives a proof of {total} bytes")

    at_limit, entry, which = padded(MAX_TLOG_PROOF_BYTES)
    add(
        "tlog-proof-of-max-tlog-proof-bytes",
        f"A proof of {which} of exactly MAX_TLOG_PROOF_BYTES (65536) bytes, most of them "
        "an extra line.",
        at_limit,
        entry,
        ACCEPT,
    )
    over, entry, which = padded(MAX_TLOG_PROOF_BYTES + 1)
    add_one_fault(
        "tlog-proof-one-byte-over-max-tlog-proof-bytes",
        f"A proof of {which} of 65537 bytes, one over MAX_TLOG_PROOF_BYTES, most of them "
        "an extra line.",
        over,
        entry,
        reject("MALFORMED_PROOF"),
        repaired=over.replace(b"AAAA", b"", 1),
    )
    # MAX_PROOF_HASHES (63) is what the largest tree needs: entry 0 of 2^63 - 1 entries,
    # under a checkpoint of that size whose root the 63 hashes lead to.
    deep_hashes = tuple(hashlib.sha256(b"tlog-proof hash %d" % i).digest() for i in range(63))
    deep_size = 2**63 - 1
    deep_root = root_from_inclusion_proof(0, deep_size, leaf_hash(entries[0]), deep_hashes)
    deep_cp = w.checkpoint(deep_size, root_hash=deep_root)
    add(
        "tlog-proof-63-hash-lines",
        "Entry 0 of a log of 2^63 - 1 entries: MAX_PROOF_HASHES (63) hash lines, as many as "
        "any proof can need.",
        TlogProof(0, deep_hashes, deep_cp).format(),
        entries[0],
        ACCEPT,
    )
    add(
        "tlog-proof-64-hash-lines-and-checkpoint-forged",
        "Precedence, two faults: 64 hash lines, one more than MAX_PROOF_HASHES (63), and a "
        "checkpoint whose log signature does not verify. The proof is parsed before its "
        "checkpoint is verified, so the grammar decides: MALFORMED_PROOF.",
        sixty_four.replace(cp.decode(), forged.decode()),
        entries[3],
        reject("MALFORMED_PROOF"),
        no_twin="precedence: the grammar fault (64 hash lines) against a forged checkpoint",
    )
    one_bytes = one_proof.encode()
    add_one_fault(
        "tlog-proof-without-index-line",
        "The only entry's proof (no hash lines) without its index line: the header, then the "
        "empty line and the checkpoint.",
        one_bytes.replace(b"\nindex 0\n", b"\n", 1),
        entries[0],
        reject("MALFORMED_PROOF"),
        repaired=one_bytes,
    )
    text_bytes = text.encode()
    add_one_fault(
        "tlog-proof-ends-after-hash-lines",
        "The proof stops after its last hash line: no empty line, no checkpoint (the text "
        "holds no LF LF at all).",
        text_bytes[: text_bytes.index(b"\n\n") + 1],
        entries[3],
        reject("MALFORMED_PROOF"),
        repaired=text_bytes,
    )
    add(
        "tlog-proof-wrong-header-and-no-index-line",
        "Two grammar faults with one code, by design: a first line of another format, and "
        "nothing else before the empty line (no index line). The first line is judged alone, "
        "without reading a second: MALFORMED_PROOF.",
        one_proof.replace(TLOG_PROOF_HEADER, "c2sp.org/tlog-proof@v2", 1).replace(
            "\nindex 0\n", "\n", 1
        ),
        entries[0],
        reject("MALFORMED_PROOF"),
        no_twin="precedence: two grammar faults of one code; the first line is judged alone",
    )
    # The largest tree (MAX_TREE_SIZE = 2^63 - 1, SPEC §2.1): 63-bit sizes and indices are
    # valid. An accepted answer would carry the size, above 2^53 (SPEC §12.3), so the vector
    # is a rejection at the last step (the root comparison), and its twin is accepted.
    last = MAX_TREE_SIZE - 1
    largest = SparseTree(entries[0], last - 1, [entries[5], entries[6]])
    largest_cp = w.checkpoint(MAX_TREE_SIZE, root_hash=tree_root(MAX_TREE_SIZE, largest))
    largest_proof = TlogProof(
        last, tuple(inclusion_proof(last, MAX_TREE_SIZE, largest)), largest_cp
    ).format()
    add(
        "tlog-proof-last-entry-of-max-tree-size-of-another-entry",
        "The proof of entry 2^63 - 2, the last of a tree of MAX_TREE_SIZE (2^63 - 1) entries, "
        "with the bytes of the entry before it: the proof's 62 hashes lead to another root.",
        largest_proof,
        entries[5],
        reject("BAD_INCLUSION_PROOF"),
        repaired_entry=entries[6],
    )


# --- tlog-policy (SPEC §2.8) -------------------------------------------------------------------


def _policy(vs: VectorSet) -> None:
    fam, spec = "policy", ["§2.8"]
    w = World()
    log = w.log_signer.verifier().verifier_key
    w1, w2 = (x.verifier().verifier_key for x in w.witnesses)
    third = CosignatureV1Signer("witness.example/w3", seed("witness witness.example/w3"))
    w3 = third.verifier().verifier_key
    names = [x.name for x in w.witnesses] + [third.name]
    canonical = f"log {log}\nwitness w1 {w1}\nwitness w2 {w2}\nwitness w3 {w3}\n"

    def parse(
        name: str,
        description: str,
        text: str | bytes,
        want: Want,
        repaired: str | None = None,
    ) -> None:
        data = text if isinstance(text, bytes) else text.encode()
        twin = None if repaired is None else {"op": "parse", "policy_b64": b64(repaired.encode())}
        vs.add(
            fam,
            name,
            description,
            spec,
            {"op": "parse", "policy_b64": b64(data)},
            want,
            repaired=twin,
        )

    def public(vkey: str) -> bytes:
        return base64.b64decode(vkey.split("+", 2)[2])[1:]

    def rekey(name: str, sig_type: int, vkey: str) -> str:
        """The public key of ``vkey`` under another name or type (a new key hash)."""
        return note.encode_verifier_key(name, sig_type, public(vkey))

    parse(
        "policy-canonical",
        "The canonical text parses to itself.",
        canonical + "group two 2 w1 w2 w3\nquorum two\n",
        ACCEPT,
    )
    parse(
        "policy-comments-blank-lines-and-tabs",
        "Comments, blank lines and runs of spaces and tabs are dropped by the canonical form.",
        f"# the log\n\nlog\t{log}  https://log.example/\n  witness w1 {w1}\n"
        f"witness\tw2 {w2} https://w2.example/\n# quorum\ngroup both all w1 w2\nquorum both\n",
        ACCEPT,
    )
    parse("policy-quorum-none-only", "A policy of just 'quorum none'.", "quorum none\n", ACCEPT)
    parse(
        "policy-threshold-one-and-all-members",
        "Decimal thresholds at both ends of 1..n: 1 of 2, and 2 of 2.",
        canonical + "group one 1 w1 w2\ngroup both 2 w3 one\nquorum both\n",
        ACCEPT,
    )
    parse(
        "policy-definition-after-quorum",
        "Definitions may follow the quorum line (only references must come after definitions).",
        f"witness w1 {w1}\nwitness w2 {w2}\ngroup a any w1 w2\nquorum a\nwitness w3 {w3}\n",
        ACCEPT,
    )
    parse(
        "policy-quorum-before-its-group",
        "The quorum line names a group defined on a later line: a forward reference.",
        f"witness w1 {w1}\nquorum a\ngroup a any w1\n",
        reject("MALFORMED_POLICY"),
        repaired=f"witness w1 {w1}\ngroup a any w1\nquorum a\n",
    )
    malformed = [
        ("policy-no-quorum", "No quorum line.", f"log {log}\n", f"log {log}\nquorum none\n"),
        (
            "policy-two-quorum-lines",
            "Two quorum lines.",
            canonical + "quorum w1\nquorum w2\n",
            canonical + "quorum w1\n",
        ),
        (
            "policy-name-defined-twice",
            "A witness and a group of one name.",
            canonical + "group w1 any w2 w3\nquorum w1\n",
            canonical + "group g1 any w2 w3\nquorum g1\n",
        ),
        (
            "policy-forward-reference",
            "A group naming a group defined later.",
            canonical + "group a any b\ngroup b any w1\nquorum a\n",
            canonical + "group b any w1\ngroup a any b\nquorum a\n",
        ),
        (
            "policy-none-defined",
            "The predefined name none defined as a group.",
            canonical + "group none any w1\nquorum none\n",
            canonical + "group n any w1\nquorum n\n",
        ),
        (
            "policy-member-listed-twice",
            "One witness listed twice as a member in the policy.",
            canonical + "group a any w1 w2\ngroup b any w1 w3\nquorum a\n",
            canonical + "group a any w1 w2\ngroup b any w3\nquorum a\n",
        ),
        (
            "policy-threshold-zero",
            "A threshold of 0.",
            canonical + "group a 0 w1 w2\nquorum a\n",
            canonical + "group a 1 w1 w2\nquorum a\n",
        ),
        (
            "policy-threshold-above-members",
            "A threshold of 3 for 2 members.",
            canonical + "group a 3 w1 w2\nquorum a\n",
            canonical + "group a 2 w1 w2\nquorum a\n",
        ),
        (
            "policy-threshold-leading-zero",
            "A threshold written 02.",
            canonical + "group a 02 w1 w2\nquorum a\n",
            canonical + "group a 2 w1 w2\nquorum a\n",
        ),
        (
            "policy-log-key-of-cosignature-type",
            "A log line with a type 0x04 key.",
            f"log {w1}\nquorum none\n",
            f"log {log}\nquorum none\n",
        ),
        (
            "policy-witness-key-of-note-type",
            "A witness line with a type 0x01 key.",
            f"witness w1 {log}\nquorum w1\n",
            f"witness w1 {w1}\nquorum w1\n",
        ),
        (
            "policy-unknown-keyword",
            "A line with an unknown keyword.",
            canonical + "monitor m1\nquorum w1\n",
            canonical + "quorum w1\n",
        ),
        (
            "policy-uppercase-keyword",
            "A keyword in uppercase.",
            canonical + "QUORUM w1\n",
            canonical + "quorum w1\n",
        ),
        (
            "policy-trailing-comment",
            "A comment after a quorum line.",
            canonical + "quorum w1 # one\n",
            canonical + "quorum w1\n",
        ),
        (
            "policy-quorum-of-unknown-name",
            "A quorum naming nothing defined.",
            canonical + "quorum w9\n",
            canonical + "quorum w1\n",
        ),
        (
            "policy-crlf-line-endings",
            "Lines ending in CR LF.",
            (canonical + "quorum w1\n").replace("\n", "\r\n"),
            canonical + "quorum w1\n",
        ),
        (
            "policy-missing-final-newline",
            "The last line has no newline.",
            canonical + "quorum w1",
            canonical + "quorum w1\n",
        ),
        (
            "policy-bad-verifier-key",
            "A witness key whose key hash does not match.",
            f"witness w1 {w1[:-2]}AA\nquorum w1\n",
            f"witness w1 {w1}\nquorum w1\n",
        ),
    ]
    for name, description, text, fixed in malformed:
        parse(name, description, text, reject("MALFORMED_POLICY"), repaired=fixed)
    # SPEC §2.8 rules 6 and 7, each alone: the key names differ where rule 6 is broken, the
    # public keys differ where rule 7 is. Each twin replaces the offending line by a valid one.
    other = CosignatureV1Signer("witness.example/w4", seed("witness witness.example/w4"))
    w4 = other.verifier().verifier_key
    log2 = note.Ed25519Signer("log2.example/keybundle", seed("log 2")).verifier().verifier_key
    alone = [
        (
            "policy-same-witness-key-twice",
            "Two witnesses with one public key under two key names (rule 6).",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {rekey('witness.example/w9', 4, w1)}\n",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {w4}\n",
        ),
        (
            "policy-key-both-log-and-witness",
            "The log's public key as a witness key of type 0x04 under another name (rule 6).",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {rekey('witness.example/w9', 4, log)}\n",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {w4}\n",
        ),
        (
            "policy-same-log-key-twice",
            "Two logs with one public key under two key names (rule 6).",
            f"log {log}\nlog {rekey('log2.example/keybundle', 1, log)}\nwitness w1 {w1}\n",
            f"log {log}\nlog {log2}\nwitness w1 {w1}\n",
        ),
        (
            "policy-two-witness-keys-one-key-name",
            "Two witnesses with different public keys and one key name (rule 7).",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {rekey(names[0], 4, w4)}\n",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {w4}\n",
        ),
        (
            "policy-witness-key-named-like-the-log",
            "A witness key (another public key) with the log key's name (rule 7).",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {rekey(LOG_ORIGIN, 4, w4)}\n",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {w4}\n",
        ),
    ]
    alone.extend(
        [
            (
                "policy-log-after-a-witness-of-its-key-name",
                "A witness key named like the log, listed before the log line (rule 7).",
                f"witness w1 {w1}\nwitness w9 {rekey(LOG_ORIGIN, 4, w4)}\nlog {log}\n",
                f"witness w1 {w1}\nwitness w9 {w4}\nlog {log}\n",
            ),
            (
                "policy-log-after-a-witness-of-its-key",
                "The log's public key as a witness key under another name, listed before the log "
                "line (rule 6).",
                f"witness w1 {w1}\nwitness w9 {rekey('witness.example/w9', 4, log)}\nlog {log}\n",
                f"witness w1 {w1}\nwitness w9 {w4}\nlog {log}\n",
            ),
            (
                "policy-log-line-with-three-fields",
                "A log line with a key, a URL and one more field.",
                f"log {log} https://log.example/ extra\nwitness w1 {w1}\n",
                f"log {log} https://log.example/\nwitness w1 {w1}\n",
            ),
            (
                "policy-witness-line-with-four-fields",
                "A witness line with a name, a key, a URL and one more field.",
                f"log {log}\nwitness w1 {w1} https://w1.example/ extra\n",
                f"log {log}\nwitness w1 {w1} https://w1.example/\n",
            ),
        ]
    )
    alone.append(
        (
            "policy-group-member-twice-in-one-group",
            "One group listing one witness twice (rule 3).",
            f"log {log}\nwitness w1 {w1}\nwitness w2 {w2}\ngroup g any w1 w1\n",
            f"log {log}\nwitness w1 {w1}\nwitness w2 {w2}\ngroup g any w1 w2\n",
        )
    )
    alone.append(
        (
            "policy-witness-named-none",
            "A witness whose policy name is the predefined none (rule 1).",
            f"log {log}\nwitness w1 {w1}\nwitness none {w4}\n",
            f"log {log}\nwitness w1 {w1}\nwitness w9 {w4}\n",
        )
    )
    for name, description, text, twin in alone:
        parse(
            name,
            description,
            text + "quorum w1\n",
            reject("MALFORMED_POLICY"),
            repaired=twin + "quorum w1\n",
        )

    # Rule 6 compares whole 32-byte keys: two log keys that differ in one byte are two keys.
    near = bytearray(public(log2))
    near[0] = next(
        b
        for b in range(256)
        if b != near[0] and crypto_core_ed25519_is_valid_point(bytes([b]) + bytes(near[1:]))
    )
    parse(
        "policy-log-keys-differing-in-one-byte",
        "Two logs whose public keys differ only in their first byte: distinct keys (rule 6).",
        f"log {log2}\nlog {note.encode_verifier_key('log3.example/keybundle', 1, bytes(near))}\n"
        "quorum none\n",
        ACCEPT,
    )

    # MAX_POLICY_BYTES at the limit and one past it (the bulk is one comment line).
    def padded(total: int) -> str:
        tail = "quorum none\n"
        return "#" + "x" * (total - len(tail) - 2) + "\n" + tail

    parse(
        "policy-of-max-policy-bytes",
        "A policy of exactly MAX_POLICY_BYTES (65536) bytes: a long comment and quorum none.",
        padded(65536),
        ACCEPT,
    )
    parse(
        "policy-one-byte-over-max-policy-bytes",
        "A policy of MAX_POLICY_BYTES + 1 bytes, otherwise like the one at the limit.",
        padded(65537),
        reject("MALFORMED_POLICY"),
        repaired=padded(65536),
    )
    # MAX_POLICY_LOGS, MAX_POLICY_WITNESSES, MAX_POLICY_GROUPS: at the limit and one past it.
    many_logs = [
        note.Ed25519Signer(f"log{i}.example/keybundle", seed(f"log {i}")).verifier().verifier_key
        for i in range(65)
    ]
    many_witnesses = [
        CosignatureV1Signer(f"witness.example/m{i}", seed(f"witness m{i}")).verifier().verifier_key
        for i in range(65)
    ]

    def logs(n: int) -> str:
        return "".join(f"log {k}\n" for k in many_logs[:n]) + "quorum none\n"

    def witnesses(n: int) -> str:
        lines = "".join(f"witness m{i} {k}\n" for i, k in enumerate(many_witnesses[:n]))
        return lines + "quorum m0\n"

    def groups(n: int) -> str:
        lines = f"witness w1 {w1}\ngroup g0 any w1\n"
        lines += "".join(f"group g{i} any g{i - 1}\n" for i in range(1, n))
        return lines + f"quorum g{n - 1}\n"

    for what, make, limit in (
        ("logs", logs, "MAX_POLICY_LOGS"),
        ("witnesses", witnesses, "MAX_POLICY_WITNESSES"),
        ("groups", groups, "MAX_POLICY_GROUPS"),
    ):
        parse(f"policy-64-{what}", f"64 {what}: {limit}, the most allowed.", make(64), ACCEPT)
        parse(
            f"policy-65-{what}",
            f"65 {what}: one over {limit}.",
            make(65),
            reject("MALFORMED_POLICY"),
            repaired=make(64),
        )
    parse(
        "policy-invalid-utf8",
        "A byte 0xff in a comment.",
        b"# \xff\nquorum none\n",
        reject("MALFORMED_POLICY"),
        repaired="# \xff\nquorum none\n",  # U+00FF, the same comment in UTF-8
    )

    group = canonical + "group two 2 w1 w2 w3\nquorum two\n"

    def quorum(  # noqa: PLR0917 (a case's parts, in the order it states them)
        name: str,
        description: str,
        text: str,
        cosigners: Sequence[str],
        want: Want,
        repaired: Sequence[str] | None = None,
    ) -> None:
        def inp(cosigners: Sequence[str]) -> dict[str, Any]:
            return {"op": "quorum", "policy_b64": b64(text.encode()), "cosigners": list(cosigners)}

        twin = None if repaired is None else inp(repaired)
        vs.add(fam, name, description, spec, inp(cosigners), want, repaired=twin)

    quorum(
        "quorum-two-of-three-met",
        "Two of three witnesses cosigned a 2-of-3 group.",
        group,
        names[:2],
        ACCEPT,
    )
    quorum(
        "quorum-two-of-three-not-met",
        "One of three witnesses cosigned a 2-of-3 group.",
        group,
        names[2:],
        reject("QUORUM_NOT_MET"),
        repaired=names[1:],
    )
    quorum(
        "quorum-any-not-met-without-cosigners",
        "A group of threshold any with no cosignature: any means at least one.",
        canonical + "group a any w1 w2\nquorum a\n",
        [],
        reject("QUORUM_NOT_MET"),
        repaired=names[:1],
    )
    quorum(
        "quorum-counts-key-names-not-local-names",
        "Cosigners are counted by key name; the policy-local names w1 and w2 count for nothing.",
        group,
        ["w1", "w2"],
        reject("QUORUM_NOT_MET"),
        repaired=names[:2],
    )
    quorum(
        "quorum-ignores-unknown-cosigners",
        "A cosigner the policy does not list counts for nothing.",
        group,
        [names[0], "witness.example/w9"],
        reject("QUORUM_NOT_MET"),
        repaired=names[:2],
    )
    quorum(
        "quorum-none-without-cosigners",
        "quorum none is met by no cosignature.",
        f"log {log}\nquorum none\n",
        [],
        ACCEPT,
    )
    nested = (
        f"witness w1 {w1}\nwitness w2 {w2}\nwitness w3 {w3}\n"
        "group a any w1 w2\ngroup b all a w3\nquorum b\n"
    )
    quorum(
        "quorum-nested-groups-met",
        "Group b needs group a (any of w1, w2) and w3.",
        nested,
        [names[1], names[2]],
        ACCEPT,
    )
    quorum(
        "quorum-nested-groups-not-met",
        "w1 and w2 meet group a, but b also needs w3.",
        nested,
        names[:2],
        reject("QUORUM_NOT_MET"),
        repaired=names[:3],
    )
    quorum(
        "quorum-single-witness",
        "A quorum naming one witness, which cosigned.",
        canonical + "quorum w3\n",
        [names[2]],
        ACCEPT,
    )

    def checkpoint(  # noqa: PLR0917 (a case's parts, in the order it states them)
        name: str,
        description: str,
        text: str,
        signed: bytes,
        want: Want,
        repaired: bytes | None = None,
        no_twin: str | None = None,
        alone: Sequence[bytes] | None = None,
    ) -> None:
        def inp(signed: bytes) -> dict[str, Any]:
            return {"op": "checkpoint", "policy_b64": b64(text.encode()), "note_b64": b64(signed)}

        twin = None if repaired is None else inp(repaired)
        vs.add(
            fam,
            name,
            description,
            [*spec, "§2.6"],
            inp(signed),
            want,
            repaired=twin,
            no_twin=no_twin,
            alone=None if alone is None else [inp(a) for a in alone],
        )

    w.append(b"policy family entry")
    both = f"log {log}\nwitness w1 {w1}\nwitness w2 {w2}\ngroup both all w1 w2\nquorum both\n"
    checkpoint(
        "checkpoint-under-policy",
        "A checkpoint of the listed log with the quorum met.",
        both,
        w.checkpoint(),
        ACCEPT,
    )
    checkpoint(
        "checkpoint-under-policy-quorum-not-met",
        "A checkpoint of the listed log cosigned by one of two required witnesses.",
        both,
        w.checkpoint(witnesses=w.witnesses[:1]),
        reject("QUORUM_NOT_MET"),
        repaired=w.checkpoint(),
    )
    checkpoint(
        "checkpoint-under-policy-unlisted-origin",
        "A checkpoint whose origin names no log of the policy.",
        both,
        w.checkpoint(origin="other.example/log"),
        reject("WRONG_ORIGIN"),
        repaired=w.checkpoint(),
    )
    # Of two logs of one name, the one whose key hash the note names verifies it.
    namesake = note.encode_verifier_key(
        LOG_ORIGIN, 1, bytes(SigningKey(seed("log namesake")).verify_key)
    )
    checkpoint(
        "checkpoint-under-policy-two-logs-of-one-name",
        "Two listed logs carry the checkpoint's origin as their key name; the second, whose "
        "key hash the note's signature line names, signed it.",
        f"log {namesake}\n" + both,
        w.checkpoint(),
        ACCEPT,
    )
    # The order of SPEC §2.8 "Checkpoint under a policy": structure, claimed origin, §2.6.
    other_origin = w.checkpoint(origin="other.example/log")
    checkpoint(
        "checkpoint-under-policy-malformed-note-of-unlisted-origin",
        "A note of an unlisted origin whose last line lacks its newline: the structure is "
        "checked before the origin chooses a log (MALFORMED_NOTE, not WRONG_ORIGIN).",
        both,
        other_origin[:-1],
        reject("MALFORMED_NOTE"),
        no_twin="precedence: a malformed note of an unlisted origin (structure before origin)",
        alone=[w.checkpoint()[:-1], other_origin],
    )
    text, sigs = note.parse_unverified(other_origin)
    forged = [note.Signature(x.name, x.key_hash, _flip(x.signature)) for x in sigs]
    checkpoint(
        "checkpoint-under-policy-unlisted-origin-bad-signatures",
        "A note of an unlisted origin whose signatures do not verify: the origin is looked up "
        "before any signature is verified (WRONG_ORIGIN, not BAD_NOTE_SIGNATURE).",
        both,
        _lines(text, forged),
        reject("WRONG_ORIGIN"),
        no_twin="precedence: bad signatures on an unlisted origin (origin before signatures)",
        alone=[other_origin, _forge_all(w.checkpoint())],
    )
    empty_origin = "\n" + text.split("\n", 1)[1]
    checkpoint(
        "checkpoint-under-policy-empty-origin",
        "A note signed by the log whose text starts with an empty line: the claimed origin is "
        "empty, and no log has an empty name (WRONG_ORIGIN before MALFORMED_CHECKPOINT).",
        both,
        _lines(empty_origin, [_sign_line(empty_origin, w)]),
        reject("WRONG_ORIGIN"),
        no_twin="precedence: an empty origin is also a malformed checkpoint (origin first)",
    )


# --- tiles (SPEC §2.9) -----------------------------------------------------------------------


def _tiles(vs: VectorSet) -> None:
    fam, spec = "tiles", ["§2.9"]

    def add(  # noqa: PLR0917 (a case's parts, in the order it states them)
        name: str,
        description: str,
        path: str,
        want: Want,
        source: str | None = None,
        repaired: str | None = None,
        no_twin: str | None = None,
    ) -> None:
        twin = None if repaired is None else {"path": repaired}
        vs.add(
            fam,
            name,
            description,
            spec,
            {"path": path},
            want,
            source=source,
            repaired=twin,
            no_twin=no_twin,
        )

    for n, x in pub.TILES_X_PATHS:
        add(
            f"tile-path-index-{n}",
            f"Level-0 tile {n} spells its index as {x}.",
            f"tile/0/{x}",
            ACCEPT,
            pub.TILES_SOURCE,
        )
    add("tile-path-partial", "A partial tile of width 17 at level 1.", "tile/1/000.p/17", ACCEPT)
    # The bound (256N + W) * 2^(8L) <= 2^63 - 1, at it and one past it.
    add(
        "tile-path-level-7-width-127",
        "Level-7 tile 0 of width 127: 127 * 2^56 <= 2^63 - 1, the highest tile a tree publishes.",
        "tile/7/000.p/127",
        ACCEPT,
    )
    vs.add(
        fam,
        "tile-path-level-7-width-128",
        "Level-7 tile 0 of width 128: 128 * 2^56 = 2^63, beyond MAX_TREE_SIZE.",
        spec,
        {"path": "tile/7/000.p/128"},
        reject("MALFORMED_TILE"),
        repaired={"path": "tile/7/000.p/127"},
    )
    last = "x036/x028/x797/x018/x963/967"  # 2^55 - 1: its bundle ends at entry 2^63 - 1
    vs.add(
        fam,
        "tile-path-last-entry-bundle-full",
        "Entry bundle 2^55 - 1 in full (256 entries) would end past entry 2^63 - 2; only its "
        "partial form of width 255 fits a tree of MAX_TREE_SIZE.",
        spec,
        {"path": f"tile/entries/{last}"},
        reject("MALFORMED_TILE"),
        repaired={"path": f"tile/entries/{last}.p/255"},
    )
    add("tile-path-entry-bundle", "Entry bundle 1000.", "tile/entries/x001/000", ACCEPT)
    add(
        "tile-path-partial-entry-bundle",
        "A partial entry bundle of width 255.",
        "tile/entries/000.p/255",
        ACCEPT,
    )
    add("tile-path-width-1", "A partial tile of width 1, the narrowest.", "tile/0/000.p/1", ACCEPT)
    add(
        "tile-path-entry-bundle-width-1",
        "A partial entry bundle of width 1, the narrowest.",
        "tile/entries/000.p/1",
        ACCEPT,
    )
    add(
        "tile-path-entry-bundle-2-47",
        "Entry bundle 2^47, whose entries end at 2^55 + 255, within MAX_TREE_SIZE: for a "
        "bundle the bound (256N + W) * 2^(8L) takes L = 0.",
        "tile/entries/x140/x737/x488/x355/328",
        ACCEPT,
    )
    malformed = [
        ("tile-path-leading-zero-level", "Level 0 written 00.", "tile/00/000", "tile/0/000"),
        (
            "tile-path-index-not-three-digits",
            "An index group of one digit.",
            "tile/0/1",
            "tile/0/001",
        ),
        ("tile-path-leading-zero-group", "A leading x000 group.", "tile/0/x000/001", "tile/0/001"),
        (
            "tile-path-width-256",
            "A partial width of 256 (a full tile has no .p/).",
            "tile/0/000.p/256",
            "tile/0/000.p/255",
        ),
        ("tile-path-width-0", "A partial width of 0.", "tile/0/000.p/0", "tile/0/000.p/1"),
        (
            "tile-path-width-leading-zero",
            "A width written 017.",
            "tile/0/000.p/017",
            "tile/0/000.p/17",
        ),
        ("tile-path-level-64", "Level 64, above 63.", "tile/64/000", None),
        (
            "tile-path-beyond-max-tree",
            "A level-8 tile lies beyond any tree of 2^63 - 1 leaves.",
            "tile/8/000",
            "tile/6/000",
        ),
        ("tile-path-leading-slash", "A path starting with '/'.", "/tile/0/000", "tile/0/000"),
        ("tile-path-trailing-slash", "A path ending with '/'.", "tile/0/000/", "tile/0/000"),
        (
            "tile-path-arabic-indic-digits",
            "Digits that are not ASCII.",
            "tile/0/\u0660\u0660\u0660",
            "tile/0/000",
        ),
        (
            "tile-path-too-long",
            "A path longer than MAX_TILE_PATH_LENGTH.",
            "tile/0/" + "x001/" * 12 + "000",
            None,
        ),
    ]
    # Levels 8 and up lie beyond MAX_TREE_SIZE, and so does every grammatical path longer
    # than 47 characters: those two rules cannot be broken alone.
    beyond = "no-neighbour: every tile path that breaks this rule is also beyond MAX_TREE_SIZE"
    for name, description, path, fixed in malformed:
        add(
            name,
            description,
            path,
            reject("MALFORMED_TILE"),
            repaired=fixed,
            no_twin=beyond if fixed is None else None,
        )


def add_log_families(vs: VectorSet) -> None:
    """Add the vectors of SPEC §2's families to ``vs``."""
    _merkle(vs)
    _note(vs)
    _checkpoint(vs)
    _tlog_proof(vs)
    _policy(vs)
    _tiles(vs)
