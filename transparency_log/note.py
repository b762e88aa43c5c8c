"""C2SP signed-note: notes, key strings, and Ed25519 note signatures (type 0x01).

A signed note is a UTF-8 text followed by a blank line and one or more signature lines
``— <key name> base64(u32be(key hash) || signature)``. Checkpoints (SPEC §2.6) and witness
cosignatures (SPEC §2.5, :mod:`transparency_log.cosignature`) ride in this envelope.

The semantics follow Go's ``golang.org/x/mod/sumdb/note`` (the reference implementation),
profiled strictly (SPEC §2.4): one base64 encoding per value, lowercase key hashes, a size
limit, and public keys that must be canonical points of prime order. What this module does
NOT know: what the text means. A note's text must be ignored until :func:`open_note` has
returned it, and then only the caller's format (a checkpoint, say) gives it meaning.

Trust state lives in names: :func:`parse_unverified` checks shape only; :func:`open_note`
returns a :class:`Note` whose ``sigs`` verified and whose ``unverified_sigs`` are by keys the
caller does not know (Go's ``Sigs`` / ``UnverifiedSigs``).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar, NoReturn

from transparency_log import cosignature as _cosignature
from transparency_log import ed25519
from transparency_log._frozen import Frozen
from transparency_log.errors import LogReason, VerificationError
from transparency_log.note_keys import (
    SIG_LINE_PREFIX,
    NamedEd25519Signer,
    NamedEd25519Verifier,
    Signature,
    Signer,
    Verifier,
    format_verifier_key,
    is_valid_name,
    key_hash,
    require_valid_name,
)

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_NOTE_SIGNATURES",
    "SIG_TYPE_ED25519",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "Signature",
    "Signer",
    "Verifier",
    "Verifiers",
    "encode_verifier_key",
    "generate_key",
    "key_hash",
    "new_signer",
    "new_verifier",
    "open_note",
    "parse_unverified",
    "sign",
]

SIG_TYPE_ED25519 = 0x01
"""Signature type byte of plain Ed25519 note signatures (C2SP signed-note §Signature types)."""

MAX_NOTE_SIGNATURES = 100
"""Most signature lines a note may carry (SPEC §11). Go's cap; C2SP requires at least 16.

Every line counts, duplicates and unknown keys included, so the work per note is bounded.
"""

MAX_NOTE_BYTES = 1 << 20
"""Largest signed note, in bytes (SPEC §11).

Sized so that 100 signature lines of the largest kind C2SP mentions (ML-DSA-44 cosignatures,
about 3.3 kB each in base64) fit with room to spare: a note must not be rejected because
witnesses we do not know signed it with big signatures. Checkpoint texts have their own,
much smaller limit (SPEC §2.6).
"""

_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_KEY_HASH_HEX = re.compile(r"[0-9a-f]{8}")
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_FORBIDDEN_CONTROL_BYTES = bytes(range(0x0A)) + bytes(range(0x0B, 0x20))


class Note(Frozen):
    """A note whose text at least one trusted key signed (returned by :func:`open_note`)."""

    text: str
    sigs: tuple[Signature, ...]
    """Signatures that verified, in note order (at most one per key)."""
    unverified_sigs: tuple[Signature, ...]
    """Signatures by keys the verifier set does not hold; they say nothing."""

    def __init__(
        self,
        text: str,
        sigs: tuple[Signature, ...],
        unverified_sigs: tuple[Signature, ...],
    ) -> None:
        self._freeze(text=text, sigs=sigs, unverified_sigs=unverified_sigs)


class Ed25519Verifier(NamedEd25519Verifier):
    """Verifies Ed25519 note signatures (type 0x01) by one named key (SPEC §2.4.5)."""

    sig_type: ClassVar[int] = SIG_TYPE_ED25519

    def __init__(self, name: str, public_key: bytes) -> None:  # or mypy wants key_hash too
        super().__init__(name, public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a strict Ed25519 signature of the note text ``msg``."""
        return ed25519.verify(self.public_key, msg, sig)


class Ed25519Signer(NamedEd25519Signer):
    """Signs note texts with an Ed25519 key (type 0x01); the seed never appears in repr."""

    sig_type: ClassVar[int] = SIG_TYPE_ED25519

    def verifier(self) -> Ed25519Verifier:
        """The verifier of this key's signatures."""
        return Ed25519Verifier(self._name, self._public_key)

    def sign(self, msg: bytes) -> bytes:
        """The 64-byte Ed25519 signature of the note text ``msg`` (deterministic, RFC 8032)."""
        return ed25519.sign(self._signing_key, msg)


class Verifiers:
    """The keys a caller trusts, looked up by (name, key hash) as signature lines name them.

    Two verifiers with one (name, key hash) are refused: a signature line could not say
    which of them it means (Go reports the same as an ambiguous key).
    """

    def __init__(self, verifiers: Iterable[Verifier]) -> None:
        self._by_id: dict[tuple[str, int], Verifier] = {}
        for verifier in verifiers:
            key_id = (verifier.name, verifier.key_hash)
            if key_id in self._by_id:
                raise ValueError(
                    f"two verifiers for key {verifier.name}+{verifier.key_hash:08x}: a "
                    "signature line names a key by name and hash only, so each pair must be "
                    "unique; drop the duplicate"
                )
            self._by_id[key_id] = verifier

    def get(self, name: str, key_hash: int) -> Verifier | None:
        """The verifier of the key named by a signature line, or None if it is unknown."""
        return self._by_id.get((name, key_hash))

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Verifier]:
        return iter(self._by_id.values())


def encode_verifier_key(name: str, sig_type: int, public_key: bytes) -> str:
    """The verifier-key string ``<name>+<hash>+base64(type || public key)`` (SPEC §2.4.3).

    Raises ValueError for a name, type or public key that :func:`new_verifier` would refuse.
    """
    vkey = format_verifier_key(name, sig_type, public_key)
    new_verifier(vkey)  # the one parser decides what is acceptable
    return vkey


def generate_key(
    name: str,
    *,
    sig_type: int = SIG_TYPE_ED25519,
    rand: Callable[[int], bytes] = os.urandom,
) -> tuple[str, str]:
    """A new key pair as (signer-key string, verifier-key string) (SPEC §2.4.3).

    ``sig_type`` is 0x01 (Ed25519 note signatures) or 0x04 (cosignature/v1, SPEC §2.5);
    both are Ed25519 keys made from a 32-byte seed that ``rand`` supplies. The signer key
    ``PRIVATE+KEY+<name>+<hash>+base64(type || seed)`` is secret.
    """
    require_valid_name(name)
    seed = rand(ed25519.KEY_BYTES)
    signer = _new_typed_signer(name, sig_type, seed, now=_cosignature.system_clock)
    hash_hex = f"{signer.key_hash:08x}"
    secret = base64.b64encode(bytes([sig_type]) + seed).decode("ascii")
    public = base64.b64encode(bytes([sig_type]) + signer.public_key).decode("ascii")
    return f"{_PRIVATE_KEY_PREFIX}{name}+{hash_hex}+{secret}", f"{name}+{hash_hex}+{public}"


def new_verifier(vkey: str) -> Verifier:
    """Parse a verifier-key string ``<name>+<hash>+<base64 key>`` strictly (SPEC §2.4.3).

    The string is split at its first two ``+`` only (base64 may contain ``+``). The name
    must be valid, the hash exactly 8 lowercase hex digits, the key canonical base64 of a
    known type byte and the right length, and the hash must be the key hash recomputed
    from name and key. A key string comes from the caller's configuration, so a bad one
    raises ValueError.
    """
    if not isinstance(vkey, str):
        raise TypeError(f"a verifier key is a str, not {type(vkey).__name__}")
    name, claimed_hash, key = _parse_key_fields(vkey, "verifier key")
    computed = key_hash(name, key)
    if computed != claimed_hash:
        raise ValueError(
            f"verifier key for {name!r}: the string says key hash {claimed_hash:08x} but the "
            f"key computes {computed:08x}; the key string is corrupted or was edited"
        )
    sig_type, public_key = key[0], key[1:]
    if sig_type == SIG_TYPE_ED25519:
        return Ed25519Verifier(name, public_key)
    if sig_type == _cosignature.SIG_TYPE_COSIGNATURE_V1:
        return _cosignature.CosignatureV1Verifier(name, public_key)
    raise ValueError(_unknown_type_message("verifier key", name, sig_type))


def new_signer(skey: str, *, now: Callable[[], int] | None = None) -> Signer:
    """Parse a signer-key string ``PRIVATE+KEY+<name>+<hash>+<base64 key>`` (SPEC §2.4.3).

    Same strictness as :func:`new_verifier`; the hash is checked against the public key
    derived from the seed. ``now`` is the clock of cosignature/v1 signers (type 0x04, SPEC
    §2.5; default: the system clock). Error messages never repeat the secret.
    """
    if not isinstance(skey, str):
        raise TypeError(f"a signer key is a str, not {type(skey).__name__}")
    if not skey.startswith(_PRIVATE_KEY_PREFIX):
        raise ValueError(f"a signer key starts with {_PRIVATE_KEY_PREFIX!r}; this one does not")
    name, claimed_hash, key = _parse_key_fields(skey[len(_PRIVATE_KEY_PREFIX) :], "signer key")
    if len(key) != 1 + ed25519.KEY_BYTES:
        raise ValueError(
            f"signer key for {name!r}: the key is {len(key)} bytes; a type byte and a "
            f"{ed25519.KEY_BYTES}-byte seed are {1 + ed25519.KEY_BYTES}"
        )
    signer = _new_typed_signer(name, key[0], key[1:], now=now or _cosignature.system_clock)
    if signer.key_hash != claimed_hash:
        raise ValueError(
            f"signer key for {name!r}: the string says key hash {claimed_hash:08x} but the "
            f"key computes {signer.key_hash:08x}; the key string is corrupted or was edited"
        )
    return signer


def sign(text: str, *signers: Signer) -> str:
    """The signed note: ``text``, a blank line, and one signature line per signer (SPEC §2.4).

    ``text`` must be note text: ending in newline, no ASCII control character but newline.
    At least one signer, at most :data:`MAX_NOTE_SIGNATURES`, no two with the same
    (name, key hash); the result must fit :data:`MAX_NOTE_BYTES`. Anything else is a caller
    mistake (ValueError), so what this returns always opens with the signers' verifiers.
    """
    if not isinstance(text, str):
        raise TypeError(f"note text is a str, not {type(text).__name__}")
    _require_note_text(text)
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    if len(signers) > MAX_NOTE_SIGNATURES:
        raise ValueError(f"{len(signers)} signers; a note carries at most {MAX_NOTE_SIGNATURES}")
    msg = text.encode("utf-8")
    seen: set[tuple[str, int]] = set()
    lines: list[str] = []
    for signer in signers:
        key_id = (signer.name, signer.key_hash)
        if key_id in seen:
            raise ValueError(
                f"key {signer.name}+{signer.key_hash:08x} is given twice; a verifier would "
                "ignore the second signature"
            )
        seen.add(key_id)
        sig = signer.sign(msg)
        if not isinstance(sig, bytes):
            raise TypeError(f"signer {signer.name!r} returned {type(sig).__name__}, not bytes")
        lines.append(Signature(signer.name, signer.key_hash, sig).to_line())
    signed = text + "\n" + "".join(lines)
    size = len(signed.encode("utf-8"))
    if size > MAX_NOTE_BYTES:
        raise ValueError(f"the signed note would be {size} bytes; the limit is {MAX_NOTE_BYTES}")
    return signed


def parse_unverified(msg: bytes) -> tuple[str, tuple[Signature, ...]]:
    """Split a signed note into its text and signature lines; no cryptography (SPEC §2.4.4).

    Checks the whole structure: size, UTF-8, control characters, the last blank line as
    separator, and every signature line (none is ever skipped). The text is NOT trusted:
    use :func:`open_note` unless you only need the shape. Raises VerificationError with
    MALFORMED_NOTE.
    """
    if not isinstance(msg, bytes):
        raise TypeError(f"a signed note is bytes, not {type(msg).__name__}")
    if len(msg) > MAX_NOTE_BYTES:
        _malformed(f"the note is {len(msg)} bytes; the limit is {MAX_NOTE_BYTES}")
    try:
        decoded = msg.decode("utf-8")
    except UnicodeDecodeError as e:
        _malformed(f"the note is not valid UTF-8 (byte offset {e.start}: {e.reason})")
    # In UTF-8 those control characters are single bytes that no other character uses, so
    # deleting them from the bytes is a test that runs in C (a regular expression over the
    # decoded text is ten times slower); the expression then finds the one to report.
    control = (
        _FORBIDDEN_CONTROL.search(decoded)
        if len(msg.translate(None, _FORBIDDEN_CONTROL_BYTES)) != len(msg)
        else None
    )
    if control is not None:
        _malformed(
            f"control character U+{ord(control.group()):04X} at character {control.start()}; "
            "a note may contain no ASCII control character other than newline"
        )
    split = decoded.rfind("\n\n")
    if split < 0:
        _malformed("no blank line separates the text from the signature lines")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block:
        _malformed("no signature line follows the last blank line")
    if not block.endswith("\n"):
        _malformed("the last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        _malformed(f"{len(lines)} signature lines; a note may carry at most {MAX_NOTE_SIGNATURES}")
    return text, tuple(_parse_signature_line(line, n) for n, line in enumerate(lines, 1))


def open_note(msg: bytes, verifiers: Verifiers) -> Note:
    """Verify a signed note against the trusted keys and return its text (SPEC §2.4.6).

    Go's ``note.Open`` semantics: a line whose (name, key hash) is not in ``verifiers`` goes
    to ``unverified_sigs`` (identical lines once); the first line of each known key is
    verified and must verify (else BAD_NOTE_SIGNATURE), later lines of that key are ignored;
    at least one signature must verify (else UNTRUSTED_NOTE). Structure errors are
    MALFORMED_NOTE (:func:`parse_unverified`).
    """
    if not isinstance(verifiers, Verifiers):
        raise TypeError(f"verifiers is a Verifiers, not {type(verifiers).__name__}")
    text, sigs = parse_unverified(msg)
    signed = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen_unknown: set[Signature] = set()
    seen_known: set[tuple[str, int]] = set()
    for sig in sigs:
        verifier = verifiers.get(sig.name, sig.key_hash)
        if verifier is None:
            if sig not in seen_unknown:  # Go drops repeated identical lines
                seen_unknown.add(sig)
                unverified.append(sig)
            continue
        if (sig.name, sig.key_hash) in seen_known:
            continue
        seen_known.add((sig.name, sig.key_hash))
        if not verifier.verify(signed, sig.signature):
            raise VerificationError(
                LogReason.BAD_NOTE_SIGNATURE,
                f"the signature by trusted key {sig.name}+{sig.key_hash:08x} does not verify "
                "over the note text; the note was altered or not signed by that key",
            )
        verified.append(sig)
    if not verified:
        names = ", ".join(sorted({f"{s.name}+{s.key_hash:08x}" for s in sigs}))
        raise VerificationError(
            LogReason.UNTRUSTED_NOTE,
            f"none of the note's signatures ({names}) is by one of the {len(verifiers)} "
            "trusted keys; check that the verifier key of the expected signer is configured",
        )
    return Note(text, tuple(verified), tuple(unverified))


# --- Ed25519: the one place that talks to nacl ------------------------------------------


# --- helpers -------------------------------------------------------------------------


def _require_note_text(text: str) -> None:
    if not text.endswith("\n"):
        raise ValueError("note text must end in a newline")
    control = _FORBIDDEN_CONTROL.search(text)
    if control is not None:
        raise ValueError(
            f"note text has control character U+{ord(control.group()):04X} at character "
            f"{control.start()}; only newline is allowed"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"note text is not valid UTF-8 text (character {e.start})") from e


def _decode_base64(text: str) -> bytes | None:
    """Canonical RFC 4648 §4 base64 (padding, no whitespace, zero trailing bits), or None.

    binascii's strict mode refuses characters outside the alphabet, missing or misplaced
    padding and anything after it; re-encoding must then give back the text, which refuses
    non-zero trailing bits. binascii directly, not the base64 module's wrappers: this runs
    for every signature line and proof hash a client reads.
    """
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        return None
    if binascii.b2a_base64(raw, newline=False).decode("ascii") != text:
        return None
    return raw


# Base64 characters whose two low bits are zero: the last data character of the canonical
# encoding of 32 bytes (43 characters carry 258 bits, 256 of them data).
_LAST_OF_32 = frozenset("AEIMQUYcgkosw048")


def _decode_base64_32(text: str) -> bytes | None:
    """:func:`_decode_base64` for exactly 32 bytes (a hash or a key), or None.

    The canonical encoding of 32 bytes is 44 characters: 43 of the alphabet, the last with
    zero low bits, then one ``=``. With the length and those two characters checked,
    binascii's strict decoding of the rest decides; no re-encoding is needed.
    """
    if len(text) != 44 or text[43] != "=" or text[42] not in _LAST_OF_32:
        return None
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        return None


def _parse_key_fields(text: str, what: str) -> tuple[str, int, bytes]:
    """Split ``<name>+<hash>+<base64>`` at its first two ``+``; never echoes the key."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ValueError(f"a {what} has the form <name>+<8 hex digits>+<base64 key>")
    name, hash_hex, key_b64 = parts
    if not is_valid_name(name):
        raise ValueError(
            f"{what}: invalid key name {name!r} (non-empty, no spaces, '+' or control characters)"
        )
    if _KEY_HASH_HEX.fullmatch(hash_hex) is None:
        raise ValueError(f"{what} for {name!r}: the key hash must be 8 lowercase hex digits")
    key = _decode_base64(key_b64)
    if not key:
        raise ValueError(
            f"{what} for {name!r}: the key is not canonical base64 (RFC 4648 §4, padded)"
        )
    return name, int(hash_hex, 16), key


def _new_typed_signer(
    name: str, sig_type: int, seed: bytes, *, now: Callable[[], int]
) -> Ed25519Signer | _cosignature.CosignatureV1Signer:
    if sig_type == SIG_TYPE_ED25519:
        return Ed25519Signer(name, seed)
    if sig_type == _cosignature.SIG_TYPE_COSIGNATURE_V1:
        return _cosignature.CosignatureV1Signer(name, seed, now=now)
    raise ValueError(_unknown_type_message("signer key", name, sig_type))


def _unknown_type_message(what: str, name: str, sig_type: int) -> str:
    return (
        f"{what} for {name!r} has signature type 0x{sig_type:02x}; supported are 0x01 "
        f"(Ed25519) and 0x{_cosignature.SIG_TYPE_COSIGNATURE_V1:02x} (cosignature/v1)"
    )


def _parse_signature_line(line: str, number: int) -> Signature:
    if not line.startswith(SIG_LINE_PREFIX):
        _malformed(f"signature line {number} does not start with an em dash (U+2014) and a space")
    name, _, encoded = line[len(SIG_LINE_PREFIX) :].partition(" ")
    if not is_valid_name(name):
        _malformed(f"signature line {number} has an invalid key name {name!r}")
    raw = _decode_base64(encoded)
    if raw is None:
        _malformed(f"signature line {number} ({name}) is not canonical base64 (RFC 4648 §4)")
    if len(raw) < 5:
        _malformed(
            f"signature line {number} ({name}) has {len(raw)} bytes; it needs a 4-byte key "
            "hash and a signature"
        )
    # Signature's own checks hold: the name was checked, four bytes are a uint32, and at
    # least one signature byte follows.
    return Signature._unchecked(
        name=name, key_hash=int.from_bytes(raw[:4], "big"), signature=raw[4:]
    )


def _malformed(message: str) -> NoReturn:
    raise VerificationError(LogReason.MALFORMED_NOTE, message)
